"""Vmapped seeds equal separate runs; the study runner and evaluate entry points."""

import contextlib
import dataclasses
import functools
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from unittest import mock

import chex
import jax
import ml_collections
import numpy as np
import PIL.Image
import scipy.linalg
from absl.testing import absltest

from configs import toy2d
from jaxgan import (
  build,
  data,
  evaluate,
  files,
  inference,
  metrics,
  seeds,
  sharding,
  train,
  validation,
)
from jaxgan import gan as gan_lib
from jaxgan import workdir as workdir_lib
from jaxgan.metrics import digit_classifier
from studies import digits as digits_study
from studies import mixtures as mixtures_study
from studies import runner, tables


def small_config(num_steps: int = 20, **overrides):
  """The toy config with 32-wide MLPs, batch 32, 5 steps per call."""
  c = toy2d.get_config()
  c.model.generator.features = c.model.discriminator.features = (32, 32)
  c.data.batch_size, c.num_steps, c.steps_per_call = 32, num_steps, 5
  c.log_every, c.eval_every, c.checkpoint_every, c.num_eval_samples = 5, 20, 10, 100
  c.update(overrides)
  return c


def quick_classifier(steps: int = 100):
  """Trains the digit classifier for ``steps`` steps instead of 1,500 while it is active.

  For the tests of which data and cache the classifier comes from and of the study and
  evaluate plumbing around it, not of its accuracy: ``EvaluateTest.test_digits_run`` checks
  that with the full training. The classifier's training, not the GAN's, was most of these
  tests' time.
  """
  return mock.patch.object(digit_classifier, 'train_classifier',
                           functools.partial(digit_classifier.train_classifier, steps=steps))


def full_optimization():
  """Compiles jaxgan's programs with XLA's backend optimization (level 3) while it is
  active, for a test that runs one program for many steps: the session compiles at level 0
  for compile speed (``tests/conftest.py``), which slows such loops."""
  options = sharding.default_compiler_options()
  return mock.patch.object(sharding, 'default_compiler_options',
                           lambda: {**options, 'xla_backend_optimization_level': 3})


