r"""Writes generator samples of a run as a float32 NumPy array in data space.

  python -m launch.sample --workdir=DIR --num_samples=N --output=FILE.npy
  python -m launch.sample --workdir=DIR --num_samples=100 --output=grid.npy --labels=all

``[N, 2]`` for 2-D data, ``[N, H, W, C]`` in [-1, 1] for images; EMA weights when the run
has an EMA (``ema_decay > 0``). Class-conditional models need ``--labels``: ``all`` gives
sample ``i`` the class ``i mod K``, a number fixes one class. InfoGAN models take
``--codes`` the same way for their categorical code. The arguments' form is checked
before anything is restored, whether they fit the model (a class or code in ``[0, K)``)
right after; the file written is printed. The run's data set is not needed (the model is
rebuilt from the workdir's ``config.json`` and ``data_shapes.json``).
"""

import os

import numpy as np
from absl import app, flags

from jaxgan import inference
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A workdir of launch.train.')
flags.DEFINE_integer('num_samples', 10000, 'Number of samples (>= 1).')
flags.DEFINE_string('output', None, 'Output path; .npy is appended if missing.')
flags.DEFINE_integer('seed', 0, 'Noise seed.')
flags.DEFINE_integer('batch_size', 1000, 'Samples generated per call (>= 1).')
flags.DEFINE_string('labels', None, "Class-conditional models: 'all' (sample i has class "
                    "i mod K) or one class index.")
flags.DEFINE_string('codes', None, "InfoGAN: 'all' (sample i has categorical code i mod K) "
                    'or one code.')
flags.mark_flags_as_required(['workdir', 'output'])


def output_path(output: str) -> str:
  """The file ``np.save`` writes for ``output`` (it appends ``.npy``)."""
  return output if output.endswith('.npy') else output + '.npy'


def _assignment(value: str | None, num: int, flag: str) -> np.ndarray | None:
  """``'all'`` -> ``i mod K`` (checked later against K), an integer -> that one value."""
  if value is None:
    return None
  if value == 'all':
    return np.arange(num)
  try:
    return np.full(num, int(value))
  except ValueError:
    raise common.LaunchError(f"--{flag} must be 'all' or an integer; got {value!r}."
                             ) from None


def check_arguments(num_samples: int, batch_size: int, output: str) -> str:
  """Checks the arguments before any work; returns the output file."""
  if num_samples < 1:
    raise common.LaunchError(f'--num_samples must be at least 1; got {num_samples}.')
  if batch_size < 1:
    raise common.LaunchError(f'--batch_size must be at least 1; got {batch_size}.')
  path = output_path(output)
  folder = os.path.dirname(os.path.abspath(path))
  if not os.path.isdir(folder):
    raise common.LaunchError(f'The folder of --output does not exist: {folder}')
  return path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  path = check_arguments(FLAGS.num_samples, FLAGS.batch_size, FLAGS.output)
  labels = _assignment(FLAGS.labels, FLAGS.num_samples, 'labels')
  codes = _assignment(FLAGS.codes, FLAGS.num_samples, 'codes')
  gan, _, state, config = inference.restore(FLAGS.workdir, with_data=False)
  latent = gan.latent
  if labels is not None and FLAGS.labels == 'all':
    labels = labels % max(latent.num_classes, 1)
  code_dict = None
  if codes is not None:  # inference.sample checks them against the model
    code_dict = {'categorical': codes % max(latent.num_categorical, 1)
                 if FLAGS.codes == 'all' else codes}
  try:
    samples = inference.sample(gan, state, FLAGS.num_samples, inference.uses_ema(config),
                               FLAGS.seed, FLAGS.batch_size, labels, code_dict)
  except ValueError as e:  # labels or codes that do not fit the model
    raise common.LaunchError(str(e)) from None
  np.save(path, samples)
  print(f'wrote {samples.shape} {samples.dtype} samples of step {int(state.step)} to {path}')


if __name__ == '__main__':
  common.run(main)
