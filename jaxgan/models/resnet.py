"""ResNet GAN models for 32 px images (CIFAR-10 shape): SNGAN, cGAN-PD and SAGAN.

The architecture and initializers follow Mimicry (``torch_mimicry/nets/sngan/sngan_32.py``,
``nets/cgan_pd/cgan_pd_32.py``, ``nets/sagan/sagan_32.py``, ``modules/resblocks.py``), which
follows the SNGAN authors' chainer code (``pfnet-research/sngan_projection``,
``gen_models/resnet_32.py``, ``dis_models/snresnet_32.py``):

* G: z -> Dense 4x4xngf -> 3 up-blocks -> BN, ReLU, conv 3x3 -> 3, tanh.
* D: optimized block (down) -> block (down) -> block -> block -> ReLU -> global sum
  pooling -> Dense 1 (+ projection of the label embedding).

Where Mimicry and the chainer code differ, the chainer code's nearest-neighbour upsampling
is used (Mimicry: bilinear), with Mimicry's bias in D's last Dense (chainer: none) and its
N(1, 0.02) conditional-BN scales (chainer: 1); biases start at 0 as in chainer.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import chex
import flax.linen as nn
import jax.numpy as jnp

from jaxgan.models import layers, mixed
from jaxgan.models.blocks import (
  ConditionalBatchNorm,
  Initializer,
  ProjectionHead,
  SelfAttention,
  check_labels,
  spectral,
  torch_default_init,
  xavier_uniform,
)

_upsample = layers.upsample_nearest  # nearest-neighbour 2x (chainer's ``unpooling_2d``)


def _downsample(x: chex.Array) -> chex.Array:
  """2x2 average pooling, stride 2."""
  return nn.avg_pool(x, (2, 2), strides=(2, 2))


def _conv(features: int, size: int, init: Initializer, name: str, h: chex.Array,
          cls: type = layers.Conv, *, dtype: Any, spectral_norm: bool, train: bool
          ) -> chex.Array:
  """``cls`` (``layers.Conv`` or a fused variant) with ``features`` outputs, a ``size x
  size`` kernel and 'SAME' padding, named ``name``, applied to ``h`` in the calling
  module; spectrally normalized when ``spectral_norm``."""
  layer = cls(features, (size, size), padding='SAME', kernel_init=init, dtype=dtype,
              name=name)
  return spectral(layer, h, enabled=spectral_norm, train=train)


def _check_attention_at(who: str, attention_at: int | None, resolutions: list[int]) -> None:
  if attention_at is not None and attention_at not in resolutions:
    raise ValueError(f'{who}: attention_at must be None or one of the block output '
                     f'resolutions {sorted(set(resolutions))}; got {attention_at}.')


class GBlock(nn.Module):
  """Generator residual block: ``h = c2(relu(bn2(c1(up(relu(bn1(x)))))))``, shortcut
  ``c_sc(up(x))`` (a 1x1 conv when the block upsamples or changes the width; computed as
  ``up(c_sc(x))``, equal). ``c1(up(.))`` is one ``layers.UpsampleConv``.

  Attributes:
    out_channels: channels of the output (and of the hidden conv).
    upsample: nearest-neighbour 2x upsampling before ``c1`` and the shortcut conv.
    num_classes: > 0 makes ``bn1``/``bn2`` :class:`ConditionalBatchNorm`.
    spectral_norm: spectral normalization on the convolutions.
    residual_init: initializer of ``c1`` and ``c2``.
    shortcut_init: initializer of ``c_sc``.
    dtype: computation dtype.

  References: Miyato et al. 2018 (SNGAN), Appendix B; Gulrajani et al. 2017 (ResNet GAN).
  """
  out_channels: int
  upsample: bool = True
  num_classes: int = 0
  spectral_norm: bool = False
  residual_init: Initializer = xavier_uniform(math.sqrt(2.0))
  shortcut_init: Initializer = xavier_uniform(1.0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:

    conv = functools.partial(_conv, dtype=self.dtype, spectral_norm=self.spectral_norm,
                             train=train)

    def bn(name, h):
      return ConditionalBatchNorm(self.num_classes, dtype=self.dtype, name=name)(h, y, train)

    h = nn.relu(bn('b1', x))
    # c1(up(h)) as one layer: layers.UpsampleConv never materializes up(h).
    h = conv(self.out_channels, 3, self.residual_init, 'c1', h,
             layers.UpsampleConv if self.upsample else layers.Conv)
    h = nn.relu(bn('b2', h))
    h = conv(self.out_channels, 3, self.residual_init, 'c2', h)
    sc = x
    if self.upsample or x.shape[-1] != self.out_channels:
      # c_sc(up(x)) as up(c_sc(x)): a 1x1 conv commutes with nearest upsampling (exactly),
      # and this way it runs on a quarter of the pixels.
      sc = conv(self.out_channels, 1, self.shortcut_init, 'c_sc', x)
    return h + (_upsample(sc) if self.upsample else sc)


class DBlock(nn.Module):
  """Discriminator residual block.

  ``optimized`` (the first block, on the image): ``h = down(c2(relu(c1(x))))``, shortcut
  ``c_sc(down(x))``. Otherwise ``h = down?(c2(relu(c1(relu(x)))))``, shortcut
  ``down?(c_sc(x))`` (identity when neither downsampling nor changing the width; computed
  as ``c_sc(down?(x))``, equal up to rounding). ``down(c2(.))`` is one
  ``layers.ConvAvgPool``.

  Attributes:
    out_channels: channels of the output.
    downsample: 2x2 average pooling at the end (always for ``optimized``).
    optimized: the first block's form (no leading ReLU, pooling before the shortcut conv).
    spectral_norm: spectral normalization on the convolutions.
    residual_init: initializer of ``c1`` and ``c2``.
    shortcut_init: initializer of ``c_sc``.
    dtype: computation dtype.

  References: Miyato et al. 2018 (SNGAN), Appendix B.
  """
  out_channels: int
  downsample: bool = True
  optimized: bool = False
  spectral_norm: bool = True
  residual_init: Initializer = xavier_uniform(math.sqrt(2.0))
  shortcut_init: Initializer = xavier_uniform(1.0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:

    conv = functools.partial(_conv, dtype=self.dtype, spectral_norm=self.spectral_norm,
                             train=train)

    hidden = self.out_channels if self.optimized else x.shape[-1]
    h = x if self.optimized else nn.relu(x)
    h = conv(hidden, 3, self.residual_init, 'c1', h)
    # down(c2(h)) as one layer: layers.ConvAvgPool never materializes c2(h).
    down = self.optimized or self.downsample
    h = conv(self.out_channels, 3, self.residual_init, 'c2', nn.relu(h),
             layers.ConvAvgPool if down else layers.Conv)
    if self.optimized:
      return h + conv(self.out_channels, 1, self.shortcut_init, 'c_sc', _downsample(x))
    # down(c_sc(x)) as c_sc(down(x)): a 1x1 conv (with its bias) commutes with average
    # pooling, and this way it runs on a quarter of the pixels.
    sc = _downsample(x) if self.downsample else x
    if self.downsample or x.shape[-1] != self.out_channels:
      sc = conv(self.out_channels, 1, self.shortcut_init, 'c_sc', sc)
    return h + sc


class ResNetGenerator(nn.Module):
  """SNGAN 32 px generator: z -> Dense 4x4xngf -> 3 x GBlock(up) -> BN, ReLU, conv 3x3,
  tanh; optionally class-conditional BN (cGAN-PD) and self-attention (SAGAN).

  Initializers (Mimicry): xavier uniform with gain sqrt(2) on the blocks' 3x3 convs, gain 1
  on the shortcut convs, the first Dense and the output conv; PyTorch's default conv init
  on the attention convs.

  Attributes:
    ngf: channels of every block.
    bottom_width: spatial size of the first feature map (4 gives 32 px images).
    channels: channels of the output image.
    num_classes: 0 for unconditional; > 0 uses :class:`ConditionalBatchNorm` in the
      blocks and needs labels ``y``.
    attention_at: resolution after whose (first) block a :class:`SelfAttention` is
      inserted (16 for Mimicry's SAGAN 32), or None (SNGAN).
    spectral_norm: spectral normalization on every Dense/conv (False for SNGAN, True for
      SAGAN, whose G is spectrally normalized too).
    residual_init: initializer of the blocks' 3x3 convs.
    kernel_init: initializer of the shortcut convs, the first Dense and the output conv.
    attention_init: initializer of the attention convs.
    dtype: computation dtype.

  References: Miyato et al. 2018, "Spectral Normalization for GANs", ICLR 2018; Miyato &
  Koyama 2018, "cGANs with Projection Discriminator", ICLR 2018; Zhang et al. 2019,
  "Self-Attention GANs", ICML 2019.
  """
  ngf: int = 256
  bottom_width: int = 4
  channels: int = 3
  num_classes: int = 0
  attention_at: int | None = None
  spectral_norm: bool = False
  residual_init: Initializer = xavier_uniform(math.sqrt(2.0))
  kernel_init: Initializer = xavier_uniform(1.0)
  attention_init: Initializer = torch_default_init()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps noise ``z[B, z_dim]`` (and int labels ``y[B]``) to images ``[B, 32, 32, 3]``."""
    if z.ndim != 2:
      raise ValueError(f'ResNetGenerator needs noise of shape [B, z_dim]; got {z.shape}.')
    check_labels('ResNetGenerator', y, z.shape[0], self.num_classes)
    resolutions = [self.bottom_width * 2 ** (i + 1) for i in range(3)]
    _check_attention_at('ResNetGenerator', self.attention_at, resolutions)
    sn = self.spectral_norm
    w = self.bottom_width
    l1 = mixed.Dense(w * w * self.ngf, kernel_init=self.kernel_init, dtype=self.dtype, name='l1')
    h = spectral(l1, z, enabled=sn, train=train).reshape(z.shape[0], w, w, self.ngf)
    attended = False
    for i, res in enumerate(resolutions):
      h = GBlock(self.ngf, upsample=True, num_classes=self.num_classes, spectral_norm=sn,
                 residual_init=self.residual_init, shortcut_init=self.kernel_init,
                 dtype=self.dtype, name=f'block{i + 2}')(h, y, train)
      if res == self.attention_at and not attended:
        h = SelfAttention(spectral_norm=sn, kernel_init=self.attention_init, dtype=self.dtype,
                          name='attention')(h, train)
        attended = True
    h = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype,
                             name='b5')(h))
    c5 = layers.Conv(self.channels, (3, 3), padding='SAME', kernel_init=self.kernel_init,
                 dtype=self.dtype, name='c5')
    return jnp.tanh(spectral(c5, h, enabled=sn, train=train))


