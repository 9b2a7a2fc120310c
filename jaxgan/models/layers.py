"""Layers shared by the convolutional models.

* :func:`pixel_shuffle` / :func:`pixel_unshuffle`: sub-pixel rearrangement (depth-to-space
  and space-to-depth) in NHWC with PyTorch's channel order, so that a PyTorch
  ``nn.PixelShuffle`` model's weights mean the same thing here.
* :class:`Conv` / :class:`ConvTranspose`: drop-in replacements for ``flax.linen.Conv`` and
  ``flax.linen.ConvTranspose`` (same attributes, parameter names and shapes, outputs)
  whose derivatives, first and second, avoid XLA:CPU's slow convolutions. With
  ``impl='fast'`` (the CPU's choice) a transposed convolution is computed as ``s_h * s_w``
  interleaved stride-1 convolutions (:func:`phase_conv_transpose`); a strided convolution
  keeps XLA's strided op for its value and kernel derivative and sends its input
  derivative through a sum of stride-1 convolutions (:func:`strided_conv`,
  :func:`phase_conv`); every stride-1 convolution is padded so that its input and output
  have the same size. A convolution with few input channels (an image: the critics' first
  layer) is im2col and a matrix product (:func:`patch_conv`), one with few output channels
  (the generators' last, SRResNet's 9x9 one included) a matrix product and col2im
  (:func:`shift_conv`, XLA's op when its planes would exceed :data:`SHIFT_MAX_VALUES`);
  which path a convolution takes is :func:`conv_path`, and :func:`conv` is the same
  convolution as a function of a kernel. ``impl='flax'`` is the plain Flax op.
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

Why: XLA swaps the operands of a convolution whose window is larger than its input (the
kernel gradient of an input-dilated convolution, i.e. of a transposed conv, or of any
convolution whose output is larger than its input, such as a strided conv's input
gradient inside a gradient penalty) into a window-reversed convolution, which XLA:CPU runs
outside its Eigen fast path, 10-50x slower. And with one or three channels on one side a
convolution is mostly layout work (XLA:CPU transposes whole activations for its kernel
gradient); as matrix products the critics' first layer's penalty double backward runs
1.5-4x faster and the generators' last layer's forward 2-3x. ``benchmarks/conv_layers.py``
measures both.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen import dtypes
from jax import lax
from jax.custom_derivatives import SymbolicZero

from jaxgan.models import mixed

_DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')
IMPLS = ('auto', 'fast', 'flax')
# The implementation ``impl='auto'`` takes on each backend (``jax.default_backend()``),
# chosen by ``benchmarks/conv_step.py --impl fast,flax``: on XLA:CPU the sub-pixel layers
# (DCGAN steps up to several times faster); on an H200 the plain op (DCGAN train steps
# 1.07-1.49x faster than with the sub-pixel layers). Backends not measured (TPU) get the
# plain op: the slow path the 'fast' layers avoid is XLA:CPU's.
AUTO_IMPL = {'cpu': 'fast', 'gpu': 'flax'}
Padding = str | int | Sequence[int | tuple[int, int]]
Pairs = tuple[tuple[int, int], tuple[int, int]]


def pixel_shuffle(x: chex.Array, factor: int) -> chex.Array:
  """Depth-to-space: ``[N, H, W, C * r * r] -> [N, H * r, W * r, C]``.

  ``out[n, h * r + i, w * r + j, c] = x[n, h, w, c * r * r + i * r + j]``, the channel order
  of PyTorch's ``nn.PixelShuffle`` (Shi et al. 2016, sub-pixel convolution).

  Args:
    x: feature maps ``[N, H, W, C * factor**2]``.
    factor: the upscaling factor ``r``.

  Returns:
    ``[N, H * factor, W * factor, C]``.
  """
  n, h, w, cr2 = x.shape
  if cr2 % (factor * factor):
    raise ValueError(f'pixel_shuffle by {factor} needs channels divisible by {factor**2}; '
                     f'got input of shape {x.shape}.')
  c = cr2 // (factor * factor)
  x = x.reshape(n, h, w, c, factor, factor)
  x = jnp.transpose(x, (0, 1, 4, 2, 5, 3))
  return x.reshape(n, h * factor, w * factor, c)


def pixel_unshuffle(x: chex.Array, factor: int) -> chex.Array:
  """Space-to-depth, the inverse of :func:`pixel_shuffle`:
  ``[N, H * r, W * r, C] -> [N, H, W, C * r * r]`` (PyTorch's ``nn.PixelUnshuffle``)."""
  n, hr, wr, c = x.shape
  if hr % factor or wr % factor:
    raise ValueError(f'pixel_unshuffle by {factor} needs height and width divisible by '
                     f'{factor}; got input of shape {x.shape}.')
  x = x.reshape(n, hr // factor, factor, wr // factor, factor, c)
  x = jnp.transpose(x, (0, 1, 3, 5, 2, 4))
  return x.reshape(n, hr // factor, wr // factor, c * factor * factor)


# ------------------------------------------------------------------------------------------
# Phase (polyphase / sub-pixel) decompositions of strided and transposed convolutions.


def _out_size(size: int, k: int, s: int, pad: tuple[int, int] = (0, 0)) -> int:
  """The output length of a size-``k``, stride-``s`` window over ``size`` values padded by
  ``pad``, as ``lax`` computes it (below 1: an empty output)."""
  return (size + pad[0] + pad[1] - k) // s + 1


def _empty_output(x: chex.Array, kernel: chex.Array, out: Sequence[int]) -> chex.Array | None:
  """The zeros ``[N, 0 or out_h, 0 or out_w, C_out]`` that ``lax`` gives when an output axis
  of size ``out`` is empty; ``None`` when it is not."""
  if min(out) >= 1:
    return None
  return jnp.zeros((x.shape[0], max(out[0], 0), max(out[1], 0), kernel.shape[3]),
                   jnp.result_type(x, kernel))


def _conv_stride1(x: chex.Array, kernel: chex.Array, padding: Pairs,
                  precision: Any) -> chex.Array:
  """A stride-1 NHWC/HWIO convolution with explicit (possibly negative) padding.

  Negative padding crops the input first: XLA:CPU (jax 0.10.2) returns uninitialized
  memory for some convolutions with negative padding.
  """
  if any(p < 0 for pair in padding for p in pair):
    crop = [(0, 0, 0)] + [(min(lo, 0), min(hi, 0), 0) for lo, hi in padding] + [(0, 0, 0)]
    x = lax.pad(x, jnp.zeros((), x.dtype), crop)
    padding = tuple((max(lo, 0), max(hi, 0)) for lo, hi in padding)
  # Make input and output the same size: a larger output is padded into the input, a
  # smaller one computed larger and cut.
  out = [_out_size(n, k, 1, pad)
         for pad, n, k in zip(padding, x.shape[1:3], kernel.shape[:2], strict=True)]
  if (empty := _empty_output(x, kernel, out)) is not None:
    return empty
  pre, conv_pad = [(0, 0, 0)], []
  for (lo, hi), n, q in zip(padding, x.shape[1:3], out, strict=True):
    grow = max(q - n, 0)
    pre.append((min(grow, lo), grow - min(grow, lo), 0))
    conv_pad.append((lo - pre[-1][0], hi - pre[-1][1] + max(n - q, 0)))
  x = lax.pad(x, jnp.zeros((), x.dtype), pre + [(0, 0, 0)])
  y = lax.conv_general_dilated(x, kernel, (1, 1), conv_pad, precision=precision,
                               dimension_numbers=_DIMENSION_NUMBERS)
  return y[:, :out[0], :out[1]]


def _conv_phases(size: int, k: int, s: int,
                 pad: tuple[int, int]) -> tuple[int, list[tuple[int, int, tuple[int, int]]]]:
  """One axis of a stride-``s`` convolution as stride-1 convolutions of input phases.

  ``out[q] = sum_t xp[s q + t] w[t]`` with ``xp`` the input padded by ``pad``. Writing
  ``t - pad[0] = s m + a`` splits the sum by input phase ``a``:
  ``out[q] = sum_a sum_j x[a::s][q + m_a + j] w[t_a + s j]``, a stride-1 convolution of the
  phase ``x[a::s]`` with the kernel taps ``w[t_a::s]`` and low padding ``-m_a``.

  Returns:
    The output size and, per non-empty phase, ``(a, t_a, (pad_low, pad_high))``.
  """
  out = _out_size(size, k, s, pad)
  phases = []
  for a in range(s):
    t0 = (pad[0] + a) % s
    taps = len(range(t0, k, s))
    n_a = len(range(a, size, s))
    if taps == 0 or n_a == 0:
      continue
    m = (t0 - pad[0]) // s
    phases.append((a, t0, (-m, out - 1 + m + taps - 1 - (n_a - 1))))
  return out, phases


def _transpose_phases(size: int, k: int, s: int,
                      pad: tuple[int, int]) -> tuple[int, int, list[tuple[int, int, tuple]]]:
  """One axis of a transposed convolution as stride-1 convolutions, one per output phase.

  ``out[o] = sum_t xd[o + t - pad[0]] w[t]`` with ``xd`` the input dilated by ``s``
  (``lax.conv_transpose``). Only taps with ``o + t - pad[0] = 0 (mod s)`` meet an input;
  for output phase ``r`` (``o = s q + r``) they are ``t = t_r + s j`` and
  ``out[s q + r] = sum_j x[q + d_r + j] w[t_r + s j]``, a stride-1 convolution.

  Returns:
    The output size, the per-phase output size ``ceil(out / s)`` and, per phase ``r``,
    ``(t_r, taps, (pad_low, pad_high))`` (``taps`` 0: the phase is all zeros).
  """
  out = (size - 1) * s + 1 + pad[0] + pad[1] - k + 1
  q = -(-out // s)
  phases = []
  for r in range(s):
    t0 = (pad[0] - r) % s
    taps = len(range(t0, k, s))
    d = (r + t0 - pad[0]) // s
    phases.append((t0, taps, (-d, q - 1 + d + taps - 1 - (size - 1))))
  return out, q, phases


def phase_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int], padding: Pairs,
               precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` as a sum of stride-1 convs.

  The polyphase decomposition: with ``t - p_low = s m + a`` for each axis,
  ``y = sum_{a, b} conv_1(x[:, a::s_h, b::s_w], kernel[t_a::s_h, t_b::s_w])``, each
  stride-1 convolution padded so that its input and output have the same size.

  References: Vaidyanathan 1990, "Multirate digital filters, filter banks, polyphase
  networks, and applications", Proc. IEEE.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: passed to every ``lax.conv_general_dilated``.

  Returns:
    ``[N, H_out, W_out, C_out]``, as the strided convolution.
  """
  (oh, ph), (ow, pw) = (_conv_phases(x.shape[1 + i], kernel.shape[i], strides[i], padding[i])
                        for i in range(2))
  if (empty := _empty_output(x, kernel, (oh, ow))) is not None:
    return empty
  terms = [_conv_stride1(x[:, a::strides[0], b::strides[1]],
                        kernel[th::strides[0], tw::strides[1]], (pad_h, pad_w), precision)
           for (a, th, pad_h), (b, tw, pad_w) in itertools.product(ph, pw)]
  if not terms:  # every tap falls on padding
    return jnp.zeros((x.shape[0], oh, ow, kernel.shape[3]), jnp.result_type(x, kernel))
  return sum(terms[1:], terms[0])


def phase_conv_transpose(x: chex.Array, kernel: chex.Array, strides: tuple[int, int],
                         padding: Pairs, precision: Any = None) -> chex.Array:
  """``lax.conv_transpose(x, kernel, strides, padding)`` (no kernel flip, the Flax default)
  as ``s_h * s_w`` interleaved stride-1 convolutions.

  The sub-pixel decomposition: output phase ``(r, c)`` of the input-dilated convolution
  only meets the taps ``kernel[t_r::s_h, t_c::s_w]``, so
  ``y[:, r::s_h, c::s_w] = conv_1(x, kernel[t_r::s_h, t_c::s_w])``.

  References: Shi et al. 2016, "Is the deconvolution layer the same as a convolutional
  layer?", arXiv:1609.07009.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))`` of the input-dilated
      convolution, as ``lax.conv_transpose`` takes it.
    precision: passed to every ``lax.conv_general_dilated``.

  Returns:
    ``[N, H_out, W_out, C_out]``, as ``lax.conv_transpose``.
  """
  (oh, qh, ph), (ow, qw, pw) = (
      _transpose_phases(x.shape[1 + i], kernel.shape[i], strides[i], padding[i])
      for i in range(2))
  n, c_out = x.shape[0], kernel.shape[3]
  dtype = jnp.result_type(x, kernel)
  if (empty := _empty_output(x, kernel, (oh, ow))) is not None:
    return empty
  rows = []
  for th, taps_h, pad_h in ph:
    cols = []
    for tw, taps_w, pad_w in pw:
      if taps_h and taps_w:
        cols.append(_conv_stride1(x, kernel[th::strides[0], tw::strides[1]], (pad_h, pad_w),
                                  precision))
      else:
        cols.append(jnp.zeros((n, qh, qw, c_out), dtype))
    rows.append(jnp.stack(cols, axis=3))  # [N, qh, qw, s_w, C]
  y = jnp.stack(rows, axis=2).reshape(n, qh * strides[0], qw * strides[1], c_out)
  return y[:, :oh, :ow]


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def strided_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int], padding: Pairs,
                 precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` whose input tangent goes
  through :func:`phase_conv`.

  The value and the kernel derivative are XLA's own (both fast on XLA:CPU); the derivative
  in ``x`` is ``phase_conv(dx, kernel)``, so the input gradient and everything
  differentiated through it (a gradient penalty's second derivative) are stride-1
  convolutions. A ``custom_jvp``: forward mode, reverse mode and their nestings all work.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: passed to every ``lax.conv_general_dilated``.

  Returns:
    ``[N, H_out, W_out, C_out]``.
  """
  return lax.conv_general_dilated(x, kernel, strides, padding, precision=precision,
                                  dimension_numbers=_DIMENSION_NUMBERS)


def _strided_conv_jvp(strides, padding, precision, primals, tangents):
  x, kernel = primals
  dx, dkernel = tangents
  y = strided_conv(x, kernel, strides, padding, precision)
  terms = []
  if not isinstance(dx, SymbolicZero):
    terms.append(phase_conv(dx, kernel, strides, padding, precision))
  if not isinstance(dkernel, SymbolicZero):
    terms.append(lax.conv_general_dilated(x, dkernel, strides, padding, precision=precision,
                                          dimension_numbers=_DIMENSION_NUMBERS))
  return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


strided_conv.defjvp(_strided_conv_jvp, symbolic_zeros=True)


# ------------------------------------------------------------------------------------------
# Convolutions with few input or few output channels as matrix products.

# A convolution takes :func:`patch_conv` when its input has at most FEW_CHANNELS channels
# and its patches (``kh * kw * C_in`` values) at most PATCH_LIMIT values, and
# :func:`shift_conv` when its output has at most FEW_CHANNELS channels and
# ``kh * kw * C_out <= SHIFT_LIMIT`` (``benchmarks/conv_layers.py``: the critics' first and
# the generators' last layers, SRResNet's 9x9 last layer included).
FEW_CHANNELS = 4
PATCH_LIMIT = 64
SHIFT_LIMIT = 256
# At most this many values in :func:`shift_conv`'s planes (1 GiB in float32).
SHIFT_MAX_VALUES = 2**28
# patch_conv's matrix product is cut into up to this many chunks of the batch: XLA:CPU computes
# the parameter gradient of one long product through a transposing copy of its operand
# (slow); of a chunked, batched product it does not.
_CHUNKS = 8


def _chunked_matmul(a: chex.Array, b: chex.Array, precision: Any) -> chex.Array:
  """``a[N, ..., Q] @ b[Q, O]`` as a batched product over chunks of ``N``."""
  chunks = next(c for c in (_CHUNKS, 4, 2, 1) if a.shape[0] % c == 0)
  b = jnp.broadcast_to(b, (chunks,) + b.shape)
  y = jnp.einsum('bmq,bqo->bmo', a.reshape(chunks, -1, a.shape[-1]), b, precision=precision)
  return y.reshape(a.shape[:-1] + b.shape[-1:])


def _strided_window(x: chex.Array, start: tuple[int, int], out: tuple[int, int],
                    strides: tuple[int, int], axis: int = 1) -> chex.Array:
  """``x[..., start_h + s_h * i, start_w + s_w * j, ...]`` for ``i, j < out``, on the
  axes ``axis`` and ``axis + 1`` (the spatial axes: 1 and 2 in NHWC)."""
  begin, limit, step = [0] * x.ndim, list(x.shape), [1] * x.ndim
  for a, st, s, o in zip((axis, axis + 1), start, strides, out, strict=True):
    begin[a], limit[a], step[a] = st, st + s * (o - 1) + 1, s
  return lax.slice(x, begin, limit, step)


def patch_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int], padding: Pairs,
               precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` as patches times a matrix.

  ``y[n, i, j] = P[n, i, j] @ kernel.reshape(kh * kw * C_in, C_out)`` with the patches
  ``P[n, i, j, (u, v, c)] = xpad[n, s_h i + u, s_w j + v, c]`` (im2col). For few input
  channels (an image's) the patches are small, and every derivative is a matrix product or
  a slice and its transpose.

  When the convolution is strided and each stride divides its kernel size (the critics'
  4x4 stride-2 first layer), the padded input is first rearranged space-to-depth,
  ``X[n, a, b, (p, q, c)] = xpad[n, s_h a + p, s_w b + q, c]``, and the patches are
  ``(kh / s_h) * (kw / s_w)`` unstrided slices of ``X`` with ``s_h * s_w * C_in`` channels
  each, the kernel's rows permuted to match: the same products, gathered in longer runs
  than ``kh * kw`` strided slices of ``C_in`` values (``benchmarks/conv_layers.py``).
  Otherwise the patches are those slices.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: passed to the matrix product.

  Returns:
    ``[N, H_out, W_out, C_out]``, as the convolution (operands of different dtypes are
    promoted, as by ``jnp.einsum``; ``lax`` requires one dtype).
  """
  kh, kw, c_in, c_out = kernel.shape
  n, h, w, _ = x.shape
  out = (_out_size(h, kh, strides[0], padding[0]), _out_size(w, kw, strides[1], padding[1]))
  if (empty := _empty_output(x, kernel, out)) is not None:
    return empty
  zero = jnp.zeros((), x.dtype)
  if strides == (1, 1) or kh % strides[0] or kw % strides[1]:
    x = lax.pad(x, zero, [(0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)])
    patches = jnp.concatenate([_strided_window(x, (u, v), out, strides)
                               for u in range(kh) for v in range(kw)], axis=-1)
    return _chunked_matmul(patches, kernel.reshape(kh * kw * c_in, c_out), precision)
  (sh, sw), (th, tw) = strides, (kh // strides[0], kw // strides[1])
  # Exactly the rows and columns the windows read (low padding, then pad or crop the end).
  size = (sh * (out[0] - 1 + th), sw * (out[1] - 1 + tw))
  x = lax.pad(x, zero, [(0, 0, 0), (padding[0][0], size[0] - h - padding[0][0], 0),
                        (padding[1][0], size[1] - w - padding[1][0], 0), (0, 0, 0)])
  x = (x.reshape(n, size[0] // sh, sh, size[1] // sw, sw, c_in).transpose(0, 1, 3, 2, 4, 5)
       .reshape(n, size[0] // sh, size[1] // sw, sh * sw * c_in))
  patches = jnp.concatenate([x[:, a:a + out[0], b:b + out[1]]
                             for a in range(th) for b in range(tw)], axis=-1)
  # kernel[s_h a + p, s_w b + q, c] -> row (a, b, p, q, c), the patches' channel order.
  kernel = (kernel.reshape(th, sh, tw, sw, c_in, c_out).transpose(0, 2, 1, 3, 4, 5)
            .reshape(kh * kw * c_in, c_out))
  return _chunked_matmul(patches, kernel, precision)


def _tap_span(size: int, out: int, offset: int, stride: int, low: int) -> tuple[int, int]:
  """The outputs ``[i0, i1)`` whose window tap ``offset`` falls inside the input: output
  ``i`` reads input ``stride * i + offset - low``, which must lie in ``[0, size)``."""
  return max(0, -((offset - low) // stride)), min(out, (size - 1 + low - offset) // stride + 1)


# Compiled as one program even when called op by op, where each of its kh * kw slices and
# kh * kw pads would be compiled alone (162 programs for a 9x9 kernel). Under an outer jit
# it is inlined.
@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def shift_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int], padding: Pairs,
               precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` as a matrix product and a
  sum of shifted slices.

  ``Q[(u, v, o), n, h, w] = kernel[u, v, :, o] . x[n, h, w]`` (one product to
  ``kh * kw * C_out`` channel-major planes), then ``y[n, i, j, o] = sum_{u, v}
  Q[(u, v, o), n, s_h i + u - low_h, s_w j + v - low_w]`` over the taps inside the input
  (col2im): each tap is a strided slice of its own planes, zero-padded to the output.
  For few output channels (an image's) ``Q`` is small; the planes keep image rows
  contiguous, and the derivatives are matrix products with the concatenation of the
  taps' slices of the output's cotangent (im2col, the transpose of this col2im).

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: passed to the product with the kernel (the product with the identity that
      makes the layout NHWC is exact, at ``HIGHEST``).

  Returns:
    ``[N, H_out, W_out, C_out]``, as the convolution (operands of different dtypes are
    promoted, as by ``jnp.einsum``; ``lax`` requires one dtype). Finite values are exact;
    an infinite output value makes the other channels of its pixel NaN (``inf * 0`` in
    the identity product) where ``lax`` keeps them, and ``-0.0`` comes out as ``0.0``.
  """
  kh, kw, c_in, c_out = kernel.shape
  n, h, w, _ = x.shape
  out = (_out_size(h, kh, strides[0], padding[0]), _out_size(w, kw, strides[1], padding[1]))
  if (empty := _empty_output(x, kernel, out)) is not None:
    return empty
  q = jnp.einsum('kc,mc->km', kernel.transpose(0, 1, 3, 2).reshape(kh * kw * c_out, c_in),
                 x.reshape(n * h * w, c_in), precision=precision
                 ).reshape(kh * kw * c_out, n, h, w)
  # Split (not indexed) into the taps' planes: its transpose is one concatenation.
  planes = lax.split(q, [c_out] * (kh * kw), axis=0)
  terms = []
  for u, v in itertools.product(range(kh), range(kw)):
    (i0, i1), (j0, j1) = (_tap_span(size, o, k, s, p[0]) for size, o, k, s, p in
                          zip((h, w), out, (u, v), strides, padding, strict=True))
    if i1 > i0 and j1 > j0:
      start = (strides[0] * i0 + u - padding[0][0], strides[1] * j0 + v - padding[1][0])
      tap = _strided_window(planes[u * kw + v], start, (i1 - i0, j1 - j0), strides, axis=2)
      terms.append(lax.pad(tap, jnp.zeros((), q.dtype), [(0, 0, 0), (0, 0, 0),
                                                         (i0, out[0] - i1, 0),
                                                         (j0, out[1] - j1, 0)]))
  y = sum(terms[1:], terms[0]) if terms else jnp.zeros((c_out, n, *out), q.dtype)
  # To NHWC as a product with the identity, not a transpose: XLA:CPU fuses a sum of slices
  # into each of its consumers (e.g. the next layer's im2col, or the 81 slices of this
  # layer's input cotangent: 2x slower steps), but computes a product once.
  y = jnp.einsum('cm,co->mo', y.reshape(c_out, n * out[0] * out[1]),
                 jnp.eye(c_out, dtype=y.dtype),
                 precision=lax.Precision.HIGHEST)
  return y.reshape(n, *out, c_out)


def conv_path(c_in: int, c_out: int, kernel_size: tuple[int, int],
              strides: tuple[int, int], positions: int = 0) -> str:
  """How ``Conv(impl='fast')`` computes a convolution: ``'patch'`` (:func:`patch_conv`,
  few input channels), ``'shift'`` (:func:`shift_conv`, few output channels), ``'stride1'``
  (XLA's op, input and output the same size) or ``'strided'`` (:func:`strided_conv`).
  ``positions``: ``N * H * W`` of the input (0: unknown, not checked); a shift whose
  planes would hold more than SHIFT_MAX_VALUES values (a large image upscaled whole) takes
  'stride1' or 'strided' instead. Under ``vmap`` the bound holds per mapped instance."""
  taps = kernel_size[0] * kernel_size[1]
  if c_in <= FEW_CHANNELS and taps * c_in <= PATCH_LIMIT:
    return 'patch'
  if (c_out <= FEW_CHANNELS and taps * c_out <= SHIFT_LIMIT
      and taps * c_out * positions <= SHIFT_MAX_VALUES):
    return 'shift'
  return 'stride1' if strides == (1, 1) else 'strided'


# ------------------------------------------------------------------------------------------
# Flax-compatible modules.


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
      (``lax.conv_general_dilated``) or ``'auto'`` (:func:`default_impl`).

  Returns:
    ``[N, H_out, W_out, C_out]``, as ``lax.conv_general_dilated``.
  """
  x = _mask_padding(x)
  impl = _resolve_impl(impl)
  if impl == 'flax':
    return lax.conv_general_dilated(x, kernel, strides, padding, precision=precision,
                                    dimension_numbers=_DIMENSION_NUMBERS)
  if isinstance(padding, str):
    padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
  padding = tuple(map(tuple, padding))
  path = conv_path(x.shape[-1], kernel.shape[-1], kernel.shape[:2], strides,
                   x.shape[0] * x.shape[1] * x.shape[2])
  fn = {'patch': patch_conv, 'shift': shift_conv, 'strided': strided_conv}.get(path)
  return (fn(x, kernel, strides, padding, precision) if fn else
          _conv_stride1(x, kernel, padding, precision))


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
  if impl == 'flax':
    return lax.conv_transpose(x, kernel, strides, padding, precision=precision,
                              dimension_numbers=_DIMENSION_NUMBERS)
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

