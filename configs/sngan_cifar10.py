"""SNGAN on CIFAR-10 (Miyato et al. 2018), as Mimicry trains it.

ResNet G (ngf 256) and D (ndf 128, spectral norm on every layer), hinge loss, n_critic 5,
Adam 2e-4 (0, 0.9) decayed linearly to 0 over the 100,000 generator steps (Mimicry's
``lr_decay='linear'``; a run of another length sets ``schedule='linear(decay_steps=N)'``
on both optimizers), batch 64, z 128. Mimicry's FID with this
protocol (50k samples against the training set): 16.77. One architectural difference: G
upsamples nearest-neighbour, as the chainer SNGAN code (Mimicry: bilinear;
``jaxgan/models/resnet.py``). Needs the prepared TFDS cifar10:

  python -m launch.train --config=configs/sngan_cifar10.py --workdir=/tmp/sngan
  python -m launch.train --config=configs/sngan_cifar10.py:digits --workdir=/tmp/sngan_digits

``:digits`` trains the same architecture (narrower: ngf 64, ndf 64) on the offline digits
resized to 32x32, 1 channel, for 3,000 steps at constant rates: a check that runs on 2
CPU cores.
  python -m launch.evaluate --workdir=/tmp/sngan --num_samples=50000 \
      --inception_weights=pt_inception-2015-12-05-6726825d.pth
"""

import ml_collections

from configs import default, parts


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """``variant``: '' (CIFAR-10, the paper's sizes) or 'digits' (offline, small)."""
  variant = parts.variant(variant, ('', 'digits'))
  c = default.get_config()
  c.data = dict(name='cifar10', batch_size=64, image_size=32, data_dir='', split='train')
  c.model = dict(name='sngan', z_dim=128, generator=dict(ngf=256),
                 discriminator=dict(ndf=128))
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
  if variant == 'digits':
    c.data = dict(name='digits', batch_size=64, image_size=32)
    c.model.generator.update(ngf=64, channels=1)
    c.model.discriminator.ndf = 64
    c.num_steps, c.eval_every, c.checkpoint_every = 3000, 500, 1000
    c.g_optimizer.schedule = c.d_optimizer.schedule = 'constant'
  return c
