"""Input pipelines chosen by name: 2-D mixtures, offline digits, and TFDS image sets.

Every pipeline is *stateless*: the real batch of train step ``s`` is a pure function of
``(seed, s, host)``, so resuming from a checkpoint replays exactly the same data without
saving iterator state, and every host reads only its own slice of the global batch.
Finite datasets are read in a new random permutation every epoch.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import numpy as np

from jaxgan.data import images, mixtures

NAMES = list(mixtures.MIXTURES) + ['digits'] + list(images.TFDS_IMAGE_SETS)


def names() -> list[str]:
  """The dataset names :func:`get` accepts."""
  return list(NAMES)


@dataclasses.dataclass(frozen=True)
class Pipeline:
  """A stateless input pipeline.

  Attributes:
    name: the dataset name.
    element_shape: shape of one sample, e.g. ``(2,)`` or ``(28, 28, 1)``.
    num_examples: size of the dataset; ``None`` for distributions sampled on the fly.
    data_range: ``(low, high)`` of the data (images: (-1, 1)); ``None`` when unbounded.
    batch: ``batch(step) -> [n_critic, local_batch, *element_shape]`` float32, this
      host's slice of the real batches of train step ``step``.
    modes: the mixture means ``[K, 2]`` (2-D data only).
    mode_std: the mixture's per-coordinate std (2-D data only).
  """
  name: str
  element_shape: tuple[int, ...]
  num_examples: int | None
  data_range: tuple[float, float] | None
  batch: Callable[[int], np.ndarray]
  modes: np.ndarray | None = None
  mode_std: float | None = None

  def batches(self, start: int, count: int) -> np.ndarray:
    """Batches of steps ``start .. start+count-1`` stacked: ``[count, n_critic, ...]``."""
    return np.stack([self.batch(s) for s in range(start, start + count)])


@functools.lru_cache(maxsize=4)
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


def get(name: str, *, batch_size: int, n_critic: int = 1, seed: int = 0,
        image_size: int | None = None, data_dir: str | None = None,
        split: str = 'train') -> Pipeline:
  """Returns the pipeline of dataset ``name``.

  Args:
    name: one of :func:`names`.
    batch_size: the global batch size (over all hosts and devices).
    n_critic: real batches per train step (one per critic update).
    seed: the data seed.
    image_size: resize images to this side (``digits`` default 8, TFDS sets their own).
    data_dir: TFDS data directory.
    split: TFDS split.

  Raises:
    ValueError: an unknown name (listing the valid ones) or a batch size that the hosts
      cannot share evenly.
  """
  if name not in NAMES:
    raise ValueError(f'Unknown dataset {name!r}; valid names are: {", ".join(NAMES)}.')
  host, num_hosts = jax.process_index(), jax.process_count()
  if batch_size % num_hosts:
    raise ValueError(f'batch_size {batch_size} is not divisible by the {num_hosts} hosts.')
  local = batch_size // num_hosts

  if name in mixtures.MIXTURES:
    means, std = mixtures.MIXTURES[name]

    def mixture_batch(step: int) -> np.ndarray:
      rng = np.random.default_rng([seed, step, host])
      return mixtures.sample(name, rng, n_critic * local).reshape(n_critic, local, 2)
    return Pipeline(name, (2,), None, None, mixture_batch, modes=means, mode_std=std)

  if name == 'digits':
    data, _ = images.load_digits(image_size or 8)
    source = lambda idx: data[idx]
    num, shape = len(data), data.shape[1:]
  else:
    tfds_source = images.TFDSSource(name, split, data_dir, image_size)
    source = lambda idx: tfds_source[idx.reshape(-1)][0].reshape(
        idx.shape + tfds_source.element_shape)
    num, shape = len(tfds_source), tfds_source.element_shape

  def image_batch(step: int) -> np.ndarray:
    return source(epoch_indices(num, seed, step, n_critic, batch_size, host, num_hosts))
  return Pipeline(name, tuple(shape), num, (-1.0, 1.0), image_batch)
