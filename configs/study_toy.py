"""The objective study on 2-D mixtures: every objective x penalty, seeds vmapped.

  python -m launch.study --config=configs/study_toy.py --workdir=docs/study
  python -m launch.study --config=configs/study_toy.py --workdir=/tmp/quick \
      --config.study.num_seeds=2 --config.num_steps=500
"""

from configs import toy2d
from jaxgan import losses


def get_config():
  c = toy2d.get_config()
  runs = [f'{name}:none' for name in losses.names()]
  runs += [f'{name}:r1' for name in losses.names() if name != 'wasserstein']
  runs += ['wasserstein:wgan_gp']
  c.study = dict(datasets=('ring8', 'grid25'), runs=tuple(runs), num_seeds=5,
                 penalty_weights=dict(r1=1.0, wgan_gp=0.1, wgan_lp=0.1, dragan=0.1, r2=1.0))
  return c
