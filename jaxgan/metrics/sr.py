"""PSNR and SSIM of super-resolved images, in the conventions SR papers report.

SR papers (SRGAN, ESRGAN, EDSR, ...) score 8-bit images on the Y channel of MATLAB's
``rgb2ycbcr`` (ITU-R BT.601) after cropping a border as wide as the scale factor; BasicSR's
model zoo scores all three RGB channels with the same crop. The two give different numbers
for the same images, so every result carries its ``convention`` string.

Inputs are jaxgan images in [-1, 1]; they are first quantized to 8-bit levels exactly as
saving a PNG would (``round(255 * clip((x + 1) / 2, 0, 1))``), so a score equals the one
BasicSR or MATLAB computes on the saved files. The Y channel is kept unrounded (float),
as BasicSR's ``to_y_channel`` and scikit-image's ``rgb2ycbcr`` do (MATLAB scripts that
call ``rgb2ycbcr`` on ``uint8`` images round Y to integers; that differs by ~0.01 dB).

SSIM is dm-pix's ``ssim``, which is the definition of Wang et al. (2004) and their MATLAB
``ssim_index``: a normalized 11x11 Gaussian window, sigma 1.5, 'valid' filtering (no
padding; the map is (H - 10) x (W - 10)), population (biased) local moments,
C1 = (0.01 L)^2, C2 = (0.03 L)^2, the mean of the map, and for several channels the mean
over channels (as BasicSR). Its two extra clamps (variances >= eps^2, |covariance| <=
sqrt(var_x var_y)) hold anyway in exact arithmetic, so they only guard float round-off.
On concrete images its moments are taken in float64 (on the host's CPU): in float32 a flat
region near white lost up to 9e-5 of SSIM to cancellation in ``E[x^2] - mu^2``. Traced
under ``jit`` (scoring inside a compiled step) they stay float32.

PSNR is the same formula as dm-pix's ``psnr`` but differences the 8-bit levels *before*
the (affine) Y transform: that difference is exact, so identical images give ``inf``
under ``jit`` too (differencing two separately converted float32 Y channels gave 160 dB,
XLA fusing the two conversions differently).
"""

from __future__ import annotations

import functools

import dm_pix as pix
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan.arrays import check_finite

CONVENTIONS = ('y', 'rgb')
# MATLAB rgb2ycbcr / ITU-R BT.601 luma row, for R, G, B in [0, 1] and Y in [16, 235].
Y_WEIGHTS = (65.481, 128.553, 24.966)
Y_OFFSET = 16.0
SSIM_WINDOW = 11
# Slack on [-1, 1] before clipping, as jaxgan.metrics.inception allows.
_RANGE_SLACK = 1e-3


def convention_name(convention: str, crop_border: int) -> str:
  """The string that names a score's convention, e.g. ``'Y channel (BT.601), border 4'``."""
  _check_convention(convention)
  channels = 'Y channel (BT.601)' if convention == 'y' else 'RGB'
  return f'{channels}, border {crop_border}'


def to_8bit(images: jax.Array) -> jax.Array:
  """Images in [-1, 1] -> float32 8-bit levels in [0, 255], as a saved PNG holds them.

  ``q = round(255 * clip((x + 1) / 2, 0, 1))`` (round half to even, as NumPy, JAX and
  PyTorch's ``round``; BasicSR's ``tensor2img`` does the same on [0, 1] images).
  """
  x = jnp.clip((jnp.asarray(images, jnp.float32) + 1.0) / 2.0, 0.0, 1.0)
  return jnp.round(x * 255.0)


def rgb_to_y(images: jax.Array) -> jax.Array:
  """Y channel of MATLAB's ``rgb2ycbcr`` (ITU-R BT.601) of RGB images in [0, 255].

  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` for R, G, B in [0, 255]
  (equivalently ``16 + 65.481 r + 128.553 g + 24.966 b`` for r, g, b in [0, 1]);
  Y lies in [16, 235] and is not rounded. The channel order is RGB (BasicSR's
  ``bgr2ycbcr`` is the same with the weights reversed, for OpenCV's BGR images).

  Args:
    images: ``[..., 3]`` RGB values in [0, 255].

  Returns:
    ``[..., 1]`` float32 Y values in [16, 235].

  References:
    ITU-R Recommendation BT.601; MATLAB ``rgb2ycbcr``; Ledig et al., Photo-Realistic Single
    Image Super-Resolution Using a Generative Adversarial Network, CVPR 2017 (Y-channel
    evaluation).
  """
  images = jnp.asarray(images, jnp.float32)
  if images.shape[-1:] != (3,):
    raise ValueError(f'rgb_to_y needs RGB images [..., 3]; got shape {images.shape}.')
  return Y_OFFSET + _weighted_sum(images)


