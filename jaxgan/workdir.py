"""What protects a workdir: one trainer at a time, and no silent config change on resume.

* :class:`Lock`: an ``fcntl`` lock on ``WORKDIR/.lock``, held while a run trains. A
  second trainer on the same workdir is refused at once with the first one's process id,
  host and command. The kernel drops the lock when the process dies, so a crashed or
  killed run never leaves the workdir stuck.
* :func:`check_resume_config`: the first run writes ``config.json``; a resume whose config
  differs from it in anything but the length and logging fields and the paths it reads
  from (recorded) is refused (with the differences) unless ``config.allow_config_change``
  is set.
* :func:`write_data_shapes` / :func:`read_data_shapes`: ``data_shapes.json``, the shapes of
  the run's data (:func:`jaxgan.data.shapes_record`), so that sampling rebuilds the model
  without the data set.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import re
import socket
import sys
from typing import Any

import ml_collections
from absl import logging

from jaxgan import files, registry
from jaxgan.validation import ConfigError

# Fields that may change between the runs of one workdir: how long and how verbosely it
# trains, not what it trains.
RESUMABLE_FIELDS = ('num_steps', 'num_epochs', 'steps_per_call', 'log_every', 'eval_every',
                    'checkpoint_every', 'keep_checkpoints', 'num_eval_samples',
                    'allow_config_change', 'distributed')
# Fields that say where a run reads from, not what it trains: a run moved to another
# machine resumes with its data, VGG weights or source generator at another path (the
# change is logged; init_from only matters before the first checkpoint anyway, and one
# given to a run saved without one is refused: check_resume_config).
# A data set's path may also be an argument of its name, 'images(path=...)': compared
# apart from the name as 'data.name(path)' (and the name's other arguments stay training).
SPEC_LOCATIONS = ('path', 'data_dir')
LOCATION_FIELDS = ('init_from', 'data.data_dir', 'content.vgg_weights',
                   *(f'data.name({k})' for k in SPEC_LOCATIONS))
# Fields added after runs were saved without them: their absence means this value (a run
# saved before learning-rate schedules resumes under a config with 'constant'; one saved
# before the SR discriminator's layout had SRGAN's; one saved before RRDBNet could scan its
# blocks had them unrolled).
ABSENT_MEANS = {'g_optimizer.schedule': 'constant', 'd_optimizer.schedule': 'constant',
                'model.discriminator.layout': 'srgan', 'model.generator.scan_blocks': False}


class WorkdirBusy(RuntimeError):
  """Another process is training in this workdir."""


def check_folder(workdir: str) -> None:
  """``NotADirectoryError`` where ``workdir`` is a file (``os.makedirs`` would raise a bare
  errno 17)."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f'{workdir} is a file; a workdir is a folder. Choose another '
                             '--workdir.')


class Lock:
  """``with Lock(workdir):`` holds the workdir's lock, or raises :class:`WorkdirBusy`."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, '.lock')
    self._file = None

  def __enter__(self) -> Lock:
    check_folder(os.path.dirname(self.path))
    while True:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
      f = open(self.path, 'a+')  # noqa: SIM115  (held open for the run's lifetime)
      try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
      except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or 'an unknown process'
        f.close()
        raise WorkdirBusy(f'{os.path.dirname(self.path)} is in use by another training run '
                          f'({holder}). Wait for it to finish or stop it, or choose another '
                          '--workdir.') from None
      try:  # the file locked is still the one at the path (a refused run removes its own)
        if os.stat(self.path).st_ino == os.fstat(f.fileno()).st_ino:
          break
      except FileNotFoundError:
        pass
      f.close()
    f.seek(0)
    f.truncate()
    f.write(f'pid {os.getpid()} on {socket.gethostname()}, started '
            f'{datetime.datetime.now().isoformat(timespec="seconds")}: {" ".join(sys.argv)}')
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc) -> None:
    if self._file is not None:
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None


# What a run writes in its workdir besides config.json and checkpoints/.
RUN_OUTPUTS = ('metrics.jsonl', 'metrics.csv', 'loss_curves.png', 'samples', 'tensorboard',
               'data_shapes.json', 'eval.json', 'evals.jsonl')


def check_not_foreign(workdir: str) -> None:
  """``FileExistsError`` when ``workdir`` holds files a run writes (:data:`RUN_OUTPUTS`) but
  is no run's: no ``checkpoints/`` and no ``config.json`` of a jaxgan config. A run there
  would replace them (its logs, curves and pictures); other files in a folder are left
  alone, and so is a run's own workdir (resumed or restarted)."""
  found = sorted(n for n in RUN_OUTPUTS if os.path.exists(os.path.join(workdir, n)))
  if not found or os.path.isdir(os.path.join(workdir, 'checkpoints')):
    return
  # A damaged config.json is a ConfigError naming it (read_json), as on a resume.
  saved = read_json(config_path(workdir)) if os.path.exists(config_path(workdir)) else None
  if isinstance(saved, dict) and {'model', 'loss', 'data'} <= set(saved):
    return
  raise FileExistsError(
      f'{workdir} holds {", ".join(found)} but no jaxgan run (no checkpoints/, no config.json '
      'of a run): training there would replace them. Choose another --workdir, or move '
      'them away.')