class ResNetDiscriminator(nn.Module):
  """SNGAN 32 px discriminator: optimized DBlock (down) -> DBlock (down) -> DBlock ->
  DBlock -> ReLU -> global sum pooling -> Dense 1, plus ``<embed(y), phi>`` (projection)
  when ``num_classes > 0``; optionally self-attention (SAGAN).

  Initializers (Mimicry): xavier uniform with gain sqrt(2) on the blocks' 3x3 convs, gain 1
  on the shortcut convs, the last Dense and the label embedding; PyTorch's default conv
  init on the attention convs.

  Attributes:
    ndf: channels of every block.
    num_classes: 0 for unconditional; > 0 adds the projection head and needs labels.
    attention_at: resolution after whose (first) block a :class:`SelfAttention` is
      inserted (8 for Mimicry's SAGAN 32: after the second block), or None (SNGAN).
    spectral_norm: spectral normalization on every layer (convs, Dense, embedding).
    residual_init: initializer of the blocks' 3x3 convs.
    kernel_init: initializer of the shortcut convs, the last Dense and the embedding.
    attention_init: initializer of the attention convs.
    dtype: computation dtype; logits are float32.

  References: Miyato et al. 2018, "Spectral Normalization for GANs", ICLR 2018; Miyato &
  Koyama 2018, "cGANs with Projection Discriminator", ICLR 2018; Zhang et al. 2019,
  "Self-Attention GANs", ICML 2019.
  """
  ndf: int = 128
  num_classes: int = 0
  attention_at: int | None = None
  spectral_norm: bool = True
  residual_init: Initializer = xavier_uniform(math.sqrt(2.0))
  kernel_init: Initializer = xavier_uniform(1.0)
  attention_init: Initializer = torch_default_init()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps images ``x[B, H, W, C]`` (H, W divisible by 4) and labels to logits ``[B]``."""
    if x.ndim != 4 or x.shape[1] % 4 or x.shape[2] % 4:
      raise ValueError('ResNetDiscriminator needs images of shape [B, H, W, C] with H and W '
                       f'divisible by 4; got {x.shape}.')
    check_labels('ResNetDiscriminator', y, x.shape[0], self.num_classes)
    downs = (True, True, False, False)
    resolutions = [x.shape[1] // 2, x.shape[1] // 4, x.shape[1] // 4, x.shape[1] // 4]
    _check_attention_at('ResNetDiscriminator', self.attention_at, resolutions)
    h = x.astype(self.dtype)
    attended = False
    for i, (down, res) in enumerate(zip(downs, resolutions, strict=True)):
      h = DBlock(self.ndf, downsample=down, optimized=i == 0, spectral_norm=self.spectral_norm,
                 residual_init=self.residual_init, shortcut_init=self.kernel_init,
                 dtype=self.dtype, name=f'block{i + 1}')(h, train)
      if res == self.attention_at and not attended:
        h = SelfAttention(spectral_norm=self.spectral_norm, kernel_init=self.attention_init,
                          dtype=self.dtype, name='attention')(h, train)
        attended = True
    phi = jnp.sum(nn.relu(h), axis=(1, 2))
    head = ProjectionHead(num_classes=self.num_classes, spectral_norm=self.spectral_norm,
                          kernel_init=self.kernel_init, dtype=self.dtype, name='head')
    return head(phi, y, train)
