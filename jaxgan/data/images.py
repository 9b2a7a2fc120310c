"""Image data: scikit-learn's bundled digits (offline) and TFDS datasets.

Images are float32 ``[N, H, W, C]`` in [-1, 1]; labels int32 ``[N]``.
"""

from __future__ import annotations

import functools
import os
import re

import jax
import numpy as np

# TFDS name -> (image size to use, channels)
TFDS_IMAGE_SETS = {
    'mnist': (28, 1),
    'fashion_mnist': (28, 1),
    'cifar10': (32, 3),
    'celeb_a': (64, 3),
}


def _resize(images: np.ndarray, size: int) -> np.ndarray:
  if images.shape[1] == size and images.shape[2] == size:
    return images
  shape = (images.shape[0], size, size, images.shape[3])
  return np.asarray(jax.image.resize(images, shape, 'bilinear'), np.float32)


def load_digits(image_size: int = 8) -> tuple[np.ndarray, np.ndarray]:
  """scikit-learn's 1,797 bundled 8x8 handwritten digits, scaled to [-1, 1].

  Args:
    image_size: side of the returned images (bilinear resize from 8, e.g. 28 for the
      classic MNIST MLP GAN).

  Returns:
    ``(images [1797, image_size, image_size, 1] float32, labels [1797] int32)``.
  """
  from sklearn.datasets import load_digits as sk_load_digits
  digits = sk_load_digits()
  images = (digits.images.astype(np.float32) / 8.0 - 1.0)[..., None]
  return np.clip(_resize(images, image_size), -1.0, 1.0), digits.target.astype(np.int32)


def digits_split(image_size: int) -> tuple[tuple[np.ndarray, np.ndarray],
                                           tuple[np.ndarray, np.ndarray]]:
  """A fixed 1,200 / 597 train / held-out split of the digits (the digit-FD reference)."""
  x, y = load_digits(image_size)
  perm = np.random.default_rng(0).permutation(len(x))
  return (x[perm[:1200]], y[perm[:1200]]), (x[perm[1200:]], y[perm[1200:]])


@functools.lru_cache(maxsize=256)
def _resize_weights(n_in: int, n_out: int) -> np.ndarray:
  """``[n_in, n_out]``: the weights of ``jax.image.resize``'s antialiased bilinear
  (triangle) kernel along one axis, as ``jax.image.compute_weight_mat`` makes them."""
  inv = n_in / n_out
  sample = (np.arange(n_out) + 0.5) * inv - 0.5  # each output pixel's centre in the input
  w = np.maximum(0.0, 1.0 - np.abs(sample - np.arange(n_in)[:, None]) / max(inv, 1.0))
  total = w.sum(0)
  w = np.where(np.abs(total) > 1000 * np.finfo(np.float32).eps,
               w / np.where(total != 0, total, 1), 0)
  return np.where((sample >= -0.5) & (sample <= n_in - 0.5), w, 0).astype(np.float32)


def _resize_one(x: np.ndarray, size: int) -> np.ndarray:
  """``x [H, W, C] -> [size, size, C]`` float32: :func:`_resize` (``jax.image.resize``,
  bilinear) in NumPy, within 3e-6 of it. A folder's images come in many sizes, and JAX
  compiles a program for each: 30 photos of about 300x400 read at 115 ms an image when
  their sizes differed and 11 ms when they did not; in NumPy, 14 and 12 ms."""
  if x.shape[:2] == (size, size):
    return np.asarray(x, np.float32)
  rows = np.tensordot(_resize_weights(x.shape[0], size), np.asarray(x, np.float32), (0, 0))
  return np.einsum('hwc,wv->hvc', rows, _resize_weights(x.shape[1], size)).astype(np.float32)


def _centre_crop(x: np.ndarray, most: int | None = None) -> np.ndarray:
  """The centre square of ``x [H, W, C]`` (its shorter side, at most ``most``; a square
  image whole)."""
  h, w = x.shape[:2]
  if h != w:
    c = min(h, w) if most is None else min(h, w, most)
    top, left = (h - c) // 2, (w - c) // 2
    x = x[top:top + c, left:left + c]
  return x


