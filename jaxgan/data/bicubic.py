"""MATLAB-compatible bicubic resizing (``imresize``), to make super-resolution LR images.

SR papers make their low-resolution inputs with MATLAB's ``imresize(hr, 1/4, 'bicubic')``
and report MATLAB bicubic upscaling as the baseline. That resize is separable: each axis
is multiplied by a fixed ``[out, in]`` weight matrix, here built once per
``(in, out, scale)`` and cached, so a batch is two matrix products (float64 inside).

MATLAB's algorithm (``imresize.m``, ``contributions``; as ported in BasicSR's
``matlab_functions.py``), per axis with 1-based pixel indices:

* output pixel ``x`` maps to input coordinate ``u = x / s + 0.5 (1 - 1 / s)`` (pixel
  centres aligned: the output pixel's area maps onto the input's);
* the kernel is Keys' cubic with ``a = -0.5``; when downscaling (``s < 1``) with
  antialiasing it is widened to ``s * cubic(s * d)`` (support ``4 / s`` pixels);
* taps ``floor(u - width / 2) + 0 .. ceil(width) + 1``, weights ``k(u - i)`` normalized
  to sum 1;
* taps outside the image are mirrored with the edge pixel repeated (MATLAB's
  ``aux = [1:n, n:-1:1]`` index reflection, the 'symmetric' boundary);
* the axis with the smaller scale is resized first (in exact arithmetic the order does not
  matter: the two products commute).

Unlike MATLAB on ``uint8`` images, nothing is rounded between the two passes or at the end;
inputs must be float (quantize the result yourself to mimic a saved 8-bit LR image).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from jaxgan.arrays import check_finite, is_real_number

KERNEL_WIDTH = 4.0  # the support of Keys' cubic kernel, in input pixels
# The most kernel taps (output pixels x taps each) weight_matrix evaluates for one axis:
# about 0.3 GiB at its peak (some nine float64 arrays of the taps). An axis takes about
# 4 x (input pixels) + 2 x (output pixels) taps, so only an axis of a million pixels
# reaches it, or a scale far below 1 / length (its antialiased kernel spans 4 / scale).
MAX_TAPS = 2 ** 22


def cubic(x: np.ndarray) -> np.ndarray:
  """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB's ``'bicubic'``).

  ``k(x) = 1.5|x|^3 - 2.5|x|^2 + 1`` for ``|x| <= 1``,
  ``-0.5|x|^3 + 2.5|x|^2 - 4|x| + 2`` for ``1 < |x| <= 2``, and 0 beyond.

  References:
    Keys, Cubic Convolution Interpolation for Digital Image Processing, IEEE TASSP 1981.
  """
  ax = np.abs(np.asarray(x, np.float64))
  ax2, ax3 = ax ** 2, ax ** 3
  return (np.where(ax <= 1, 1.5 * ax3 - 2.5 * ax2 + 1, 0.0)
          + np.where((ax > 1) & (ax <= 2), -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2, 0.0))


def reflect(index: np.ndarray, n: int) -> np.ndarray:
  """0-based ``index`` into an axis of ``n`` pixels, those outside ``[0, n)`` reflected
  with the edge pixel repeated: MATLAB's ``aux = [1:n, n:-1:1]``, the boundary of its
  ``imresize``."""
  period = np.mod(index, 2 * n)
  return np.where(period < n, period, 2 * n - 1 - period)


def _widened(scale: float, antialiasing: bool) -> bool:
  """Whether the kernel is widened by ``1 / scale``: antialiasing a downscale."""
  return antialiasing and scale < 1


def _kernel_width(scale: float, antialiasing: bool) -> float:
  """The kernel's support in input pixels: 4, or ``4 / scale`` where widened."""
  return KERNEL_WIDTH / scale if _widened(scale, antialiasing) else KERNEL_WIDTH


@functools.lru_cache(maxsize=64)
def _weight_matrix(in_length: int, out_length: int, scale: float,
                   antialiasing: bool) -> np.ndarray:
  antialias = _widened(scale, antialiasing)
  width = _kernel_width(scale, antialiasing)
  u = np.arange(1, out_length + 1, dtype=np.float64) / scale + 0.5 * (1 - 1 / scale)
  left = np.floor(u - width / 2)
  taps = left[:, None] + np.arange(math.ceil(width) + 2)  # 1-based input indices
  distance = u[:, None] - taps
  weights = scale * cubic(scale * distance) if antialias else cubic(distance)
  weights /= weights.sum(axis=1, keepdims=True)
  source = reflect((taps - 1).astype(np.int64), in_length)
  matrix = np.zeros((out_length, in_length), np.float64)
  np.add.at(matrix, (np.repeat(np.arange(out_length), taps.shape[1]), source.ravel()),
            weights.ravel())
  matrix.setflags(write=False)
  return matrix


