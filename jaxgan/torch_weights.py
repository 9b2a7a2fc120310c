"""PyTorch state dicts for jaxgan's ports of PyTorch networks (FID Inception, VGG19).

* :func:`load_state_dict`: a ``.pth`` file (needs PyTorch, imported only then) or an
  ``.npz`` of the same keys (no PyTorch), with an error that says where to get a missing
  file, where to put it and how to pass it.
* :func:`cache_dir` / :func:`cache_path`: the weights cache, ``$JAXGAN_CACHE`` or
  ``~/.cache/jaxgan/``.
* :func:`check_state_dict` / :func:`variables_from_state_dict`: a state dict checked against
  a Flax model's variables (missing, unexpected and ill-shaped keys, each by name) and
  converted to them (conv weights ``[out, in, kh, kw] -> [kh, kw, in, out]``, linear
  weights transposed).
* :func:`random_state_dict`: random weights for a key/shape layout, drawn with NumPy from a
  seed, so that a PyTorch reference and its Flax port hold bit-identical weights without
  either side needing the other's framework (the parity fixtures in ``tests/data``).
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Callable, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np


class WeightsError(ValueError):
  """A weights file that cannot be used: unreadable, not the network's state dict, or a
  ``.pth`` without PyTorch installed (the message names the file and what to do)."""


CACHE_ENV = 'JAXGAN_CACHE'
DEFAULT_CACHE = '~/.cache/jaxgan'
Layout = Sequence[tuple[str, Sequence[int]]]  # [(key, shape), ...], as in the JSON files

# (Flax collection, Flax leaf) -> PyTorch leaf, for Conv, Dense, BatchNorm and LayerNorm.
_TORCH_LEAF = {('params', 'kernel'): 'weight', ('params', 'scale'): 'weight',
               ('params', 'bias'): 'bias', ('batch_stats', 'mean'): 'running_mean',
               ('batch_stats', 'var'): 'running_var'}


def cache_dir() -> str:
  """The weights cache: ``$JAXGAN_CACHE`` if set (``~`` expanded: a value from a
  ``.env`` file or a container's settings reaches no shell), else ``~/.cache/jaxgan``."""
  return os.path.expanduser(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)


def cache_path(file_name: str) -> str:
  """Where a weights file is looked for by default: ``cache_dir()/file_name``."""
  return os.path.join(cache_dir(), file_name)


def load_state_dict(path: str | None, *, file_name: str, url: str, needed_by: str,
                    how_to_pass: str) -> dict[str, np.ndarray]:
  """Reads a PyTorch state dict from a ``.pth`` file or an ``.npz`` of the same keys.

  Args:
    path: the file; ``None`` means ``cache_path(file_name)``, or where that is missing the
      ``.npz`` of the same name beside it.
    file_name: the official file name, for the error message and the default path.
    url: where the official file is downloaded from, for the error message.
    needed_by: what needs the file, for the error message (e.g. ``'FID'``).
    how_to_pass: how a user passes another path, for the error message (e.g.
      ``'pass --inception_weights=PATH'``).

  Returns:
    ``{key: np.ndarray}``.

  Raises:
    FileNotFoundError: no file at ``path``; the message names ``file_name``, ``url``, the
      default path (``$JAXGAN_CACHE`` or ``~/.cache/jaxgan/``) and ``how_to_pass``.
    WeightsError: a file that cannot be read as either, or a ``.pth`` file without
      PyTorch installed.
  """
  if not path:  # the official file in the cache, else its .npz (read without PyTorch)
    npz = cache_path(os.path.splitext(file_name)[0] + '.npz')
    path = cache_path(file_name)
    path = npz if not os.path.exists(path) and os.path.exists(npz) else path
  if not os.path.exists(path):
    raise FileNotFoundError(
        f'{needed_by} needs the weights file {file_name}, not found at {path}. Download it '
        f'from {url} and put it at {cache_path(file_name)} (the directory ${CACHE_ENV} if set, '
        f'else {DEFAULT_CACHE}/; an .npz of its keys there, {os.path.splitext(file_name)[0]}'
        f'.npz, is read without PyTorch), or {how_to_pass}.')
  if os.path.isdir(path):
    raise WeightsError(f'{path} is a folder, not a weights file; {needed_by} needs '
                       f'{file_name} (or an .npz of its keys), e.g. '
                       f'{os.path.join(path, file_name)}.')
  if path.lower().endswith('.npz'):
    if not zipfile.is_zipfile(path):  # np.load would read it as a pickle, and say so
      raise WeightsError(f'{path} is not an .npz (a zip archive of arrays); {needed_by} needs '
                         f'{file_name} or an .npz of its keys.')
    try:
      with np.load(path) as f:
        return {k: f[k] for k in f.files}
    except Exception as e:  # not a zip, pickled objects, truncated: many types
      raise WeightsError(f'{path} cannot be read as an .npz of arrays ({type(e).__name__}: '
                         f'{e}); {needed_by} needs {file_name} or an .npz of its keys.') from None
  try:
    import torch
  except ImportError:
    raise WeightsError(
        f'Reading {path} needs PyTorch (pip install torch); or convert it once, where PyTorch '
        'is installed, to an .npz of the same keys: np.savez(out, **{k: v.numpy() for k, v '
        'in torch.load(path).items()}).') from None
  try:
    state = torch.load(path, map_location='cpu', weights_only=True)
    return {k: v.numpy() for k, v in state.items()}
  except Exception as e:
    raise WeightsError(f'{path} cannot be read as a PyTorch state dict ({type(e).__name__}: '
                       f'{e}); {needed_by} needs {file_name}.') from None


def _names(keys: Sequence[str], limit: int = 10) -> str:
  more = f' and {len(keys) - limit} more' if len(keys) > limit else ''
  return ', '.join(keys[:limit]) + more


def check_state_dict(state_dict: Mapping[str, np.ndarray], expected: Mapping[str, tuple],
                     what: str, ignore: Callable[[str], bool] = lambda key: False) -> None:
  """Checks keys and shapes of ``state_dict`` against ``expected``.

  ``num_batches_tracked`` keys (BatchNorm counters, no Flax counterpart) and keys for which
  ``ignore(key)`` is true may be present or not.

  Args:
    state_dict: ``{key: array}``.
    expected: ``{key: shape}`` in PyTorch's layout.
    what: the network's name, for the message.
    ignore: keys that are accepted and not needed (e.g. a classifier head).

  Raises:
    WeightsError: naming every missing key, every unexpected key and every key of the
      wrong shape (with the shape found and the shape expected).
  """
  given = {k for k in state_dict if not (k.endswith('num_batches_tracked') or ignore(k))}
  missing = sorted(set(expected) - given)
  unexpected = sorted(given - set(expected))
  shapes = sorted(f'{k} {tuple(np.shape(state_dict[k]))} (expected {tuple(expected[k])})'
                  for k in given & set(expected)
                  if tuple(np.shape(state_dict[k])) != tuple(expected[k]))
  problems = [f'{len(names)} {kind}: {_names(names)}'
              for kind, names in (('missing keys', missing), ('unexpected keys', unexpected),
                                  ('keys of the wrong shape', shapes)) if names]
  if problems:
    raise WeightsError(f'Not the {what} state dict: ' + '; '.join(problems) + '.')


def _torch_shape(flax_shape: tuple[int, ...]) -> tuple[int, ...]:
  if len(flax_shape) == 4:  # [kh, kw, in, out] -> [out, in, kh, kw]
    return (flax_shape[3], flax_shape[2], flax_shape[0], flax_shape[1])
  return tuple(reversed(flax_shape))  # Dense [in, out] -> [out, in]; 1-D unchanged


def _to_flax(w: np.ndarray) -> np.ndarray:
  w = np.asarray(w, np.float32)
  if w.ndim == 4:
    return w.transpose(2, 3, 1, 0)
  return w.T


def variables_from_state_dict(state_dict: Mapping[str, np.ndarray], target: dict, what: str,
                              module_names: Mapping[str, str] | None = None,
                              ignore: Callable[[str], bool] = lambda key: False) -> dict:
  """Flax variables of the structure of ``target`` from a PyTorch state dict.

  A Flax leaf ``collection/m1/m2/leaf`` is the PyTorch key ``m1.m2.<torch leaf>`` (``kernel``
  and ``scale`` -> ``weight``, ``mean`` -> ``running_mean``, ``var`` -> ``running_var``),
  after renaming module paths by ``module_names`` (e.g. ``{'conv1_1': 'features.0'}``).

  Args:
    state_dict: ``{key: array}`` in PyTorch's layout.
    target: the model's variables or their shapes (``jax.eval_shape`` of its ``init``).
    what: the network's name, for error messages.
    module_names: Flax module path (dot-joined) -> PyTorch module path, where they differ.
    ignore: keys that are accepted and not needed (see :func:`check_state_dict`).

  Returns:
    ``target``'s tree with float32 ``jnp`` arrays from ``state_dict``.

  Raises:
    ValueError: see :func:`check_state_dict`.
  """
  module_names = module_names or {}
  keys = {}
  for path, leaf in jax.tree_util.tree_leaves_with_path(target):
    collection, *modules, leaf_name = (k.key for k in path)
    module = '.'.join(modules)
    keys[path] = (f'{module_names.get(module, module)}.'
                  f'{_TORCH_LEAF[(collection, leaf_name)]}', leaf.shape)
  check_state_dict(state_dict, {k: _torch_shape(s) for k, s in keys.values()}, what, ignore)
  flat = {path: jnp.asarray(_to_flax(state_dict[key])) for path, (key, _) in keys.items()}
  return jax.tree_util.tree_map_with_path(lambda p, _: flat[p], target)


def layout_of(state_dict: Mapping[str, np.ndarray], keep: Callable[[str], bool] = lambda k: True
              ) -> list[tuple[str, list[int]]]:
  """The ``[(key, shape), ...]`` layout of a state dict (keys for which ``keep`` is true)."""
  return [(k, [int(d) for d in np.shape(v)]) for k, v in state_dict.items() if keep(k)]


def random_state_dict(layout: Layout, seed: int = 0) -> dict[str, np.ndarray]:
  """Random weights of a layout that keep activations O(1) through deep networks.

  Each key draws from its own NumPy generator, seeded with ``(seed, crc32(key))``, so a
  key's values depend on the seed and the key only (not on the order of the layout).
  Rules, by key suffix and shape:

  * ``num_batches_tracked``: zeros (int64).
  * ``running_var`` and 1-D ``weight`` (norm scales): ``U[0.75, 1.25]``.
  * ``running_mean`` and ``bias``: ``N(0, 0.1^2)``.
  * 4-D ``weight`` (conv, ``[out, in, kh, kw]``): ``N(0, 2 / fan_in)``, ``fan_in = in*kh*kw``
    (He et al., 2015, so ReLU networks keep their activation scale).
  * 2-D ``weight`` (linear, ``[out, in]``): ``N(0, 1 / in)``.

  Args:
    layout: ``[(key, shape), ...]`` (e.g. read from a JSON file of ``[key, shape]`` pairs).
    seed: the seed.

  Returns:
    ``{key: array}``: float32 arrays, int64 for ``num_batches_tracked``.

  Raises:
    ValueError: a key no rule covers (naming it and its shape).

  References:
    He et al., 2015, Delving Deep into Rectifiers (https://arxiv.org/abs/1502.01852).
  """
  out = {}
  for key, shape in layout:
    shape = tuple(int(d) for d in shape)
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    leaf = key.rsplit('.', 1)[-1]
    if leaf == 'num_batches_tracked':
      out[key] = np.zeros(shape, np.int64)
      continue
    if leaf == 'running_var' or (leaf == 'weight' and len(shape) == 1):
      w = rng.uniform(0.75, 1.25, shape)
    elif leaf in ('running_mean', 'bias'):
      w = rng.normal(0.0, 0.1, shape)
    elif leaf == 'weight' and len(shape) == 4:
      w = rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    elif leaf == 'weight' and len(shape) == 2:
      w = rng.normal(0.0, np.sqrt(1.0 / shape[1]), shape)
    else:
      raise ValueError(f'random_state_dict has no rule for {key} of shape {shape}.')
    out[key] = w.astype(np.float32)
  return out
