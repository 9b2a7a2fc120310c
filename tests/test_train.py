"""Tests of the training loop: resume, NaN stop, checkpoints, outputs, launchers, devices."""

import json
import os
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

from configs import toy2d
from jaxgan import checkpoints, data, train
from launch import sample as sample_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_config(**overrides):
  c = toy2d.get_config()
  c.model.generator.features = (32, 32)
  c.model.discriminator.features = (32, 32)
  c.data.batch_size = 32
  c.num_steps = 40
  c.steps_per_call = 5
  c.log_every = 5
  c.eval_every = 20
  c.checkpoint_every = 10
  c.num_eval_samples = 100
  for k, v in overrides.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  return c


def _leaves_equal(a, b) -> bool:
  return all(np.array_equal(np.asarray(x), np.asarray(y))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True))


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
    train.train_and_evaluate(small_config(), wd)
    for name in ('config.json', 'metrics.jsonl', 'metrics.csv', 'loss_curves.png',
                 'samples/step_0000020.png', 'samples/step_0000040.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    self.assertTrue(os.listdir(os.path.join(wd, 'tensorboard')))
    self.assertEqual(sorted(os.listdir(os.path.join(wd, 'checkpoints'))), ['20', '30', '40'])
    x = sample_lib.sample(wd, 250, batch_size=100)
    self.assertEqual((x.shape, x.dtype), ((250, 2), np.float32))
    self.assertTrue(np.all(np.isfinite(x)))

  def test_nan_stops_with_step_and_keeps_last_good_checkpoint(self):
    real_get = data.get

    def poisoned(*args, **kwargs):
      p = real_get(*args, **kwargs)
      def batch(s):
        b = p.batch(s)
        return b * np.nan if s == 22 else b  # the real data of step 23
      return data.Pipeline(p.name, p.element_shape, p.num_examples, p.data_range, batch,
                           p.modes, p.mode_std)
    wd = os.path.join(self.dir, 'nan')
    with mock.patch.object(train.data, 'get', poisoned):
      with self.assertRaisesRegex(FloatingPointError, r'step 23\b.*last good checkpoint is '
                                  r'step 20'):
        train.train_and_evaluate(small_config(), wd)
    self.assertEqual(sorted(os.listdir(os.path.join(wd, 'checkpoints'))), ['10', '20'])
    _, _, state = train.restore_for_inference(wd)
    self.assertEqual(int(state.step), 20)
    chex.assert_tree_all_finite(state)

  def test_corrupt_checkpoint_is_reported_not_replaced(self):
    wd = os.path.join(self.dir, 'corrupt')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    ckpt_dir = os.path.join(wd, 'checkpoints', '10')
    corrupted = []
    for root, _, files in os.walk(ckpt_dir):
      for f in files:
        path = os.path.join(root, f)
        with open(path, 'wb') as fh:
          fh.write(b'not a checkpoint')
        corrupted.append(path)
    with self.assertRaisesRegex(checkpoints.CheckpointError, r'step 10 .*left untouched'):
      train.train_and_evaluate(small_config(num_steps=20), wd)
    for path in corrupted:
      with open(path, 'rb') as fh:
        self.assertEqual(fh.read(), b'not a checkpoint')
    self.assertEqual(os.listdir(os.path.join(wd, 'checkpoints')), ['10'])

  def test_incompatible_checkpoint_is_reported(self):
    wd = os.path.join(self.dir, 'incompatible')
    train.train_and_evaluate(small_config(num_steps=10), wd)
    with self.assertRaisesRegex(checkpoints.CheckpointError, 'step 10'):
      train.train_and_evaluate(small_config(**{'model.discriminator.features': (64, 64)}), wd)

  def test_bad_names_fail_before_compiling(self):
    cases = {'loss.name': ('hinge2', 'minimax, non_saturating'),
             'penalty.name': ('gp', 'none, wgan_gp'),
             'data.name': ('ring9', 'ring8, grid25'),
             'model.name': ('resnet', 'mlp, dcgan'),
             'g_optimizer.name': ('adamw2', 'adam, rmsprop, sgd')}
    for field, (bad, listed) in cases.items():
      wd = os.path.join(self.dir, field)
      with self.assertRaisesRegex(ValueError, f'{bad}.*{listed}'):
        train.train_and_evaluate(small_config(**{field: bad}), wd)
      self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')

  def test_shape_mismatch_between_model_and_data(self):
    with self.assertRaisesRegex(ValueError, r'\(3,\).*\(2,\)'):
      train.build(small_config(**{'model.generator.output_shape': (3,)}))


class LaunchTest(chex.TestCase):

  def test_absl_launch_with_overrides(self):
    wd = tempfile.mkdtemp()
    cmd = [sys.executable, '-m', 'launch.train', '--config=configs/toy2d.py', f'--workdir={wd}',
           '--config.num_steps=10', '--config.steps_per_call=5', '--config.loss.name=hinge',
           '--config.penalty.name=wgan_gp', '--config.penalty.weight=10']
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, timeout=300)
    cfg = json.load(open(os.path.join(wd, 'config.json')))
    self.assertEqual((cfg['loss']['name'], cfg['penalty']['name']), ('hinge', 'wgan_gp'))
    out = os.path.join(wd, 's.npy')
    subprocess.run([sys.executable, '-m', 'launch.sample', f'--workdir={wd}',
                    '--num_samples=7', f'--output={out}'], cwd=ROOT, check=True,
                   capture_output=True, timeout=300)
    self.assertEqual(np.load(out).shape, (7, 2))

  def test_sigterm_saves_a_checkpoint_and_stops(self):
    wd = tempfile.mkdtemp()
    cmd = [sys.executable, '-m', 'launch.train', '--config=configs/toy2d.py', f'--workdir={wd}',
           '--config.num_steps=1000000', '--config.steps_per_call=10',
           '--config.checkpoint_every=100000', '--config.log_every=10']
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = os.path.join(wd, 'metrics.jsonl')
    for _ in range(600):
      if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
        break
      time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    self.assertEqual(proc.returncode, 0, err[-2000:])
    steps = [int(s) for s in os.listdir(os.path.join(wd, 'checkpoints')) if s.isdigit()]
    self.assertLen(steps, 1)
    self.assertTrue(0 < steps[0] < 1000000 and steps[0] % 10 == 0)

  def test_unknown_config_field_is_rejected(self):
    cmd = [sys.executable, '-m', 'launch.train', '--config=configs/toy2d.py', '--workdir=/tmp/x',
           '--config.loss.margin=2']
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('margin', proc.stderr)


