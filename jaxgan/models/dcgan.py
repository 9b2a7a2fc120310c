"""DCGAN-style convolutional generator and discriminator for 28, 32 and 64 px images."""

from __future__ import annotations

import chex
import flax.linen as nn
import jax.numpy as jnp


def _start_size(image_size: int) -> tuple[int, int]:
  """The spatial size of the first feature map and the number of 2x up-samplings."""
  if image_size == 28:
    return 7, 2
  if image_size in (32, 64):
    return 4, {32: 3, 64: 4}[image_size]
  raise ValueError(f'DCGAN models support image_size 28, 32 or 64; got {image_size}.')


class DCGANGenerator(nn.Module):
  """z -> Dense -> [ConvTranspose 4x4 /2, BN, ReLU]* -> Conv -> tanh (Radford et al. 2016).

  Attributes:
    image_size: 28, 32 or 64.
    channels: channels of the output image (1 or 3).
    width: channels of the last hidden feature map; they double towards the input.
  """
  image_size: int = 32
  channels: int = 3
  width: int = 64

  @nn.compact
  def __call__(self, z: chex.Array, train: bool = True) -> chex.Array:
    """Maps noise ``z[batch, z_dim]`` to images ``[batch, size, size, channels]`` in [-1, 1]."""
    start, ups = _start_size(self.image_size)
    ch = self.width * 2 ** (ups - 1)
    x = nn.Dense(start * start * ch)(z)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
    x = x.reshape((z.shape[0], start, start, ch))
    for i in range(ups):
      ch = self.width * 2 ** (ups - 2 - i) if i < ups - 1 else self.width // 2
      x = nn.ConvTranspose(max(ch, 8), (4, 4), strides=(2, 2), padding='SAME')(x)
      x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9)(x))
    x = nn.Conv(self.channels, (3, 3), padding='SAME')(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """x -> [Conv 4x4 /2, norm, LeakyReLU 0.2]* -> Dense 1 (Radford et al. 2016).

  Attributes:
    width: channels of the first convolution; they double at each down-sampling.
    num_layers: number of stride-2 convolutions.
    norm: ``'batch'`` (DCGAN), ``'layer'`` or ``'none'`` (critics with gradient
      penalties: no cross-example statistics, as WGAN-GP asks), or ``'spectral'``
      (``flax.linen.SpectralNorm`` on every layer, Miyato et al. 2018).
  """
  width: int = 64
  num_layers: int = 3
  norm: str = 'batch'

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:
    """Maps images ``x[batch, H, W, C]`` to logits ``[batch]``."""
    if self.norm not in ('batch', 'layer', 'none', 'spectral'):
      raise ValueError("norm must be one of 'batch', 'layer', 'none', 'spectral'; got "
                       f'{self.norm!r}.')

    def layer(module, h):
      if self.norm == 'spectral':
        return nn.SpectralNorm(module)(h, update_stats=train)
      return module(h)

    h = x
    for i in range(self.num_layers):
      h = layer(nn.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding='SAME'), h)
      if i > 0 and self.norm == 'batch':
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      elif i > 0 and self.norm == 'layer':
        h = nn.LayerNorm()(h)
      h = nn.leaky_relu(h, 0.2)
    h = h.reshape((h.shape[0], -1))
    return layer(nn.Dense(1), h)[:, 0]
