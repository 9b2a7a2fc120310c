"""Building blocks shared by the class-conditional and ResNet GAN models.

* :class:`SpectralNorm`: ``flax.linen.SpectralNorm`` that stores its layer's initial weights
  as drawn (not divided by a first estimate of sigma).
* :func:`spectral`: apply a layer, wrapped in :class:`SpectralNorm` when asked.
* :func:`check_labels`: the one check of ``y`` for every conditional/unconditional model
  (:func:`check_range`, its range check, also serves InfoGAN's categorical code).
* :class:`ConditionalBatchNorm`: BatchNorm with class-dependent scale and shift.
* :class:`SelfAttention`: the SAGAN attention layer.
* :class:`ProjectionHead`: ``psi(phi) + <embed(y), phi>``, the projection discriminator.
* :func:`xavier_uniform`, :func:`torch_default_init`, :func:`normal_init`: the
  initializers of the reference code (Mimicry, PyTorch), as Flax initializers.
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax.linen import transforms

from jaxgan.models import layers, mixed

Initializer = Any  # a jax.nn.initializers function


def xavier_uniform(gain: float = 1.0) -> Initializer:
  """PyTorch's ``nn.init.xavier_uniform_(w, gain)``: U(-a, a), ``a = gain * sqrt(6 / (fan_in
  + fan_out))``, with fans counting the receptive field (Glorot & Bengio, 2010)."""
  return nn.initializers.variance_scaling(gain ** 2, 'fan_avg', 'uniform')


def torch_default_init() -> Initializer:
  """PyTorch's default ``Conv2d``/``Linear`` weight init, ``kaiming_uniform_(a=sqrt(5))``:
  U(-1/sqrt(fan_in), 1/sqrt(fan_in)), i.e. variance ``1 / (3 fan_in)``."""
  return nn.initializers.variance_scaling(1.0 / 3.0, 'fan_in', 'uniform')


def normal_init(mean: float, stddev: float) -> Initializer:
  """Initializer drawing from N(mean, stddev^2)."""
  def init(key, shape, dtype=jnp.float32):
    return mean + stddev * jax.random.normal(key, shape, dtype)
  return init


class SpectralNorm(nn.SpectralNorm):
  """``flax.linen.SpectralNorm`` whose ``init`` stores the wrapped layer's weights as its
  initializers drew them.

  Flax's wrapper writes the normalized weights ``W / sigma_hat`` back into ``params`` when
  initializing (``sigma_hat`` from one power iteration from a random ``u``), so every
  layer starts with its largest singular value near 1.3 whatever its initializer. The
  forward pass does not see the scale, but training does: the gradient in ``W`` scales as
  ``1 / sigma(W)`` and Adam's relative step as ``lr / |W|``. The reference code (chainer's
  ``sngan_projection``, PyTorch's ``spectral_norm``, Mimicry, StudioGAN) keeps the raw
  draw (``weight_orig``), as this class does. Same name, parameters, ``batch_stats``
  (``u``, ``sigma``) and outputs as Flax's, so checkpoints are interchangeable.
  """

  @nn.compact
  def __call__(self, *args, update_stats: bool, **kwargs):
    if self.is_initializing():
      self.layer_instance(*args, **kwargs)  # creates the raw parameters
    return transforms.map_variables(
        lambda layer: layer(*args, **kwargs),
        trans_in_fn=lambda vs: jax.tree_util.tree_map_with_path(
            functools.partial(self._spectral_normalize, update_stats=update_stats), vs),
        init=False, mutable=False)(self.layer_instance)


LAYER_NORMS = ('layer', 'layer_chw')


def layer_norm(h: chex.Array, kind: str, dtype: Any, name: str | None = None) -> chex.Array:
  """LayerNorm (Ba et al. 2016) of ``h[B, ..., C]``, with a scale and bias per channel.

  ``kind='layer'``: each position over its channels (Flax's default axes);
  ``kind='layer_chw'``: each example over all its features (H, W and C), as the WGAN-GP
  critics normalize (Gulrajani et al. 2017: tflib's ``Layernorm`` over ``[1, 2, 3]``). The
  two have the same parameters and no cross-example statistics, so gradient penalties
  apply as they are; on ``[B, C]`` they are the same.
  """
  if kind not in LAYER_NORMS:
    raise ValueError(f'kind must be one of {LAYER_NORMS}; got {kind!r}.')
  axes = -1 if kind == 'layer' else tuple(range(1, h.ndim))
  return nn.LayerNorm(reduction_axes=axes, feature_axes=-1, dtype=dtype, name=name)(h)


def spectral(layer: nn.Module, *args, enabled: bool, train: bool, **kwargs) -> chex.Array:
  """``layer(*args, **kwargs)``, spectrally normalized when ``enabled``.

  With ``enabled``, every weight of ``layer`` with more than one dimension is used as
  ``W / sigma(W)``, ``sigma`` the largest singular value of ``W`` reshaped to ``[-1, out]``,
  estimated by one power iteration per call from the stored vector ``u`` (collection
  ``'batch_stats'``, updated only when ``train``).

  References: Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
  Networks", ICLR 2018.
  """
  if not enabled:
    return layer(*args, **kwargs)
  return SpectralNorm(layer)(*args, update_stats=train, **kwargs)


def check_count(who: str, name: str, value: Any) -> int:
  """``value``, a number of layers or blocks, checked: an integer >= 0 (``range`` of a
  negative count is empty, a model of none, silently)."""
  if not isinstance(value, int) or isinstance(value, bool) or value < 0:
    raise ValueError(f'{who}: {name} must be an integer >= 0; got {value!r}.')
  return value


def check_labels(who: str, y: Any, batch: int, num_classes: int) -> None:
  """Raises ``ValueError`` unless ``y`` fits a model with ``num_classes`` classes.

  ``num_classes == 0`` (unconditional) needs ``y is None``; ``num_classes > 0`` needs
  integer labels of shape ``[batch]`` in ``[0, num_classes)``. The range is checked where
  ``y`` has values (outside ``jax.jit``); a traced label out of range is not caught: it gives
  NaN through a label embedding (and wraps, if negative) and an all-zero one-hot. The train
  step draws its labels in range and :mod:`jaxgan.inference` checks a user's.
  """
  if num_classes == 0:
    if y is not None:
      raise ValueError(f'{who} is unconditional (num_classes=0) but was given labels y; '
                       'pass y=None, or build it with num_classes > 0.')
    return
  if y is None:
    raise ValueError(f'{who} is class-conditional (num_classes={num_classes}) and needs '
                     f'integer labels y of shape [{batch}]; got y=None.')
  if getattr(y, 'shape', None) != (batch,) or not jnp.issubdtype(jnp.asarray(y).dtype,
                                                                    jnp.integer):
    raise ValueError(f'{who} needs integer labels y of shape [{batch}]; got '
                     f'{getattr(y, "dtype", type(y))} of shape {getattr(y, "shape", None)}.')
  check_range(who, y, num_classes, 'labels y')


def check_range(who: str, y: Any, num_classes: int, what: str) -> None:
  """Raises ``ValueError`` unless integer ``y`` lies in ``[0, num_classes)``; a traced ``y``
  (under ``jax.jit``) has no values to check and passes."""
  if not isinstance(y, jax.core.Tracer):
    values = np.asarray(y)
    if values.size and (values.min() < 0 or values.max() >= num_classes):
      raise ValueError(f'{who} has {num_classes} classes: {what} must lie in '
                       f'[0, {num_classes}); got values from {values.min()} to {values.max()}.')


class ConditionalBatchNorm(nn.Module):
  """BatchNorm whose scale and shift depend on the class (categorical conditional BN).

  ``out = gamma[y] * (x - mean) / sqrt(var + eps) + beta[y]``: BatchNorm without its own
  affine (batch statistics when ``train``, running averages otherwise), then per-class
  ``gamma`` and ``beta`` read from two ``[num_classes, C]`` tables. ``gamma`` itself is
  the table entry (not ``1 + embed(y)``), initialised at N(1, 0.02) as Mimicry's
  ``ConditionalBatchNorm2d``; ``beta`` at 0. With ``num_classes == 0`` this is a plain
  ``nn.BatchNorm`` (its own scale and bias) and ``y`` must be ``None``.

  Attributes:
    num_classes: number of classes; 0 for plain BatchNorm.
    momentum: running-average momentum (``ra = momentum * ra + (1 - momentum) * batch``).
    epsilon: added to the variance.
    scale_init: initializer of the ``[num_classes, C]`` scale table.
    bias_init: initializer of the ``[num_classes, C]`` shift table.
    dtype: computation dtype.

  References: de Vries et al. 2017, "Modulating early visual processing by language";
  Dumoulin et al. 2017, "A Learned Representation for Artistic Style", ICLR 2017;
  Miyato & Koyama 2018 (categorical conditional BN in the SNGAN generator).
  """
  num_classes: int = 0
  momentum: float = 0.9
  epsilon: float = 1e-5
  scale_init: Initializer = normal_init(1.0, 0.02)
  bias_init: Initializer = nn.initializers.zeros
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Normalizes ``x[B, ..., C]`` over all axes but the last; ``y``: int labels ``[B]``."""
    check_labels('ConditionalBatchNorm', y, x.shape[0], self.num_classes)
    affine = self.num_classes == 0
    h = nn.BatchNorm(use_running_average=not train, momentum=self.momentum,
                     epsilon=self.epsilon, use_scale=affine, use_bias=affine,
                     dtype=self.dtype, name='bn')(x)
    if affine:
      return h
    c = x.shape[-1]
    scale = self.param('scale', self.scale_init, (self.num_classes, c))
    bias = self.param('bias', self.bias_init, (self.num_classes, c))
    bshape = (x.shape[0],) + (1,) * (x.ndim - 2) + (c,)
    gamma = jnp.take(scale, y, axis=0).reshape(bshape)
    beta = jnp.take(bias, y, axis=0).reshape(bshape)
    return mixed.affine(h, gamma, beta)  # gradients summed in float32


class SelfAttention(nn.Module):
  """SAGAN self-attention over the positions of a feature map, ``out = x + gamma * o``.

  With 1x1 convolutions (no biases) ``f`` and ``g`` (C/8 channels) and ``h`` (C/2):
  ``s[i, j] = f(x)_i . g(x)_j``, ``beta = softmax_j(s)``, ``o_i = v(sum_j beta[i, j]
  h(x)_j)`` with ``v`` a 1x1 convolution from C/2 back to C, and ``gamma`` a learned scalar
  initialised at 0 (so the layer starts as the identity). This is the variant of the
  authors' TensorFlow code (``sn_non_local_block_sim``), BigGAN-PyTorch's ``Attention``
  and Mimicry's ``SelfAttention``: keys ``g`` and values ``h`` are 2x2 max-pooled (stride
  2), so position ``i`` attends over ``H W / 4`` pooled positions; H and W must be even.

  Attributes:
    spectral_norm: spectral normalization on the four convolutions (True in SAGAN).
    kernel_init: initializer of the convolutions; default PyTorch's default conv init,
      which Mimicry's ``SelfAttention`` keeps (BigGAN-PyTorch uses orthogonal init).
    dtype: computation dtype; the softmax is taken in float32.

  References: Zhang et al. 2019, "Self-Attention Generative Adversarial Networks",
  ICML 2019.
  """
  spectral_norm: bool = True
  kernel_init: Initializer = torch_default_init()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:
    """Maps feature maps ``x[B, H, W, C]`` (C divisible by 8) to the same shape."""
    b, hgt, wid, c = x.shape
    if c % 8 or hgt % 2 or wid % 2:
      raise ValueError('SelfAttention needs channels divisible by 8 and even height and '
                       f'width; got input of shape {x.shape}.')

    def conv(features, name, inp):
      layer = layers.Conv(features, (1, 1), use_bias=False, kernel_init=self.kernel_init,
                      dtype=self.dtype, name=name)
      return spectral(layer, inp, enabled=self.spectral_norm, train=train)

    def pool(t):
      return nn.max_pool(t, (2, 2), strides=(2, 2)).reshape(b, -1, t.shape[-1])

    query = conv(c // 8, 'f', x).reshape(b, hgt * wid, c // 8)
    key = pool(conv(c // 8, 'g', x))
    value = pool(conv(c // 2, 'h', x))
    scores = jnp.einsum('bic,bjc->bij', query, key)
    beta = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(value.dtype)
    o = jnp.einsum('bij,bjc->bic', beta, value).reshape(b, hgt, wid, c // 2)
    o = conv(c, 'v', o)
    gamma = self.param('gamma', nn.initializers.zeros, ())
    return x + mixed.scale(o, gamma)  # its gradient summed in float32


class ProjectionHead(nn.Module):
  """Discriminator output on features ``phi``: ``psi(phi) + <embed(y), phi>``.

  ``psi`` is a Dense layer to one logit; with ``num_classes > 0`` the inner product of
  ``phi`` with the label's row of a ``[num_classes, D]`` embedding is added (the
  projection discriminator); with ``num_classes == 0`` only ``psi(phi)`` and ``y`` must
  be ``None``.

  Attributes:
    num_classes: number of classes; 0 for unconditional.
    spectral_norm: spectral normalization on ``psi`` and the embedding (as in the
      authors' ``SNLinear``/``SNEmbedID`` and Mimicry's ``SNLinear``/``SNEmbedding``).
    use_bias: a bias in ``psi`` (Mimicry: yes; the authors' chainer code: no).
    kernel_init: initializer of ``psi``'s kernel and of the embedding (Mimicry and the
      authors' code: Glorot/xavier uniform, gain 1).
    dtype: computation dtype; the logits are returned as float32.

  References: Miyato & Koyama 2018, "cGANs with Projection Discriminator", ICLR 2018.
  """
  num_classes: int = 0
  spectral_norm: bool = True
  use_bias: bool = True
  kernel_init: Initializer = xavier_uniform(1.0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, phi: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps features ``phi[B, D]`` (and int labels ``y[B]``) to logits ``[B]`` float32."""
    if phi.ndim != 2:
      raise ValueError(f'ProjectionHead needs features of shape [B, D]; got {phi.shape}.')
    check_labels('ProjectionHead', y, phi.shape[0], self.num_classes)
    psi = mixed.Dense(1, use_bias=self.use_bias, kernel_init=self.kernel_init,
                      dtype=self.dtype, name='psi')
    out = spectral(psi, phi, enabled=self.spectral_norm, train=train)[:, 0]
    if self.num_classes:
      # The inner product in float32: the rows' gradients are summed over their examples.
      embed = nn.Embed(self.num_classes, phi.shape[-1], embedding_init=self.kernel_init,
                       dtype=jnp.float32, name='embed')
      w_y = spectral(embed, y, enabled=self.spectral_norm, train=train)
      out = out + jnp.sum(w_y * phi.astype(jnp.float32), axis=-1)
    return out.astype(jnp.float32)
