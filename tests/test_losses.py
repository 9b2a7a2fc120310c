"""Tests of jaxgan.losses against independent NumPy references (the formulas of README.md,
"Objectives and penalties")."""

import re
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import test_util as jtu

from jaxgan import losses


def _sp(t):
  """softplus in float64 NumPy, stable for large |t|."""
  return np.logaddexp(0.0, t)


def _relu(t):
  return np.maximum(t, 0.0)


# NumPy references written from the contract table, one pair per objective.
NUMPY_REFERENCES: dict[str, tuple[Callable, Callable]] = {
    'minimax': (lambda r, f: _sp(-r).mean() + _sp(f).mean(),
                lambda r, f: -_sp(f).mean()),
    'non_saturating': (lambda r, f: _sp(-r).mean() + _sp(f).mean(),
                       lambda r, f: _sp(-f).mean()),
    'least_squares': (lambda r, f: 0.5 * ((r - 1) ** 2).mean() + 0.5 * (f ** 2).mean(),
                      lambda r, f: 0.5 * ((f - 1) ** 2).mean()),
    'wasserstein': (lambda r, f: f.mean() - r.mean(),
                    lambda r, f: -f.mean()),
    'hinge': (lambda r, f: _relu(1 - r).mean() + _relu(1 + f).mean(),
              lambda r, f: -f.mean()),
    'hinge_v1': (lambda r, f: _relu(1 - r).mean() + _relu(1 + f).mean(),
                 lambda r, f: _relu(1 - f).mean()),
    'rsgan': (lambda r, f: _sp(-(r - f)).mean(),
              lambda r, f: _sp(-(f - r)).mean()),
    'rasgan': (lambda r, f: _sp(-(r - f.mean())).mean() + _sp(f - r.mean()).mean(),
               lambda r, f: _sp(-(f - r.mean())).mean() + _sp(r - f.mean()).mean()),
    'ralsgan': (lambda r, f: ((r - f.mean() - 1) ** 2).mean() + ((f - r.mean() + 1) ** 2).mean(),
                lambda r, f: ((f - r.mean() - 1) ** 2).mean() + ((r - f.mean() + 1) ** 2).mean()),
    'rahinge': (lambda r, f: _relu(1 - (r - f.mean())).mean() + _relu(1 + (f - r.mean())).mean(),
                lambda r, f: _relu(1 - (f - r.mean())).mean() + _relu(1 + (r - f.mean())).mean()),
}

RELATIVISTIC = ('rsgan', 'rasgan', 'ralsgan', 'rahinge')


def _sig(t):
  """The logistic sigmoid in float64 NumPy, d softplus(t)/dt."""
  return 0.5 * (1.0 + np.tanh(0.5 * t))


def _no_real(f):
  return lambda r, f_: (np.zeros_like(r), f(f_))


def _ra(core):
  """(D, G) gradients of an average-relativistic pair from the gradients of its core.

  ``core(x, y)`` returns (d/dx, d/dy) of ``L(x, y)``; ``L_D = L(r, f)`` and
  ``L_G = L(f, r)``, so the generator's (d/dr, d/df) is the core's swapped.
  """
  return (lambda r, f: core(r, f), lambda r, f: core(f, r)[::-1])


def _rasgan_core(x, y):
  # L = E_i softplus(E y - x_i) + E_j softplus(y_j - E x): the batch means add cross terms.
  p, q = _sig(y.mean() - x), _sig(y - x.mean())
  return -(p + q.mean()) / x.size, (p.mean() + q) / y.size


def _ralsgan_core(x, y):
  # L = E_i (x_i - E y - 1)^2 + E_j (y_j - E x + 1)^2.
  u, v = x - y.mean() - 1.0, y - x.mean() + 1.0
  return 2.0 * (u - v.mean()) / x.size, 2.0 * (v - u.mean()) / y.size


def _rahinge_core(x, y):
  # L = E_i relu(1 - x_i + E y) + E_j relu(1 + y_j - E x); relu' is the step (off the kinks).
  p, q = (1.0 - x + y.mean() > 0).astype(float), (1.0 + y - x.mean() > 0).astype(float)
  return -(p + q.mean()) / x.size, (p.mean() + q) / y.size