MULTI_DEVICE = r'''
import chex
chex.set_n_cpu_devices(8)
import jax, numpy as np
from tests.test_train import small_config
from jaxgan import step, train
config = small_config(**{'penalty.name': 'wgan_gp', 'model.generator.batch_norm': True})
gan, pipeline = train.build(config)
assert jax.device_count() == 8
state0 = jax.device_get(step.init_state(gan, jax.random.key(0), pipeline.element_shape))
batches = pipeline.batches(0, 5)
out = {}
for n in (1, 8):
  mesh = step.make_mesh(jax.devices()[:n])
  fn = step.compile_train_steps(gan, mesh)
  data = jax.device_put(batches, jax.sharding.NamedSharding(mesh,
                        jax.sharding.PartitionSpec(None, None, 'data')))
  state = jax.device_put(state0, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec()))
  s, m = fn(state, data, jax.random.key(1))
  assert len(data.sharding.device_set) == n
  out[n] = jax.device_get(s)
chex.assert_trees_all_close(out[1], out[8], rtol=1e-4, atol=1e-5)
print('8 devices == 1 device')
'''


class MultiDeviceTest(chex.TestCase):

  def test_eight_devices_equal_one(self):
    proc = subprocess.run([sys.executable, '-c', MULTI_DEVICE], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn('8 devices == 1 device', proc.stdout)


if __name__ == '__main__':
  absltest.main()
