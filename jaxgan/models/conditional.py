"""Class- and code-conditional GAN models for 28 px digits: cGAN, ACGAN and InfoGAN.

All are small DCGAN-style conv nets (7 -> 14 -> 28 px, 4x4 stride-2 ``layers.ConvTranspose`` /
``layers.Conv`` with 'SAME' padding, as ``jaxgan.models.dcgan``), cheap to train on a CPU. The
discriminators share one trunk, the InfoGAN MNIST discriminator of Chen et al. 2016
(Table 1, the official openai/InfoGAN ``regularized_gan.py``)::

  conv 4x4/2 width -> lReLU -> conv 4x4/2 2*width -> norm -> lReLU -> Dense hidden -> norm
  -> lReLU  = phi(x)

and differ in their heads. Weights start at N(0, 0.02), biases at 0 (DCGAN, Radford et al.
2016, and the official InfoGAN code).
"""

from __future__ import annotations

from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxgan.models import layers, mixed
from jaxgan.models.blocks import (
  LAYER_NORMS,
  ConditionalBatchNorm,
  Initializer,
  ProjectionHead,
  check_labels,
  check_range,
  layer_norm,
  spectral,
)
from jaxgan.models.dcgan import NORMS


def _check_choice(who: str, attr: str, value: str, valid: tuple[str, ...]) -> None:
  if value not in valid:
    raise ValueError(f'{who}: {attr} must be one of {", ".join(map(repr, valid))}; '
                     f'got {value!r}.')


class DigitTrunk(nn.Module):
  """The shared discriminator trunk ``x[B, 28, 28, C] -> phi[B, hidden]`` (see the module
  docstring); ``norm`` acts after the second conv and the Dense, not after the first conv.

  Attributes:
    width: channels of the first conv (the second has ``2 * width``).
    hidden: width of the Dense layer (InfoGAN: 1024).
    norm: ``'batch'`` (InfoGAN), ``'layer'``, ``'layer_chw'`` (see
      :func:`~jaxgan.models.blocks.layer_norm`), ``'none'``, or ``'spectral'`` (spectral
      normalization of every layer, Miyato et al. 2018).
    negative_slope: slope of the leaky ReLUs.
    kernel_init: initializer of the conv and Dense kernels.
    dtype: computation dtype.
  """
  width: int = 64
  hidden: int = 1024
  norm: str = 'batch'
  negative_slope: float = 0.2
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:
    _check_choice(type(self).__name__, 'norm', self.norm, NORMS)
    sn = self.norm == 'spectral'

    def act(h):
      return nn.leaky_relu(h, self.negative_slope)

    def norm(h):
      if self.norm == 'batch':
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(h)
      if self.norm in LAYER_NORMS:
        return layer_norm(h, self.norm, self.dtype)
      return h

    def conv(features, h):
      layer = layers.Conv(features, (4, 4), strides=(2, 2), padding='SAME',
                      kernel_init=self.kernel_init, dtype=self.dtype)
      return spectral(layer, h, enabled=sn, train=train)

    h = act(conv(self.width, x.astype(self.dtype)))
    h = act(norm(conv(2 * self.width, h)))
    h = h.reshape(h.shape[0], -1)
    dense = mixed.Dense(self.hidden, kernel_init=self.kernel_init, dtype=self.dtype)
    return act(norm(spectral(dense, h, enabled=sn, train=train)))


def _check_image(who: str, x: chex.Array) -> None:
  if x.ndim != 4 or x.shape[1:3] != (28, 28):
    raise ValueError(f'{who} needs images of shape [B, 28, 28, C]; got {x.shape}.')