# Gradients written by hand from the same table: NUMPY_GRADIENTS[name] = (D, G), each a
# function of float64 (r, f) returning (d loss / d r, d loss / d f). n = r.size, m = f.size.
NUMPY_GRADIENTS: dict[str, tuple[Callable, Callable]] = {
    'minimax': (lambda r, f: (-_sig(-r) / r.size, _sig(f) / f.size),
                _no_real(lambda f: -_sig(f) / f.size)),
    'non_saturating': (lambda r, f: (-_sig(-r) / r.size, _sig(f) / f.size),
                       _no_real(lambda f: -_sig(-f) / f.size)),
    'least_squares': (lambda r, f: ((r - 1.0) / r.size, f / f.size),
                      _no_real(lambda f: (f - 1.0) / f.size)),
    'wasserstein': (lambda r, f: (np.full_like(r, -1.0 / r.size), np.full_like(f, 1.0 / f.size)),
                    _no_real(lambda f: np.full_like(f, -1.0 / f.size))),
    'hinge': (lambda r, f: (-1.0 * (r < 1.0) / r.size, 1.0 * (f > -1.0) / f.size),
              _no_real(lambda f: np.full_like(f, -1.0 / f.size))),
    'hinge_v1': (lambda r, f: (-1.0 * (r < 1.0) / r.size, 1.0 * (f > -1.0) / f.size),
                 _no_real(lambda f: -1.0 * (f < 1.0) / f.size)),
    # Paired: L_D = E softplus(f_i - r_i), L_G = E softplus(r_i - f_i).
    'rsgan': (lambda r, f: (-_sig(f - r) / r.size, _sig(f - r) / r.size),
              lambda r, f: (_sig(r - f) / r.size, -_sig(r - f) / r.size)),
    'rasgan': _ra(_rasgan_core),
    'ralsgan': _ra(_ralsgan_core),
    'rahinge': _ra(_rahinge_core),
}


def _hinge_margins(r: np.ndarray, f: np.ndarray) -> np.ndarray:
  """Every argument at which a hinge of the table kinks; keep them away from 0."""
  return np.concatenate([1 - r, 1 + f, 1 - f, 1 - r + f.mean(), 1 + f - r.mean(),
                         1 - f + r.mean(), 1 + r - f.mean()])


def _logits(seed: int, batch: int = 16, scale: float = 2.0) -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(seed)
  return (rng.normal(size=batch) * scale).astype(np.float32), \
         (rng.normal(size=batch) * scale).astype(np.float32)


