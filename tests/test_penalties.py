"""Tests of jaxgan.penalties against closed forms (README.md, "Objectives and penalties":
a linear critic D(x) = <w, x> + b has gradient w everywhere)."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import test_util as jtu

from jaxgan import penalties

KEY = jax.random.key(0)


def _batch(seed: int, shape: tuple[int, ...]) -> jnp.ndarray:
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _linear_critic(w, b=0.3):
  return lambda x: x @ w + b


def _norm_critic(scale):
  """D(x) = scale * ||x|| over non-batch axes: gradient norm `scale` everywhere (x != 0)."""
  return lambda x: scale * jnp.sqrt(jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim))))


def _half_square_critic(x):
  """D(x) = 0.5 ||x||^2: g_i = x_i, a different gradient for every example."""
  return 0.5 * jnp.sum(jnp.square(x), axis=tuple(range(1, x.ndim)))[:, None]


def _np_interpolates(real, fake, key):
  """NumPy float64 ``eps * real + (1 - eps) * fake``, ``eps ~ U[0, 1]`` per example: the raw
  uniforms are the one ``jax.random.uniform(key, [batch, 1, ...])`` draw."""
  r, f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  eps = np.asarray(jax.random.uniform(key, (r.shape[0],) + (1,) * (r.ndim - 1)), np.float64)
  return eps * r + (1.0 - eps) * f


def _np_dragan_points(real, key, scale=0.5, data_range=None, one_sided=False):
  """NumPy float64 ``clip(x + alpha * scale * std(x) * u)``: ``u ~ U[0, 1]`` per element from
  the first half of ``split(key)``, a raw ``U[0, 1]`` per example from the second, mapped to
  ``alpha ~ U[-1, 1]`` (``U[0, 1]`` when one-sided); ``std`` of the whole batch (ddof 0)."""
  x = np.asarray(real, np.float64)
  k_u, k_alpha = jax.random.split(key)
  u = np.asarray(jax.random.uniform(k_u, x.shape), np.float64)
  raw = np.asarray(jax.random.uniform(k_alpha, (x.shape[0],) + (1,) * (x.ndim - 1)), np.float64)
  alpha = raw if one_sided else 2.0 * raw - 1.0
  points = x + alpha * scale * np.sqrt(np.mean((x - x.mean()) ** 2)) * u
  return points if data_range is None else np.clip(points, *data_range)


def _np_half_square_gp(points):
  """E (||g_i|| - 1)^2 for D(x) = 0.5 ||x||^2 (g_i = x_i), norms over non-batch axes."""
  norms = np.linalg.norm(np.asarray(points, np.float64).reshape(len(points), -1), axis=1)
  return np.mean((norms - 1.0) ** 2)


# Closed forms for a linear critic (gradient w everywhere); `n` is ||w||.
LINEAR_CLOSED_FORMS = {
    'wgan_gp': lambda n: (n - 1.0) ** 2,
    'wgan_lp': lambda n: max(0.0, n - 1.0) ** 2,
    'dragan': lambda n: (n - 1.0) ** 2,
    'r1': lambda n: n ** 2,
    'r2': lambda n: n ** 2,
}


class LinearCriticTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(name=list(LINEAR_CLOSED_FORMS), w_scale=[0.4, 2.5])
  def test_closed_form(self, name, w_scale):
    w = _batch(1, (5,))
    w = w / jnp.linalg.norm(w) * w_scale
    real, fake = _batch(2, (16, 5)), _batch(3, (16, 5))
    fn = penalties.get(name)
    value = self.variant(lambda w, r, f, k: fn(_linear_critic(w), r, f, k))(w, real, fake, KEY)
    chex.assert_shape(value, ())
    np.testing.assert_allclose(value, LINEAR_CLOSED_FORMS[name](w_scale), rtol=1e-5, atol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0.4, 2.5)
  def test_gradient_wrt_critic_params(self, w_scale):
    # Double backprop: dGP/dw = 2(||w|| - 1) w / ||w||, dLP/dw = 2 max(0, ||w|| - 1) w/||w||,
    # dR1/dw = 2 w.
    w = _batch(4, (6,))
    w = w / jnp.linalg.norm(w) * w_scale
    real, fake = _batch(5, (8, 6)), _batch(6, (8, 6))
    n = float(jnp.linalg.norm(w))
    expected = {
        'wgan_gp': 2 * (n - 1) * w / n,
        'wgan_lp': 2 * max(0.0, n - 1) * w / n,
        'dragan': 2 * (n - 1) * w / n,
        'r1': 2 * w,
        'r2': 2 * w,
    }
    for name, want in expected.items():
      fn = penalties.get(name)
      got = self.variant(jax.grad(lambda w, fn=fn: fn(_linear_critic(w), real, fake, KEY)))(w)
      chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-6)

  def test_check_grads_in_critic_params(self):
    w = _batch(7, (4,)) * 0.8
    real, fake = _batch(8, (6, 4)), _batch(9, (6, 4))
    for name in LINEAR_CLOSED_FORMS:
      fn = penalties.get(name)
      # (compiled whole: its VJP and finite differences, not op by op)
      jtu.check_grads(jax.jit(lambda w, fn=fn: fn(_linear_critic(w), real, fake, KEY)), (w,),
                      order=1, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)


class ImageCriticTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_r1_r2_are_per_example_over_hwc(self):
    real, fake = _batch(10, (4, 6, 5, 3)), _batch(11, (4, 6, 5, 3))
    r1 = self.variant(lambda r, f: penalties.r1_penalty(_half_square_critic, r, f, KEY))
    r2 = self.variant(lambda r, f: penalties.r2_penalty(_half_square_critic, r, f, KEY))
    np_r, np_f = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    want_r1 = np.mean([np.sum(np_r[i] ** 2) for i in range(4)])
    want_r2 = np.mean([np.sum(np_f[i] ** 2) for i in range(4)])
    np.testing.assert_allclose(r1(real, fake), want_r1, rtol=1e-5)
    np.testing.assert_allclose(r2(real, fake), want_r2, rtol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_gradient_penalty_norm_is_per_example(self):
    # With real == fake every interpolate is x_i itself and g_i = x_i.
    x = _batch(12, (5, 4, 4, 2)) * 0.3
    gp = self.variant(lambda x: penalties.gradient_penalty(_half_square_critic, x, x, KEY))(x)
    norms = np.sqrt((np.asarray(x, np.float64) ** 2).reshape(5, -1).sum(1))
    np.testing.assert_allclose(gp, np.mean((norms - 1.0) ** 2), rtol=1e-5)
    # A norm over the whole batch or per pixel would give something else.
    whole = np.sqrt((np.asarray(x, np.float64) ** 2).sum())
    self.assertGreater(abs(float(gp) - (whole - 1.0) ** 2), 1e-3)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((1.0, 0.0, 0.0), (3.0, 4.0, 4.0), (0.5, 0.25, 0.0))
  def test_unit_gradient_critic(self, scale, want_gp, want_lp):
    real, fake = _batch(13, (8, 4, 4, 3)), _batch(14, (8, 4, 4, 3))
    critic = _norm_critic(scale)
    gp = self.variant(lambda r, f, k: penalties.gradient_penalty(critic, r, f, k))(real, fake, KEY)
    lp = self.variant(lambda r, f, k: penalties.lipschitz_penalty(critic, r, f, k))(
        real, fake, KEY)
    np.testing.assert_allclose(gp, want_gp, atol=1e-5)
    np.testing.assert_allclose(lp, want_lp, atol=1e-5)


class WherePenaltiesLookTest(chex.TestCase):
  """D(x) = ||x||^2 / 2 has gradient x: each penalty's value says where it took its
  gradients. Real and fake differ, with norms on both sides of 1, so that the interpolates,
  DRAGAN's points, the real and the fake points all give different values (a linear
  critic's gradient is the same everywhere and cannot tell them apart)."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_each_penalty_at_its_own_points(self):
    real, fake = 0.5 * _batch(60, (16, 3)), 0.2 * _batch(61, (16, 3))
    norm = lambda p: np.linalg.norm(np.asarray(p, np.float64), axis=1)
    at = {'interpolates': norm(_np_interpolates(real, fake, KEY)),  # NumPy, not the library
          'dragan points': norm(_np_dragan_points(real, KEY)),
          'real': norm(real), 'fake': norm(fake)}
    self.assertTrue(np.any(at['interpolates'] < 1) and np.any(at['interpolates'] > 1))
    want = {'wgan_gp': np.mean((at['interpolates'] - 1) ** 2),
            'wgan_lp': np.mean(np.maximum(0.0, at['interpolates'] - 1) ** 2),
            'dragan': np.mean((at['dragan points'] - 1) ** 2),
            'r1': np.mean(at['real'] ** 2), 'r2': np.mean(at['fake'] ** 2)}
    self.assertGreater(abs(want['wgan_lp'] - want['wgan_gp']), 1e-2)  # one-sided matters
    for name, value in want.items():
      for per_example in (False, True):
        got = self.variant(lambda r, f, name=name, pe=per_example: penalties.get(
            name, per_example=pe)(_half_square_critic, r, f, KEY))(real, fake)
        np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=f'{name} {per_example}')
    # Anywhere else gives other values: at the real points, GP and DRAGAN would agree.
    values = sorted(want.values())
    self.assertGreater(min(np.diff(values)), 1e-3)


