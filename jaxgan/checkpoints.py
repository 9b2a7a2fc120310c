"""Orbax checkpoints of the train state in ``WORKDIR/checkpoints``.

A checkpoint that cannot be restored (corrupt files, or a state of another shape because
the config changed), or that restores with a non-finite value (damaged bytes that still
decompress: jaxgan saves finite states only), raises :class:`CheckpointError` naming the
step, the directory, the cause and what to do; nothing on disk is removed or overwritten.
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any

import jax
import jax.numpy as jnp


def _orbax() -> ModuleType:
  """``orbax.checkpoint``, imported when a checkpoint is first opened: a launcher that
  refuses its flags does not pay its 0.3-0.5 s."""
  import orbax.checkpoint
  return orbax.checkpoint


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into the expected state."""


def _root_cause(e: BaseException) -> str:
  """The innermost exception of a chain, in one short line."""
  while e.__cause__ is not None or (e.__context__ is not None and not e.__suppress_context__):
    e = e.__cause__ or e.__context__
  text = ' '.join(str(e).split())
  return f'{type(e).__name__}: {text[:300]}{"..." if len(text) > 300 else ""}'


def _key_name(k: Any) -> Any:
  """A tree path entry's name: a dict key, a dataclass field name or a sequence index."""
  return getattr(k, 'key', getattr(k, 'name', getattr(k, 'idx', k)))


def _shapes(tree: Any) -> dict[tuple, tuple]:
  """``{path of key names: shape}`` of a tree's arrays (a state, or orbax's metadata of
  one: their paths spelled alike)."""
  return {tuple(str(_key_name(k)) for k in path): tuple(leaf.shape)
          for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
          if hasattr(leaf, 'shape')}


def architecture_differences(saved: Any, wanted: Any, most: int = 3) -> list[str]:
  """The first ``most`` arrays (path: saved vs wanted shape) in which two state trees
  differ; ``[]`` when they hold the same arrays, and when ``saved`` holds none of
  ``wanted``'s arrays: orbax reads a checkpoint whose metadata is lost as an empty tree,
  and that is a damaged checkpoint, not another architecture."""
  a, b = _shapes(saved), _shapes(wanted)
  if not set(a) & set(b):
    return []
  params_first = lambda k: (not (k and k[0].endswith('params')), k)  # before optimizer states
  return [f'{"/".join(k)}: {a.get(k, "absent")} vs {b.get(k, "absent")}'
          for k in sorted(set(a) | set(b), key=params_first) if a.get(k) != b.get(k)][:most]


@jax.jit  # compiled once per state structure
def _finite_leaves(leaves: list[jax.Array]) -> list[jax.Array]:
  return [jnp.all(jnp.isfinite(x)) for x in leaves]


def nonfinite_paths(tree: Any, most: int = 3) -> list[str]:
  """The paths (``'/'``-joined key names) of the first ``most`` floating-point arrays of
  ``tree`` that hold a NaN or an infinity."""
  paths, leaves = [], []
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    dtype = leaf.dtype if hasattr(leaf, 'dtype') else jnp.asarray(leaf).dtype
    if jnp.issubdtype(dtype, jnp.inexact):
      paths.append('/'.join(str(_key_name(k)) for k in path))
      leaves.append(leaf)
  finite = jax.device_get(_finite_leaves(leaves)) if leaves else []
  return [p for p, ok in zip(paths, finite, strict=True) if not ok][:most]


