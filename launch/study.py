r"""Runs an objective study: ``python -m launch.study --config=configs/study_toy.py
--workdir=DIR``; writes ``study.md``, ``study.json`` and scatter panels to DIR (for
``configs/study_digits.py``: ``digits.md``, ``digits.json`` and digit-FD curves)."""

from absl import app, flags
from ml_collections import config_flags

from jaxgan import study, study_digits
from launch import quiet

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Study configuration file.', lock_config=True)
flags.DEFINE_string('workdir', None, 'Output directory.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  quiet.install()
  kind = FLAGS.config.study.get('kind', 'mixtures')
  (study_digits if kind == 'digits' else study).run_study(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  app.run(main)
