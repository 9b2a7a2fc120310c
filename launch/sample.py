r"""Writes generator samples of a run as a float32 NumPy array in data space.

  python -m launch.sample --workdir=DIR --num_samples=N --output=FILE.npy

``[N, 2]`` for 2-D data, ``[N, H, W, C]`` in [-1, 1] for images; EMA weights when the run
has an EMA (``ema_decay > 0``).
"""

import jax
import numpy as np
from absl import app, flags

from jaxgan import step, train
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
  gan, _, state = train.restore_for_inference(workdir)
  config = train.load_config(workdir)
  use_ema = float(config.ema_decay) > 0
  gen = jax.jit(lambda s, z: step.generate(gan, s, z, use_ema))
  key = jax.random.key(seed)
  out = []
  for i in range(0, num_samples, batch_size):
    z = jax.random.normal(jax.random.fold_in(key, i), (min(batch_size, num_samples - i),
                                                        gan.z_dim))
    out.append(np.asarray(gen(state, z), np.float32))
  return np.concatenate(out)


def main(argv):
  quiet.install()
  del argv
  samples = sample(FLAGS.workdir, FLAGS.num_samples, FLAGS.seed, FLAGS.batch_size)
  np.save(FLAGS.output, samples)
  print(f'wrote {samples.shape} {samples.dtype} to {FLAGS.output}')


if __name__ == '__main__':
  app.run(main)
