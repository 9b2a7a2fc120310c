"""The convolution layers of jaxgan's models: drop-in Flax modules, fast on XLA:CPU.

* :class:`Conv` / :class:`ConvTranspose`: drop-in replacements for ``flax.linen.Conv`` and
  ``flax.linen.ConvTranspose`` (same attributes, parameter names and shapes, outputs)
  whose derivatives, first and second, avoid XLA:CPU's slow convolutions. With
  ``impl='fast'`` (the CPU's choice) a transposed convolution is computed as ``s_h * s_w``
  interleaved stride-1 convolutions (:func:`jaxgan.models.polyphase.phase_conv_transpose`);
  a strided convolution keeps XLA's strided op for its value and kernel derivative and
  sends its input derivative through a sum of stride-1 convolutions
  (:func:`~jaxgan.models.polyphase.strided_conv`); every stride-1 convolution is padded so
  that its input and output have the same size. A convolution with few input channels (an
  image: the critics' first layer) is im2col and a matrix product
  (:func:`jaxgan.models.im2col.patch_conv`), one with few output channels (the generators'
  last, SRResNet's 9x9 one included) a matrix product and col2im
  (:func:`~jaxgan.models.im2col.shift_conv`); which path a convolution takes is
  :func:`~jaxgan.models.im2col.conv_path`, and :func:`conv` is the same convolution as a
  function of a kernel. ``impl='flax'`` is the plain Flax op.
* :class:`UpsampleConv`: ``Conv`` after nearest 2x upsampling (SNGAN's and ESRGAN's
  upsampling), as one transposed convolution of the input (:func:`upsample_conv`).
* :class:`ConvAvgPool`: ``Conv`` then 2x2 average pooling (SNGAN's downsampling), as one
  stride-2 convolution (:func:`conv_avg_pool`).
  ``impl='auto'`` (the default) takes the backend's choice, :data:`AUTO_IMPL` (measured
  per backend), or the ``JAXGAN_CONV_IMPL`` environment variable when set (``fast`` or
  ``flax``, for benchmarks).
* :func:`valid_region`: a context in which every convolution here computes on an image
  zero-padded at the bottom and right as on the image itself (SR evaluation compiles once
  per bucket of image sizes, not once per size).

The functions these layers are built on live in :mod:`jaxgan.models.polyphase` (why the
phase forms) and :mod:`jaxgan.models.im2col` (why the matrix products); their public
names are also importable from here, as before the split.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Callable, Sequence
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen import dtypes
from jax import lax

from jaxgan.models import mixed
from jaxgan.models.im2col import (
  FEW_CHANNELS,
  PATCH_LIMIT,
  SHIFT_LIMIT,
  SHIFT_MAX_VALUES,
  conv_path,
  patch_conv,
  shift_conv,
)
from jaxgan.models.polyphase import (
  DIMENSION_NUMBERS,
  Pairs,
  conv_stride1,
  phase_conv,
  phase_conv_transpose,
  pixel_shuffle,
  pixel_unshuffle,
  strided_conv,
)

__all__ = [
  'AUTO_IMPL', 'FEW_CHANNELS', 'IMPLS', 'PATCH_LIMIT', 'SHIFT_LIMIT', 'SHIFT_MAX_VALUES',
  'Conv', 'ConvAvgPool', 'ConvTranspose', 'UpsampleConv', 'conv', 'conv_avg_pool',
  'conv_path', 'conv_transpose', 'default_impl', 'patch_conv', 'phase_conv',
  'phase_conv_transpose', 'pixel_shuffle', 'pixel_unshuffle', 'shift_conv', 'strided_conv',
  'upsample_conv', 'upsample_nearest', 'valid_region',
]

IMPLS = ('auto', 'fast', 'flax')
# The implementation ``impl='auto'`` takes on each backend (``jax.default_backend()``),
# chosen by ``benchmarks/conv_step.py --impl fast,flax``: on XLA:CPU the sub-pixel layers
# (DCGAN steps up to several times faster); on an H200 the plain op (DCGAN train steps
# 1.07-1.49x faster than with the sub-pixel layers). Backends not measured (TPU) get the
# plain op: the slow path the 'fast' layers avoid is XLA:CPU's.
AUTO_IMPL = {'cpu': 'fast', 'gpu': 'flax'}
Padding = str | int | Sequence[int | tuple[int, int]]




def _pairs(name: str, value: int | Sequence[int] | None, kernel_size: tuple[int, ...]
           ) -> tuple[int, int]:
  if value is None:
    value = 1
  value = (value,) * len(kernel_size) if isinstance(value, int) else tuple(value)
  if len(value) != 2:
    raise ValueError(f'{name} must be an int or a pair; got {value}.')
  return value


def _kernel_size(kernel_size: int | Sequence[int]) -> tuple[int, int]:
  size = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
  if len(size) != 2:
    raise ValueError(f'jaxgan conv layers are 2-D: kernel_size must be an int or a pair; got '
                     f'{kernel_size}. Use flax.linen.Conv for other ranks.')
  return size


def _explicit_padding(padding: Padding) -> str | Pairs:
  """'SAME' / 'VALID' as they are, an int or ints or pairs as ``((lo, hi), (lo, hi))``."""
  if isinstance(padding, str):
    if padding not in ('SAME', 'VALID'):
      raise ValueError(f"padding must be 'SAME', 'VALID', an int or a sequence of two ints or "
                       f'(low, high) pairs; got {padding!r}.')
    return padding
  if isinstance(padding, int):
    return ((padding, padding),) * 2
  pairs = tuple((p, p) if isinstance(p, int) else tuple(p) for p in padding)
  if len(pairs) != 2 or any(len(p) != 2 for p in pairs):
    raise ValueError(f'padding must be an int, or two ints or (low, high) pairs; got '
                     f'{padding!r}.')
  return pairs


def _transpose_padding(k: int, s: int, padding: str) -> tuple[int, int]:
  """``lax.conv_transpose``'s padding of the input-dilated convolution for 'SAME'/'VALID'.

  'SAME': total ``k + s - 2``, low ``k - 1`` if ``s > k - 1`` else ``ceil(total / 2)``;
  'VALID': total ``k + s - 2 + max(k - s, 0)``, low ``k - 1``.
  """
  if padding == 'SAME':
    total = k + s - 2
    low = k - 1 if s > k - 1 else -(-total // 2)
  else:
    total = k + s - 2 + max(k - s, 0)
    low = k - 1
  return low, total - low


def default_impl() -> str:
  """What ``impl='auto'`` means here: ``$JAXGAN_CONV_IMPL`` when set, else
  :data:`AUTO_IMPL` for the default backend (``'flax'`` where it has no entry)."""
  env = os.environ.get('JAXGAN_CONV_IMPL', '')
  if env:
    if env not in IMPLS[1:]:
      raise ValueError(f'JAXGAN_CONV_IMPL must be one of {IMPLS[1:]}; got {env!r}.')
    return env
  return AUTO_IMPL.get(jax.default_backend(), 'flax')


def _resolve_impl(impl: str) -> str:
  """``'fast'`` or ``'flax'`` for ``impl`` (``'auto'``: :func:`default_impl`); a
  ValueError naming the allowed values for anything else."""
  if impl not in IMPLS:
    raise ValueError(f'impl must be one of {IMPLS}; got {impl!r}.')
  return default_impl() if impl == 'auto' else impl


# (rows, cols, height, width) of :func:`valid_region`, or None outside it.
_VALID_REGION: contextvars.ContextVar[tuple | None] = contextvars.ContextVar(
    'jaxgan_valid_region', default=None)


@contextlib.contextmanager
def valid_region(rows: Any, cols: Any, height: int, width: int):
  """Computes on images zero-padded at the bottom and right as on the images themselves.

  Inside this context every convolution of this module (:func:`conv`,
  :func:`upsample_conv`, :func:`conv_avg_pool`, :func:`conv_transpose`, and the layers built
  on them) first zeroes its input outside the top-left ``rows x cols`` of a ``height x
  width`` image, scaled to the input's own size (a map at ``k`` times the image's size keeps
  ``k * rows`` rows). So each convolution's own zero padding meets zeros where it would on
  the unpadded image, and a network of stride-1 and upsampling convolutions and per-pixel
  maps (activations, BatchNorm in inference mode, residual sums, pixel shuffles: the SR
  generators) computes on the valid region exactly what it computes on the unpadded image.
  One compiled program then serves every image size up to the padded one.

  The region is read when a function is traced, and it is not part of ``jax.jit``'s cache
  key: enter the context inside the jitted function (``rows`` and ``cols`` may then be
  traced arguments), as ``jaxgan.evaluate.EvalRun`` does. A function compiled outside the
  context does not see it, and one traced inside keeps its mask.

  Args:
    rows: valid rows of the padded image (an int or a traced int scalar).
    cols: valid columns.
    height: rows of the padded image (static).
    width: columns of the padded image (static).
  """
  token = _VALID_REGION.set((rows, cols, height, width))
  try:
    yield
  finally:
    _VALID_REGION.reset(token)


def _mask_padding(x: chex.Array) -> chex.Array:
  """``x`` zeroed outside :func:`valid_region`'s region at its size (``x`` itself outside
  the context)."""
  region = _VALID_REGION.get()
  if region is None:
    return x
  rows, cols, height, width = region
  if x.shape[1] % height or x.shape[2] % width:
    raise ValueError(f'valid_region: a convolution input of {x.shape[1]}x{x.shape[2]} is '
                     f'not a whole multiple of the {height}x{width} padded image, so its '
                     'valid region is not whole pixels (strided layers are not supported).')
  keep_h = jnp.arange(x.shape[1]) < rows * (x.shape[1] // height)
  keep_w = jnp.arange(x.shape[2]) < cols * (x.shape[2] // width)
  return jnp.where(keep_h[:, None, None] & keep_w[None, :, None], x, jnp.zeros((), x.dtype))


def conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int] = (1, 1),
         padding: str | Pairs = 'SAME', precision: Any = None, impl: str = 'auto'
         ) -> chex.Array:
  """The convolution :class:`Conv` computes, as a function of its kernel (no bias).

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``, of ``x``'s dtype.
    strides: ``(s_h, s_w)``.
    padding: 'SAME', 'VALID' or explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: ``lax`` precision of the convolutions and matrix products.
    impl: ``'fast'`` (the path :func:`conv_path` chooses), ``'flax'``
      (``lax.conv_general_dilated`` as is, which XLA:CPU gets wrong for some negative
      paddings, :func:`~jaxgan.models.polyphase.crop_negative_padding`) or ``'auto'``
      (:func:`default_impl`).

  Returns:
    ``[N, H_out, W_out, C_out]``, as ``lax.conv_general_dilated``.
  """
  x = _mask_padding(x)
  impl = _resolve_impl(impl)
  strides = tuple(strides)  # a list would miss the stride-1 paths and the jit cache
  if impl == 'flax':
    return lax.conv_general_dilated(x, kernel, strides, padding, precision=precision,
                                    dimension_numbers=DIMENSION_NUMBERS)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
  padding = tuple(map(tuple, padding))
  path = conv_path(x.shape[-1], kernel.shape[-1], kernel.shape[:2], strides,
                   x.shape[0] * x.shape[1] * x.shape[2])
  fn = {'patch': patch_conv, 'shift': shift_conv, 'strided': strided_conv}.get(path)
  return (fn(x, kernel, strides, padding, precision) if fn else
          conv_stride1(x, kernel, padding, precision))


def upsample_nearest(x: chex.Array, factor: int = 2) -> chex.Array:
  """Nearest-neighbour upsampling ``[N, H, W, C] -> [N, H f, W f, C]`` (PyTorch's
  ``F.interpolate(x, scale_factor=f, mode='nearest')``, chainer's ``unpooling_2d``)."""
  return jnp.repeat(jnp.repeat(x, factor, axis=1), factor, axis=2)


def _box_kernel(kernel: chex.Array) -> chex.Array:
  """``[kh, kw, C_in, C_out] -> [kh + 1, kw + 1, ...]``: the full correlation of each
  spatial axis with ``[1, 1]``, ``K[t] = kernel[t - 1] + kernel[t]`` (zero outside)."""
  for axis in (0, 1):
    pad = [(0, 0)] * 4
    pad[axis] = (1, 1)
    k = jnp.pad(kernel, pad)
    kernel = lax.slice_in_dim(k, 1, None, axis=axis) + lax.slice_in_dim(k, 0, -1, axis=axis)
  return kernel


def upsample_conv(x: chex.Array, kernel: chex.Array, padding: str | Pairs = 'SAME',
                  precision: Any = None, impl: str = 'auto') -> chex.Array:
  """``conv(upsample_nearest(x, 2), kernel, padding)``, stride 1, without the upsampled
  input: SNGAN's and ESRGAN's upsampling convolution.

  Nearest 2x upsampling is ``lax.conv_transpose(x, box, 2, ((1, 1), (1, 1)))`` per channel
  with the ``2 x 2`` box of ones, so the two are one transposed convolution with the
  kernel :func:`_box_kernel` (``kernel`` correlated with the box: ``(kh + 1) x (kw + 1)``)
  and padding ``(low + 1, high + 1)``. With ``impl='fast'`` it is
  :func:`phase_conv_transpose`: four stride-1 convolutions of ``x`` with ``2 x 2``
  kernels for a ``3 x 3`` one, 16 products per input pixel instead of 36 (1.6-2.5x
  faster than Flax's upsampling and ``nn.Conv`` on XLA:CPU in every column of
  ``benchmarks/conv_layers.py``). ``impl='flax'``: the upsampling and
  ``lax.conv_general_dilated``.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    padding: 'SAME', 'VALID' or explicit pairs, of the convolution of the upsampled input.
    precision: ``lax`` precision of the convolutions.
    impl: ``'fast'``, ``'flax'`` or ``'auto'`` (:func:`default_impl`).

  Returns:
    ``[N, H_out, W_out, C_out]``, as the convolution of the ``[N, 2H, 2W, C_in]`` input.
  """
  impl = _resolve_impl(impl)
  if impl == 'flax':  # conv masks the upsampled input
    return conv(upsample_nearest(x), kernel, (1, 1), padding, precision, impl)
  x = _mask_padding(x)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads((2 * x.shape[1], 2 * x.shape[2]), kernel.shape[:2], (1, 1),
                                  padding)
  padding = tuple((lo + 1, hi + 1) for lo, hi in padding)
  return phase_conv_transpose(x, _box_kernel(kernel), (2, 2), padding, precision)


def conv_avg_pool(x: chex.Array, kernel: chex.Array, padding: str | Pairs = 'SAME',
                  precision: Any = None, impl: str = 'auto') -> chex.Array:
  """``avg_pool(conv(x, kernel, padding), 2x2, stride 2)`` (stride-1 convolution, pooling
  'VALID'), without the full-resolution map: SNGAN's downsampling convolution.

  The pooled map is ``y[i] = 1/4 sum_{a, b in {0, 1}} z[2 i + a, 2 j + b]`` with ``z`` the
  convolution, i.e. a stride-2 convolution of the same padded input with
  :func:`_box_kernel` ``/ 4`` (``(kh + 1) x (kw + 1)``), whose output size is
  ``floor(z / 2)`` per axis with the padding unchanged. 16 products per output pixel
  instead of 36 for a 3x3 kernel; ``impl='fast'`` takes :func:`conv`'s strided path.
  ``impl='flax'``: ``lax.conv_general_dilated`` and the pooling.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    padding: 'SAME', 'VALID' or explicit pairs, of the stride-1 convolution.
    precision: ``lax`` precision of the convolutions.
    impl: ``'fast'``, ``'flax'`` or ``'auto'`` (:func:`default_impl`).

  Returns:
    ``[N, H_z // 2, W_z // 2, C_out]`` for the convolution's ``[N, H_z, W_z, C_out]``.
  """
  impl = _resolve_impl(impl)  # both paths end in conv, which masks x
  if impl == 'flax':
    return nn.avg_pool(conv(x, kernel, (1, 1), padding, precision, impl), (2, 2), (2, 2))
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], (1, 1), padding)
  return conv(x, _box_kernel(kernel) / 4, (2, 2), padding, precision, impl)


