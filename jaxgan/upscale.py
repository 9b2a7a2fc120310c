"""Super-resolving images of any size with a trained generator, in tiles.

A large low-resolution image is cut into tiles of ``tile`` pixels; each runs inside a
window of ``tile + 2 * margin`` pixels of real neighbouring pixels (moved inwards at the
image's edges, so that every window has the same shape and the generator compiles once),
and only the tile is kept. A convolutional generator's output at a pixel depends on the
inputs within its receptive-field radius (:func:`jaxgan.models.sr.receptive_radius`), so
with ``margin`` at least that radius the tiled result equals the whole-image one (no seam),
while the generator's memory stays bounded by one window (the output is one float32 array
of the whole image). An image (or an axis of it) that fits in one
window runs whole.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from absl import logging

from jaxgan import files
from jaxgan.arrays import check_finite
from jaxgan.data import paired

Generate = Callable[[np.ndarray], np.ndarray]  # lr [1, h, w, 3] -> hr [1, h*s, w*s, 3]
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def _windows(size: int, tile: int, margin: int) -> list[tuple[int, int, int]]:
  """One axis: ``(start, stop, window_start)`` of each tile; windows are
  ``min(tile + 2 * margin, size)`` long and hold ``[start - margin, stop + margin)`` (cut at
  the edges)."""
  window = tile + 2 * margin
  if size <= window:
    return [(0, size, 0)]
  return [(a, min(a + tile, size), min(max(a - margin, 0), size - window))
          for a in range(0, size, tile)]


def upscale(generate: Generate, lr: np.ndarray, scale: int, *, margin: int,
            tile: int = 128) -> np.ndarray:
  """``generate`` applied to ``lr [h, w, 3]`` in tiles; returns ``[h*scale, w*scale, 3]``.

  Args:
    generate: the generator on one image ``[1, h', w', 3] -> [1, h'*scale, w'*scale, 3]``.
    lr: the low-resolution image in [-1, 1].
    scale: the generator's upscaling factor.
    margin: LR pixels of context around each tile: at least the generator's
      receptive-field radius for a result equal to the whole-image one; less trades
      exactness (seams) for speed.
    tile: the side of the tiles (LR pixels); the generator's memory is bounded by one
      window of ``tile + 2 * margin`` pixels a side.
  """
  given = np.asarray(lr)
  lr = given.astype(np.float32)
  if lr.ndim != 3:
    raise ValueError(f'lr must be one image [h, w, C]; got shape {lr.shape}.')
  # 8-bit values (0..255) would be upscaled as if far beyond white; a resampled image may
  # overshoot [-1, 1] a little, so only a clear miss is refused.
  if lr.size and (np.issubdtype(given.dtype, np.integer) or np.abs(lr).max() > 1.5):
    raise ValueError(f'lr must be an image in [-1, 1] (float); got {given.dtype} values in '
                     f'[{lr.min():g}, {lr.max():g}]. Map a stored image with '
                     'jaxgan.data.paired.to_unit_range (8-bit: x / 127.5 - 1).')
  if tile < 1 or margin < 0:
    raise ValueError(f'tile must be >= 1 and margin >= 0; got tile={tile}, margin={margin}.')
  rows, cols = (_windows(n, tile, margin) for n in lr.shape[:2])
  if len(rows) == len(cols) == 1:
    return np.asarray(generate(lr[None]))[0]
  wh, ww = (min(tile + 2 * margin, n) for n in lr.shape[:2])
  out = np.zeros((lr.shape[0] * scale, lr.shape[1] * scale, lr.shape[2]), np.float32)
  for top, bottom, t0 in rows:
    for left, right, l0 in cols:
      sr = np.asarray(generate(lr[None, t0:t0 + wh, l0:l0 + ww]))[0]
      out[top * scale:bottom * scale, left * scale:right * scale] = sr[
          (top - t0) * scale:(bottom - t0) * scale, (left - l0) * scale:(right - l0) * scale]
  return out


def num_tiles(shape: tuple[int, int], tile: int, margin: int) -> int:
  """How many windows :func:`upscale` runs for an LR image of ``shape``."""
  return math.prod(len(_windows(n, tile, margin)) for n in shape)


def default_tile(margin: int) -> int:
  """``launch.upscale``'s tile side for ``margin``: ``max(128, 2 * margin)`` input pixels.
  A full tile's window then computes at most 4x its pixels ((t + 2m)^2 / t^2 at t = 2m),
  and a small margin still gets tiles large enough to keep the per-window overhead low.
  A short last tile costs a whole window (:func:`upscale` moves it inwards), so a side
  just over one window's costs up to about 3x per axis."""
  return max(128, 2 * margin)


