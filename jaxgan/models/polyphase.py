"""Polyphase (sub-pixel) forms of strided and transposed convolutions, for XLA:CPU.

* :func:`pixel_shuffle` / :func:`pixel_unshuffle`: sub-pixel rearrangement (depth-to-space
  and space-to-depth) in NHWC with PyTorch's channel order, so that a PyTorch
  ``nn.PixelShuffle`` model's weights mean the same thing here.
* :func:`phase_conv_transpose`: a transposed convolution as ``s_h * s_w`` interleaved
  stride-1 convolutions.
* :func:`phase_conv`: a strided convolution as a sum of stride-1 convolutions of its input's
  phases; :func:`strided_conv` is XLA's strided op whose input derivative goes through it.
* :func:`conv_stride1`: a stride-1 convolution padded so that its input and output have the
  same size; it runs :func:`loop_safe_conv`, XLA's op with gradients that stay on XLA:CPU's
  fast path inside loops (``nn.scan``) too.

Why: XLA swaps the operands of a convolution whose window is larger than its input (the
kernel gradient of an input-dilated convolution, i.e. of a transposed conv, or of any
convolution whose output is larger than its input, such as a strided conv's input
gradient inside a gradient penalty) into a window-reversed convolution, which XLA:CPU runs
outside its Eigen fast path, 10-50x slower. Every convolution here is stride 1 with input
and output of one size. :mod:`jaxgan.models.layers` builds the Flax layers on them;
``benchmarks/conv_layers.py`` measures them.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import Any

import chex
import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_derivatives import SymbolicZero

DIMENSION_NUMBERS = ('NHWC', 'HWIO', 'NHWC')
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


def out_size(size: int, k: int, s: int, pad: tuple[int, int] = (0, 0)) -> int:
  """The output length of a size-``k``, stride-``s`` window over ``size`` values padded by
  ``pad``, as ``lax`` computes it (below 1: an empty output)."""
  return (size + pad[0] + pad[1] - k) // s + 1


def check_operands(x: chex.Array, kernel: chex.Array, promote: bool = False) -> None:
  """Raises as ``lax.conv_general_dilated`` does, also where no convolution runs (an empty
  output, every tap on padding): ``x`` ``[N, H, W, C_in]`` and ``kernel``
  ``[kh, kw, C_in, C_out]`` of one dtype (``lax``'s rule) or, with ``promote``, of any
  two (promoted, as by ``jnp.einsum``)."""
  if x.ndim != 4 or kernel.ndim != 4 or x.shape[3] != kernel.shape[2]:
    raise ValueError(f'A convolution takes x [N, H, W, C_in] and a kernel '
                     f'[kh, kw, C_in, C_out]; got x {x.shape} and kernel {kernel.shape}.')
  if not promote and x.dtype != kernel.dtype:
    raise TypeError(f'lax.conv_general_dilated requires arguments to have the same dtypes, '
                    f'got {x.dtype}, {kernel.dtype}.')


def empty_output(x: chex.Array, kernel: chex.Array, out: Sequence[int]) -> chex.Array | None:
  """The zeros ``[N, 0 or out_h, 0 or out_w, C_out]`` that ``lax`` gives when an output axis
  of size ``out`` is empty; ``None`` when it is not."""
  if min(out) >= 1:
    return None
  return jnp.zeros((x.shape[0], max(out[0], 0), max(out[1], 0), kernel.shape[3]),
                   jnp.result_type(x, kernel))


def crop_negative_padding(x: chex.Array, padding: Pairs) -> tuple[chex.Array, Pairs]:
  """``(x, padding)`` with the negative part of an explicit NHWC ``padding`` applied to
  ``x`` as a crop, and the padding that is left (not negative), for a non-empty output.

  XLA:CPU (jax 0.10.2) returns uninitialized memory for some float32 convolutions with
  negative padding (strided ones included; openxla/xla#48713), so none is passed to
  ``lax.conv_general_dilated``.
  """
  padding = tuple(map(tuple, padding))
  if not any(p < 0 for pair in padding for p in pair):
    return x, padding
  if all(n + min(lo, 0) + min(hi, 0) >= 0
         for (lo, hi), n in zip(padding, x.shape[1:3], strict=True)):
    crop = [(0, 0, 0)] + [(min(lo, 0), min(hi, 0), 0) for lo, hi in padding] + [(0, 0, 0)]
    return (lax.pad(x, jnp.zeros((), x.dtype), crop),
            tuple((max(lo, 0), max(hi, 0)) for lo, hi in padding))
  # A crop reaches past the other side's padding (lax allows it): pad as one.
  return (lax.pad(x, jnp.zeros((), x.dtype),
                  [(0, 0, 0)] + [(lo, hi, 0) for lo, hi in padding] + [(0, 0, 0)]),
          ((0, 0), (0, 0)))


def conv_stride1(x: chex.Array, kernel: chex.Array, padding: Pairs,
                  precision: Any) -> chex.Array:
  """A stride-1 NHWC/HWIO convolution with explicit (possibly negative) padding, which
  crops the input first (:func:`crop_negative_padding`)."""
  # The output's size (the padding's total per axis, which the crop below keeps); an empty
  # one before any pad (a crop of more than the input would be a negative size).
  out = [out_size(n, k, 1, pad)
         for pad, n, k in zip(padding, x.shape[1:3], kernel.shape[:2], strict=True)]
  if (empty := empty_output(x, kernel, out)) is not None:
    return empty
  x, padding = crop_negative_padding(x, padding)
  # Make input and output the same size: a larger output is padded into the input, a
  # smaller one computed larger and cut.
  pre, conv_pad = [(0, 0, 0)], []
  for (lo, hi), n, q in zip(padding, x.shape[1:3], out, strict=True):
    grow = max(q - n, 0)
    pre.append((min(grow, lo), grow - min(grow, lo), 0))
    conv_pad.append((lo - pre[-1][0], hi - pre[-1][1] + max(n - q, 0)))
  x = lax.pad(x, jnp.zeros((), x.dtype), pre + [(0, 0, 0)])
  y = loop_safe_conv(x, kernel, tuple(conv_pad), precision)
  return y[:, :out[0], :out[1]]


# The tangent maps of loop_safe_conv, in layouts whose transposes (the gradients) are
# convolutions in XLA's canonical layout, b01f_01io->b01f, with explicit transposes around
# them. The kernel's: inputs as [C_in, H, W, N], kernels as [C_in, kh, kw, C_out], outputs
# as [H, W, N, C_out]. The input's: kernels as [kh, kw, C_out, C_in].
_KERNEL_TANGENT = lax.ConvDimensionNumbers(lhs_spec=(3, 0, 1, 2), rhs_spec=(3, 0, 1, 2),
                                           out_spec=(2, 3, 0, 1))
_INPUT_TANGENT = lax.ConvDimensionNumbers(lhs_spec=(0, 3, 1, 2), rhs_spec=(2, 3, 0, 1),
                                          out_spec=(0, 3, 1, 2))


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def loop_safe_conv(x: chex.Array, kernel: chex.Array, padding: Pairs,
                   precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, (1, 1), padding)`` (NHWC/HWIO) whose gradients
  stay fast inside loops on XLA:CPU.

  XLA:CPU computes the gradients of a convolution as convolutions in other layouts
  (``f01b_i01o->01bf`` for the kernel's). Outside a loop it rewrites them to its canonical
  layout with transposes and runs them on its fast path. Inside a ``lax.scan`` or
  ``while`` loop (``RRDBNet(scan_blocks=True)``) it does not: the gradient of 12 residual
  3x3, 64-channel convolutions ran 21x slower as a ``lax.scan`` than unrolled (jax 0.10;
  the same seen with 0.12; ``benchmarks/loop_safe_conv.py``). Here the tangents are
  written so that their transposes, the gradients, are canonical convolutions between
  explicit transposes, in a loop or not. The value is XLA's own op. A ``custom_jvp``:
  forward mode, reverse mode and their nestings all work; second derivatives inside a loop
  (a gradient penalty through a scanned critic; no jaxgan critic is scanned) are exact
  but not kept canonical, as those of XLA's op.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``, not negative.
    precision: passed to every ``lax.conv_general_dilated``.

  Returns:
    ``[N, H_out, W_out, C_out]``.
  """
  return lax.conv_general_dilated(x, kernel, (1, 1), padding, precision=precision,
                                  dimension_numbers=DIMENSION_NUMBERS)


def _loop_safe_conv_jvp(padding, precision, primals, tangents):
  x, kernel = primals
  dx, dkernel = tangents
  y = loop_safe_conv(x, kernel, padding, precision)
  terms = []
  if not isinstance(dx, SymbolicZero):  # conv(dx, kernel)
    terms.append(lax.conv_general_dilated(dx, kernel.transpose(0, 1, 3, 2), (1, 1), padding,
                                          precision=precision,
                                          dimension_numbers=_INPUT_TANGENT))
  if not isinstance(dkernel, SymbolicZero):  # conv(x, dkernel)
    t = lax.conv_general_dilated(x.transpose(3, 1, 2, 0), dkernel.transpose(2, 0, 1, 3),
                                 (1, 1), padding, precision=precision,
                                 dimension_numbers=_KERNEL_TANGENT)
    terms.append(t.transpose(2, 0, 1, 3))
  return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


loop_safe_conv.defjvp(_loop_safe_conv_jvp, symbolic_zeros=True)


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
  out = out_size(size, k, s, pad)
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
  check_operands(x, kernel)
  (oh, ph), (ow, pw) = (_conv_phases(x.shape[1 + i], kernel.shape[i], strides[i], padding[i])
                        for i in range(2))
  if (empty := empty_output(x, kernel, (oh, ow))) is not None:
    return empty
  terms = [conv_stride1(x[:, a::strides[0], b::strides[1]],
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
  check_operands(x, kernel)
  (oh, qh, ph), (ow, qw, pw) = (
      _transpose_phases(x.shape[1 + i], kernel.shape[i], strides[i], padding[i])
      for i in range(2))
  n, c_out = x.shape[0], kernel.shape[3]
  dtype = jnp.result_type(x, kernel)
  if (empty := empty_output(x, kernel, (oh, ow))) is not None:
    return empty
  rows = []
  for th, taps_h, pad_h in ph:
    cols = []
    for tw, taps_w, pad_w in pw:
      if taps_h and taps_w:
        cols.append(conv_stride1(x, kernel[th::strides[0], tw::strides[1]], (pad_h, pad_w),
                                  precision))
      else:
        cols.append(jnp.zeros((n, qh, qw, c_out), dtype))
    rows.append(jnp.stack(cols, axis=3))  # [N, qh, qw, s_w, C]
  y = jnp.stack(rows, axis=2).reshape(n, qh * strides[0], qw * strides[1], c_out)
  return y[:, :oh, :ow]


def strided_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int], padding: Pairs,
                 precision: Any = None) -> chex.Array:
  """``lax.conv_general_dilated(x, kernel, strides, padding)`` whose input tangent goes
  through :func:`phase_conv`; negative padding crops the input first
  (:func:`crop_negative_padding`).

  The value and the kernel derivative are XLA's own (both fast on XLA:CPU); the derivative
  in ``x`` is ``phase_conv(dx, kernel)``, so the input gradient and everything
  differentiated through it (a gradient penalty's second derivative) are stride-1
  convolutions. Its convolution is a ``custom_jvp``: forward mode, reverse mode and their
  nestings all work.

  Args:
    x: ``[N, H, W, C_in]``.
    kernel: ``[kh, kw, C_in, C_out]``.
    strides: ``(s_h, s_w)``.
    padding: explicit ``((low_h, high_h), (low_w, high_w))``.
    precision: passed to every ``lax.conv_general_dilated``.

  Returns:
    ``[N, H_out, W_out, C_out]``.
  """
  check_operands(x, kernel)
  padding = tuple(map(tuple, padding))
  out = [out_size(n, k, s, pad) for pad, n, k, s in
         zip(padding, x.shape[1:3], kernel.shape[:2], strides, strict=True)]
  if (empty := empty_output(x, kernel, out)) is not None:
    return empty
  x, padding = crop_negative_padding(x, padding)
  return _strided_conv(x, kernel, tuple(strides), padding, precision)


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3, 4))
def _strided_conv(x: chex.Array, kernel: chex.Array, strides: tuple[int, int],
                  padding: Pairs, precision: Any) -> chex.Array:
  """:func:`strided_conv` with non-negative padding."""
  return lax.conv_general_dilated(x, kernel, strides, padding, precision=precision,
                                  dimension_numbers=DIMENSION_NUMBERS)


def _strided_conv_jvp(strides, padding, precision, primals, tangents):
  x, kernel = primals
  dx, dkernel = tangents
  y = _strided_conv(x, kernel, strides, padding, precision)
  terms = []
  if not isinstance(dx, SymbolicZero):
    terms.append(phase_conv(dx, kernel, strides, padding, precision))
  if not isinstance(dkernel, SymbolicZero):
    terms.append(lax.conv_general_dilated(x, dkernel, strides, padding, precision=precision,
                                          dimension_numbers=DIMENSION_NUMBERS))
  return y, sum(terms[1:], terms[0]) if terms else jnp.zeros_like(y)


_strided_conv.defjvp(_strided_conv_jvp, symbolic_zeros=True)
