"""Re-creates ``tests/data/legacy_psnr_run/``: a tiny SRGAN PSNR-stage workdir (its
``config.json``, ``data_shapes.json`` and checkpoint) as jaxgan 215c9a9 wrote it, the last
version whose PSNR stage checkpointed an untrained discriminator and its Adam moments.

  python tests/data/make_legacy_psnr_run.py

It trains two steps with that version's code (checked out from this repository's history
into a temporary folder) on the embedded photographs; the tests restore, resume and seed a
GAN stage from it with today's code.
"""

import os
import shutil
import subprocess
import sys
import tempfile

COMMIT = '215c9a9'
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, 'legacy_psnr_run')

TRAIN = """
from configs import srgan
from jaxgan import train
c = srgan.get_config('psnr,small')
c.num_steps, c.data.batch_size, c.data.crop_size = 2, 4, 32
c.model.generator.update(num_blocks=1, features=8)
c.model.discriminator.update(image_size=32, width=4, hidden=16)
c.eval_every, c.num_eval_samples = 2, 2
train.train_and_evaluate(c, {workdir!r})
"""


def main() -> None:
  with tempfile.TemporaryDirectory() as tmp:
    src, workdir = os.path.join(tmp, 'src'), os.path.join(tmp, 'run')
    os.makedirs(src)
    archive = subprocess.run(['git', '-C', ROOT, 'archive', COMMIT], check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', src], input=archive, check=True)
    subprocess.run([sys.executable, '-c', TRAIN.format(workdir=workdir)], check=True, cwd=src,
                   env={**os.environ, 'PYTHONPATH': src, 'JAX_PLATFORMS': 'cpu'})
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    for name in ('config.json', 'data_shapes.json', 'checkpoints'):
      copy = shutil.copytree if os.path.isdir(os.path.join(workdir, name)) else shutil.copy
      copy(os.path.join(workdir, name), os.path.join(OUT, name))
  print(f'wrote {OUT}')


if __name__ == '__main__':
  main()