class PointsTest(chex.TestCase):

  def test_interpolates_one_eps_per_example(self):
    real, fake = _batch(15, (64, 3, 2)), _batch(16, (64, 3, 2))
    xhat = np.asarray(penalties.interpolates(real, fake, KEY), np.float64)
    eps = (xhat - np.asarray(fake)) / (np.asarray(real) - np.asarray(fake))
    eps = eps.reshape(64, -1)
    np.testing.assert_allclose(eps, eps[:, :1] * np.ones_like(eps), atol=1e-3)
    self.assertTrue(np.all((eps >= -1e-4) & (eps <= 1 + 1e-4)))
    self.assertGreater(eps[:, 0].std(), 0.15)  # U[0,1] has std 0.29.

  def test_interpolates_match_numpy(self):
    real, fake = _batch(20, (8, 3, 2)), _batch(21, (8, 3, 2))
    np.testing.assert_allclose(np.asarray(penalties.interpolates(real, fake, KEY), np.float64),
                               _np_interpolates(real, fake, KEY), rtol=1e-5, atol=1e-6)

  def test_dragan_points_are_two_sided_and_bounded(self):
    real = _batch(17, (64, 8))
    pts = np.asarray(penalties.dragan_points(real, KEY), np.float64)
    # alpha ~ U[-1, 1] per example, rebuilt in NumPy from the same raw uniforms.
    np.testing.assert_allclose(pts, _np_dragan_points(real, KEY), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(penalties.dragan_points(real, KEY, scale=2.0)),
                               _np_dragan_points(real, KEY, scale=2.0), rtol=1e-5, atol=1e-6)
    delta = pts - np.asarray(real, np.float64)
    bound = 0.5 * np.asarray(real, np.float64).std()
    self.assertTrue(np.all(np.abs(delta) <= bound + 1e-5))
    signs = np.sign(delta)
    self.assertTrue(np.all((signs >= 0).all(1) | (signs <= 0).all(1)))  # one alpha per example
    self.assertGreater((signs.sum(1) > 0).sum(), 10)
    self.assertGreater((signs.sum(1) < 0).sum(), 10)

  def test_dragan_one_sided_is_the_authors_code(self):
    # The authors' code: x + alpha (x_p - x), x_p = x + 0.5 std(x) u, alpha, u ~ U[0, 1];
    # NumPy from the same draws (alpha per example, u per element).
    real = _batch(19, (64, 8))
    k_u, k_alpha = jax.random.split(KEY)
    u = np.asarray(jax.random.uniform(k_u, real.shape), np.float64)
    alpha = np.asarray(jax.random.uniform(k_alpha, (64, 1)), np.float64)
    x = np.asarray(real, np.float64)
    x_p = x + 0.5 * x.std() * u
    want = x + alpha * (x_p - x)

    @jax.jit  # one program: both kinds of points and the one-sided penalty
    def points_and_penalty(real):
      fn = penalties.get('dragan(one_sided=True)')
      return (penalties.dragan_points(real, KEY, one_sided=True),
              penalties.dragan_points(real, KEY), fn(_half_square_critic, real, real, KEY))
    got, two_sided, value = points_and_penalty(real)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, rtol=1e-5, atol=1e-6)
    self.assertTrue(np.all(np.asarray(got) >= np.asarray(real)))
    two_sided = np.asarray(two_sided, np.float64)
    self.assertTrue(np.any(two_sided < x - 1e-3))
    np.testing.assert_allclose(want, _np_dragan_points(real, KEY, one_sided=True), rtol=1e-12)
    # D(x) = 0.5 ||x||^2 has g_i = x_i: the penalty is E(||want_i|| - 1)^2.
    np.testing.assert_allclose(value, _np_half_square_gp(want), rtol=1e-5)
    self.assertGreater(abs(float(value) - _np_half_square_gp(two_sided)), 1e-3)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(False, True)
  def test_dragan_clips_to_data_range(self, one_sided):
    real = jnp.clip(_batch(18, (32, 4, 4, 1)), -1.0, 1.0)
    pts = penalties.dragan_points(real, KEY, data_range=(-1.0, 1.0), one_sided=one_sided)
    self.assertTrue(bool(jnp.all((pts >= -1.0) & (pts <= 1.0))))
    want_pts = _np_dragan_points(real, KEY, data_range=(-1.0, 1.0), one_sided=one_sided)
    np.testing.assert_allclose(np.asarray(pts, np.float64), want_pts, rtol=1e-5, atol=1e-6)
    unclipped = _np_dragan_points(real, KEY, one_sided=one_sided)
    self.assertGreater(np.sum(np.abs(unclipped) > 1.0 + 1e-3), 20)  # the clip bites
    fn = penalties.get('dragan', data_range=(-1.0, 1.0), scale=0.5, one_sided=one_sided)
    value = self.variant(lambda r, k: fn(_half_square_critic, r, r, k))(real, KEY)
    np.testing.assert_allclose(value, _np_half_square_gp(want_pts), rtol=1e-5)
    self.assertGreater(abs(float(value) - _np_half_square_gp(unclipped)), 1e-3)


