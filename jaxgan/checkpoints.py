"""Orbax checkpoints of the train state in ``WORKDIR/checkpoints``.

A checkpoint that cannot be restored (corrupt files, or a state of another shape because
the config changed) raises :class:`CheckpointError` naming the step and directory; nothing
on disk is removed or overwritten.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be restored into the expected state."""


class Checkpoints:
  """Saves and restores the train state; keeps the last ``keep`` checkpoints."""

  def __init__(self, directory: str, keep: int = 3):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=keep, create=True))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return list(self._manager.all_steps())

  def restore(self, abstract_state: Any, step: int | None = None) -> Any | None:
    """Restores ``step`` (default: the latest) into the structure, shapes and shardings of
    ``abstract_state``; returns ``None`` when there is no checkpoint."""
    step = self.latest_step() if step is None else step
    if step is None:
      return None
    try:
      return self._manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
    except Exception as e:  # orbax raises many types for unreadable or mismatched data
      raise CheckpointError(
          f'The checkpoint of step {step} in {self.directory} cannot be restored '
          f'({type(e).__name__}: {str(e)[:500]}). It was left untouched: move it away to '
          'resume from an earlier one, or train in a new workdir.') from e

  def save(self, step: int, state: Any) -> None:
    self._manager.save(step, args=ocp.args.StandardSave(state), force=True)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()


def abstract_like(tree: Any, sharding: jax.sharding.Sharding) -> Any:
  """``ShapeDtypeStruct``s of ``tree`` with ``sharding``: the target of a restore."""
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), tree)
