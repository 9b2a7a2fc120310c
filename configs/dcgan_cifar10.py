"""DCGAN on CIFAR-10 32x32 (Radford et al. 2016): non-saturating loss, BatchNorm in both,
weights N(0, 0.02).

Adam lr 2e-4, beta1 0.5, batch 128, z 100, 50 epochs. The networks are jaxgan's DCGAN
family in the layout of SNGAN's "standard CNN" (Miyato et al. 2018; chainer's
``DCGANGenerator``) at half its width: a Dense layer to 4x4x256 with BatchNorm over its
units, 4x4 stride-2 transposed convolutions to 128, 64 and 32 channels (BN, ReLU), a 3x3
conv to RGB and tanh; Radford et al.'s generator ends in a transposed convolution
straight to RGB. The critic: 4x4 stride-2 convolutions 64 -> 128 -> 256, BatchNorm after
all but the first, leaky ReLU 0.2, then a Dense logit. Needs the prepared TFDS cifar10:

  python -m launch.train --config=configs/dcgan_cifar10.py --workdir=/tmp/dcgan
  python -m launch.train --config=configs/dcgan_cifar10.py --workdir=/tmp/dcgan_sn \
      --config.loss.name=hinge --config.model.discriminator.norm=spectral
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.data = dict(name='cifar10', batch_size=128, image_size=32, data_dir='', split='train')
  c.model = dict(name='dcgan', z_dim=100,
                 generator=dict(image_size=32, channels=3, width=64),
                 discriminator=dict(width=64, num_layers=3, norm='batch'))
  c.loss.name = 'non_saturating'
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.num_epochs = 50.0
  c.eval_every = 1000
  c.checkpoint_every = 2000
  return c
