r"""Upscales your own image with a trained super-resolution model:

  python -m launch.upscale --workdir=DIR --input=photo.jpg --output=photo_x4.png

Any size: large images run in tiles with overlapping margins (memory stays bounded, no
seam shows). PNG or JPEG in and out. The input, the output path and the workdir are
checked before any work.
"""

import os

from absl import app, flags

from jaxgan import evaluate, inference, upscale
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', None, 'A super-resolution workdir of launch.train.')
flags.DEFINE_string('input', None, 'The low-resolution image (PNG or JPEG).')
flags.DEFINE_string('output', None, 'Where to write the upscaled image (.png, .jpg).')
flags.DEFINE_integer('tile', 128, 'Tile side in input pixels (bounds the memory).',
                     lower_bound=8)
flags.DEFINE_integer('margin', 32, 'Context around each tile, in input pixels.', lower_bound=0)
flags.mark_flags_as_required(['workdir', 'input', 'output'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not FLAGS.output.lower().endswith(upscale.IMAGE_SUFFIXES):
    raise common.LaunchError(f'--output must end in {", ".join(upscale.IMAGE_SUFFIXES)}; '
                             f'got {FLAGS.output}.')
  folder = os.path.dirname(os.path.abspath(FLAGS.output))
  if not os.path.isdir(folder):
    raise common.LaunchError(f'The folder of --output does not exist: {folder}')
  try:
    lr = upscale.read_image(FLAGS.input)
  except ValueError as e:
    raise common.LaunchError(str(e)) from None
  gan, pipe, state, config = inference.restore(FLAGS.workdir)
  if gan.latent.conditioning != 'lowres':
    raise common.LaunchError(f'{FLAGS.workdir} holds a {config.model.name!r} model, not a '
                             'super-resolution one (e.g. configs/srgan.py, configs/esrgan.py).')
  run = evaluate.EvalRun(gan, state, pipe, inference.uses_ema(config), num_samples=0)
  scale = pipe.evaluator_args['scale']
  sr = upscale.upscale(run.generate, lr, scale, FLAGS.tile, FLAGS.margin)
  upscale.write_image(FLAGS.output, sr)
  print(f'wrote {FLAGS.output}: {lr.shape[1]}x{lr.shape[0]} -> {sr.shape[1]}x{sr.shape[0]} '
        f'(x{scale}, step {int(state.step)}, '
        f'{upscale.num_tiles(lr.shape[:2], FLAGS.tile)} tiles)')


if __name__ == '__main__':
  common.run(main)
