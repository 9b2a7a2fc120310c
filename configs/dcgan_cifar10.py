"""DCGAN on CIFAR-10 32x32 (Radford et al. 2016): non-saturating loss, BatchNorm in both.

Adam lr 2e-4, beta1 0.5, batch 128, z 100. Needs the prepared TFDS cifar10:

  python -m launch.train --config=configs/dcgan_cifar10.py --workdir=/tmp/dcgan
  python -m launch.train --config=configs/dcgan_cifar10.py --workdir=/tmp/sngan \
      --config.loss.name=hinge --config.model.discriminator.norm=spectral
"""

from configs import mlp_mnist


def get_config():
  c = mlp_mnist.get_config()
  c.data = dict(name='cifar10', batch_size=128, image_size=32, data_dir='', split='train')
  c.model = dict(name='dcgan', z_dim=100,
                 generator=dict(image_size=32, channels=3, width=64),
                 discriminator=dict(width=64, num_layers=3, norm='batch'))
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999)
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999)
  c.num_epochs = 50
  c.eval_every = 1000
  c.checkpoint_every = 2000
  return c
