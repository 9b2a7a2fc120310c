"""Tests of the CPU defaults the launchers apply (XLA options, host memory, programs on the
calling thread) and of data parallelism over several devices."""

import json
import os
import subprocess
import sys
from unittest import mock

import chex
import jax
from absl.testing import absltest

from configs import toy2d
from jaxgan import build, sharding
from tests.train_helpers import ENV, ROOT


class CompilerOptionsTest(chex.TestCase):
  """``compile_train_steps(..., compiler_options)`` reaches XLA for that program only."""

  def _run(self, options):
    config = toy2d.get_config()
    config.model.generator.features = config.model.discriminator.features = (32, 32)
    config.data.batch_size = 32
    gan, pipe = build.build(config)
    mesh = sharding.make_mesh(jax.devices()[:1])
    state = jax.device_put(build.init_state(gan, pipe, jax.random.key(0)),
                           sharding.replicated(mesh))
    fn = sharding.compile_train_steps(gan, mesh, options)
    return jax.device_get(fn(state, sharding.put_batches(pipe.batches(0, 3), mesh),
                             jax.random.key(1), {})[0])

  def test_an_unknown_option_is_rejected_by_name(self):
    with self.assertRaisesRegex(Exception, 'xla_no_such_option'):
      self._run({'xla_no_such_option': True})

  def test_the_cpu_default_changes_the_speed_not_the_step(self):
    if jax.default_backend() != 'cpu':
      self.skipTest('an XLA:CPU option')
    self.assertEqual(sharding.default_compiler_options(), sharding.CPU_COMPILER_OPTIONS)
    chex.assert_trees_all_close(self._run(None), self._run({}), rtol=1e-4, atol=1e-5)
    # The user's XLA_FLAGS win: set there (even to nothing, XLA's default), not overridden.
    uncached = sharding.default_compiler_options.__wrapped__
    with mock.patch.dict(os.environ, {'XLA_FLAGS': '--xla_cpu_experimental_ynn_fusion_type='}):
      self.assertEqual(uncached(), {})


# Allocates, touches and frees 64 MiB with the C library's own malloc, then counts the
# minor page faults of doing it again (16,384 pages of 4 KiB when the pages come fresh).
HOST_MEMORY = r'''
import ctypes, json, resource
from jaxgan import sharding
applied = sharding.retain_host_memory()
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
n = 64 << 20
def touch():
  p = libc.malloc(n)
  ctypes.memset(p, 1, n)
  libc.free(p)
touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(json.dumps({'applied': applied,
                  'faults': resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
'''


def _json_child(test: chex.TestCase, script: str, args: list[str], drop: tuple[str, ...],
                env: dict[str, str]) -> dict:
  """The JSON last printed by ``python -c script *args``, run with this session's
  environment less ``drop`` and every ``MALLOC_*`` variable, plus ``env``."""
  base = {k: v for k, v in ENV.items() if k not in drop and not k.startswith('MALLOC_')}
  proc = subprocess.run([sys.executable, '-c', script, *args], cwd=ROOT, env={**base, **env},
                        capture_output=True, text=True, timeout=120)
  test.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
  return json.loads(proc.stdout.strip().splitlines()[-1])


class RetainHostMemoryTest(chex.TestCase):
  """``sharding.retain_host_memory``: freed blocks are reused without page faults."""

  def _child(self, **env):
    return _json_child(self, HOST_MEMORY, [], ('JAXGAN_RETAIN_HOST_MEMORY',), env)

  def test_a_reallocated_block_reuses_its_pages(self):
    if jax.default_backend() != 'cpu':
      self.skipTest('applied on the CPU backend only')
    on = self._child()
    self.assertTrue(on['applied'])
    self.assertLess(on['faults'], 1000)
    off = self._child(JAXGAN_RETAIN_HOST_MEMORY='0')  # glibc's default maps it afresh
    self.assertFalse(off['applied'])
    self.assertGreater(off['faults'], 10000)

  def test_the_users_malloc_settings_win(self):
    self.assertFalse(self._child(MALLOC_MMAP_MAX_='65536')['applied'])


# A program with a 96 MiB intermediate, called 7 times after 2 warm-up calls: the median of
# the minor page faults per call (24,576 pages of 4 KiB when the intermediate comes fresh at
# every call). The median, not the mean: inline, now and then one call still maps the
# whole intermediate afresh (24,611 faults in 1 of 42 calls on an idle machine, more often
# under load; the CI once measured a mean of 8,203 over 3 calls), the others fault 0-35.
INLINE = r'''
import json, resource, sys
from jaxgan import sharding
inline = sharding.run_cpu_programs_inline() if sys.argv[1] == '1' else False
import jax, jax.numpy as jnp
from jax import lax
retained = sharding.retain_host_memory()
f = jax.jit(lambda x: jnp.sum(lax.optimization_barrier(jnp.sin(x)) * x))
x = jnp.ones((24 << 20,), jnp.float32)
f(x).block_until_ready(), f(x).block_until_ready()
faults = []
for _ in range(7):
  before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  f(x).block_until_ready()
  faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(json.dumps({'inline': inline, 'retained': retained,
                  'late': sharding.run_cpu_programs_inline(),
                  'async': jax.config.values['jax_cpu_enable_async_dispatch'],
                  'faults': sorted(faults)}))
'''


