"""Convolutional WGAN-GP on 28x28 digits (Gulrajani et al. 2017 recipe).

DCGAN generator, critic without batch statistics (LayerNorm), lambda = 10, n_critic = 5,
Adam (lr 1e-4, betas 0.5/0.9), batch 32, z 64, 30 epochs.

  python -m launch.train --config=configs/wgan_gp_mnist.py --workdir=/tmp/wgan_gp
  python -m launch.train --config=configs/wgan_gp_mnist.py --workdir=/tmp/wgan_gp \
      --config.data.name=mnist
"""

from configs import mlp_mnist


def get_config():
  c = mlp_mnist.get_config()
  c.data.batch_size = 32
  c.model = dict(name='dcgan', z_dim=64,
                 generator=dict(image_size=28, channels=1, width=64),
                 discriminator=dict(width=64, num_layers=2, norm='layer'))
  c.loss.name = 'wasserstein'
  c.penalty.name = 'wgan_gp'
  c.penalty.weight = 10.0
  c.n_critic = 5
  c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.9)
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.9)
  c.num_epochs = 30
  return c
