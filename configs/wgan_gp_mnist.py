"""Convolutional WGAN-GP on 28x28 digits (Gulrajani et al. 2017 recipe).

DCGAN generator, critic without batch statistics (LayerNorm), lambda = 10, n_critic = 5,
Adam (lr 1e-4, betas 0.5/0.9), batch 32, z 64, 30 epochs (on the 1,797 offline digits 30
epochs are 337 generator steps; on MNIST 11,250).

  python -m launch.train --config=configs/wgan_gp_mnist.py --workdir=/tmp/wgan_gp
  python -m launch.train --config=configs/wgan_gp_mnist.py --workdir=/tmp/wgan_gp_mnist \
      --config.data.name=mnist
"""

import ml_collections

from configs import default, parts


def get_config() -> ml_collections.ConfigDict:
  c = parts.dcgan_digits(default.get_config())
  c.data = dict(name='digits', batch_size=32, image_size=28)
  c.loss.name = 'wasserstein'
  c.penalty = dict(name='wgan_gp', weight=10.0, every=1, kwargs={})
  c.n_critic = 5
  c.num_epochs = 30.0
  return c