class SummedGradientTest(chex.TestCase):
  """``per_example=False`` (grad of the summed logits) equals the per-example gradient
  exactly when the critic couples no examples, and only then."""

  @chex.variants(with_jit=True, without_jit=True)
  def test_equal_for_a_per_example_critic(self):
    real, fake = _batch(40, (6, 4, 4, 2)), _batch(41, (6, 4, 4, 2))
    labels = jnp.asarray([0, 1, 2, 0, 1, 2])
    w = _batch(42, (3, 4, 4, 2))
    critic = lambda x, y: jnp.sum(w[y] * jnp.tanh(x), axis=(1, 2, 3))
    for name in LINEAR_CLOSED_FORMS:
      fn = lambda per_example, name=name: self.variant(
          lambda r, f: penalties.get(name, per_example=per_example)(
              critic, r, f, KEY, labels, labels))(real, fake)
      np.testing.assert_allclose(fn(False), fn(True), rtol=1e-5, err_msg=name)

  def test_differs_for_a_critic_coupling_examples(self):
    # D(x)_i = ||x_i||^2 / 2 + sum_j x_j0 couples the batch: alone, example i has gradient
    # x_i + e_0; the summed logits give x_i + B e_0 (here B = 5).
    critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=1) + jnp.sum(x[:, 0])
    x = _batch(43, (5, 3))
    per, summed = jax.jit(lambda x: (  # one program
        penalties.input_gradients(critic, x, per_example=True),
        penalties.input_gradients(critic, x)))(x)  # the default
    want_per = np.asarray(x) + np.eye(3)[0]  # each example alone: x_i + e_0
    np.testing.assert_allclose(per, want_per, rtol=1e-5)
    np.testing.assert_allclose(summed, np.asarray(x) + 5 * np.eye(3)[0], rtol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_every_penalty_takes_the_per_example_flag_and_defaults_to_summed(self):
    # D(x)_i = ||x_i||^2 / 2 + sum_j x_j0 couples the batch of B = 6: at points p_i the
    # summed logits (the default) give g_i = p_i + 6 e_0, each example alone p_i + e_0.
    critic = lambda x: 0.5 * jnp.sum(x ** 2, axis=1) + jnp.sum(x[:, 0])
    real, fake = 0.3 * _batch(62, (6, 3)), 0.2 * _batch(63, (6, 3))
    interp = _np_interpolates(real, fake, KEY)
    points = {'wgan_gp': interp, 'wgan_lp': interp, 'dragan': _np_dragan_points(real, KEY),
              'r1': np.asarray(real, np.float64), 'r2': np.asarray(fake, np.float64)}
    gp = lambda n: np.mean((n - 1.0) ** 2)
    reduce = {'wgan_gp': gp, 'dragan': gp,
              'wgan_lp': lambda n: np.mean(np.maximum(0.0, n - 1.0) ** 2),
              'r1': lambda n: np.mean(n ** 2), 'r2': lambda n: np.mean(n ** 2)}
    for name in LINEAR_CLOSED_FORMS:
      for per_example, shift in ((None, 6.0), (False, 6.0), (True, 1.0)):
        fn = (penalties.get(name) if per_example is None
              else penalties.get(name, per_example=per_example))
        got = self.variant(lambda r, f, fn=fn: fn(critic, r, f, KEY))(real, fake)
        norms = np.linalg.norm(points[name] + shift * np.eye(3)[0], axis=1)
        np.testing.assert_allclose(got, reduce[name](norms), rtol=1e-5,
                                   err_msg=f'{name} per_example={per_example}')


class ConditionalCriticTest(chex.TestCase):
  """D(x, y) = <w_y, x>: the gradient in x at fixed label y_i is w_{y_i}."""

  def setUp(self):
    super().setUp()
    self.w = _batch(30, (3, 5))  # one weight vector per class
    self.critic = lambda x, y: jnp.sum(self.w[y] * x, axis=-1)
    self.real, self.fake = _batch(31, (8, 5)), _batch(32, (8, 5))
    self.real_y = jnp.asarray([0, 1, 2, 0, 1, 2, 2, 2])
    self.fake_y = jnp.asarray([1, 1, 1, 0, 0, 0, 2, 1])
    self.norms = np.linalg.norm(np.asarray(self.w, np.float64), axis=1)

  @chex.variants(with_jit=True, without_jit=True)
  def test_penalties_hold_labels_fixed(self):
    real_n = self.norms[np.asarray(self.real_y)]
    fake_n = self.norms[np.asarray(self.fake_y)]
    want = {  # interpolates and DRAGAN points are judged with the real labels
        'wgan_gp': np.mean((real_n - 1) ** 2),
        'wgan_lp': np.mean(np.maximum(0, real_n - 1) ** 2),
        'dragan': np.mean((real_n - 1) ** 2),
        'r1': np.mean(real_n ** 2),
        'r2': np.mean(fake_n ** 2),
    }
    for name, value in want.items():
      fn = penalties.get(name)
      got = self.variant(lambda r, f, ry, fy, fn=fn: fn(self.critic, r, f, KEY, ry, fy))(
          self.real, self.fake, self.real_y, self.fake_y)
      np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=name)

  def test_input_gradients_are_per_label(self):
    g = penalties.input_gradients(self.critic, self.real, self.real_y)
    np.testing.assert_allclose(g, np.asarray(self.w)[np.asarray(self.real_y)], rtol=1e-6)

  def test_a_critic_called_on_one_example_gets_its_labels_with_a_batch_axis(self):
    def critic(x, y):  # concatenates one-hot labels: needs y [batch] for x [batch, 5]
      h = jnp.concatenate([x, jax.nn.one_hot(y, 3)], axis=-1)
      return jnp.sum(h[:, :5] * (h[:, 5:] @ self.w), axis=-1)
    for per_example in (False, True):
      g = penalties.input_gradients(critic, self.real, self.real_y, per_example=per_example)
      np.testing.assert_allclose(g, np.asarray(self.w)[np.asarray(self.real_y)], rtol=1e-6,
                                 err_msg=f'per_example={per_example}')


