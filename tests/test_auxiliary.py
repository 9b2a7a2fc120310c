"""Tests of jaxgan.auxiliary against NumPy references written from the papers' formulas."""

import math
import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import test_util as jtu

from jaxgan import auxiliary, registry

LOG_2PI = math.log(2 * math.pi)


def np_log_softmax(logits):
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def np_ce(logits, labels):
  """-E log softmax(l)[y], by hand in float64."""
  return -np_log_softmax(logits)[np.arange(len(labels)), labels].mean()


def np_gaussian_nll(x, mean, log_std=None):
  """E_b sum_j [log(2 pi)/2 + log s + (x - mu)^2 / (2 s^2)]."""
  x, mean = np.asarray(x, np.float64), np.asarray(mean, np.float64)
  log_std = np.zeros_like(x) if log_std is None else np.asarray(log_std, np.float64)
  per_dim = 0.5 * LOG_2PI + log_std + (x - mean) ** 2 / (2 * np.exp(2 * log_std))
  return per_dim.sum(axis=1).mean()


def _logits(seed, batch=8, k=5, scale=2.0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=(batch, k)) * scale).astype(np.float32), \
      rng.integers(0, k, batch).astype(np.int32)


def _continuous(seed, batch=8, n=3):
  rng = np.random.default_rng(seed)
  return tuple(rng.normal(size=(batch, n)).astype(np.float32) * s for s in (1.0, 1.0, 0.5))


def _infogan_batch(seed, batch=8, k=10, n=2, log_std=False):
  logits, cat = _logits(seed, batch, k)
  codes_cont, mean, ls = _continuous(seed + 100, batch, n)
  heads = {'categorical_logits': logits, 'continuous_mean': mean}
  if log_std:
    heads['continuous_log_std'] = ls
  return heads, {'categorical': cat, 'continuous': codes_cont}


class ClassificationLossTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((0, 8, 5), (1, 3, 2), (2, 16, 10), (3, 1, 7))
  def test_matches_numpy(self, seed, batch, k):
    logits, labels = _logits(seed, batch, k)
    value = self.variant(auxiliary.classification_loss)(logits, labels)
    chex.assert_shape(value, ())
    np.testing.assert_allclose(value, np_ce(logits, labels), rtol=1e-5, atol=1e-6)

  def test_closed_forms(self):
    labels = np.array([0, 3, 2, 3], np.int32)
    # Equal logits: CE = log K whatever the labels and the constant.
    self.assertAlmostEqual(
        float(auxiliary.classification_loss(np.full((4, 6), 3.7, np.float32), labels)),
        math.log(6), places=5)
    # A perfect classifier with margin 50 gives ~e^-50 (K - 1); the wrong class gives ~50.
    onehot = np.eye(4, dtype=np.float32)[labels]
    self.assertLess(float(auxiliary.classification_loss(50.0 * onehot, labels)), 1e-6)
    wrong = np.eye(4, dtype=np.float32)[(labels + 1) % 4]
    self.assertAlmostEqual(float(auxiliary.classification_loss(50.0 * wrong, labels)), 50.0,
                           places=4)

  def test_gradient_is_softmax_minus_onehot(self):
    logits, labels = _logits(4)
    grad = jax.grad(auxiliary.classification_loss)(logits, labels)
    expected = (np.exp(np_log_softmax(logits)) - np.eye(5)[labels]) / len(labels)
    np.testing.assert_allclose(grad, expected, atol=1e-6)

  def test_check_grads(self):
    logits, labels = _logits(5, scale=0.7)
    jtu.check_grads(lambda x: auxiliary.classification_loss(x, labels),
                    (jnp.asarray(logits),), order=2, modes=['rev'], eps=1e-2, atol=2e-2,
                    rtol=2e-2)

  def test_bfloat16_and_extreme_logits(self):
    logits, labels = _logits(6)
    value = jax.jit(auxiliary.classification_loss)(jnp.asarray(logits, jnp.bfloat16), labels)
    self.assertEqual(value.dtype, jnp.float32)
    rounded = np.asarray(jnp.asarray(logits, jnp.bfloat16), np.float64)
    np.testing.assert_allclose(value, np_ce(rounded, labels), rtol=1e-5)
    extreme = jnp.asarray([[100.0, -100.0, 0.0], [-100.0, 100.0, 50.0]], jnp.bfloat16)
    value, grad = jax.value_and_grad(auxiliary.classification_loss)(extreme, np.array([1, 0]))
    self.assertTrue(np.isfinite(float(value)))
    np.testing.assert_allclose(float(value), 200.0, rtol=1e-2)  # both rows: 100 - (-100)
    chex.assert_tree_all_finite(grad)

  @chex.variants(with_jit=True, without_jit=True)
  def test_labels_outside_the_classes_give_nan(self):
    # -1 indexed class K - 1 (NumPy's negative indexing): a finite loss toward a wrong class.
    logits, labels = _logits(7, 4, 3)
    fn = self.variant(auxiliary.classification_loss)
    for bad in (-1, -3, -4, 3, 7):
      self.assertTrue(np.isnan(float(fn(logits, np.where(np.arange(4) == 2, bad, labels)))),
                      msg=bad)
    self.assertTrue(np.isnan(float(auxiliary.categorical_mutual_information(
        logits, np.array([0, -1, 1, 2])))))
    np.testing.assert_allclose(fn(logits, labels), np_ce(logits, labels), rtol=1e-5)
    # K beyond the labels' integer type (300 classes, uint8 labels) does not wrap.
    wide, _ = _logits(8, 4, 300)
    for dtype, y in ((np.uint8, [3, 255, 0, 200]), (np.int8, [3, 100, 0, 127])):
      np.testing.assert_allclose(fn(wide, np.array(y, dtype)), np_ce(wide, np.array(y)),
                                 rtol=1e-5)

  def test_bad_inputs_name_the_shapes(self):
    with self.assertRaisesRegex(ValueError, r'\(4, 5\).*\(3,\)'):
      auxiliary.classification_loss(jnp.zeros((4, 5)), jnp.zeros(3, jnp.int32))
    with self.assertRaisesRegex(ValueError, r'\(4,\).*\(4,\)'):
      auxiliary.classification_loss(jnp.zeros(4), jnp.zeros(4, jnp.int32))
    with self.assertRaisesRegex(ValueError, r'\(4, 5\).*\(4, 1\)'):
      auxiliary.classification_loss(jnp.zeros((4, 5)), jnp.zeros((4, 1), jnp.int32))
    with self.assertRaisesRegex(ValueError, 'integer.*float32'):
      auxiliary.classification_loss(jnp.zeros((4, 5)), jnp.zeros(4, jnp.float32))


class Float64Test(chex.TestCase):

  def test_float64_inputs_keep_float64(self):
    # As the docstrings say: float64 in, float64 out, to float64 rounding.
    with jax.enable_x64(True):
      logits, labels = _logits(21)
      logits = logits.astype(np.float64) + 1e-9  # bits float32 cannot hold
      value = auxiliary.classification_loss(jnp.asarray(logits), labels)
      self.assertEqual(value.dtype, jnp.float64)
      np.testing.assert_allclose(value, np_ce(logits, labels), rtol=1e-12)
      x, mean, log_std = (a.astype(np.float64) + 1e-9 for a in _continuous(22))
      value = auxiliary.gaussian_nll(jnp.asarray(x), jnp.asarray(mean), jnp.asarray(log_std))
      self.assertEqual(value.dtype, jnp.float64)
      np.testing.assert_allclose(value, np_gaussian_nll(x, mean, log_std), rtol=1e-12)
      # float32 heads keep float32 under x64 too (the information loss starts from a
      # float32 zero, which float64 inputs promote).
      logits, labels = _logits(23)
      for dtype in (jnp.float32, jnp.float64):
        value = auxiliary.infogan_information_loss(
            {'categorical_logits': jnp.asarray(logits, dtype)}, {'categorical': labels})
        self.assertEqual(value.dtype, dtype)
        np.testing.assert_allclose(value, np_ce(logits, labels), rtol=1e-5)


class GaussianNLLTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(False, True)
  def test_matches_numpy(self, with_log_std):
    x, mean, log_std = _continuous(7)
    ls = log_std if with_log_std else None
    value = self.variant(auxiliary.gaussian_nll)(x, mean, ls)
    np.testing.assert_allclose(value, np_gaussian_nll(x, mean, ls), rtol=1e-5)

  def test_closed_forms(self):
    x, _, log_std = _continuous(8, n=4)
    # At mu = c with sigma = 1: log(2 pi) / 2 per dimension.
    self.assertAlmostEqual(float(auxiliary.gaussian_nll(x, x)), 4 * 0.5 * LOG_2PI, places=5)
    # At mu = c: log(2 pi) / 2 + log sigma per dimension.
    self.assertAlmostEqual(float(auxiliary.gaussian_nll(x, x, log_std)),
                           4 * 0.5 * LOG_2PI + float(log_std.sum(1).mean()), places=5)
    # log_std = 0 is sigma = 1; a unit error in one dimension adds 1/2.
    shifted = x.copy()
    shifted[:, 2] += 1.0
    self.assertAlmostEqual(float(auxiliary.gaussian_nll(x, shifted, np.zeros_like(x))),
                           4 * 0.5 * LOG_2PI + 0.5, places=5)

  def test_check_grads_and_direction(self):
    x, mean, log_std = _continuous(9)
    jtu.check_grads(auxiliary.gaussian_nll, tuple(map(jnp.asarray, (x, mean, log_std))),
                    order=2, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)
    # Fixed std: d/dmu = (mu - c) / B, pulling the mean to the code.
    grad = jax.grad(auxiliary.gaussian_nll, argnums=1)(x, mean)
    np.testing.assert_allclose(grad, (mean - x) / len(x), atol=1e-6)

  def test_bad_shapes_name_them(self):
    with self.assertRaisesRegex(ValueError, r'\(4, 2\).*\(4, 3\)'):
      auxiliary.gaussian_nll(jnp.zeros((4, 2)), jnp.zeros((4, 3)))
    with self.assertRaisesRegex(ValueError, r'log-stds of shape \(4,\)'):
      auxiliary.gaussian_nll(jnp.zeros((4, 2)), jnp.zeros((4, 2)), jnp.zeros(4))
    # Codes of another rank than [batch, n] are named, even of matching shapes: [4, 2, 3]
    # would be summed over its axis 1 into a silently wrong loss, (4,) fail without a name.
    for shape in ((4, 2, 3), (4,)):
      with self.assertRaisesRegex(ValueError, rf'codes of shape {re.escape(str(shape))}'):
        auxiliary.gaussian_nll(jnp.zeros(shape), jnp.zeros(shape))