def entries(workdir: str) -> frozenset[str] | None:
  """The names in ``workdir`` (``None``: it does not exist), for :func:`remove_unused`."""
  return frozenset(os.listdir(workdir)) if os.path.isdir(workdir) else None


def missing_parents(workdir: str) -> tuple[str, ...]:
  """The folders above ``workdir`` that do not exist yet, the nearest first: those that
  ``os.makedirs(workdir)`` would make besides it, for :func:`remove_unused`."""
  out, folder = [], os.path.dirname(os.path.abspath(workdir))
  while folder and not os.path.exists(folder):
    out.append(folder)
    folder = os.path.dirname(folder)
  return tuple(out)


def remove_unused(workdir: str, before: frozenset[str] | None,
                  parents: tuple[str, ...] = ()) -> None:
  """Undoes what a run that failed before writing anything added to ``workdir``: its lock
  file, an empty ``checkpoints/`` and the folder itself when the run made it (``before``:
  :func:`entries` then), with the ``parents`` it made for it (:func:`missing_parents`
  then) while they are empty. Anything else in it (a config.json, a checkpoint, a log)
  keeps it all as it is. Called while the run still holds the lock (:class:`Lock` takes a
  lock file only while it is the one at its path); a folder that is no longer empty stays."""
  now = entries(workdir)
  if now is None:
    return
  made = now - (before or frozenset())
  ckpts = os.path.join(workdir, 'checkpoints')
  if not made <= {'.lock', 'checkpoints'} or (
      'checkpoints' in made and (not os.path.isdir(ckpts) or os.listdir(ckpts))):
    return
  try:
    for name in sorted(made, reverse=True):  # '.lock' last
      path = os.path.join(workdir, name)
      os.rmdir(path) if name == 'checkpoints' else os.remove(path)
    if before is None:
      os.rmdir(workdir)
  except OSError as e:  # something else appeared meanwhile: it stays, and so does the rest
    logging.warning('Left %s as it is (%s).', workdir, e)
    return
  for parent in parents if before is None else ():
    try:
      os.rmdir(parent)
    except OSError as e:  # written to meanwhile: it stays, and so do the folders above
      logging.warning('Left %s, made for %s, as it is (%s).', parent, workdir, e)
      return


def _flatten(tree: Any, prefix: str = '') -> dict[str, Any]:
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f'{prefix}{k}.'))
    return out
  return {prefix[:-1]: tree}


def _written(config: dict) -> dict[str, Any]:
  """A saved or current config's fields by dotted name as written, :data:`ABSENT_MEANS`
  filling in the fields it was saved without."""
  return {**ABSENT_MEANS, **_flatten(config)}


