"""The objective study on 2-D mixtures: objectives x penalties, 5 seeds vmapped per run.

Every objective without a penalty, the main ones with R1 (weight 1, gamma 2), and WGAN with GP
(lambda 0.1); the toy setup of configs/toy2d.py (EMA 0.999), 5,000 steps per seed, on
ring8 and grid25.

  python -m launch.study --config=configs/study_toy.py --workdir=docs/study
  python -m launch.study --config=configs/study_toy.py --workdir=/tmp/quick \
      --config.study.num_seeds=2 --config.num_steps=500
"""

import ml_collections

from configs import default, parts
from jaxgan import losses


def get_config() -> ml_collections.ConfigDict:
  c = parts.toy_mlps(default.get_config())
  c.num_steps = 5000
  runs = [f'{name}:none' for name in losses.names()]
  runs += ['non_saturating:r1', 'hinge:r1', 'rahinge:r1', 'wasserstein:wgan_gp']
  c.study = dict(kind='mixtures',
                 groups=dict(ring8=dict(data=dict(name='ring8', batch_size=256)),
                             grid25=dict(data=dict(name='grid25', batch_size=256))),
                 runs=tuple(runs), num_seeds=5,
                 penalty_weights=dict(r1=1.0, wgan_gp=0.1, wgan_lp=0.1, dragan=0.1, r2=1.0))
  return c