def _centre_square(x: np.ndarray, size: int, most: int | None = None) -> np.ndarray:
  """:func:`_centre_crop` resized to ``size`` (:func:`_resize`)."""
  return _resize(_centre_crop(x, most)[None], size)[0]


def _to_unit_range(image: np.ndarray, size: int) -> np.ndarray:
  """uint8 [H, W, C] -> float32 [size, size, C] in [-1, 1] (CelebA: center crop 140)."""
  # CelebA is 218x178: the usual 140x140 center crop before resizing.
  return _centre_square(np.asarray(image, np.float32) / 127.5 - 1.0, size, most=140)


IMAGES_SPEC = "--config.data.name=\"images(path='DIR')\""


def _holds(real: str, top: str) -> bool:
  """Whether real path ``real`` is ``top`` or a folder above it."""
  return os.path.commonpath([real, top]) == real


def _owner(real: str, owners: dict[str, str], above: bool = False) -> str | None:
  """The class whose real folder (``owners``: real folder -> class; none inside another)
  holds real path ``real`` where that class reads it (no hidden name between them);
  ``None`` when none does. ``above``: a folder strictly above ``real`` only. One look-up
  per folder above ``real``, whatever the classes."""
  path, hidden = real, False
  if above:
    path, hidden = os.path.dirname(real), os.path.basename(real).startswith('.')
  while True:
    if path in owners:
      return None if hidden else owners[path]
    hidden = hidden or os.path.basename(path).startswith('.')
    parent = os.path.dirname(path)
    if parent == path:
      return None
    path = parent


def _image_files(root: str, dataset: str, owners: dict[str, str] | None = None,
                 own: str | None = None) -> list[str]:
  """The PNG/JPEG/BMP files under ``root``, sub-folders included (in a fixed order: each
  folder's files by name, then its sub-folders by name; hidden files and folders
  skipped). Symlinked folders and files are followed, as ``labels=True`` follows them,
  each real folder and file read once, except a link to the dataset's folder ``dataset``
  or one above it (a loop, or the whole tree again) and, with labels (``owners``: every
  class's real folder -> its class; ``own``: the class read), a link to a folder or file
  that another class reads, whose images are that class's."""
  from jaxgan.data import paired
  top, owners = os.path.realpath(dataset), owners or {}

  def elsewhere(real: str) -> bool:  # read by another class
    return bool(owners) and _owner(real, owners) not in (None, own)

  def enters(folder: str, d: str) -> bool:
    real = os.path.realpath(os.path.join(folder, d))
    return not (d.startswith('.') or elsewhere(real) or _holds(real, top))

  found, seen, seen_files = [], set(), set()
  for folder, subfolders, names in os.walk(root, followlinks=True):
    real = os.path.realpath(folder)
    if real in seen:
      subfolders[:] = []
      continue
    seen.add(real)
    subfolders[:] = sorted(d for d in subfolders if enters(folder, d))
    for n in sorted(names):
      if n.startswith('.') or not n.lower().endswith(paired.IMAGE_SUFFIXES):
        continue
      real_file = os.path.realpath(os.path.join(folder, n))
      if real_file not in seen_files and not elsewhere(real_file):
        seen_files.add(real_file)
        found.append(os.path.join(folder, n))
  return found