# The specs whose arguments the builders merge with fields of their section (``build``:
# ``losses.get(name, **kwargs)``, ``data.get(name, **data)``, ...): an argument is the
# same written in the spec or in its field, ``'hinge(margin=2)'`` or ``kwargs.margin = 2``.
SPEC_ARGUMENTS = {'loss.name': 'loss.kwargs.', 'penalty.name': 'penalty.kwargs.',
                  'auxiliary.name': 'auxiliary.kwargs.', 'data.name': 'data.',
                  'g_optimizer.name': 'g_optimizer.', 'd_optimizer.name': 'd_optimizer.'}


def _fields(config: dict) -> dict[str, Any]:
  """:func:`_written`'s fields, every spec (``loss.name``, ``g_optimizer.schedule``, ...:
  a string :func:`jaxgan.registry.parse_spec` reads as a name) written one way, as it is
  read: ``"linear( decay_steps=100 )"`` is ``"linear(decay_steps=100)"`` and
  ``"constant()"`` is ``"constant"``, and a DiffAugment policy entry by entry
  (``"color, translation"`` is ``"color,translation"``). ``data.name``'s
  :data:`SPEC_LOCATIONS` arguments are taken apart, as ``data.name(path)``, and the
  arguments of the :data:`SPEC_ARGUMENTS` specs compared as the fields they merge with."""
  fields = _written(config)
  for key, value in list(fields.items()):
    if key == 'augment' and isinstance(value, str):  # a policy: specs between commas
      from jaxgan.augment import split_policy
      fields[key] = ','.join(_read_spec(key, entry, fields) for entry in split_policy(value))
    else:
      fields[key] = _read_spec(key, value, fields)
  return fields


def _read_spec(key: str, value: Any, fields: dict[str, Any]) -> Any:
  """``value`` as :func:`jaxgan.registry.parse_spec` reads it, written one way, where it is
  a spec (else as given); ``data.name``'s locations go to ``fields``."""
  try:
    name, kwargs = registry.parse_spec(value) if isinstance(value, str) else ('', {})
  except (ValueError, TypeError):  # none to read: compared as written
    return value
  if not name.isidentifier():  # not a spec: a path, a number, ...
    return value
  if key == 'data.name':
    for k in SPEC_LOCATIONS:
      if k in kwargs:
        fields[f'data.name({k})'] = kwargs.pop(k)
  if key in SPEC_ARGUMENTS:  # the builder merges its arguments with the section's
    for k, v in kwargs.items():  # a tuple as config.json holds it, a list
      fields[SPEC_ARGUMENTS[key] + k] = _tuples_as_lists(v)
    return name
  args = ', '.join(f'{k}={v!r}' for k, v in sorted(kwargs.items()))
  return f'{name}({args})' if args else name


def _tuples_as_lists(value: Any) -> Any:
  if isinstance(value, (tuple, list)):
    return [_tuples_as_lists(v) for v in value]
  return value


def config_changes(saved: dict, current: dict, fields: tuple[str, ...] | None = None
                   ) -> list[str]:
  """``'field: saved -> current'`` for every field that differs, except
  :data:`RESUMABLE_FIELDS` and :data:`LOCATION_FIELDS` (``fields``: only those). Specs are
  compared as read (see :func:`_fields`) and shown as written."""
  a, b = _fields(saved), _fields(current)
  written = _written(saved), _written(current)
  out = []
  for k in sorted(set(a) | set(b)):
    if fields is not None and k not in fields:
      continue
    if fields is None and (k.split('.')[0] in RESUMABLE_FIELDS or k in LOCATION_FIELDS):
      continue
    if a.get(k) != b.get(k):
      shown = k
      if all(k not in w for w in written):  # an argument inside a spec on both sides
        shown = next((spec for spec, prefix in SPEC_ARGUMENTS.items()
                      if k.startswith(prefix) and k[len(prefix):].isidentifier()), k)
      was, now = (w.get(shown, f.get(shown, '(absent)'))
                  for w, f in zip(written, (a, b), strict=True))
      line = f'{shown}: {was!r} -> {now!r}'
      if line not in out:  # a spec shown once for all the arguments it changes
        out.append(line)
  return out