def _upsampling_stack(h: chex.Array, width: int, channels: int, norm, init: Initializer,
                      dtype: Any) -> chex.Array:
  """``h[B, 7*7*2*width]`` -> norm, ReLU -> 7x7 -> ConvT 4x4/2 ``width`` -> norm, ReLU ->
  ConvT 4x4/2 ``channels`` -> tanh: images ``[B, 28, 28, channels]``. The first norm acts
  on the flat Dense output, per unit (InfoGAN's ``fc_batch_norm``), the second per channel."""
  h = nn.relu(norm(h)).reshape(h.shape[0], 7, 7, 2 * width)
  h = layers.ConvTranspose(width, (4, 4), strides=(2, 2), padding='SAME', kernel_init=init,
                       dtype=dtype)(h)
  h = nn.relu(norm(h))
  h = layers.ConvTranspose(channels, (4, 4), strides=(2, 2), padding='SAME', kernel_init=init,
                       dtype=dtype)(h)
  return jnp.tanh(h)


class ConditionalGenerator(nn.Module):
  """Conditional GAN generator: ``[z, embed(y)] -> Dense 7x7x(2 width) -> BN, ReLU ->
  ConvT 4x4/2 width -> BN, ReLU -> ConvT 4x4/2 channels -> tanh``, 28 px.

  The label enters as a learned embedding concatenated to z (Mirza & Osindero 2014) and,
  with ``conditional_bn``, also through class-dependent BN scales and shifts
  (:class:`~jaxgan.models.blocks.ConditionalBatchNorm`). Also ACGAN's generator. The first
  norm acts on the flat Dense output, before the reshape, so it is per unit (conditional BN
  tables ``[num_classes, 7 * 7 * 2 width]``, as InfoGAN's ``fc_batch_norm``); the second
  is per channel (``[num_classes, width]``), as DCGAN and Mimicry's conditional BN.

  Attributes:
    num_classes: number of classes (> 0).
    channels: channels of the output image.
    width: channels of the last hidden feature map (the first has ``2 * width``).
    embed_dim: size of the label embedding (Flax's default init, N(0, 1 / embed_dim);
      PyTorch's nn.Embedding draws N(0, 1)).
    conditional_bn: class-conditional BatchNorm instead of plain BatchNorm.
    kernel_init: initializer of the Dense/ConvTranspose kernels (DCGAN: N(0, 0.02)).
    dtype: computation dtype.

  References: Mirza & Osindero 2014, "Conditional Generative Adversarial Nets"; de Vries
  et al. 2017 / Dumoulin et al. 2017 (conditional BN); Odena et al. 2017 (ACGAN).
  """
  num_classes: int = 10
  channels: int = 1
  width: int = 64
  embed_dim: int = 32
  conditional_bn: bool = False
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps noise ``z[B, z_dim]`` and int labels ``y[B]`` to images ``[B, 28, 28, C]``."""
    if self.num_classes < 1:
      raise ValueError(f'ConditionalGenerator needs num_classes > 0; got {self.num_classes}.')
    if z.ndim != 2:
      raise ValueError(f'ConditionalGenerator needs noise of shape [B, z_dim]; got {z.shape}.')
    check_labels('ConditionalGenerator', y, z.shape[0], self.num_classes)
    e = nn.Embed(self.num_classes, self.embed_dim, dtype=jnp.float32,  # rows summed in f32
                 name='embed')(y).astype(self.dtype)
    h = jnp.concatenate([z.astype(self.dtype), e], axis=-1)
    h = mixed.Dense(7 * 7 * 2 * self.width, kernel_init=self.kernel_init, dtype=self.dtype)(h)
    k = self.num_classes if self.conditional_bn else 0

    def norm(t):
      return ConditionalBatchNorm(k, dtype=self.dtype)(t, y if k else None, train)

    return _upsampling_stack(h, self.width, self.channels, norm, self.kernel_init, self.dtype)


class ConditionalDiscriminator(nn.Module):
  """Conditional discriminator on :class:`DigitTrunk`, with the label used by
  ``conditioning``:

  * ``'projection'``: ``logit = psi(phi(x)) + <embed(y), phi(x)>`` (Miyato & Koyama 2018).
  * ``'concat'``: ``one_hot(y)`` broadcast over the image and concatenated to its channels,
    then ``logit = psi(phi([x, one_hot(y)]))`` (Mirza & Osindero 2014).

  Attributes:
    num_classes: number of classes (> 0).
    conditioning: ``'projection'`` or ``'concat'``.
    norm: ``'spectral'`` (default, as the projection discriminator), ``'layer'``,
      ``'layer_chw'`` or ``'none'``: no cross-example statistics, so gradient penalties
      apply as they are.
    width: channels of the first conv.
    hidden: width of the trunk's Dense layer, the dimension of ``phi``.
    negative_slope: slope of the leaky ReLUs.
    kernel_init: initializer of every kernel and of the label embedding.
    dtype: computation dtype; logits are float32.

  References: Miyato & Koyama 2018, "cGANs with Projection Discriminator", ICLR 2018;
  Mirza & Osindero 2014, "Conditional Generative Adversarial Nets".
  """
  num_classes: int = 10
  conditioning: str = 'projection'
  norm: str = 'spectral'
  width: int = 64
  hidden: int = 1024
  negative_slope: float = 0.2
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps images ``x[B, 28, 28, C]`` and int labels ``y[B]`` to logits ``[B]``."""
    who = 'ConditionalDiscriminator'
    _check_choice(who, 'conditioning', self.conditioning, ('projection', 'concat'))
    _check_choice(who, 'norm', self.norm, ('spectral', *LAYER_NORMS, 'none'))
    if self.num_classes < 1:
      raise ValueError(f'{who} needs num_classes > 0; got {self.num_classes}.')
    _check_image(who, x)
    check_labels(who, y, x.shape[0], self.num_classes)
    sn = self.norm == 'spectral'
    x = x.astype(self.dtype)
    if self.conditioning == 'concat':
      onehot = jax.nn.one_hot(y, self.num_classes, dtype=self.dtype)[:, None, None, :]
      x = jnp.concatenate([x, jnp.broadcast_to(onehot, (*x.shape[:3], self.num_classes))], -1)
    phi = DigitTrunk(self.width, self.hidden, self.norm, self.negative_slope, self.kernel_init,
                     self.dtype, name='trunk')(x, train)
    projection = self.conditioning == 'projection'
    head = ProjectionHead(num_classes=self.num_classes if projection else 0, spectral_norm=sn,
                          kernel_init=self.kernel_init, dtype=self.dtype, name='head')
    return head(phi, y if projection else None, train)


