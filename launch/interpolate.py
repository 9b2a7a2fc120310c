r"""ESRGAN's network interpolation of two generators of one architecture:

  python -m launch.interpolate --psnr=DIR --gan=DIR --alpha=0.8 --workdir=OUT

writes ``OUT`` as a workdir (the GAN run's config and discriminator) whose generator is
``(1 - alpha) * psnr + alpha * gan``; sample it or upscale with it like any other run.
Each run's latest checkpoint, or a kept one: ``--psnr_step=N``, ``--gan_step=N``.
"""

from absl import app, flags

from jaxgan import inference
from launch import common

FLAGS = flags.FLAGS
flags.DEFINE_string('psnr', None, 'The PSNR-oriented workdir (alpha = 0).')
flags.DEFINE_string('gan', None, 'The GAN workdir (alpha = 1).')
flags.DEFINE_float('alpha', 0.8, 'Interpolation weight of the GAN generator, in [0, 1].')
flags.DEFINE_string('workdir', None, 'A new workdir for the interpolated model.')
flags.DEFINE_integer('psnr_step', None, 'The checkpoint of the --psnr run to read, by its '
                     'step: one it keeps, read with the config that trained it. Default: the '
                     'latest.', lower_bound=1)
flags.DEFINE_integer('gan_step', None, 'The checkpoint of the --gan run to read, as '
                     '--psnr_step.', lower_bound=1)
flags.mark_flags_as_required(['psnr', 'gan', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError('Too many command-line arguments.')
  if not 0.0 <= FLAGS.alpha <= 1.0:
    raise common.LaunchError(f'--alpha must lie in [0, 1]; got {FLAGS.alpha}.')
  common.check_folder_writable(FLAGS.workdir)
  try:
    inference.interpolate(FLAGS.psnr, FLAGS.gan, FLAGS.alpha, FLAGS.workdir,
                          FLAGS.psnr_step, FLAGS.gan_step)
  except ValueError as e:  # generators that differ, a workdir that is not empty
    raise common.LaunchError(str(e)) from None
  print(f'wrote {FLAGS.workdir}: (1 - {FLAGS.alpha}) * {FLAGS.psnr} + {FLAGS.alpha} * '
        f'{FLAGS.gan}')


if __name__ == '__main__':
  common.run(main)
