"""Tests of jaxgan.optimizers: optax by name, learning-rate schedules against their closed
forms and the warning for a schedule that outlasts the run, weight clipping as a projection."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest

from jaxgan import optimizers, registry, validation


class OptimizersTest(chex.TestCase):

  def test_adam_by_name_equals_optax(self):
    params = {'w': jnp.asarray([1.0, -2.0, 3.0])}
    grads = {'w': jnp.asarray([0.5, 0.1, -0.3])}
    ours = optimizers.get('adam', learning_rate=0.1, b1=0.5, b2=0.9)
    ref = optax.adam(0.1, b1=0.5, b2=0.9)
    a, _ = ours.update(grads, ours.init(params), params)
    b, _ = ref.update(grads, ref.init(params), params)
    chex.assert_trees_all_close(a, b)
    # Adam's first step is -lr * sign(g) (up to eps): a closed form, not optax's output.
    np.testing.assert_allclose(a['w'], -0.1 * np.sign(grads['w']), rtol=1e-5)

  def test_adamw_decays_the_weights(self):
    # With zero gradients Adam's part is 0/(0 + eps) = 0: AdamW's first update is the
    # decoupled decay -lr * weight_decay * w alone (Adam's would be 0).
    params = {'w': jnp.asarray([1.0, -2.0, 3.0])}
    opt = optimizers.get('adamw', learning_rate=0.1, weight_decay=0.5)
    updates, _ = opt.update(jax.tree.map(jnp.zeros_like, params), opt.init(params), params)
    np.testing.assert_allclose(updates['w'], -0.05 * np.array([1.0, -2.0, 3.0]), rtol=1e-6)

  def test_bad_names_and_arguments(self):
    with self.assertRaisesRegex(ValueError, 'adamx.*adam, adamw, rmsprop, sgd'):
      optimizers.get('adamx', learning_rate=1.0)
    with self.assertRaisesRegex(TypeError, "'rmsprop' has no argument.*b1.*it takes: "
                                           'learning_rate, decay'):
      optimizers.get('rmsprop', learning_rate=1e-3, b1=0.5)
    with self.assertRaisesRegex(TypeError, 'needs argument.*learning_rate'):
      optimizers.get('sgd')


class ScheduleTest(chex.TestCase):
  """Each schedule against its closed form, written here in NumPy."""

  def _values(self, spec, counts, lr=2e-4, updates_per_step=1):
    fn = optimizers.schedule(spec, lr, updates_per_step)
    return np.array([float(jax.jit(fn)(jnp.asarray(c))) for c in counts])

  def test_constant_is_the_rate_itself(self):
    self.assertEqual(optimizers.schedule('constant', 2e-4), 2e-4)
    self.assertEqual(optimizers.schedule('constant', 2e-4, updates_per_step=5), 2e-4)

  def test_multistep(self):
    counts = [0, 1, 49, 50, 51, 99, 100, 299, 300, 10**6]
    milestones = np.array([50, 100, 300])
    want = [2e-4 * 0.5 ** np.sum(milestones <= c) for c in counts]
    np.testing.assert_allclose(
        self._values('multistep(milestones=(50, 100, 300), gamma=0.5)', counts), want,
        rtol=1e-6)

  def test_linear_cosine_and_warmup(self):
    counts = np.array([0, 1, 25, 50, 99, 100, 150])
    t = np.minimum(counts, 100) / 100
    np.testing.assert_allclose(self._values('linear(decay_steps=100, end_value=1e-5)', counts),
                               2e-4 + (1e-5 - 2e-4) * t, rtol=1e-5)
    np.testing.assert_allclose(self._values('cosine(decay_steps=100, alpha=0.1)', counts),
                               2e-4 * (0.9 * 0.5 * (1 + np.cos(np.pi * t)) + 0.1), rtol=1e-5)
    np.testing.assert_allclose(self._values('cosine(decay_steps=100)', counts),  # to 0
                               2e-4 * 0.5 * (1 + np.cos(np.pi * t)), rtol=1e-5, atol=2e-10)
    np.testing.assert_allclose(self._values('linear(decay_steps=100)', counts),  # to 0
                               2e-4 * (1 - t), rtol=1e-5, atol=2e-10)
    warm = np.where(counts < 10, 2e-4 * counts / 10,
                    2e-4 * 0.5 * (1 + np.cos(np.pi * np.clip(counts - 10, 0, 90) / 90)))
    np.testing.assert_allclose(
        self._values('warmup_cosine(warmup_steps=10, decay_steps=100)', counts), warm,
        rtol=1e-5, atol=1e-12)

  def test_steps_are_train_steps_for_an_optimizer_updating_n_times_per_step(self):
    """A critic updated 5 times per train step reaches milestone 10 at update 50."""
    counts = [0, 49, 50, 54, 55]
    np.testing.assert_allclose(
        self._values('multistep(milestones=(10, 11), gamma=0.1)', counts, lr=1.0,
                     updates_per_step=5), [1.0, 1.0, 0.1, 0.1, 0.01], rtol=1e-6)

  def test_an_optimizer_follows_its_schedule(self):
    """SGD's update is -lr(count) * g: the scheduled rate is the one applied."""
    opt = optimizers.get('sgd', learning_rate=optimizers.schedule(
        'multistep(milestones=(2,), gamma=0.1)', 1.0))
    params, grads = {'w': jnp.zeros(())}, {'w': jnp.ones(())}
    state = opt.init(params)
    applied = []
    for _ in range(4):
      updates, state = opt.update(grads, state, params)
      applied.append(float(updates['w']))
    np.testing.assert_allclose(applied, [-1.0, -1.0, -0.1, -0.1], rtol=1e-6)

  def test_a_repeated_milestone_decays_twice_as_pytorchs(self):
    # torch.optim.lr_scheduler.MultiStepLR counts milestones (a Counter): gamma ** 2 at 5.
    np.testing.assert_allclose(self._values('multistep(milestones=(5, 5), gamma=0.5)',
                                            [4, 5], lr=1.0), [1.0, 0.25], rtol=1e-6)

  def test_bad_schedule_values_name_the_argument(self):
    for spec, message in (
        ('multistep(milestones=100000)', r'milestones = 100000.*\(100000,\)'),
        ('multistep(milestones=(10, -1))', 'milestones = -1: must be an integer >= 0'),
        ('multistep(milestones=(10,), gamma=-0.5)', 'gamma = -0.5'),
        ('cosine(decay_steps=0)', 'decay_steps = 0: must be an integer >= 1'),
        ('linear(decay_steps=0)', 'decay_steps = 0: must be an integer >= 1'),
        ('warmup_cosine(warmup_steps=0, decay_steps=0)',
         'decay_steps = 0: must be an integer >= 1'),
        ('cosine(decay_steps=True)', 'decay_steps = True: must be an integer'),  # not 1
        ('multistep(milestones=(True,))', 'milestones = True: must be an integer'),
        ('linear(decay_steps=2.5)', 'decay_steps = 2.5'),
        ('warmup_cosine(warmup_steps=10, decay_steps=5)',
         'decay_steps = 5: must be an integer >= 11'),
        # Rates that end below 0 (optax would ascend the loss from where they cross it).
        ('linear(decay_steps=4, end_value=-1.0)', 'end_value = -1.0: .*>= 0'),
        ('cosine(decay_steps=4, alpha=-0.5)', 'alpha = -0.5: .*>= 0'),
        ('warmup_cosine(warmup_steps=1, decay_steps=4, end_value=-1e-6)',
         'end_value = -1e-06: .*>= 0')):
      with self.subTest(spec), self.assertRaisesRegex(validation.ConfigError, message):
        optimizers.schedule(spec, 1e-4)
    # A non-finite number is refused by the registry, before the schedule's own checks.
    with self.assertRaisesRegex(registry.ArgumentError,
                                "'multistep': gamma must be a finite number .*got inf"):
      optimizers.schedule('multistep(milestones=(10,), gamma=1e999)', 1e-4)

  def test_the_smallest_step_values_are_taken(self):
    # A milestone at 0 applies from the first step; one-step decays end at step 1.
    np.testing.assert_allclose(self._values('multistep(milestones=(0,), gamma=0.5)', [0, 1],
                                            lr=1.0), [0.5, 0.5], rtol=1e-6)
    np.testing.assert_allclose(self._values('cosine(decay_steps=1, alpha=0.1)', [0, 1, 2],
                                            lr=1.0), [1.0, 0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(self._values('linear(decay_steps=1)', [0, 1], lr=1.0),
                               [1.0, 0.0], atol=1e-7)
    np.testing.assert_allclose(  # no warm-up: the peak at step 0
        self._values('warmup_cosine(warmup_steps=0, decay_steps=1)', [0, 1], lr=1.0),
        [1.0, 0.0], atol=1e-7)

  def test_bad_schedules(self):
    with self.assertRaisesRegex(ValueError, "schedule 'step'.*constant, multistep, linear, "
                                            'cosine, warmup_cosine'):
      optimizers.schedule('step', 1e-4)
    with self.assertRaisesRegex(TypeError, "'multistep' needs argument.*milestones"):
      optimizers.schedule('multistep(gamma=0.5)', 1e-4)
    with self.assertRaisesRegex(TypeError, "'cosine' has no argument.*steps"):
      optimizers.schedule('cosine(steps=10)', 1e-4)

  def test_schedule_end_is_where_the_rate_stops_changing(self):
    for spec, end in (('constant', 0), ('linear(decay_steps=100)', 100),
                      ('cosine(decay_steps=70, alpha=0.1)', 70),
                      ('multistep(milestones=(20, 5), gamma=0.5)', 20),
                      ('warmup_cosine(warmup_steps=10, decay_steps=50)', 50)):
      self.assertEqual(optimizers.schedule_end(spec), end, spec)
      if end:  # the rate changes up to that step and not after it
        fn = optimizers.schedule(spec, 1.0)
        self.assertNotEqual(float(fn(end - 1)), float(fn(end)), spec)
        self.assertEqual(float(fn(end)), float(fn(end + 1000)), spec)
    with self.assertRaisesRegex(validation.ConfigError, 'milestones = 5: must be a tuple'):
      optimizers.schedule_end('multistep(milestones=5)')

  def test_a_schedule_longer_than_the_run_is_warned_about(self):
    from configs import toy2d
    from jaxgan import build
    c = toy2d.get_config()
    c.g_optimizer.schedule = 'linear(decay_steps=1000)'
    c.d_optimizer.schedule = 'multistep(milestones=(100, 499))'
    lines = build.schedule_warnings(c, 500)
    self.assertLen(lines, 1)
    self.assertIn("config.g_optimizer.schedule = 'linear(decay_steps=1000)' in a run of 500 "
                  'train steps: it changes the rate until train step 1000', lines[0])
    self.assertIn('set decay_steps=500', lines[0])
    # A decay over exactly the run ends within it: step 499 reads lr / 500.
    c.g_optimizer.schedule = 'linear(decay_steps=500)'
    self.assertEqual(build.schedule_warnings(c, 500), [])

  def test_a_milestone_at_the_run_length_is_never_reached(self):
    """Steps 0 .. N-1 read the schedule, so milestone N never applies; one before it does."""
    from configs import toy2d
    from jaxgan import build
    c = toy2d.get_config()
    c.d_optimizer.schedule = 'multistep(milestones=(100, 500, 700))'
    (line,) = build.schedule_warnings(c, 500)
    self.assertIn("config.d_optimizer.schedule = 'multistep(milestones=(100, 500, 700))'", line)
    self.assertIn('milestone(s) 500, 700 fall at or after the last train step (499)', line)
    self.assertIn('set milestones below 500', line)
    self.assertNotIn('decay_steps', line)
    fn = optimizers.schedule('multistep(milestones=(100, 500, 700))', 1.0)
    # The run's last step has had one drop, not three.
    self.assertAlmostEqual(float(fn(499)), 0.1, places=6)
    c.d_optimizer.schedule = 'multistep(milestones=(100, 499))'
    self.assertEqual(build.schedule_warnings(c, 500), [])

  def test_a_warmup_longer_than_the_run_names_both_arguments(self):
    from configs import toy2d
    from jaxgan import build
    c = toy2d.get_config()
    c.g_optimizer.schedule = 'warmup_cosine(warmup_steps=600, decay_steps=2000)'
    (line,) = build.schedule_warnings(c, 500)
    self.assertIn('set warmup_steps below 500 and decay_steps=500', line)
    # A warm-up of exactly the run is as long as the run: decay_steps=500 alone would be
    # refused (it must exceed warmup_steps).
    self.assertIn('set warmup_steps below 500 and decay_steps=500', optimizers.schedule_outlasts(
        'warmup_cosine(warmup_steps=500, decay_steps=2000)', 500))
    c.g_optimizer.schedule = 'warmup_cosine(warmup_steps=100, decay_steps=2000)'
    (line,) = build.schedule_warnings(c, 500)
    self.assertIn('set decay_steps=500 to decay', line)
    self.assertNotIn('warmup_steps below', line)

  def test_a_shared_schedule_is_one_line_and_no_critic_is_not_checked(self):
    from configs import toy2d
    from jaxgan import build
    c = toy2d.get_config()
    c.g_optimizer.schedule = c.d_optimizer.schedule = 'cosine(decay_steps=900)'
    (line,) = build.schedule_warnings(c, 500)
    self.assertTrue(line.startswith('config.g_optimizer.schedule and config.d_optimizer.'
                                    "schedule = 'cosine(decay_steps=900)'"), line)
    # n_critic = 0 (a PSNR-only pretraining) updates no critic: its schedule does not run.
    c.n_critic = 0
    c.g_optimizer.schedule = 'constant'
    self.assertEqual(build.schedule_warnings(c, 500), [])

  def test_each_player_gets_its_own_optimizer(self):
    # G's and D's optimizers from their own config fields (here one rate each: a TTUR).
    from configs import toy2d
    from jaxgan import build
    c = toy2d.get_config()
    c.n_critic = 1
    c.g_optimizer = dict(name='sgd', learning_rate=1.0)
    c.d_optimizer = dict(name='sgd', learning_rate=0.25)
    gan, _ = build.build(c)
    for optimizer, rate in ((gan.g_optimizer, 1.0), (gan.d_optimizer, 0.25)):
      params = {'w': np.zeros(())}
      updates, _ = optimizer.update({'w': np.ones(())}, optimizer.init(params), params)
      self.assertAlmostEqual(float(updates['w']), -rate)

  def test_a_schedule_without_a_learning_rate_is_a_config_error(self):
    from jaxgan import build
    with self.assertRaisesRegex(validation.ConfigError,
                                r"schedule 'linear\(decay_steps=10\)' but no learning_rate"):
      build.optimizer({'name': 'sgd', 'schedule': 'linear(decay_steps=10)'})

  def test_a_decay_holds_its_rate_through_each_train_steps_updates(self):
    """A critic updated 5 times per train step reads the schedule at the train step
    ``count // 5``: a linear decay over 10 train steps is 1 - (count // 5) / 10, the same
    for the 5 updates of one step (not 1 - count / 50, which decays within the step)."""
    counts = np.array([0, 1, 4, 5, 9, 10, 49, 50, 51])
    want = 1.0 - np.minimum(counts // 5, 10) / 10
    np.testing.assert_allclose(
        self._values('linear(decay_steps=10)', counts, lr=1.0, updates_per_step=5), want,
        rtol=1e-6, atol=1e-7)
    want = 0.5 * (1 + np.cos(np.pi * np.minimum(counts // 5, 10) / 10))
    np.testing.assert_allclose(
        self._values('cosine(decay_steps=10)', counts, lr=1.0, updates_per_step=5), want,
        rtol=1e-6, atol=1e-7)

  def test_milestones_given_as_a_list_are_the_same_schedule(self):
    # A spec parses [100, 200] as a list: the same milestones as (100, 200), not a config
    # error (only a bare number is refused, as a likely missing comma).
    counts = [0, 99, 100, 199, 200]
    want = [1.0, 1.0, 0.5, 0.5, 0.25]
    for spec in ('multistep(milestones=(100, 200), gamma=0.5)',
                 'multistep(milestones=[100, 200], gamma=0.5)'):
      np.testing.assert_allclose(self._values(spec, counts, lr=1.0), want, rtol=1e-6,
                                 err_msg=spec)
    self.assertEqual(optimizers.schedule_end('multistep(milestones=[100, 200])'), 200)


class WeightClippingTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_clip_weights(self):
    rng = np.random.default_rng(0)
    params = {'dense': {'kernel': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
                        'bias': jnp.asarray(rng.normal(size=4), jnp.float32)},
              'out': jnp.asarray(rng.normal(size=2) * 0.001, jnp.float32)}
    clipped = self.variant(lambda p: optimizers.clip_weights(p, 0.01))(params)
    want = jax.tree.map(lambda x: np.clip(np.asarray(x), -0.01, 0.01), params)
    chex.assert_trees_all_close(clipped, want)
    # The default bound is the paper's c = 0.01.
    chex.assert_trees_all_close(self.variant(optimizers.clip_weights)(params), want)

  def test_bad_clip_value_is_refused(self):
    params = {'w': jnp.asarray([0.5, -0.5, 0.0])}
    for bad in (-0.01, 0.0, float('nan'), float('inf'), np.float32(-1.0)):
      with self.assertRaisesRegex(ValueError, f'clip_value must be a finite number > 0.*{bad}'):
        optimizers.clip_weights(params, bad)
    # A traced bound (a user's own jit over it) is not checked, and still clips.
    got = jax.jit(optimizers.clip_weights)(params, jnp.float32(0.1))
    np.testing.assert_allclose(got['w'], [0.1, -0.1, 0.0])


if __name__ == '__main__':
  absltest.main()