def _weighted_sum(images: jax.Array) -> jax.Array:
  """``(65.481 R + 128.553 G + 24.966 B) / 255`` of ``[..., 3]``, as ``[..., 1]``."""
  # HIGHEST: a GPU's default float32 matmul (TF32, 10-bit mantissa) would round Y by ~0.1.
  return jnp.matmul(images, jnp.asarray(Y_WEIGHTS, jnp.float32)[:, None] / 255.0,
                    precision=jax.lax.Precision.HIGHEST)


def psnr(sr: jax.Array, hr: jax.Array, *, crop_border: int,
         convention: str = 'y') -> jax.Array:
  """Peak signal-to-noise ratio (dB) of 8-bit images, per image.

  ``PSNR = 10 log10(255^2 / MSE)``, the MSE taken over the cropped pixels (and over the
  three channels for ``'rgb'``). Identical images give ``inf`` (as BasicSR).

  Args:
    sr: super-resolved images ``[N, H, W, 3]`` or ``[H, W, 3]`` in [-1, 1].
    hr: ground-truth images of the same shape in [-1, 1].
    crop_border: pixels dropped at each edge before scoring (SR papers: the scale).
    convention: ``'y'`` (Y channel, BT.601; SR papers) or ``'rgb'`` (BasicSR model zoo).

  Returns:
    PSNR per image ``[N]`` (a scalar for one image ``[H, W, 3]``), float32.

  Raises:
    ValueError: on mismatched or wrong shapes, no images, integer images, an unknown
      convention, a crop that leaves no pixels, or (outside ``jit``) values outside
      [-1, 1] or not finite.

  References:
    Ledig et al., CVPR 2017 (SRGAN; Y channel, border = scale); Wang et al., ESRGAN, ECCV
    Workshops 2018.
  """
  _check(sr, hr, crop_border, convention, min_size=1)
  return _psnr(sr, hr, int(crop_border), convention)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _psnr(sr: jax.Array, hr: jax.Array, crop_border: int, convention: str) -> jax.Array:
  diff = _crop_8bit(sr, crop_border) - _crop_8bit(hr, crop_border)  # exact: integer levels
  if convention == 'y':  # Y is affine: Y(a) - Y(b) = (weights . (a - b)) / 255
    diff = _weighted_sum(diff)
  mse = jnp.mean(jnp.square(diff), axis=(-3, -2, -1))
  return 10.0 * jnp.log10(255.0 ** 2 / mse)


def ssim(sr: jax.Array, hr: jax.Array, *, crop_border: int,
         convention: str = 'y') -> jax.Array:
  """Structural similarity of 8-bit images (Wang et al. 2004, MATLAB ``ssim_index``).

  With 11x11 Gaussian (sigma 1.5) local means ``mu``, variances ``s^2`` and covariance
  ``s_xy`` over 'valid' windows, ``SSIM = mean[(2 mu_x mu_y + C1)(2 s_xy + C2) /
  ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))]`` with ``C1 = (0.01 * 255)^2``,
  ``C2 = (0.03 * 255)^2``; for ``'rgb'`` the mean over the three channels (as BasicSR).

  Args:
    sr: super-resolved images ``[N, H, W, 3]`` or ``[H, W, 3]`` in [-1, 1].
    hr: ground-truth images of the same shape in [-1, 1].
    crop_border: pixels dropped at each edge before scoring (SR papers: the scale).
    convention: ``'y'`` (Y channel, BT.601; SR papers) or ``'rgb'`` (BasicSR model zoo).

  Returns:
    SSIM per image ``[N]`` (a scalar for one image ``[H, W, 3]``), float32; computed in
    float64 unless traced.

  Raises:
    ValueError: as :func:`psnr`, and when the cropped image is smaller than 11x11.

  References:
    Wang, Bovik, Sheikh & Simoncelli, Image Quality Assessment: From Error Visibility to
    Structural Similarity, IEEE TIP 2004.
  """
  _check(sr, hr, crop_border, convention, min_size=SSIM_WINDOW)
  if isinstance(sr, jax.core.Tracer) or isinstance(hr, jax.core.Tracer):
    return _ssim(sr, hr, int(crop_border), convention, False)
  # Concrete images (an evaluation): the local moments in float64, on the host's CPU. In
  # float32, E[x^2] - mu^2 near white (230^2 = 52,900) cancels to ~0.01 of a level, and a
  # flat bright region's SSIM came out up to 9e-5 low (papers print 4 decimals); float64
  # agrees with the closed form to 1e-15. The 8-bit levels and Y are as in float32.
  try:
    put = functools.partial(jax.device_put, device=jax.devices('cpu')[0])
  except RuntimeError:  # JAX_PLATFORMS without cpu: on the default device
    put = jnp.asarray
  with jax.enable_x64(True):
    out = np.asarray(_ssim(put(sr), put(hr), int(crop_border), convention, True))
  return jnp.asarray(out.astype(np.float32))


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _ssim(sr: jax.Array, hr: jax.Array, crop_border: int, convention: str,
          float64: bool) -> jax.Array:
  a, b = _crop_8bit(sr, crop_border), _crop_8bit(hr, crop_border)
  if convention == 'y':
    a, b = rgb_to_y(a), rgb_to_y(b)
  if float64:  # (under jax.enable_x64)
    a, b = a.astype(jnp.float64), b.astype(jnp.float64)
  return pix.ssim(a, b, max_val=255.0, filter_size=SSIM_WINDOW, filter_sigma=1.5,
                  k1=0.01, k2=0.03)


