"""Paired super-resolution data: random high-resolution crops and their bicubic x``scale``
low-resolution images, made as SR papers make them (MATLAB ``imresize``,
:mod:`jaxgan.data.bicubic`, then 8-bit quantized as a saved LR image is).

Sources of high-resolution images:

* ``photos`` (offline default): the colour photographs that scikit-image and scikit-learn
  ship; a fixed few are held out for evaluation (:data:`HELD_OUT_PHOTOS`);
* ``folder``: a folder of the user's own PNG/JPEG images (``data.path``);
* ``div2k`` and any TFDS image set (``sr_tfds`` with ``tfds_name``): prepared TFDS data.

A batch is ``{'x': HR crops [n_critic, B, S, S, 3], 'lr': [n_critic, B, S/scale,
S/scale, 3]}`` in [-1, 1]; crops are uniform over the image's positions on the LR grid, the
LR crop is the matching window of the whole image's LR (:func:`random_pair`), both are
flipped and rotated by one random element of the dihedral group (as BasicSR's
``paired_random_crop`` and ``augment``), and each epoch visits every training image once.
Evaluation pairs are whole held-out images cropped to a multiple of ``scale``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence

import numpy as np
from absl import logging

from jaxgan.arrays import check_finite
from jaxgan.data import bicubic
from jaxgan.metrics.sr import SSIM_WINDOW
from jaxgan.validation import DataError

# scikit-image / scikit-learn colour photographs (no network needed).
TRAIN_PHOTOS = ('rocket', 'china', 'flower', 'hubble_deep_field', 'motorcycle_left',
                'immunohistochemistry', 'retina')
HELD_OUT_PHOTOS = ('astronaut', 'chelsea', 'coffee')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp')


def to_rgb(image: np.ndarray) -> np.ndarray:
  """``[H, W]`` or ``[H, W, C]`` (C 1, 3 or 4) -> RGB ``[H, W, 3]``, in its own dtype."""
  image = np.asarray(image)
  if image.ndim == 2:
    image = image[..., None]
  if image.ndim != 3 or image.shape[-1] not in (1, 3, 4):
    raise ValueError(f'Expected an image [H, W] or [H, W, 1|3|4]; got shape {image.shape}.')
  return np.repeat(image, 3, -1) if image.shape[-1] == 1 else image[..., :3]


def to_unit_range(image: np.ndarray) -> np.ndarray:
  """A stored image ``[H, W]`` or ``[H, W, C]`` (C 1, 3 or 4; uint8, or uint16 for 16-bit
  files, :func:`read_stored`) -> float32 RGB ``[H, W, 3]`` in [-1, 1]; a float image must
  be in [-1, 1] already.

  Raises:
    ValueError: a float image with a non-finite value or one outside [-1, 1] (a [0, 255]
      one, say), or an image of another dtype.
  """
  image = to_rgb(image)
  if image.dtype == np.uint8:
    return image.astype(np.float32) / 127.5 - 1.0
  if image.dtype == np.uint16:
    return (image.astype(np.float64) / 65535.0 * 2.0 - 1.0).astype(np.float32)
  if not np.issubdtype(image.dtype, np.floating):
    raise ValueError(f'Expected a uint8, uint16 or float image; got {image.dtype}.')
  image = np.asarray(image, np.float32)
  check_finite(image, 'a float image')
  lo, hi = (float(image.min()), float(image.max())) if image.size else (0.0, 0.0)
  if lo < -1.001 or hi > 1.001:
    raise ValueError(f'A float image must lie in [-1, 1]; got [{lo:.3f}, {hi:.3f}] (give '
                     'uint8 for [0, 255], or 2 * x - 1 for [0, 1]).')
  return image


def quantize(x: np.ndarray) -> np.ndarray:
  """Rounds [-1, 1] images to the 256 levels of an 8-bit file (and clips)."""
  return (np.round((np.clip(x, -1.0, 1.0) + 1.0) * 127.5) / 127.5 - 1.0).astype(np.float32)


def downscale(hr: np.ndarray, scale: int) -> np.ndarray:
  """The LR image of ``hr`` ``[..., H, W, 3]`` (H, W multiples of ``scale``): MATLAB bicubic
  1/scale, 8-bit quantized."""
  return quantize(bicubic.imresize(hr, 1.0 / scale))


def crop_to_multiple(image: np.ndarray, scale: int) -> np.ndarray:
  """``image`` cropped (bottom/right) to height and width multiples of ``scale``."""
  h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
  return image[:h, :w]


@functools.lru_cache(maxsize=1)
def _photos() -> dict[str, np.ndarray]:
  import skimage.data
  from sklearn.datasets import load_sample_images
  out = {}
  sample = load_sample_images()
  for path, image in zip(sample.filenames, sample.images, strict=True):
    out[os.path.splitext(os.path.basename(path))[0]] = image
  out['motorcycle_left'] = skimage.data.stereo_motorcycle()[0]
  for name in set(TRAIN_PHOTOS + HELD_OUT_PHOTOS) - set(out):
    out[name] = getattr(skimage.data, name)()
  return {k: to_unit_range(v) for k, v in out.items()}


def photos(split: str) -> list[np.ndarray]:
  """The offline photographs of ``split`` ('train' or 'test') in [-1, 1]."""
  names = {'train': TRAIN_PHOTOS, 'test': HELD_OUT_PHOTOS}[split]
  return [_photos()[n] for n in names]


def read_image(path: str) -> np.ndarray:
  """A PNG/JPEG/BMP file as RGB float32 ``[h, w, 3]`` in [-1, 1], as a viewer shows it
  (:func:`read_stored`, then :func:`to_unit_range`)."""
  return to_unit_range(read_stored(path))


def read_stored(path: str) -> np.ndarray:
  """A PNG/JPEG/BMP file as RGB ``[h, w, 3]`` in its stored precision, uint8 (uint16 for
  a 16-bit grayscale file): a quarter (a half) of float32's memory, for a folder of
  images held for training.

  The EXIF orientation is applied (a phone photo stored sideways comes out upright; an
  unreadable EXIF block is warned about and the image used as stored);
  16-bit grayscale images keep their full range (Pillow's ``convert('RGB')`` would clip
  them at 255; Pillow itself reads 16-bit colour PNGs at 8 bits);
  grayscale becomes three equal channels; an alpha channel is dropped, with a warning
  (transparent pixels take the colour stored under them).

  Raises:
    FileNotFoundError: no such file.
    DataError: the file is not an image PIL can read (named, with PIL's reason), one past
      Pillow's pixel limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, 179 million), or a
      floating-point or 32-bit integer one; a ValueError.
  """
  from PIL import Image, ImageOps, UnidentifiedImageError
  if os.path.isdir(path):
    raise FileNotFoundError(f'{path} is a folder, not an image file.')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'No such image file: {path}')
  try:
    with Image.open(path) as im:
      try:
        im = ImageOps.exif_transpose(im)
      except OSError:  # a truncated or broken file: not an image (below)
        raise
      except Exception as e:  # a malformed EXIF block (Pillow raises many kinds of error)
        logging.warning('%s: its EXIF orientation cannot be read (%s: %s); the image is '
                        'used as stored.', path, type(e).__name__, e)
      if im.mode in ('RGBA', 'LA', 'PA', 'RGBa', 'La') or 'transparency' in im.info:
        logging.warning('%s has an alpha channel: it is dropped (transparent pixels take the '
                        'colour stored under them).', path)
      if im.mode == 'F':
        raise DataError(f'{path} is a floating-point image (mode F), whose range has no '
                        'standard; save it as an 8- or 16-bit PNG.')
      if im.mode in ('I', 'I;16', 'I;16B', 'I;16L'):  # 16-bit grayscale (PIL reads 'I')
        gray = np.asarray(im, np.int64)
        if gray.min() < 0 or gray.max() > 65535:  # a 32-bit integer image, not 16-bit
          raise DataError(f'{path} holds values in [{gray.min():.0f}, {gray.max():.0f}], '
                          'outside 16 bits; save it as an 8- or 16-bit PNG.')
        return np.repeat(gray.astype(np.uint16)[..., None], 3, -1)
      return np.asarray(im.convert('RGB'), np.uint8)
  except Image.DecompressionBombError as e:  # a valid image, past Pillow's pixel limit
    raise DataError(f'{path} is larger than Pillow opens ({e}); PIL.Image.MAX_IMAGE_PIXELS '
                    'sets the limit (twice it raises this).') from None
  except (UnidentifiedImageError, OSError) as e:
    raise DataError(f'{path} is not an image PIL can read ({e}).') from None


FOLDER_SPEC = "--config.data.name=\"folder(path='DIR')\""


def folder(path: str) -> list[np.ndarray]:
  """Every PNG/JPEG/BMP image in ``path`` (``~`` expanded; sorted by name), RGB as stored
  (uint8 or uint16, :func:`read_stored`; crops and evaluation pairs are mapped to [-1, 1]
  when drawn, so 800 DIV2K-size images take 6.7 GB, not float32's 27 GB). Hidden files
  (a leading ``.``: macOS's ``._*`` resource forks beside each copied image, editors'
  temporary files) and sub-folders are skipped.

  Raises:
    FileNotFoundError: no ``path`` given, ``path`` is not a folder, or it holds no image.
    DataError: a file that is not a readable image (named).
  """
  return [read_stored(f) for f in folder_files(path)]


def folder_files(path: str, spec: str = FOLDER_SPEC) -> list[str]:
  """The image files :func:`folder` reads, in its order (paths joined to ``path``);
  ``spec``: the data name that gives the folder, shown when none is given."""
  name = spec.split('"')[1].split('(')[0]
  if not path:
    raise FileNotFoundError(f'The {name} dataset needs the folder of images: {spec}.')
  path = os.path.expanduser(path)
  if not os.path.isdir(path):
    raise FileNotFoundError(f'The {name} dataset\'s path {path!r} is not a folder of images '
                            f'({spec}).')
  files = sorted(f for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES)
                 and not f.startswith('.') and os.path.isfile(os.path.join(path, f)))
  if not files:
    raise FileNotFoundError(f'No {"/".join(IMAGE_SUFFIXES)} image in {path}.')
  return [os.path.join(path, f) for f in files]


def held_out_indices(n: int) -> set[int]:
  """The images :func:`split_folder` holds out of ``n``."""
  if n < 2:
    return set(range(n))
  return set(range(0, n, 10)) if n >= 10 else {n - 1}


def split_folder(images: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
  """A fixed split of a folder: every tenth image (at least one, when there are two or
  more) is held out for evaluation; a single image serves both (with a warning: its
  scores are then of the training image)."""
  if len(images) < 2:
    logging.warning('The folder holds one image: it is both trained on and held out, so '
                    'its evaluation (PSNR, SSIM) scores the training image. Add images to '
                    'hold one out.')
    return images, images
  held = held_out_indices(len(images))
  return ([im for i, im in enumerate(images) if i not in held],
          [im for i, im in enumerate(images) if i in held])


def _check_fits(image: np.ndarray, crop_size: int, name: str) -> None:
  """Raises :class:`DataError` naming ``image`` (``name``) when a side is under ``crop_size``."""
  if min(image.shape[:2]) < crop_size:
    raise DataError(f'{name} of shape {image.shape} is smaller than the crop size '
                    f'{crop_size}; use a smaller data.crop_size or leave it out.')


def check_crop_fits(images: Sequence[np.ndarray], crop_size: int, what: str,
                    files: Sequence[str] | None = None) -> None:
  """Raises :class:`DataError` naming the first of ``images`` (``what``: whose; its file
  when ``files`` are given) smaller than ``crop_size`` on a side: before training, not at
  the step that first draws it."""
  for i, image in enumerate(images):
    _check_fits(image, crop_size, f'{what} image {i}' + (f' ({files[i]})' if files else ''))


def eval_min_size(scale: int) -> int:
  """The smallest side a held-out image may have at x``scale``: evaluation cuts it to a
  multiple of ``scale`` and crops ``scale`` pixels off each edge (the super-resolution
  convention), and SSIM needs ``SSIM_WINDOW`` pixels left on a side."""
  return scale * -(-(SSIM_WINDOW + 2 * scale) // scale)


def check_eval_fits(images: Sequence[np.ndarray], scale: int, what: str = 'Held-out',
                    names: Sequence[str] | None = None) -> None:
  """Raises :class:`DataError` naming the first of ``images`` (``names``: what to call
  each, else ``what`` image i) too small to be scored at x``scale``
  (:func:`eval_min_size`): before training, not at its first evaluation."""
  need = eval_min_size(scale)
  for i, image in enumerate(images):
    if min(image.shape[:2]) < need:
      name = names[i] if names else f'{what} image {i}'
      raise DataError(
          f'{name} of shape {image.shape} is too small to evaluate at x{scale}: PSNR and '
          f'SSIM crop {scale} pixels off each edge and SSIM needs {SSIM_WINDOW}x'
          f'{SSIM_WINDOW} pixels left, so a held-out image needs at least {need} pixels on '
          'a side. Leave it out, or add larger images.')


def random_pair(image: np.ndarray, size: int, scale: int, rng: np.random.Generator,
                name: str = 'Image') -> tuple[np.ndarray, np.ndarray]:
  """A random ``size``-square HR crop of ``image`` and its LR, the matching window of the
  whole image's LR (:func:`downscale` of the image cut to multiples of ``scale``, as
  evaluation and BasicSR's paired data make it), both under one random of the 8
  flips/rotations: ``([size, size, 3], [size / scale, size / scale, 3])`` in [-1, 1].

  The crop starts on the LR grid (multiples of ``scale``). Its LR is computed from the crop
  with ``3 * scale`` pixels of context on each side (the antialiased bicubic kernel reaches
  ``2 * scale`` pixels), reflected where the image ends as ``imresize`` reflects, and then
  trimmed: downscaling the bare crop instead made its 2-pixel LR border from mirrored
  pixels (up to 19 levels off the whole image's LR).
  """
  _check_fits(image, size, name)
  h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
  top = scale * rng.integers(0, (h - size) // scale + 1)
  left = scale * rng.integers(0, (w - size) // scale + 1)
  pad = 3 * scale
  window = image[np.ix_(bicubic.reflect(np.arange(top - pad, top + size + pad), h),
                        bicubic.reflect(np.arange(left - pad, left + size + pad), w))]
  hr = to_unit_range(window)
  lr = downscale(hr, scale)[3:-3, 3:-3]
  hr = hr[pad:-pad, pad:-pad]
  k, flip = rng.integers(0, 4), rng.integers(0, 2)
  hr, lr = np.rot90(hr, k), np.rot90(lr, k)
  return (hr[:, ::-1], lr[:, ::-1]) if flip else (hr, lr)


def eval_pairs(images: Sequence[np.ndarray], scale: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """``(lr, hr)`` of whole images, ``hr`` cropped to a multiple of ``scale``."""
  pairs = []
  for image in images:
    hr = crop_to_multiple(to_unit_range(image), scale)
    pairs.append((downscale(hr, scale), hr))
  return pairs


def pipeline_parts(train_images: Callable[[], Sequence[np.ndarray]], num_images: int,
                   crop_size: int, scale: int, n_critic: int, seed: int, batch_size: int,
                   host: int, num_hosts: int, epoch_indices: Callable,
                   name: str = '') -> Callable:
  """``batch(step)`` of a paired pipeline (see the module docstring); ``crop_size`` a
  multiple of ``scale`` (checked by :func:`jaxgan.data.sr_shapes`). ``name``: the
  images' set, named by an error about one of them."""

  local = batch_size // num_hosts

  def batch(step: int) -> dict[str, np.ndarray]:
    # Each example's crop has its own generator, keyed by its place in the global batch: a
    # host reads and crops only its slice, and a run trains on the same examples on any
    # number of hosts (a resume may change it).
    idx = epoch_indices(num_images, seed, step, n_critic, batch_size)
    images = train_images()
    hr = np.empty((n_critic, local, crop_size, crop_size, 3), np.float32)
    lr = np.empty((n_critic, local, crop_size // scale, crop_size // scale, 3), np.float32)
    for k in range(n_critic):
      for j, g in enumerate(range(host * local, (host + 1) * local)):
        i = int(idx[k, g])
        hr[k, j], lr[k, j] = random_pair(images[i], crop_size, scale,
                                         np.random.default_rng([seed, step, 7, k, g]),
                                         f'Training image {i}' + (f' of {name}' if name
                                                                  else ''))
    return {'x': hr, 'lr': lr}
  return batch