def conv_transpose(x: chex.Array, kernel: chex.Array, strides: tuple[int, int],
                   padding: str | Pairs, precision: Any = None, impl: str = 'auto'
                   ) -> chex.Array:
  """The transposed convolution :class:`ConvTranspose` computes, as a function of its
  kernel (no bias): ``lax.conv_transpose`` (``impl='flax'``) or
  :func:`phase_conv_transpose` (``'fast'``), ``[N, H, W, C_in] -> [N, H_out, W_out,
  C_out]``."""
  x = _mask_padding(x)
  impl = _resolve_impl(impl)
  strides = tuple(strides)
  if impl == 'flax':
    return lax.conv_transpose(x, kernel, strides, padding, precision=precision,
                              dimension_numbers=DIMENSION_NUMBERS)
  if isinstance(padding, str):
    padding = tuple(_transpose_padding(k, s, padding)
                    for k, s in zip(kernel.shape[:2], strides, strict=True))
  return phase_conv_transpose(x, kernel, strides, padding, precision)


def _stride_one(fn: Callable[..., chex.Array], who: str) -> Callable[..., chex.Array]:
  """``fn(x, kernel, padding, precision, impl)`` as a layer function of ``(x, kernel,
  strides, padding, precision, impl)`` that refuses strides other than 1."""

  def apply(x, kernel, strides, padding, precision, impl):
    if strides != (1, 1):
      raise ValueError(f'{who} has stride 1; got strides {strides}.')
    return fn(x, kernel, padding, precision, impl)
  return apply