def weight_matrix(in_length: int, out_length: int, scale: float,
                  antialiasing: bool = True) -> np.ndarray:
  """The ``[out_length, in_length]`` matrix of MATLAB's bicubic resize along one axis.

  Row ``x`` holds the weights of output pixel ``x`` on the input pixels, mirrored taps
  folded onto the pixels they copy; each row sums to 1 (the algorithm is in the module
  docstring). Read-only and cached.

  Args:
    in_length: input pixels along the axis.
    out_length: output pixels along the axis.
    scale: the resize factor ``s`` of the coordinate mapping (MATLAB: the given scale, or
      ``out_length / in_length`` when an output size is given).
    antialiasing: widen the kernel by ``1 / s`` when ``s < 1`` (MATLAB's default).

  Raises:
    ValueError: when the axis would take more than ``MAX_TAPS`` kernel taps in all: a scale
      far below ``1 / in_length`` (its antialiased kernel spans ``4 / s`` pixels), or an
      axis of about a million pixels.

  References:
    Keys, IEEE TASSP 1981; MATLAB ``imresize`` (``contributions``).
  """
  width = _kernel_width(scale, antialiasing)
  if not math.isfinite(width) or out_length * (math.ceil(width) + 2) > MAX_TAPS:
    taps = f'{math.ceil(width) + 2:,}' if math.isfinite(width) else 'infinitely many'
    why = (f' (the antialiasing kernel spans 4 / scale pixels; a scale below 1/{in_length} '
           'makes the axis 1 pixel anyway: give a larger scale or output_shape)'
           if _widened(scale, antialiasing) and scale * in_length < 1 else '')
    raise ValueError(
        f'Resizing an axis of {in_length} pixels to {out_length} (scale {scale:g}) takes '
        f'{taps} kernel taps for each output pixel: more than {MAX_TAPS:,} in all '
        f'(bicubic.MAX_TAPS){why}.')
  return _weight_matrix(int(in_length), int(out_length), float(scale), bool(antialiasing))


def imresize(images: np.ndarray, scale: float | None = None,
             output_shape: Sequence[int] | None = None,
             antialiasing: bool = True) -> np.ndarray:
  """MATLAB's ``imresize(images, scale, 'bicubic')`` of float images (NumPy).

  Args:
    images: float images ``[H, W, C]`` or ``[N, H, W, C]`` (any range).
    scale: the resize factor for both axes, e.g. ``1 / 4`` (LR inputs) or ``4``; the
      output is ``ceil(scale * H) x ceil(scale * W)`` as in MATLAB.
    output_shape: ``(out_H, out_W)`` instead of ``scale``; the per-axis scales are then
      ``out / in``.
    antialiasing: widen the kernel when downscaling (MATLAB's default, True).

  Returns:
    The resized images, same rank and dtype as ``images`` (computed in float64).

  Raises:
    ValueError: on a rank other than 3 or 4, an image of no rows or no columns, a
      non-float dtype, non-finite values, both or neither of ``scale`` and
      ``output_shape``, a non-positive scale or size, or an axis that would take more
      than ``MAX_TAPS`` kernel taps (a scale far below ``1 / H`` or ``1 / W``).

  References:
    Keys, IEEE TASSP 1981; MATLAB ``imresize``; Ledig et al., CVPR 2017 (LR inputs made by
    bicubic downsampling with factor 4).
  """
  images = np.asarray(images)
  if images.ndim not in (3, 4):
    raise ValueError(f'images must be [H, W, C] or [N, H, W, C]; got shape {images.shape}.')
  if not np.issubdtype(images.dtype, np.floating):
    raise ValueError(f'images must be float (MATLAB rounds between passes on integer '
                     f'images, which this does not mimic); got dtype {images.dtype}.')
  check_finite(images, 'images')
  in_h, in_w = images.shape[-3:-1]
  if not in_h or not in_w:  # nothing to resize from (the scales out / in are undefined)
    raise ValueError(f'images must have at least one row and one column; got shape '
                     f'{images.shape}.')
  if (scale is None) == (output_shape is None):
    raise ValueError(f'Give exactly one of scale and output_shape; got scale={scale!r}, '
                     f'output_shape={output_shape!r}.')
  if scale is not None:
    if not is_real_number(scale) or not np.isfinite(scale) or scale <= 0:
      raise ValueError(f'scale must be a positive number; got {scale!r}.')
    scales = (float(scale), float(scale))
    out_h, out_w = math.ceil(scale * in_h), math.ceil(scale * in_w)
  else:
    try:
      out_h, out_w = output_shape
    except (TypeError, ValueError):  # not a pair
      out_h = out_w = None
    if not all(is_real_number(n) and np.isfinite(n) and int(n) == n and n >= 1
               for n in (out_h, out_w)):
      raise ValueError(f'output_shape must be two positive ints (H, W); got {output_shape!r}.')
    out_h, out_w = int(out_h), int(out_w)
    scales = (out_h / in_h, out_w / in_w)

  x = images.astype(np.float64)
  batched = x.ndim == 4
  if not batched:
    x = x[None]
  matrix_h = weight_matrix(in_h, out_h, scales[0], antialiasing)
  matrix_w = weight_matrix(in_w, out_w, scales[1], antialiasing)
  for axis in np.argsort(scales, kind='stable'):  # the smaller scale first, as MATLAB
    if axis == 0:
      x = np.einsum('oh,nhwc->nowc', matrix_h, x, optimize=True)
    else:
      x = np.einsum('ow,nhwc->nhoc', matrix_w, x, optimize=True)
  x = x.astype(images.dtype, copy=False)
  return x if batched else x[0]
