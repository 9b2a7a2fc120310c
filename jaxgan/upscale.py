"""Super-resolving images of any size with a trained generator, in tiles.

A large low-resolution image is cut into tiles of ``tile`` pixels; each is run with a
``margin`` of real neighbouring pixels around it (cut at the image's own edges), and only
its centre is kept. A convolutional generator's output at a pixel depends on the inputs
within its receptive-field radius, so with ``margin`` at least that radius the tiled
result equals the whole-image one (no seam), while memory stays bounded by the tile.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable

import numpy as np

Generate = Callable[[np.ndarray], np.ndarray]  # lr [1, h, w, 3] -> hr [1, h*s, w*s, 3]
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def upscale(generate: Generate, lr: np.ndarray, scale: int, tile: int = 128,
            margin: int = 32) -> np.ndarray:
  """``generate`` applied to ``lr [h, w, 3]`` in tiles; returns ``[h*scale, w*scale, 3]``.

  Args:
    generate: the generator on one image ``[1, h', w', 3] -> [1, h'*scale, w'*scale, 3]``.
    lr: the low-resolution image in [-1, 1].
    scale: the generator's upscaling factor.
    tile: the side of the tiles (LR pixels); an image that fits in one is run whole.
    margin: LR pixels of context around each tile (>= the receptive-field radius for a
      seamless, exact result).
  """
  lr = np.asarray(lr, np.float32)
  if lr.ndim != 3:
    raise ValueError(f'lr must be one image [h, w, C]; got shape {lr.shape}.')
  h, w = lr.shape[:2]
  if h <= tile and w <= tile:
    return np.asarray(generate(lr[None]))[0]
  out = np.zeros((h * scale, w * scale, lr.shape[2]), np.float32)
  for top in range(0, h, tile):
    for left in range(0, w, tile):
      bottom, right = min(top + tile, h), min(left + tile, w)
      t0, l0 = max(top - margin, 0), max(left - margin, 0)
      t1, l1 = min(bottom + margin, h), min(right + margin, w)
      sr = np.asarray(generate(lr[None, t0:t1, l0:l1]))[0]
      out[top * scale:bottom * scale, left * scale:right * scale] = sr[
          (top - t0) * scale:(bottom - t0) * scale, (left - l0) * scale:(right - l0) * scale]
  return out


def num_tiles(shape: tuple[int, int], tile: int) -> int:
  """How many tiles :func:`upscale` runs for an LR image of ``shape``."""
  return 1 if max(shape) <= tile else math.ceil(shape[0] / tile) * math.ceil(shape[1] / tile)


def read_image(path: str) -> np.ndarray:
  """A PNG/JPEG file as RGB float32 ``[h, w, 3]`` in [-1, 1].

  Raises:
    FileNotFoundError: no such file.
    ValueError: the file is not an image.
  """
  from PIL import Image, UnidentifiedImageError
  if not os.path.isfile(path):
    raise FileNotFoundError(f'No such image file: {path}')
  try:
    with Image.open(path) as im:
      image = np.asarray(im.convert('RGB'))
  except (UnidentifiedImageError, OSError) as e:
    raise ValueError(f'{path} is not an image PIL can read ({e}).') from None
  return image.astype(np.float32) / 127.5 - 1.0


def write_image(path: str, image: np.ndarray) -> None:
  """Writes ``image [h, w, 3]`` in [-1, 1] (clipped) as 8-bit PNG or JPEG (by suffix)."""
  from PIL import Image
  if not path.lower().endswith(IMAGE_SUFFIXES):
    raise ValueError(f'The output must end in {", ".join(IMAGE_SUFFIXES)}; got {path}.')
  pixels = np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
  jpeg = path.lower().endswith(('.jpg', '.jpeg'))
  Image.fromarray(pixels).save(path, **({'quality': 95} if jpeg else {}))