class _ConvBase(nn.Module):
  """Attributes and plumbing shared by :class:`Conv` and :class:`ConvTranspose`."""
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = 1
  padding: Padding = 'SAME'
  use_bias: bool = True
  dtype: Any = None
  param_dtype: Any = jnp.float32
  precision: Any = None
  kernel_init: Any = nn.initializers.lecun_normal()
  bias_init: Any = nn.initializers.zeros_init()
  impl: str = 'auto'

  def _apply(self, x: chex.Array, layer_fn: Callable[..., chex.Array]) -> chex.Array:
    """Creates the parameters and returns ``layer_fn(x, kernel, strides, padding,
    precision, impl) + bias`` over ``x``'s leading batch axes."""
    impl = _resolve_impl(self.impl)
    kernel_size = _kernel_size(self.kernel_size)
    strides = _pairs('strides', self.strides, kernel_size)
    padding = _explicit_padding(self.padding)
    if x.ndim < 3:
      raise ValueError(f'{type(self).__name__} takes [..., H, W, C] inputs; got shape '
                       f'{x.shape}.')
    batch_shape = x.shape[:-3]
    x = x.reshape((-1,) + x.shape[-3:])
    kernel = self.param('kernel', self.kernel_init, kernel_size + (x.shape[-1], self.features),
                        self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,), self.param_dtype)
            if self.use_bias else None)
    x, kernel = dtypes.promote_dtype(x, kernel, dtype=self.dtype)
    y = layer_fn(x, kernel, strides, padding, self.precision, impl)
    if bias is not None:  # its gradient summed in the bias's float32 (mixed.add_bias)
      y = mixed.add_bias(y, bias.reshape((1, 1, 1, -1)))
    return y.reshape(batch_shape + y.shape[1:])


