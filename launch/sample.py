r"""Writes generator samples of a run: a float32 NumPy array in data space, or a picture.

  python -m launch.sample --workdir=DIR --num_samples=N --output=FILE.npy
  python -m launch.sample --workdir=DIR --num_samples=100 --output=grid.npy --labels=all
  python -m launch.sample --workdir=DIR --output=grid.png --labels=all

``.npy`` (appended when the name ends in neither; another picture suffix, ``.jpg`` say, is
refused): ``[N, 2]`` for 2-D data, ``[N, H, W, C]`` in [-1, 1] for images. ``.png``: an
image grid (at most 1,000 samples, 100 unless ``--num_samples`` is given; with
``--labels=all`` or ``--codes=all`` one column per class or code), or for 2-D data a scatter
over the mixture's modes. EMA weights when the run has an EMA (``ema_decay > 0``).
Class-conditional models need ``--labels``: ``all`` gives sample ``i`` the class ``i mod
K``, a number fixes one class. InfoGAN models take ``--codes`` the same way for their
categorical code. ``--step=N`` samples the kept checkpoint of step N, not the latest;
``--truncation=PSI`` draws the noise from N(0, I) truncated to [-PSI, PSI]. ``--walk=S``
writes walks in the latent space instead (``jaxgan.latent_walk``): row ``i`` of
``--num_samples`` rows (10 by default for a PNG) takes S steps along ``--walk_path``
(slerp, or linear) from the noise of sample ``i`` to that of sample ``rows + i``, its
labels and codes held; ``.npy`` ``[rows, S, ...]``, a PNG a row per walk.
The arguments' form is checked before anything is restored, whether they
fit the model (a class or code in ``[0, K)``) right after; the file written is printed. The
run's data set is not needed (the model is rebuilt from the workdir's ``config.json`` and
``data_shapes.json``).
"""

import os

import jax
import numpy as np
from absl import app, flags, logging

from jaxgan import files, inference, latent_walk, plots
from jaxgan.data import mixtures
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A workdir of launch.train.')
flags.DEFINE_integer('num_samples', 10000, 'Number of samples (>= 1; 100 by default for an '
                     'image grid, at most 1,000 in it).')
flags.DEFINE_string('output', None, 'Output path: .png writes a picture, else .npy (appended '
                    'if missing).')
flags.DEFINE_integer('seed', 0, 'Noise seed, in [0, 2**32) (jax.random.key keeps its low '
                     '32 bits: 2**32 would be seed 0).', lower_bound=0,
                     upper_bound=2**32 - 1)
flags.DEFINE_integer('batch_size', 1000, 'Samples generated per call (>= 1; the samples do '
                     'not depend on it).')
flags.DEFINE_string('labels', None, "Class-conditional models: 'all' (sample i has class "
                    "i mod K) or one class index.")
flags.DEFINE_string('codes', None, "InfoGAN: 'all' (sample i has categorical code i mod K) "
                    'or one code.')
common.define_step_flag()
common.define_truncation_flag()
flags.DEFINE_integer('walk', None, 'Walks in the latent space instead of samples: each of '
                     '--num_samples rows (10 by default for a PNG) takes this many steps '
                     'from the noise of sample i to that of sample rows + i, labels and codes '
                     'held (jaxgan.latent_walk). .npy: [rows, steps, ...].', lower_bound=2)
flags.DEFINE_enum('walk_path', 'slerp', ['slerp', 'linear'], 'The path of --walk: along '
                  'the great circle (slerp) or the straight line.')
flags.mark_flags_as_required(['workdir', 'output'])


MAX_GRID = 1000  # images in one PNG grid
GRID_DEFAULT = 100  # images in a PNG grid when --num_samples is not given
WALK_ROWS = 10  # walks in a PNG grid when --num_samples is not given


def output_path(output: str) -> str:
  """The file written for ``output``: a PNG (``.png``, any case) as given, else what
  ``np.save`` writes (it appends ``.npy`` to a name not ending in it)."""
  return output if output.endswith('.npy') or _is_png(output) else output + '.npy'


def _is_png(path: str) -> bool:
  return path.lower().endswith('.png')


def picture_suffixes() -> set[str]:
  """Suffixes (lower case, no dot) of picture files: those Matplotlib writes and those
  Pillow writes (``.tga``, ``.jp2``, ``.ico``, ...), less Pillow's stubs for data formats
  (``.h5``, ``.grib``, ...), which name no picture."""
  import inspect

  from PIL import Image, ImageFile
  Image.init()

  def is_stub(fmt: str) -> bool:
    opener = Image.OPEN.get(fmt, (None,))[0]
    return inspect.isclass(opener) and issubclass(opener, ImageFile.StubImageFile)

  pillow = {ext[1:] for ext, fmt in Image.registered_extensions().items()
            if fmt in Image.SAVE and not is_stub(fmt)}
  from matplotlib.backend_bases import FigureCanvasBase  # only to check --output's suffix
  return pillow | set(FigureCanvasBase.get_supported_filetypes())


