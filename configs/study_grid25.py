"""The grid25 study at full length: every objective with R1 (gamma 0.1), 5 vmapped seeds.

20,000 steps per seed with the toy model of configs/toy2d.py (3x128 MLPs, EMA 0.999, Adam
1e-3); WGAN with its gradient penalty (lambda 0.1) beside. gamma 0.1 was picked on 3 seeds
of RaHinge: HQ 85.1 +/- 5.1 % at gamma 1, 92.6 +/- 0.4 % at 0.1, 91.5 +/- 1.1 % at 0.01
(all 25/25 modes). Results in docs/study_grid25/ and docs/study.md.

  python -m launch.study --config=configs/study_grid25.py --workdir=docs/study_grid25
"""

from configs import study_toy
from jaxgan import losses


def get_config():
  c = study_toy.get_config()
  c.num_steps = 20000
  c.study.datasets = ('grid25',)
  c.study.runs = tuple(f'{name}:r1' for name in losses.names()) + ('wasserstein:wgan_gp',)
  c.study.penalty_weights.r1 = 0.1
  return c
