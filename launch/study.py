r"""Runs a study: ``python -m launch.study --config=configs/study_toy.py --workdir=DIR``;
writes ``study.md``, ``study.json`` and the study kind's figures to DIR; the same command
resumes a study stopped there."""

from absl import app, flags
from ml_collections import config_flags

from launch import common
from studies import runner

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Study configuration file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Output directory.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  common.check_folder_writable(FLAGS.workdir)
  runner.run_study(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  common.run(main)
