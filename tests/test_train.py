"""Tests of the training loop: resume, nothing lost (NaN guard, lock, config checks,
checkpoint errors, metric logs)."""

import contextlib
import csv
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

import chex
import jax
import numpy as np
from absl.testing import absltest
from PIL import Image

from jaxgan import (
  build,
  checkpoints,
  data,
  inference,
  optimizers,
  sharding,
  train,
  validation,
  workdir,
  writers,
)
from jaxgan import gan as gan_lib
from tests.train_helpers import (
  ENV,
  ROOT,
  decode_png,
  failing_from,
  saved_steps,
  small_batchnorm_config,
  small_config,
  tensorboard_events,
)


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


def _poison_data(step_to_poison: int):
  """Patches ``data.get`` so that the real data of train step ``step_to_poison`` is NaN."""
  real_get = data.get

  def poisoned(*args, **kwargs):
    p = real_get(*args, **kwargs)

    def batch(s):
      b = p.batch(s)
      return {**b, 'x': b['x'] * np.nan} if s == step_to_poison else b
    return dataclasses.replace(p, batch=batch)
  return mock.patch.object(data, 'get', poisoned)


def _host_read(events: list, array_type: type, name: str):
  """``array_type``'s method ``name``, appending ``('host', name)`` to ``events`` first."""
  real = getattr(array_type, name)

  def method(self, *args, **kwargs):
    events.append(('host', name))
    return real(self, *args, **kwargs)
  return method


def _numpy_read(events: list, name: str):
  """``np.<name>``, appending ``('host', 'np.<name>')`` to ``events`` first when given a
  JAX array."""
  real = getattr(np, name)

  def fn(a, *args, **kwargs):
    if isinstance(a, jax.Array):
      events.append(('host', f'np.{name}'))
    return real(a, *args, **kwargs)
  return fn


def _events(config, workdir: str, *methods: tuple[type, str]) -> list[tuple[str, object]]:
  """Trains ``config`` in ``workdir`` and returns, in order, each train-step call as
  ``('call', step)`` and each call of the given ``(class, method)`` as ``(method, its
  first argument or None)``."""
  events = []
  real_compile = sharding.compile_train_steps

  def counting(*args, **kwargs):
    fn = real_compile(*args, **kwargs)

    def call(state, *call_args):
      events.append(('call', int(state.step)))
      return fn(state, *call_args)
    return call

  def recording(name: str, real):
    def method(obj, *args, **kwargs):
      events.append((name, args[0] if args else None))
      return real(obj, *args, **kwargs)
    return method
  with contextlib.ExitStack() as stack:
    stack.enter_context(mock.patch.object(sharding, 'compile_train_steps', counting))
    for cls, name in methods:
      stack.enter_context(mock.patch.object(cls, name, recording(name, getattr(cls, name))))
    train.train_and_evaluate(config, workdir)
  return events


class TrainLoopTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = tempfile.mkdtemp()

  def test_resume_is_exact(self):
    c = small_config(**{'penalty.name': 'wgan_gp', 'ema_decay': 0.9})
    full = train.train_and_evaluate(c, os.path.join(self.dir, 'full'))
    half = os.path.join(self.dir, 'half')
    train.train_and_evaluate(small_config(**{'penalty.name': 'wgan_gp', 'ema_decay': 0.9,
                                             'num_steps': 20}), half)
    resumed = train.train_and_evaluate(c, half)
    self.assertEqual(int(resumed.step), 40)
    self.assertTrue(_leaves_equal(full, resumed), 'resume must be bit for bit')
    steps = [r['step'] for r in map(json.loads, open(os.path.join(half, 'metrics.jsonl')))]
    self.assertEqual(steps, list(range(5, 45, 5)))

  def test_outputs(self):
    wd = os.path.join(self.dir, 'out')
    with self.assertLogs('absl', 'INFO') as logs:
      train.train_and_evaluate(small_config(), wd)
    for name in ('config.json', 'metrics.jsonl', 'metrics.csv', 'loss_curves.png',
                 'samples/step_0000020.png', 'samples/step_0000040.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    # The last line says where things are (the last grid) and what to run next.
    self.assertEqual(logs.records[-1].getMessage(), (
        f'Trained to step 40. {wd} holds checkpoints, metrics.jsonl, loss_curves.png, '
        f'samples/step_0000040.png. Score it with python -m launch.evaluate --workdir={wd}'))
    # TensorBoard: the scalars of every row, and the sample pictures as they are on disk.
    events = tensorboard_events(wd)
    images = {e.step: v.image for e in events for v in e.summary.value if v.HasField('image')}
    self.assertEqual(sorted(images), [20, 40])
    for step, image in images.items():
      with Image.open(os.path.join(wd, 'samples', f'step_{step:07d}.png')) as im:
        np.testing.assert_array_equal(decode_png(image.encoded_image_string),
                                      np.asarray(im.convert('RGB')))
    d_loss = {e.step: v.simple_value for e in events for v in e.summary.value
              if v.tag == 'd_loss'}
    self.assertEqual(sorted(d_loss), list(range(5, 45, 5)))
    self.assertEqual(saved_steps(wd), [20, 30, 40])
    out = inference.sample_latest(wd, 250, batch_size=100)
    x = out['samples']
    self.assertEqual((x.shape, x.dtype, out['step'], out['ema']), ((250, 2), np.float32, 40,
                                                                   True))
    self.assertTrue(np.all(np.isfinite(x)))

  def test_the_summary_names_what_the_workdir_holds(self):
    # Short of the length only when another host was stopped (a host's own signal is
    # raised again instead); the newest step_*.png grid, not another file in samples/.
    wd = tempfile.mkdtemp()
    self.assertEqual(train._summary(wd, 30, 30), f'Trained to step 30. {wd} holds no '
                     f'outputs yet. Score it with python -m launch.evaluate --workdir={wd}')
    os.makedirs(os.path.join(wd, 'checkpoints'))
    os.makedirs(os.path.join(wd, 'samples'))
    for name in ('metrics.jsonl', 'samples/step_0000500.png', 'samples/step_0001000.png',
                 'samples/zoom.png', 'samples/step_0002000.txt'):
      open(os.path.join(wd, name), 'w').close()
    self.assertEqual(train._summary(wd, 1200, 3000), (
        f'Stopped at step 1200 of 3000, its checkpoint saved, as another host was asked to '
        f'stop: rerun the same command to resume. {wd} holds checkpoints, metrics.jsonl, '
        f'samples/step_0001000.png. Score it with python -m launch.evaluate --workdir={wd}'))
    for name in ('step_9999999.png', 'step_10000000.png'):  # past 7 digits: still the newest
      open(os.path.join(wd, 'samples', name), 'w').close()
    self.assertIn(' metrics.jsonl, samples/step_10000000.png. ', train._summary(wd, 30, 30))
    self.assertTrue(train._summary(wd, 30, 30, super_resolution=True).endswith(
        f'Score it with python -m launch.evaluate --workdir={wd}; upscale an image with '
        f'python -m launch.upscale --workdir={wd} --input=IMAGE --output=OUTPUT.png'))

  def test_a_failed_last_save_is_raised_after_the_logs_are_closed(self):
    # Checkpoints.close waits for the last (asynchronous) save; when that fails, the error
    # is raised, and the metric logs are still closed and the loss curves written.
    wd = os.path.join(self.dir, 'failed_save')
    real_close = checkpoints.Checkpoints.close

    def close_then_fail(ckpt):
      real_close(ckpt)
      raise OSError('No space left on device')
    with mock.patch.object(checkpoints.Checkpoints, 'close', close_then_fail), \
         mock.patch.object(writers.MetricWriter, 'close', autospec=True,
                           side_effect=writers.MetricWriter.close) as writer_close, \
         self.assertRaisesRegex(OSError, 'No space left on device'):
      train.train_and_evaluate(small_config(num_steps=10), wd)
    self.assertEqual(writer_close.call_count, 1)
    self.assertTrue(os.path.exists(os.path.join(wd, 'loss_curves.png')))
    steps = [r['step'] for r in map(json.loads, open(os.path.join(wd, 'metrics.jsonl')))]
    self.assertEqual(steps, [5, 10])

  def test_init_from_takes_the_ema_weights_with_their_own_statistics(self):
    # A generator with a BatchNorm: with an EMA, init_from starts from the weights and
    # statistics that sampling the source run uses, not the EMA weights with the trained
    # weights' statistics.
    source = os.path.join(self.dir, 'source')
    train.train_and_evaluate(
        small_config(num_steps=20, ema_decay=0.9, **{'model.generator.batch_norm': True}), source)
    gan, _, saved, _ = inference.restore(source, with_data=False)
    self.assertTrue(saved.g_stats)
    state = inference.init_generator_from(saved.replace(step=saved.step * 0), gan, source)
    chex.assert_trees_all_equal(state.g_params, saved.ema_params)
    chex.assert_trees_all_close(state.g_stats, gan_lib.ema_statistics(gan, saved), rtol=1e-5)
    flat = lambda stats: np.concatenate([np.ravel(x) for x in jax.tree.leaves(stats)])
    self.assertGreater(np.abs(flat(state.g_stats) - flat(saved.g_stats)).max(), 1e-3)

  def test_a_missing_init_from_run_is_refused_before_anything_is_written(self):
    wd = os.path.join(self.dir, 'from_nowhere')
    with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
      train.train_and_evaluate(small_config(init_from=os.path.join(self.dir, 'nowhere')), wd)
    # The run made the workdir, and takes it away again: nothing to refuse a retry.
    self.assertFalse(os.path.exists(wd))
    # A workdir that was there keeps what it had, and gets nothing more.
    os.makedirs(wd)
    open(os.path.join(wd, 'notes.txt'), 'w').close()
    with self.assertRaisesRegex(FileNotFoundError, 'nowhere'):
      train.train_and_evaluate(small_config(init_from=os.path.join(self.dir, 'nowhere')), wd)
    self.assertEqual(os.listdir(wd), ['notes.txt'])

  def test_a_folder_with_a_runs_outputs_but_no_run_is_refused(self):
    # Someone's own logs or curves in the folder: a run there would replace them.
    wd = os.path.join(self.dir, 'foreign')
    os.makedirs(wd)
    for name, text in (('metrics.csv', 'step,x\n1,2\n'), ('config.json', '{"mine": 1}')):
      with open(os.path.join(wd, name), 'w') as f:
        f.write(text)
      with self.assertRaisesRegex(FileExistsError, r'holds metrics.csv but no jaxgan run \(no '
                                  r'checkpoints/, no config.json of a run\)'):
        train.train_and_evaluate(small_config(num_steps=10), wd)
      self.assertLessEqual(set(os.listdir(wd)), {'metrics.csv', 'config.json'})  # nothing added
    self.assertEqual(open(os.path.join(wd, 'metrics.csv')).read(), 'step,x\n1,2\n')
    # A run's own workdir, stopped before its first checkpoint, is still its own.
    own = os.path.join(self.dir, 'own')
    train.train_and_evaluate(small_config(num_steps=10), own)
    shutil.rmtree(os.path.join(own, 'checkpoints'))
    self.assertEqual(int(train.train_and_evaluate(small_config(num_steps=10), own).step), 10)

  def test_a_run_refused_by_the_lock_leaves_the_other_runs_files(self):
    wd = os.path.join(self.dir, 'busy')
    with workdir.Lock(wd), self.assertRaises(workdir.WorkdirBusy):
      train.train_and_evaluate(small_config(), wd)
    self.assertEqual(os.listdir(wd), ['.lock'])
    # The other run made the workdir after this one looked (no folder yet) and holds it,
    # its checkpoint folder still empty: refused, this run takes nothing of it away.
    with workdir.Lock(wd):
      os.makedirs(os.path.join(wd, 'checkpoints'))
      looks = [None]  # what this run saw first; then the real listing
      real_entries = workdir.entries
      first_none = lambda d: looks.pop() if looks else real_entries(d)
      with mock.patch.object(workdir, 'entries', first_none), \
           self.assertRaises(workdir.WorkdirBusy):
        train.train_and_evaluate(small_config(), wd)
      self.assertEqual(sorted(os.listdir(wd)), ['.lock', 'checkpoints'])

  def test_a_lock_that_cannot_be_taken_leaves_no_folder(self):
    # A file system without flock: the run fails taking the lock, and takes back the
    # folder it made.
    import errno
    wd = os.path.join(self.dir, 'nolock', 'run')
    no_locks = mock.Mock(side_effect=OSError(errno.ENOLCK, 'No locks available'))
    with mock.patch.object(workdir.fcntl, 'flock', no_locks), \
         self.assertRaisesRegex(OSError, 'No locks available'):
      train.train_and_evaluate(small_config(), wd)
    self.assertFalse(os.path.exists(os.path.join(self.dir, 'nolock')))  # made for it: gone

  def test_a_workdir_that_is_a_file_is_named_so(self):
    # The command line checks it first; a caller of the library got a bare errno 17.
    path = os.path.join(self.dir, 'a_file')
    with open(path, 'w') as f:
      f.write('x')
    with self.assertRaisesRegex(NotADirectoryError, f'^{path} is a file; a workdir is a folder'):
      train.train_and_evaluate(small_config(), path)
    with open(path) as f:
      self.assertEqual(f.read(), 'x')

  def test_an_interrupt_while_the_lock_is_taken_cleans_up_holding_it(self):
    wd = os.path.join(self.dir, 'interrupted')
    held_during_cleanup, real_remove = [], workdir.remove_unused

    def remove_unused(d, *args):
      try:  # another taker is refused only while this run still holds the lock
        with workdir.Lock(d):
          held_during_cleanup.append(False)
      except workdir.WorkdirBusy:
        held_during_cleanup.append(True)
      real_remove(d, *args)
    with mock.patch.object(train, '_share_failure', side_effect=KeyboardInterrupt), \
         mock.patch.object(workdir, 'remove_unused', remove_unused), \
         self.assertRaises(KeyboardInterrupt):
      train.train_and_evaluate(small_config(), wd)
    self.assertEqual(held_during_cleanup, [True])
    self.assertFalse(os.path.exists(wd))

  def test_a_damaged_config_json_is_named_before_anything_else(self):
    wd = os.path.join(self.dir, 'damaged')
    os.makedirs(os.path.join(wd, 'samples'))
    with open(os.path.join(wd, 'config.json'), 'w') as f:
      f.write('{"model": ')
    with self.assertRaisesRegex(validation.ConfigError, 'config.json'):
      train.train_and_evaluate(small_config(), wd)

  def test_a_lock_file_removed_by_its_holder_is_not_taken_by_a_run_that_opened_it(self):
    # A refused run removes its own lock file while it holds it. A run that opened that
    # file just before must not lock the removed file (a third run would get the new one
    # too): it locks the file at the path.
    wd = os.path.join(self.dir, 'handover')
    first = workdir.Lock(wd).__enter__()
    real_open, calls = open, []

    def open_then_first_leaves(path, mode):
      f = real_open(path, mode)
      if not calls:
        calls.append(path)
        os.remove(first.path)
        first.__exit__(None, None, None)
      return f
    with mock.patch.object(workdir, 'open', open_then_first_leaves, create=True):
      second = workdir.Lock(wd).__enter__()
    self.assertEqual(os.stat(second.path).st_ino, os.fstat(second._file.fileno()).st_ino)
    with self.assertRaises(workdir.WorkdirBusy):
      workdir.Lock(wd).__enter__()
    second.__exit__(None, None, None)

  def test_a_failed_start_takes_back_only_what_it_added(self):
    # Its lock file and empty checkpoints/ go; the folder goes only when the run made it.
    lock = lambda d: open(os.path.join(d, '.lock'), 'w').close()  # noqa: SIM115
    users = os.path.join(self.dir, 'users')
    os.makedirs(users)  # the user's empty folder
    before = workdir.entries(users)
    lock(users)
    os.makedirs(os.path.join(users, 'checkpoints'))
    workdir.remove_unused(users, before)
    self.assertEqual(os.listdir(users), [])
    lock(users)
    with open(workdir.config_path(users), 'w') as f:  # it wrote something: all stays
      f.write('{}')
    workdir.remove_unused(users, before)
    self.assertEqual(sorted(os.listdir(users)), ['.lock', 'config.json'])
    # In a folder that held the user's files: those stay, the run's lock goes.
    with open(os.path.join(users, 'notes.txt'), 'w') as f:
      f.write('mine')
    os.remove(os.path.join(users, '.lock'))
    os.remove(workdir.config_path(users))
    before = workdir.entries(users)
    lock(users)
    workdir.remove_unused(users, before)
    self.assertEqual(os.listdir(users), ['notes.txt'])
    made = os.path.join(self.dir, 'made')
    before = workdir.entries(made)
    self.assertIsNone(before)
    os.makedirs(made)
    lock(made)
    workdir.remove_unused(made, before)
    self.assertFalse(os.path.exists(made))
    # The folders made above it go too, while empty; the user's empty folder stays.
    base = tempfile.mkdtemp(dir=self.dir)  # the user's empty folder
    top = os.path.join(base, 'a')
    deep = os.path.join(top, 'b', 'run')
    parents = workdir.missing_parents(deep)
    self.assertEqual(parents, (os.path.join(top, 'b'), top))
    os.makedirs(deep)
    lock(deep)
    workdir.remove_unused(deep, None, parents)
    self.assertEqual(os.listdir(base), [])
    os.makedirs(deep)
    open(os.path.join(top, 'notes.txt'), 'w').close()  # noqa: SIM115  (written meanwhile)
    with self.assertLogs('absl', 'WARNING') as logs:
      workdir.remove_unused(deep, None, parents)
    self.assertEqual(sorted(os.listdir(top)), ['notes.txt'])  # b/ went; a/ is not empty
    self.assertRegex(logs.output[0], f'Left {re.escape(top)}, made for {re.escape(deep)}, as '
                                     'it is')
    self.assertEqual(workdir.missing_parents(os.path.join(base, 'x')), ())

  def test_a_resume_at_an_unaligned_step_saves_at_the_usual_steps(self):
    wd = os.path.join(self.dir, 'unaligned')
    train.train_and_evaluate(small_config(num_steps=13, keep_checkpoints=10), wd)  # as a stop
    self.assertEqual(saved_steps(wd), [10, 13])
    resumed = train.train_and_evaluate(small_config(keep_checkpoints=10), wd)
    self.assertEqual(saved_steps(wd), [10, 13, 20, 30, 40])
    # The MLP's fused steps are scanned: calls of other lengths give the same state.
    full = train.train_and_evaluate(small_config(), os.path.join(self.dir, 'full'))
    self.assertTrue(_leaves_equal(full, resumed), 'resume must be bit for bit')
    steps = [r['step'] for r in map(json.loads, open(os.path.join(wd, 'metrics.jsonl')))]
    self.assertEqual(steps, [5, 10, 13, 15, 20, 25, 30, 35, 40])
    self.assertEqual(sorted(os.listdir(os.path.join(wd, 'samples'))),
                     ['step_0000013.png', 'step_0000020.png', 'step_0000040.png'])
    self.assertEqual(sorted(e.step for e in tensorboard_events(wd) for v in e.summary.value
                            if v.tag == 'samples'), [13, 20, 40])

  def test_restoring_without_data_builds_the_pending_records_data_shapes(self):
    # A changed resume (here to another data set) stopped between its checkpoint and its
    # records: the read-only tools rebuild its data shapes from the pending record, as its
    # config, not from the old run's data_shapes.json.
    wd = os.path.join(self.dir, 'pending_data')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    changed = small_config(num_steps=20, allow_config_change=True, **{'data.name': 'grid25'})
    record = data.shapes_record(data.get('grid25', batch_size=32))
    workdir.write_pending(wd, changed, 5, ["data.name: 'ring8' -> 'grid25'"], record)
    config = inference.load_config(wd)
    self.assertEqual(config.data.name, 'grid25')
    self.assertEqual(inference.data_shapes(wd, config).name, 'grid25')
    self.assertEqual(inference.restore(wd, with_data=False)[1].name, 'grid25')
    os.remove(workdir.pending_path(wd))  # without the record: the run's own
    self.assertEqual(inference.data_shapes(wd, inference.load_config(wd)).name, 'ring8')

  def test_a_batchnorm_run_without_an_ema_samples_its_running_statistics(self):
    # No EMA: sample_latest uses the trained weights with their running BatchNorm
    # statistics, on sample()'s documented noise (z ~ N(0, I) from fold_in(key(seed), 0)).
    c = small_batchnorm_config()
    wd = os.path.join(self.dir, 'bn_no_ema')
    train.train_and_evaluate(c, wd)
    out = inference.sample_latest(wd, 12, seed=3)
    gan, _, state, _ = inference.restore(wd, with_data=False)
    key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0), 3)[0]
    z = jax.random.normal(key, (12, gan.z_dim))
    want = gan.generator.apply({'params': state.g_params, 'batch_stats': state.g_stats}, z,
                               train=False)
    self.assertFalse(out['ema'])
    self.assertNotEqual(jax.tree.leaves(state.g_stats), [])  # the check is not vacuous
    np.testing.assert_allclose(out['samples'], want, rtol=1e-5, atol=1e-6)
    # ...and so do init_from and network interpolation (generator_weights).
    params, stats = inference.generator_weights(wd)
    chex.assert_trees_all_close(params, state.g_params, atol=0)
    chex.assert_trees_all_close(stats, state.g_stats, atol=0)

  def test_interpolation_mixes_batchnorm_statistics_as_the_weights(self):
    # ESRGAN's interpolation of generators with BatchNorm (SRResNet's, here a BatchNorm
    # MLP's): the running statistics are mixed as the weights, (1 - a) * first + a * second.
    c = small_batchnorm_config()
    runs = []
    for seed in (1, 2):
      c.seed = seed
      runs.append(os.path.join(self.dir, f'bn_interp_{seed}'))
      train.train_and_evaluate(c, runs[-1])
    out = os.path.join(self.dir, 'bn_interp_mixed')
    inference.interpolate(runs[0], runs[1], 0.25, out)
    (_, _, first, _), (_, _, second, _), (_, _, mixed, _) = (
        inference.restore(wd, with_data=False) for wd in (*runs, out))
    self.assertNotEqual(jax.tree.leaves(first.g_stats), [])
    for name in ('g_stats', 'g_params'):
      a, b, m = (jax.tree.leaves(getattr(s, name)) for s in (first, second, mixed))
      self.assertFalse(np.allclose(a[0], b[0]), name)  # the two runs differ
      for x, y, z in zip(a, b, m, strict=True):
        np.testing.assert_allclose(z, 0.75 * np.asarray(x, np.float64) + 0.25 * np.asarray(y),
                                   rtol=1e-6, atol=1e-7, err_msg=name)

  def test_init_from_restarts_the_ema_and_the_optimizer_at_the_loaded_weights(self):
    # Two-stage training: the new stage's EMA starts at the loaded weights and its
    # optimizer afresh (Adam: zero moments, step count 0), whatever the state it replaces.
    source = os.path.join(self.dir, 'source_restart')
    train.train_and_evaluate(small_config(num_steps=20, ema_decay=0.9), source)
    gan, _, saved, _ = inference.restore(source, with_data=False)
    start = saved.replace(step=saved.step * 0,
                          ema_params=jax.tree.map(np.zeros_like, saved.ema_params))
    self.assertGreater(max(np.abs(x).max() for x in jax.tree.leaves(saved.g_opt_state)), 0)
    state = inference.init_generator_from(start, gan, source)
    chex.assert_trees_all_equal(state.g_params, saved.ema_params)
    chex.assert_trees_all_equal(state.ema_params, saved.ema_params)
    for leaf in jax.tree.leaves(state.g_opt_state):
      np.testing.assert_array_equal(leaf, 0)

  def test_sample_grids_use_the_weights_that_sampling_uses(self):
    """Without an EMA the grids show the trained weights with their running BatchNorm
    statistics (what launch.sample and launch.evaluate use), not the EMA rule's
    recomputed statistics."""
    c = small_batchnorm_config()
    grids = []
    real_save = train.plots.save_image_grid
    with mock.patch.object(train.plots, 'save_image_grid',
                           lambda x, *a, **k: (grids.append(np.array(x)), real_save(x, *a, **k))):
      train.train_and_evaluate(c, os.path.join(self.dir, 'bn'))
    gan, pipe, state, _ = inference.restore(os.path.join(self.dir, 'bn'))
    z, y = build.eval_inputs(gan, pipe, c.seed, c.num_eval_samples)
    trained = np.asarray(gan_lib.generate(gan, state, z, y, use_ema=False))
    recomputed = np.asarray(gan_lib.generate(gan, state, z, y, use_ema=True))
    self.assertGreater(np.abs(trained - recomputed).max(), 1e-3)  # the two rules differ here
    np.testing.assert_allclose(grids[-1], trained, atol=1e-5)

  def test_the_loop_runs_in_flight_calls_ahead_of_the_device_and_no_further(self):
    # Dispatched IN_FLIGHT calls ahead keep the device busy (waiting for an earlier call
    # would leave it idle between calls); no further, as a SIGTERM waits for the calls in
    # flight. Recorded, not timed (XLA:CPU may run a call whose inputs are ready on the
    # calling thread, so host-side delays do not make the device lag reliably): every
    # dispatch, and every wait for or read of a call's metrics, in order.
    num_steps, real_compile = 8, sharding.compile_train_steps
    real_block, real_get = jax.block_until_ready, jax.device_get
    events, leaves = [], []  # leaves: each call's metric arrays, kept alive (ids unique)

    def calls_in(tree):
      ids = {id(x) for x in jax.tree.leaves(tree)}
      return tuple(i for i, call_leaves in enumerate(leaves)
                   if any(id(x) in ids for x in call_leaves))

    def compile_logged(*args, **kwargs):
      fn = real_compile(*args, **kwargs)

      def call(state, *call_args):
        state, metrics = fn(state, *call_args)
        events.append(('dispatch', len(leaves)))
        leaves.append(jax.tree.leaves(metrics))
        return state, metrics
      return call

    def logged(name, real):
      def fn(tree, *args, **kwargs):
        calls = calls_in(tree)
        if calls:
          events.append((name, calls))
        return real(tree, *args, **kwargs)
      return fn
    # Any array read on the host waits for what computes it: float(metrics[k][0]), say,
    # which neither spy above sees (a new array). Every host conversion is recorded too
    # (Python's conversions, printing, and NumPy's array and asarray).
    array_type = type(jax.numpy.zeros(()))
    host_reads = [mock.patch.object(array_type, name, _host_read(events, array_type, name))
                  for name in ('__array__', '__bool__', '__complex__', '__float__',
                               '__format__', '__index__', '__int__', '__iter__', '__repr__',
                               '__str__', 'item', 'tolist')]
    c = small_config(num_steps=num_steps, steps_per_call=1, log_every=num_steps,
                     checkpoint_every=num_steps, eval_every=num_steps)
    with mock.patch.object(sharding, 'compile_train_steps', compile_logged), \
         mock.patch.object(jax, 'block_until_ready', logged('wait', real_block)), \
         mock.patch.object(jax, 'device_get', logged('read', real_get)), \
         contextlib.ExitStack() as stack:
      for patch in host_reads:
        stack.enter_context(patch)
      for name in ('array', 'asarray'):  # a CPU array gives NumPy its buffer directly
        stack.enter_context(mock.patch.object(np, name, _numpy_read(events, name)))
      train.train_and_evaluate(c, os.path.join(self.dir, 'in_flight'))
    expected = []
    for j in range(num_steps):  # after call j, the loop waits for call j - IN_FLIGHT
      expected += [('dispatch', j)] + ([('wait', (j - train.IN_FLIGHT,))]
                                       if j >= train.IN_FLIGHT else [])
    expected.append(('read', tuple(range(num_steps))))  # the logs, read once at the end
    # From the first dispatch to that read (host reads before the loop and after it, in
    # the set-up, the evaluation and the saves, are not the loop's).
    first, last = events.index(('dispatch', 0)), events.index(expected[-1])
    self.assertEqual(events[first:last + 1], expected)

  def test_each_save_is_committed_before_training_goes_on(self):
    # Saves are asynchronous; the next call donates the state's buffers, and a changed
    # config is recorded with the checkpoint: the loop waits for each save before the
    # next call.
    events = _events(small_config(num_steps=20), os.path.join(self.dir, 'save_waited'),
                     (checkpoints.Checkpoints, 'save'), (checkpoints.Checkpoints, 'wait'))
    saved = events.index(('save', 10))
    self.assertIn(('wait', None), events[saved:events.index(('call', 10))], events)

  def test_nan_loss_stops_with_step_and_keeps_last_good_checkpoint(self):
    wd = os.path.join(self.dir, 'nan')
    with _poison_data(22), self.assertRaisesRegex(  # the real data of step 23
        FloatingPointError, r'loss at step 23\b.*last good checkpoint is step 20'):
      train.train_and_evaluate(small_config(steps_per_call=10, log_every=2), wd)
    self.assertEqual(saved_steps(wd), [10, 20])
    # The finite rows computed before it, in the same call, are logged: what led up to it.
    steps = [r['step'] for r in map(json.loads, open(os.path.join(wd, 'metrics.jsonl')))]
    self.assertEqual(steps, list(range(2, 23, 2)))
    _, _, state, _ = inference.restore(wd)
    self.assertEqual(int(state.step), 20)
    chex.assert_tree_all_finite(state)
    # A NaN on a logged step (24) stops before its row: the rows are all finite.
    wd = os.path.join(self.dir, 'nan_on_a_log_step')
    with _poison_data(23), self.assertRaisesRegex(FloatingPointError, r'loss at step 24\b'):
      train.train_and_evaluate(small_config(steps_per_call=10, log_every=2), wd)
    rows = list(map(json.loads, open(os.path.join(wd, 'metrics.jsonl'))))
    self.assertEqual([r['step'] for r in rows], list(range(2, 23, 2)))
    self.assertTrue(all(np.isfinite(v) for r in rows for v in r.values()), rows)

  def test_the_first_nan_or_infinity_of_each_row_is_found(self):
    metrics = {'d_loss': np.array([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0], [np.nan, 1.0, 1.0]]),
               'g_loss': np.array([[1.0, 1.0, 1.0], [1.0, 2.0, -np.inf], [1.0, np.nan, 1.0]])}
    np.testing.assert_array_equal(train.first_nonfinite(metrics), [1, 2, 0])
    self.assertEqual(int(train.first_nonfinite({'d_loss': np.ones(4)})), -1)

  def test_a_nan_right_after_a_save_names_the_checkpoint_before_it(self):
    # A finite state can already be diverging (weights of 1e35, say): when the loss fails
    # at the first step after a save, the message says how to go back one checkpoint.
    wd = os.path.join(self.dir, 'nan_after_save')
    with _poison_data(20), self.assertRaisesRegex(
        FloatingPointError, r'loss at step 21\b.*last good checkpoint is step 20 in (\S+)\. '
        r'The loss failed at the first step after that save.*move \1/20 aside to resume '
        r'from step 10 with a lower learning rate\.$'):
      train.train_and_evaluate(small_config(steps_per_call=10, log_every=2), wd)
    self.assertEqual(saved_steps(wd), [10, 20])
    with _poison_data(21), self.assertRaises(FloatingPointError) as caught:  # 2 after: not
      train.train_and_evaluate(small_config(steps_per_call=10, log_every=2),
                               os.path.join(self.dir, 'nan_later'))
    self.assertRegex(str(caught.exception), r'loss at step 22\b')
    self.assertNotIn('first step after that save', str(caught.exception))

  def test_nan_state_is_never_saved_and_good_checkpoints_stay(self):
    """Defect 1: a NaN update of G's weights whose losses are still finite at that step."""
    wd = os.path.join(self.dir, 'nan_state')
    c = small_config(num_steps=30, steps_per_call=1, checkpoint_every=10, keep_checkpoints=3)
    train.train_and_evaluate(c, wd)
    self.assertEqual(saved_steps(wd), [10, 20, 30])
    real_optimizer = build.optimizer
    calls = []

    def nan_generator_optimizer(cfg, updates_per_step=1):
      """G's Adam with a NaN learning rate (build asks for G's optimizer first): the issue's
      reproduction, which config validation now refuses, so it is patched in here."""
      calls.append(cfg)
      if len(calls) > 1:
        return real_optimizer(cfg, updates_per_step)
      return optimizers.get('adam', learning_rate=np.nan, b1=cfg.b1, b2=cfg.b2)
    c = small_config(num_steps=40, steps_per_call=1, checkpoint_every=1, keep_checkpoints=3)
    with mock.patch.object(build, 'optimizer', nan_generator_optimizer), \
        self.assertRaisesRegex(FloatingPointError,
                               r'Non-finite values in g_params, ema_params of '
                               r'the train state at step 31 \(not saved\)\. .*appeared '
                               r'after step 30.*last good checkpoint is step 30'):
      train.train_and_evaluate(c, wd)
    self.assertEqual(saved_steps(wd), [10, 20, 30])  # nothing written, nothing rotated out
    _, _, state, _ = inference.restore(wd)
    chex.assert_tree_all_finite(state)

  def test_corrupt_checkpoint_is_reported_not_replaced(self):
    wd = os.path.join(self.dir, 'corrupt')
    train.train_and_evaluate(small_config(num_steps=20), wd)
    corrupted = []
    for root, _, files in os.walk(os.path.join(wd, 'checkpoints', '20')):
      for f in files:
        path = os.path.join(root, f)
        with open(path, 'wb') as fh:
          fh.write(b'not a checkpoint')
        corrupted.append(path)
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 20 .*cannot be restored \(.+\)\. Nothing on disk was '
                                r'changed\. .*retry first\. To go on, move .*checkpoints/20 '
                                r'aside to resume from step 10'):
      train.train_and_evaluate(small_config(num_steps=30), wd)
    for path in corrupted:
      with open(path, 'rb') as fh:
        self.assertEqual(fh.read(), b'not a checkpoint')
    self.assertEqual(saved_steps(wd), [10, 20])

  def test_a_moved_run_resumes_with_its_paths_changed_and_recorded(self):
    # Where a run reads from is not what it trains: a new path (here init_from, which only
    # matters before the first checkpoint; data_dir and vgg_weights alike) resumes without
    # allow_config_change, the old config kept.
    wd = os.path.join(self.dir, 'moved')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    path = os.path.join(wd, 'config.json')  # as if it had started from a run at /old/place
    saved = json.load(open(path))
    saved['init_from'] = '/old/place'
    json.dump(saved, open(path, 'w'))
    state = train.train_and_evaluate(small_config(num_steps=20, init_from='/new/place'), wd)
    self.assertEqual(int(state.step), 20)
    self.assertEqual(json.load(open(path))['init_from'], '/new/place')
    old = json.load(open(os.path.join(wd, 'config_before_step_10.json')))
    self.assertEqual(old['init_from'], '/old/place')
    # A location change beside a real one is still refused, naming only the real one.
    with self.assertRaisesRegex(validation.ConfigError,
                                r"holds a run \(step 20\)[^/]*loss.name[^/]*$"):
      train.train_and_evaluate(small_config(num_steps=30, init_from='/newer',
                                            **{'loss.name': 'hinge'}), wd)

  def test_a_scheduled_rate_is_logged_and_applied(self):
    """The log's g_lr/d_lr are the schedule's rate at the step that made each row (row
    ``s`` is the state after step ``s - 1``); Adam's update is that rate times its
    direction, so a run whose rates drop to 0 at step 10 stops changing its weights, the
    critic's (2 updates per step) not before."""
    wd = os.path.join(self.dir, 'scheduled')
    sched = {'g_optimizer.schedule': 'multistep(milestones=(10,), gamma=0.0)',
             'd_optimizer.schedule': 'multistep(milestones=(10,), gamma=0.0)', 'n_critic': 2}
    at_5 = train.train_and_evaluate(small_config(num_steps=5, **sched), wd)
    at_10 = train.train_and_evaluate(small_config(num_steps=10, **sched), wd)
    at_20 = train.train_and_evaluate(small_config(num_steps=20, **sched), wd)
    # The critic's 2 updates per step do not bring its milestone forward to step 5.
    for a, b in zip(jax.tree.leaves(at_5.d_params), jax.tree.leaves(at_10.d_params),
                    strict=True):
      self.assertFalse(np.allclose(a, b))
    rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
    lr = small_config().g_optimizer.learning_rate
    self.assertEqual([r['step'] for r in rows], [5, 10, 15, 20])
    np.testing.assert_allclose([(r['g_lr'], r['d_lr']) for r in rows],
                               [(lr, lr), (lr, lr), (0, 0), (0, 0)], rtol=1e-6)
    chex.assert_trees_all_equal((at_10.g_params, at_10.d_params), (at_20.g_params,
                                                                    at_20.d_params))
    gan, pipe = build.build(small_config())
    init = build.init_state(gan, pipe, build.init_key(0))
    for a, b in zip(jax.tree.leaves(at_10.g_params), jax.tree.leaves(init.g_params),
                    strict=True):
      self.assertFalse(np.allclose(a, b))  # it trained until step 10
    # A constant rate is not logged.
    plain = os.path.join(self.dir, 'plain')
    train.train_and_evaluate(small_config(num_steps=5), plain)
    self.assertNotIn('g_lr', json.loads(open(os.path.join(plain, 'metrics.jsonl')).readline()))

  def test_a_run_saved_before_schedules_resumes_and_a_new_schedule_is_a_change(self):
    wd = os.path.join(self.dir, 'before_schedules')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    path = os.path.join(wd, 'config.json')
    saved = json.load(open(path))
    for opt in ('g_optimizer', 'd_optimizer'):
      self.assertEqual(saved[opt].pop('schedule'), 'constant')
    json.dump(saved, open(path, 'w'))
    state = train.train_and_evaluate(small_config(num_steps=20), wd)
    self.assertEqual(int(state.step), 20)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"g_optimizer.schedule: 'constant' -> 'cosine\(decay_steps=9\)'"):
      train.train_and_evaluate(
          small_config(num_steps=30, **{'g_optimizer.schedule': 'cosine(decay_steps=9)'}), wd)
    # Not even allowed: the scheduled optimizer's state (a step count) has another structure.
    with self.assertRaisesRegex(validation.ConfigError,
                                r"g_optimizer.schedule is 'constant'.*cannot be resumed.*"
                                r'init_from'):
      train.train_and_evaluate(small_config(num_steps=30, allow_config_change=True, **{
          'g_optimizer.schedule': 'cosine(decay_steps=9)'}), wd)
    self.assertEqual(saved_steps(wd), [10, 20])
    # An SR discriminator saved before its layout field had SRGAN's.
    self.assertEqual(workdir.config_changes({'model': {'discriminator': {}}},
                                            {'model': {'discriminator': {'layout': 'srgan'}}}),
                     [])
    self.assertEqual(workdir.config_changes({'model': {'discriminator': {}}},
                                            {'model': {'discriminator': {'layout': 'esrgan'}}}),
                     ["model.discriminator.layout: 'srgan' -> 'esrgan'"])

  def test_a_run_whose_images_moved_resumes_from_the_new_path(self):
    # images(path=...) is the only way to give that data set its folder: a run moved to
    # another machine resumes like one whose data_dir changed, the move recorded.
    from PIL import Image
    a, b = os.path.join(self.dir, 'moved_a'), os.path.join(self.dir, 'moved_b')
    os.makedirs(a)
    rng = np.random.default_rng(0)
    for i in range(8):
      Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(f'{a}/{i}.png')
    shutil.copytree(a, b)
    wd, c = os.path.join(self.dir, 'moved'), small_batchnorm_config()
    c.data.name, c.num_steps = f"images(path='{a}', channels=1)", 4
    train.train_and_evaluate(c, wd)
    shutil.rmtree(a)
    c.data.name, c.num_steps = f"images(channels=1, path='{b}')", 8
    self.assertEqual(int(train.train_and_evaluate(c, wd).step), 8)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['data']['name'],
                     c.data.name)
    old = json.load(open(os.path.join(wd, 'config_before_step_4.json')))
    self.assertEqual(old['data']['name'], f"images(path='{a}', channels=1)")

  def test_changed_config_is_refused_unless_allowed(self):
    wd = os.path.join(self.dir, 'changed')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"(?s)loss.name: 'non_saturating' -> 'hinge'.*allow_config_change"):
      train.train_and_evaluate(small_config(num_steps=20, **{'loss.name': 'hinge'}), wd)
    self.assertEqual(saved_steps(wd), [10])
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'],
                     'non_saturating')
    # Length and logging fields may change; allowed changes go through and are recorded.
    train.train_and_evaluate(small_config(num_steps=20, log_every=10), wd)
    state = train.train_and_evaluate(small_config(num_steps=30, allow_config_change=True,
                                                  **{'loss.name': 'hinge'}), wd)
    self.assertEqual(int(state.step), 30)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'], 'hinge')
    old = json.load(open(os.path.join(wd, 'config_before_step_20.json')))
    self.assertEqual(old['loss']['name'], 'non_saturating')
    # Fewer steps than the run has trained: refused (it trained nothing, exited 0 and
    # rewrote config.json with a length its checkpoint had passed).
    with self.assertRaisesRegex(validation.ConfigError,
                                r'already at step 30, past the length asked \(20 steps.*'
                                r'more than 30 steps'):
      train.train_and_evaluate(small_config(num_steps=20, allow_config_change=True,
                                            **{'loss.name': 'hinge'}), wd)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['num_steps'], 30)
    # As many steps as it has trained (the same command again): nothing to train, said so.
    with self.assertLogs('absl', 'INFO') as logs:
      state = train.train_and_evaluate(small_config(num_steps=30, allow_config_change=True,
                                                    **{'loss.name': 'hinge'}), wd)
    self.assertEqual((int(state.step), saved_steps(wd)[-1]), (30, 30))
    self.assertIn(f'{wd} is already at step 30, the length asked (30 steps of 32 examples '
                  '(data sampled on the fly, no epochs)): nothing to train. Ask for more than '
                  '30 steps to train it further.', [r.getMessage() for r in logs.records])

  def test_a_changed_resume_records_its_config_with_its_first_checkpoint(self):
    # It failed at its first step (a NaN): every checkpoint is still the old config's, so a
    # retry with that config must not be refused as a change. config.json is not touched
    # before the first save (it was written at the start and put back on an error, so a
    # SIGKILL left the new config over the old checkpoints, refusing the old command).
    wd = os.path.join(self.dir, 'changed_failed')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    with open(os.path.join(wd, 'config.json')) as f:
      before = f.read()
    with (_poison_data(10), self.assertRaisesRegex(FloatingPointError, 'loss at step 11'),
          mock.patch.object(workdir, 'write_config',
                            side_effect=AssertionError('config.json written')) as write):
      train.train_and_evaluate(small_config(num_steps=20, allow_config_change=True,
                                            **{'loss.name': 'hinge'}), wd)
    write.assert_not_called()
    with open(os.path.join(wd, 'config.json')) as f:
      self.assertEqual(f.read(), before)
    self.assertFalse([f for f in os.listdir(wd) if f.startswith('config_before')])
    self.assertEqual(int(train.train_and_evaluate(small_config(num_steps=20), wd).step), 20)
    # One that saved keeps its record (its checkpoints are the new config's).
    with _poison_data(25), self.assertRaisesRegex(FloatingPointError,
                                                  'loss at step 26.*checkpoint is step 25'):
      train.train_and_evaluate(small_config(num_steps=30, allow_config_change=True,
                                            checkpoint_every=5, **{'loss.name': 'hinge'}), wd)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'], 'hinge')
    self.assertTrue(os.path.exists(os.path.join(wd, 'config_before_step_20.json')))

  def _changed_resume_killed_in(self, name: str, function: str) -> str:
    """A workdir trained 10 steps, then resumed to 20 with another loss (allowed) and
    stopped by an error in ``workdir.<function>``."""
    wd = os.path.join(self.dir, name)
    train.train_and_evaluate(small_config(num_steps=10), wd)
    with (mock.patch.object(workdir, function, side_effect=RuntimeError('killed')),
          self.assertRaisesRegex(RuntimeError, 'killed')):
      train.train_and_evaluate(small_config(num_steps=20, allow_config_change=True,
                                            **{'loss.name': 'hinge'}), wd)
    return wd

  def test_a_changed_resume_stopped_after_its_first_checkpoint_is_recorded_next_time(self):
    # Stopped between its first checkpoint and writing config.json (a SIGKILL there, a full
    # disk): the original command resumed the changed config's checkpoint unchecked.
    wd = self._changed_resume_killed_in('changed_killed', 'record_config')
    self.assertEqual(saved_steps(wd), [10, 20])
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'],
                     'non_saturating')
    # The read-only tools (sample, evaluate, upscale) read the changed config meanwhile.
    self.assertEqual(inference.load_config(wd).loss.name, 'hinge')
    self.assertEqual(int(inference.restore(wd, with_data=False)[2].step), 20)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"(?s)step 20.*loss.name: 'hinge' -> 'non_saturating'"):
      train.train_and_evaluate(small_config(num_steps=30), wd)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'], 'hinge')
    old = json.load(open(os.path.join(wd, 'config_before_step_10.json')))
    self.assertEqual(old['loss']['name'], 'non_saturating')
    self.assertFalse(os.path.exists(workdir.pending_path(wd)))
    # The changed config resumes; no record is left pending after a normal save.
    train.train_and_evaluate(small_config(num_steps=30, allow_config_change=True,
                                          **{'loss.name': 'hinge'}), wd)
    self.assertEqual(sorted(f for f in os.listdir(wd) if f.startswith('config')),
                     ['config.json', 'config_before_step_10.json'])

  def test_a_changed_resume_stopped_between_its_two_records_writes_the_second_next_time(self):
    # Stopped after config.json, before data_shapes.json: the next start writes the changed
    # run's data shapes though config.json is already its config.
    wd = self._changed_resume_killed_in('changed_half_recorded', 'write_data_shapes')
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'], 'hinge')
    self.assertTrue(os.path.exists(workdir.pending_path(wd)))
    with open(os.path.join(wd, 'data_shapes.json')) as f:
      shapes = json.load(f)
    with open(os.path.join(wd, 'data_shapes.json'), 'w') as f:  # as the old run left it
      json.dump({**shapes, 'marker': 'old'}, f)
    workdir.settle_pending(wd, 20)
    self.assertEqual(json.load(open(os.path.join(wd, 'data_shapes.json'))), shapes)
    self.assertFalse(os.path.exists(workdir.pending_path(wd)))

  def test_a_changed_resume_stopped_before_its_first_checkpoint_is_dropped(self):
    # Its record was written, but every checkpoint is still the old config's (step 10 is
    # the step it resumed at, not one after it): the record goes, config.json stays.
    wd = os.path.join(self.dir, 'changed_unsaved')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    with open(os.path.join(wd, 'config.json')) as f:
      before = f.read()
    changed = small_config(num_steps=20, allow_config_change=True, **{'loss.name': 'hinge'})
    workdir.write_pending(wd, changed, 10, ["loss.name: 'non_saturating' -> 'hinge'"],
                          {'marker': 'changed'})
    self.assertEqual(inference.load_config(wd).loss.name, 'non_saturating')
    workdir.settle_pending(wd, 10)
    self.assertFalse(os.path.exists(workdir.pending_path(wd)))
    with open(os.path.join(wd, 'config.json')) as f:
      self.assertEqual(f.read(), before)
    self.assertNotIn('marker', json.load(open(os.path.join(wd, 'data_shapes.json'))))
    self.assertFalse([f for f in os.listdir(wd) if f.startswith('config_before')])
    self.assertEqual(int(train.train_and_evaluate(small_config(num_steps=15), wd).step), 15)

  def test_a_changed_resume_that_trains_nothing_records_nothing(self):
    wd = os.path.join(self.dir, 'changed_nothing')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    train.train_and_evaluate(small_config(num_steps=10, allow_config_change=True,
                                          **{'loss.name': 'hinge'}), wd)
    self.assertEqual(saved_steps(wd), [10])
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'],
                     'non_saturating')
    self.assertFalse([f for f in os.listdir(wd) if f.startswith('config_before')])

  def test_a_second_changed_record_at_one_step_keeps_the_first(self):
    wd = os.path.join(self.dir, 'changed_twice')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    was = small_config(num_steps=10)
    for loss in ('hinge', 'least_squares'):  # e.g. two changed starts, each killed
      now = small_config(num_steps=10, **{'loss.name': loss})
      workdir.record_config(wd, now, 10, [f'loss.name: {was.loss.name} -> {loss}'])
      was = now
    names = {name: json.load(open(os.path.join(wd, name)))['loss']['name']
             for name in ('config_before_step_10.json', 'config_before_step_10_2.json',
                          'config.json')}
    self.assertEqual(names, {'config_before_step_10.json': 'non_saturating',
                             'config_before_step_10_2.json': 'hinge',
                             'config.json': 'least_squares'})

  def test_a_workdir_without_checkpoints_takes_a_changed_config(self):
    # A run stopped before its first save left config.json and no checkpoint: nothing
    # trained is at stake, so a fixed config starts over (the old one is kept).
    wd = os.path.join(self.dir, 'unsaved')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    shutil.rmtree(os.path.join(wd, 'checkpoints'))
    state = train.train_and_evaluate(small_config(num_steps=10, **{'loss.name': 'hinge'}), wd)
    self.assertEqual(int(state.step), 10)
    self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['loss']['name'], 'hinge')
    old = json.load(open(os.path.join(wd, 'config_before_step_0.json')))
    self.assertEqual(old['loss']['name'], 'non_saturating')

  def test_incompatible_checkpoint_is_reported(self):
    wd = os.path.join(self.dir, 'incompatible')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    # Another architecture is named as such, with what differs, not given the advice for a
    # damaged checkpoint (move it aside to resume from an earlier one).
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 10 .* holds another architecture than this config '
                                r'builds \(checkpoint vs config: d_params/Dense_0/bias: '
                                r'\(32,\) vs \(64,\); d_params/Dense_0/kernel: \(2, 32\) vs '
                                r'\(2, 64\)') as e:
      train.train_and_evaluate(small_config(allow_config_change=True,
                                            **{'model.discriminator.features': (64, 64)}), wd)
    self.assertNotIn('aside', str(e.exception))

  def test_a_checkpoint_without_its_metadata_is_damaged_not_another_architecture(self):
    # Orbax reads a missing _METADATA as an empty tree: that is a damaged checkpoint (move
    # it aside, resume from the one before), not another architecture.
    wd = os.path.join(self.dir, 'no_metadata')
    train.train_and_evaluate(small_config(num_steps=20), wd)
    self.assertEqual(saved_steps(wd), [10, 20])
    os.remove(os.path.join(wd, 'checkpoints', '20', 'default', '_METADATA'))
    with self.assertRaisesRegex(checkpoints.CheckpointError,
                                r'step 20 .* cannot be restored .* move .*20 aside to resume '
                                r'from step 10') as e:
      train.train_and_evaluate(small_config(num_steps=30), wd)
    self.assertNotIn('another architecture', str(e.exception))
    self.assertEqual(checkpoints.architecture_differences({}, {'d_params': {'w': np.zeros(2)}}),
                     [])

  def test_second_trainer_on_a_workdir_is_refused(self):
    wd = os.path.join(self.dir, 'locked')
    with workdir.Lock(wd):
      with self.assertRaisesRegex(workdir.WorkdirBusy, f'in use .*pid {os.getpid()} on'):
        train.train_and_evaluate(small_config(num_steps=10), wd)
    self.assertFalse(os.path.exists(os.path.join(wd, 'checkpoints')))
    train.train_and_evaluate(small_config(num_steps=10), wd)  # released

  def test_a_killed_trainer_leaves_no_stuck_lock(self):
    wd = os.path.join(self.dir, 'killed')
    code = f'import os; from jaxgan import workdir; workdir.Lock({wd!r}).__enter__(); os._exit(9)'
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=ENV, check=False, timeout=120)
    self.assertIn('pid', open(os.path.join(wd, '.lock')).read())
    with workdir.Lock(wd):  # the dead process's lock went with it
      # ... and its record: the file names the holder alone (a busy error quotes it).
      record = open(os.path.join(wd, '.lock')).read()
      self.assertTrue(record.startswith(f'pid {os.getpid()} on '), record)
      self.assertEqual(record.count('pid '), 1, record)

  def test_metric_rows_after_the_restored_step_are_dropped(self):
    """Defect 7: a run killed between its metric write and its checkpoint."""
    wd = os.path.join(self.dir, 'rows')
    train.train_and_evaluate(small_config(num_steps=20), wd)
    rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
    with open(os.path.join(wd, 'metrics.jsonl'), 'a') as f:  # what the killed run wrote
      for step in (25, 30):
        f.write(json.dumps({**rows[-1], 'step': step}) + '\n')
      f.write('{"step": 35, "d_lo')  # an append cut short (a full disk): left out
    with open(os.path.join(wd, 'metrics.csv'), 'a') as f:
      f.write(','.join(['25'] + ['0'] * (len(rows[-1]) - 1)) + '\n')
    train.train_and_evaluate(small_config(num_steps=30), wd)
    steps = [json.loads(line)['step'] for line in open(os.path.join(wd, 'metrics.jsonl'))]
    self.assertEqual(steps, list(range(5, 35, 5)))
    csv_steps = [int(line.split(',')[0]) for line in open(os.path.join(wd, 'metrics.csv'))
                 if line[0].isdigit()]
    self.assertEqual(csv_steps, steps)
    # A bad line before the last is not an append cut short: it is reported, by line.
    bad = os.path.join(self.dir, 'bad.jsonl')
    with open(bad, 'w') as f:
      f.write('{"step": 5}\n{"step": 1\n{"step": 15}\n')
    with self.assertRaisesRegex(writers.MetricLogError, r'bad.jsonl, line 2, is not JSON'):
      writers.read_jsonl(bad)
    # In a run's log, the resume stops with what to do (the launchers print it as one
    # line: a user error), and doing it resumes with the rows rebuilt from the CSV.
    from launch import common
    self.assertIn(writers.MetricLogError, common.USER_ERRORS)
    jsonl = os.path.join(wd, 'metrics.jsonl')
    lines = open(jsonl).readlines()
    with open(jsonl, 'w') as f:
      f.writelines([lines[0], '{"step": 1\n', *lines[1:]])
    with self.assertRaisesRegex(writers.MetricLogError, 'line 2, is not JSON .* delete the '
                                'file, and a run writes it again from metrics.csv'):
      train.train_and_evaluate(small_config(num_steps=40), wd)
    os.remove(jsonl)
    train.train_and_evaluate(small_config(num_steps=40), wd)
    steps = [json.loads(line)['step'] for line in open(jsonl)]
    self.assertEqual(steps, list(range(5, 45, 5)))

  def test_lazy_penalty_logs_its_last_computed_value(self):
    # Penalty every 5 steps (steps 1, 6, 11, 16) and logs at 5, 10, 15, 20: the steps
    # logged compute none, but the log shows the last computed penalty, not 0.
    wd = os.path.join(self.dir, 'lazy')
    train.train_and_evaluate(small_config(num_steps=20, **{'penalty.every': 5}), wd)
    rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
    self.assertEqual([r['step'] for r in rows], [5, 10, 15, 20])
    self.assertTrue(all(r['penalty'] > 0 for r in rows), rows)

  def test_a_penalty_every_2_steps_logs_its_last_computed_value(self):
    # Penalty every 2 steps (steps 1, 3, 5, ...: 0-based 0, 2, 4, ...), a row every step:
    # the rows of even steps, which compute none, show the one of the step before, not 0.
    wd = os.path.join(self.dir, 'lazy_2')
    train.train_and_evaluate(small_config(num_steps=10, log_every=1,
                                          **{'penalty.every': 2}), wd)
    penalty = {r['step']: r['penalty'] for r in writers.read_jsonl(
        os.path.join(wd, 'metrics.jsonl'))}
    self.assertEqual(sorted(penalty), list(range(1, 11)))
    self.assertTrue(all(v > 0 for v in penalty.values()), penalty)
    for step in range(2, 11, 2):
      self.assertEqual(penalty[step], penalty[step - 1], step)
    self.assertLen({penalty[step] for step in range(1, 11, 2)}, 5)  # each step's own

  def test_a_resumed_lazy_penalty_logs_what_an_uninterrupted_run_logs(self):
    # Penalty every 4 steps (steps 1, 5, 9, 13, 17). Stopped at step 13 and resumed, the
    # rows at 15 and 20 show the penalty of step 13 and 17, as without the stop (the
    # resumed run used to log NaN until its first penalty).
    full, cut = (os.path.join(self.dir, n) for n in ('full', 'cut'))
    train.train_and_evaluate(small_config(num_steps=20, **{'penalty.every': 4}), full)
    train.train_and_evaluate(small_config(num_steps=13, **{'penalty.every': 4}), cut)
    train.train_and_evaluate(small_config(num_steps=20, **{'penalty.every': 4}), cut)
    rows = {n: {r['step']: r['penalty'] for r in writers.read_jsonl(
        os.path.join(self.dir, n, 'metrics.jsonl'))} for n in ('full', 'cut')}
    self.assertEqual(sorted(rows['cut']), [5, 10, 13, 15, 20])
    self.assertTrue(all(np.isfinite(v) and v > 0 for v in rows['cut'].values()), rows)
    for step in (5, 10, 15, 20):
      self.assertEqual(rows['cut'][step], rows['full'][step], step)

  def test_rows_at_every_log_step_when_a_call_spans_several(self):
    # log_every 2 with 5 steps per call: a row at every multiple of 2 (not one per call),
    # and the saved step's (13: the run's end).
    wd = os.path.join(self.dir, 'rows')
    train.train_and_evaluate(small_config(num_steps=13, log_every=2), wd)
    rows = writers.read_jsonl(os.path.join(wd, 'metrics.jsonl'))
    self.assertEqual([r['step'] for r in rows], [2, 4, 6, 8, 10, 12, 13])
    self.assertEqual(len({r['d_loss'] for r in rows}), len(rows))  # each its own step's
    self.assertTrue(all(r['steps_per_sec'] > 0 for r in rows))

  def test_a_failing_picture_does_not_cost_the_checkpoint(self):
    wd = os.path.join(self.dir, 'pictures')
    with mock.patch.object(train, '_write_pictures', side_effect=OSError('No space left')):
      with self.assertRaisesRegex(OSError, 'No space left'):
        train.train_and_evaluate(small_config(num_steps=20), wd)
    self.assertEqual(saved_steps(wd), [10, 20])

  def test_a_failing_log_row_does_not_cost_the_checkpoint(self):
    # The metric log fails at step 10, a save step (a full disk, say): the checkpoint of
    # step 10 is still saved, training stops at the next call with its own, and the error
    # is raised then.
    wd = os.path.join(self.dir, 'log_fails')
    write = failing_from(writers.MetricWriter.write, 10,
                         lambda step: OSError('No space left on device'))
    with (mock.patch.object(writers.MetricWriter, 'write', write),
          self.assertRaisesRegex(OSError, 'No space left')):
      train.train_and_evaluate(small_config(num_steps=40), wd)
    self.assertEqual(saved_steps(wd), [10, 15])

  def test_a_failing_data_read_saves_the_last_call_that_had_data(self):
    # The batches are read one call ahead: the read of the call from step 15 fails (an
    # unreadable file, say) while the call of steps 10-15 runs, so the state of step 15 is
    # saved, the same state an uninterrupted run has there, and then the error is raised.
    wd = os.path.join(self.dir, 'data_fails')
    batches = failing_from(data.Pipeline.batches, 15,
                           lambda step: OSError(f'unreadable record at step {step}'))
    with (mock.patch.object(data.Pipeline, 'batches', batches),
          self.assertRaisesRegex(OSError, 'unreadable record at step 15')):
      train.train_and_evaluate(small_config(num_steps=40), wd)
    self.assertEqual(saved_steps(wd), [10, 15])
    resumed = train.train_and_evaluate(small_config(num_steps=15), wd)  # restores, trains 0
    straight = train.train_and_evaluate(small_config(num_steps=15),
                                        os.path.join(self.dir, 'data_fails_ref'))
    self.assertEqual(int(resumed.step), 15)
    chex.assert_trees_all_close(resumed.g_params, straight.g_params, atol=1e-6)
    chex.assert_trees_all_close(resumed.d_params, straight.d_params, atol=1e-6)

  def test_a_failing_first_data_read_trains_nothing(self):
    wd = os.path.join(self.dir, 'first_read_fails')
    with (mock.patch.object(data.Pipeline, 'batches', side_effect=OSError('unreadable')),
          self.assertRaisesRegex(OSError, 'unreadable')):
      train.train_and_evaluate(small_config(num_steps=40), wd)
    self.assertEqual(saved_steps(wd), [])

  def test_a_lazy_penalty_without_a_critic_logs_no_penalty(self):
    # n_critic = 0 (content loss alone) with the toy config's R1 set to every 2 steps: no
    # critic, so no penalty is computed or logged (this raised KeyError at the first log).
    wd = os.path.join(self.dir, 'no_critic')
    train.train_and_evaluate(small_config(
        num_steps=10, n_critic=0, adversarial_weight=0.0,
        **{'content.pixel_weight': 1.0, 'penalty.every': 2}), wd)
    rows = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
    self.assertEqual([r['step'] for r in rows], [5, 10])
    self.assertTrue(all('penalty' not in r and 'd_loss' not in r for r in rows), rows)

  def test_csv_gains_a_column_when_a_resumed_run_adds_a_metric(self):
    wd = os.path.join(self.dir, 'columns')
    train.train_and_evaluate(small_config(num_steps=10, **{'penalty.name': 'none'}), wd)
    train.train_and_evaluate(small_config(num_steps=20, allow_config_change=True), wd)
    train.train_and_evaluate(small_config(num_steps=30), wd)  # resumes past the new column
    with open(os.path.join(wd, 'metrics.csv'), newline='') as f:
      rows = list(csv.DictReader(f))
    self.assertEqual([int(r['step']) for r in rows], [5, 10, 15, 20, 25, 30])
    self.assertEqual([r['penalty'] for r in rows[:2]], ['', ''])
    self.assertTrue(all(float(r['penalty']) > 0 for r in rows[2:]))
    jsonl = [json.loads(line) for line in open(os.path.join(wd, 'metrics.jsonl'))]
    self.assertEqual([float(r['d_loss']) for r in rows], [r['d_loss'] for r in jsonl])

  def test_the_first_of_two_signals_is_kept_and_the_handlers_are_put_back(self):
    # A SIGTERM (a scheduler's) then a SIGINT (a user's Ctrl-C) while stopping: the run
    # stops as the first one asked, and the handlers before training are put back.
    received = []
    for sig in (signal.SIGTERM, signal.SIGINT):
      self.addCleanup(signal.signal, sig, signal.signal(sig, lambda s, f: received.append(s)))
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    with train._StopRequest() as stop_request:
      signal.raise_signal(signal.SIGTERM)
      signal.raise_signal(signal.SIGINT)
      self.assertTrue(stop_request.requested)
      self.assertEqual(stop_request.signum, signal.SIGTERM)
    self.assertEqual({sig: signal.getsignal(sig) for sig in before}, before)
    self.assertEqual(received, [])  # caught by the loop's handler, not passed on

  def test_a_signal_during_the_last_save_is_delivered_once_it_is_saved(self):
    # The SIGTERM comes after the last call's vote (while its checkpoint is written): the
    # run still ends as the signal asks, not as a run that was never stopped.
    received = []
    self.addCleanup(signal.signal, signal.SIGTERM,
                    signal.signal(signal.SIGTERM, lambda s, f: received.append(s)))
    real_save = checkpoints.Checkpoints.save

    def save_then_signal(ckpt, step, *args, **kwargs):
      out = real_save(ckpt, step, *args, **kwargs)
      if step == 10:
        signal.raise_signal(signal.SIGTERM)
      return out
    wd = os.path.join(self.dir, 'late_signal')
    with mock.patch.object(checkpoints.Checkpoints, 'save', save_then_signal):
      state = train.train_and_evaluate(small_config(num_steps=10), wd)
    self.assertEqual(int(state.step), 10)
    self.assertEqual(saved_steps(wd), [10])
    self.assertEqual(received, [signal.SIGTERM])

  def test_a_signal_during_a_call_reads_no_more_data(self):
    # A SIGTERM while the call of steps 10-15 runs: the state of step 15 is saved and the
    # run stops, without reading the batches of a call it will not train (a read that
    # failed there would turn the stop into a failure).
    received, read = [], []
    self.addCleanup(signal.signal, signal.SIGTERM,
                    signal.signal(signal.SIGTERM, lambda s, f: received.append(s)))
    real_compile, real_batches = sharding.compile_train_steps, data.Pipeline.batches

    def signalling(*args, **kwargs):
      fn = real_compile(*args, **kwargs)

      def call(state, *call_args):
        if int(state.step) == 10:
          signal.raise_signal(signal.SIGTERM)
        return fn(state, *call_args)
      return call

    def batches(pipe, first, count):
      read.append(first)
      return real_batches(pipe, first, count)
    drawn, real_draw = [], train.plots.save_loss_curves

    def draw(rows, path):
      drawn.append(rows[-1]['step'])
      return real_draw(rows, path)
    wd = os.path.join(self.dir, 'signal_reads')
    with (mock.patch.object(sharding, 'compile_train_steps', signalling),
          mock.patch.object(data.Pipeline, 'batches', batches),
          mock.patch.object(train.plots, 'save_loss_curves', draw),
          mock.patch.object(train, 'CURVES_EVERY_S', 0.0)):
      state = train.train_and_evaluate(small_config(num_steps=40), wd)
    self.assertEqual(int(state.step), 15)
    self.assertEqual(saved_steps(wd), [10, 15])
    self.assertEqual(received, [signal.SIGTERM])
    self.assertEqual(read, [0, 5, 10])
    # The curves: at the save of step 10, and once as the logs close; the stopping save
    # does not draw them too (a stop must be quick).
    self.assertEqual(drawn, [10, 15])

  def test_a_nan_stops_at_the_next_log_step_not_the_next_checkpoint(self):
    # The losses are read at each log step (every 5 steps here), not only at the saves
    # (every 20): a NaN at step 3 stops the run after its first call, before any save.
    real_compile, calls = sharding.compile_train_steps, []

    def counting(*args, **kwargs):
      fn = real_compile(*args, **kwargs)

      def call(state, *call_args):
        calls.append(int(state.step))
        return fn(state, *call_args)
      return call
    wd = os.path.join(self.dir, 'nan_before_a_save')
    with (_poison_data(2), mock.patch.object(sharding, 'compile_train_steps', counting),
          self.assertRaisesRegex(FloatingPointError,
                                 r'loss at step 3\b.*no checkpoint was saved')):
      train.train_and_evaluate(small_config(checkpoint_every=20), wd)
    self.assertEqual(calls, [0])
    self.assertEqual(saved_steps(wd), [])

  def test_the_first_nan_of_several_calls_pending_is_the_one_named(self):
    # One step per call, a row every 5 steps: the losses of five calls are read at once.
    # The NaN of step 3 is named (the calls after it, from its non-finite state, fail too);
    # no row is written (steps 1 and 2 are no log steps) and nothing is saved.
    wd = os.path.join(self.dir, 'nan_of_several_calls')
    with _poison_data(2), self.assertRaisesRegex(  # the real data of step 3
        FloatingPointError, r'Non-finite loss at step 3\b.*no checkpoint was saved'):
      train.train_and_evaluate(small_config(steps_per_call=1, log_every=5,
                                            checkpoint_every=10), wd)
    self.assertEqual(saved_steps(wd), [])
    self.assertEqual(writers.read_jsonl(os.path.join(wd, 'metrics.jsonl')), [])

  def test_the_tensorboard_rows_are_flushed_before_each_checkpoint(self):
    # tensorboardX buffers its events (up to 120 s): a run killed after a save and resumed
    # from it would miss the rows up to that step in TensorBoard.
    events = []
    real_write, real_flush = writers.MetricWriter.write, writers.MetricWriter.flush
    real_save = checkpoints.Checkpoints.save

    def write(w, step, metrics):
      events.append(('write', step))
      return real_write(w, step, metrics)

    def flush(w):
      events.append(('flush', None))
      return real_flush(w)

    def save(ckpt, step, *args, **kwargs):
      events.append(('save', step))
      return real_save(ckpt, step, *args, **kwargs)
    with (mock.patch.object(writers.MetricWriter, 'write', write),
          mock.patch.object(writers.MetricWriter, 'flush', flush),
          mock.patch.object(checkpoints.Checkpoints, 'save', save)):
      train.train_and_evaluate(small_config(num_steps=20), os.path.join(self.dir, 'tb'))
    saves = [i for i, e in enumerate(events) if e[0] == 'save']
    self.assertEqual([events[i][1] for i in saves], [10, 20])
    for i in saves:
      written = events.index(('write', events[i][1]))
      self.assertIn(('flush', None), events[written:i], events)

  def test_steps_per_sec_counts_the_steps_since_the_previous_row(self):
    # A clock that advances one second per reading: one reading at the start, one per
    # flush (every 5 steps here) and one after each save or picture (the next rate counts
    # from there), so every row's rate is 5 steps per second.
    clock = iter(range(1000))
    fake_time = mock.Mock(perf_counter=lambda: float(next(clock)))
    wd = os.path.join(self.dir, 'rate')
    with mock.patch.object(train, 'time', fake_time):
      train.train_and_evaluate(small_config(num_steps=20), wd)
    rows = writers.read_jsonl(os.path.join(wd, 'metrics.jsonl'))
    self.assertEqual([r['step'] for r in rows], [5, 10, 15, 20])
    self.assertEqual([r['steps_per_sec'] for r in rows], [5.0] * 4)

  def test_the_rate_after_a_save_leaves_out_the_save(self):
    # A clock that advances one second per reading, and a save at step 10 that takes 100
    # more: the row of step 15 reports the five steps after the save over one second, not
    # over the save's 101 (as the twin test above, every row: 5 steps per second).
    clock = [0.0]

    def perf_counter():
      clock[0] += 1.0
      return clock[0]
    real_save = checkpoints.Checkpoints.save

    def slow_save(ckpt, step, *args, **kwargs):
      clock[0] += 100.0
      return real_save(ckpt, step, *args, **kwargs)
    wd = os.path.join(self.dir, 'rate_save')
    with mock.patch.object(train, 'time', mock.Mock(perf_counter=perf_counter)), \
         mock.patch.object(checkpoints.Checkpoints, 'save', slow_save):
      train.train_and_evaluate(small_config(num_steps=20), wd)
    rows = writers.read_jsonl(os.path.join(wd, 'metrics.jsonl'))
    self.assertEqual([r['step'] for r in rows], [5, 10, 15, 20])
    self.assertEqual([r['steps_per_sec'] for r in rows], [5.0] * 4)

  def test_the_loss_curves_are_redrawn_at_the_saves_of_a_long_run(self):
    # A run's curves are drawn at the end; one whose saves are CURVES_EVERY_S apart (0
    # here) also at each save before it, with the rows logged until then.
    drawn = []
    real_draw = train.plots.save_loss_curves

    def draw(rows, path):
      drawn.append((rows[-1]['step'], os.path.exists(path)))
      return real_draw(rows, path)
    with mock.patch.object(train.plots, 'save_loss_curves', draw):
      train.train_and_evaluate(small_config(num_steps=30), os.path.join(self.dir, 'c1'))
      self.assertEqual(drawn, [(30, False)])  # the saves at 10 and 20 came within a minute
      drawn.clear()
      with mock.patch.object(train, 'CURVES_EVERY_S', 0.0):
        train.train_and_evaluate(small_config(num_steps=30), os.path.join(self.dir, 'c2'))
    self.assertEqual(drawn, [(10, False), (20, True), (30, True)])

  def test_the_loss_curves_wait_curves_every_s_after_each_drawing(self):
    # A clock that each save moves on 40 s: with curves every 60 s, the saves of steps 20
    # and 40 draw them (80 s after the start, then after the drawing at 20), those of 10
    # and 30 do not (40 s), and the end (50) draws them as the logs close.
    clock, drawn = [0.0], []
    real_save, real_draw = checkpoints.Checkpoints.save, train.plots.save_loss_curves

    def slow_save(ckpt, step, *args, **kwargs):
      clock[0] += 40.0
      return real_save(ckpt, step, *args, **kwargs)

    def draw(rows, path):
      drawn.append(rows[-1]['step'])
      return real_draw(rows, path)
    with (mock.patch.object(train, 'time', mock.Mock(wraps=time, perf_counter=lambda: clock[0])),
          mock.patch.object(checkpoints.Checkpoints, 'save', slow_save),
          mock.patch.object(train.plots, 'save_loss_curves', draw),
          mock.patch.object(train, 'CURVES_EVERY_S', 60.0)):
      train.train_and_evaluate(small_config(num_steps=50, eval_every=50),
                               os.path.join(self.dir, 'curves_every'))
    self.assertEqual(drawn, [20, 40, 50])

  def test_steps_per_sec_is_over_the_time_since_the_previous_row(self):
    # A clock whose readings are 0, 1, 4, 9, ... (one at the start, one per flush: steps
    # 5 and 10 here): the row of step 10 reports its 5 steps over the 3 s since the row
    # of step 5, not the 10 steps since the start over 4 s.
    clock = (float(i * i) for i in range(1000))
    wd = os.path.join(self.dir, 'rate_since_row')
    with mock.patch.object(train, 'time', mock.Mock(wraps=time, perf_counter=lambda: next(clock))):
      train.train_and_evaluate(small_config(num_steps=10), wd)
    rows = writers.read_jsonl(os.path.join(wd, 'metrics.jsonl'))
    self.assertEqual([r['step'] for r in rows], [5, 10])
    np.testing.assert_allclose([r['steps_per_sec'] for r in rows], [5.0, 5.0 / 3], rtol=1e-6)

  def test_the_rate_after_a_picture_leaves_out_the_picture(self):
    # A clock that advances one second per reading, and 100 s while the picture of step
    # 10 (not a save) is drawn: the row of step 15 reports its 5 steps over 1 s, as every
    # other row, not over the picture's 100 s.
    clock = [0.0]

    def perf_counter():
      clock[0] += 1.0
      return clock[0] - 1.0
    real_scatter = train.plots.save_scatter

    def slow_scatter(*args, **kwargs):
      clock[0] += 100.0
      return real_scatter(*args, **kwargs)
    wd = os.path.join(self.dir, 'rate_picture')
    with (mock.patch.object(train, 'time', mock.Mock(wraps=time, perf_counter=perf_counter)),
          mock.patch.object(train.plots, 'save_scatter', slow_scatter)):
      train.train_and_evaluate(small_config(num_steps=20, eval_every=10,
                                            checkpoint_every=20), wd)
    rows = writers.read_jsonl(os.path.join(wd, 'metrics.jsonl'))
    self.assertEqual([r['step'] for r in rows], [5, 10, 15, 20])
    self.assertEqual([r['steps_per_sec'] for r in rows], [5.0] * 4)

  def test_a_sample_picture_is_flushed_to_tensorboard_before_training_goes_on(self):
    # Pictures and a save at step 10 (the rows are flushed before the save, the picture
    # drawn after it): the picture's event must be on disk before the next call, not at
    # the next save's flush: a run killed in between resumes from step 10 and does not
    # draw it again.
    events = _events(small_config(num_steps=20, eval_every=10),
                     os.path.join(self.dir, 'picture_flush'),
                     (writers.MetricWriter, 'write_image'), (writers.MetricWriter, 'flush'))
    image = events.index(('write_image', 10))
    self.assertIn(('flush', None), events[image:events.index(('call', 10))], events)

  def test_a_run_follows_the_documented_key_schedule(self):
    # jaxgan.build: parameters from key(seed), step s from fold_in(fold_in(key(seed), 1),
    # s). Pinned: another schedule would resume an earlier version's workdir on another
    # random stream.
    c = small_config(num_steps=5, seed=3)
    state = train.train_and_evaluate(c, os.path.join(self.dir, 'keys'))
    gan, pipe = build.build(c)
    want = gan_lib.init_state(gan, jax.random.key(3), pipe.element_shape)
    base = jax.random.fold_in(jax.random.key(3), 1)
    want, _ = jax.jit(lambda s, b: gan_lib.train_steps(gan, s, b, base))(want,
                                                                         pipe.batches(0, 5))
    chex.assert_trees_all_close(state, want, rtol=1e-5, atol=1e-6)

  def test_eval_every_0_draws_the_last_picture_only(self):
    # eval_every = 0 (allowed: no periodic pictures) is no cadence, not a division by 0.
    wd = os.path.join(self.dir, 'no_eval')
    train.train_and_evaluate(small_config(num_steps=10, eval_every=0), wd)
    self.assertEqual(os.listdir(os.path.join(wd, 'samples')), ['step_0000010.png'])
    self.assertEqual(saved_steps(wd), [10])

  def test_shape_mismatch_between_model_and_data(self):
    with self.assertRaisesRegex(ValueError, r'\(3,\).*\(2,\)'):
      build.build(small_config(**{'model.generator.output_shape': (3,)}))


if __name__ == '__main__':
  absltest.main()