class ACGANTest(chex.TestCase):

  def _batch(self, seed=10, batch=8, k=5):
    (lr, yr), (lf, yf) = _logits(seed, batch, k), _logits(seed + 1, batch, k)
    return {'class_logits': lr}, {'class_logits': lf}, yr, yf

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(1.0, 0.5)
  def test_matches_numpy(self, weight):
    rh, fh, yr, yf = self._batch()
    loss = auxiliary.get('acgan', weight=weight)
    d = self.variant(loss.discriminator_term)(rh, fh, yr, yf)
    g = self.variant(loss.generator_term)(fh, yf)
    chex.assert_shape((d, g), ())
    ce_real, ce_fake = np_ce(rh['class_logits'], yr), np_ce(fh['class_logits'], yf)
    np.testing.assert_allclose(d, weight * (ce_real + ce_fake), rtol=1e-5)
    np.testing.assert_allclose(g, weight * ce_fake, rtol=1e-5)
    np.testing.assert_allclose(auxiliary.acgan_discriminator_term(rh, fh, yr, yf, weight), d,
                               rtol=1e-6)

  def test_gradients_raise_the_true_class(self):
    rh, fh, yr, yf = self._batch()
    g_real, g_fake = jax.grad(auxiliary.acgan_discriminator_term, argnums=(0, 1))(rh, fh, yr, yf)
    g_gen = jax.grad(auxiliary.acgan_generator_term)(fh, yf)
    for grad, y in ((g_real, yr), (g_fake, yf), (g_gen, yf)):
      grad = np.asarray(grad['class_logits'])
      true = grad[np.arange(len(y)), y]
      self.assertTrue(np.all(true < 0), f'the true-class logit must go up: {true}')
      others = np.delete(grad, y + grad.shape[1] * np.arange(len(y)))  # flat indices
      self.assertTrue(np.all(others > 0), 'the other logits must go down')
    # Both players minimize the fakes' class cross-entropy (Odena et al., eqs. 2-3: L_C is
    # maximized by both): the same gradient in the fake heads, not an adversarial sign.
    np.testing.assert_allclose(g_gen['class_logits'], g_fake['class_logits'], rtol=1e-6)

  def test_check_grads(self):
    rh, fh, yr, yf = self._batch(12, batch=4, k=3)
    args = tuple(jax.tree.map(lambda a: jnp.asarray(a) * 0.5, h) for h in (rh, fh))
    jtu.check_grads(lambda r, f: auxiliary.acgan_discriminator_term(r, f, yr, yf), args,
                    order=2, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)
    jtu.check_grads(lambda f: auxiliary.acgan_generator_term(f, yf), args[1:], order=2,
                    modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)

  def test_bfloat16_heads(self):
    rh, fh, yr, yf = self._batch()
    cast = lambda h: {k: jnp.asarray(v, jnp.bfloat16) for k, v in h.items()}
    loss = auxiliary.get('acgan')
    d = jax.jit(loss.discriminator_term)(cast(rh), cast(fh), yr, yf)
    self.assertEqual(d.dtype, jnp.float32)
    np.testing.assert_allclose(d, np_ce(rh['class_logits'], yr) + np_ce(fh['class_logits'], yf),
                               rtol=2e-2)
    chex.assert_tree_all_finite(jax.grad(loss.generator_term)(cast(fh), yf))

  def test_missing_head_names_it_and_the_given_ones(self):
    rh, fh, yr, yf = self._batch()
    with self.assertRaisesRegex(ValueError, "'class_logits'.*'logits', 'features'"):
      auxiliary.acgan_generator_term({'logits': 0, 'features': 0}, yf)
    with self.assertRaisesRegex(ValueError, "'class_logits'.*heads: none"):
      auxiliary.acgan_discriminator_term(None, fh, yr, yf)
    with self.assertRaisesRegex(ValueError, r'\(8, 5\).*\(7,\)'):
      auxiliary.acgan_generator_term(fh, yf[:7])


class InfoGANTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(log_std=[False, True], lambdas=[(1.0, 0.1), (0.5, 1.0)])
  def test_matches_numpy(self, log_std, lambdas):
    heads, codes = _infogan_batch(13, log_std=log_std)
    lam_cat, lam_cont = lambdas
    loss = auxiliary.get('infogan', lambda_cat=lam_cat, lambda_cont=lam_cont)
    expected = (lam_cat * np_ce(heads['categorical_logits'], codes['categorical'])
                + lam_cont * np_gaussian_nll(codes['continuous'], heads['continuous_mean'],
                                             heads.get('continuous_log_std')))
    d = self.variant(loss.discriminator_term)({}, heads, None, codes)
    g = self.variant(loss.generator_term)(heads, codes)
    np.testing.assert_allclose(d, expected, rtol=1e-5)
    np.testing.assert_allclose(g, expected, rtol=1e-5)

  def test_defaults(self):
    # lambda = 1 for the categorical code (paper), 0.1 for continuous codes (ports).
    self.assertEqual(auxiliary.AUXILIARY_LOSSES.parameters('infogan'),
                     {'lambda_cat': 1.0, 'lambda_cont': 0.1})
    heads, codes = _infogan_batch(14)
    expected = (np_ce(heads['categorical_logits'], codes['categorical'])
                + 0.1 * np_gaussian_nll(codes['continuous'], heads['continuous_mean']))
    np.testing.assert_allclose(auxiliary.get('infogan').generator_term(heads, codes), expected,
                               rtol=1e-5)
    np.testing.assert_allclose(auxiliary.infogan_information_loss(heads, codes), expected,
                               rtol=1e-5)

  def test_one_kind_of_code(self):
    heads, codes = _infogan_batch(15)
    only_cat = auxiliary.infogan_information_loss(
        {'categorical_logits': heads['categorical_logits']}, {'categorical': codes['categorical']})
    np.testing.assert_allclose(only_cat, np_ce(heads['categorical_logits'], codes['categorical']),
                               rtol=1e-5)
    only_cont = auxiliary.infogan_information_loss(heads, {'continuous': codes['continuous']},
                                                   lambda_cont=1.0)
    np.testing.assert_allclose(
        only_cont, np_gaussian_nll(codes['continuous'], heads['continuous_mean']), rtol=1e-5)

  def test_closed_form_at_perfect_q(self):
    # Perfect Q: CE ~ 0 and mu = c, so the loss is lambda_cont * n log(2 pi) / 2.
    _, codes = _infogan_batch(16, n=3)
    heads = {'categorical_logits': 60.0 * np.eye(10, dtype=np.float32)[codes['categorical']],
             'continuous_mean': codes['continuous']}
    value = auxiliary.get('infogan', lambda_cont=0.3).generator_term(heads, codes)
    np.testing.assert_allclose(value, 0.3 * 3 * 0.5 * LOG_2PI, rtol=1e-5)

  def test_mutual_information_estimate(self):
    logits, labels = _logits(17, k=10)
    np.testing.assert_allclose(auxiliary.categorical_mutual_information(logits, labels),
                               math.log(10) - np_ce(logits, labels), rtol=1e-5)
    np.testing.assert_allclose(
        auxiliary.categorical_mutual_information(np.zeros((8, 10), np.float32), labels), 0.0,
        atol=1e-6)
    perfect = 60.0 * np.eye(10, dtype=np.float32)[labels]
    np.testing.assert_allclose(auxiliary.categorical_mutual_information(perfect, labels),
                               math.log(10), rtol=1e-6)

  def test_the_infogan_term_logs_the_estimate(self):
    heads, codes = _infogan_batch(20, k=5)
    got = auxiliary.get('infogan').metrics(heads, codes)
    self.assertEqual(list(got), ['infogan_mi_categorical'])
    np.testing.assert_allclose(got['infogan_mi_categorical'], math.log(5) - np_ce(
        heads['categorical_logits'], codes['categorical']), rtol=1e-5)
    self.assertEqual(auxiliary.get('infogan').metrics(heads, {'continuous': codes[
        'continuous']}), {})  # no categorical code, nothing to estimate
    self.assertIsNone(auxiliary.get('acgan').metrics)

  def test_check_grads_and_directions(self):
    heads, codes = _infogan_batch(18, batch=4, k=3, log_std=True)
    heads = jax.tree.map(lambda a: jnp.asarray(a) * 0.5, heads)
    fn = lambda h: auxiliary.infogan_generator_term(h, codes)
    jtu.check_grads(fn, (heads,), order=2, modes=['rev'], eps=1e-2, atol=2e-2, rtol=2e-2)
    heads.pop('continuous_log_std')
    grad = jax.grad(fn)(heads)
    true = np.asarray(grad['categorical_logits'])[np.arange(4), codes['categorical']]
    self.assertTrue(np.all(true < 0), 'Q must raise the logit of the code G was given')
    np.testing.assert_allclose(grad['continuous_mean'],
                               0.1 * (heads['continuous_mean'] - codes['continuous']) / 4,
                               atol=1e-6)

  def test_bfloat16_heads(self):
    heads, codes = _infogan_batch(19, log_std=True)
    heads = {k: jnp.asarray(v, jnp.bfloat16) for k, v in heads.items()}
    loss = auxiliary.get('infogan')
    value = jax.jit(loss.generator_term)(heads, codes)
    self.assertEqual(value.dtype, jnp.float32)
    as64 = {k: np.asarray(v, np.float64) for k, v in heads.items()}
    expected = (np_ce(as64['categorical_logits'], codes['categorical'])
                + 0.1 * np_gaussian_nll(codes['continuous'], as64['continuous_mean'],
                                        as64['continuous_log_std']))
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    chex.assert_tree_all_finite(jax.grad(loss.generator_term)(heads, codes))

  def test_bad_inputs(self):
    heads, codes = _infogan_batch(20)
    with self.assertRaisesRegex(ValueError, "'continuous_mean'.*'categorical_logits'"):
      auxiliary.infogan_generator_term({'categorical_logits': heads['categorical_logits']},
                                       codes)
    with self.assertRaisesRegex(ValueError, "'categorical_logits'.*'continuous_mean'"):
      auxiliary.infogan_generator_term({'continuous_mean': heads['continuous_mean']}, codes)
    with self.assertRaisesRegex(ValueError, "'categorical' and/or 'continuous'.*'discrete'"):
      auxiliary.infogan_generator_term(heads, {'discrete': codes['categorical']})
    with self.assertRaisesRegex(ValueError, r'\(8, 3\).*\(8, 2\)'):
      auxiliary.infogan_generator_term(heads, {'continuous': np.zeros((8, 3), np.float32)})
    # No codes at all is an error, not a loss of 0 that trains nothing.
    with self.assertRaisesRegex(ValueError, r"'categorical' and/or 'continuous'; got \[\]"):
      auxiliary.infogan_generator_term(heads, {})