def _scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
  """The Frechet distance of two feature sets, as pytorch-fid computes it (SciPy's sqrtm)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
  with warnings.catch_warnings():  # features that are 0 for every image: singular
    warnings.simplefilter('ignore', scipy.linalg.LinAlgWarning)
    root = scipy.linalg.sqrtm(s1 @ s2).real
  return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
               - 2 * np.trace(root))


class _RandomFeatures:
  """A fixed random map of 8x8 images in place of the trained digit classifier: 6 features
  tanh(x P / 4) and 10 logits x H, P and H standard normal, drawn from ``rng``."""

  def __init__(self, rng: np.random.Generator):
    self.proj, self.head = rng.normal(size=(64, 6)), rng.normal(size=(64, 10))

  def features(self, x: np.ndarray) -> np.ndarray:
    return np.tanh(np.asarray(x, np.float64).reshape(len(x), -1) @ self.proj / 4)

  def logits(self, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(len(x), -1) @ self.head

  def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return self.features(x), self.logits(x)

  def reference(self, train: object, held_x: np.ndarray,
                source: str = 'digits') -> '_RandomFeatures':
    """Itself as ``digit_classifier.Reference(train, held_x, source)``: ``held`` the
    features of the held-out digits ``held_x``, a floor of 1."""
    del train, source
    self.held_x, self.held, self.floor, self.description = (held_x, self.features(held_x),
                                                            1.0, 'fake')
    return self


def _held_out_reference(seed: int = 4) -> _RandomFeatures:
  """A random feature map with the features of 300 random "held-out" images."""
  rng = np.random.default_rng(seed)
  return _RandomFeatures(rng).reference(None, rng.uniform(-1, 1, (300, 8, 8, 1)))


def _numpy_is(logits: np.ndarray, splits: int = 10) -> float:
  """exp(E KL(p(y|x) || p(y))), the mean over ``splits`` equal parts (Salimans et al.)."""
  z = np.asarray(logits, np.float64)
  p = np.exp(z - z.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  return float(np.mean([np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0))), axis=1)))
                        for q in np.array_split(p, splits)]))


def _run_mixtures_study(config, samples: np.ndarray, diverged=None, context=None):
  """``mixtures_study.run_one`` of ``len(samples)`` seeds with training mocked (``diverged``
  the step each seed diverged at, 0 for none) and ``seeds.generate`` returning
  ``samples [S, N, 2]``; returns its result and the mock of ``generate``."""
  diverged = np.zeros(len(samples), int) if diverged is None else np.asarray(diverged)
  with mock.patch.object(mixtures_study.seeds, 'train_seeds', return_value=(None, diverged)), \
       mock.patch.object(mixtures_study.seeds, 'generate', return_value=samples) as generate:
    out = mixtures_study.run_one(config, list(range(len(samples))), None,
                                 {'panels': {}, 'group': 'g'} if context is None else context)
  return out, generate


def _run_digits_study(run, study, samples: np.ndarray, reference):
  """``digits_study.run_one`` of ``len(samples)`` seeds with training mocked (one scoring
  call, at step 20; no seed diverged) and ``seeds.generate`` returning ``samples [S, N, H,
  W, 1]``; returns its result and the mock of ``generate``."""
  diverged = np.zeros(len(samples), int)
  with mock.patch.object(digits_study.seeds, 'train_seeds',
                         lambda *args, callback: (callback(20, None), diverged)), \
       mock.patch.object(digits_study.seeds, 'generate', return_value=samples) as generate:
    out = digits_study.run_one(run, list(range(len(samples))), study, {'reference': reference})
  return out, generate


class SeedsTest(chex.TestCase):

  def _refused_before_any_run(self, c, error, message: str) -> None:
    """The study of ``c`` raises ``error`` (``message``) before its first run, and makes
    no workdir."""
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with mock.patch.object(mixtures_study, 'run_one') as run_one:
      with self.assertRaisesRegex(error, message):
        runner.run_study(c, wd)
      run_one.assert_not_called()
    self.assertFalse(os.path.exists(wd))

  def test_vmapped_seeds_equal_separate_runs(self):
    config = small_config(num_steps=20)
    gan, _ = build.build(config)
    seed_list = [3, 7]
    states, diverged = seeds.train_seeds(gan, seeds.pipelines(config, seed_list), seed_list,
                                         20, 5)
    np.testing.assert_array_equal(diverged, [0, 0])
    for i, s in enumerate(seed_list):
      config.seed = s
      alone = train.train_and_evaluate(config, tempfile.mkdtemp())
      chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], states), alone,
                                  rtol=2e-4, atol=2e-5)
    # Different seeds really differ.
    self.assertFalse(np.allclose(jax.tree.leaves(states.g_params)[0][0],
                                 jax.tree.leaves(states.g_params)[0][1]))

  def test_a_lazy_penalty_stays_a_branch_under_the_seeds_vmap(self):
    """The seeds share their step, so the penalty's lax.cond on it is not turned into a
    select computing the penalty at every step; the states still equal separate runs."""
    config = small_config(num_steps=10)
    config.penalty.update(name='wgan_gp', weight=10.0, every=4)
    gan, _ = build.build(config)
    pipes, seed_list = seeds.pipelines(config, [3, 7]), [3, 7]
    keys = jax.vmap(build.step_base_key)(np.asarray(seed_list, np.uint32))
    lowered = seeds.compile_seed_steps(gan).lower(
        seeds.init_states(gan, pipes[0], seed_list), seeds.stacked_batches(pipes, 0, 5),
        keys, {})
    self.assertRegex(lowered.as_text(), r'stablehlo\.case')
    states, _ = seeds.train_seeds(gan, pipes, seed_list, 10, 5)
    np.testing.assert_array_equal(states.step, [10, 10])
    for i, s in enumerate(seed_list):
      config.seed = s
      alone = train.train_and_evaluate(config, tempfile.mkdtemp())
      chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], states), alone,
                                  rtol=2e-4, atol=2e-5)

  def test_frozen_variables_reach_every_seeds_content_term(self):
    """``frozen`` (a content loss's fixed variables, VGG19's in SR) is shared by all seeds:
    each seed trains as ``launch.train``'s compiled step trains it with the same variables,
    and the variables' values matter."""
    config = small_config(num_steps=10)
    gan, _ = build.build(config)

    def pull(fake, real, frozen):  # a term that pulls the samples toward a fixed point
      loss = frozen['w'] * jax.numpy.mean((fake - frozen['target']) ** 2)
      return loss, {'pull': loss}
    gan = dataclasses.replace(gan, content=pull)
    frozen = {'w': np.float32(5.0), 'target': np.asarray([1.5, -0.5], np.float32)}
    seed_list = [3, 7]
    pipes = seeds.pipelines(config, seed_list)
    states, diverged = seeds.train_seeds(gan, pipes, seed_list, 10, 5, frozen=frozen)
    np.testing.assert_array_equal(diverged, [0, 0])

    fn = sharding.compile_train_steps(gan, sharding.make_mesh(jax.devices()[:1]))
    for i, s in enumerate(seed_list):
      alone = build.init_state(gan, pipes[i], build.init_key(s))
      for start in (0, 5):
        alone, metrics = fn(alone, pipes[i].batches(start, 5), build.step_base_key(s), frozen)
      self.assertGreater(float(metrics['pull'][-1]), 0.0)
      chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], states), alone,
                                  rtol=2e-4, atol=2e-5)
    unweighted, _ = seeds.train_seeds(gan, pipes, seed_list, 10, 5,
                                      frozen={**frozen, 'w': np.float32(0.0)})
    self.assertFalse(np.allclose(jax.tree.leaves(unweighted.g_params)[0],
                                 jax.tree.leaves(states.g_params)[0], atol=1e-4))

  def test_generate_samples_each_seed_with_the_same_noise_and_the_weights_asked_for(self):
    generate = gan_lib.generate
    config = small_config(num_steps=1)
    gan, pipe = build.build(config)
    states = seeds.init_states(gan, pipe, [3, 7])
    states = states.replace(ema_params=jax.tree.map(lambda x: 0.5 * x, states.g_params))
    z, y = gan_lib.sample_latent(gan.latent, jax.random.key(1234), 6)
    for use_ema in (False, True):
      got = seeds.generate(gan, states, 6, use_ema=use_ema)
      chex.assert_shape(got, (2, 6, *pipe.element_shape))
      for i in range(2):
        state = jax.tree.map(lambda x, i=i: x[i], states)
        np.testing.assert_allclose(got[i], gan_lib.generate(gan, state, z, y, use_ema),
                                   rtol=1e-5, atol=1e-6)
    self.assertFalse(np.allclose(got, seeds.generate(gan, states, 6, use_ema=False)))
    # One program per (GAN, count, use_ema): a study's evaluations trace it once.
    traced = []
    with mock.patch.object(gan_lib, 'generate',
                           side_effect=lambda *a: traced.append(1) or generate(*a)):
      for _ in range(3):
        seeds.generate(gan, states, 5, use_ema=True)
    self.assertEqual(len(traced), 1)

  def test_generate_draws_its_noise_from_the_key_given(self):
    # Pins the documented noise: the latent of sample_latent(key(key)), each seed's
    # generator applied to it alone (a fixed 1234 drew the same whatever the key).
    config = small_config(num_steps=1)
    gan, pipe = build.build(config)
    states = seeds.init_states(gan, pipe, [3, 7])
    z, y = gan_lib.sample_latent(gan.latent, jax.random.key(5), 4)
    got = seeds.generate(gan, states, 4, key=5)
    for i in range(2):
      state = jax.tree.map(lambda x, i=i: x[i], states)
      np.testing.assert_allclose(got[i], gan_lib.generate(gan, state, z, y, False),
                                 rtol=1e-5, atol=1e-6)
    self.assertFalse(np.allclose(got, seeds.generate(gan, states, 4)))  # key 1234's noise

  def test_a_diverging_seed_is_reported_and_others_continue(self):
    config = small_config(num_steps=20)
    gan, _ = build.build(config)
    pipes = seeds.pipelines(config, [0, 1])
    p = pipes[1]
    poisoned = dataclasses.replace(
        p, batch=lambda s: {'x': p.batch(s)['x'] * (np.nan if s == 6 else 1.0)})
    states, diverged = seeds.train_seeds(gan, [pipes[0], poisoned], [0, 1], 20, 5)
    np.testing.assert_array_equal(diverged, [0, 7])
    chex.assert_tree_all_finite(jax.tree.map(lambda x: x[0], states))
    # Not only finite: seed 0 trained exactly as beside a healthy seed 1.
    clean, _ = seeds.train_seeds(gan, pipes, [0, 1], 20, 5)
    chex.assert_trees_all_equal(jax.tree.map(lambda x: x[0], states),
                                jax.tree.map(lambda x: x[0], clean))

  def test_a_seed_whose_state_is_not_finite_under_finite_losses_is_reported(self):
    # A NaN in seed 1's EMA weights never reaches a loss (nor does one that XLA:CPU's dot
    # fusion turns into 0 in relu(x @ w)): the state is checked after every call.
    config = small_config(num_steps=10, ema_decay=0.9)
    gan, _ = build.build(config)
    pipes = seeds.pipelines(config, [0, 1])
    init = seeds.init_states

    def poisoned(*args):
      states = init(*args)
      return states.replace(ema_params=jax.tree.map(lambda x: x.at[1].set(np.nan),
                                                    states.ema_params))
    with mock.patch.object(seeds, 'init_states', poisoned):
      states, diverged = seeds.train_seeds(gan, pipes, [0, 1], 10, 5)
    chex.assert_tree_all_finite((states.g_params, states.d_params))  # the losses' weights
    np.testing.assert_array_equal(diverged, [0, 5])

  def test_bad_train_seeds_arguments_are_named(self):
    config = small_config(num_steps=2)
    gan, _ = build.build(config)
    pipes = seeds.pipelines(config, [0, 1])
    for args, message in (((pipes[:0], [], 2, 1), 'got 0 seeds and 0 pipelines'),
                          ((pipes, [0, 1, 2], 2, 1), 'got 3 seeds and 2 pipelines'),
                          ((pipes, [0, 1], 0, 1), 'num_steps must be an integer >= 1; got 0'),
                          ((pipes, [0, 1], 2, 0), 'steps_per_call must be an integer >= 1'),
                          ((pipes, [0, 1], 2.5, 1), 'num_steps must be an integer')):
      with self.subTest(message), self.assertRaisesRegex(ValueError, message):
        seeds.train_seeds(gan, *args)

  def test_a_boolean_count_is_refused_not_read_as_1(self):
    # True is an int to Python: a flag passed as a count (or a count computed as a
    # comparison) must be named, not train 1 step.
    config = small_config(num_steps=2)
    gan, _ = build.build(config)
    pipes = seeds.pipelines(config, [0, 1])
    for args, name in (((pipes, [0, 1], True, 1), 'num_steps'),
                       ((pipes, [0, 1], 2, True), 'steps_per_call')):
      with self.subTest(name), self.assertRaisesRegex(
          ValueError, f'{name} must be an integer >= 1; got True'):
        seeds.train_seeds(gan, *args)

  def test_summarize_skips_diverged_seeds(self):
    results = [{'modes': 8.0, 'hq_percent': 90.0, 'strict_modes': 8.0, 'reverse_kl': 0.1},
               {'modes': 6.0, 'hq_percent': 70.0, 'strict_modes': 5.0, 'reverse_kl': 0.3},
               {'diverged_at': 12}]
    s = mixtures_study.summarize(results)
    self.assertEqual((s['seeds'], s['diverged']), (3, 1))
    self.assertEqual(s['modes'], (7.0, 1.0))
    np.testing.assert_allclose(s['hq_percent'], (80.0, 10.0))
    # The console line shows the summary's mean ± std, not the spread of the pair.
    self.assertEqual(mixtures_study.summary(s), 'modes 7.0 ± 1.0, HQ 80.0 ± 10.0')
    # Three finite seeds, skewed: the mean (5, not the median 6) and the population std.
    three = [{'modes': m, 'hq_percent': 50.0, 'strict_modes': m, 'reverse_kl': 0.2}
             for m in (8.0, 6.0, 1.0)]
    np.testing.assert_allclose(mixtures_study.summarize(three)['modes'],
                               (5.0, np.sqrt((9 + 1 + 16) / 3)))

  def test_table_shows_an_infinite_reverse_kl_as_inf(self):
    # A seed with no high-quality sample has reverse KL = inf: its mean is inf and its std
    # undefined (NumPy's nan), shown as 'inf', not 'inf ± nan'. All diverged: 'n/a'.
    good = {'modes': 8.0, 'hq_percent': 90.0, 'strict_modes': 8.0, 'reverse_kl': 0.5}
    rows = []
    for results in ([good, {**good, 'reverse_kl': 0.25}], [good, {**good, 'reverse_kl': np.inf}],
                    [{'diverged_at': 3}]):
      rows.append({'group': 'ring8', 'objective': 'hinge', 'penalty': 'none', 'seconds': 1.0,
                   **mixtures_study.summarize(results)})
    _, body = mixtures_study.table(rows)
    self.assertEqual([r[6] for r in body], ['0.38 ± 0.12', 'inf', 'n/a'])
    self.assertEqual([r[7] for r in body], ['0/2', '0/2', '1/1'])  # diverged/seeds

  def test_study_writes_report(self):
    from configs import study_toy
    c = study_toy.get_config()
    c.model.generator.features = (16,)
    c.model.discriminator.features = (16,)
    c.num_steps = 10
    c.steps_per_call = 5
    c.study.groups = {'ring8': c.study.groups.ring8.to_dict()}
    c.study.runs = ('hinge:none', 'wasserstein:wgan_gp')
    c.study.num_seeds = 2
    c.seed = 3  # the seeds are 3 and 4 (config.seed was ignored: always 0, 1, ...)
    wd = tempfile.mkdtemp()
    rows = runner.run_study(c, wd)
    self.assertEqual([r['objective'] for r in rows], ['hinge', 'wasserstein'])
    self.assertEqual(len(rows[1]['per_seed']), 2)
    for name in ('study.md', 'study.json', 'study_ring8.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    report = json.load(open(os.path.join(wd, 'study.json')))
    self.assertEqual(report['seeds'], [3, 4])
    # Each table cell is mean ± std (ddof=0) of the per-seed records, recomputed here.
    table = open(os.path.join(wd, 'study.md')).read()
    for row in report['runs']:
      if row['diverged']:
        continue
      cells = [f'{np.mean(v):.1f} ± {np.std(v):.1f}' for v in (
          [s[k] for s in row['per_seed']] for k in ('modes', 'hq_percent', 'strict_modes'))]
      self.assertIn(f"| ring8 | {row['objective']} | {row['penalty']} | "
                    + ' | '.join(cells) + ' |', table)
    one = mixtures_study.run_one(runner.run_config(c, 'ring8', 'hinge:none')[0], [3],
                                 c.study, {'panels': {}})
    self.assertEqual(one['per_seed'][0], report['runs'][0]['per_seed'][0])
    # A study with another config in the same workdir would overwrite these results:
    # refused, naming what differs; the same config has nothing left to run.
    other = ml_collections.ConfigDict(c.to_dict())
    other.num_steps = 20
    with self.assertRaisesRegex(FileExistsError, r'study.json holds the results of an '
                                r'earlier study with another config \(it differs in '
                                r'num_steps\).*choose another --workdir'):
      runner.run_study(other, wd)
    with mock.patch.object(mixtures_study, 'run_one') as run_one:
      self.assertEqual(runner.run_study(c, wd), rows)
    run_one.assert_not_called()
    # A second study in the same workdir while one runs would rewrite its report and
    # resume file: refused, as a second trainer is, nothing run or written.
    from jaxgan import workdir as workdir_lib
    times = lambda: {n: os.path.getmtime(os.path.join(wd, n)) for n in os.listdir(wd)
                     if n != '.lock'}  # the lock records its holder
    before = times()
    with workdir_lib.Lock(wd), mock.patch.object(mixtures_study, 'run_one') as run_one, \
        self.assertRaisesRegex(workdir_lib.WorkdirBusy, 'is in use by another'):
      runner.run_study(c, wd)
    run_one.assert_not_called()
    self.assertEqual(times(), before)

    # Stopped after its first run, the same command resumes the study: the rows are those
    # of the unbroken study (but for the seconds), the panels of both runs are drawn.
    stopped = tempfile.mkdtemp()
    real_run_one = mixtures_study.run_one
    calls = []

    def stop_at_the_second(*args, **kwargs):
      calls.append(args[0].loss.name)
      if len(calls) == 2:
        raise KeyboardInterrupt
      return real_run_one(*args, **kwargs)
    with mock.patch.object(mixtures_study, 'run_one', side_effect=stop_at_the_second):
      with self.assertRaises(KeyboardInterrupt):
        runner.run_study(c, stopped)
    self.assertEqual(len(json.load(open(os.path.join(stopped, 'study.json')))['runs']), 1)
    with mock.patch.object(mixtures_study, 'run_one', side_effect=real_run_one) as run_one:
      resumed = runner.run_study(c, stopped)
    self.assertEqual([call.args[0].loss.name for call in run_one.call_args_list],
                     ['wasserstein'])
    no_seconds = lambda rs: [{k: v for k, v in r.items() if k != 'seconds'} for r in rs]
    self.assertEqual(no_seconds(resumed), no_seconds(rows))
    with np.load(os.path.join(stopped, 'samples_ring8.npz')) as f:
      self.assertEqual(sorted(f.files), ['hinge', 'wasserstein+wgan_gp'])
    self.assertEqual(open(os.path.join(stopped, 'study.md')).read().count('| ring8 |'), 2)
    # A resume file that cannot be read is reported, not replaced.
    with open(os.path.join(stopped, runner.RESUME_FILE), 'wb') as f:
      f.write(b'not a pickle')
    with self.assertRaisesRegex(FileExistsError, 'study_resume.pkl cannot be read'):
      runner.run_study(c, stopped)

  def test_each_groups_figure_shows_its_own_modes(self):
    # Redrawn after another group ran (as a resume redraws every group's figure), ring8's
    # panel showed grid25's 25 modes.
    from configs import study_toy
    c = study_toy.get_config()
    c.model.generator.features = (16,)
    c.model.discriminator.features = (16,)
    c.num_steps, c.steps_per_call = 10, 5
    context = {'panels': {}, 'seeds': [0]}
    for group in ('ring8', 'grid25'):
      context['group'] = group
      mixtures_study.run_one(runner.run_config(c, group, 'hinge:none')[0], [0], c.study,
                             context)
    drawn = []
    with mock.patch.object(mixtures_study.plots, 'save_figure',
                           lambda fig, path: drawn.append(fig)):
      for group in ('ring8', 'grid25'):
        mixtures_study.figures(c, [], group, tempfile.mkdtemp(), context)
    angles = 2 * np.pi * np.arange(8) / 8
    ring = 2 * np.stack([np.cos(angles), np.sin(angles)], 1)
    grid = np.stack(np.meshgrid(*[np.arange(-4, 5, 2)] * 2, indexing='ij'), -1).reshape(-1, 2)
    for fig, want in zip(drawn, (ring, grid), strict=True):
      marks = fig.axes[0].collections[1].get_offsets()
      np.testing.assert_allclose(np.asarray(marks), want, atol=1e-6)
      self.assertAlmostEqual(fig.axes[0].get_xlim()[1], np.abs(want).max() * 1.4, places=5)

  def test_groups_on_one_dataset_each_keep_their_panel(self):
    from configs import study_ring8_default
    c = study_ring8_default.get_config()
    c.model.generator.features = (16,)
    c.model.discriminator.features = (16,)
    c.num_steps, c.steps_per_call = 10, 5
    c.study.num_seeds = 2
    wd = tempfile.mkdtemp()
    runner.run_study(c, wd)
    panels = {}
    for group in ('float32', 'bfloat16'):
      self.assertTrue(os.path.exists(os.path.join(wd, f'study_{group}.png')), group)
      with np.load(os.path.join(wd, f'samples_{group}.npz')) as f:
        panels[group] = f['non_saturating+r1']
    # Each group's own samples: the two precisions differ.
    self.assertFalse(np.array_equal(panels['float32'], panels['bfloat16']))
    self.assertFalse(os.path.exists(os.path.join(wd, 'study_ring8.png')))

  def test_study_kind_is_required_and_named(self):
    from configs import study_toy
    c = study_toy.get_config()
    c.study.kind = 'grid'
    with self.assertRaisesRegex(ValueError, "study kind 'grid'.*mixtures, digits"):
      runner.run_study(c, tempfile.mkdtemp())
    del c.study['kind']
    with self.assertRaisesRegex(validation.ConfigError,
                                'study.kind is required.*mixtures, digits'):
      runner.run_study(c, tempfile.mkdtemp())
    # A training config is not a study: the error says which launcher takes it.
    with self.assertRaisesRegex(validation.ConfigError, 'no config.study: it is a training '
                                'config, not a study; train it with python -m launch.train'):
      runner.run_study(toy2d.get_config(), tempfile.mkdtemp())

  def test_a_misspelt_field_in_a_group_fails_before_the_first_run(self):
    from configs import study_toy
    c = study_toy.get_config()
    c.model.generator.features = c.model.discriminator.features = (16,)
    c.num_steps, c.steps_per_call = 10, 5
    c.study.runs, c.study.num_seeds = ('hinge:none',), 1
    c.study.groups.grid25['ema_deacy'] = 0.99  # the second group; ring8 would run first
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(validation.ConfigError,
                                r"config has no field 'ema_deacy' \(did you mean 'ema_decay'"):
      runner.run_study(c, wd)
    self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')

  def test_a_bad_run_fails_before_the_first_run(self):
    """A misspelt objective or penalty in the last group's last run, a misspelt schedule in
    the last group, a run not written 'objective:penalty', and a study with nothing to
    run: each refused before anything trains or is written."""
    from configs import study_toy
    for runs, groups, error, message in (
        (('hinge:none', 'hinge:wgan_gpp'), None, ValueError,
         "penalty 'wgan_gpp'.*wgan_gp"),
        (('hinge:none', 'hingee:none'), None, ValueError, "objective 'hingee'.*hinge"),
        (('hinge:none', 'hinge(margin=2):none'), None, TypeError, 'margin'),
        (('hinge',), None, validation.ConfigError, "'hinge'.*'objective:penalty'"),
        (('hinge:none',), 'schedule', ValueError, "schedule 'cosin'.*cosine"),
        ((), None, validation.ConfigError, 'config.study.runs is empty'),
        (('hinge:none',), {}, validation.ConfigError, 'config.study.groups is empty')):
      c = study_toy.get_config()
      c.study.runs = runs
      if groups == 'schedule':  # a misspelt schedule in the last group
        c.study.groups.grid25['g_optimizer'] = dict(c.g_optimizer.to_dict(), schedule='cosin')
      elif groups is not None:
        c.study.groups = groups
      with self.subTest(runs=runs):
        self._refused_before_any_run(c, error, message)

  def test_a_group_that_would_fail_or_be_ignored_is_refused_before_the_first_run(self):
    # The check read fields and names only: a group whose model or data could not be built
    # failed when its first run started, after the groups before it had trained (and the
    # fixed config then could not resume them); seed and init_from were silently ignored.
    from configs import study_toy
    ring8 = lambda **kw: dict(study_toy.get_config().study.groups.ring8.to_dict(), **kw)
    data = ring8()['data']
    cases = (
        ({'ring8': ring8(data=dict(data, name='rign8'))}, None, ValueError,
         r"Unknown dataset 'rign8'"),
        ({'ring8': ring8(data={'batch_size': 64})}, None, validation.ConfigError,
         r"Group 'ring8' replaces config.data whole .* no field 'name'"),
        ({'ring8': ring8(loss={'name': 'hinge'})}, None, validation.ConfigError,
         r"Group 'ring8' replaces config.data, config.loss whole .* no field"),
        ({'ring8': ring8(data=dict(name='digits', batch_size=64))}, None,
         validation.ConfigError, r"Group 'ring8' trains on 'digits', which a mixtures study "
         r"cannot score \(it scores 'modes' data, this is 'digits' data\)"),
        ({'ring8': ring8(seed=5)}, None, validation.ConfigError,
         r"Group 'ring8' sets seed: the study's seeds are config.seed to"),
        ({'ring8': ring8(init_from='/elsewhere')}, None, validation.ConfigError,
         r"Group 'ring8' sets init_from: a study trains every seed from scratch"),
        ({'ring8/x': ring8()}, None, validation.ConfigError,
         r"Group name 'ring8/x' names its files"),
        (None, {'init_from': '/elsewhere'}, validation.ConfigError,
         'config.init_from is set: a study trains every seed from scratch'),
        (None, {'study.runs': ('hinge:none', ' hinge : none ')}, validation.ConfigError,
         r'config.study.runs has hinge:none more than once'),
        (None, {'content.perceptual_weight': 1.0}, validation.ConfigError,
         r"Group '\w+' has content.perceptual_weight=1.0: a study loads no VGG19 weights"),
        ({'ring8': ring8(content=dict(study_toy.get_config().content.to_dict(),
                                      perceptual_weight=2.0))}, None, validation.ConfigError,
         "Group 'ring8' has content.perceptual_weight=2.0: a study loads no VGG19 weights"))
    for groups, fields, error, message in cases:
      c = study_toy.get_config()
      if groups is not None:
        c.study.groups = dict(c.study.groups.to_dict(), **groups)
      for key, value in (fields or {}).items():
        node, _, leaf = key.rpartition('.')
        (c[node] if node else c)[leaf] = value
      with self.subTest(message):
        self._refused_before_any_run(c, error, message)

  def test_a_study_counts_steps_not_epochs(self):
    # Given num_epochs (and num_steps 0), a study trained 0 steps and tabled the untrained
    # generators; now refused, before anything trains or is written.
    from configs import study_toy
    c = study_toy.get_config()
    c.num_steps, c.num_epochs = 0, 1
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with mock.patch.object(mixtures_study, 'run_one') as run_one:
      with self.assertRaisesRegex(validation.ConfigError, r"Group '\w+' has num_epochs=1.0: a "
                                  'study counts steps'):
        runner.run_study(c, wd)
      run_one.assert_not_called()
    self.assertFalse(os.path.exists(wd))

  def test_a_penalty_without_a_study_weight_fails_before_the_first_run(self):
    from configs import study_toy
    c = study_toy.get_config()
    c.study.runs = ('hinge:none', 'hinge:r2')
    del c.study.penalty_weights['r2']
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with mock.patch.object(mixtures_study, 'run_one') as run_one:
      with self.assertRaisesRegex(validation.ConfigError,
                                  r"config.study.runs has 'hinge:r2' but "
                                  r"config.study.penalty_weights \(.*\) gives 'r2' no weight"):
        runner.run_study(c, wd)
      run_one.assert_not_called()
    self.assertFalse(os.path.exists(wd))

  def test_figures_cli_refuses_what_it_cannot_draw(self):
    from studies import figures
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # Arguments argparse refuses (exit 2, its usage and the message), in this process: the
    # parser alone runs, before any work.
    for args, message in ((['sr', '--workdirs=bicubic'], 'at least one NAME=DIR run'),
                          (['sr', '--workdirs=bicubic,/tmp/w'], 'NAME=DIR.*got /tmp/w'),
                          (['classes'], 'classes needs --workdir'),
                          (['sr', '--workdirs=A=/a,bicubic,A=/b,HR=/c'],
                           'each NAME once, none of LR, HR or bicubic .*; got A, HR')):
      stderr = io.StringIO()
      with mock.patch.object(sys, 'argv', ['figures', *args, '--output=x.png']), \
          contextlib.redirect_stderr(stderr), self.assertRaises(SystemExit) as exit_:
        figures.main()
      self.assertEqual(exit_.exception.code, 2, stderr.getvalue())
      self.assertRegex(stderr.getvalue(), f'(?s)^usage: figures .*error: .*{message}')
    # A run the figure does not fit, an output it cannot write (checked before restoring
    # anything): one line, exit 1, not a traceback after the sampling.
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=2), wd)
    out = os.path.join(tempfile.mkdtemp(), 'f.png')
    fig = os.path.join(tempfile.mkdtemp(), 'fig')
    os.mkdir(fig + '.png')
    for args, message in (
        (['classes', f'--workdir={wd}', f'--output={out}'], 'is not a class-conditional run'),
        (['codes', f'--workdir={wd}', f'--output={out}'], 'is not an InfoGAN run'),
        (['sr', f'--workdirs=toy={wd}', f'--output={out}'], 'is not a super-resolution run'),
        (['classes', '--workdir=/never', '--output=x.xyz'], r'cannot write a picture as \.xyz; '
         r'give one of .*\.png'),
        (['classes', '--workdir=/never', '--output=/sys/x.png'],
         '--output cannot be written in /sys'),
        (['classes', '--workdir=/never', f'--output={out}'], '/never/config.json not found'),
        (['classes', '--workdir=/never', f'--output={os.path.dirname(out)}'],
         '--output is a folder'),  # it wrote FOLDER.png
        # The name written (.png appended) is a folder: refused before the work, not when
        # the picture was renamed onto it.
        (['classes', '--workdir=/never', f'--output={fig}'], '--output is a folder')):
      proc = subprocess.run([sys.executable, '-m', 'studies.figures', *args], cwd=root,
                            capture_output=True, text=True, timeout=300, check=False)
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertRegex(proc.stderr.strip().splitlines()[-1], f'^Error: .*{message}')
      self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual(os.listdir(os.path.dirname(out)), [])

  def test_a_mixture_run_scores_10000_samples_per_seed_and_panels_the_first(self):
    # Training mocked: seed 0 draws every ring8 mode 1,250 times (closed form: 8 modes, 8
    # strict, 100 % HQ, reverse KL 0); seed 1 did not diverge but drew a nan; seed 2
    # diverged at step 7. The panel is the first seed's samples.
    c = small_config()
    _, pipe = build.build(c)
    modes = np.asarray(pipe.evaluator_args['modes'], np.float32)
    good = np.tile(modes, (1250, 1))
    bad = good.copy()
    bad[5] = np.nan
    samples = np.stack([good, bad, good[::-1]])
    context = {'panels': {}, 'group': 'g'}
    out, generate = _run_mixtures_study(c, samples, [0, 0, 7], context)
    self.assertEqual(generate.call_args.args[2], 10000)  # the module's documented 10,000
    self.assertGreater(c.ema_decay, 0)  # the run keeps an EMA: its samples are the EMA's
    self.assertIs(generate.call_args.kwargs['use_ema'], True)
    self.assertEqual(out['per_seed'], [
        {'hq_percent': 100.0, 'modes': 8.0, 'strict_modes': 8, 'reverse_kl': 0.0},
        {'diverged_at': -1}, {'diverged_at': 7}])
    self.assertEqual((out['seeds'], out['diverged'], out['modes']), (3, 2, (8.0, 0.0)))
    (panel,) = context['panels']['g'].values()
    np.testing.assert_array_equal(panel, good)

  def test_resuming_a_study_of_two_groups_runs_the_second_groups_runs(self):
    # The groups run in the ConfigDict's order (grid25, ring8). Stopped in the second
    # group's first run, the resume runs that group's runs (the first group finished the
    # same objective:penalty pairs); each group's figure gets the rows of that group only;
    # study.json names the kind and the seeds.
    from configs import study_toy
    c = study_toy.get_config()
    c.study.runs, c.study.num_seeds, c.seed = ('hinge:none', 'hinge:r2'), 2, 5
    calls, figures = [], []

    def fake_run_one(config, seed_list, study, context, vmap_seeds=True):
      calls.append((context['group'], config.penalty.name))
      context.setdefault('modes', {})  # as the real run_one keeps for the resume file
      if len(calls) == 3:
        raise KeyboardInterrupt
      per_seed = [{'modes': 8.0, 'hq_percent': 90.0, 'strict_modes': 8.0,
                   'reverse_kl': 0.1}] * len(seed_list)
      return {'seconds': 1.0, **mixtures_study.summarize(per_seed), 'per_seed': per_seed}
    wd = tempfile.mkdtemp()
    with mock.patch.object(mixtures_study, 'run_one', fake_run_one), \
         mock.patch.object(mixtures_study, 'figures',
                           lambda cfg, rows, group, *_: figures.append(
                               (group, [r['group'] for r in rows]))):
      with self.assertRaises(KeyboardInterrupt):
        runner.run_study(c, wd)
      self.assertEqual(figures, [('grid25', ['grid25', 'grid25'])])
      calls.clear()
      figures.clear()
      rows = runner.run_study(c, wd)
    self.assertEqual(calls, [('ring8', 'none'), ('ring8', 'r2')])
    self.assertEqual(figures, [('grid25', ['grid25', 'grid25']), ('ring8', ['ring8', 'ring8'])])
    report = json.load(open(os.path.join(wd, 'study.json')))
    self.assertEqual((report['kind'], report['seeds']), ('mixtures', [5, 6]))
    self.assertEqual(open(os.path.join(wd, 'study.md')).read().splitlines()[:3], [
        '### 2 seeds, 5000 steps, mean ± std over seeds, std with ddof=0', '',
        '| group | objective | penalty | modes | HQ % | strict modes | reverse KL | diverged '
        '| s |'])
    self.assertEqual([(r['group'], r['penalty']) for r in report['runs']],
                     [(r['group'], r['penalty']) for r in rows])
    self.assertEqual([(r['group'], r['penalty']) for r in rows],
                     [('grid25', 'none'), ('grid25', 'r2'), ('ring8', 'none'), ('ring8', 'r2')])
    # Nothing left to run, its report gone (or one run behind its resume file: stopped
    # between the two writes): the resume writes it again.
    os.remove(os.path.join(wd, 'study.md'))
    json.dump(dict(report, runs=report['runs'][:3]), open(os.path.join(wd, 'study.json'), 'w'))
    with mock.patch.object(mixtures_study, 'run_one') as run_one, \
         mock.patch.object(mixtures_study, 'figures'):
      runner.run_study(c, wd)
    run_one.assert_not_called()
    self.assertLen(json.load(open(os.path.join(wd, 'study.json')))['runs'], 4)
    self.assertLen([line for line in open(os.path.join(wd, 'study.md'))
                    if line.startswith('| grid25') or line.startswith('| ring8')], 4)
    # Its study.json gone too: the resume file is the record (it retrained every run).
    os.remove(os.path.join(wd, 'study.json'))
    with mock.patch.object(mixtures_study, 'run_one') as run_one, \
         mock.patch.object(mixtures_study, 'figures'):
      runner.run_study(c, wd)
    run_one.assert_not_called()
    self.assertLen(json.load(open(os.path.join(wd, 'study.json')))['runs'], 4)
    # Without a group it had, the config is another study's: refused, not resumed.
    del c.study.groups['ring8']
    with self.assertRaisesRegex(FileExistsError, r'another config \(it differs in '
                                r'study.groups.ring8.data.batch_size, '):
      runner.run_study(c, wd)

  def test_a_study_json_without_a_readable_resume_file_is_kept(self):
    # A study written before resuming existed (no study_resume.pkl): refused, not
    # overwritten.
    from configs import study_toy
    wd = tempfile.mkdtemp()
    with open(os.path.join(wd, 'study.json'), 'w') as f:
      f.write('{"runs": []}')
    with mock.patch.object(mixtures_study, 'run_one') as run_one:
      with self.assertRaisesRegex(FileExistsError, 'has no study_resume.pkl to resume from'):
        runner.run_study(study_toy.get_config(), wd)
      run_one.assert_not_called()
    self.assertEqual(os.listdir(wd), ['study.json'])
    self.assertEqual(open(os.path.join(wd, 'study.json')).read(), '{"runs": []}')
    # An empty (cut short) resume file is reported like any unreadable one, and kept.
    open(os.path.join(wd, runner.RESUME_FILE), 'wb').close()
    with self.assertRaisesRegex(FileExistsError, r'study_resume.pkl cannot be read \(EOFError'):
      runner.run_study(study_toy.get_config(), wd)
    self.assertEqual(os.path.getsize(os.path.join(wd, runner.RESUME_FILE)), 0)

  def test_bad_study_counts_and_critic_schedules_fail_before_the_first_run(self):
    from configs import study_toy
    for change, error, message in (
        (lambda c: c.study.update(num_seeds=0), validation.ConfigError,
         r'config.study.num_seeds = 0: must be an integer >= 1'),
        (lambda c: c.study.update(runs=('hinge:none', 'hinge:none:r1')), validation.ConfigError,
         r"'hinge:none:r1'.*'objective:penalty'"),
        (lambda c: c.study.groups.grid25.update(
            d_optimizer=dict(c.d_optimizer.to_dict(), schedule='cosin')), ValueError,
         "schedule 'cosin'.*cosine")):
      c = study_toy.get_config()
      change(c)
      with self.subTest(message):
        self._refused_before_any_run(c, error, message)

  def test_study_tables_by_hand(self):
    # mean ± std (ddof=0) over the finite values: an inf is skipped like a nan.
    self.assertEqual(tables.mean_std([1.0, 3.0, np.inf, np.nan]), '2.0 ± 1.0')
    self.assertEqual(tables.mean_std([np.inf, -np.inf]), 'diverged')
    self.assertEqual(tables.mean_std([1.0, 2.0, 6.0]), '3.0 ± 2.2')  # the mean, not the median
    self.assertEqual(tables.markdown(['a', 'b'], [[1, 'x'], [2.5, 'y']]),
                     '| a | b |\n|---|---|\n| 1 | x |\n| 2.5 | y |')

  def test_digits_figure_draws_the_seed_mean_of_each_run_and_the_floor(self):
    nan = float('nan')
    rows = [dict(objective='hinge', penalty='none', steps=[10, 20, 30],
                 digit_fd=[[9.0, 7.0], [4.0, nan], [6.0, 8.0]]),
            dict(objective='wasserstein', penalty='wgan_gp', steps=[10, 20, 30],
                 digit_fd=[[5.0, 3.0], [2.0, 2.0], [1.0, 3.0]])]
    drawn = []
    with mock.patch.object(digits_study.plots, 'save_figure',
                           lambda fig, path: drawn.append((fig, path))):
      digits_study.figures(None, rows, 'g', 'wd', {'reference': mock.Mock(floor=2.5)})
    (fig, path), = drawn
    self.assertEqual(path, os.path.join('wd', 'digits_fd_g.png'))
    hinge, wgan, floor = fig.axes[0].lines
    np.testing.assert_allclose(hinge.get_ydata(), [8.0, 4.0, 7.0])
    np.testing.assert_allclose(wgan.get_ydata(), [4.0, 2.0, 2.0])
    np.testing.assert_allclose(floor.get_ydata(), [2.5, 2.5])
    self.assertEqual([ln.get_label() for ln in (hinge, wgan, floor)],
                     ['hinge', 'wasserstein+wgan_gp', 'real vs real'])

  def test_sr_crops_shows_lr_each_run_and_hr_at_each_corner(self):
    # Runs mocked: columns LR (nearest upscaling), bicubic, each run's upscaling, HR, in the
    # order given; row r crops [top:top+size, left:left+size] of corner r, shown in [0, 1].
    from studies import figures
    rng = np.random.default_rng(0)
    lr, hr = rng.uniform(-1, 1, (8, 8, 3)), rng.uniform(-1, 1, (16, 16, 3))
    outputs = {'wa': rng.uniform(-1.5, 1.5, (16, 16, 3)), 'wb': rng.uniform(-1, 1, (16, 16, 3))}
    pipe = mock.Mock(evaluator='sr', evaluator_args={'scale': 2, 'eval_pairs': lambda: [(lr, hr)]})

    def eval_run(gan, *args, **kwargs):
      return mock.Mock(upscale_whole=lambda x: outputs[gan] if x is lr else None)
    drawn = []
    with mock.patch.object(figures.inference, 'restore', lambda w: (w, pipe, None, None)), \
         mock.patch.object(figures.inference, 'uses_ema', return_value=True), \
         mock.patch.object(figures.evaluate, 'EvalRun', side_effect=eval_run), \
         mock.patch.object(figures.plots, 'save_figure', lambda fig, path: drawn.append(fig)):
      figures.sr_crops([('A', 'wa'), ('bicubic', None), ('B', 'wb')], 'o.png', size=4,
                       corners=((2, 6), (9, 1)))
    nearest = lr[np.arange(16) // 2][:, np.arange(16) // 2]
    full = [nearest, outputs['wa'], evaluate.bicubic_upscale(lr, 2), outputs['wb'], hr]
    axes = drawn[0].axes
    self.assertEqual(len(axes), 2 * 5)
    self.assertEqual([ax.get_title() for ax in axes[:5]], ['LR', 'A', 'bicubic', 'B', 'HR'])
    for r, (top, left) in enumerate(((2, 6), (9, 1))):
      for c, image in enumerate(full):
        want = (np.clip(image[top:top + 4, left:left + 4], -1, 1) + 1) / 2
        np.testing.assert_allclose(np.asarray(axes[5 * r + c].images[0].get_array()), want,
                                   err_msg=f'row {r} column {c}')
    # Corners past the image's edge are moved inside it, and a crop larger than the image
    # is cut to its side (an empty crop failed in numpy's min, after the upscaling).
    drawn.clear()
    with mock.patch.object(figures.inference, 'restore', lambda w: (w, pipe, None, None)), \
         mock.patch.object(figures.inference, 'uses_ema', return_value=True), \
         mock.patch.object(figures.evaluate, 'EvalRun', side_effect=eval_run), \
         mock.patch.object(figures.plots, 'save_figure', lambda fig, path: drawn.append(fig)):
      figures.sr_crops([('A', 'wa')], 'o.png', size=6, corners=((100, 180), (14, 3)))
      figures.sr_crops([('A', 'wa')], 'o.png', size=48, corners=((40, 40),))
    for ax, (top, left, size) in zip([drawn[0].axes[2], drawn[0].axes[5], drawn[1].axes[2]],
                                     ((10, 10, 6), (10, 3, 6), (0, 0, 16)), strict=True):
      want = (np.clip(hr[top:top + size, left:left + size], -1, 1) + 1) / 2
      np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), want)

  def test_digits_seeds_trained_one_after_another_are_merged_by_hand(self):
    # vmap_seeds=False: one run per seed; the curves' columns are the seeds in order, the
    # divergence steps concatenated, the seconds summed.
    per_seed = {0: dict(steps=[10, 20], digit_fd=[[5.0], [3.0]], digit_is=[[1.0], [2.0]],
                        diverged_at=[0], seconds=2.0),
                1: dict(steps=[10, 20], digit_fd=[[6.0], [4.0]], digit_is=[[1.5], [2.5]],
                        diverged_at=[15], seconds=3.0)}
    real_run_one = digits_study.run_one
    with mock.patch.object(digits_study, 'run_one',
                           lambda config, seed_list, *_: per_seed[seed_list[0]]):
      out = real_run_one(None, [0, 1], None, {}, vmap_seeds=False)
    self.assertEqual(out, dict(steps=[10, 20], digit_fd=[[5.0, 6.0], [3.0, 4.0]],
                               digit_is=[[1.0, 1.5], [2.0, 2.5]], diverged_at=[0, 15],
                               seconds=5.0))
    # The reference is the held-out digits at the study's image size; the report keeps its
    # real-vs-real floor.
    with mock.patch.object(digits_study.evaluate, 'digit_reference',
                           lambda size: mock.Mock(floor=float(size))):
      context = digits_study.prepare(ml_collections.ConfigDict(
          {'data': {'name': 'digits', 'batch_size': 8, 'image_size': 8}, 'n_critic': 1,
           'seed': 0}))
    self.assertEqual(digits_study.report_extras(None, context), {'floor_real_vs_real': 8.0})

  def test_a_study_without_penalty_weights_checks_its_runs(self):
    # penalty_weights is optional (check() reads it with a default): without it a run with
    # no penalty has weight 0, and a penalized one is refused naming the missing weight;
    # both raised a bare AttributeError("'penalty_weights'").
    from configs import study_toy
    c = study_toy.get_config()
    del c.study['penalty_weights']
    c.study.runs = ('hinge:none',)
    runner.check(c)
    self.assertEqual(runner.run_config(c, 'ring8', 'hinge:none')[0].penalty.weight, 0.0)
    c.study.runs = ('hinge:none', 'hinge:r1')
    with self.assertRaisesRegex(validation.ConfigError, r"\(\{\}\) gives 'r1' no weight"):
      runner.check(c)

  def test_a_groups_field_replaces_the_configs_whole_field(self):
    # The runner's docstring: a group's field replaces the config's whole field.
    from configs import study_toy
    c = study_toy.get_config()
    c.data = dict(name='grid25', batch_size=64, image_size=28)
    run, vmap_seeds = runner.run_config(c, 'ring8', ' wasserstein : wgan_gp')  # spaces: stripped
    self.assertEqual(run.data.to_dict(), {'name': 'ring8', 'batch_size': 256})
    self.assertEqual((run.loss.name, run.penalty.name, run.penalty.weight, vmap_seeds),
                     ('wasserstein', 'wgan_gp', 0.1, True))
    self.assertNotIn('study', run)

  def test_a_groups_model_given_with_lists_builds_a_hashable_gan(self):
    # A group's model dict keeps its lists (ConfigDict converts only fields it had); the
    # modules get tuples, so the GAN can key seeds.generate's compiled program.
    from configs import study_toy
    c = study_toy.get_config()
    model = c.model.to_dict()
    model['generator']['features'] = [16, 16]
    c.study.groups.ring8.model = model
    run, _ = runner.run_config(c, 'ring8', 'hinge:none')
    self.assertIsInstance(run.model.generator.features, list)
    gan, _ = build.build(run)
    self.assertEqual(gan.generator.features, (16, 16))
    hash(gan)  # no error

  def test_digits_table_rows_by_hand(self):
    # digit-FD curves [steps, seeds]: the last step's mean ± std over the finite seeds, the
    # best seed-mean along the curve with its step; a run whose every seed diverged before
    # any score has no best (it named the last step with a nan).
    nan = float('nan')
    row = dict(group='g', objective='hinge', penalty='none', steps=[10, 20, 30],
               digit_fd=[[9.0, 7.0], [4.0, nan], [6.0, 8.0]],
               digit_is=[[1.0, 1.0], [2.0, 2.0], [3.0, 5.0]], diverged_at=[0, 0], seconds=12.4)
    dead = dict(row, digit_fd=[[nan, nan]] * 3, digit_is=[[nan, nan]] * 3, diverged_at=[5, 7])
    _, body = digits_study.table([row, dead])
    self.assertEqual(body[0], ['g', 'hinge', 'none', 30, '7.0 ± 1.0', '4.0 (20)', '4.0 ± 1.0',
                               '0/2', '12'])
    self.assertEqual(body[1][4:8], ['diverged', 'diverged', 'diverged', '2/2'])
    # Three seeds: the best is that of the seeds' mean (4 at 10 vs 3 at 20), not the median's.
    skewed = dict(row, steps=[10, 20], digit_fd=[[1.0, 2.0, 9.0], [3.0, 3.0, 3.0]],
                  digit_is=[[1.0] * 3] * 2, diverged_at=[0, 0, 0])
    self.assertEqual(digits_study.table([skewed])[1][0][5], '3.0 (20)')

  def test_digits_title_names_the_generator_sampled(self):
    from configs import study_digits
    c = study_digits.get_config()
    self.assertEqual(digits_study.title(c), 'digits 28x28 (3 seeds, EMA generator, 1000 samples; '
                     'mean ± std over seeds, std with ddof=0)')
    c.study.groups.dcgan.ema_decay = 0.0
    self.assertIn('EMA generator where the run keeps one', digits_study.title(c))
    c.ema_decay = 0.0
    self.assertIn('trained generator (no EMA)', digits_study.title(c))

  def test_a_digits_group_at_another_image_size_is_refused(self):
    # One digit-FD reference is made at the study's size; a group at another size would
    # be scored against it.
    from configs import study_digits
    c = study_digits.get_config('dcgan')
    runner.check(c)
    c.study.groups.dcgan.data = dict(c.data.to_dict(), image_size=32)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"Group 'dcgan' trains on 32x32 images; .* made at the "
                                r"study's image size, 28x28\. "):
      runner.check(c)

  def test_a_digits_study_at_the_data_sets_own_size(self):
    # A study and groups that leave data.image_size out train and are scored at the
    # digits' own 8 px: the check compared 'its default' with None and refused them.
    from configs import study_digits
    c = study_digits.get_config('mlp')
    del c.data['image_size']
    c.model.generator.output_shape = (8, 8, 1)
    runner.check(c)
    self.assertTrue(digits_study.title(c).startswith('digits 8x8 '))
    c.study.groups.mlp.data = dict(c.data.to_dict(), image_size=28)
    c.study.groups.mlp.model = dict(c.model.to_dict(),
                                    generator=dict(c.model.generator, output_shape=(28, 28, 1)))
    with self.assertRaisesRegex(validation.ConfigError,
                                r"Group 'mlp' trains on 28x28 images; .* made at the "
                                r"study's image size, 8x8\. "):
      runner.check(c)

  def test_a_toy_study_run_as_digits_is_refused_for_its_data(self):
    # The image-size check ran first and named data.image_size (a field the toy config
    # does not have) for a study of the wrong kind. The model and data are checked with a
    # group's first run: in a study of one run too.
    from configs import study_toy
    for runs in (None, ('hinge:none',)):
      c = study_toy.get_config()
      c.study.kind = 'digits'
      if runs:
        c.study.runs = runs
      with self.subTest(runs=runs), self.assertRaisesRegex(
          validation.ConfigError, r"Group '\w+' trains on '\w+', which a digits study "
          r"cannot score \(it scores 'digits' data, this is 'modes' data\)"):
        runner.check(c)

  def test_mixtures_title_gives_each_groups_steps(self):
    from configs import study_toy
    c = study_toy.get_config()
    steps = c.num_steps
    self.assertIn(f', {steps} steps, ', mixtures_study.title(c))
    first, *_ = c.study.groups
    c.study.groups[first].num_steps = 7
    self.assertEqual(mixtures_study._num_steps(c, first), 7)
    self.assertIn(f'steps 7 ({first})', mixtures_study.title(c))


class DigitsStudyTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls._cache = mock.patch.dict(os.environ, {'JAXGAN_CACHE': tempfile.mkdtemp()})
    cls._cache.start()  # one classifier for the class, in a fresh cache
    cls._quick = quick_classifier()
    cls._quick.start()

  @classmethod
  def tearDownClass(cls):
    cls._quick.stop()
    cls._cache.stop()
    super().tearDownClass()

  def _config(self):
    from configs import study_digits as cfg
    c = cfg.get_config('mlp')
    c.data.image_size, c.data.batch_size = 8, 32
    c.model.generator.features, c.model.discriminator.features = (16,), (16,)
    c.model.generator.output_shape = (8, 8, 1)
    c.num_steps, c.steps_per_call = 20, 5
    c.study.update(num_seeds=2, eval_every=10, num_samples=200,
                   runs=('non_saturating:none', 'wasserstein:wgan_gp'))
    return c

  def test_callback_sees_every_call(self):
    config = small_config(num_steps=20)
    gan, _ = build.build(config)
    seen = []
    seeds.train_seeds(gan, seeds.pipelines(config, [0, 1]), [0, 1], 12, 5,
                      callback=lambda s, st: seen.append((s, int(st.step[0]))))
    self.assertEqual(seen, [(5, 5), (10, 10), (12, 12)])

  def test_digits_study_writes_curves(self):
    wd = tempfile.mkdtemp()
    rows = runner.run_study(self._config(), wd)
    r = rows[1]
    self.assertEqual((r['group'], r['objective'], r['steps']), ('mlp', 'wasserstein', [10, 20]))
    chex.assert_shape(np.asarray(r['digit_fd']), (2, 2))
    self.assertTrue(np.all(np.isfinite(r['digit_fd'])))
    for name in ('study.md', 'study.json', 'digits_fd_mlp.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    self.assertIn('| mlp | wasserstein | wgan_gp | 20 |',
                  open(os.path.join(wd, 'study.md')).read())
    self.assertGreater(json.load(open(os.path.join(wd, 'study.json')))['floor_real_vs_real'], 0)

  def test_an_eval_every_between_calls_scores_after_each_multiple(self):
    """Calls end at multiples of steps_per_call (10): eval_every=25 scores at the end of
    the calls that pass 25 and 50 (30, 50), and at the end (60)."""
    c = self._config()
    c.num_steps, c.steps_per_call = 60, 10
    c.study.update(eval_every=25, num_seeds=1)
    context = digits_study.prepare(c)
    run, _ = runner.run_config(c, 'mlp', 'non_saturating:none')
    self.assertEqual(digits_study.run_one(run, [0], c.study, context)['steps'], [30, 50, 60])
    c.study.eval_every = 0
    with self.assertRaisesRegex(validation.ConfigError,
                                r'config.study.eval_every = 0: must be an integer >= 1'):
      runner.check(c)

  def test_sequential_seeds_give_the_vmapped_curves(self):
    """The sequential path (for conv models) trains the same seeds to the same scores."""
    c = self._config()
    context = digits_study.prepare(c)
    run, _ = runner.run_config(c, 'mlp', 'non_saturating:none')
    together = digits_study.run_one(run, [0, 1], c.study, context, vmap_seeds=True)
    apart = digits_study.run_one(run, [0, 1], c.study, context, vmap_seeds=False)
    self.assertEqual(together['steps'], apart['steps'])
    np.testing.assert_allclose(apart['digit_fd'], together['digit_fd'], rtol=1e-3)
    self.assertFalse(np.allclose(together['digit_fd'][-1][0], together['digit_fd'][-1][1]))

  def test_run_scores_each_seeds_ema_samples_against_the_held_out_features(self):
    # A fixed random feature map in place of the trained classifier: each score is the
    # Frechet distance of the seed's samples' features to the held-out ones and the IS of
    # their logits, recomputed here with SciPy and NumPy.
    c = self._config()
    ref = _held_out_reference()
    run, _ = runner.run_config(c, 'mlp', 'non_saturating:none')
    self.assertGreater(run.ema_decay, 0)  # the run keeps an EMA: its samples are the EMA's
    drawn, generate = [], seeds.generate

    def spy(*args, **kwargs):
      drawn.append((generate(*args, **kwargs), kwargs['use_ema']))
      return drawn[-1][0]
    with mock.patch.object(digits_study.seeds, 'generate', spy):
      out = digits_study.run_one(run, [0, 1], c.study, {'reference': ref})
    self.assertEqual(out['steps'], [10, 20])
    self.assertEqual([ema for _, ema in drawn], [True, True])
    for x, fds, iss in zip([x for x, _ in drawn], out['digit_fd'], out['digit_is'],
                           strict=True):
      chex.assert_shape(x, (2, 200, 8, 8, 1))
      x = np.clip(x, -1, 1)
      np.testing.assert_allclose(fds, [_scipy_fd(ref.held, ref.features(s)) for s in x],
                                 rtol=1e-4)
      np.testing.assert_allclose(iss, [_numpy_is(ref(s)[1]) for s in x], rtol=1e-5)

  def test_a_seed_with_non_finite_samples_scores_nan_and_the_other_is_scored(self):
    # Training mocked (one scoring call, at the last step): seed 1 drew a nan, so its
    # digit-FD and IS are nan (tabled as not scored), not numbers; seed 0 is scored.
    c = self._config()
    run, _ = runner.run_config(c, 'mlp', 'non_saturating:none')
    x = np.random.default_rng(5).uniform(-1, 1, (2, 200, 8, 8, 1))
    x[1, 3] = np.nan
    ref = _held_out_reference()
    out, _ = _run_digits_study(run, c.study, x, ref)
    self.assertEqual(out['steps'], [20])
    np.testing.assert_allclose(out['digit_fd'][0][0], _scipy_fd(ref.held, ref.features(x[0])),
                               rtol=1e-4)
    np.testing.assert_allclose(out['digit_is'][0][0], _numpy_is(ref(x[0])[1]), rtol=1e-5)
    self.assertTrue(np.isnan(out['digit_fd'][0][1]) and np.isnan(out['digit_is'][0][1]))