def write(path: str, samples: np.ndarray, dataset: str, ncols: int | None) -> None:
  """``samples`` as ``.npy``, or as a PNG: an image grid of ``ncols`` columns (square when
  ``None``) or a scatter of 2-D samples over the modes of mixture ``dataset``."""
  if not _is_png(path):
    with files.replacing(path) as tmp:  # path ends in .npy, and so does tmp
      np.save(tmp, samples)
  elif samples.ndim == 4:
    plots.save_image_grid(samples, path, ncols=ncols)
  else:
    plots.save_scatter(samples, mixtures.MIXTURES[dataset][0], path,
                       f'{dataset}: {len(samples)} samples')


def _assignment_form(value: str | None, flag: str) -> str | int | None:
  """``--labels``/``--codes`` checked for form: ``None``, ``'all'`` or an integer."""
  if value is None or value == 'all':
    return value
  try:
    return int(value)
  except ValueError:
    raise common.LaunchError(f"--{flag} must be 'all' or an integer; got {value!r}."
                             ) from None


def _assignment(form: str | int | None, num: int, k: int) -> np.ndarray | None:
  """``'all'`` -> ``i mod k``, an integer -> that one value (checked later against the
  model)."""
  if form is None:
    return None
  return np.arange(num) % max(k, 1) if form == 'all' else np.full(num, form)


def check_arguments(num_samples: int, batch_size: int, output: str) -> str:
  """Checks the arguments before any work; returns the output file."""
  if num_samples < 1:
    raise common.LaunchError(f'--num_samples must be at least 1; got {num_samples}.')
  if batch_size < 1:
    raise common.LaunchError(f'--batch_size must be at least 1; got {batch_size}.')
  common.check_output_name(output)
  suffix = os.path.splitext(output)[1][1:].lower()
  if suffix != 'png' and suffix in picture_suffixes():
    raise common.LaunchError(f'--output {output!r}: launch.sample writes a picture as .png '
                             '(or the samples as .npy).')  # was written as output + '.npy'
  path = output_path(output)
  common.check_output_name(path)
  common.check_output_writable(path)
  return path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  path = check_arguments(FLAGS.num_samples, FLAGS.batch_size, FLAGS.output)
  label_form = _assignment_form(FLAGS.labels, 'labels')
  code_form = _assignment_form(FLAGS.codes, 'codes')
  gan, pipe, state, config = inference.restore(FLAGS.workdir, with_data=False,
                                               step=FLAGS.step)
  num, steps = FLAGS.num_samples, FLAGS.walk or 1  # walks: num rows of steps samples
  images = len(pipe.element_shape) == 3
  if _is_png(path) and not FLAGS['num_samples'].present and (FLAGS.walk or images):
    num = WALK_ROWS if FLAGS.walk else GRID_DEFAULT
  if _is_png(path) and images and num * steps > MAX_GRID:
    raise common.LaunchError(f'A PNG grid holds at most {MAX_GRID} images; got '
                             f'--num_samples={num}' + (f' walks of {steps}' if FLAGS.walk
                                                       else '') + ' (write .npy for more).')
  latent = gan.latent
  labels = _assignment(label_form, num, latent.num_classes)
  codes = _assignment(code_form, num, latent.num_categorical)
  code_dict = None if codes is None else {'categorical': codes}  # checked by sample()
  try:
    inputs = None
    if FLAGS.walk:  # a walk's labels and codes: its row's, at every step
      inputs = latent_walk.walk(gan, num, steps, FLAGS.seed, FLAGS.truncation,
                                FLAGS.walk_path)
      labels, code_dict = jax.tree.map(lambda a: np.repeat(a, steps, axis=0),
                                       (labels, code_dict))
    samples = inference.sample(gan, state, num * steps, inference.uses_ema(config),
                               FLAGS.seed, FLAGS.batch_size, labels, code_dict,
                               FLAGS.truncation, inputs)
  except ValueError as e:  # labels or codes that do not fit the model
    raise common.LaunchError(str(e)) from None
  if FLAGS.walk:  # .npy [walks, steps, ...]; a PNG keeps the rows, a row per walk
    if not _is_png(path):
      samples = samples.reshape(num, steps, *samples.shape[1:])
    write(path, samples, pipe.name, steps)
    print(f'wrote {num} walks of {steps} steps ({FLAGS.walk_path}, step {int(state.step)}) '
          f'to {path}')
    return
  ncols = (latent.num_classes if FLAGS.labels == 'all' else
           latent.num_categorical if FLAGS.codes == 'all' else None)
  if ncols and num < ncols:  # one row, no blank columns; said, as the rest are missing
    kind = 'classes' if FLAGS.labels == 'all' else 'codes'
    logging.warning('%d samples cover %s 0 to %d of the %d (--num_samples=%d or more '
                    'shows each).', num, kind, num - 1, ncols, ncols)
    ncols = num
  write(path, samples, pipe.name, ncols)
  shown = (f'a picture of {samples.shape}' if _is_png(path)  # a grid or a scatter
           else f'{samples.shape} {samples.dtype}')
  print(f'wrote {shown} samples of step {int(state.step)} to {path}')


if __name__ == '__main__':
  common.run(main)