class _ObjectiveTest(chex.TestCase):
  """The checks of one objective (its two losses); subclassed once per objective below."""
  __test__ = False  # only the subclasses run
  NAME = ''

  def setUp(self):
    super().setUp()
    self.objective = losses.get(self.NAME)
    self.np_d, self.np_g = NUMPY_REFERENCES[self.NAME]

  def _pairs(self):
    """(jaxgan loss, NumPy reference) for the discriminator and the generator."""
    return ((self.objective.discriminator_loss, self.np_d),
            (self.objective.generator_loss, self.np_g))

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((0, False), (1, True), (2, False), (3, True))
  def test_matches_numpy(self, seed, column):
    r, f = _logits(seed)
    args = (r[:, None], f[:, None]) if column else (r, f)
    d = self.variant(self.objective.discriminator_loss)(*args)
    g = self.variant(self.objective.generator_loss)(*args)
    chex.assert_shape((d, g), ())
    np.testing.assert_allclose(d, self.np_d(r.astype(np.float64), f.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, self.np_g(r.astype(np.float64), f.astype(np.float64)),
                               rtol=1e-5, atol=1e-6)

  def test_jit_equals_numpy_at_extreme_logits(self):
    r = np.array([100.0, -100.0, 0.0, 50.0], np.float32)
    f = np.array([-100.0, 100.0, 3.0, -50.0], np.float32)
    for fn, ref in self._pairs():
      value = jax.jit(fn)(r, f)
      grads = jax.jit(jax.grad(fn, argnums=(0, 1)))(r, f)
      self.assertTrue(np.isfinite(value))
      chex.assert_tree_all_finite(grads)
      np.testing.assert_allclose(value, ref(r.astype(np.float64), f.astype(np.float64)),
                                 rtol=1e-5)

  def test_check_grads(self):
    r, f = _logits(7, batch=6, scale=0.7)
    for fn in (self.objective.discriminator_loss, self.objective.generator_loss):
      jtu.check_grads(fn, (jnp.asarray(r), jnp.asarray(f)), order=2, modes=['rev'],
                      eps=1e-2, atol=2e-2, rtol=2e-2)

  @parameterized.parameters((2, 8, 8), (5, 9, 6))  # seeds whose logits miss every kink
  def test_gradients_match_numpy_closed_form(self, seed, n, m):
    # Different batch sizes separate the 1/n of real terms from the 1/m of fake ones.
    if self.NAME == 'rsgan':
      m = n
    rng = np.random.default_rng(seed)
    r = (rng.normal(size=n) * 1.5).astype(np.float32)
    f = (rng.normal(size=m) * 1.5).astype(np.float32)
    r64, f64 = r.astype(np.float64), f.astype(np.float64)
    self.assertGreater(np.abs(_hinge_margins(r64, f64)).min(), 1e-2)  # off every kink
    np_d, np_g = NUMPY_GRADIENTS[self.NAME]
    for which, fn, ref in (('D', self.objective.discriminator_loss, np_d),
                           ('G', self.objective.generator_loss, np_g)):
      grads = jax.jit(jax.grad(fn, argnums=(0, 1)))(r, f)
      expected = ref(r64, f64)
      for arg, got, want in zip(('real', 'fake'), grads, expected, strict=True):
        self.assertEqual(got.shape, want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6,
                                   err_msg=f'{self.NAME} d{which}/d{arg}')

  def test_gradients_push_the_right_way(self):
    # Between the least-squares labels (a=0 < logits < b=c=1) every hinge is active and
    # every objective has a strict direction.
    rng = np.random.default_rng(11)
    r = jnp.asarray(rng.uniform(0.2, 0.6, 8), jnp.float32)
    f = jnp.asarray(rng.uniform(0.2, 0.6, 8), jnp.float32)
    d_r, d_f = jax.grad(self.objective.discriminator_loss, argnums=(0, 1))(r, f)
    g_f = jax.grad(self.objective.generator_loss, argnums=1)(r, f)
    self.assertTrue(np.all(d_r < 0), f'D must raise real logits: {d_r}')
    self.assertTrue(np.all(d_f > 0), f'D must lower fake logits: {d_f}')
    self.assertTrue(np.all(g_f < 0), f'G must raise fake logits: {g_f}')

  def test_vmap_equals_loop(self):
    rng = np.random.default_rng(5)
    r = jnp.asarray(rng.normal(size=(4, 10)), jnp.float32)
    f = jnp.asarray(rng.normal(size=(4, 10)), jnp.float32)
    for fn in (self.objective.discriminator_loss, self.objective.generator_loss):
      batched = jax.vmap(fn)(r, f)
      looped = jnp.stack([fn(r[k], f[k]) for k in range(4)])
      chex.assert_trees_all_close(batched, looped, rtol=1e-6)

  def test_bfloat16(self):
    r, f = _logits(3, scale=1.0)
    for fn, ref in self._pairs():
      value = jax.jit(fn)(jnp.asarray(r, jnp.bfloat16), jnp.asarray(f, jnp.bfloat16))
      self.assertEqual(value.dtype, jnp.bfloat16)
      np.testing.assert_allclose(float(value), ref(r.astype(np.float64), f.astype(np.float64)),
                                 rtol=3e-2, atol=3e-2)
      extreme = jnp.asarray([100.0, -100.0], jnp.bfloat16)
      self.assertTrue(np.isfinite(float(fn(extreme, -extreme))))
      # Integer logits give float32 (the module docstring).
      self.assertEqual(fn(jnp.asarray([1, -2]), jnp.asarray([0, 3])).dtype, jnp.float32)
      chex.assert_tree_all_finite(jax.grad(fn, argnums=(0, 1))(extreme, -extreme))

  def test_bad_shapes_name_the_shape(self):
    good = jnp.zeros(4)
    for bad in (jnp.zeros((4, 2)), jnp.zeros((4, 1, 1)), jnp.zeros(())):
      with self.assertRaisesRegex(ValueError, r'fake_logits.*' + str(bad.shape).replace(
          '(', r'\(').replace(')', r'\)')):
        self.objective.generator_loss(good, bad)
      with self.assertRaisesRegex(ValueError, r'real_logits'):
        self.objective.discriminator_loss(bad, good)

  def test_empty_batch_is_an_error_not_nan(self):
    for empty in (jnp.zeros(0), jnp.zeros((0, 1))):
      with self.assertRaisesRegex(ValueError, r'fake_logits is an empty batch'):
        self.objective.generator_loss(jnp.zeros(4), empty)
      with self.assertRaisesRegex(ValueError, r'real_logits is an empty batch'):
        self.objective.discriminator_loss(empty, jnp.zeros(4))


class MinimaxTest(_ObjectiveTest):
  __test__ = True
  NAME = 'minimax'


class NonSaturatingTest(_ObjectiveTest):
  __test__ = True
  NAME = 'non_saturating'


class LeastSquaresTest(_ObjectiveTest):
  __test__ = True
  NAME = 'least_squares'


class WassersteinTest(_ObjectiveTest):
  __test__ = True
  NAME = 'wasserstein'


class HingeTest(_ObjectiveTest):
  __test__ = True
  NAME = 'hinge'


class HingeV1Test(_ObjectiveTest):
  __test__ = True
  NAME = 'hinge_v1'


class RsganTest(_ObjectiveTest):
  __test__ = True
  NAME = 'rsgan'


class RasganTest(_ObjectiveTest):
  __test__ = True
  NAME = 'rasgan'


class RalsganTest(_ObjectiveTest):
  __test__ = True
  NAME = 'ralsgan'


class RahingeTest(_ObjectiveTest):
  __test__ = True
  NAME = 'rahinge'


class RegistryTest(chex.TestCase):

  def test_names_are_the_contract(self):
    self.assertEqual(losses.names(), list(NUMPY_REFERENCES))
    self.assertEqual([c.NAME for c in _ObjectiveTest.__subclasses__()], losses.names())

  def test_aliases_are_the_same_functions(self):
    # optax style: a loss serving two objectives is one function object, not a wrapper.
    self.assertIs(losses.non_saturating_discriminator_loss, losses.minimax_discriminator_loss)
    self.assertIs(losses.hinge_v1_discriminator_loss, losses.hinge_discriminator_loss)
    self.assertIs(losses.hinge_generator_loss, losses.wasserstein_generator_loss)
    self.assertIs(losses.get('hinge_v1').discriminator_loss, losses.hinge_discriminator_loss)

  def test_inline_spec_binds_hyperparameters(self):
    r, f = _logits(8)
    r64, f64 = r.astype(np.float64), f.astype(np.float64)
    inline = losses.get('least_squares(a=-1.0, b=1.0, c=0.0)')
    keyword = losses.get('least_squares', a=-1.0, b=1.0, c=0.0)
    for obj in (inline, keyword):
      np.testing.assert_allclose(obj.discriminator_loss(r, f),
                                 0.5 * ((r64 - 1.0) ** 2).mean() + 0.5 * ((f64 + 1.0) ** 2).mean(),
                                 rtol=1e-5)
      # L_G = scale * E (f - c)^2 with c = 0.
      np.testing.assert_allclose(obj.generator_loss(r, f), 0.5 * (f64 ** 2).mean(), rtol=1e-5)
    with self.assertRaisesRegex(TypeError, 'a given twice'):
      losses.get('least_squares(a=-1.0)', a=0.0)
    with self.assertRaisesRegex(TypeError, r"'least_squares\(a=-1.0, a=2.0\)': a given twice"):
      losses.get('least_squares(a=-1.0, a=2.0)')  # not the last one silently
    with self.assertRaisesRegex(ValueError, 'Cannot read'):
      losses.get('least_squares(a=b)')
    with self.assertRaisesRegex(ValueError, 'Cannot read'):
      losses.get('least_squares(**{"a": 1.0})')
    # A value of another type than its default fails at get, not inside the traced step.
    with self.assertRaisesRegex(TypeError, "least_squares': a must be a number .*got 'x'"):
      losses.get('least_squares(a="x")')
    for ok in (0, 0.5, np.float32(1.0), jnp.asarray(2.0)):  # numbers and numeric arrays
      obj = losses.get('least_squares', a=ok)
      a = float(ok)
      np.testing.assert_allclose(obj.discriminator_loss(r, f),
                                 0.5 * ((r64 - 1.0) ** 2).mean() + 0.5 * ((f64 - a) ** 2).mean(),
                                 rtol=1e-5, err_msg=f'a={ok!r}')
      # a is the discriminator's fake label only: the generator keeps c = 1.
      np.testing.assert_allclose(obj.generator_loss(r, f), 0.5 * ((f64 - 1.0) ** 2).mean(),
                                 rtol=1e-5, err_msg=f'a={ok!r}')
    # A name that is not a string (an unset config field) is the same clear error.
    for spec in (None, 3):
      with self.assertRaisesRegex(ValueError, f'Cannot read {spec}: write a name as a string'):
        losses.get(spec)

  def test_unknown_name_lists_valid_names(self):
    with self.assertRaisesRegex(ValueError, 'nonsaturating.*non_saturating.*rahinge'):
      losses.get('nonsaturating')

  def test_unknown_hparam_is_type_error_naming_it(self):
    with self.assertRaisesRegex(TypeError,
                                "'hinge' has no argument.*margin; it takes no arguments.$"):
      losses.get('hinge', margin=2.0)
    with self.assertRaisesRegex(TypeError, 'd.*it takes: a, b, c, scale'):
      losses.get('least_squares', d=1.0)

  @chex.variants(with_jit=True, without_jit=True)
  def test_least_squares_hparams(self):
    # Pearson chi^2 labels a=-1, b=1, c=0, and plain MSE (scale 1).
    r, f = _logits(9)
    obj = losses.get('least_squares', a=-1.0, b=1.0, c=0.0, scale=1.0)
    np.testing.assert_allclose(self.variant(obj.discriminator_loss)(r, f),
                               ((r - 1.0) ** 2).mean() + ((f + 1.0) ** 2).mean(), rtol=1e-5)
    np.testing.assert_allclose(self.variant(obj.generator_loss)(r, f), (f ** 2).mean(),
                               rtol=1e-5)
    self.assertEqual(losses.hyperparameters('least_squares'),
                     {'a': 0.0, 'b': 1.0, 'c': 1.0, 'scale': 0.5})

  def test_least_squares_per_example_labels(self):
    # Soft labels per example, of the logits' [B] or [B, 1] layout: [B, 1] labels against
    # logits flattened to [B] broadcast to [B, B], a wrong loss with no error.
    r, f = _logits(10)
    b = np.linspace(0.8, 1.0, len(r)).astype(np.float32)
    obj = losses.get('least_squares', b=b)
    np.testing.assert_allclose(obj.discriminator_loss(r[:, None], f),
                               0.5 * ((r - b) ** 2).mean() + 0.5 * (f ** 2).mean(), rtol=1e-5)
    for kwargs in ({'b': b[:, None]}, {'a': b[:3]}, {'c': b[:, None]}):
      name = next(iter(kwargs))
      obj = losses.get('least_squares', **kwargs)
      shape = re.escape(str(kwargs[name].shape))
      with self.assertRaisesRegex(ValueError, rf'Label {name} must be a scalar or of shape '
                                  rf'\({len(r)},\).*got shape {shape}'):
        (obj.generator_loss if name == 'c' else obj.discriminator_loss)(r, f)
    # Real and fake batches of different sizes: each label has its own side's shape.
    a = np.float32([0.1, -0.2])
    got = losses.get('least_squares', a=a, b=b).discriminator_loss(r, f[:2])
    np.testing.assert_allclose(got, 0.5 * ((r - b) ** 2).mean() + 0.5 * ((f[:2] - a) ** 2).mean(),
                               rtol=1e-5)
    with self.assertRaisesRegex(ValueError, r'Label a must be a scalar or of shape \(2,\)'):
      losses.get('least_squares', a=b).discriminator_loss(r, f[:2])

  def test_a_one_element_label_is_not_a_scalar(self):
    # Shape (1,) would broadcast like a scalar; the contract allows () or the batch's shape.
    r, f = _logits(10)
    for name in ('a', 'b', 'c'):
      obj = losses.get('least_squares', **{name: np.float32([0.5])})
      with self.assertRaisesRegex(ValueError, rf'Label {name} must be a scalar or of shape '
                                  rf'\({len(r)},\).*got shape \(1,\)'):
        (obj.generator_loss if name == 'c' else obj.discriminator_loss)(r, f)

  def test_a_numpy_float64_hyperparameter_promotes_bfloat16_logits_to_float32(self):
    # JAX's promotion, as the module docstring says: a Python number is weakly typed (the
    # logits keep bfloat16), a NumPy float64 is not (float32 without x64, float64 with).
    r, f = (jnp.asarray(v, jnp.bfloat16) for v in _logits(3, scale=1.0))
    for scale, dtype in ((0.5, jnp.bfloat16),
                         (np.float64(0.5), jax.dtypes.canonicalize_dtype(np.float64))):
      obj = losses.get('least_squares', scale=scale)
      self.assertEqual(jax.jit(obj.discriminator_loss)(r, f).dtype, dtype, scale)
      self.assertEqual(jax.jit(obj.generator_loss)(r, f).dtype, dtype, scale)

  def test_general_form(self):
    # D maximizes E g(r) + E g(-f): g = -softplus(-t) (minimax), t (WGAN), -relu(1-t) (hinge).
    r, f = _logits(4)
    for name, g in (('minimax', lambda t: -_sp(-t)), ('wasserstein', lambda t: t),
                    ('hinge', lambda t: -_relu(1 - t))):
      value = losses.get(name).discriminator_loss(r, f)
      np.testing.assert_allclose(value, -(g(r).mean() + g(-f).mean()), rtol=1e-5, atol=1e-6)

  def test_unpaired_batches(self):
    # Non-paired objectives accept different real and fake batch sizes; RSGAN does not.
    r, f = jnp.zeros(4), jnp.ones(6)
    # E relu(1 - 0) + E relu(1 + 1) = 1 + 2, exactly.
    self.assertEqual(float(losses.get('hinge').discriminator_loss(r, f)), 3.0)
    rng = np.random.default_rng(6)
    r5 = rng.normal(size=5).astype(np.float32)
    f7 = rng.normal(size=7).astype(np.float32)
    for name in losses.names():
      if name == 'rsgan':
        continue
      obj = losses.get(name)
      for fn, ref in zip((obj.discriminator_loss, obj.generator_loss), NUMPY_REFERENCES[name],
                         strict=True):
        np.testing.assert_allclose(fn(r5, f7), ref(r5.astype(np.float64), f7.astype(np.float64)),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    with self.assertRaisesRegex(ValueError, r'\(4,\).*\(6,\)'):
      losses.get('rsgan').discriminator_loss(r, f)

  def test_paired_objective_rejects_every_batch_mismatch(self):
    # RSGAN pairs real_logits[i] with fake_logits[i] in both of its losses: batches of
    # different sizes are an error in either order, even where they would broadcast (1).
    obj = losses.get('rsgan')
    for n, m in ((4, 6), (6, 4), (4, 1), (1, 4)):
      for fn in (obj.discriminator_loss, obj.generator_loss):
        with self.assertRaisesRegex(ValueError, rf'pairs real_logits.*\({n},\).*\({m},\)'):
          fn(jnp.zeros(n), jnp.zeros(m))

  def test_relativistic_generator_depends_on_real_logits(self):
    r, f = _logits(2)
    r64, f64 = r.astype(np.float64), f.astype(np.float64)
    self.assertGreater(np.abs(_hinge_margins(r64, f64)).min(), 1e-2)  # off every kink
    for name in RELATIVISTIC:
      g_r = jax.grad(losses.get(name).generator_loss)(jnp.asarray(r), jnp.asarray(f))
      want = NUMPY_GRADIENTS[name][1](r64, f64)[0]
      self.assertGreater(np.abs(want).min(), 1e-3, name)  # every real logit matters to G
      np.testing.assert_allclose(g_r, want, rtol=1e-5, atol=1e-6, err_msg=name)


if __name__ == '__main__':
  absltest.main()