class EvaluateTest(chex.TestCase):

  def test_inception_weights_a_mixture_run_does_not_use_are_said_unused(self):
    import types
    modes = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    run = types.SimpleNamespace(samples=np.tile(modes, (1250, 1)), pipe=types.SimpleNamespace(
        evaluator_args={'modes': modes, 'std': 0.05}))
    with self.assertLogs('absl', 'WARNING') as logs:
      out = evaluate.mode_metrics(run, 'w.npz')
    self.assertRegex(logs.output[0], 'Inception weights w.npz not used: this run is scored by '
                     'mode metrics of 2-D samples')
    self.assertEqual(out, evaluate.mode_metrics(run))  # the same scores
    with self.assertNoLogs('absl', 'WARNING'):
      evaluate.mode_metrics(run)

  def test_digits_given_weights_that_are_missing_fail_before_any_sample(self):
    # Digits take Inception weights only when given; given, they are checked first, not
    # after the samples and the digit metrics.
    from configs import mlp_mnist
    wd = tempfile.mkdtemp()
    c = mlp_mnist.get_config()
    c.num_steps, c.num_eval_samples, c.eval_every = 2, 16, 1000
    train.train_and_evaluate(c, wd)
    missing = os.path.join(wd, 'missing.npz')
    with mock.patch.object(evaluate.inference, 'sample') as sample, \
         self.assertRaisesRegex(FileNotFoundError, f'not found at {missing}'):
      evaluate.evaluate(wd, num_samples=100, inception_weights=missing)
    sample.assert_not_called()

  def test_mixture_run(self):
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10), wd)
    result = evaluate.evaluate(wd, num_samples=3000, seed=5)
    self.assertEqual((result['step'], result['num_samples'], result['seed']), (10, 3000, 5))
    self.assertEqual(json.load(open(os.path.join(wd, 'eval.json')))['seed'], 5)
    for k in ('hq_percent', 'modes', 'strict_modes', 'reverse_kl'):
      self.assertIn(k, result)
    with open(os.path.join(wd, 'eval.json')) as f:
      self.assertEqual(json.load(f)['modes'], result['modes'])
    # Samples near no mode: reverse KL is infinite; eval.json stays strict JSON (null).
    no_mode = {'hq_percent': 0.0, 'modes': 0.0, 'strict_modes': 0.0, 'reverse_kl': math.inf}
    with mock.patch.object(evaluate.metrics, 'mode_metrics', return_value=no_mode) as scored:
      result = evaluate.evaluate(wd, num_samples=3000)
    self.assertEqual(result['reverse_kl'], math.inf)
    chex.assert_shape(scored.call_args.args[0], (3000, 2))  # every sample scored
    with open(os.path.join(wd, 'eval.json')) as f:
      saved = json.load(f, parse_constant=lambda c: self.fail(f'{c} in eval.json'))
    self.assertEqual(saved, {**result, 'reverse_kl': None})
    # Too few samples for mode coverage is refused before any sample is drawn.
    with mock.patch.object(evaluate.inference, 'sample') as sample, \
         self.assertRaisesRegex(evaluate.NumSamplesError,
                                r"num_samples = 2499 is too few: the 'modes' evaluator needs "
                                r'at least 2500'):
      evaluate.evaluate(wd, num_samples=2499)
    sample.assert_not_called()
    # A diverged generator's samples are refused by name; eval.json keeps the last scores.
    bad = np.zeros((2500, 2), np.float32)
    bad[7, 1] = np.nan
    with mock.patch.object(evaluate.inference, 'sample', return_value=bad), \
         self.assertRaisesRegex(evaluate.EvaluationError,
                                r'^The samples of step 10: 1 non-finite value \(NaN or Inf\)'):
      evaluate.evaluate(wd, num_samples=2500)
    with open(os.path.join(wd, 'eval.json')) as f:
      self.assertEqual(json.load(f)['num_samples'], 3000)

  def test_reading_a_workdir_writes_nothing_and_damage_is_one_error(self):
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=5), wd)
    shutil.rmtree(os.path.join(wd, 'checkpoints'))  # a run stopped before its first save
    with self.assertRaisesRegex(FileNotFoundError, 'No checkpoint in'):
      inference.restore(wd, with_data=False)
    self.assertFalse(os.path.exists(os.path.join(wd, 'checkpoints')))  # not created
    for name in ('data_shapes.json', 'config.json'):
      path = os.path.join(wd, name)
      with open(path, 'r+') as f:
        f.truncate(20)
      with self.assertRaisesRegex(validation.ConfigError,
                                  f'{path} is damaged and cannot be read'):
        inference.restore(wd, with_data=False)

  def test_num_samples_check(self):
    latent = gan_lib.Latent
    evaluate.check_num_samples(10, 'digits', latent())
    evaluate.check_num_samples(2, 'sr', latent())         # SR draws no samples
    evaluate.check_num_samples(2, 'unknown', latent())    # FD and KID need 2
    for n, evaluator, lat, need in (
        (9, 'digits', latent(), r"the 'digits' evaluator needs at least 10"),
        (9, 'inception', latent(), r"the 'inception' evaluator needs at least 10"),
        (1, 'unknown', latent(), "the 'unknown' evaluator needs at least 2"),
        (11, 'digits', latent(conditioning='labels', num_classes=12),
         'one sample of each of the 12 classes or codes needs at least 12'),
        (15, 'digits', latent(conditioning='codes', num_categorical=16),
         'one sample of each of the 16 classes or codes needs at least 16')):
      with self.assertRaisesRegex(ValueError, f'num_samples = {n} is too few: {need}'):
        evaluate.check_num_samples(n, evaluator, lat)
    evaluate.check_num_samples(12, 'digits', latent(conditioning='labels', num_classes=12))

  def test_digits_run(self):
    cache = tempfile.mkdtemp()
    self.enter_context(mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}))
    # The classifier behind digit-FD, trained as evaluate() trains it (1,500 steps), really
    # classifies held-out digits. Its step compiled at XLA's full optimization (the tests
    # compile at O0, see conftest.py): 300 of its steps took 9.8 s at O0, 6.5 s so.
    from jaxgan.data import images
    train_split, (held_x, held_y) = images.digits_split(8)
    with full_optimization():
      params = digit_classifier.load_or_train(*train_split)
    _, logits = digit_classifier.features_and_logits(params, held_x)
    self.assertGreater(float((logits.argmax(1) == held_y).mean()), 0.95)
    self.assertLen(os.listdir(cache), 1)  # what evaluate() uses below
    c = small_config(num_steps=5)
    c.data = dict(name='digits', batch_size=32, image_size=8)
    c.model.generator.output_shape = (8, 8, 1)
    c.model.generator.output_activation = 'tanh'
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(c, wd)
    drawn, sample = [], inference.sample
    with mock.patch.object(evaluate.inference, 'sample',
                           lambda *a, **k: drawn.append(sample(*a, **k)) or drawn[-1]):
      result = evaluate.evaluate(wd, num_samples=1000)
    self.assertEqual(result['evaluator'], 'digits')
    self.assertGreater(result['digit_fd'], result['digit_fd_floor_real_vs_real'])
    # Held out from the classifier, not from the GAN: the 1,200 / 597 split is of the
    # 1,797 digits, all of which the run trains on.
    self.assertIn("597 digits held out from the classifier at 8px; features: jaxgan digit "
                  "classifier (64-d) trained on 1200 digits; 597 of them are among the run's "
                  '1797 training images', result['reference'])
    # The numbers are those of the samples drawn, recomputed from the classifier's
    # features and logits: the Frechet distance with SciPy's sqrtm, the IS in NumPy.
    ref = evaluate.digit_reference(8)
    f_fake, logits = ref(drawn[0])
    self.assertAlmostEqual(result['digit_fd'], _scipy_fd(ref.held, f_fake), places=3)
    self.assertAlmostEqual(result['digit_is'], _numpy_is(logits), places=4)
    # The run trains on all 1,797 digits, the 597 held out from the classifier included:
    # its training data is a fixed 1,000 of them (as many as the samples), held-out ones
    # among them.
    subset = data.fixed_subset(1797, 1000, data.REAL_SAMPLES_SEED)
    training = images.load_digits(8)[0][subset]
    # A random 1,000 of all 1,797, so about a third of them held out from the classifier
    # (seed 0 drew the classifier's own 1,200 first: none held out).
    held_out = np.random.default_rng(0).permutation(1797)[1200:]
    self.assertGreater(np.isin(subset, held_out).sum(), 250)
    self.assertAlmostEqual(result['digit_fd_training_data'],
                           _scipy_fd(ref.held, ref(training)[0]), places=3)
    self.assertLen(os.listdir(cache), 1)

  def test_fid_reference_of_a_set_without_splits_names_the_training_images(self):
    # The offline digits have no split: with Inception weights, FID compares against the
    # run's own training images (all 1,797 from 1,797 samples on), and says so.
    pipe = data.get('digits', batch_size=8, image_size=8)
    seen = []
    with mock.patch.object(evaluate.inception, 'load'), \
         mock.patch.object(evaluate.inception, 'fid_kid_is',
                           lambda v, real, fake: seen.append(len(real)) or {}):
      for n, words in ((2000, "1797 real digits images (the run's training images, all)"),
                       (100, "100 real digits images (the run's training images, a fixed "
                             'random subset)')):
        run = mock.Mock(samples=np.zeros((n, 8, 8, 1), np.float32), pipe=pipe)
        self.assertIn(words, evaluate.inception_metrics(run, 'w.npz')['fid_reference'])
    self.assertEqual(seen, [1797, 100])
    # A TFDS set's split, all of it or a subset (FID-50k on CIFAR-10's 50,000: all).
    split_pipe = mock.Mock(evaluator_args={'split': 'train'}, num_examples=50,
                           real_samples=lambda n: np.zeros((min(n, 50), 8, 8, 3), np.float32))
    split_pipe.name = 'cifar10'  # (Mock's own name= argument names the mock)
    with mock.patch.object(evaluate.inception, 'load'), \
         mock.patch.object(evaluate.inception, 'fid_kid_is', lambda v, real, fake: {}):
      for n, words in ((50, '50 real cifar10 images (the train split, all)'),
                       (20, '20 real cifar10 images (the train split, a fixed random subset)')):
        run = mock.Mock(samples=np.zeros((n, 8, 8, 3), np.float32), pipe=split_pipe)
        self.assertIn(words, evaluate.inception_metrics(run, 'w.npz')['fid_reference'])
    # A folder of one's own images is named as such (not 'real images images').
    folder = tempfile.mkdtemp()
    for i in range(3):
      PIL.Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(folder, f'{i}.png'))
    pipe = data.get('images', batch_size=1, path=folder, image_size=8)
    with mock.patch.object(evaluate.inception, 'load'), \
         mock.patch.object(evaluate.inception, 'fid_kid_is', lambda v, real, fake: {}):
      run = mock.Mock(samples=np.zeros((3, 8, 8, 3), np.float32), pipe=pipe)
      self.assertIn("3 real images of the folder (the run's training images, all)",
                    evaluate.inception_metrics(run, 'w.npz')['fid_reference'])

  def test_mnist_reference_is_mnist_train_and_test_splits(self):
    # digit-FD of MNIST runs: a classifier trained on MNIST's train split, compared against
    # its test split (not scikit-learn's digits). A stand-in source marks each split.
    class Source:
      def __init__(self, name, split, data_dir, image_size):
        self.split, self.n = split, {'train': 30, 'test': 20}[split]

      def __len__(self):
        return self.n

      def __getitem__(self, idx):
        value = {'train': 0.25, 'test': 0.75}[self.split]   # image i: value + i
        return (np.full((len(idx), 28, 28, 1), value, np.float32) + idx[:, None, None, None],
                np.asarray(idx, np.int32) % 10)
    with mock.patch.object(data.images, 'TFDSSource', Source):
      (train_x, train_y), held_x, source = data.mnist_digit_reference(None, 28, num_train=12,
                                                                       num_held=8)
    self.assertEqual((source, train_x.shape, held_x.shape), ('mnist', (12, 28, 28, 1),
                                                             (8, 28, 28, 1)))
    np.testing.assert_array_equal(train_x[:, 0, 0, 0] % 1, 0.25)   # the train split
    np.testing.assert_array_equal(held_x[:, 0, 0, 0] % 1, 0.75)    # the test split
    self.assertLen(set(held_x[:, 0, 0, 0]), 8)                      # distinct images
    np.testing.assert_array_equal(train_y, (train_x[:, 0, 0, 0] - 0.25).astype(int) % 10)

  def test_the_classifier_cache_is_keyed_by_architecture_and_reported_when_unreadable(self):
    cache = tempfile.mkdtemp()
    self.enter_context(mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}))
    self.enter_context(quick_classifier(steps=3))
    x = np.random.default_rng(0).uniform(-1, 1, (32, 8, 8, 1)).astype(np.float32)
    y = np.arange(32) % 10
    digit_classifier.load_or_train(x, y)
    (name,) = os.listdir(cache)
    self.assertRegex(name, r'^digit_classifier_8px_v2_[0-9a-f]{8}\.msgpack$')
    # A set's classifier is keyed by its images and its labels, each.
    path = digit_classifier._cache_path
    self.assertEqual(path(x, y, 'mnist'), path(x.copy(), y.copy(), 'mnist'))
    self.assertNotEqual(path(x, y, 'mnist'), path(x, (y + 1) % 10, 'mnist'))
    self.assertNotEqual(path(x, y, 'mnist'), path(x[::-1], y, 'mnist'))
    path = os.path.join(cache, name)
    # Another architecture (a narrower feature layer) gets a file of its own.
    with mock.patch.object(digit_classifier, 'FEATURE_DIM', 32):
      narrow = digit_classifier.load_or_train(x, y)
    chex.assert_shape(narrow['params']['Dense_0']['kernel'], (4 * 4 * 64, 32))
    self.assertLen(os.listdir(cache), 2)
    # A file of other shapes, or a truncated one, is reported with its path, and kept.
    other = [n for n in os.listdir(cache) if n != name][0]
    shutil.copy(os.path.join(cache, other), path)
    with self.assertRaisesRegex(ValueError, f'{path} cannot be read .*other shapes.*Delete '
                                'it to train it again'):
      digit_classifier.load_or_train(x, y)
    with open(path, 'r+b') as f:
      f.truncate(100)
    with self.assertRaisesRegex(ValueError, f'{path} cannot be read'):
      digit_classifier.load_or_train(x, y)
    self.assertEqual(os.path.getsize(path), 100)

  def test_mnist_run_is_scored_with_an_mnist_classifier(self):
    import tensorflow_datasets as tfds
    cache = tempfile.mkdtemp()
    self.enter_context(mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}))
    self.enter_context(quick_classifier())
    c = small_config(num_steps=5)
    c.data = dict(name='mnist', batch_size=8)
    c.model.generator.output_shape = (28, 28, 1)
    c.model.generator.output_activation = 'tanh'
    wd = tempfile.mkdtemp()
    with tfds.testing.mock_data(num_examples=40):
      train.train_and_evaluate(c, wd)
      result = evaluate.evaluate(wd, num_samples=50)
    self.assertEqual(result['evaluator'], 'digits')
    self.assertIn('40 mnist digits held out from the classifier at 28px', result['reference'])
    self.assertIn("trained on 40 mnist digits; the run trains on the 'train' split, without "
                  'them', result['reference'])
    # A run on the test split trains on the held-out digits: the reference says so.
    with tfds.testing.mock_data(num_examples=40):
      pipe = data.get('mnist', batch_size=8, split='test')
    self.assertEqual(evaluate._held_from_the_run(pipe, None),
                     "; the run trains on the 'test' split, which holds test digits: they "
                     'are not held out from the GAN')
    files = os.listdir(cache)
    self.assertLen(files, 1)
    self.assertRegex(files[0], r'^digit_classifier_mnist_28px_[0-9a-f]{12}\.msgpack$')

  def test_inference_samples_the_ema_when_the_run_keeps_one(self):
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10, ema_decay=0.9), wd)
    out = inference.sample_latest(wd, 8, seed=3)
    gan, _, state, _ = inference.restore(wd)
    def documented_z(i, n):  # the noise of samples i.. (i a multiple of 1000): z ~ N(0, I)
      key = jax.random.split(jax.random.fold_in(jax.random.key(3), i), 3)[0]
      return jax.random.normal(key, (n, gan.z_dim))
    want = gan.generator.apply({'params': state.ema_params}, documented_z(0, 8), train=False)
    trained = gan.generator.apply({'params': state.g_params}, documented_z(0, 8), train=False)
    self.assertTrue(out['ema'])
    np.testing.assert_allclose(out['samples'], want, rtol=1e-5, atol=1e-6)
    self.assertFalse(np.allclose(out['samples'], trained, atol=1e-4))
    # The noise does not depend on the batch size: samples 1000.. draw theirs from
    # fold_in(key(seed), 1000), whatever the batch size.
    want = np.concatenate([
        gan.generator.apply({'params': state.ema_params}, documented_z(i, n), train=False)
        for i, n in ((0, 1000), (1000, 5))])
    for batch_size in (1000, 7, 600, 2000):
      got = inference.sample(gan, state, 1005, use_ema=True, seed=3, batch_size=batch_size)
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=str(batch_size))
    with self.assertRaisesRegex(ValueError, 'batch_size must be at least 1; got 0'):
      inference.sample(gan, state, 5, use_ema=True, batch_size=0)
    for n in (0, -3):
      with self.assertRaisesRegex(ValueError, f'num_samples must be at least 1; got {n}'):
        inference.sample(gan, state, n, use_ema=True)

  def test_a_kept_checkpoint_samples_and_evaluates_as_the_run_that_ended_there(self):
    # A run trained to step 20 (checkpoints every 10), then resumed to 40 with a changed
    # config (bfloat16 activations), keeps steps 20, 30 and 40. Its step 20 is the state
    # that a run of 20 steps ends with, trained in float32: it samples and scores as that
    # run does, with the config that trained it, not the current one.
    short, long = tempfile.mkdtemp(), tempfile.mkdtemp()
    for wd in (short, long):
      train.train_and_evaluate(small_config(num_steps=20, ema_decay=0.9), wd)
    train.train_and_evaluate(small_config(num_steps=40, ema_decay=0.9, dtype='bfloat16',
                                          allow_config_change=True), long)
    want = inference.sample_latest(short, 64, seed=3)
    got = inference.sample_latest(long, 64, seed=3, step=20)
    self.assertEqual((want['step'], got['step']), (20, 20))
    np.testing.assert_array_equal(got['samples'], want['samples'])
    # The same weights sampled with the current config (bfloat16) differ.
    gan, _, state, config = inference.restore(long, step=20)
    self.assertEqual(config.dtype, 'float32')
    # Without the data, the shapes are those of the step too (data_shapes' rule, for a
    # pending changed resume, is the next test's).
    with mock.patch.object(inference, 'data_shapes', wraps=inference.data_shapes) as shapes:
      inference.restore(long, with_data=False, step=20)
    self.assertEqual(shapes.call_args, mock.call(long, mock.ANY, 20))
    current_gan = build.build(inference.load_config(long), inference.data_shapes(
        long, inference.load_config(long)), warn=False)[0]
    self.assertEqual(current_gan.generator.dtype, jax.numpy.bfloat16)
    self.assertFalse(np.array_equal(
        inference.sample(current_gan, state, 64, True, seed=3), want['samples']))
    self.assertEqual(inference.sample_latest(long, 64, seed=3)['step'], 40)
    scores = [evaluate.evaluate(wd, 2500, step=step) for wd, step in ((short, None), (long, 20))]
    self.assertEqual(*[{k: v for k, v in r.items() if k != 'workdir'} for r in scores])
    # Every kept checkpoint, the oldest first, step 20 as above. evals.jsonl keeps them all
    # after the evaluation above; eval.json is the last, step 40's.
    with self.assertLogs('absl', 'INFO') as logs:
      along = evaluate.evaluate_kept(long, 2500)
    self.assertEqual([r['step'] for r in along], [20, 30, 40])
    self.assertEqual([m for m in logs.output if 'Evaluating the checkpoint' in m], [
        f'INFO:absl:Evaluating the checkpoint of step {s} ({i} of 3) in {long}.'
        for i, s in ((1, 20), (2, 30), (3, 40))])
    self.assertEqual(along[0], scores[1])
    as_json = [json.loads(files.json_text(r)) for r in (scores[1], *along)]
    with open(os.path.join(long, 'evals.jsonl')) as f:
      self.assertEqual([json.loads(line) for line in f], as_json)
    with open(os.path.join(long, 'eval.json')) as f:
      self.assertEqual(json.load(f), as_json[-1])
    # ESRGAN's interpolation of kept checkpoints: a quarter of step 30's generator and
    # three of step 20's, in the new workdir of step 30 with its config.
    mixed = os.path.join(tempfile.mkdtemp(), 'mixed')
    inference.interpolate(long, long, 0.25, mixed, psnr_step=20, gan_step=30)
    at = {s: inference.restore(long, False, s) for s in (20, 30)}
    want = jax.tree.map(lambda a, b: 0.75 * a + 0.25 * b, at[20][2].ema_params,
                        at[30][2].ema_params)
    gan, _, state, config = inference.restore(mixed, False)
    self.assertEqual((int(state.step), config.dtype), (30, 'bfloat16'))
    chex.assert_trees_all_close(state.ema_params, want, rtol=1e-6)
    with open(os.path.join(mixed, 'interpolation.json')) as f:
      self.assertEqual({k: v for k, v in json.load(f).items() if k.endswith('step')},
                       {'psnr_step': 20, 'gan_step': 30})
    # A run that has saved no checkpoint yet, and a folder that is no run.
    unsaved = tempfile.mkdtemp()
    shutil.copy(os.path.join(short, 'config.json'), unsaved)
    with self.assertRaisesRegex(FileNotFoundError, r'^No checkpoint in .*: the run has not '):
      evaluate.evaluate_kept(unsaved, 2500)
    with self.assertRaisesRegex(FileNotFoundError, 'is .* a jaxgan workdir'):
      evaluate.evaluate_kept(tempfile.mkdtemp(), 2500)
    with self.assertRaisesRegex(FileNotFoundError,
                                r'^No checkpoint of step 10 in .*/checkpoints; the steps kept '
                                r'are: 20, 30, 40 \(a run keeps its last keep_checkpoints\)\.$'):
      inference.restore(long, step=10)

  def test_the_config_of_a_step_is_the_one_kept_at_the_next_changed_resume(self):
    wd = tempfile.mkdtemp()
    for name, tag in (('config.json', 'now'), ('config_before_step_10.json', 'a'),
                      ('config_before_step_10_2.json', 'b'), ('config_before_step_30.json', 'c'),
                      ('config_before_step_3x.json', 'not a record')):
      with open(os.path.join(wd, name), 'w') as f:
        json.dump({'tag': tag}, f)
    # Resumed with changes at 10 (twice: the second's run saved nothing) and at 30.
    expected = {None: 'now', 1: 'a', 10: 'a', 11: 'c', 30: 'c', 31: 'now', 100: 'now'}
    self.assertEqual({step: inference.load_config(wd, step).tag for step in expected},
                     expected)
    # A changed resume at 40 not recorded yet (its pending record): after step 40 its config.
    # Its data shapes likewise: the pending record's after 40, data_shapes.json's before.
    record = lambda name: data.shapes_record(data.get(name, batch_size=8))
    workdir_lib.write_data_shapes(wd, record('ring8'))
    pending = {'resumed_at': 40, 'config': json.dumps({'tag': 'pending'}),
               'data_shapes': record('grid25')}
    toy = small_config()
    with mock.patch.object(inference, '_pending_record', return_value=pending):
      expected = {None: 'pending', 41: 'pending', 40: 'now', 31: 'now', 10: 'a'}
      self.assertEqual({step: inference.load_config(wd, step).tag for step in expected},
                       expected)
      self.assertEqual({step: inference.data_shapes(wd, toy, step).name for step in expected},
                       {step: 'grid25' if tag == 'pending' else 'ring8'
                        for step, tag in expected.items()})

  def test_truncation_draws_the_documented_truncated_noise(self):
    # Sample i's noise is row i of truncated_normal(-psi, psi) from sample()'s documented
    # key; evaluate records psi, and a psi that is not a number > 0 is refused first.
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10, ema_decay=0.0), wd)
    gan, _, state, _ = inference.restore(wd)
    key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0), 3)[0]
    z = jax.random.truncated_normal(key, -0.5, 0.5, (8, gan.z_dim))
    got = inference.sample(gan, state, 8, use_ema=False, seed=3, truncation=0.5)
    np.testing.assert_allclose(got, gan.generator.apply({'params': state.g_params}, z,
                                                        train=False), rtol=1e-5, atol=1e-6)
    self.assertFalse(np.allclose(got, inference.sample(gan, state, 8, use_ema=False, seed=3),
                                 atol=1e-3))
    with mock.patch.object(inference, 'sample', wraps=inference.sample) as spy:
      truncated = evaluate.evaluate(wd, 2500, truncation=0.5)
    self.assertEqual(spy.call_args.kwargs['truncation'], 0.5)  # the samples scored
    self.assertEqual(truncated['truncation'], 0.5)
    self.assertNotIn('truncation', evaluate.evaluate(wd, 2500))
    # A generator with BatchNorm sampled with its EMA: the statistics recomputed for the
    # EMA weights are those of the truncated noise.
    bn = tempfile.mkdtemp()
    c = small_config(num_steps=10, ema_decay=0.9)
    c.model.generator.batch_norm = True
    train.train_and_evaluate(c, bn)
    gan, _, state, _ = inference.restore(bn)
    stats = jax.jit(lambda s: gan_lib.ema_statistics(gan, s, truncation=0.5))(state)
    np.testing.assert_allclose(
        inference.sample(gan, state, 8, use_ema=True, seed=3, truncation=0.5),
        gan_lib.apply_generator(gan, state.ema_params, stats, z), rtol=1e-5, atol=1e-6)
    for bad in (0.0, -1.0, float('nan'), float('inf')):
      with self.assertRaisesRegex(ValueError, f'truncation must be a finite number > 0 .*; '
                                  f'got {bad}'):
        inference.sample(gan, state, 8, use_ema=False, truncation=bad)
      with self.assertRaisesRegex(ValueError, 'truncation must be a finite number > 0'):
        evaluate.evaluate(wd, 2500, truncation=bad)

  def test_a_run_without_an_ema_samples_its_trained_weights(self):
    # With BatchNorm: its trained running statistics too (EMA sampling would recompute
    # them, so samples and the eval record would differ).
    wd = tempfile.mkdtemp()
    c = small_config(num_steps=10, ema_decay=0.0)
    c.model.generator.batch_norm = True
    train.train_and_evaluate(c, wd)
    out = inference.sample_latest(wd, 8, seed=3)
    gan, _, state, _ = inference.restore(wd)
    self.assertTrue(state.g_stats)
    key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0), 3)[0]
    z = jax.random.normal(key, (8, gan.z_dim))
    self.assertFalse(out['ema'])
    np.testing.assert_allclose(
        out['samples'], gan.generator.apply({'params': state.g_params,
                                             'batch_stats': state.g_stats}, z, train=False),
        rtol=1e-5, atol=1e-6)
    self.assertFalse(evaluate.evaluate(wd, num_samples=2500)['ema'])

  def test_a_run_without_data_shapes_json_restores_with_its_pipeline(self):
    """Workdirs from before data_shapes.json: with_data=False builds the data instead."""
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10), wd)
    _, pipe, _, _ = inference.restore(wd, with_data=False)
    self.assertEqual((pipe.name, pipe.element_shape, pipe.evaluator), ('ring8', (2,), 'modes'))
    with self.assertRaisesRegex(RuntimeError, 'shapes only'):
      pipe.batch(0)
    os.remove(os.path.join(wd, 'data_shapes.json'))
    _, pipe, state, _ = inference.restore(wd, with_data=False)
    self.assertEqual(int(state.step), 10)
    np.testing.assert_array_equal(pipe.batch(3)['x'],
                                  data.get('ring8', batch_size=32, seed=0).batch(3)['x'])

  def test_digit_metrics_score_the_samples_against_the_held_out_digits(self):
    rng = np.random.default_rng(12)
    net = _RandomFeatures(rng)  # in place of the trained classifier
    feats, logits = net.features, net.logits
    images = lambda n, shift: np.clip(rng.normal(shift, 0.5, (n, 8, 8, 1)), -1, 1).astype(
        np.float32)
    held_x, training, samples = images(200, 0.0), images(400, 0.1), images(300, 0.3)
    pipe = mock.Mock(evaluator_args={'digit_reference': lambda: ((training, None), held_x)},
                     num_examples=400, real_samples=lambda n: training[:n])
    run = mock.Mock(samples=samples, pipe=pipe, assigned=None)
    with mock.patch.object(digit_classifier, 'Reference', net.reference):
      out = evaluate.digit_metrics(run)
    held, fake = feats(held_x), feats(samples)
    self.assertAlmostEqual(out['digit_fd'], _scipy_fd(held, fake), places=6)
    self.assertAlmostEqual(out['digit_fd_training_data'],
                           _scipy_fd(held, feats(training[:300])), places=6)
    self.assertAlmostEqual(out['digit_is'], _numpy_is(logits(samples)), places=8)
    # Precision, recall, density, coverage: the held-out digits are the real set.
    want = metrics.precision_recall_density_coverage(held, fake)
    self.assertEqual({k: out[f'digit_{k}'] for k in want}, want)
    self.assertEqual(out['digit_prdc_nearest_k'], 5)
    self.assertNotEqual(want['precision'], want['recall'])  # the sets' order shows
    # KID: 100 subsets of min(1000, 200, 300) = 200 (all held-out digits, 200 of the 300
    # samples), drawn samples then held-out from RandomState(2020) (torch-fidelity's); the
    # unbiased MMD^2 with k(x, y) = (x.y / 6 + 1)^3, its mean over the subsets.
    self.assertEqual(out['digit_kid_subset_size'], 200)
    k = lambda a, b: (a @ b.T / 6 + 1) ** 3
    off, draw, values = ~np.eye(200, dtype=bool), np.random.RandomState(2020), []
    for _ in range(100):
      b = fake[draw.choice(300, 200, replace=False)]
      a = held[draw.choice(200, 200, replace=False)]
      values.append(k(a, a)[off].mean() + k(b, b)[off].mean() - 2 * k(a, b).mean())
    self.assertAlmostEqual(out['digit_kid'], np.mean(values), places=10)
    self.assertGreater(out['digit_kid'], 1e-3)   # the samples differ from the held-out
    # Fewer samples than held-out digits: subsets of min(1000, 200, 150) = 150.
    with mock.patch.object(digit_classifier, 'Reference', net.reference):
      few = evaluate.digit_metrics(mock.Mock(samples=samples[:150], pipe=pipe, assigned=None))
    self.assertEqual(few['digit_kid_subset_size'], 150)
    # With Inception weights, FID/KID/IS of the same samples against as many training images.
    with mock.patch.object(digit_classifier, 'Reference', net.reference), \
         mock.patch.object(evaluate.inception, 'load', return_value='variables'), \
         mock.patch.object(evaluate.inception, 'fid_kid_is', return_value={'fid': 7.0}) as fki:
      out = evaluate.digit_metrics(run, 'w.npz')
    self.assertEqual(out['fid'], 7.0)
    variables, real, fake = fki.call_args.args
    self.assertEqual(variables, 'variables')
    np.testing.assert_array_equal(real, training[:300])
    np.testing.assert_array_equal(fake, samples)

  def test_digit_metrics_of_conditional_samples(self):
    # Class-conditional: per-class fidelity of the predicted classes; InfoGAN: the best
    # matching of codes to classes. Logits chosen by hand: samples i (class i mod 4)
    # predicted as class (i mod 4) except every 8th sample, predicted as class 3.
    samples = np.zeros((40, 8, 8, 1), np.float32)
    asked = np.arange(40) % 4
    predicted = np.where(np.arange(40) % 8 == 0, 3, asked)
    samples[:, 0, 0, 0] = predicted / 10   # the fake classifier reads the class off pixel 0

    class FakeReference:
      def __init__(self, train, held_x, source='digits'):
        self.held_x, self.held, self.floor, self.description = held_x, self(held_x)[0], 0.0, ''

      def __call__(self, x):
        rng = np.random.default_rng(len(x))
        return rng.normal(size=(len(x), 3)), 5.0 * np.eye(10)[np.round(x[:, 0, 0, 0] * 10)
                                                             .astype(int)]
    held_x = np.random.default_rng(1).uniform(-1, 1, (30, 8, 8, 1)).astype(np.float32)
    pipe = mock.Mock(evaluator_args={'digit_reference': lambda: ((held_x, None), held_x)},
                     num_examples=30, real_samples=lambda n: held_x[:min(n, 30)])
    for conditioning in ('labels', 'codes'):
      latent = gan_lib.Latent(conditioning=conditioning, num_classes=4, num_categorical=4)
      run = mock.Mock(samples=samples, pipe=pipe, assigned=asked,
                      gan=mock.Mock(latent=latent))
      with mock.patch.object(digit_classifier, 'Reference', FakeReference):
        out = evaluate.digit_metrics(run)
      if conditioning == 'labels':   # class 0: 5 of 10 right (samples 0, 8, ... are 3)
        self.assertEqual(out['class_fidelity_per_class'], [0.5, 1.0, 1.0, 1.0])
        self.assertAlmostEqual(out['class_fidelity'], 0.875)
        self.assertNotIn('code_accuracy', out)
      else:   # the identity matching: 35 of 40
        self.assertEqual(out['code_to_class'], {0: 0, 1: 1, 2: 2, 3: 3})
        self.assertAlmostEqual(out['code_accuracy'], 35 / 40)
        self.assertNotIn('class_fidelity', out)

  def test_reference_floor_is_the_training_digits_against_the_held_out(self):
    # floor: the Frechet distance (SciPy's sqrtm) between the classifier's features of
    # its training digits and of the held-out digits; held: the held-out digits' features.
    self.enter_context(mock.patch.dict(os.environ, {'JAXGAN_CACHE': tempfile.mkdtemp()}))
    self.enter_context(quick_classifier(steps=20))
    rng = np.random.default_rng(0)
    train_x = rng.uniform(-1, 1, (120, 8, 8, 1)).astype(np.float32)
    train_y = np.arange(120) % 10
    held_x = rng.uniform(-1, 1, (100, 8, 8, 1)).astype(np.float32) * 0.5
    ref = digit_classifier.Reference((train_x, train_y), held_x)
    params = digit_classifier.load_or_train(train_x, train_y)   # the cached classifier
    f_held = digit_classifier.features_and_logits(params, held_x)[0]
    f_train = digit_classifier.features_and_logits(params, train_x)[0]
    np.testing.assert_array_equal(ref.held, f_held)
    self.assertAlmostEqual(ref.floor, _scipy_fd(f_held, f_train), delta=1e-3 * ref.floor)
    self.assertGreater(ref.floor, 0.01)

  def test_evaluate_scores_the_ema_samples_of_the_seed_asked_for(self):
    # The samples scored are the EMA generator's on sample()'s documented noise of the
    # seed given (z of samples i.. from fold_in(key(seed), i), i a multiple of 1000).
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10, ema_decay=0.9), wd)
    gan, _, state, _ = inference.restore(wd)
    seen = []
    with mock.patch.object(evaluate.metrics, 'mode_metrics',
                           lambda x, modes, std: seen.append(np.asarray(x)) or {}):
      result = evaluate.evaluate(wd, num_samples=2500, seed=5)
    self.assertTrue(result['ema'])

    def documented_z(i, n):
      key = jax.random.split(jax.random.fold_in(jax.random.key(5), i), 3)[0]
      return jax.random.normal(key, (n, gan.z_dim))
    z = np.concatenate([documented_z(i, n) for i, n in ((0, 1000), (1000, 1000), (2000, 500))])
    want = gan.generator.apply({'params': state.ema_params}, z, train=False)
    np.testing.assert_allclose(seen[0], want, rtol=1e-5, atol=1e-5)
    trained = gan.generator.apply({'params': state.g_params}, z, train=False)
    self.assertFalse(np.allclose(seen[0], trained, atol=1e-4))

  def test_interpolating_batchnorm_generators_with_an_ema_keeps_the_end_points(self):
    # Such a run samples its EMA weights with BatchNorm statistics recomputed for them,
    # starting from its running ones. The PSNR side gave its recomputed statistics, which
    # the new workdir recomputed again: alpha = 0 did not sample as the PSNR run (up to 0.08
    # apart), nor a run mixed with itself as that run.
    runs = []
    for seed in (0, 1):
      c = small_config(num_steps=10, seed=seed, ema_decay=0.9, eval_every=1000)
      c.model.generator.batch_norm = True
      runs.append(tempfile.mkdtemp())
      train.train_and_evaluate(c, runs[-1])
    samples = lambda wd: inference.sample_latest(wd, 200)['samples']
    root = tempfile.mkdtemp()
    for alpha, gan_run, want in ((0.0, runs[1], runs[0]), (1.0, runs[1], runs[1]),
                                 (0.5, runs[0], runs[0])):  # the last: mixed with itself
      out = os.path.join(root, f'{alpha}')
      inference.interpolate(runs[0], gan_run, alpha, out)
      np.testing.assert_allclose(samples(out), samples(want), atol=1e-6, err_msg=str(alpha))

  def test_interpolating_into_a_batchnorm_run_without_an_ema_keeps_the_psnr_end_point(self):
    # The PSNR run keeps an EMA (it samples its EMA weights with statistics recomputed for
    # them); the GAN run does not (it samples its trained weights with their running
    # statistics, recomputing nothing). alpha = 0 must sample as the PSNR run: its
    # sampling statistics, not its running ones, go into the new workdir.
    runs = []
    for seed, ema in ((0, 0.9), (1, 0.0)):
      c = small_config(num_steps=10, seed=seed, ema_decay=ema, eval_every=1000)
      c.model.generator.batch_norm = True
      runs.append(tempfile.mkdtemp())
      train.train_and_evaluate(c, runs[-1])
    out = os.path.join(tempfile.mkdtemp(), 'mixed')
    inference.interpolate(runs[0], runs[1], 0.0, out)
    got = inference.sample_latest(out, 200)
    self.assertFalse(got['ema'])  # the GAN run's config
    np.testing.assert_allclose(got['samples'], inference.sample_latest(runs[0], 200)['samples'],
                               atol=1e-6)

  def test_interpolation_records_the_gan_runs_held_out_files(self):
    # Folder runs record the files their split held out; the interpolated workdir is
    # evaluated on the GAN run's, which it records (with a warning where the PSNR run held
    # out others). A PSNR run that recorded none (older, or not a folder) is no error.
    runs = []
    for seed in (0, 1):
      runs.append(tempfile.mkdtemp())
      train.train_and_evaluate(small_config(num_steps=10, seed=seed, eval_every=1000), runs[-1])
    psnr, gan_run = runs
    real_read = inference.workdir_lib.read_data_shapes
    for psnr_held in (['b.png'], None):
      held = {gan_run: ['a.png'], psnr: psnr_held}
      def read(w, held=held):
        record = real_read(w)
        return record if held[w] is None else {**record, 'held_out_files': held[w]}
      out = os.path.join(tempfile.mkdtemp(), 'mixed')
      with mock.patch.object(inference.workdir_lib, 'read_data_shapes', read):
        if psnr_held:
          with self.assertLogs('absl', 'WARNING') as logs:
            inference.interpolate(psnr, gan_run, 0.5, out)
          self.assertRegex(logs.output[0], r'held out other files of their folder \(a\.png; '
                           r'b\.png\)')
        else:
          with self.assertNoLogs('absl', 'WARNING'):
            inference.interpolate(psnr, gan_run, 0.5, out)
      with open(os.path.join(out, 'data_shapes.json')) as f:
        self.assertEqual(json.load(f)['held_out_files'], ['a.png'])

  def test_image_samples_outside_the_range_are_refused(self):
    # Images past [-1, 1] (a generator without its tanh) are refused before any scoring,
    # as an EvaluationError, which launch.evaluate reports as a message (a ValueError was a
    # traceback there).
    for value in (1.5, -1.01):
      samples = np.zeros((10, 8, 8, 3), np.float32)
      samples[3, 2, 1, 0] = value
      run = mock.Mock(samples=samples)
      for evaluator in (evaluate.inception_metrics, evaluate.digit_metrics):
        with mock.patch.object(evaluate.inception, 'load') as load, \
             self.assertRaisesRegex(evaluate.EvaluationError, r'must lie in \[-1, 1\]'):
          evaluator(run, 'w.npz')
        load.assert_not_called()
    evaluate.check_num_samples(0, 'sr', gan_lib.Latent())   # SR draws no samples at all

  def test_a_split_that_takes_test_digits_says_they_are_not_held_out(self):
    # digit-FD's held-out digits are a TFDS set's test split: any training split that
    # reads from it (TFDS split arithmetic and slices) trains on them. Kills: only the
    # split named exactly 'test' flagged.
    for split in ('test', 'train+test', 'test[:50%]'):
      pipe = mock.Mock(evaluator_args={'split': split})
      self.assertEqual(evaluate._held_from_the_run(pipe, None),
                       f"; the run trains on the {split!r} split, which holds test digits: "
                       'they are not held out from the GAN', split)
    pipe = mock.Mock(evaluator_args={'split': 'train[:90%]'})
    self.assertEqual(evaluate._held_from_the_run(pipe, None),
                     "; the run trains on the 'train[:90%]' split, without them")


