"""Convolutions with few input or few output channels as matrix products, for XLA:CPU.

* :func:`patch_conv`: im2col and one matrix product, for few input channels (an image: the
  critics' first layer).
* :func:`shift_conv`: one matrix product and col2im, for few output channels (the
  generators' last layer, SRResNet's 9x9 one included).
* :func:`conv_path`: which form :class:`jaxgan.models.layers.Conv` gives a convolution.

Why: with one or three channels on one side a convolution is mostly layout work (XLA:CPU
transposes whole activations for its kernel gradient); as matrix products the critics'
first layer's penalty double backward runs 1.5-4x faster and the generators' last layer's
forward 2-3x. ``benchmarks/conv_layers.py`` measures both.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import chex
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan.models.polyphase import Pairs, check_operands, empty_output, out_size

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
  dtype = jnp.result_type(a, b)
  acc = _accumulation_dtype(dtype)
  b = jnp.broadcast_to(b.astype(acc), (chunks,) + b.shape)
  y = jnp.einsum('bmq,bqo->bmo', a.reshape(chunks, -1, a.shape[-1]).astype(acc), b,
                 precision=precision, preferred_element_type=acc)
  return y.reshape(a.shape[:-1] + b.shape[-1:]).astype(dtype)


def _accumulation_dtype(dtype: Any) -> Any:
  """float32 for bfloat16 or float16 operands (as XLA's convolution accumulates them), else
  the operands' own dtype."""
  return jnp.promote_types(dtype, jnp.float32)


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

  bfloat16 (or float16) operands are multiplied in float32: their products are exact
  there, so the output is that of a float32-accumulating convolution rounded once, and
  the derivatives' sums (the patches' col2im, the kernel gradient's chunks) run in
  float32 too, not in bfloat16 (which had 1.3-2.8x Flax's error). On XLA:CPU, where the
  path is used, this is also faster (the DCGAN critics' first layers' gradients in
  bfloat16: 1.5x on 2 cores).

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
  check_operands(x, kernel, promote=True)
  kh, kw, c_in, c_out = kernel.shape
  n, h, w, _ = x.shape
  out = (out_size(h, kh, strides[0], padding[0]), out_size(w, kw, strides[1], padding[1]))
  if (empty := empty_output(x, kernel, out)) is not None:
    return empty
  dtype = jnp.result_type(x, kernel)
  x = x.astype(_accumulation_dtype(x.dtype))
  kernel = kernel.astype(_accumulation_dtype(kernel.dtype))
  zero = jnp.zeros((), x.dtype)
  if strides == (1, 1) or kh % strides[0] or kw % strides[1]:
    x = lax.pad(x, zero, [(0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)])
    patches = jnp.concatenate([_strided_window(x, (u, v), out, strides)
                               for u in range(kh) for v in range(kw)], axis=-1)
    return _chunked_matmul(patches, kernel.reshape(kh * kw * c_in, c_out), precision
                           ).astype(dtype)
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
  return _chunked_matmul(patches, kernel, precision).astype(dtype)


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
  check_operands(x, kernel, promote=True)
  kh, kw, c_in, c_out = kernel.shape
  n, h, w, _ = x.shape
  out = (out_size(h, kh, strides[0], padding[0]), out_size(w, kw, strides[1], padding[1]))
  if (empty := empty_output(x, kernel, out)) is not None:
    return empty
  # Low-precision operands: the products accumulate, and the taps are summed, in float32
  # (rounded once at the end, as XLA's convolution does; not once per tap).
  dtype = jnp.result_type(x, kernel)
  q = jnp.einsum('kc,mc->km', kernel.transpose(0, 1, 3, 2).reshape(kh * kw * c_out, c_in),
                 x.reshape(n * h * w, c_in), precision=precision,
                 preferred_element_type=_accumulation_dtype(dtype)
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
  return y.reshape(n, *out, c_out).astype(dtype)


def conv_path(c_in: int, c_out: int, kernel_size: tuple[int, int],
              strides: tuple[int, int], positions: int = 0) -> str:
  """How ``Conv(impl='fast')`` computes a convolution: ``'patch'`` (:func:`patch_conv`,
  few input channels), ``'shift'`` (:func:`shift_conv`, few output channels), ``'stride1'``
  (XLA's op, input and output the same size) or ``'strided'`` (:func:`strided_conv`).
  ``positions``: ``N * H * W`` of the input (0: unknown, not checked); a shift whose
  planes would hold more than SHIFT_MAX_VALUES values (a large image upscaled whole) takes
  'stride1' or 'strided' instead. Under ``vmap`` the bound holds per mapped instance."""
  taps = kernel_size[0] * kernel_size[1]
  strides = tuple(strides)
  if c_in <= FEW_CHANNELS and taps * c_in <= PATCH_LIMIT:
    return 'patch'
  if (c_out <= FEW_CHANNELS and taps * c_out <= SHIFT_LIMIT
      and taps * c_out * positions <= SHIFT_MAX_VALUES):
    return 'shift'
  return 'stride1' if strides == (1, 1) else 'strided'