class RegistryTest(chex.TestCase):

  def test_names_and_errors(self):
    self.assertEqual(auxiliary.names(), ['none', 'acgan', 'infogan'])
    with self.assertRaisesRegex(ValueError, "'info_gan'.*none, acgan, infogan"):
      auxiliary.get('info_gan')
    self.assertIsNone(auxiliary.get('none'))  # as penalties.get('none')
    with self.assertRaisesRegex(TypeError, "'none'.*weight"):
      auxiliary.get('none', weight=1.0)
    with self.assertRaisesRegex(TypeError, "'acgan'.*lambda_cat.*it takes: weight"):
      auxiliary.get('acgan', lambda_cat=1.0)
    # A negative weight trains G and D to make the classes or codes less recoverable.
    for spec, kwargs, field in (('acgan(weight=-1.0)', {}, 'weight'),
                                ('infogan', {'lambda_cont': -0.1}, 'lambda_cont'),
                                ('infogan(lambda_cat=-2.0)', {}, 'lambda_cat')):
      with self.subTest(spec=spec), self.assertRaisesRegex(
          registry.ArgumentError, f"'{spec[:5]}.*{field} must be >= 0"):
        auxiliary.get(spec, **kwargs)
    self.assertEqual(auxiliary.get('acgan(weight=0.0)').name, 'acgan')  # the term off

  def test_spec_binds_weights(self):
    loss = auxiliary.get('infogan(lambda_cat=2.0, lambda_cont=1.0)')
    self.assertIsInstance(loss, auxiliary.AuxiliaryLoss)
    self.assertEqual(loss.name, 'infogan')
    heads, codes = _infogan_batch(21)
    expected = (2.0 * np_ce(heads['categorical_logits'], codes['categorical'])
                + np_gaussian_nll(codes['continuous'], heads['continuous_mean']))
    np.testing.assert_allclose(loss.discriminator_term({}, heads, None, codes), expected,
                               rtol=1e-5)
    acgan = auxiliary.get('acgan(weight=3.0)')
    logits, labels = _logits(22)
    np.testing.assert_allclose(acgan.generator_term({'class_logits': logits}, labels),
                               3.0 * np_ce(logits, labels), rtol=1e-5)


if __name__ == '__main__':
  absltest.main()