class Conv(_ConvBase):
  """Drop-in for ``flax.linen.Conv`` (2-D, NHWC) with a fast strided path on XLA:CPU.

  Same attributes (those listed), parameters (``kernel [kh, kw, C_in, features]``,
  ``bias [features]``) and outputs as ``flax.linen.Conv``, so initialization, checkpoints
  and ``flax.linen.SpectralNorm`` behave identically. With ``impl='fast'`` (paths chosen by
  :func:`conv_path`) a convolution with few input channels is :func:`patch_conv`, one with
  few output channels :func:`shift_conv`, any other strided one :func:`strided_conv`
  (XLA's strided op, its input derivative through :func:`phase_conv`) and any other
  stride-1 one XLA's op padded so that its input and output have the same size;
  ``impl='flax'`` is Flax's ``lax.conv_general_dilated``.

  Attributes:
    features: output channels.
    kernel_size: ``(kh, kw)``, or one int for both (Flax reads an int as a 1-D kernel).
    strides: an int or ``(s_h, s_w)``.
    padding: 'SAME', 'VALID', an int, or two ints or ``(low, high)`` pairs.
    use_bias: add a bias.
    dtype: the computation dtype (``None``: inferred from inputs and parameters).
    param_dtype: the parameters' dtype.
    precision: ``lax`` precision of the convolutions and matrix products.
    kernel_init: kernel initializer (Flax's default, LeCun normal).
    bias_init: bias initializer (zeros).
    impl: ``'fast'`` (see above), ``'flax'`` (the plain op) or ``'auto'`` (the backend's
      choice, :func:`default_impl`).
  """

  @nn.compact
  def __call__(self, inputs: chex.Array) -> chex.Array:
    """Convolves ``inputs [..., H, W, C_in]`` to ``[..., H_out, W_out, features]``."""
    return self._apply(inputs, conv)