# An image file as RGB float32 [h, w, 3] in [-1, 1] (EXIF orientation applied, 16-bit kept).
read_image = paired.read_image


def color_profile(path: str) -> bytes | None:
  """The ICC colour profile embedded in an image file (Display P3 phone photos, Adobe RGB
  exports), or ``None``. The model upscales the stored values; :func:`write_image` tags
  the result with the same profile, so that a colour-managed viewer shows its colours as
  the input's (untagged, they would be read as sRGB and shift).

  Only an RGB profile is kept: the output is RGB, and a grayscale or CMYK profile on it
  is invalid (colour-managed software refuses the file); such an input's output is
  written untagged (sRGB), with a warning."""
  from PIL import Image
  with Image.open(path) as im:
    profile = im.info.get('icc_profile') or None
  space = profile[16:20] if profile and len(profile) >= 20 else b''  # the ICC header's
  if profile and space != b'RGB ':
    logging.warning('%s has a %s colour profile, which cannot tag the RGB output: it is '
                    'written without one (read as sRGB).', path,
                    space.decode('ascii', 'replace').strip() or 'malformed')
    return None
  return profile


# The largest JPEG width and height Pillow's (libjpeg's) writer takes: 65,500 pixels (the
# format's own limit is 65,535; a side between them failed after the work, in OSError).
JPEG_MAX_SIDE = 65500


def check_output_size(path: str, shape: tuple[int, int]) -> None:
  """``ValueError`` when an image of ``shape`` (h, w) cannot be written to ``path``'s
  format: a JPEG side is at most 65,500 pixels. For a check before the work."""
  if path.lower().endswith(('.jpg', '.jpeg')) and max(shape) > JPEG_MAX_SIDE:
    raise ValueError(f'The output would be {shape[1]}x{shape[0]} pixels; a JPEG side is at '
                     f'most {JPEG_MAX_SIDE}: write a .png ({path}).')


def write_image(path: str, image: np.ndarray, icc_profile: bytes | None = None) -> None:
  """Writes ``image [h, w, 3]`` in [-1, 1] (clipped) as 8-bit PNG or JPEG (by suffix),
  tagged with ``icc_profile`` when given (:func:`color_profile` of the input).

  Raises:
    ValueError: a suffix that is not an image's, a JPEG side over 65,500 pixels, or a
      non-finite value (nothing is written).
  """
  from PIL import Image
  if not path.lower().endswith(IMAGE_SUFFIXES):
    raise ValueError(f'The output must end in {", ".join(IMAGE_SUFFIXES)}; got {path}.')
  check_output_size(path, image.shape[:2])
  # The uint8 cast would write them as black, silently.
  check_finite(image, f'the image for {path}',
               ', from the generator (a diverged checkpoint?); nothing was written')
  pixels = np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
  options = {'quality': 95} if path.lower().endswith(('.jpg', '.jpeg')) else {}
  if icc_profile:
    options['icc_profile'] = icc_profile
  with files.replacing(path) as tmp:  # an earlier file stays whole until this one is
    Image.fromarray(pixels).save(tmp, **options)
