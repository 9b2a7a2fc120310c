"""Convolutional WGAN-GP on 28x28 digits, after Gulrajani et al. 2017.

The objective and optimizer are those of the paper's MNIST code (``gan_mnist.py``): the
Wasserstein loss with gradient penalty lambda = 10, n_critic = 5, Adam (lr 1e-4, betas
0.5/0.9). The rest is sized for 2 CPU cores and differs from that code:
* the generator is jaxgan's digits DCGAN: Dense to 7x7x128, 4x4 transposed convolutions
  to 64 and 32 channels with BatchNorm, a 3x3 conv, tanh output in [-1, 1], N(0, 0.02)
  weights (0.58M parameters); theirs has 5x5 kernels, no BatchNorm in its WGAN-GP mode,
  4x4x256 -> 128 -> 64 -> 1, a sigmoid output in [0, 1] and He-uniform weights (~1.55M);
* the critic has two 4x4 stride-2 layers (64, 128 channels) with LayerNorm (the paper's
  advice for a critic without batch statistics; 0.14M parameters), per position over
  the channels (``norm='layer'``, the digits study's critic; the paper's ResNet code
  normalizes each example over C, H and W: ``norm='layer_chw'``); theirs has three 5x5
  layers to 256 channels without normalization (~1.03M);
* batch 32 (theirs 50), z 64 (theirs 128), 30 epochs (theirs 200,000 generator
  iterations; on the 1,797 offline digits 30 epochs are 337 generator steps, on MNIST
  11,250).

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
