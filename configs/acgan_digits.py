"""ACGAN on the 28x28 digits (Odena et al. 2017): a class-conditional generator and a
discriminator with an auxiliary classifier head; its class loss on real and fake samples
is added to both players' losses (weight 1).

Non-saturating loss, BatchNorm discriminator, Adam 2e-4 (0.5, 0.999), batch 64, z 64, EMA
0.999, 5,000 steps on the offline digits.

  python -m launch.train --config=configs/acgan_digits.py --workdir=/tmp/acgan
  python -m launch.evaluate --workdir=/tmp/acgan --num_samples=2000
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.data = dict(name='digits', batch_size=64, image_size=28)
  c.model = dict(name='acgan', z_dim=64, generator=dict(num_classes=10, width=64),
                 discriminator=dict(num_classes=10, norm='batch', width=64))
  c.loss.name = 'non_saturating'
  c.auxiliary = dict(name='acgan', kwargs=dict(weight=1.0))
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.999
  c.num_steps = 5000
  c.steps_per_call = 1
  c.num_eval_samples = 100
  return c