class RunCpuProgramsInlineTest(chex.TestCase):
  """``sharding.run_cpu_programs_inline``: a large intermediate stops faulting per call."""

  def _child(self, inline: bool, **env):
    # XLA's default options, as the launchers run.
    return _json_child(self, INLINE, ['1' if inline else '0'],
                       ('JAXGAN_RETAIN_HOST_MEMORY', 'JAX_CPU_ENABLE_ASYNC_DISPATCH',
                        'XLA_FLAGS'), env)

  def test_the_intermediate_reuses_its_pages_when_inline(self):
    if jax.default_backend() != 'cpu':
      self.skipTest('applied on the CPU backend only')
    on = self._child(True)
    self.assertEqual((on['inline'], on['retained'], on['async']), (True, True, False))
    self.assertFalse(on['late'])  # the backends run now: too late to change
    # Its pages are reused: calls that fault under 2,000 times (the intermediate is 24,576
    # pages). Not every call: on a loaded machine (CI's other test worker) most calls of a
    # run once faulted afresh, so the fewest of its 7 calls is what is asserted.
    self.assertLess(on['faults'][0], 2000, on['faults'])
    off = self._child(False)  # a runtime thread maps the intermediate afresh at every call
    self.assertEqual((off['inline'], off['retained'], off['async']), (False, True, True))
    self.assertGreater(off['faults'][3], 20000, off['faults'])  # the median call

  def test_the_users_choice_wins(self):
    for env in ({'JAX_CPU_ENABLE_ASYNC_DISPATCH': 'true'}, {'JAXGAN_RETAIN_HOST_MEMORY': '0'}):
      out = self._child(True, **env)
      self.assertFalse(out['inline'])
      self.assertTrue(out['async'])


MULTI_DEVICE = r'''
import chex
chex.set_n_cpu_devices(8)
import jax, numpy as np
from configs import toy2d
from jaxgan import build, sharding
config = toy2d.get_config()
config.model.generator.batch_norm = True
config.model.generator.features = config.model.discriminator.features = (32, 32)
config.penalty.name, config.penalty.weight = 'wgan_gp', 10.0
config.data.batch_size = 32
gan, pipe = build.build(config)
assert jax.device_count() == 8
state0 = jax.device_get(build.init_state(gan, pipe, jax.random.key(0)))
batches = pipe.batches(0, 5)
out = {}
for n in (1, 8):
  mesh = sharding.make_mesh(jax.devices()[:n])
  fn = sharding.compile_train_steps(gan, mesh)
  data = sharding.put_batches(batches, mesh)
  state = jax.device_put(state0, sharding.replicated(mesh))
  s, m = fn(state, data, jax.random.key(1), {})
  assert len(data['x'].sharding.device_set) == n
  # The batch axis split (32 / n examples a device), the rest whole; the state donated.
  assert data['x'].sharding.spec == jax.sharding.PartitionSpec(None, None, 'data')
  assert {sh.data.shape[:3] for sh in data['x'].addressable_shards} == {(5, 1, 32 // n)}
  assert all(x.is_deleted() for x in jax.tree.leaves(state))
  out[n] = jax.device_get(s)
chex.assert_trees_all_close(out[1], out[8], rtol=1e-4, atol=1e-5)
print('8 devices == 1 device')
# Rows for evaluation: 37 padded to 40 with the last one, 5 a device.
rows, n = sharding.put_rows({'x': np.arange(37.0)}, sharding.make_mesh())
assert n == 37 and {sh.data.shape for sh in rows['x'].addressable_shards} == {(5,)}
np.testing.assert_array_equal(rows['x'], np.r_[np.arange(37.0), [36.0] * 3])
# A global batch that does not split over the 8 devices is refused before anything is
# written.
import os, tempfile
from jaxgan import train, validation
sharding.check_batch_size(16, sharding.make_mesh())
for bad in (9, 12):
  try:
    sharding.check_batch_size(bad, sharding.make_mesh())
    raise AssertionError(f'batch {bad} passed on 8 devices')
  except validation.ConfigError:
    pass
config.data.batch_size = 12
wd = os.path.join(tempfile.mkdtemp(), 'never')
try:
  train.train_and_evaluate(config, wd)
  raise AssertionError('batch 12 trained on 8 devices')
except validation.ConfigError as e:
  assert 'data.batch_size 12 is not divisible by the 8 devices' in str(e), e
assert not os.path.exists(wd)
print('batch 12 refused on 8 devices')
'''