class UpsampleConv(_ConvBase):
  """``Conv`` applied to the input upsampled 2x by nearest-neighbour repetition, with
  ``Conv``'s parameters (so ``UpsampleConv(...)(x) == Conv(...)(upsample_nearest(x))``
  for the same variables): :func:`upsample_conv`. Stride 1; attributes as :class:`Conv`.
  """

  @nn.compact
  def __call__(self, inputs: chex.Array) -> chex.Array:
    """Convolves ``upsample_nearest(inputs) [..., 2H, 2W, C_in]`` to ``[..., H_out,
    W_out, features]``."""
    return self._apply(inputs, _stride_one(upsample_conv, 'UpsampleConv'))


class ConvAvgPool(_ConvBase):
  """``Conv`` followed by 2x2 average pooling (stride 2), with ``Conv``'s parameters (so
  ``ConvAvgPool(...)(x) == avg_pool(Conv(...)(x), (2, 2), (2, 2))`` for the same
  variables; the bias commutes with the pooling): :func:`conv_avg_pool`. Stride 1;
  attributes as :class:`Conv`.
  """

  @nn.compact
  def __call__(self, inputs: chex.Array) -> chex.Array:
    """Convolves ``inputs [..., H, W, C_in]`` and pools to ``[..., H_out // 2, W_out // 2,
    features]``."""
    return self._apply(inputs, _stride_one(conv_avg_pool, 'ConvAvgPool'))