class BadInputTest(chex.TestCase):

  def test_none_is_no_penalty(self):
    self.assertIsNone(penalties.get('none'))
    self.assertEqual(penalties.names(), ['none', *LINEAR_CLOSED_FORMS])

  def test_mismatched_shapes_name_both(self):
    for name in ('wgan_gp', 'wgan_lp'):  # they pair real i with fake i
      with self.assertRaisesRegex(ValueError, r'\(4, 3\).*\(5, 3\)'):
        penalties.get(name)(_linear_critic(jnp.ones(3)), jnp.zeros((4, 3)), jnp.zeros((5, 3)),
                            KEY)

  def test_paired_shapes_that_would_broadcast_are_refused(self):
    # fake [4, 1] would broadcast against real [4, 3] into interpolates of the wrong points.
    for name in ('wgan_gp', 'wgan_lp'):
      with self.assertRaisesRegex(ValueError, r'same shape.*\(4, 3\).*\(4, 1\)'):
        penalties.get(name)(_linear_critic(jnp.ones(3)), jnp.zeros((4, 3)), jnp.zeros((4, 1)),
                            KEY)

  def test_unpaired_penalties_take_batches_of_any_size(self):
    # R1, R2 and DRAGAN each read one batch: D(x) = 0.5 ||x||^2 has g_i = x_i.
    real, fake = _batch(0, (4, 3)), _batch(1, (6, 3))
    sq = lambda x: np.mean(np.sum(np.square(np.asarray(x, np.float64)), axis=1))
    r1, r2, dragan = jax.jit(lambda real, fake: (  # one program
        penalties.r1_penalty(_half_square_critic, real, fake),
        penalties.r2_penalty(_half_square_critic, real, fake),
        penalties.dragan_penalty(_half_square_critic, real, fake, KEY)))(real, fake)
    np.testing.assert_allclose(r1, sq(real), rtol=1e-6)
    np.testing.assert_allclose(r2, sq(fake), rtol=1e-6)
    np.testing.assert_allclose(dragan, _np_half_square_gp(_np_dragan_points(real, KEY)),
                               rtol=1e-5)

  def test_an_empty_batch_is_named(self):
    for name in LINEAR_CLOSED_FORMS:
      with self.assertRaisesRegex(ValueError, r'at least one example .*got x of shape '
                                  r'\(0, 3\)'):
        penalties.get(name)(_half_square_critic, jnp.zeros((0, 3)), jnp.zeros((0, 3)), KEY)

  def test_a_scalar_without_a_batch_axis_is_named(self):
    for name in ('r1', 'r2'):
      with self.assertRaisesRegex(ValueError, r'at least one example .*got x of shape \(\)'):
        penalties.get(name)(_half_square_critic, jnp.zeros(()), jnp.zeros(()), KEY)

  def test_integer_data_are_taken_as_float32(self):
    # uint8 images (0..255): every penalty takes them, R1 and R2 as WGAN-GP and DRAGAN
    # do. D(x) = 0.5 ||x||^2 has g_i = x_i: R1 = E ||x_i||^2, exact in NumPy.
    x = np.random.default_rng(3).integers(0, 256, (4, 6)).astype(np.uint8)
    want = np.mean(np.sum(x.astype(np.float64) ** 2, axis=1))

    @jax.jit  # one program: every penalty and the input gradients of the uint8 data
    def penalties_and_gradients(x):
      return ({name: penalties.get(name)(_half_square_critic, x, x, KEY)
               for name in ('r1', 'r2', 'wgan_gp', 'wgan_lp', 'dragan')},
              penalties.input_gradients(_half_square_critic, x, per_example=True))
    values, g = penalties_and_gradients(x)
    for name in ('r1', 'r2'):
      got = values[name]
      self.assertEqual(got.dtype, jnp.float32, name)
      np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=name)
    self.assertEqual(g.dtype, jnp.float32)
    np.testing.assert_array_equal(g, x.astype(np.float32))
    for name in ('wgan_gp', 'wgan_lp', 'dragan'):
      self.assertTrue(np.isfinite(values[name]), name)

  def test_bfloat16_points_are_drawn_in_float32(self):
    # The same key gives the same eps, u and alpha for bfloat16 data as for float32 ones
    # (NumPy's reference draws in float32), and the points keep float32's precision.
    real, fake = (_batch(s, (64, 3)).astype(jnp.bfloat16) for s in (0, 1))

    @jax.jit  # one program: both kinds of points and the gradient penalty
    def points_and_penalty(real, fake):
      return (penalties.interpolates(real, fake, KEY), penalties.dragan_points(real, KEY),
              penalties.gradient_penalty(_half_square_critic, real, fake, KEY))
    interp, dragan, gp = points_and_penalty(real, fake)
    self.assertEqual(interp.dtype, jnp.float32)
    np.testing.assert_allclose(interp, _np_interpolates(real, fake, KEY), rtol=1e-5,
                               atol=1e-6)
    self.assertEqual(dragan.dtype, jnp.float32)
    np.testing.assert_allclose(dragan, _np_dragan_points(real, KEY), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gp, _np_half_square_gp(_np_interpolates(real, fake, KEY)),
                               rtol=1e-5)

  def test_float64_critic_gives_float64_penalties(self):
    with jax.enable_x64(True):
      real = jnp.asarray(np.random.default_rng(0).normal(size=(5, 3)))
      want = np.mean(np.sum(np.square(np.asarray(real)), axis=1))

      @jax.jit  # one program: R1, R2 and the gradient penalty
      def values(real):
        return ({name: penalties.get(name)(_half_square_critic, real, real, KEY)
                 for name in ('r1', 'r2')},
                penalties.gradient_penalty(_half_square_critic, real, real + 1.0, KEY))
      got, gp = values(real)
      for name in ('r1', 'r2'):
        self.assertEqual(got[name].dtype, jnp.float64, name)
        np.testing.assert_allclose(got[name], want, rtol=1e-13, err_msg=name)
      self.assertEqual(gp.dtype, jnp.float64)

  def test_data_range_may_be_a_list(self):
    # What a JSON or YAML config gives: [low, high].
    real = jnp.clip(_batch(18, (32, 4, 4, 1)), -1.0, 1.0)
    want = _np_dragan_points(real, KEY, data_range=(-1.0, 1.0))
    pts = penalties.dragan_points(real, KEY, data_range=[-1.0, 1.0])
    np.testing.assert_allclose(np.asarray(pts, np.float64), want, rtol=1e-5, atol=1e-6)
    fn = penalties.get('dragan', data_range=[-1.0, 1.0])
    np.testing.assert_allclose(fn(_half_square_critic, real, real, KEY),
                               _np_half_square_gp(want), rtol=1e-5)

  def test_data_range_takes_numpy_numbers(self):
    low, high = np.float32(-1), np.float32(1)
    pts = penalties.dragan_points(_batch(0, (8, 3)) * 3.0, KEY, data_range=(low, high))
    self.assertLessEqual(float(jnp.max(jnp.abs(pts))), 1.0)
    penalties.get('dragan', data_range=(low, high))
    with self.assertRaisesRegex(TypeError, 'data_range must be None'):
      penalties.get('dragan', data_range=(np.bool_(False), np.bool_(True)))

  @chex.variants(with_jit=True, without_jit=True)
  def test_zero_input_gradient_has_finite_parameter_gradient(self):
    # D(x) = <w, x> + b with w = 0 has input gradient 0 everywhere: WGAN-GP and DRAGAN are
    # exactly (0 - 1)^2 = 1, WGAN-LP 0, and (safe_norm) their gradients in w are finite.
    w = jnp.zeros(5)
    real, fake = _batch(50, (8, 5)), _batch(51, (8, 5))
    np.testing.assert_array_equal(penalties.gradient_norms(_linear_critic(w), real), np.zeros(8))
    for name, want in (('wgan_gp', 1.0), ('wgan_lp', 0.0), ('dragan', 1.0)):
      fn = penalties.get(name)
      value, grad = self.variant(jax.value_and_grad(
          lambda w, fn=fn: fn(_linear_critic(w), real, fake, KEY)))(w)
      np.testing.assert_allclose(value, want, rtol=1e-7, atol=1e-7, err_msg=name)
      chex.assert_tree_all_finite(grad)

  def test_bfloat16_data_give_float32_r1_r2_and_norms(self):
    # D(x) = 0.5 ||x||^2 has g_i = x_i, exact in bfloat16; the squares are summed in float32.
    x = _batch(64, (8, 64)).astype(jnp.bfloat16)
    x64 = np.asarray(x.astype(jnp.float32), np.float64)  # the bfloat16 values, exactly
    want = np.mean(np.sum(x64 ** 2, axis=1))
    values, norms = jax.jit(lambda x: (  # one program
        {name: penalties.get(name)(_half_square_critic, x, x, KEY) for name in ('r1', 'r2')},
        penalties.gradient_norms(_half_square_critic, x)))(x)
    for name in ('r1', 'r2'):
      got = values[name]
      self.assertEqual(got.dtype, jnp.float32, name)
      np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=name)
    self.assertEqual(norms.dtype, jnp.float32)
    np.testing.assert_allclose(norms, np.linalg.norm(x64, axis=1), rtol=1e-5)

  def test_float32_data_stay_float32_with_x64_enabled(self):
    with jax.enable_x64(True):
      real, fake = _batch(0, (5, 3)), _batch(1, (5, 3))

      @jax.jit  # one program: the points and every penalty
      def points_and_penalties(real, fake):
        return (penalties.interpolates(real, fake, KEY), penalties.dragan_points(real, KEY),
                {name: penalties.get(name)(_half_square_critic, real, fake, KEY)
                 for name in LINEAR_CLOSED_FORMS})
      interp, dragan, values = points_and_penalties(real, fake)
      self.assertEqual(interp.dtype, jnp.float32)
      self.assertEqual(dragan.dtype, jnp.float32)
      for name in LINEAR_CLOSED_FORMS:
        self.assertEqual(values[name].dtype, jnp.float32, name)

  def test_interpolates_of_float32_and_float64_data_are_float64(self):
    with jax.enable_x64(True):
      fine = np.full((5, 3), 1.0 + 2.0 ** -40)  # not a float32 number
      for real, fake in ((np.zeros((5, 3), np.float32), fine),
                         (fine, np.zeros((5, 3), np.float32))):
        got = penalties.interpolates(jnp.asarray(real), jnp.asarray(fake), KEY)
        self.assertEqual(got.dtype, jnp.float64)
        np.testing.assert_allclose(got, _np_interpolates(real, fake, KEY), rtol=1e-15)

  def test_data_range_must_be_two_increasing_real_numbers(self):
    real = _batch(0, (8, 3))
    for bad in ((1.0, 1.0), (False, True), (-1.0, 0.0, 1.0), [1.0, -1.0]):
      message = r'data_range must be None or \(low, high\) with low < high'
      with self.assertRaisesRegex(TypeError, message, msg=repr(bad)):
        penalties.get('dragan', data_range=bad)
      # Called directly, not only through get.
      with self.assertRaisesRegex(TypeError, message, msg=repr(bad)):
        penalties.dragan_points(real, KEY, data_range=bad)
      with self.assertRaisesRegex(TypeError, message, msg=repr(bad)):
        penalties.dragan_penalty(_half_square_critic, real, real, KEY, data_range=bad)

  def test_data_range_of_complex_numbers_is_refused_with_the_message(self):
    # Real numbers only: a complex endpoint is refused by the check, not by a failed
    # comparison later.
    for bad in ((0j, 1.0), (-1.0, 1 + 0j)):
      with self.assertRaisesRegex(TypeError, r'data_range must be None or \(low, high\)',
                                  msg=repr(bad)):
        penalties.get('dragan', data_range=bad)

  def test_critic_with_wrong_output_shape(self):
    critic = lambda x: jnp.concatenate([x, x], 1)[:, :2]
    for per_example, shape in ((False, r'batch of 4 it returned shape \(4, 2\)'),
                               (True, r'batch of 1 it returned shape \(1, 2\)')):
      with self.assertRaisesRegex(ValueError, f'critic_fn must map .*{shape}'):
        penalties.r1_penalty(critic, jnp.zeros((4, 3)), jnp.zeros((4, 3)), KEY,
                             per_example=per_example)

  def test_bad_values_fail_at_get(self):
    for spec, message in (
        ('dragan(scale="x")', "scale must be a number .*got 'x'"),
        ('dragan(scale=True)', 'scale must be a number .*got True'),  # not silently 1
        ('dragan(one_sided="False")', "one_sided must be a bool .*got 'False'"),  # not true
        ('r1(per_example=1)', 'per_example must be a bool .*got 1'),
        ('dragan(data_range=1)', r'data_range must be None or \(low, high\).*got 1'),
        ('dragan(data_range=(1, -1))', r'low < high.*got \(1, -1\)')):
      with self.assertRaisesRegex(TypeError, message):
        penalties.get(spec)
    # per_example written in the name is taken once (the train step's build adds nothing).
    self.assertEqual(penalties.get('r1(per_example=True)').keywords, {'per_example': True})

  def test_r2_of_a_conditional_critic_needs_fake_cond(self):
    critic = lambda x, y: jnp.sum(x, axis=1) * (1.0 + y)
    x, y = jnp.ones((2, 3)), jnp.zeros(2)
    with self.assertRaisesRegex(ValueError, 'r2_penalty of a conditional critic .*needs '
                                'fake_cond'):
      penalties.r2_penalty(critic, x, x, KEY, real_cond=y)
    np.testing.assert_allclose(penalties.r2_penalty(critic, x, x, KEY, y, y), 3.0)

  def test_unknown_name_and_hparam(self):
    with self.assertRaisesRegex(ValueError, 'gp.*none, wgan_gp, wgan_lp, dragan, r1, r2'):
      penalties.get('gp')
    with self.assertRaisesRegex(TypeError, 'gamma.*it takes: per_example'):
      penalties.get('r1', gamma=10.0)
    with self.assertRaisesRegex(TypeError, 'alpha.*it takes: per_example, scale, data_range'):
      penalties.get('dragan(alpha=1.0)')


if __name__ == '__main__':
  absltest.main()