def _stdout(test: chex.TestCase, script: str) -> str:
  """The output of ``python -c script`` (8 CPU devices of its own), which must succeed."""
  proc = subprocess.run([sys.executable, '-c', script], cwd=ROOT, env=ENV,
                        capture_output=True, text=True, timeout=600)
  test.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
  return proc.stdout


SHARDED_SEEDS = r'''
import chex
chex.set_n_cpu_devices(8)
import jax, numpy as np
from unittest import mock
from jaxgan import build, seeds, sharding
from tests.train_helpers import small_config
assert [seeds.seed_mesh(n).size for n in (8, 4, 6, 7, 9, 16, 1)] == [8, 4, 6, 7, 5, 8, 1]
assert seeds.seed_mesh(5, jax.local_devices()[:4]).size == 3  # two seeds each
config = small_config(num_steps=10)
gan, _ = build.build(config)
mesh_of = seeds.seed_mesh
one = lambda k: mesh_of(k, jax.local_devices()[:1])
four = lambda k: mesh_of(k, jax.local_devices()[:4])
out = {}
for seed_list, meshes in (([3, 7, 11, 19], (mesh_of, one)), ([3, 7, 11, 19, 23], (four, one))):
  for mesh in meshes:
    seen = []
    with mock.patch.object(seeds, 'seed_mesh', mesh):
      states, diverged = seeds.train_seeds(gan, seeds.pipelines(config, seed_list), seed_list,
                                           10, 5, callback=lambda s, st: seen.append(st))
    assert list(diverged) == [0] * len(seed_list), diverged
    for st in (states, seen[-1]):  # the seeds asked for, no padding
      assert all(x.shape[0] == len(seed_list) for x in jax.tree.leaves(st))
    if mesh is mesh_of:  # 4 seeds on 8 devices: every leaf, the step too, one seed per device
      for leaf in jax.tree.leaves(states):
        assert len(leaf.sharding.device_set) == 4, leaf.sharding
        assert leaf.addressable_shards[0].data.shape[0] == 1, leaf.shape
    assert seeds.generate(gan, states, 16).shape[0] == len(seed_list)
    out[len(seed_list), mesh is one] = jax.device_get(states)
for n in (4, 5):
  chex.assert_trees_all_close(out[n, False], out[n, True], rtol=1e-4, atol=1e-5)
print('seeds split over 4 and 3 devices == on 1')
'''


class MultiDeviceTest(chex.TestCase):

  def test_eight_devices_equal_one(self):
    out = _stdout(self, MULTI_DEVICE)
    self.assertIn('8 devices == 1 device', out)
    self.assertIn('batch 12 refused on 8 devices', out)

  def test_seeds_split_over_the_devices_train_as_on_one(self):
    # 4 seeds on 8 devices: one seed per device (4 of them); 5 seeds on 4 devices: two on
    # each of 3, the last one padded; the same states as on one device.
    self.assertIn('seeds split over 4 and 3 devices == on 1', _stdout(self, SHARDED_SEEDS))



SHARDED_EVALUATION = r'''
import json, os
import chex
chex.set_n_cpu_devices(8)
import jax, numpy as np
from unittest import mock
from configs import toy2d
from jaxgan import build, inference, sharding, torch_weights
from jaxgan.metrics import inception
config = toy2d.get_config()
config.model.generator.features = (16,)
gan, pipe = build.build(config)
# A state committed to one device, as a restore on a machine with several may leave it.
state = jax.device_put(build.init_state(gan, pipe, jax.random.key(0)), jax.devices()[3])
rng = np.random.default_rng(0)
images = rng.uniform(-1, 1, (11, 16, 16, 3)).astype(np.float32)
layout = json.load(open(os.path.join('tests', 'data', 'inception_layout.json')))
variables = inception.variables_from_state_dict(torch_weights.random_state_dict(layout, 0))
sizes, put = [], sharding.put_rows
def spy(tree, mesh):
  sizes.append(mesh.size)
  return put(tree, mesh)
out = {}
for n in (8, 1):
  one = sharding.make_mesh(jax.local_devices()[:n])
  with mock.patch.object(sharding, 'local_mesh', lambda: one), \
       mock.patch.object(sharding, 'put_rows', spy):
    # 37 samples in batches of 13 (not multiples of 8), 11 images in batches of 4.
    out[n] = (inference.sample(gan, state, 37, use_ema=False, batch_size=13),
              *inception.features_and_logits(variables, images, batch_size=4))
assert set(sizes) == {8, 1}, sizes
for a, b in zip(out[8], out[1]):
  assert a.shape == b.shape, (a.shape, b.shape)
  np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
print('sharded == one device', [a.shape for a in out[8]])
'''


class ShardedEvaluationTest(chex.TestCase):

  def test_samples_and_features_over_eight_devices_equal_one(self):
    self.assertIn('sharded == one device [(37, 2), (11, 2048), (11, 1008)]',
                  _stdout(self, SHARDED_EVALUATION))


if __name__ == '__main__':
  absltest.main()