class Checkpoints:
  """Saves and restores the train state; keeps the last ``keep`` checkpoints (>= 1).
  ``read_only`` (sampling, evaluation) does not create the directory."""

  def __init__(self, directory: str, keep: int = 3, read_only: bool = False):
    if keep < 1:
      raise ValueError(f'keep_checkpoints must be at least 1; got {keep}.')
    self.directory = os.path.abspath(directory)
    self._read_only = read_only
    ocp = _orbax()
    self._manager = ocp.CheckpointManager(
        self.directory,
        # Named, not left to the first save or restore: a fresh manager reads metadata too.
        item_handlers=ocp.StandardCheckpointHandler(),
        # A save cut short (a killed run) leaves a temporary folder as large as a state: the
        # trainer, which holds the workdir's lock, removes them (in the background, done
        # before its first save); readers leave them.
        options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=not read_only,
                                             cleanup_tmp_directories=not read_only))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    """The steps of the checkpoints kept, oldest first."""
    return sorted(self._manager.all_steps())

  def saved_tree(self, step: int) -> dict[str, Any]:
    """The metadata of the arrays the checkpoint of ``step`` holds (``shape``, ``dtype``),
    in its saved tree of dicts and lists; ``{}`` when it cannot be read."""
    try:
      return dict(self._manager.item_metadata(step).tree)
    except Exception:  # noqa: BLE001 - unreadable metadata: restoring says why
      return {}

  def saved_shapes(self, step: int) -> dict[tuple, tuple]:
    """``{path of key names: shape}`` of the arrays the checkpoint of ``step`` holds;
    ``{}`` when its metadata cannot be read."""
    return _shapes(self.saved_tree(step))

  def without(self, step: int) -> str:
    """How to go on without the checkpoint of ``step``: move it aside to resume from the
    one before it, or, with none before it, train in a new workdir."""
    earlier = [s for s in self.all_steps() if s < step]
    return (f'move {os.path.join(self.directory, str(step))} aside to resume from step '
            f'{earlier[-1]}' if earlier else 'train in a new workdir')

  def restore(self, abstract_state: Any, step: int | None = None) -> Any | None:
    """Restores ``step`` (default: the latest) into the structure, shapes and shardings of
    ``abstract_state``; returns ``None`` when there is no checkpoint."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    try:
      state = self._manager.restore(step, args=_orbax().args.StandardRestore(abstract_state))
      # Orbax reads a target array without a sharding as saved, whatever its shape.
      differ = architecture_differences(state, abstract_state)
      if differ:
        raise ValueError(f'restored vs asked for: {"; ".join(differ)}')
    except Exception as e:  # orbax raises many types for unreadable or mismatched data
      if self._read_only:  # sampling or evaluating: nothing to resume
        earlier = [s for s in self.all_steps() if s < step]
        raise CheckpointError(
            f'The checkpoint of step {step} in {self.directory} cannot be restored into the '
            f'model of the run\'s config.json ({_root_cause(e)}). Nothing on disk was '
            'changed. If the cause may pass (out of memory, a file system that was '
            'unavailable), retry. Otherwise the checkpoint is damaged, or config.json is not '
            'the config it was saved with (changed since, or the checkpoint copied from '
            'another run)' + (f'; the earlier checkpoints are of steps '
                              f'{", ".join(map(str, earlier))} (--step=N reads one).'
                              if earlier else '.')
        ) from None
      # Another architecture: no earlier checkpoint helps, whatever the advice below.
      # (Unreadable metadata reads as no arrays: the damaged-checkpoint advice stands.)
      differ = architecture_differences(self.saved_tree(step), abstract_state)
      if differ:
        raise CheckpointError(
            f'The checkpoint of step {step} in {self.directory} holds another architecture '
            f'than this config builds (checkpoint vs config: {"; ".join(differ)}). Nothing '
            'on disk was changed. Resume with the config it was trained with, or train this '
            'one in a new --workdir (--config.init_from=THIS_WORKDIR starts its generator '
            'from this run where the generators agree).') from None
      raise CheckpointError(
          f'The checkpoint of step {step} in {self.directory} cannot be restored '
          f'({_root_cause(e)}). Nothing on disk was changed. If the cause may pass (out '
          f'of memory, a file system that was unavailable), retry first. To go on, '
          f'{self.without(step)}; if the config changed since it was saved, use the original '
          'config.') from None
    # Every state is checked finite before it is saved: a NaN or infinity read back is a
    # damaged file (flipped bytes can still decompress), not a diverged run.
    bad = nonfinite_paths(state)
    if bad:
      earlier = ', '.join(map(str, [s for s in self.all_steps() if s < step]))
      go_on = (self.without(step) if not self._read_only else
               f'the earlier checkpoints are of steps {earlier} (--step=N reads one)'
               if earlier else 'no earlier checkpoint is kept')
      raise CheckpointError(
          f'The checkpoint of step {step} in {self.directory} is damaged: it holds '
          f'non-finite values (in {", ".join(bad)}), and a state is saved only when every '
          f'value is finite. Nothing on disk was changed. To go on, {go_on}.')
    return state

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=_orbax().args.StandardSave(state), force=True)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def abstract_like(tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """``ShapeDtypeStruct``s of ``tree`` with ``sharding``: the target of a restore."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