def load_folder(path: str, image_size: int, labels: bool = False, channels: int = 3
                ) -> tuple[np.ndarray, np.ndarray, list[str]]:
  """A folder of one's own images for the noise models: each centre-cropped to a square
  (its shorter side) and resized to ``image_size`` (bilinear, antialiased, as the TFDS
  sets are), held as uint8.

  Args:
    path: the folder (``~`` expanded). Its PNG/JPEG/BMP files, in sub-folders too, are
      read as :func:`jaxgan.data.paired.read_stored` reads them (EXIF orientation
      applied, alpha dropped); hidden files and folders are skipped.
    image_size: the side of the square images.
    labels: one class per sub-folder of ``path`` (sorted by name; its images in its own
      sub-folders too, as torchvision's ``ImageFolder``), for the class-conditional
      models; else every image under ``path`` is one set.
    channels: 3 (RGB) or 1 (the ITU-R 601 luma, as PIL's ``'L'``).

  Returns:
    ``(images [N, image_size, image_size, channels] uint8, labels [N] int32, class
    names)``.

  Raises:
    FileNotFoundError: no folder, no image, or (``labels``) a class folder without one.
    DataError: a file that is not a readable image (named), fewer than 2 images, or
      (``labels``) a class folder that is a link to another class's folder, into one, or
      to ``path`` or above it, or an image file outside every class folder linked from two
      classes.
  """
  from jaxgan.data import paired
  from jaxgan.validation import ConfigError, DataError
  if channels not in (1, 3):
    raise ConfigError(f'images: channels must be 1 or 3; got {channels!r}.')
  root = os.path.expanduser(path)
  if not path or not os.path.isdir(root):
    raise FileNotFoundError(f'The images dataset needs a folder of images ({IMAGES_SPEC}); '
                            f'got {path!r}.')
  if labels:
    classes = sorted(d for d in os.listdir(root)
                     if os.path.isdir(os.path.join(root, d)) and not d.startswith('.'))
    if not classes:
      raise FileNotFoundError(f'The images dataset with labels=True reads one class per '
                              f'sub-folder of its path; {root} has none.')
    files = []
    real = {c: os.path.realpath(os.path.join(root, c)) for c in classes}
    top, first = os.path.realpath(root), {}
    for c in classes:  # a class folder linked to another class or up the tree: refused
      same = first.setdefault(real[c], c)
      if same != c:
        raise DataError(f'Class folders {same!r} and {c!r} of {root} are one folder '
                        f'({real[c]}): its images would be read as two classes. Remove '
                        'the link, or copy the images if they belong to both.')
      if _holds(real[c], top):
        raise DataError(f'Class folder {os.path.join(root, c)} is a link to {real[c]}, '
                        f'which holds {root} itself: every class would be read again '
                        'as this one.')
    for c in classes:  # a class folder linked into another class's folder: refused too
      above = _owner(real[c], first, above=True)
      if above is not None:
        raise DataError(f'Class folder {os.path.join(root, c)} is a link to {real[c]}, '
                        f'inside class folder {above!r} ({real[above]}): its images would '
                        'be read as two classes. Remove the link, or copy the images if '
                        'they belong to both.')
    read_as = {}  # real file -> the path it was read by (files outside every class)
    for k, c in enumerate(classes):
      found = _image_files(os.path.join(root, c), root, first, c)
      if not found:
        raise FileNotFoundError(f'Class folder {os.path.join(root, c)} holds no '
                                f'{"/".join(paired.IMAGE_SUFFIXES)} image.')
      for f in found:
        other = read_as.setdefault(os.path.realpath(f), f)
        if other != f:
          raise DataError(f'{other} and {f} are one image file '
                          f'({os.path.realpath(f)}), outside every class folder: it would '
                          'be read as two classes. Remove a link, or copy the image if it '
                          'belongs to both.')
      files += [(f, k) for f in found]
  else:
    classes = []
    files = [(f, 0) for f in _image_files(root, root)]
    if not files:
      raise FileNotFoundError(f'No {"/".join(paired.IMAGE_SUFFIXES)} image in {root} or its '
                              'sub-folders.')
  if len(files) < 2:
    raise DataError(f'{root} holds {len(files)} image: a GAN and its FID/KID need at least '
                    '2 (thousands, for a meaningful FID).')
  x = np.empty((len(files), image_size, image_size, channels), np.uint8)
  for i, (f, _) in enumerate(files):
    square = _resize_one(_centre_crop(paired.to_unit_range(paired.read_stored(f))),
                         image_size)
    if channels == 1:
      square = square @ np.array([[0.299], [0.587], [0.114]], np.float32)
    x[i] = np.round((np.clip(square, -1.0, 1.0) + 1.0) * 127.5)
  return x, np.array([k for _, k in files], np.int32), classes


def _prepared_splits(tfds, name: str, data_dir: str | None) -> set[str]:
  """The splits of ``name`` prepared in ``data_dir``; none when it is not prepared."""
  try:
    return set(tfds.builder(name, data_dir=data_dir).info.splits.keys())
  except Exception:  # not a known or prepared set: the caller's "not prepared" says so
    return set()


