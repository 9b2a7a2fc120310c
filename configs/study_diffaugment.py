"""DiffAugment on 10 % of the digits: the same DCGAN with and without augmentation.

180 of the 1,797 offline digits (a fixed subset), 28x28; the digits DCGAN (width 32,
LayerNorm critic), non-saturating loss, Adam 2e-4 (0.5, 0.999), batch 64, EMA 0.999, 3,000
steps; DiffAugment 'color,translation,cutout' on every image the discriminator sees, real
and fake, in both updates (Zhao et al. 2020) against none. 3 seeds each; digit-FD against
the held-out digits every 250 steps. Results in docs/study_diffaugment/.

  python -m launch.study --config=configs/study_diffaugment.py --workdir=docs/study_diffaugment
"""

import ml_collections

from configs import default, parts


def get_config() -> ml_collections.ConfigDict:
  c = parts.dcgan_digits(default.get_config(), width=32)
  c.data = dict(name='digits', batch_size=64, image_size=28, subset=180)
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.999
  c.num_steps = 3000
  c.study = dict(kind='digits',
                 groups=dict(no_augment=dict(augment='', vmap_seeds=False),
                             diffaugment=dict(augment='color,translation,cutout',
                                              vmap_seeds=False)),
                 runs=('non_saturating:none',), num_seeds=3, eval_every=250,
                 num_samples=1000, penalty_weights={})
  return c
