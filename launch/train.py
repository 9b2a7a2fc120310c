r"""Trains a GAN: ``python -m launch.train --config=configs/X.py --workdir=DIR``.

Override any config field on the command line, e.g. ``--config.loss.name=hinge
--config.penalty.name=wgan_gp --config.penalty.weight=10``. Re-running with the same
workdir resumes from its latest checkpoint.
"""

from absl import app, flags
from ml_collections import config_flags

from jaxgan import train
from launch import common

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Training configuration file.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Directory for checkpoints, logs and pictures.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  common.check_folder_writable(FLAGS.workdir)
  train.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == '__main__':
  common.run(main)
