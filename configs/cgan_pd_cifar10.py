"""cGAN with a projection discriminator on CIFAR-10 (Miyato & Koyama 2018), as Mimicry
trains it: the SNGAN ResNets with conditional BatchNorm in G and a projection head in D,
the SNGAN schedule (hinge, n_critic 5, Adam 2e-4 (0, 0.9) decayed linearly to 0 over
100,000 steps, batch 64).
Mimicry's FID (50k samples against the training set): 10.84. G upsamples
nearest-neighbour, as the chainer code (Mimicry: bilinear; ``jaxgan/models/resnet.py``).

  python -m launch.train --config=configs/cgan_pd_cifar10.py --workdir=/tmp/cgan_pd
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.data = dict(name='cifar10', batch_size=64, image_size=32, data_dir='', split='train')
  c.model = dict(name='cgan_pd', z_dim=128, generator=dict(ngf=256, num_classes=10),
                 discriminator=dict(ndf=128, num_classes=10))
  c.loss.name = 'hinge'
  c.n_critic = 5
  # Mimicry's lr_decay='linear': both rates to 0 over the 100,000 generator steps.
  decay = 'linear(decay_steps=100000)'
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.0, b2=0.9, schedule=decay)
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.0, b2=0.9, schedule=decay)
  c.num_steps = 100000
  c.log_every = 100
  c.eval_every = 5000
  c.checkpoint_every = 5000
  return c
