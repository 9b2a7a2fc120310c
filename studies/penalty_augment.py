r"""R1 with DiffAugment: taken through the augmentation against at the augmented points.

Trains the DiffAugment study's digits DCGAN (``configs/study_diffaugment.py``, policy
'color,translation,cutout', R1 weight 1) for each number of steps, then reads R1 on the
pipeline's fixed real digits (up to 512: the study trains on 180, so all 180) per policy,
averaged over 4 draws: in the raw images
through ``T`` (what the train step takes), at the augmented points ``T(x)`` (what it took
before), and with no augmentation.

  python -m studies.penalty_augment --steps=1,2000
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from configs import study_diffaugment
from jaxgan import augment, build, train
from jaxgan import gan as gan_lib

POLICIES = ('color', 'translation', 'cutout', 'color,translation,cutout')


def r1_values(gan: gan_lib.GAN, state: gan_lib.GANState, real: jax.Array,
              draws: int = 4) -> tuple[float, float, float]:
  """Mean R1 ``(at T(x), through T, no augmentation)`` over ``draws`` keys."""
  fake = real[::-1]
  plain = dataclasses.replace(gan, augment=None)

  n = real.shape[0]

  @jax.jit  # one program per call, not each op eagerly
  def row(d_params: object, d_stats: object, real: jax.Array, fake: jax.Array,
          key: jax.Array) -> jax.Array:
    def penalty(g: gan_lib.GAN, r: jax.Array, f: jax.Array) -> jax.Array:
      return gan_lib._penalty(g, d_params, d_stats, r, f, None, None, key)
    k_real, k_fake, _ = jax.random.split(key, 3)  # _penalty's own split of key
    # The same per-example draws as _penalty's (split(k_real, n)[i] for example i): the
    # two forms differ only in where the gradient is taken, at T(x) or in x through T.
    at_real = augment.apply_each(gan.augment, real, jax.random.split(k_real, n))
    at_fake = augment.apply_each(gan.augment, fake, jax.random.split(k_fake, n))
    return jnp.stack([penalty(plain, at_real, at_fake), penalty(gan, real, fake),
                      penalty(plain, real, fake)])
  rows = [[float(v) for v in row(state.d_params, state.d_stats, real, fake,
                                 jax.random.key(100 + s))] for s in range(draws)]
  return tuple(np.mean(rows, axis=0))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--steps', default='1,2000',
                      help='comma-separated training lengths (default: 1,2000)')
  args = parser.parse_args()
  try:
    steps = [int(s) for s in args.steps.split(',')]
  except ValueError:
    steps = []
  if not steps or min(steps) < 1:
    parser.error(f'--steps must be comma-separated integers >= 1; got {args.steps!r}')
  print('| steps | policy | R1 at T(x) | R1 through T | no augmentation | at / through |')
  print('|---|---|---|---|---|---|')
  for n in steps:
    c = study_diffaugment.get_config()
    del c['study']
    c.augment, c.num_steps = 'color,translation,cutout', n
    c.penalty = dict(name='r1', weight=1.0, every=1, kwargs={})
    with tempfile.TemporaryDirectory() as workdir:  # the run itself is not kept
      state = train.train_and_evaluate(c, workdir)
    gan, pipe = build.build(c)
    real = jnp.asarray(pipe.real_samples(min(512, pipe.num_examples)))  # the study's 180
    for policy in POLICIES:
      g = dataclasses.replace(gan, augment=augment.make_augment(policy))
      at, through, plain = r1_values(g, state, real)
      print(f'| {n} | {policy} | {at:.4g} | {through:.4g} | {plain:.4g} | {at / through:.2f} |',
            flush=True)


if __name__ == '__main__':
  main()