def config_path(workdir: str) -> str:
  return os.path.join(workdir, 'config.json')


def write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  files.write_text(config_path(workdir), config.to_json(indent=2))


def data_shapes_path(workdir: str) -> str:
  return os.path.join(workdir, 'data_shapes.json')


def write_data_shapes(workdir: str, record: dict[str, Any]) -> None:
  """Writes ``data_shapes.json`` (a :func:`jaxgan.data.shapes_record`)."""
  files.write_json(data_shapes_path(workdir), record)


def read_json(path: str,
              remedy: str = 'restore it from a copy (its run wrote it at start-up)',
              keys: tuple[str, ...] | None = None) -> Any:
  """A workdir's JSON record (``config.json``, ``data_shapes.json``); one that cannot be
  parsed, or, where ``keys`` is given, is not a JSON object holding them, is a
  :class:`ConfigError` naming it and ``remedy``, not a traceback."""
  with open(path) as f:
    try:
      value = json.load(f)
    except ValueError as e:  # JSON or UTF-8 that does not decode
      raise ConfigError(f'{path} is damaged and cannot be read ({e}); {remedy}.') from None
  if keys is not None:
    if not isinstance(value, dict):
      kind = {list: 'an array', str: 'a string', bool: 'a boolean', type(None): 'null'}.get(
          type(value), 'a number')
      raise ConfigError(f'{path} is damaged: it holds {kind}, not the JSON object it was '
                        f'written as; {remedy}.')
    if missing := [k for k in keys if k not in value]:
      raise ConfigError(f'{path} is damaged: it lacks {", ".join(missing)}; {remedy}.')
  return value


def read_data_shapes(workdir: str) -> dict[str, Any] | None:
  """The workdir's ``data_shapes.json``; ``None`` when it has none (a run of a version
  before it was written)."""
  path = data_shapes_path(workdir)
  if not os.path.exists(path):
    return None
  return read_json(path, keys=())


def _constant(schedule: Any) -> bool:
  """Whether an optimizer's ``schedule`` spec is a constant rate, as
  :func:`jaxgan.optimizers.schedule` reads it (``'constant'``, ``' constant()'``)."""
  try:
    return registry.parse_spec(schedule)[0] == 'constant'
  except ValueError:
    return False