class StudyRulesTest(chex.TestCase):
  """Rules of the study runner and kinds that the tests above leave open: which weights a
  run without an EMA samples, the clip of digit samples, the checks of one-run studies,
  the resume message's count, the default seed vmap and the figures' contents."""

  def test_runs_without_an_ema_are_sampled_from_their_trained_weights(self):
    # Training and sampling mocked: a run with ema_decay=0 keeps no EMA, so both kinds
    # sample its trained weights (use_ema=False), as inference.uses_ema says.
    c = small_config(ema_decay=0.0)
    modes = np.asarray(build.build(c)[1].evaluator_args['modes'], np.float32)
    _, generate = _run_mixtures_study(c, np.tile(modes, (1250, 1))[None])
    self.assertIs(generate.call_args.kwargs['use_ema'], False)
    d = DigitsStudyTest._config(None)
    run, _ = runner.run_config(d, 'mlp', 'non_saturating:none')
    run.ema_decay = 0.0
    x = np.random.default_rng(6).uniform(-1, 1, (2, 200, 8, 8, 1))
    _, generate = _run_digits_study(run, d.study, x, _held_out_reference())
    self.assertIs(generate.call_args.kwargs['use_ema'], False)

  def test_mixture_samples_are_high_quality_within_three_of_the_datas_std(self):
    # Training mocked: 10,000 samples on the ring8 modes (std 0.02), every other block of
    # 8 moved by 4 std = 0.08 off its mode. By hand: half are within 3 std (HQ 50 %),
    # the exact half covers the 8 modes, 625 HQ samples each (>= 125: 8 strict), uniform
    # over the modes (reverse KL 0).
    c = small_config()
    _, pipe = build.build(c)
    self.assertEqual(pipe.evaluator_args['std'], 0.02)
    x = np.tile(np.asarray(pipe.evaluator_args['modes'], np.float64), (1250, 1))
    x[(np.arange(10000) // 8) % 2 == 1, 0] += 0.08
    out, _ = _run_mixtures_study(c, x[None])
    self.assertEqual(out['per_seed'], [{'hq_percent': 50.0, 'modes': 8.0, 'strict_modes': 8.0,
                                        'reverse_kl': 0.0}])

  def test_digit_samples_outside_the_range_are_scored_clipped_to_it(self):
    # A generator without a tanh can draw beyond [-1, 1]: each seed is scored on its
    # samples clipped to [-1, 1] (recomputed here with SciPy and NumPy).
    d = DigitsStudyTest._config(None)
    run, _ = runner.run_config(d, 'mlp', 'non_saturating:none')
    x = np.random.default_rng(7).uniform(-1.8, 1.8, (2, 200, 8, 8, 1))
    ref = _held_out_reference()
    out, _ = _run_digits_study(run, d.study, x, ref)
    clipped = np.clip(x, -1, 1)
    np.testing.assert_allclose(out['digit_fd'][0],
                               [_scipy_fd(ref.held, ref.features(s)) for s in clipped],
                               rtol=1e-4)
    np.testing.assert_allclose(out['digit_is'][0], [_numpy_is(ref(s)[1]) for s in clipped],
                               rtol=1e-5)

  def test_runs_with_a_blank_objective_or_penalty_are_named(self):
    from configs import study_toy
    for run in ('hinge:', ':none', 'hinge: '):
      c = study_toy.get_config()
      c.study.runs = ('hinge:none', run)
      with self.subTest(run), self.assertRaisesRegex(
          validation.ConfigError, f"config.study.runs has {run!r}: write each run as "
          "'objective:penalty'"):
        runner.check(c)

  def test_a_missing_field_not_from_a_groups_section_is_not_blamed_on_the_group(self):
    # Groups of plain fields (no section given whole): a field the config itself lacks is
    # reported as it is, not as a group "replacing config. whole".
    from configs import study_toy
    c = study_toy.get_config()
    c.study.groups = {'g': {'num_steps': 10}}
    c.study.runs = ('hinge:none',)
    del c.loss['kwargs']
    with self.assertRaisesRegex((AttributeError, KeyError), 'kwargs') as e:
      runner.check(c)
    self.assertNotIsInstance(e.exception, validation.ConfigError)

  def test_a_study_with_another_config_names_five_changes_and_counts_the_rest(self):
    import pickle

    from configs import study_toy
    c = study_toy.get_config()
    wd = tempfile.mkdtemp()
    other = ml_collections.ConfigDict(c.to_dict())
    changes = ('checkpoint_every', 'ema_decay', 'eval_every', 'log_every', 'num_steps',
               'seed', 'steps_per_call')  # sorted, as the message lists them
    for i, field in enumerate(changes):
      other[field] = other[field] + i + 1
    with open(os.path.join(wd, runner.RESUME_FILE), 'wb') as f:
      pickle.dump({'config': other.to_dict(), 'rows': [], 'context': {}}, f)
    with self.assertRaisesRegex(FileExistsError, r'another config \(it differs in '
                                r'checkpoint_every, ema_decay, eval_every, log_every, '
                                r'num_steps and 2 more\), which'):
      runner._resumed(c, wd)
    for field in changes[5:]:  # five: each named, no count
      other[field] = c[field]
    with open(os.path.join(wd, runner.RESUME_FILE), 'wb') as f:
      pickle.dump({'config': other.to_dict(), 'rows': [], 'context': {}}, f)
    with self.assertRaisesRegex(FileExistsError, r'\(it differs in checkpoint_every, '
                                r'ema_decay, eval_every, log_every, num_steps\), which'):
      runner._resumed(c, wd)

  def test_a_groups_seeds_are_vmapped_unless_it_says_not(self):
    from configs import study_toy
    c = study_toy.get_config()
    run, vmapped = runner.run_config(c, 'ring8', 'hinge:r1')
    self.assertIs(vmapped, True)
    self.assertEqual((run.loss.name, run.penalty.name, run.penalty.weight), ('hinge', 'r1', 1.0))
    c.study.groups.ring8.vmap_seeds = False
    run, vmapped = runner.run_config(c, 'ring8', 'hinge:none')
    self.assertIs(vmapped, False)
    self.assertNotIn('vmap_seeds', run)  # a study field, not a training one

  def test_digits_figure_band_is_one_std_over_the_seeds(self):
    # Seeds [9, 7], [4, nan], [6, 8]: mean 8, 4, 7 and std (ddof=0, nan skipped) 1, 0, 1.
    nan = float('nan')
    rows = [dict(objective='hinge', penalty='none', steps=[10, 20, 30],
                 digit_fd=[[9.0, 7.0], [4.0, nan], [6.0, 8.0]])]
    drawn = []
    with mock.patch.object(digits_study.plots, 'save_figure',
                           lambda fig, path: drawn.append(fig)):
      digits_study.figures(None, rows, 'g', 'wd', {'reference': mock.Mock(floor=2.5)})
    (fig,) = drawn
    (band,) = fig.axes[0].collections
    vertices = np.concatenate([p.vertices for p in band.get_paths()])
    for step, lo, hi in ((10, 7.0, 9.0), (20, 4.0, 4.0), (30, 6.0, 8.0)):
      ys = vertices[np.isclose(vertices[:, 0], step), 1]
      np.testing.assert_allclose((ys.min(), ys.max()), (lo, hi), err_msg=str(step))

  def test_sr_crops_of_a_wide_photo_move_each_corner_inside_its_own_side(self):
    # A 16x24 HR photo: a corner past both edges moves to row 16 - 6 = 10 and column
    # 24 - 6 = 18 (the height bounds the row, the width the column).
    from studies import figures
    rng = np.random.default_rng(1)
    lr, hr = rng.uniform(-1, 1, (8, 12, 3)), rng.uniform(-1, 1, (16, 24, 3))
    pipe = mock.Mock(evaluator='sr', evaluator_args={'scale': 2, 'eval_pairs': lambda: [(lr, hr)]})
    drawn = []
    with mock.patch.object(figures.inference, 'restore', lambda w: (w, pipe, None, None)), \
         mock.patch.object(figures.inference, 'uses_ema', return_value=True), \
         mock.patch.object(figures.evaluate, 'EvalRun',
                           return_value=mock.Mock(upscale_whole=lambda x: hr)), \
         mock.patch.object(figures.plots, 'save_figure', lambda fig, path: drawn.append(fig)):
      figures.sr_crops([('A', 'wa')], 'o.png', size=6, corners=((100, 180), (3, 100)))
    axes = drawn[0].axes  # per row: LR, A, HR
    for ax, (top, left) in ((axes[2], (10, 18)), (axes[5], (3, 18))):
      want = (hr[top:top + 6, left:left + 6] + 1) / 2
      np.testing.assert_allclose(np.asarray(ax.images[0].get_array()), want)

  def test_figures_cli_refuses_a_run_named_as_the_bicubic_column(self):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, '-m', 'studies.figures', 'sr',
                           '--workdirs=bicubic=/never/a,B=/never/b', '--output=x.png'],
                          cwd=root, capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(proc.returncode, 2, proc.stderr[-2000:])
    self.assertRegex(proc.stderr, 'each NAME once, none of LR, HR or bicubic .*; got bicubic')

  def test_mixtures_panels_show_finite_samples_and_a_panel_without_modes_is_kept(self):
    from configs import study_toy
    c = study_toy.get_config()
    rng = np.random.default_rng(8)
    finite = rng.normal(size=(3000, 2)).astype(np.float32)
    x = np.concatenate([np.full((100, 2), np.nan, np.float32), finite])
    modes = np.array([[2.0, 0.0], [0.0, 2.0]])
    drawn = []
    wd = tempfile.mkdtemp()
    with mock.patch.object(mixtures_study.plots, 'save_figure',
                           lambda fig, path: drawn.append((fig, path))):
      mixtures_study.figures(c, [], 'ring8', wd, {'panels': {'ring8': {'hinge': x}},
                                                  'modes': {'ring8': modes}, 'seeds': [0]})
      # A resume file written before the modes were kept: the samples are saved, no
      # figure is drawn (and nothing fails).
      mixtures_study.figures(c, [], 'ring8', wd, {'panels': {'ring8': {'hinge': x}},
                                                  'modes': {}, 'seeds': [0]})
    (fig, path), = drawn
    self.assertEqual(path, os.path.join(wd, 'study_ring8.png'))
    # The first 2,500 finite samples, the non-finite rows left out.
    np.testing.assert_array_equal(np.asarray(fig.axes[0].collections[0].get_offsets()),
                                  finite[:2500])
    with np.load(os.path.join(wd, 'samples_ring8.npz')) as f:
      np.testing.assert_array_equal(f['hinge'], x)


if __name__ == '__main__':
  absltest.main()