class ACGANDiscriminator(nn.Module):
  """ACGAN discriminator: :class:`DigitTrunk`, then an adversarial logit and a class head,
  ``Dense 1`` and ``Dense num_classes`` on ``phi(x)``. It takes no labels (it predicts
  them); the auxiliary loss is the cross-entropy of ``class_logits`` with the labels of
  real images and the labels given to G.

  Attributes:
    num_classes: number of classes K (> 0).
    norm: ``'batch'`` (default; Odena et al. use BatchNorm in D), ``'layer'``,
      ``'layer_chw'``, ``'none'`` or ``'spectral'``.
    width: channels of the first conv.
    hidden: width of the trunk's Dense layer.
    negative_slope: slope of the leaky ReLUs.
    kernel_init: initializer of every kernel.
    dtype: computation dtype; outputs are float32.

  References: Odena et al. 2017, "Conditional Image Synthesis with Auxiliary Classifier
  GANs", ICML 2017.
  """
  num_classes: int = 10
  norm: str = 'batch'
  width: int = 64
  hidden: int = 1024
  negative_slope: float = 0.2
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Maps images ``x[B, 28, 28, C]`` to ``(logits [B], {'class_logits': [B, K]})``."""
    who = 'ACGANDiscriminator'
    if self.num_classes < 1:  # a class head of 0 logits: a cross-entropy of nothing (0)
      raise ValueError(f'{who} needs num_classes > 0; got {self.num_classes}.')
    _check_image(who, x)
    if y is not None:
      raise ValueError(f'{who} takes no labels y: it predicts them (class_logits); pass '
                       'y=None.')
    sn = self.norm == 'spectral'
    phi = DigitTrunk(self.width, self.hidden, self.norm, self.negative_slope, self.kernel_init,
                     self.dtype, name='trunk')(x, train)

    def dense(features, name):
      layer = mixed.Dense(features, kernel_init=self.kernel_init, dtype=self.dtype, name=name)
      return spectral(layer, phi, enabled=sn, train=train).astype(jnp.float32)

    return dense(1, 'adv')[:, 0], {'class_logits': dense(self.num_classes, 'cls')}


def _check_code_sizes(who: str, num_categories: int, num_continuous: int) -> None:
  if num_categories < 1 or num_continuous < 0:
    raise ValueError(f'{who} needs num_categories >= 1 and num_continuous >= 0; got '
                     f'num_categories={num_categories}, num_continuous={num_continuous}.')


def _check_codes(who: str, codes: Any, batch: int, num_categories: int,
                 num_continuous: int) -> None:
  _check_code_sizes(who, num_categories, num_continuous)
  if not isinstance(codes, dict) or set(codes) != {'categorical', 'continuous'}:
    raise ValueError(f"{who} needs codes y = {{'categorical': int32 [B], 'continuous': "
                     f"float32 [B, {num_continuous}]}}; got {type(codes).__name__} "
                     f'{sorted(codes) if isinstance(codes, dict) else ""}.')
  cat, cont = codes['categorical'], codes['continuous']
  if getattr(cat, 'shape', None) != (batch,) or not jnp.issubdtype(jnp.asarray(cat).dtype,
                                                                      jnp.integer):
    raise ValueError(f"{who}: codes['categorical'] must be integers of shape [{batch}]; got "
                     f'{getattr(cat, "dtype", type(cat))} of shape {getattr(cat, "shape", None)}.')
  if getattr(cont, 'shape', None) != (batch, num_continuous):
    raise ValueError(f"{who}: codes['continuous'] must have shape [{batch}, {num_continuous}]; "
                     f'got {getattr(cont, "shape", None)}.')
  check_range(who, cat, num_categories, "codes['categorical']")


class InfoGANGenerator(nn.Module):
  """InfoGAN MNIST generator (Chen et al. 2016, Table 1; openai/InfoGAN): ``[z,
  one_hot(c_cat), c_cont] -> Dense hidden -> BN, ReLU -> Dense 7x7x(2 width) -> BN, ReLU ->
  ConvT 4x4/2 width -> BN, ReLU -> ConvT 4x4/2 channels -> tanh`` (the paper's output is a
  sigmoid for [0, 1] images; here tanh for [-1, 1]). With ``width=64, hidden=1024`` this is
  the paper's network.

  Attributes:
    num_categories: size K of the categorical code.
    num_continuous: number n of continuous codes.
    channels: channels of the output image.
    width: channels of the last hidden feature map (the paper: 64).
    hidden: width of the first Dense layer (the paper: 1024).
    kernel_init: initializer of the kernels (the official code: N(0, 0.02)).
    dtype: computation dtype.

  References: Chen et al. 2016, "InfoGAN: Interpretable Representation Learning by
  Information Maximizing Generative Adversarial Nets", NeurIPS 2016.
  """
  num_categories: int = 10
  num_continuous: int = 2
  channels: int = 1
  width: int = 64
  hidden: int = 1024
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: chex.Array, y: dict[str, chex.Array] | None = None,
               train: bool = True) -> chex.Array:
    """Maps noise ``z[B, z_dim]`` and codes ``y = {'categorical': int [B], 'continuous':
    float [B, n]}`` to images ``[B, 28, 28, C]``."""
    if z.ndim != 2:
      raise ValueError(f'InfoGANGenerator needs noise of shape [B, z_dim]; got {z.shape}.')
    _check_codes('InfoGANGenerator', y, z.shape[0], self.num_categories, self.num_continuous)
    h = jnp.concatenate([z.astype(self.dtype),
                         jax.nn.one_hot(y['categorical'], self.num_categories, dtype=self.dtype),
                         y['continuous'].astype(self.dtype)], axis=-1)

    def norm(t):
      return nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(t)

    h = nn.relu(norm(mixed.Dense(self.hidden, kernel_init=self.kernel_init, dtype=self.dtype)(h)))
    h = mixed.Dense(7 * 7 * 2 * self.width, kernel_init=self.kernel_init, dtype=self.dtype)(h)
    return _upsampling_stack(h, self.width, self.channels, norm, self.kernel_init, self.dtype)


class InfoGANDiscriminator(nn.Module):
  """InfoGAN MNIST discriminator and Q network sharing :class:`DigitTrunk`: ``logit =
  Dense 1 (phi)``; Q: ``Dense q_hidden -> norm -> lReLU`` then ``categorical_logits``
  ``[B, K]`` and ``continuous_mean`` ``[B, n]`` (the mean of a factored Gaussian of fixed
  unit variance, which the paper found sufficient).

  Attributes:
    num_categories: size K of the categorical code.
    num_continuous: number n of continuous codes.
    norm: ``'batch'`` (the paper), ``'layer'``, ``'layer_chw'``, ``'none'`` or
      ``'spectral'``; used in the trunk and in Q's hidden layer.
    width: channels of the first conv (the paper: 64).
    hidden: width of the trunk's Dense layer (the paper: 1024).
    q_hidden: width of Q's hidden layer (the paper: 128).
    negative_slope: slope of the leaky ReLUs (the paper: 0.1; the official code: 0.01).
    kernel_init: initializer of every kernel (the official code: N(0, 0.02)).
    dtype: computation dtype; outputs are float32.

  References: Chen et al. 2016, "InfoGAN", NeurIPS 2016, Appendix C.1.
  """
  num_categories: int = 10
  num_continuous: int = 2
  norm: str = 'batch'
  width: int = 64
  hidden: int = 1024
  q_hidden: int = 128
  negative_slope: float = 0.1
  kernel_init: Initializer = nn.initializers.normal(0.02)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: Any = None,
               train: bool = True) -> tuple[chex.Array, dict[str, chex.Array]]:
    """Maps images ``x[B, 28, 28, C]`` to ``(logits [B], {'categorical_logits': [B, K],
    'continuous_mean': [B, n]})``."""
    who = 'InfoGANDiscriminator'
    _check_code_sizes(who, self.num_categories, self.num_continuous)
    _check_image(who, x)
    if y is not None:
      raise ValueError(f'{who} takes no codes y: its Q head predicts them; pass y=None.')
    sn = self.norm == 'spectral'
    phi = DigitTrunk(self.width, self.hidden, self.norm, self.negative_slope, self.kernel_init,
                     self.dtype, name='trunk')(x, train)

    def dense(features, name, h):
      layer = mixed.Dense(features, kernel_init=self.kernel_init, dtype=self.dtype, name=name)
      return spectral(layer, h, enabled=sn, train=train)

    q = dense(self.q_hidden, 'q_hidden', phi)
    if self.norm == 'batch':
      q = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(q)
    elif self.norm in LAYER_NORMS:
      q = layer_norm(q, self.norm, self.dtype)
    q = nn.leaky_relu(q, self.negative_slope)
    heads = {'categorical_logits': dense(self.num_categories, 'q_categorical', q),
             'continuous_mean': dense(self.num_continuous, 'q_continuous', q)}
    logits = dense(1, 'adv', phi)[:, 0]
    return logits.astype(jnp.float32), jax.tree.map(lambda t: t.astype(jnp.float32), heads)
