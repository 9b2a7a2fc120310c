"""Input pipelines chosen by name: 2-D mixtures, offline digits, and TFDS image sets.

Every pipeline is *stateless*: the real batch of train step ``s`` is a pure function of
``(seed, s, host)``, so resuming from a checkpoint replays exactly the same data without
saving iterator state, and every host reads only its own slice of the global batch.
Finite datasets are read in a new random permutation every epoch.

A batch is a dict of NumPy arrays with leading axes ``[n_critic, local_batch]``: ``'x'``
the samples, ``'y'`` the int32 class labels for datasets that have them, and ``'lr'`` the
low-resolution inputs of super-resolution data (:mod:`jaxgan.data.paired`). What a
dataset needs for its evaluation (the mixture's modes, which evaluator fits it, real
samples for FID) is part of its :class:`Pipeline`, so no other module tests dataset names.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from jaxgan import registry
from jaxgan import workdir as workdir_lib
from jaxgan.data import images, mixtures, paired
from jaxgan.validation import NON_NEGATIVE_INT, POSITIVE_INT, RULES, ConfigError, DataError

Batch = dict[str, np.ndarray]


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """A stateless input pipeline.

  Attributes:
    name: the dataset name.
    element_shape: shape of one sample ``x``, e.g. ``(2,)`` or ``(28, 28, 1)``.
    num_examples: size of the dataset; ``None`` for distributions sampled on the fly.
    batch: ``batch(step) -> {'x': [n_critic, local_batch, *element_shape] float32, 'y':
      [n_critic, local_batch] int32 (labelled datasets)}``, this host's slice of the
      real batches of train step ``step``.
    real_samples: ``real_samples(n) -> [n, *element_shape]``: a fixed set of real samples
      (a seeded random subset of the split, or fixed draws), e.g. the FID reference.
    evaluator: the name of the evaluator that fits this data (see ``jaxgan.evaluate``).
    evaluator_args: what that evaluator needs to know about the data (super-resolution:
      ``'eval_pairs'`` the held-out images, ``'sample_pairs'`` ``n -> (hr, lr)`` fixed
      held-out crops for the sample pictures).
    num_classes: number of classes of ``'y'`` (0: unlabelled).
    real_labels: labelled finite sets: ``real_labels(n) -> [len(real_samples(n))]`` int,
      the classes of ``real_samples(n)``, in its order (the FID reference's class mix,
      which a class-conditional model's samples are drawn in); ``None`` otherwise.
    lowres_shape: super-resolution data: the shape of one low-resolution input ``'lr'``
      (``None`` otherwise).
  """
  name: str
  element_shape: tuple[int, ...]
  num_examples: int | None
  batch: Callable[[int], Batch]
  real_samples: Callable[[int], np.ndarray]
  evaluator: str
  evaluator_args: dict[str, Any] = dataclasses.field(default_factory=dict)
  num_classes: int = 0
  lowres_shape: tuple[int, ...] | None = None
  real_labels: Callable[[int], np.ndarray] | None = None

  def batches(self, start: int, count: int) -> Batch:
    """Batches of steps ``start .. start+count-1`` stacked: ``[count, n_critic, ...]``."""
    steps = [self.batch(s) for s in range(start, start + count)]
    return {k: np.stack([b[k] for b in steps]) for k in steps[0]}


# Two epochs (a step across an epoch's end) for each of up to 16 seeds trained at once.
@functools.lru_cache(maxsize=32)
def _permutation(seed: int, epoch: int, n: int) -> np.ndarray:
  return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_indices(num_examples: int, seed: int, step: int, n_critic: int,
                  global_batch: int, host: int = 0, num_hosts: int = 1) -> np.ndarray:
  """Dataset indices ``[n_critic, global_batch // num_hosts]`` read at train step ``step``.

  The global stream of examples is an endless sequence of epochs, each a fresh
  permutation of ``range(num_examples)`` seeded by ``(seed, epoch)``.
  """
  per_step = n_critic * global_batch
  pos = (step * per_step + np.arange(per_step)).reshape(n_critic, global_batch)
  local = global_batch // num_hosts
  pos = pos[:, host * local:(host + 1) * local]
  epochs = pos // num_examples
  out = np.empty_like(pos)
  for e in np.unique(epochs):
    mask = epochs == e
    out[mask] = _permutation(seed, int(e), num_examples)[pos[mask] % num_examples]
  return out


# The seed of ``real_samples``' fixed subset (the real side of FID, and "the training
# data" reference of digit-FD): a stream of its own. With seed 0 it was the permutation of
# the digit classifier's split (``images.digits_split``) and of MNIST's classifier subset,
# so up to 1,200 "training" digits were exactly the classifier's, none held out.
REAL_SAMPLES_SEED = 7


def fixed_subset(num_examples: int, n: int, seed: int = 0) -> np.ndarray:
  """Sorted indices of a seeded random subset of ``min(n, num_examples)`` examples."""
  return np.sort(np.random.default_rng(seed).permutation(num_examples)[:n])


def _local_batch(batch_size: int) -> tuple[int, int, int]:
  host, num_hosts = jax.process_index(), jax.process_count()
  if batch_size % num_hosts:
    raise ConfigError(f'data.batch_size {batch_size} is not divisible by the {num_hosts} '
                      'hosts.')
  return host, num_hosts, batch_size // num_hosts


def mixture(name: str, batch_size: int, n_critic: int = 1, seed: int = 0) -> Pipeline:
  """A 2-D Gaussian mixture of :mod:`jaxgan.data.mixtures`, sampled on the fly."""
  host, _, local = _local_batch(batch_size)
  means, std = mixtures.MIXTURES[name]

  def batch(step: int) -> Batch:
    # One draw of the global batch, of which each host takes its slice: the same examples
    # on any number of hosts (a resume may change it).
    rng = np.random.default_rng([seed, step, 0])
    x = mixtures.sample(name, rng, n_critic * batch_size).reshape(n_critic, batch_size, 2)
    return {'x': x[:, host * local:(host + 1) * local]}
  return Pipeline(name, (2,), None, batch,
                  real_samples=lambda n: mixtures.sample(name, np.random.default_rng(0), n),
                  evaluator='modes', evaluator_args={'modes': means, 'std': std})


def _finite_pipeline(name: str, xs: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]],
                     num: int, shape: tuple[int, ...], batch_size: int, n_critic: int,
                     seed: int, num_classes: int, evaluator: str,
                     evaluator_args: dict | None = None) -> Pipeline:
  """A pipeline over a finite set whose ``xs(indices) -> (images, labels)``."""
  host, num_hosts, _ = _local_batch(batch_size)

  def batch(step: int) -> Batch:
    idx = epoch_indices(num, seed, step, n_critic, batch_size, host, num_hosts)
    x, y = xs(idx.reshape(-1))
    out = {'x': x.reshape(idx.shape + shape)}
    if num_classes:
      out['y'] = y.reshape(idx.shape).astype(np.int32)
    return out
  def real(n: int) -> tuple[np.ndarray, np.ndarray]:
    return xs(fixed_subset(num, n, REAL_SAMPLES_SEED))
  return Pipeline(name, tuple(shape), num, batch, real_samples=lambda n: real(n)[0],
                  evaluator=evaluator, evaluator_args=evaluator_args or {},
                  num_classes=num_classes,
                  real_labels=(lambda n: real(n)[1]) if num_classes else None)


def _check_positive(field: str, value: Any) -> None:
  """:class:`ConfigError` unless ``value`` is an integer >= 1 (the config rule
  :data:`jaxgan.validation.POSITIVE_INT`), for a size that may come inside a data name."""
  ok, allowed = POSITIVE_INT
  if not ok(value):
    raise ConfigError(f'{field} must be {allowed}; got {value!r}.')


def digits(batch_size: int, n_critic: int = 1, seed: int = 0, image_size: int = 8,
           subset: int = 0) -> Pipeline:
  """scikit-learn's 1,797 bundled digits (offline), labelled 0-9, resized to
  ``image_size``; evaluated by digit-FD against the held-out split. ``subset > 0`` trains
  on a fixed random subset of that many digits (data-efficiency experiments)."""
  _check_positive('data.image_size', image_size)
  x, y = images.load_digits(image_size)
  if subset:
    _check_positive('data.subset', subset)
    if not 0 < subset <= len(x):
      raise ConfigError(f'data.subset must be in [1, {len(x)}]; got {subset}.')
    keep = fixed_subset(len(x), subset, seed=12345)
    x, y = x[keep], y[keep]
  return _finite_pipeline(
      'digits', lambda i: (x[i], y[i]), len(x), x.shape[1:], batch_size, n_critic, seed, 10,
      'digits', {'image_size': image_size,
                 'digit_reference': functools.partial(sklearn_digit_reference, image_size)})


def sklearn_digit_reference(image_size: int):
  """The digits' digit-FD reference ``((train_x, train_y), held_x, 'digits')``: the fixed
  1,200 / 597 split of scikit-learn's digits (:func:`images.digits_split`)."""
  train, (held_x, _) = images.digits_split(image_size)
  return train, held_x, 'digits'


def tfds_images(name: str, batch_size: int, n_critic: int = 1, seed: int = 0,
                image_size: int | None = None, data_dir: str | None = None,
                split: str = 'train') -> Pipeline:
  """A prepared TFDS image set (``mnist``, ``fashion_mnist``, ``cifar10``, ``celeb_a``);
  ``image_size`` 0 or ``None``: the set's own."""
  if image_size is not None and not NON_NEGATIVE_INT[0](image_size):
    raise ConfigError(f'data.image_size must be an integer >= 1 (0: the set\'s own); got '
                      f'{image_size!r}.')
  source = images.TFDSSource(name, split, data_dir or None, image_size or None)
  args = {'image_size': source.image_size, 'split': split}
  evaluator = 'inception'
  if name == 'mnist':  # digit-FD with a classifier of MNIST itself
    evaluator = 'digits'
    args['digit_reference'] = functools.partial(
        mnist_digit_reference, data_dir or None, source.image_size)
  return _finite_pipeline(name, source.__getitem__, len(source), source.element_shape,
                          batch_size, n_critic, seed, source.num_classes, evaluator, args)


def image_folder_images(batch_size: int, n_critic: int = 1, seed: int = 0, path: str = '',
                        image_size: int = 64, labels: bool = False, channels: int = 3,
                        data_dir: str | None = None, split: str = 'train') -> Pipeline:
  """A folder of one's own images for the noise models (DCGAN, SNGAN, ...; the
  super-resolution models read ``folder``): centre-cropped squares resized to
  ``image_size`` (:func:`images.load_folder`), read once and held as uint8;
  ``labels=True`` reads one class per sub-folder (the conditional models); ``channels``
  1 for the grayscale models. Evaluated by FID/KID/IS against the run's own training
  images. ``data_dir`` and ``split`` are the TFDS configs' fields, so that their
  ``data.name`` may name this set: a folder has no splits (only ``'train'``)."""
  _check_positive('data.image_size', image_size)
  if not isinstance(labels, bool):
    raise ConfigError(f'images: labels must be True or False; got {labels!r}.')
  if split != 'train':
    raise ConfigError(f"images: a folder has no splits; got split={split!r} (leave it "
                      "'train').")
  del data_dir  # a TFDS field
  x, y, classes = images.load_folder(path, image_size, labels, channels)

  def xs(i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x[i].astype(np.float32) / 127.5 - 1.0, y[i]
  return _finite_pipeline('images', xs, len(x), x.shape[1:], batch_size, n_critic, seed,
                          len(classes), 'inception', {'image_size': image_size})


def mnist_digit_reference(data_dir: str | None, image_size: int, num_train: int = 10000,
                          num_held: int = 10000):
  """MNIST's digit-FD reference: ``((train_x, train_y), held_x, 'mnist')``, the digit
  classifier's training digits (a fixed ``num_train`` of the train split) and the
  held-out digits (a fixed ``num_held`` of the test split)."""
  train = images.TFDSSource('mnist', 'train', data_dir, image_size)
  test = images.TFDSSource('mnist', 'test', data_dir, image_size)
  train_x, train_y = train[fixed_subset(len(train), num_train, seed=0)]
  held_x, _ = test[fixed_subset(len(test), num_held, seed=1)]
  return (train_x, train_y), held_x, 'mnist'


def _sr_pipeline(name: str, train: Sequence[np.ndarray], held: Sequence[np.ndarray],
                 batch_size: int, n_critic: int, seed: int, crop_size: int,
                 scale: int, held_from: str = '') -> Pipeline:
  """``held_from``: where the held-out images come from, for messages (a TFDS split)."""
  shapes = sr_shapes(name, crop_size, scale)
  for images_, what in ((train, 'training'), (held, 'held-out')):
    if not len(images_):
      raise DataError(f'{name!r} has no {what} images.')
  if isinstance(train, list):  # in memory (a TFDS set is read lazily, when drawn)
    paired.check_crop_fits(train, crop_size, 'Training')
  if isinstance(held, list):
    where = f'{name!r}{held_from}'
    paired.check_crop_fits(held, crop_size, 'Held-out', [where] * len(held))
    paired.check_eval_fits(held, scale, names=[f'Held-out image {i} ({where})'
                                               for i in range(len(held))])
  host, num_hosts, _ = _local_batch(batch_size)
  batch = paired.pipeline_parts(lambda: train, len(train), crop_size, scale, n_critic, seed,
                                batch_size, host, num_hosts, epoch_indices,
                                repr(name))

  @functools.lru_cache(maxsize=2)
  def sample_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    # n fixed held-out (HR, LR) crops, made as training makes its pairs; read once.
    rng = np.random.default_rng(0)
    pairs = [paired.random_pair(held[int(i)], crop_size, scale, rng, f'Held-out image {i}')
             for i in rng.integers(0, len(held), n)]
    out = tuple(np.stack(a) for a in zip(*pairs, strict=True))
    for a in out:  # shared by every caller
      a.setflags(write=False)
    return out
  return dataclasses.replace(
      shapes, num_examples=len(train), batch=batch,
      real_samples=lambda n: sample_pairs(n)[0],
      evaluator_args={**shapes.evaluator_args, 'sample_pairs': sample_pairs,
                      'eval_pairs': lambda: paired.eval_pairs(held, scale)})


def photos(batch_size: int, n_critic: int = 1, seed: int = 0, crop_size: int = 96,
           scale: int = 4) -> Pipeline:
  """Super-resolution on the photographs scikit-image and scikit-learn ship (offline):
  ``HR crop_size`` crops and their bicubic x``scale`` LR; evaluated on the held-out
  photographs (``paired.HELD_OUT_PHOTOS``)."""
  return _sr_pipeline('photos', paired.photos('train'), paired.photos('test'), batch_size,
                      n_critic, seed, crop_size, scale)


def image_folder(batch_size: int, n_critic: int = 1, seed: int = 0, path: str = '',
                 crop_size: int = 96, scale: int = 4) -> Pipeline:
  """Super-resolution on a folder of the user's own images (``path``); every tenth image
  (or the last, for fewer than ten) is held out for evaluation, its files recorded with the
  run (:func:`check_held_out`)."""
  paths = paired.folder_files(path)
  images_ = [paired.read_stored(f) for f in paths]
  # Named by file here (the training and held-out lists below number them apart).
  paired.check_crop_fits(images_, crop_size, 'Folder', paths)
  held_out = sorted(paired.held_out_indices(len(images_)))
  paired.check_eval_fits([images_[i] for i in held_out], scale,
                         names=[f'Held-out image {paths[i]}' for i in held_out])
  train, held = paired.split_folder(images_)
  pipe = _sr_pipeline('folder', train, held, batch_size, n_critic, seed, crop_size, scale)
  # Recorded with the run (shapes_record): a file added or removed shifts the split.
  names = [os.path.basename(paths[i]) for i in held_out]
  return dataclasses.replace(pipe, evaluator_args={**pipe.evaluator_args,
                                                   'held_out_files': names})


def sr_tfds(batch_size: int, n_critic: int = 1, seed: int = 0, tfds_name: str = 'div2k',
            image_key: str = 'image', split: str = 'train', eval_split: str = 'validation',
            num_eval: int = 10, data_dir: str | None = None, crop_size: int = 96,
            scale: int = 4) -> Pipeline:
  """Super-resolution on a prepared TFDS image set's ``image_key`` feature (``image``, as
  most sets name it; ``div2k`` is this with DIV2K's ``hr`` images), with LR made here from
  each crop; evaluated on the first ``num_eval`` images of ``eval_split``."""
  _check_positive('sr_tfds: num_eval', num_eval)
  sr_shapes(tfds_name, crop_size, scale)  # the sizes checked before any data is opened
  train = images.TFDSImages(tfds_name, split, image_key, data_dir or None)
  held = images.TFDSImages(tfds_name, eval_split, image_key, data_dir or None)
  held = [held[i] for i in range(min(num_eval, len(held)))]
  return _sr_pipeline(tfds_name, train, held, batch_size, n_critic, seed, crop_size, scale,
                      f', split {eval_split!r}')


def sr_shapes(name: str, crop_size: int = 96, scale: int = 4, **_) -> Pipeline:
  """A super-resolution pipeline's shapes and scale without its images, for inference on
  images of one's own (``launch.upscale``): it needs no data set, folder or TFDS data.
  ``name`` may hold the sizes as the data registry reads them (``'photos(scale=2)'``);
  they then replace the arguments. Its batches and samples raise ``RuntimeError``.

  Raises:
    ConfigError: a size that is not a positive integer, or a crop that is not a multiple
      of the scale.
  """
  name, inline = registry.parse_spec(name)
  crop_size, scale = inline.get('crop_size', crop_size), inline.get('scale', scale)
  _check_positive('data.crop_size', crop_size)
  _check_positive('data.scale', scale)
  if crop_size % scale:
    raise ConfigError(f'data.crop_size {crop_size} must be a multiple of data.scale {scale}.')
  low = crop_size // scale
  return shapes_only(name, (crop_size, crop_size, 3), lowres_shape=(low, low, 3),
                     evaluator='sr', evaluator_args={'scale': scale})


def shapes_only(name: str, element_shape: Sequence[int], num_classes: int = 0,
                lowres_shape: Sequence[int] | None = None, evaluator: str = '',
                evaluator_args: dict[str, Any] | None = None) -> Pipeline:
  """A pipeline of shapes without data: what building a model and restoring its checkpoint
  need (sampling a run on a machine without its data set). Its batches and samples raise
  ``RuntimeError``."""
  def no_data(*_):
    raise RuntimeError(f'This {name!r} pipeline holds shapes only, no data.')
  return Pipeline(name, tuple(element_shape), None, no_data, no_data, evaluator,
                  evaluator_args or {}, int(num_classes),
                  tuple(lowres_shape) if lowres_shape else None)


def shapes_record(pipe: Pipeline) -> dict[str, Any]:
  """The JSON-able shapes of ``pipe`` that :func:`from_shapes_record` rebuilds (a run
  writes them to its workdir, so that its model can be rebuilt without its data)."""
  record = {'name': pipe.name, 'element_shape': list(pipe.element_shape),
            'num_classes': pipe.num_classes, 'evaluator': pipe.evaluator,
            'lowres_shape': list(pipe.lowres_shape) if pipe.lowres_shape else None}
  if 'held_out_files' in pipe.evaluator_args:  # a folder's split (check_held_out)
    record['held_out_files'] = list(pipe.evaluator_args['held_out_files'])
  return record


def check_held_out(pipe: Pipeline, workdir: str, resuming: bool = False) -> None:
  """:class:`DataError` when ``pipe`` holds out other files of its folder than the run of
  ``workdir`` did (the :func:`shapes_record` in its ``data_shapes.json``; none kept by runs
  before it): a file added or removed shifts the every-tenth split, so images trained on
  would be scored as held out, and held-out ones trained on. ``resuming``: the message
  offers ``allow_config_change``, which trains on the new split."""
  now = pipe.evaluator_args.get('held_out_files')
  if now is None:  # not a folder's split: nothing read
    return
  was = (workdir_lib.read_data_shapes(workdir) or {}).get('held_out_files')
  if was is None or list(now) == list(was):
    return
  raise DataError(
      f'The {pipe.name!r} images of {workdir} are not the ones it was trained with: it held '
      f'out {", ".join(was)} (every tenth file by name); the folder now holds out '
      f'{", ".join(now)}. A file added or removed shifts that split, so images trained on '
      'would be scored as held out. Put the folder back as it was, or train on it in a new '
      '--workdir' + (' (or pass --config.allow_config_change=True to go on training on the '
                     'new split)' if resuming else '') + '.')


def from_shapes_record(record: dict[str, Any]) -> Pipeline:
  """The shapes-only pipeline (:func:`shapes_only`) of a :func:`shapes_record`."""
  return shapes_only(record['name'], record['element_shape'], record.get('num_classes', 0),
                     record.get('lowres_shape'), record.get('evaluator', ''))


_DATASETS = registry.Registry('dataset')
for _name in mixtures.MIXTURES:
  _DATASETS.register(_name, functools.partial(mixture, _name))
_DATASETS.register('digits', digits)
for _name in images.TFDS_IMAGE_SETS:
  _DATASETS.register(_name, functools.partial(tfds_images, _name))
del _name
_DATASETS.register('photos', photos)
_DATASETS.register('folder', image_folder)
_DATASETS.register('images', image_folder_images)
_DATASETS.register('div2k', functools.partial(sr_tfds, tfds_name='div2k/bicubic_x4',
                                              image_key='hr'))
_DATASETS.register('sr_tfds', sr_tfds)


def names() -> list[str]:
  """The dataset names :func:`get` accepts."""
  return _DATASETS.names()


def get(name: str, *, batch_size: int, n_critic: int = 1, seed: int = 0, **kwargs) -> Pipeline:
  """Returns the pipeline of dataset ``name``.

  Args:
    name: one of :func:`names`.
    batch_size: the global batch size (over all hosts and devices).
    n_critic: real batches per train step (one per critic update).
    seed: the data seed.
    **kwargs: the dataset's own arguments (``image_size``; TFDS sets also ``data_dir``
      and ``split``).

  Raises:
    ValueError: an unknown name (listing the valid ones), a batch size or ``n_critic``
      below 1, a seed outside ``[0, 2**32)``, or a batch size that the hosts cannot share
      evenly.
    TypeError: an argument the dataset does not take (listing those it takes).
  """
  _check_positive('batch_size', batch_size)
  _check_positive('n_critic', n_critic)
  ok, allowed = RULES['seed']
  if not ok(seed):
    raise ConfigError(f'seed must be {allowed}; got {seed!r}.')
  return _DATASETS.get(name, batch_size=batch_size, n_critic=n_critic, seed=seed, **kwargs)
