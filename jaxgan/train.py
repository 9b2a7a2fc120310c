"""The training loop: ``train_and_evaluate(config, workdir)``, what ``launch/train.py`` calls.

Re-running with the same workdir resumes from the latest checkpoint, exactly: the data of
step ``s`` and its PRNG key are functions of ``(seed, s)`` (bit for bit, except a
convolutional model on CPU with ``steps_per_call > 1`` resumed between calls: its unrolled
calls of other lengths compile differently and match to float rounding). Nothing a user
has is lost:

* the config is validated, and every name resolved, before anything is written;
* one trainer per workdir (:class:`jaxgan.workdir.Lock`), and a resume with another config
  is refused unless asked for;
* a checkpoint is written only when every parameter, EMA weight, optimizer state and
  statistic is finite and every loss since the previous one was; a non-finite value
  stops training with its step and the last good checkpoint, which is never rotated out
  (the finite rows logged before it are kept);
* SIGTERM/SIGINT save a checkpoint and stop within about two compiled calls (the loop runs
  at most :data:`IN_FLIGHT` calls ahead of the device; on several hosts, which vote
  without waiting for the device, about two more), then the signal does what it would
  have done (:func:`train_and_evaluate`), so a stopped run does not look finished; metric
  rows after the restored step are dropped on resume, so the logs match the state;
* a failure of a host's own work outside the train step (reading its data, writing the log
  or the pictures) is voted like a signal: every host saves and stops at the same call,
  then fails (the batches are read ahead of the calls for that: :func:`_train`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from PIL import Image

from jaxgan import (
  build,
  checkpoints,
  data,
  inference,
  optimizers,
  plots,
  progress,
  sharding,
  validation,
  writers,
)
from jaxgan import gan as gan_lib
from jaxgan import workdir as workdir_lib
from jaxgan.data.bicubic import imresize

# Compiled calls the loop may dispatch ahead of the device. Unbounded, it ran up to
# ``log_every`` steps ahead, so a SIGTERM waited for all of them before its checkpoint
# (minutes on a slow model, past a scheduler's grace period); two keep the device busy.
IN_FLIGHT = 2

# loss_curves.png is redrawn at a checkpoint save when this many seconds have passed since
# it was last drawn (and at the end): a long run's curves stay current, while a save every
# few steps does not pay for a drawing (~0.4 s) each time.
CURVES_EVERY_S = 60.0


def _calls(start: int, total: int, per_call: int) -> Iterator[tuple[int, int]]:
  """``(first step, steps)`` of each compiled call from ``start`` to ``total``. Calls end at
  multiples of ``per_call``, also after a resume at another step (a SIGTERM's save), so
  that checkpoints, logs and pictures fall on the same steps as in an uninterrupted run."""
  s = start
  while s < total:
    k = min(per_call - s % per_call, total - s)
    yield s, k
    s += k


def _crossed(before: int, after: int, every: int) -> bool:
  return every > 0 and after // every > before // every


def first_nonfinite(metrics: dict[str, np.ndarray]) -> np.ndarray:
  """For metrics ``{name: [..., K]}`` of ``K`` steps: the index of the first step with a
  non-finite value along the last axis, ``-1`` where there is none (shape ``[...]``)."""
  bad = np.any([~np.isfinite(np.asarray(v)) for v in metrics.values()], axis=0)
  return np.where(bad.any(-1), np.argmax(bad, -1), -1)


class _StopRequest:
  """Turns SIGTERM/SIGINT into a flag so the loop can checkpoint and stop cleanly."""

  def __init__(self):
    self.requested = False
    self.signum: int | None = None  # the first signal received
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      if signal.getsignal(sig) == signal.SIG_IGN:  # ignored by whoever started us: it stays
        continue
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    logging.warning('Signal %d: saving a checkpoint and stopping.', signum)
    self.requested = True
    self.signum = self.signum or signum

  def __exit__(self, *exc):
    for sig, old in self._old.items():
      signal.signal(sig, old)


# What a host votes at each call: go on, stop (a signal: save and stop), or stop because its
# own work outside the train step (its data, the lead's log and pictures) failed: save,
# stop, fail.
GO_ON, STOP, FAILED = 0, 1, 2


def _stop_vote(code: int, mesh: jax.sharding.Mesh) -> int | jax.Array:
  """The largest of every host's ``code`` (:data:`GO_ON`, :data:`STOP`, :data:`FAILED`):
  a SIGTERM may reach some hosts first, and only the lead writes the logs and pictures, yet
  all must save and stop together, since saving is collective.

  One host: the code. Several: a replicated device scalar, dispatched but not read. A
  host-side gather (``process_allgather``) would run behind the train call just
  dispatched and wait for it at every call, so the loop reads each vote
  :data:`IN_FLIGHT` calls later (:func:`_stop_lag`), when that call is done anyway; every
  host reads the same vote at the same call.
  """
  if jax.process_count() == 1:
    return int(code)
  local = np.full((len(mesh.local_devices),), int(code), np.int32)
  votes = jax.make_array_from_process_local_data(
      jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec('data')), local)
  return _max(votes)


@jax.jit
def _max(votes: jax.Array) -> jax.Array:
  return votes.max()


def _stop_lag() -> int:
  """How many calls after its vote the loop reads a stop request: 0 on one host."""
  return 0 if jax.process_count() == 1 else IN_FLIGHT


def _logged(writer: writers.MetricWriter | None, step: int, name: str) -> float:
  """The value of ``name`` in the log's row at ``step`` (NaN where there is none)."""
  if writer is None or not step:
    return float('nan')
  rows = [r for r in writers.read_jsonl(writer.jsonl_path) if r['step'] == step]
  return float(rows[-1].get(name, float('nan'))) if rows else float('nan')


@jax.jit  # compiled once per state structure, not at every checkpoint
def _finite_fields(state: gan_lib.GANState) -> dict[str, jax.Array]:
  return {f: gan_lib.all_finite(getattr(state, f)) for f in state.__dataclass_fields__}


def _nonfinite_parts(state: gan_lib.GANState) -> list[str]:
  """The fields of ``state`` holding a non-finite value."""
  finite = jax.device_get(_finite_fields(state))
  return [f for f in state.__dataclass_fields__ if not finite[f]]


def _write_pictures(generate, gan, pipe, state, inputs, workdir, step_no,
                    writer: writers.MetricWriter | None) -> str | None:
  """Samples ``generate(state, *inputs)`` of the fixed inputs, computed on every host (a
  computation over all hosts' devices), written by the one with the ``writer`` (the lead):
  a PNG in ``samples/``, and the same picture in TensorBoard's images."""
  samples = np.asarray(jax.device_get(generate(state, *inputs)))
  if writer is None:
    return None
  os.makedirs(os.path.join(workdir, 'samples'), exist_ok=True)
  path = os.path.join(workdir, 'samples', f'step_{step_no:07d}.png')
  if pipe.lowres_shape:  # super-resolution: bicubic | generated | real, a row per crop
    lr, hr = inputs[0], pipe.evaluator_args['sample_pairs'](len(samples))[0]  # eval_inputs'
    scale = pipe.evaluator_args['scale']
    bicubic = np.stack([np.clip(imresize(np.asarray(x), scale), -1, 1) for x in lr])
    triplets = np.stack([bicubic, np.clip(samples, -1, 1), hr], 1)
    plots.save_image_grid(triplets.reshape(-1, *triplets.shape[2:]), path, scale=1, ncols=3)
  elif pipe.evaluator == 'modes':
    plots.save_scatter(samples, pipe.evaluator_args['modes'], path,
                       f'{pipe.name}, step {step_no}')
  else:
    # A column per class or code (build.eval_inputs), square for the others.
    plots.save_image_grid(samples[:100], path, ncols=gan.latent.assigned_classes or None)
  with Image.open(path) as im:
    writer.write_image(step_no, 'samples', np.asarray(im.convert('RGB')))
  writer.flush()  # on disk with a save's checkpoint: a resume does not draw its step again
  return path


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> gan_lib.GANState:
  """Trains ``config`` in ``workdir`` (resuming if it holds checkpoints).

  Writes ``config.json``, ``data_shapes.json`` (what sampling needs of the data),
  ``checkpoints/``, ``metrics.jsonl``/``.csv``, ``samples/step_*.png`` (from fixed noise),
  TensorBoard events (the rows and the sample pictures) and ``loss_curves.png`` (redrawn
  at a save at most every :data:`CURVES_EVERY_S` seconds, and at the end). A run that
  returns logs a last line naming them and the commands that score it (and, for a
  super-resolution model, upscale an image with it).

  A run refused before it writes anything (a config error, a wrong ``init_from``, a
  missing VGG19 file) leaves ``workdir`` as it found it: no lock file, no empty
  ``checkpoints/``, and no folder when it made one.

  Raises:
    validation.ConfigError: a config value that is not allowed, or a resume with a
      changed config; nothing is written.
    workdir.WorkdirBusy: another run trains in ``workdir``.
    FileExistsError: ``workdir`` holds a run's outputs (logs, pictures) but no run
      (:func:`jaxgan.workdir.check_not_foreign`); nothing is written.
    FloatingPointError: a non-finite loss or state; names the step and the last good
      checkpoint. Every checkpoint on disk is from before it.
    checkpoints.CheckpointError: a checkpoint in the workdir cannot be restored.
    Exception: this host's error reading its data or writing the log or pictures, raised
      once every host has stopped after the same call and saved its state (a failed read:
      the last call whose data every host had; nothing is trained when it is one of the
      first calls' reads); the other hosts raise RuntimeError.
    KeyboardInterrupt: after SIGINT, once the checkpoint is saved (Python's own handler;
      ``launch.train`` exits with 130).

  A SIGTERM stops training the same way, then is delivered again to the handler that was
  in place before training: by default the process ends as SIGTERM ends it (exit code
  143 in a shell), so a requeue wrapper can tell a stopped run from a finished one
  (exit 0). A host that stopped only because another host received the signal returns.
  """
  validation.validate(config)
  if config.get('distributed', False):
    jax.distributed.initialize()
  gan, pipe = build.build(config)
  length = build.training_length(config, pipe)
  lead = jax.process_index() == 0
  for line in build.schedule_warnings(config, length.steps) if lead else ():
    logging.warning(line)
  mesh = sharding.make_mesh()
  sharding.check_batch_size(config.data.batch_size, mesh)
  workdir_lib.check_folder(workdir)
  workdir_lib.check_not_foreign(workdir)
  before = workdir_lib.entries(workdir) if lead else None
  parents = workdir_lib.missing_parents(workdir) if lead else ()
  os.makedirs(workdir, exist_ok=True)
  record: dict[str, Any] = {}  # _train's config record: {'kept': path, 'saved': bool}
  with _workdir_lock(workdir, lead, before, parents):
    try:
      state, signum = _train(config, workdir, gan, pipe, length, mesh, lead, record)
    except BaseException:
      # A changed start in a workdir with no checkpoint, failed before it saved anything
      # (a NaN at its first steps, an error compiling): the old config.json is put back.
      # (A changed resume records its config only with its first checkpoint.)
      if record.get('kept') and not record.get('saved'):
        workdir_lib.undo_config_record(workdir, record['kept'])
      raise
  if signum is not None:  # saved, closed and unlocked: let the signal act as it would have
    logging.warning('Stopped by signal %d at step %d; the checkpoint is saved: rerun the '
                    'same command to resume.', signum, int(state.step))
    logging.flush()
    signal.raise_signal(signum)
  elif lead:
    logging.info(_summary(workdir, int(state.step), length.steps,
                          super_resolution=pipe.lowres_shape is not None))
  return state


def _summary(workdir: str, step: int, steps: int, super_resolution: bool = False) -> str:
  """The lead's last log line of a run that returns: how far it got (short of ``steps``
  only when another host was stopped), what ``workdir`` holds, how to score it and, for a
  super-resolution model, how to upscale an image with it."""
  pictures = os.path.join(workdir, 'samples')
  grids = [n for n in (os.listdir(pictures) if os.path.isdir(pictures) else ())
           if n.startswith('step_') and n.endswith('.png')]  # step_0000500.png, ...
  held = [name for name in ('checkpoints', 'metrics.jsonl', 'loss_curves.png')
          if os.path.exists(os.path.join(workdir, name))]
  # The newest: names padded to 7 digits, so a longer one (step 10,000,000 on) is later.
  held += [f'samples/{max(grids, key=lambda n: (len(n), n))}'] if grids else []
  head = (f'Trained to step {step}.' if step >= steps else
          f'Stopped at step {step} of {steps}, its checkpoint saved, as another host was '
          'asked to stop: rerun the same command to resume.')
  upscale = (f'; upscale an image with python -m launch.upscale --workdir={workdir} '
             '--input=IMAGE --output=OUTPUT.png' if super_resolution else '')
  return (f'{head} {workdir} holds {", ".join(held) or "no outputs yet"}. Score it with '
          f'python -m launch.evaluate --workdir={workdir}{upscale}')


def _share_failure(failed: Exception | None, what: str,
                   error: type[Exception] = RuntimeError) -> None:
  """Raises on every host when the lead failed at something only it does (``failed``, on
  the lead): the lead its own error, the others ``error`` naming ``what``. On several
  hosts every host takes part in one broadcast of the lead's outcome, so none is left
  waiting in the next collective for a lead that has gone."""
  refused = (jax.process_count() > 1
             and bool(multihost_utils.broadcast_one_to_all(np.int32(failed is not None))))
  if failed is not None:
    raise failed
  if refused:
    raise error(f'Host 0 failed {what} (see its log); every host stops.')


def _lead_first(fn: Callable[[], Any], lead: bool, what: str,
                error: type[Exception] = RuntimeError) -> Any:
  """``fn()`` on the lead (``None`` elsewhere), its failure raised on every host
  (:func:`_share_failure`, the others' as ``error``)."""
  failed, value = None, None
  if lead:
    try:
      value = fn()
    except Exception as e:  # any failure must reach every host
      failed = e
  _share_failure(failed, what, error)
  return value


@contextlib.contextmanager
def _workdir_lock(workdir: str, lead: bool, before: frozenset[str] | None,
                  parents: tuple[str, ...] = ()) -> Iterator[None]:
  """The workdir's lock (:class:`jaxgan.workdir.Lock`), held by the lead host while the run
  trains; refused, it stops every host (:func:`_lead_first`). A run that fails while taking
  it (no flock on the file system, an interrupt) or before it writes anything (a wrong
  init_from, a missing VGG19 file) has the lead take back what it made
  (:func:`jaxgan.workdir.remove_unused`, ``before``: the workdir's entries before,
  ``parents``: the folders made above it; it leaves a workdir anything was written to as
  it is), still holding the lock where it got it."""
  with contextlib.ExitStack() as stack:
    try:
      _lead_first(lambda: stack.enter_context(workdir_lib.Lock(workdir)), lead,
                  f'to take the lock of {workdir}', workdir_lib.WorkdirBusy)
      yield
    except workdir_lib.WorkdirBusy:  # another run holds it: nothing of it is touched
      raise
    except BaseException:
      if lead:
        workdir_lib.remove_unused(workdir, before, parents)
      raise


def _train(config, workdir, gan, pipe, length, mesh, lead,
           record: dict[str, Any]) -> tuple[gan_lib.GANState, int | None]:
  """The loop; returns the state and the signal that stopped it on this host, if any.
  ``record`` gets the config kept by a changed resume (``'kept'``) and whether a
  checkpoint was saved since (``'saved'``)."""
  logging.info('Training %s.', length.describe())
  replicated = sharding.replicated(mesh)
  # Read before anything is written or initialized: a missing VGG19 file fails at once.
  frozen_host = build.frozen_variables(config)
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'),
                                 keep=config.keep_checkpoints)
  last_saved = ckpt.latest_step()
  # A changed resume stopped right after its first checkpoint is recorded first.
  _lead_first(lambda: workdir_lib.settle_pending(workdir, last_saved), lead,
              'to settle config_pending.json')
  # Every host checks (read-only), so that a refused resume stops all of them, not the
  # lead alone while the others wait in the restore's collectives.
  changes = workdir_lib.check_resume_config(workdir, config, last_saved)
  if last_saved is not None:  # a folder's held-out files: the same, or (allowed) warned of
    allowed = config.get('allow_config_change', False)
    try:
      data.check_held_out(pipe, workdir, resuming=not allowed)
    except validation.DataError as e:
      if not allowed:
        raise
      logging.warning('%s Training goes on with the new split (allow_config_change): later '
                      'evaluations score images that steps before %d trained on.', e,
                      last_saved)
  if last_saved is not None and last_saved > length.steps:  # would train nothing, silently
    raise validation.ConfigError(
        f'{workdir} holds a run already at step {last_saved}, past the length asked '
        f'({length.describe()}): nothing would be trained. Ask for more than {last_saved} '
        'steps to train it further, or use another --workdir.')
  if lead and last_saved is not None and last_saved == length.steps:  # a finished run again
    logging.info('%s is already at step %d, the length asked (%s): nothing to train. Ask for '
                 'more than %d steps to train it further.', workdir, last_saved,
                 length.describe(), last_saved)
  state = build.restore_state(ckpt, gan, pipe, replicated, config.seed)
  # The source of a fresh run's generator is read and checked before anything is written:
  # a wrong init_from leaves the workdir as it was.
  source = (inference.init_weights(config.init_from, build.abstract_state(gan, pipe))
            if state is None and config.init_from else None)
  if jax.process_count() > 1:  # every host has read config.json before the lead rewrites it
    multihost_utils.sync_global_devices('jaxgan: config.json read')

  resumed_at = last_saved or 0

  def record_config() -> None:  # only now: a failed restore leaves the workdir as it was
    record['kept'] = workdir_lib.record_config(workdir, config, resumed_at, changes)
    workdir_lib.write_data_shapes(workdir, data.shapes_record(pipe))
    if os.path.exists(workdir_lib.pending_path(workdir)):
      os.remove(workdir_lib.pending_path(workdir))
  # A changed resume records its config with its first checkpoint: until then every
  # checkpoint is the old config's, and so is config.json, whatever stops the run (a
  # SIGKILL too), so that the original command still resumes it.
  record_pending = bool(changes) and last_saved is not None
  if record_pending:
    logging.warning('Resuming at step %d with a changed config, recorded in config.json '
                    'with its first checkpoint:\n  %s', last_saved, '\n  '.join(changes))
  else:
    _lead_first(record_config, lead, 'to write config.json and data_shapes.json')
  if state is None:
    init = jax.jit(lambda k: build.init_state(gan, pipe, k), out_shardings=replicated)
    state = init(build.init_key(config.seed))
    if config.init_from:
      state = jax.device_put(  # the new optimizer state is made outside jit
          inference.init_generator_from(state, gan, config.init_from, source), replicated)
      logging.info('Generator initialized from %s', config.init_from)
  else:
    logging.info('Resumed from step %d in %s', int(state.step), ckpt.directory)
  start, total = int(state.step), length.steps

  train_fn = sharding.compile_train_steps(gan, mesh)
  frozen = jax.device_put(frozen_host, replicated)
  del frozen_host  # the host copy (VGG19: ~80 MB) is not kept through training
  base_key = build.step_base_key(config.seed)
  eval_inputs = build.eval_inputs(gan, pipe, config.seed, config.num_eval_samples)
  # One compiled program for the sample pictures (op by op, the first grid compiled every
  # operation of G, and of the EMA statistics' loop, on its own); the weights that
  # launch.sample and launch.evaluate use (inference.uses_ema).
  use_ema = inference.uses_ema(config)
  generate = jax.jit(lambda st, *inputs: gan_lib.generate(gan, st, *inputs, use_ema=use_ema),
                     compiler_options=sharding.default_compiler_options())
  writer = _lead_first(lambda: writers.MetricWriter(workdir, start), lead,
                       'to open the metric logs')
  per_call = config.steps_per_call
  pending: list[tuple[int, dict]] = []

  def stop(what: str, at: int | None = None) -> None:
    good = (f'the last good checkpoint is step {last_saved} in {ckpt.directory}'
            if last_saved is not None else 'no checkpoint was saved')
    if at is not None and last_saved is not None and at == last_saved + 1:
      # Its weights are finite (checked at the save), but they may already be diverging:
      # nothing has run from them but this step.
      good += (f'. The loss failed at the first step after that save: if a resume fails '
               f'there again, the weights saved were already diverging; to go on, '
               f'{ckpt.without(last_saved)} with a lower learning rate')
    raise FloatingPointError(f'{what} Training stopped; {good}.')

  # Lazy regularization computes the penalty on some steps only (gan.penalty_due) and
  # reports 0 on the others: the log shows the last computed value; after a resume, the one
  # logged at the restored step (every save logs its step), as an uninterrupted run would.
  # n_critic = 0 trains no critic, so no penalty either (and logs none).
  lazy = gan.penalty is not None and gan.penalty_every > 1 and gan.n_critic > 0
  last_penalty = [_logged(writer, start, 'penalty') if lazy else float('nan')]
  last_write = [time.perf_counter(), start]  # the time and step of the last rate
  curves_drawn = [last_write[0]]  # when loss_curves.png was last drawn (the start: not yet)
  rates = {}  # a scheduled learning rate is logged: the rate of the step that made the row
  for player in ('g', 'd') if gan.n_critic else ('g',):
    opt = config[f'{player}_optimizer']
    fn = optimizers.schedule(opt.get('schedule', 'constant'), opt.get('learning_rate', 0.0))
    if callable(fn):
      rates[f'{player}_lr'] = fn

  # An error in a host's own work outside the train step (reading its data; the lead's log
  # and pictures) is kept and voted (FAILED): every host saves and stops at the same call,
  # then fails. Raised at once, it left the other hosts waiting in the next collective, and
  # on one host it cost the checkpoint of a save step whose log row failed.
  failed: list[Exception] = []

  def my_vote(stop_request: _StopRequest) -> int:
    return FAILED if failed else STOP if stop_request.requested else GO_ON

  def own_work(fn: Callable[..., Any], *args: Any) -> None:
    try:
      fn(*args)
    except Exception as e:  # every host must hear of it: the vote
      if not failed:
        logging.exception('This host failed at its own work outside the train step (its '
                          'data, log or pictures): every host saves and stops.')
        failed.append(e)
      else:  # the first one is raised; this one would be lost without a trace
        logging.exception('A further failure of this host\'s own work.')

  # The batches are read `lag + 1` calls ahead (NumPy, on the host), so that a host's data
  # error is voted before the call that needs those batches is due: every host then saves
  # the state of the last call that had its data everywhere, and stops. Read on demand, a
  # failed read left the other hosts waiting in that call's collectives. After any failure
  # nothing more is read: the calls until the vote is read are already here.
  plan, ahead = _calls(start, total, per_call), collections.deque()
  lag = _stop_lag()  # the calls between a vote and its reading
  depth = lag + 1

  def read(first: int, k: int) -> None:
    ahead.append((first, k, pipe.batches(first, k)))

  def read_ahead() -> None:
    while len(ahead) < depth and not failed:
      call = next(plan, None)
      if call is None:
        return
      own_work(read, *call)

  def draw_curves() -> None:
    plots.save_loss_curves(writers.read_jsonl(writer.jsonl_path),
                           os.path.join(workdir, 'loss_curves.png'))

  def write_rows(rows: list, save: bool) -> None:
    # Steps per second since the last flush, or since the last save or pictures, whose time
    # is not the steps' (the first interval includes compilation).
    now, last = time.perf_counter(), rows[-1][0]
    rate = (last - last_write[1]) / max(now - last_write[0], 1e-9)
    last_write[:] = now, last
    for step, m in rows:
      if step % config.log_every == 0 or (save and step == last):
        writer.write(step, {**m, **{k: float(fn(step - 1)) for k, fn in rates.items()},
                            'steps_per_sec': rate})
    if save:  # on disk before the checkpoint: a killed run resumes after these rows
      writer.flush()
    bar.set_postfix({k: f'{v:.3f}' for k, v in rows[-1][1].items()
                     if k in ('d_loss', 'g_loss')})

  def flush(save: bool = False) -> None:
    """Fetches pending metrics and writes the log: the rows at multiples of ``log_every``
    and, at a save, the saved step's. At the first non-finite one, the finite rows before
    it are written (what led up to it), then training stops."""
    rows, error, error_step = [], None, None
    for first, metrics in jax.device_get(pending):
      metrics = {k: np.asarray(v) for k, v in metrics.items()}
      bad = int(first_nonfinite(metrics))
      n = len(metrics['g_total']) if bad < 0 else bad
      rows += [(first + i + 1, {k: float(v[i]) for k, v in metrics.items()})
               for i in range(n)]
      if bad >= 0:
        values = {k: float(v[bad]) for k, v in metrics.items()}
        error_step = first + bad + 1
        error = f'Non-finite loss at step {error_step}: {values}.'
        break
    pending.clear()
    save = save and error is None  # no save follows a non-finite loss
    for step, m in rows if lazy else ():  # row `step` is the state after step `step - 1`
      if gan_lib.penalty_due(gan, step - 1):
        last_penalty[0] = m['penalty']
      m['penalty'] = last_penalty[0]
    if rows and writer is not None:
      own_work(write_rows, rows, save)
    if error:
      stop(error, error_step)

  signum, vote = None, GO_ON
  try:
    with _StopRequest() as stop_request, progress.bar(total, start, lead) as bar:
      s, votes = start, []
      read_ahead()
      # The first calls' data, voted at once: where any host's read failed, every host stops
      # before the first call (its state is the restored or initial one: nothing is lost).
      vote = FAILED if int(_stop_vote(FAILED if failed else GO_ON, mesh)) else GO_ON
      while s < total and vote == GO_ON:
        first, k, batches = ahead.popleft()
        assert first == s, (first, s)
        state, metrics = train_fn(state, sharding.put_batches(batches, mesh), base_key,
                                  frozen)
        pending.append((s, metrics))
        if len(pending) > IN_FLIGHT:  # dispatch at most IN_FLIGHT calls ahead
          jax.block_until_ready(pending[-1 - IN_FLIGHT][1])
        before, s = s, s + k
        bar.update(k)
        if not stop_request.requested:  # (stopping: the calls until the vote are here)
          read_ahead()  # while the device computes
        votes.append(_stop_vote(my_vote(stop_request), mesh))  # read once
        vote = int(votes.pop(0)) if len(votes) > lag else GO_ON
        stopping = vote != GO_ON
        save = _crossed(before, s, config.checkpoint_every) or s == total or stopping
        if save or _crossed(before, s, config.log_every):
          flush(save)
        if save:
          bad = _nonfinite_parts(state)
          if bad:
            since = f'step {last_saved}' if last_saved is not None else 'the start'
            stop(f'Non-finite values in {", ".join(bad)} of the train state at step {s} '
                 f'(not saved). The state is checked at each save: they appeared after '
                 f'{since}, the losses logged until then being finite.')
        if save and record_pending:  # in case it stops before config.json is written
          _lead_first(lambda: workdir_lib.write_pending(
              workdir, config, resumed_at, changes, data.shapes_record(pipe)), lead,
                      'to write config_pending.json')
        if save:  # before the pictures: a failure there must not cost the checkpoint
          ckpt.save(s, state)
        pictures = _crossed(before, s, config.eval_every) or s == total
        if pictures:
          own_work(_write_pictures, generate, gan, pipe, state, eval_inputs, workdir, s,
                   writer)
        if save:
          ckpt.wait()  # the next step donates the state's buffers
          last_saved, record['saved'] = s, True
          if record_pending:
            _lead_first(record_config, lead, 'to write config.json and data_shapes.json')
            record_pending = False
        if save or pictures:  # (the device has finished step s: saved or drawn)
          now = time.perf_counter()
          # On disk with this save's rows (the last one's: drawn when the logs close).
          if (save and writer is not None and s < total and not stopping
              and now - curves_drawn[0] >= CURVES_EVERY_S):
            own_work(draw_curves)
            now = curves_drawn[0] = time.perf_counter()
          last_write[:] = now, s  # the next rate counts the steps after this
        if stopping:
          signum = stop_request.signum  # None where only another host was signalled
          break
      # A failure or a signal in the last calls came after their votes were cast: one more
      # vote, read at once (every host is here, after the same call).
      if vote != FAILED:
        last = int(_stop_vote(my_vote(stop_request), mesh))
        if last == STOP:
          signum = stop_request.signum
        vote = max(vote, last)
  finally:
    try:
      ckpt.close()  # waits for the last save: its failure is raised, after the logs close
    finally:
      if writer is not None:
        try:  # the logs' last writes must not replace the error in flight, if any
          writer.close()
          draw_curves()
        except Exception:
          logging.exception('Closing the metric logs or writing loss_curves.png failed.')
  if vote == FAILED:
    if failed:
      raise failed[0]
    saved = (f'the last checkpoint is step {last_saved}' if last_saved is not None
             else 'no checkpoint was saved')
    raise RuntimeError('Another host failed at its own work outside the train step (reading '
                       "its data, writing the log or the pictures: see the other hosts' "
                       f'logs); every host stopped at step {int(state.step)}, and {saved}.')
  return state, signum