def check_resume_config(workdir: str, config: ml_collections.ConfigDict,
                        step: int | None) -> list[str]:
  """Compares ``config`` with the workdir's ``config.json`` before resuming at ``step``
  (``None``: the workdir holds no checkpoint, e.g. a run stopped before its first save).

  Returns:
    The differences (``'field: saved -> current'``) outside :data:`RESUMABLE_FIELDS`,
    those of :data:`LOCATION_FIELDS` included (never refused, but recorded as any
    change); empty for a new workdir or the same config.

  Raises:
    ConfigError: the workdir holds a checkpoint (``step`` is not ``None``: nothing is
      trained to protect otherwise), ``config.allow_config_change`` is not set, and there
      are differences (the message lists them) or no ``config.json`` to compare with.
      Also, whatever ``allow_config_change`` says, an optimizer that moves between a
      constant and a scheduled rate (its checkpointed state has another structure), an
      ``init_from`` given to a run saved without one (it only starts a fresh run),
      another RRDBNet ``scan_blocks`` (another parameter layout), another ``n_critic``
      under a scheduled critic rate (its schedule would jump), and ``n_critic = 0`` for a
      run that trained a discriminator (its state would drop it).
  """
  path = config_path(workdir)
  if not os.path.exists(path):
    if step is not None and not config.get('allow_config_change', False):
      raise ConfigError(
          f'{workdir} holds a run (step {step}) but no config.json, so the config it was '
          'trained with cannot be checked. Put its config.json back, or pass '
          '--config.allow_config_change=True to resume it with this config.')
    if step is not None and config.get('init_from'):  # whether it started so is unknown
      logging.warning('init_from=%r is not read: %s resumes from its step-%d checkpoint.',
                      config.init_from, workdir, step)
    return []
  saved = read_json(path, keys=())
  current = json.loads(config.to_json())
  changes = config_changes(saved, current)
  moved = config_changes(saved, current, LOCATION_FIELDS)  # recorded, never refused
  if changes and step is not None and not config.get('allow_config_change', False):
    listing = '\n  '.join(changes)
    raise ConfigError(
        f'{workdir} holds a run (step {step}) trained with another config:\n  {listing}\n'
        'Resume with the same config, use another --workdir, or pass '
        '--config.allow_config_change=True to resume with these changes.')
  if step is not None:
    fields = _fields(saved), _fields(current)
    written = _written(saved), _written(current)  # for messages
    for opt in ('g_optimizer', 'd_optimizer'):
      was, now = (f[f'{opt}.schedule'] for f in written)
      if _constant(was) != _constant(now):  # not even with allow_config_change
        raise ConfigError(
            f'{workdir} holds a run (step {step}) whose {opt}.schedule is {was!r}; {now!r} '
            'changes the optimizer state (a scheduled rate keeps a step count, a constant '
            'one none), so its checkpoint cannot be resumed with it. Keep '
            f'{opt}.schedule={was!r} (a scheduled one may change to another schedule), or '
            'train in a new --workdir with --config.init_from pointing here.')
    was, now = (f.get('init_from') or '' for f in written)
    if now and not was:  # a fresh run's start: never read on a resume, so refused
      raise ConfigError(
          f'{workdir} holds a run (step {step}), which resumes from its own checkpoint; '
          f'init_from={now!r} starts a new run\'s generator from another run, and would be '
          'ignored here. Train in a new --workdir with it, or leave init_from out to '
          'resume this run.')
    was, now = (f['model.generator.scan_blocks'] for f in fields)
    if was != now:  # another parameter layout: not even with allow_config_change
      raise ConfigError(
          f'{workdir} holds a run (step {step}) whose model.generator.scan_blocks is {was}; '
          f'{now} stores the RRDBs in another layout (stacked or one per block), so its '
          f'checkpoint cannot be resumed with it. Keep --config.model.generator.scan_blocks='
          f'{was}, or train in a new --workdir with --config.init_from pointing here (it '
          'converts the generator).')
    # The critic's schedule reads its optimizer's count, n_critic per generator step: with
    # another n_critic it would jump to another generator step.
    n_was, n_now = (f.get('n_critic', 1) for f in fields)
    if n_was and not n_now:  # not even with allow_config_change: nothing lost
      raise ConfigError(
          f'{workdir} holds a run (step {step}) with n_critic={n_was}, whose checkpoint '
          'holds its trained discriminator; n_critic=0 trains the generator alone, with no '
          'discriminator in its state, so resuming with it would drop that one. Keep '
          f'n_critic={n_was}, or train the generator alone in a new --workdir with '
          '--config.init_from pointing here.')
    d_schedule = written[1]['d_optimizer.schedule']
    if n_was != n_now and n_now and not _constant(d_schedule):  # n_critic 0 reads none
      raise ConfigError(
          f'{workdir} holds a run (step {step}) with n_critic={n_was}; n_critic={n_now} '
          f'with the scheduled d_optimizer ({d_schedule!r}) would read its schedule at '
          f'another step (its count is {n_was} updates per generator step). Keep '
          f'n_critic={n_was}, or train in a new --workdir with --config.init_from pointing '
          'here.')
  return changes + moved


def record_config(workdir: str, config: ml_collections.ConfigDict | str, step: int,
                  changes: list[str]) -> str | None:
  """Writes ``config.json`` for the run now training; after a change the previous one is
  kept as ``config_before_step_{step}.json`` (``..._{step}_2.json``, ``_3``, ... when
  that is taken: a second changed resume at the same step keeps the first record). The
  previous one is copied, not moved: ``config.json`` is never missing, so a write that
  fails (an interrupt, a full disk) leaves it as it was, and a later resume is still
  checked against it. ``config``: the config, or its JSON text (a pending record's).
  Returns the kept file (``None`` without changes), for :func:`undo_config_record`."""
  path = config_path(workdir)
  kept = None
  if changes:
    kept, n = os.path.join(workdir, f'config_before_step_{step}.json'), 1
    while os.path.exists(kept):
      n += 1
      kept = os.path.join(workdir, f'config_before_step_{step}_{n}.json')
    _copy(path, kept)
    logging.warning('Resuming at step %d with a changed config (the previous one kept as %s):'
                    '\n  %s', step, kept, '\n  '.join(changes))
  if isinstance(config, str):
    files.write_text(path, config)
  else:
    write_config(workdir, config)
  return kept


