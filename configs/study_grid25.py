"""The grid25 study at full length: every objective with R1 (weight 0.1: gamma 0.2), 5 seeds.

20,000 steps per seed with the toy setup of configs/toy2d.py (3x128 MLPs, EMA 0.999, Adam
1e-3); WGAN with its gradient penalty (lambda 0.1) beside. The weight 0.1 was picked on 3 seeds
of RaHinge before the study (docs/study.md). Results in docs/study_grid25/.

  python -m launch.study --config=configs/study_grid25.py --workdir=docs/study_grid25
"""

import ml_collections

from configs import default, parts
from jaxgan import losses


def get_config() -> ml_collections.ConfigDict:
  c = parts.toy_mlps(default.get_config())
  c.num_steps = 20000
  c.study = dict(kind='mixtures',
                 groups=dict(grid25=dict(data=dict(name='grid25', batch_size=256))),
                 runs=tuple(f'{name}:r1' for name in losses.names()) + ('wasserstein:wgan_gp',),
                 num_seeds=5, penalty_weights=dict(r1=0.1, wgan_gp=0.1))
  return c
