"""Class-conditional GAN on the 28x28 digits with a projection discriminator.

Mirza & Osindero 2014 (label embedding joined to z; the labels also set G's BatchNorm scales
and offsets, ``conditional_bn``) with Miyato & Koyama 2018's projection
discriminator (spectral norm, no batch statistics), hinge loss; Adam 2e-4 (0.5, 0.999),
batch 64, z 64, EMA 0.999, 5,000 steps on the offline digits (labels from scikit-learn).
Evaluated by class fidelity: the share of samples asked for class c that the digit
classifier labels c.

  python -m launch.train --config=configs/cgan_digits.py --workdir=/tmp/cgan
  python -m launch.sample --workdir=/tmp/cgan --num_samples=100 --labels=all --output=g.npy
  python -m launch.evaluate --workdir=/tmp/cgan --num_samples=2000
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.data = dict(name='digits', batch_size=64, image_size=28)
  c.model = dict(name='cgan', z_dim=64,
                 generator=dict(num_classes=10, width=64, conditional_bn=True),
                 discriminator=dict(num_classes=10, conditioning='projection',
                                    norm='spectral', width=64))
  c.loss.name = 'hinge'
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.999
  c.num_steps = 5000
  c.steps_per_call = 1
  c.num_eval_samples = 100
  return c
