r"""Upscales your own image with a trained super-resolution model:

  python -m launch.upscale --workdir=DIR --input=photo.jpg --output=photo_x4.png

Any size: large images run in tiles inside windows with a margin of the generator's
receptive-field radius (the generator's memory stays bounded by one window; the result
equals the whole-image one, so no seam shows). PNG or JPEG in and out; the EXIF
orientation of the input is applied. The workdir needs its checkpoints, not its training
data; ``--step=N`` reads its kept checkpoint of step N, not the latest. The input, the
output path and the workdir are checked before any work.
"""

import os

from absl import app, flags

from jaxgan import evaluate, inference, upscale
from jaxgan.models import sr
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A super-resolution workdir of launch.train.')
flags.DEFINE_string('input', None, 'The low-resolution image (PNG or JPEG).')
flags.DEFINE_string('output', None, 'Where to write the upscaled image (.png, .jpg).')
flags.DEFINE_integer('tile', None, "Tile side in input pixels (the generator's memory is "
                     'bounded by one window of tile + 2 * margin). Default: max(128, 2 * '
                     'margin).',
                     lower_bound=8)
flags.DEFINE_integer('margin', None, "Context around each tile, in input pixels. Default: "
                     "the generator's receptive-field radius (exact, no seam); less is "
                     "faster but inexact near tile borders. ESRGAN's RRDBNet: 349, windows "
                     'of ~16 GB; e.g. --margin=32 --tile=192 for 256 px windows.',
                     lower_bound=0)
common.define_step_flag()
flags.mark_flags_as_required(['workdir', 'input', 'output'])


def _check_output(path: str, source: str) -> None:
  common.check_output_name(path)
  if not path.lower().endswith(upscale.IMAGE_SUFFIXES):
    raise common.LaunchError(f'--output must end in {", ".join(upscale.IMAGE_SUFFIXES)}; '
                             f'got {path}.')
  common.check_output_writable(path)
  if os.path.exists(path) and os.path.samefile(path, source):
    raise common.LaunchError(f'--output is the input image ({path}); choose another path.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  try:
    lr = upscale.read_image(FLAGS.input)
    profile = upscale.color_profile(FLAGS.input)
    _check_output(FLAGS.output, FLAGS.input)
    inference.check_super_resolution(FLAGS.workdir)
    gan, pipe, state, config = inference.restore(FLAGS.workdir, with_data=False,
                                                 step=FLAGS.step)
    scale = pipe.evaluator_args['scale']
    upscale.check_output_size(FLAGS.output, (lr.shape[0] * scale, lr.shape[1] * scale))
  except (ValueError, FileNotFoundError) as e:
    raise common.LaunchError(str(e)) from None
  run = evaluate.EvalRun(gan, state, pipe, inference.uses_ema(config), num_samples=0)
  margin = sr.receptive_radius(gan.generator) if FLAGS.margin is None else FLAGS.margin
  tile = upscale.default_tile(margin) if FLAGS.tile is None else FLAGS.tile
  hr = upscale.upscale(run.generate, lr, scale, margin=margin, tile=tile)
  try:
    upscale.write_image(FLAGS.output, hr, profile)  # tagged with the input's colour profile
  except ValueError as e:  # non-finite pixels from the generator: nothing was written
    raise common.LaunchError(str(e)) from None
  n = upscale.num_tiles(lr.shape[:2], tile, margin)
  print(f'wrote {FLAGS.output}: {lr.shape[1]}x{lr.shape[0]} -> {hr.shape[1]}x{hr.shape[0]} '
        f'(x{scale}, step {int(state.step)}, {n} tile{"s" * (n != 1)} of {tile} px, margin '
        f'{margin})')


if __name__ == '__main__':
  common.run(main)
