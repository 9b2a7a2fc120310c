r"""Writes generator samples of a run as a float32 NumPy array in data space.

  python -m launch.sample --workdir=DIR --num_samples=N --output=FILE.npy

``[N, 2]`` for 2-D data, ``[N, H, W, C]`` in [-1, 1] for images; EMA weights when the run
has an EMA (``ema_decay > 0``).
"""

import numpy as np
from absl import app, flags

from jaxgan import train
from launch import quiet

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A workdir of launch.train.')
flags.DEFINE_integer('num_samples', 10000, 'Number of samples.')
flags.DEFINE_string('output', None, 'Output .npy path.')
flags.DEFINE_integer('seed', 0, 'Noise seed.')
flags.DEFINE_integer('batch_size', 1000, 'Samples generated per call.')
flags.mark_flags_as_required(['workdir', 'output'])


def sample(workdir: str, num_samples: int, seed: int = 0, batch_size: int = 1000) -> np.ndarray:
  """``num_samples`` samples of the latest checkpoint of ``workdir``."""
  return train.sample_latest(workdir, num_samples, seed, batch_size)[0]


def main(argv):
  quiet.install()
  del argv
  samples = sample(FLAGS.workdir, FLAGS.num_samples, FLAGS.seed, FLAGS.batch_size)
  np.save(FLAGS.output, samples)
  print(f'wrote {samples.shape} {samples.dtype} to {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