class ConvTranspose(_ConvBase):
  """Drop-in for ``flax.linen.ConvTranspose`` (2-D, NHWC, ``transpose_kernel=False``).

  Same attributes (those listed), parameters (``kernel [kh, kw, C_in, features]``,
  ``bias [features]``) and outputs as ``flax.linen.ConvTranspose`` (i.e.
  ``lax.conv_transpose``; explicit padding pads the input-dilated convolution). With
  ``impl='fast'`` it is computed by :func:`phase_conv_transpose`; ``impl='flax'`` is
  Flax's ``lax.conv_transpose``.

  Attributes:
    features: output channels.
    kernel_size: ``(kh, kw)``, or one int for both (Flax reads an int as a 1-D kernel).
    strides: an int or ``(s_h, s_w)``.
    padding: 'SAME', 'VALID', an int, or two ints or ``(low, high)`` pairs.
    use_bias: add a bias.
    dtype: the computation dtype (``None``: inferred from inputs and parameters).
    param_dtype: the parameters' dtype.
    precision: ``lax`` precision of the convolutions.
    kernel_init: kernel initializer (Flax's default, LeCun normal).
    bias_init: bias initializer (zeros).
    impl: ``'fast'`` (sub-pixel decomposition), ``'flax'`` (the plain op) or ``'auto'``
      (the backend's choice, :func:`default_impl`).
  """

  @nn.compact
  def __call__(self, inputs: chex.Array) -> chex.Array:
    """Transposed-convolves ``inputs [..., H, W, C_in]`` to ``[..., H_out, W_out, features]``."""
    return self._apply(inputs, conv_transpose)