def sr_metrics(sr: jax.Array, hr: jax.Array, *, crop_border: int,
               convention: str = 'y') -> dict:
  """PSNR and SSIM of a batch, per image and averaged, with the name of the convention.

  Args:
    sr: super-resolved images ``[N, H, W, 3]`` or ``[H, W, 3]`` in [-1, 1].
    hr: ground-truth images of the same shape in [-1, 1].
    crop_border: pixels dropped at each edge before scoring (SR papers: the scale).
    convention: ``'y'`` or ``'rgb'``.

  Returns:
    ``{'psnr': mean dB, 'ssim': mean SSIM, 'psnr_per_image': [N], 'ssim_per_image': [N],
    'convention': e.g. 'Y channel (BT.601), border 4'}`` (floats and NumPy float64
    arrays). The means are over images (as SR papers average a test set); any identical
    pair makes the mean PSNR ``inf``.
  """
  if np.ndim(sr) == 3 and np.shape(sr) == np.shape(hr):  # else psnr names the shapes given
    sr, hr = jnp.asarray(sr)[None], jnp.asarray(hr)[None]
  p = np.asarray(psnr(sr, hr, crop_border=crop_border, convention=convention), np.float64)
  s = np.asarray(ssim(sr, hr, crop_border=crop_border, convention=convention), np.float64)
  return {'psnr': float(p.mean()), 'ssim': float(s.mean()), 'psnr_per_image': p,
          'ssim_per_image': s, 'convention': convention_name(convention, crop_border)}


def _check_convention(convention: str) -> None:
  if convention not in CONVENTIONS:
    raise ValueError(f'Unknown convention {convention!r}; valid ones are: '
                     f'{", ".join(CONVENTIONS)}.')


def _check_values(x: jax.Array, name: str) -> None:
  """Range and finiteness checks, possible only on concrete (not traced) arrays."""
  if isinstance(x, jax.core.Tracer):
    return
  x = np.asarray(x)
  check_finite(x, name)
  lo, hi = float(x.min()), float(x.max())
  if lo < -1.0 - _RANGE_SLACK or hi > 1.0 + _RANGE_SLACK:
    raise ValueError(f'{name} must lie in [-1, 1]; got [{lo:.4g}, {hi:.4g}]. Images from a '
                     'generator without a final tanh need jnp.clip(x, -1, 1) first, as '
                     'saving a PNG would do.')


def _check(sr: jax.Array, hr: jax.Array, crop_border: int, convention: str,
           min_size: int) -> None:
  """Checks the convention, the shapes, the crop and (when concrete) the values."""
  _check_convention(convention)
  sr_shape, hr_shape = tuple(np.shape(sr)), tuple(np.shape(hr))
  if sr_shape != hr_shape:
    raise ValueError(f'sr and hr must have the same shape; got sr {sr_shape} and hr '
                     f'{hr_shape}.')
  if len(sr_shape) not in (3, 4) or sr_shape[-1] != 3:
    raise ValueError(f'Images must be RGB [N, H, W, 3] or [H, W, 3]; got {sr_shape}.')
  if len(sr_shape) == 4 and not sr_shape[0]:
    raise ValueError(f'No images to score: sr and hr have shape {sr_shape}.')
  for name, x in (('sr', sr), ('hr', hr)):
    dtype = x.dtype if hasattr(x, 'dtype') else np.asarray(x).dtype
    if not jnp.issubdtype(dtype, jnp.floating):  # 8-bit levels of 0 and 1 pass the range
      raise ValueError(f'{name} must be a floating-point image in [-1, 1]; got {dtype}. Map '
                       'stored 8-bit images with x / 127.5 - 1.')
  if isinstance(crop_border, bool) or not isinstance(crop_border, (int, np.integer)) \
      or crop_border < 0:
    raise ValueError(f'crop_border must be an int >= 0; got {crop_border!r}.')
  h, w = sr_shape[-3] - 2 * crop_border, sr_shape[-2] - 2 * crop_border
  if min(h, w) < min_size:
    raise ValueError(f'Images {sr_shape[-3]}x{sr_shape[-2]} cropped by {crop_border} at '
                     f'each edge leave {h}x{w} pixels; at least {min_size}x{min_size} are '
                     'needed.')
  _check_values(sr, 'sr')
  _check_values(hr, 'hr')


def _crop_8bit(x: jax.Array, b: int) -> jax.Array:
  x = to_8bit(x)
  return x[..., b:x.shape[-3] - b, b:x.shape[-2] - b, :]
