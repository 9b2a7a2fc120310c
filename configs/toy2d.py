"""A GAN on a 2-D Gaussian mixture (ring8 by default, grid25 by override).

Non-saturating loss + R1 (weight 1: StyleGAN2's gamma 2), generator EMA 0.999; G and D are
MLPs of 3 hidden layers of 128; Adam lr 1e-3, betas 0.5/0.999, batch 256, 20,000 steps, 50
steps fused per compiled call. On ring8 this covers 8/8 modes (README "Results").

  python -m launch.train --config=configs/toy2d.py --workdir=/tmp/toy2d
  python -m launch.train --config=configs/toy2d.py --workdir=/tmp/grid \
      --config.data.name=grid25 --config.loss.name=hinge --config.penalty.name=none
"""

import ml_collections

from configs import default, parts


def get_config() -> ml_collections.ConfigDict:
  c = parts.toy_mlps(default.get_config())
  c.loss.name = 'non_saturating'
  c.penalty = dict(name='r1', weight=1.0, every=1, kwargs={})
  c.num_steps = 20000
  return c
