"""DCGAN-style convolutional generator and discriminator for 28, 32 and 64 px images."""

from __future__ import annotations

from typing import Any

import chex
import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import blocks, initializers, layers, mixed
from jaxgan.models.mlp import _check_input, _unconditional

NORMS = ('batch', *blocks.LAYER_NORMS, 'none', 'spectral')  # the critics' norm choices


def _start_size(image_size: int) -> tuple[int, int]:
  """The spatial size of the first feature map and the number of 2x up-samplings."""
  if image_size == 28:
    return 7, 2
  if image_size in (32, 64):
    return 4, {32: 3, 64: 4}[image_size]
  raise ValueError(f'DCGAN models support image_size 28, 32 or 64; got {image_size}.')


def generator_channels(image_size: int, width: int) -> tuple[int, list[int]]:
  """The DCGAN generator's channels: those of its first ``start x start`` feature map (the
  Dense layer's output) and the output channels of each 4x4 stride-2 transposed
  convolution (doubling towards the input, ``width // 2`` last, at least 8)."""
  _, ups = _start_size(image_size)
  outs = [max(width * 2 ** (ups - 2 - i) if i < ups - 1 else width // 2, 8) for i in range(ups)]
  return width * 2 ** (ups - 1), outs


class DCGANGenerator(nn.Module):
  """z -> Dense -> [ConvTranspose 4x4 /2, BN, ReLU]* -> Conv 3x3 -> tanh.

  Radford et al., Unsupervised Representation Learning with Deep Convolutional GANs, ICLR
  2016: weights from N(0, 0.02), biases zero (section 4). The layers before a BatchNorm
  keep their bias (as the TF WGAN-GP DCGAN and this project's PyTorch twin,
  ``benchmarks/torch_dcgan.py``): BN cancels it, so it only costs its few parameters
  (Radford's code has none there), and BN scales start at 1 (his: N(1, 0.02)).

  Attributes:
    image_size: 28, 32 or 64.
    channels: channels of the output image (1 or 3).
    width: channels of the feature map before the last transposed convolution, which
      outputs ``width // 2`` (at least 8); they double towards the input.
    kernel_init: initializer of the Dense and conv weights.
    dtype: the computation dtype (parameters stay float32).
  """
  image_size: int = 32
  channels: int = 3
  width: int = 64
  kernel_init: Any = 'normal(stddev=0.02)'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps noise ``z[batch, z_dim]`` to images ``[batch, size, size, channels]`` in [-1, 1]."""
    _unconditional(self, y)
    _check_input(self, 'noise z', z, '[B, z_dim]', lambda n: n == 2)
    init = initializers.resolve(self.kernel_init)
    bn = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)
    start, _ = _start_size(self.image_size)
    ch, outs = generator_channels(self.image_size, self.width)
    x = mixed.Dense(start * start * ch, kernel_init=init, dtype=self.dtype)(z)
    x = nn.relu(bn()(x))
    x = x.reshape((z.shape[0], start, start, ch))
    for out in outs:
      x = layers.ConvTranspose(out, (4, 4), strides=(2, 2), padding='SAME',
                               kernel_init=init, dtype=self.dtype)(x)
      x = nn.relu(bn()(x))
    x = layers.Conv(self.channels, (3, 3), padding='SAME', kernel_init=init, dtype=self.dtype)(x)
    return jnp.tanh(x)


class DCGANDiscriminator(nn.Module):
  """x -> [Conv 4x4 /2, norm, LeakyReLU 0.2]* -> Dense 1 (Radford et al. 2016).

  Attributes:
    width: channels of the first convolution; they double at each down-sampling.
    num_layers: number of stride-2 convolutions.
    norm: ``'batch'`` (DCGAN); ``'layer'`` (each position over its channels),
      ``'layer_chw'`` (each example over C, H and W, as WGAN-GP's critics; see
      :func:`~jaxgan.models.blocks.layer_norm`) or ``'none'``: critics for gradient
      penalties, no cross-example statistics, as WGAN-GP asks; or ``'spectral'``
      (:class:`~jaxgan.models.blocks.SpectralNorm` on every layer, Miyato et al. 2018).
    kernel_init: initializer of the conv and Dense weights (DCGAN: N(0, 0.02)).
    dtype: the computation dtype (parameters stay float32; logits are float32).
  """
  width: int = 64
  num_layers: int = 3
  norm: str = 'batch'
  kernel_init: Any = 'normal(stddev=0.02)'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps images ``x[batch, H, W, C]`` to logits ``[batch]``."""
    _unconditional(self, y)
    _check_input(self, 'images x', x, '[B, H, W, C]', lambda n: n == 4)
    if self.norm not in NORMS:
      raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {self.norm!r}.")
    num_layers = blocks.check_count('DCGANDiscriminator', 'num_layers', self.num_layers)
    init = initializers.resolve(self.kernel_init)

    def layer(module, h):
      return blocks.spectral(module, h, enabled=self.norm == 'spectral', train=train)

    h = x
    for i in range(num_layers):
      h = layer(layers.Conv(self.width * 2 ** i, (4, 4), strides=(2, 2), padding='SAME',
                        kernel_init=init, dtype=self.dtype), h)
      if i > 0 and self.norm == 'batch':
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(h)
      elif i > 0 and self.norm in blocks.LAYER_NORMS:
        h = blocks.layer_norm(h, self.norm, self.dtype)
      h = nn.leaky_relu(h, 0.2)
    h = h.reshape((h.shape[0], -1))
    return layer(mixed.Dense(1, kernel_init=init, dtype=self.dtype), h)[:, 0].astype(jnp.float32)