def kept_configs(workdir: str) -> list[tuple[int, int, str]]:
  """``(T, n, path)`` of the configs :func:`record_config` kept at changed resumes,
  ``config_before_step_T.json`` (n = 1) and ``config_before_step_T_n.json``, in order."""
  kept = []
  for name in os.listdir(workdir):
    m = re.fullmatch(r'config_before_step_(\d+)(?:_(\d+))?\.json', name)
    if m:
      kept.append((int(m[1]), int(m[2] or 1), os.path.join(workdir, name)))
  return sorted(kept)


def pending_path(workdir: str) -> str:
  return os.path.join(workdir, 'config_pending.json')


def write_pending(workdir: str, config: ml_collections.ConfigDict, step: int,
                  changes: list[str], data_shapes: dict[str, Any]) -> None:
  """The record of a changed resume from ``step``, written before its first checkpoint:
  if the run stops between that checkpoint and :func:`record_config` (a SIGKILL, a full
  disk), :func:`settle_pending` makes it when the workdir is next trained."""
  files.write_json(pending_path(workdir), {
      'resumed_at': step, 'changes': changes, 'config': config.to_json(indent=2),
      'data_shapes': data_shapes})


def read_pending(workdir: str, latest_step: int | None) -> dict[str, Any] | None:
  """The pending record (:func:`write_pending`) when the latest checkpoint,
  ``latest_step``, comes after its resume step (it is the changed config's), else
  ``None``: the record that :func:`settle_pending` makes."""
  path = pending_path(workdir)
  if not os.path.exists(path):
    return None
  pending = read_json(path, 'delete it and resume with the changed config again (with '
                            '--config.allow_config_change=True), which records it anew',
                      keys=('resumed_at', 'changes', 'config', 'data_shapes'))
  return pending if latest_step is not None and latest_step > pending['resumed_at'] else None


def settle_pending(workdir: str, latest_step: int | None) -> None:
  """Settles a pending record (:func:`write_pending`) before a run reads ``config.json``:
  when a checkpoint after its resume step exists (it is the changed config's) its
  config becomes ``config.json`` (the previous one kept, :func:`record_config`; nothing
  more if it already is) and its data shapes ``data_shapes.json`` (a stop between the two
  writes left the old ones), else it is dropped (every checkpoint is the old config's)."""
  path = pending_path(workdir)
  if not os.path.exists(path):
    return
  pending = read_pending(workdir, latest_step)
  if pending is not None:
    with open(config_path(workdir)) as f:
      recorded = f.read() == pending['config']
    if not recorded:
      logging.warning('The run stopped after its checkpoint %d, before recording its changed '
                      'config: recorded now.', latest_step)
      record_config(workdir, pending['config'], pending['resumed_at'], pending['changes'])
    write_data_shapes(workdir, pending['data_shapes'])
  os.remove(path)


def _copy(source: str, target: str) -> None:
  """Copies the text file ``source`` to ``target``, whole or not at all."""
  with open(source) as f:
    files.write_text(target, f.read())


def undo_config_record(workdir: str, kept: str) -> None:
  """Puts back the ``config.json`` that :func:`record_config` kept as ``kept``, and removes
  ``kept``: for a changed resume that failed before it saved anything, so the workdir's
  checkpoints and its ``config.json`` still agree (a retry with the original config is
  not refused)."""
  _copy(kept, config_path(workdir))
  os.remove(kept)
  logging.warning('Nothing was saved with the changed config: %s is back as config.json.',
                  kept)