def _data_source(name: str, split: str, data_dir: str | None,
                 give_split: str = '--config.data.split=SPLIT'):
  """``tfds.data_source`` of a prepared dataset, or an error saying how to prepare it
  (``give_split``: how the user names another split, for a set prepared without it)."""
  try:
    import tensorflow_datasets as tfds
  except ImportError:
    raise ImportError(f"Dataset {name!r} needs TensorFlow Datasets: pip install -e "
                      "'.[tfds]'. The offline defaults are data.name='digits' (images) and "
                      "'photos' (super-resolution).") from None
  try:
    return tfds.data_source(name, split=split, data_dir=data_dir, download=False)
  except Exception as e:  # DatasetNotFoundError and friends
    splits = _prepared_splits(tfds, name, data_dir)
    unknown = [s for s in re.split(r'\s*\+\s*', split) if re.split(r'[\[(]', s)[0] not in splits]
    if splits and unknown:  # prepared, but not with this split
      from jaxgan.validation import DataError
      raise DataError(
          f'TFDS dataset {name!r} has no split {unknown[0]!r}; its splits are '
          f"{', '.join(sorted(splits))}. Give one as {give_split}.") from None
    where = data_dir or os.environ.get('TFDS_DATA_DIR', '~/tensorflow_datasets')
    raise FileNotFoundError(
        f'TFDS dataset {name!r} (split {split!r}) is not prepared in {where}. On a machine '
        f'with network run: python -c "import tensorflow_datasets as tfds; '
        f"tfds.builder('{name}', data_dir='{where}', file_format='array_record')"
        f'.download_and_prepare()" and copy that directory here, or point to it: '
        f'--config.data.data_dir=DIR where the config has that field, else inside the '
        f'data name, e.g. --config.data.name="div2k(data_dir=\'DIR\')". '
        f'({type(e).__name__}: {e})') from None


class TFDSImages:
  """Lazy random access to the images of a TFDS split: ``images[i]`` is RGB ``[H, W, 3]``
  as stored (uint8; any size; decoded when read). A crop or an evaluation pair maps it to
  [-1, 1] (``paired.to_unit_range``), so a 2K image is not converted whole for a 96 px crop."""

  def __init__(self, name: str, split: str, image_key: str = 'image',
               data_dir: str | None = None):
    self._source = _data_source(
        name, split, data_dir, "the data name's split= (training) or eval_split= "
        f'(evaluation), e.g. --config.data.name="sr_tfds(tfds_name=\'{name}\', '
        "eval_split='SPLIT')\"")
    self._key = image_key
    if len(self._source):  # a misnamed feature fails here, naming those the set has
      first = self._source[0]
      if image_key not in first:
        from jaxgan.validation import ConfigError
        pictures = [k for k in sorted(first) if np.ndim(first[k]) >= 2] or ['...']
        raise ConfigError(f'TFDS set {name!r} ({split}) has no feature {image_key!r}; its '
                          f'features are: {", ".join(sorted(first))}. Name the image one, '
                          f'e.g. --config.data.name="sr_tfds(tfds_name=\'{name}\', '
                          f'image_key=\'{pictures[0]}\')".')

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, i: int) -> np.ndarray:
    from jaxgan.data.paired import to_rgb
    return to_rgb(self._source[int(i)][self._key])


class TFDSSource:
  """Random access to a TFDS image dataset through ``tfds.data_source``.

  ``source[indices]`` returns ``(images, labels)`` as float32 in [-1, 1] and int32.
  """

  def __init__(self, name: str, split: str = 'train', data_dir: str | None = None,
               image_size: int | None = None):
    if name not in TFDS_IMAGE_SETS:
      raise ValueError(f'Unknown TFDS image set {name!r}; valid names are: '
                       f'{", ".join(TFDS_IMAGE_SETS)}.')
    self._source = _data_source(name, split, data_dir)
    default_size, channels = TFDS_IMAGE_SETS[name]
    self.image_size = image_size or default_size
    self.element_shape = (self.image_size, self.image_size, channels)
    self.label_key = 'label' if name != 'celeb_a' else None
    self.num_classes = 10 if self.label_key else 0

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    records = [self._source[int(i)] for i in indices]
    images = np.stack([_to_unit_range(r['image'], self.image_size) for r in records])
    labels = np.asarray([r[self.label_key] if self.label_key else 0 for r in records],
                        np.int32)
    return images, labels
