"""Tests of jaxgan.metrics against SciPy, brute-force NumPy and closed forms."""

import importlib.util
import json
import os
import re
import warnings

import chex
import jax
import numpy as np
import pytest
import scipy.linalg
from absl.testing import absltest

from jaxgan import arrays, metrics
from jaxgan.data import mixtures
from jaxgan.metrics import digit_classifier

KID_REFERENCE = os.path.join(os.path.dirname(__file__), 'data', 'kid_reference.json')
PRDC_REFERENCE = os.path.join(os.path.dirname(__file__), 'data', 'prdc_reference.json')


def _reference_cases(path: str):
  """``(case, real, fake)`` of a stored reference (tests/data/make_*_reference.py):
  features drawn as its script draws them (``default_rng(seed)``, the fakes shifted),
  checked by their sums."""
  with open(path) as f:
    cases = json.load(f)['cases']
  for case in cases:
    rng = np.random.default_rng(case['seed'])
    real = rng.normal(size=case['real_shape'])
    fake = rng.normal(size=case['fake_shape']) + case['shift']
    np.testing.assert_allclose((real.sum(), fake.sum()), (case['real_sum'], case['fake_sum']),
                               rtol=1e-12)  # NumPy's stream is the one the script used
    yield case, real, fake


def _scipy_fid(mu1, s1, mu2, s2):
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


class CheckFiniteTest(chex.TestCase):
  """The one check every image, sample and statistics input goes through."""

  def test_counts_nan_and_both_infinities(self):
    x = np.zeros((3, 4, 5), np.float32)
    x[0, 0, 0], x[1, 2, 3], x[2, 3, 4] = np.nan, np.inf, -np.inf
    self.assertEqual(arrays.count_nonfinite(x), 3)
    self.assertEqual(arrays.count_nonfinite(np.arange(6.0)), 0)
    self.assertEqual(arrays.count_nonfinite(np.arange(6)), 0)  # integers are all finite
    self.assertEqual(arrays.count_nonfinite(np.float64(np.nan)), 1)
    with self.assertRaisesRegex(ValueError, r'^x: 3 non-finite values \(NaN or Inf\)\.$'):
      arrays.check_finite(x, 'x')
    with self.assertRaisesRegex(KeyError, r'y: 1 non-finite value \(NaN or Inf\); why\.'):
      arrays.check_finite(np.array([1.0, np.nan]), 'y', '; why', error=KeyError)
    arrays.check_finite(np.zeros(0), 'empty')  # nothing to count, nothing raised

  def test_features_are_a_float64_matrix_or_an_error_naming_the_shape(self):
    got = arrays.check_features(np.array([[1, 2], [3, 4]], np.int32), 'f')
    self.assertEqual(got.dtype, np.float64)
    np.testing.assert_array_equal(got, [[1, 2], [3, 4]])
    for shape in ((5,), (2, 3, 4)):
      want = rf'^f must have shape \[n, d\]; got {re.escape(str(shape))}\.$'
      with self.assertRaisesRegex(ValueError, want):
        arrays.check_features(np.zeros(shape), 'f')


class FrechetTest(chex.TestCase):

  def test_statistics_shapes_and_their_errors(self):
    # One feature: the covariance is [1, 1] (np.cov gave a 0-d array).
    mu, sigma = metrics.feature_statistics(np.array([[1.0], [3.0], [5.0]]))
    self.assertEqual((mu.shape, sigma.shape), ((1,), (1, 1)))
    np.testing.assert_allclose(sigma, [[4.0]])
    # A column-vector mean is named as a shape error (it failed inside NumPy's matmul).
    with self.assertRaisesRegex(ValueError, r'mu \(3, 1\) vs \(3, 1\).*want mu \[d\]'):
      metrics.frechet_distance(np.zeros((3, 1)), np.eye(3), np.zeros((3, 1)), np.eye(3))
    # A covariance made in float32 as E[x x^T] - mu mu^T goes slightly negative: the error
    # says so, and how to make one that is not.
    x = np.random.default_rng(0).normal(20.0, 1.0, (50, 64)).astype(np.float32)  # rank 49
    m = x.mean(0)
    one_pass = x.T @ x / len(x) - np.outer(m, m)  # float32
    self.assertLess(np.linalg.eigvalsh(one_pass.astype(np.float64))[0], 0)
    with self.assertRaisesRegex(ValueError, 'not positive semi-definite.*computed in float32'):
      metrics.frechet_distance(m, one_pass, m, one_pass)

  def test_matches_scipy_sqrtm_on_well_conditioned_inputs(self):
    rng = np.random.default_rng(0)
    for d in (2, 16, 64):
      a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
      s1, s2 = a @ a.T / d + np.eye(d), b @ b.T / d + 0.5 * np.eye(d)
      mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
      np.testing.assert_allclose(metrics.frechet_distance(mu1, s1, mu2, s2),
                                 _scipy_fid(mu1, s1, mu2, s2), rtol=1e-6)

  def test_closed_forms(self):
    # Identical Gaussians: 0. Isotropic: d (s1 + s2 - 2 sqrt(s1 s2)) + ||mu1 - mu2||^2.
    s = np.diag([1.0, 2.0, 3.0])
    self.assertAlmostEqual(metrics.frechet_distance(np.zeros(3), s, np.zeros(3), s), 0.0,
                           places=10)
    got = metrics.frechet_distance(np.ones(4), 4 * np.eye(4), np.zeros(4), np.eye(4))
    self.assertAlmostEqual(got, 4 + 4 * (4 + 1 - 2 * 2), places=10)

  def test_near_singular_stays_finite(self):
    rng = np.random.default_rng(1)
    f = rng.normal(size=(20, 64))  # rank 19 < 64
    g = rng.normal(size=(20, 64)) + 0.1
    with self.assertWarnsRegex(UserWarning, '20 samples for 64-dimensional'):
      value = metrics.frechet_distance_from_features(f, g)
    # scipy's sqrtm of the (singular) product, independent of jaxgan's eigenvalue form.
    mu1, s1, mu2, s2 = f.mean(0), np.cov(f, rowvar=False), g.mean(0), np.cov(g, rowvar=False)
    self.assertAlmostEqual(value, _scipy_fid(mu1, s1, mu2, s2), delta=1e-4)

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, 'non-finite'):
      metrics.feature_statistics(np.array([[0.0, np.nan], [1.0, 2.0]]))
    with self.assertRaisesRegex(ValueError, r'\[n, d\].*\(5,\)'):
      metrics.feature_statistics(np.zeros(5))
    with self.assertRaisesRegex(ValueError, 'Mismatched'):
      metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))

  def test_statistics_that_are_no_gaussian_are_an_error(self):
    # Unchecked, these gave NaN, a LinAlgError, 0.0 (for -I against I, whose true value is
    # complex) and a silently symmetrized value.
    i, z = np.eye(3), np.zeros(3)
    lopsided = i.copy()
    lopsided[0, 1] = 0.5
    for args, message in (((np.array([0, np.nan, 0]), i, z, i), r'mu1: 1 non-finite value \('),
                          ((z, i, z, np.full((3, 3), np.inf)), 'sigma2: 9 non-finite values'),
                          ((z, -i, z, i), 'sigma1 is not positive semi-definite'),
                          ((z, i, z, lopsided), 'sigma2 is not symmetric')):
      with self.subTest(message), self.assertRaisesRegex(ValueError, message):
        metrics.frechet_distance(*args)

  def test_float32_round_off_and_singular_covariances_are_accepted(self):
    rng = np.random.default_rng(5)
    f = rng.normal(size=(40, 64)).astype(np.float32)  # rank 39 < 64: eigenvalues ~ -1e-7
    s = np.cov(f, rowvar=False).astype(np.float32)
    s[0, 1] += 1e-7  # asymmetry of float32 round-off
    # Equal covariances: the trace term is tr(2 S - 2 (S S)^1/2) = 0, so the distance is
    # the squared mean difference, 64 (it was only checked to be finite).
    self.assertAlmostEqual(metrics.frechet_distance(f.mean(0), s, f.mean(0) + 1, s), 64.0,
                           delta=1e-3)

  def test_as_many_samples_as_dimensions_is_singular_and_warned(self):
    f = np.random.default_rng(0).normal(size=(8, 8))
    self.assertEqual(np.linalg.matrix_rank(np.cov(f, rowvar=False)), 7)
    with self.assertWarnsRegex(UserWarning, '8 samples for 8-dimensional.*at least 9 '):
      metrics.feature_statistics(f)
    with warnings.catch_warnings():
      warnings.simplefilter('error')  # 9 samples: full rank, no warning
      metrics.feature_statistics(np.random.default_rng(0).normal(size=(9, 8)))

  def test_statistics_are_the_mean_and_unbiased_covariance(self):
    # Skewed features (mean != median); the covariance by its definition, sum of outer
    # products of the centred rows over n - 1; the distance from features equals SciPy's.
    rng = np.random.default_rng(11)
    f = rng.exponential(size=(50, 4)) ** 2
    g = rng.exponential(size=(60, 4)) * 1.5
    mu, sigma = metrics.feature_statistics(f)
    centred = f - f.sum(0) / 50
    np.testing.assert_allclose(mu, f.sum(0) / 50, rtol=1e-12)
    np.testing.assert_allclose(sigma, sum(np.outer(r, r) for r in centred) / 49, rtol=1e-10)
    want = _scipy_fid(f.sum(0) / 50, np.cov(f.T), g.sum(0) / 60, np.cov(g.T))
    np.testing.assert_allclose(metrics.frechet_distance_from_features(f, g), want, rtol=1e-8)

  def test_one_sample_is_an_error(self):
    with self.assertRaisesRegex(ValueError, 'At least 2 samples.*got 1'):
      metrics.feature_statistics(np.ones((1, 3)))

  def test_tiny_negative_eigenvalues_are_clipped_to_zero(self):
    # A covariance within the PSD check's slack (relative 1e-5) may have a tiny negative
    # eigenvalue, as float32 round-off leaves: it counts as 0 in both square roots (not as
    # |w|). With S = diag(1, -1e-6) against I: ||0||^2 + tr S + tr I - 2 tr (S I)^1/2 with
    # (S I)^1/2 = diag(1, 0), i.e. 1 - 1e-6, on either side.
    s, i = np.diag([1.0, -1e-6]), np.eye(2)
    for args in ((np.zeros(2), i, np.zeros(2), s), (np.zeros(2), s, np.zeros(2), i)):
      self.assertAlmostEqual(metrics.frechet_distance(*args), 1.0 - 1e-6, delta=1e-9)

  def test_the_symmetry_check_is_relative_to_the_covariances_scale(self):
    # Features in the thousands: float32 round-off leaves an asymmetry of ~0.1 on entries
    # of ~1e6, relative 1e-7, which is accepted (an absolute 1e-5 refused it). Equal
    # covariances: the distance is the squared mean difference, 8.
    f = np.random.default_rng(6).normal(size=(200, 8)) * 1000.0
    s = np.cov(f, rowvar=False)
    s[0, 1] += 1e-7 * np.abs(s).max()
    self.assertGreater(np.abs(s - s.T).max(), 1e-2)
    self.assertAlmostEqual(metrics.frechet_distance(f.mean(0), s, f.mean(0) + 1, s), 8.0,
                           delta=1e-4)

  def test_a_second_covariance_of_another_size_is_named_as_a_shape_error(self):
    with self.assertRaisesRegex(ValueError, r'Mismatched statistics: .*sigma \(2, 2\) vs '
                                r'\(3, 3\)'):
      metrics.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))


class MaxPoolTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_values_and_gradient_equal_numpy(self):
    # The digit classifier's pooling: each output the largest of its 2x2 window; the
    # gradient 1 at each window's (here unique) argmax and 0 elsewhere.
    x = np.random.default_rng(0).normal(size=(2, 6, 4, 3)).astype(np.float32)
    windows = x.reshape(2, 3, 2, 2, 2, 3).transpose(0, 1, 3, 5, 2, 4).reshape(2, 3, 2, 3, 4)
    want = windows.max(-1)
    pool = self.variant(digit_classifier.max_pool_2x2)
    chex.assert_shape(pool(x), (2, 3, 2, 3))
    np.testing.assert_array_equal(pool(x), want)
    grad = jax.grad(lambda v: pool(v).sum())(x)
    np.testing.assert_array_equal(grad, x == np.repeat(np.repeat(want, 2, 1), 2, 2))


class KIDTest(chex.TestCase):

  def test_matches_brute_force_unbiased_mmd(self):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.5
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    m = 30
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    mean, std = metrics.kernel_inception_distance(x, y, num_subsets=3, subset_size=30)
    np.testing.assert_allclose(mean, xx + yy - 2 * xy, rtol=1e-10)
    self.assertAlmostEqual(std, 0.0, places=10)  # every subset is the whole set

  def test_subsets_mean_and_population_std_by_hand(self):
    # torch-fidelity's kid_features_to_metric, called as calculate_metrics(input1=fake,
    # input2=real): from one np.random.RandomState(rng_seed, 2020 by default), each subset
    # draws its input1 (fake) indices then its input2 (real) ones, without replacement;
    # the std is NumPy's default (ddof 0). The sets differ in size, so the order matters.
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 5)), rng.normal(size=(30, 5)) + 0.3
    k = lambda a, b: (a @ b / 5 + 1) ** 3
    m = 10
    for seed in (2020, 9):
      draw, values = np.random.RandomState(seed), []
      for _ in range(3):
        b = y[draw.choice(30, m, replace=False)]
        a = x[draw.choice(40, m, replace=False)]
        values.append(
            sum(k(a[i], a[j]) + k(b[i], b[j]) for i in range(m) for j in range(m) if i != j)
            / (m * (m - 1)) - 2 * sum(k(a[i], b[j]) for i in range(m) for j in range(m)) / m**2)
      self.assertGreater(np.std(values), 1e-3)  # the subsets differ: ddof matters
      kwargs = {} if seed == 2020 else {'seed': seed}  # 2020: the default
      mean, std = metrics.kernel_inception_distance(x, y, num_subsets=3, subset_size=m,
                                                    **kwargs)
      np.testing.assert_allclose((mean, std), (np.mean(values), np.std(values)), rtol=1e-10)

  def _kid_cases(self):
    """The cases of tests/data/kid_reference.json (make_kid_reference.py): features drawn
    as that script draws them, checked by their sums, and torch-fidelity's KID of them."""
    cases = list(_reference_cases(KID_REFERENCE))
    for case, real, fake in cases:
      kwargs = case['kwargs']
      ours = {'num_subsets': kwargs.get('kid_subsets', 100),
              'subset_size': kwargs.get('kid_subset_size', 1000)}
      if 'rng_seed' in kwargs:  # otherwise torch-fidelity's default and ours: 2020
        ours['seed'] = kwargs['rng_seed']
      yield case, real, fake, ours
    self.assertLen(cases, 3)

  def test_matches_torch_fidelitys_stored_values(self):
    # torch-fidelity 0.4.0's calculate_metrics(input1=fake, input2=real, kid=True) on these
    # features, its defaults in the first case (100 subsets of 1,000 of 1,200 and 1,100).
    for case, real, fake, ours in self._kid_cases():
      got = metrics.kernel_inception_distance(real, fake, **ours)
      np.testing.assert_allclose(got, (case['mean'], case['std']), rtol=1e-9, err_msg=case)
      if case['seed'] == 0:  # other draws: another estimate (not a match to 1e-9)
        other = metrics.kernel_inception_distance(real, fake, num_subsets=10, seed=0)
        self.assertGreater(abs(other[0] - case['mean']), 1e-6)

  @pytest.mark.skipif(importlib.util.find_spec('torch_fidelity') is None,
                      reason='live comparison with torch-fidelity needs the [parity] extra; '
                      'the stored values cover it without')
  def test_matches_torch_fidelity_live(self):
    import torch
    from torch_fidelity import metric_kid
    for case, real, fake, ours in self._kid_cases():
      want = metric_kid.kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real),
                                               verbose=False, **case['kwargs'])
      np.testing.assert_allclose(metrics.kernel_inception_distance(real, fake, **ours),
                                 (want[metric_kid.KEY_METRIC_KID_MEAN],
                                  want[metric_kid.KEY_METRIC_KID_STD]), rtol=1e-9)

  def test_bad_subsets_are_an_error_naming_them(self):
    x = np.zeros((100, 4))
    with self.assertRaisesRegex(ValueError, 'num_subsets=0, subset_size=1000'):
      metrics.kernel_inception_distance(x, x, num_subsets=0)  # was (nan, nan)
    with self.assertRaisesRegex(ValueError, 'num_subsets=100, subset_size=1'):
      metrics.kernel_inception_distance(x, x, subset_size=1)
    with self.assertRaisesRegex(ValueError, 'got 100 real and 1 fake'):
      metrics.kernel_inception_distance(x, x[:1])

  def test_unbiased_near_zero_for_same_distribution(self):
    rng = np.random.default_rng(3)
    mean, _ = metrics.kernel_inception_distance(rng.normal(size=(2000, 8)),
                                                rng.normal(size=(2000, 8)), num_subsets=20)
    self.assertLess(abs(mean), 0.01)

  def test_the_cross_term_keeps_its_diagonal(self):
    # Bińkowski et al.'s unbiased MMD^2 averages k(x_i, y_j) over all m^2 pairs, i == j
    # included (x and y are independent); only k(x_i, x_i) and k(y_i, y_i) are dropped.
    # One sample each (m = 2): closed form.
    x = np.array([[1.0, 0.0], [0.0, 1.0]])
    y = np.array([[1.0, 1.0], [0.0, 0.0]])
    k = lambda a, b: (a @ b / 2 + 1) ** 3
    want = (k(x[0], x[1]) + k(y[0], y[1]) - 2 * (k(x[0], y[0]) + k(x[0], y[1]) + k(x[1], y[0])
                                                  + k(x[1], y[1])) / 4)
    mean, _ = metrics.kernel_inception_distance(x, y, num_subsets=1, subset_size=2)
    self.assertAlmostEqual(mean, want, places=12)


def _np_upsample_2x_bilinear(x):
  """Half-pixel bilinear 2x up-sampling of ``x[N, H, W, C]`` along H and W, edges clamped:
  output 2j is 3/4 of input j and 1/4 of j - 1, output 2j + 1 3/4 of j and 1/4 of j + 1."""
  for axis in (1, 2):
    n = x.shape[axis]
    prev = np.take(x, np.clip(np.arange(n) - 1, 0, n - 1), axis)
    nxt = np.take(x, np.clip(np.arange(n) + 1, 0, n - 1), axis)
    x = np.stack([0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt], axis + 1)
    shape = list(x.shape)
    x = x.reshape(shape[:axis] + [2 * n] + shape[axis + 2:])
  return x


class DigitClassifierTest(chex.TestCase):

  def test_small_digits_are_resized_to_16_px_bilinearly(self):
    # 16 px images go in as they are; an 8 px image is seen as its bilinear 2x
    # up-sampling (NumPy's, above), not e.g. its nearest-neighbour one.
    x8 = np.random.default_rng(1).uniform(-1, 1, (3, 8, 8, 1)).astype(np.float32)
    x16 = _np_upsample_2x_bilinear(x8.astype(np.float64)).astype(np.float32)
    model = digit_classifier.DigitClassifier()
    params = model.init(jax.random.key(0), x8)
    with jax.default_matmul_precision('highest'):
      for got, want in zip(model.apply(params, x8), model.apply(params, x16), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)

  def test_features_are_the_relu_layer_before_the_logits(self):
    # features: the 64 ReLU outputs (nonnegative, some zero); logits: their Dense 10.
    x = np.random.default_rng(2).uniform(-1, 1, (5, 8, 8, 1)).astype(np.float32)
    params = digit_classifier.DigitClassifier().init(jax.random.key(3), x)
    feats, logits = digit_classifier.features_and_logits(params, x)
    chex.assert_shape((feats, logits), ((5, 64), (5, 10)))
    self.assertGreaterEqual(feats.min(), 0.0)
    self.assertTrue((feats == 0).any())
    head = params['params']['Dense_1']
    want = feats.astype(np.float64) @ np.asarray(head['kernel'], np.float64) + head['bias']
    np.testing.assert_allclose(logits, want, rtol=1e-5, atol=1e-5)

  def test_loss_is_the_mean_cross_entropy(self):
    # The mean over the batch of -log softmax(logits)[label], by NumPy.
    x = np.random.default_rng(4).uniform(-1, 1, (6, 8, 8, 1)).astype(np.float32)
    y = np.array([0, 3, 9, 3, 1, 7])
    params = digit_classifier.DigitClassifier().init(jax.random.key(5), x)
    _, logits = digit_classifier.features_and_logits(params, x)
    z = logits.astype(np.float64)
    log_p = z - z.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    self.assertAlmostEqual(float(digit_classifier._loss(params, x, y)),
                           -log_p[np.arange(6), y].mean(), places=5)

  def test_training_draws_every_image_including_the_last(self):
    # Two images, each its own label: trained on both, the classifier tells them apart
    # (never drawing the last one, it would call both class 0).
    x = np.stack([np.full((8, 8, 1), -1.0), np.full((8, 8, 1), 1.0)]).astype(np.float32)
    y = np.array([0, 1])
    params = digit_classifier.train_classifier(x, y, steps=40)
    _, logits = digit_classifier.features_and_logits(params, x)
    np.testing.assert_array_equal(logits.argmax(1), [0, 1])


class InceptionScoreTest(chex.TestCase):

  def test_matches_the_reference_code_for_any_number_of_samples(self):
    # The split loop of Salimans et al.'s inception_score.py, on probabilities; n = 1005
    # and 15 are not multiples of 10, where np.array_split's boundaries would differ.
    rng = np.random.default_rng(6)
    for n in (1000, 1005, 15):
      logits = rng.normal(scale=3.0, size=(n, 20))
      preds = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
      scores = []
      for i in range(10):
        part = preds[(i * n // 10):((i + 1) * n // 10), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        scores.append(np.exp(np.mean(np.sum(kl, 1))))
      np.testing.assert_allclose(metrics.inception_score(logits),
                                 (np.mean(scores), np.std(scores)), rtol=1e-10)

  def test_the_splits_follow_the_order_unless_shuffled_as_torch_fidelity_does(self):
    # Logits sorted by class: each unshuffled split holds one class (IS near 1); shuffled
    # with torch-fidelity's permutation (RandomState(2020)), the splits are mixed. Seed 0
    # is a seed like any other (not "no shuffle").
    n, k = 1000, 10
    logits = np.full((n, k), -20.0)
    logits[np.arange(n), np.arange(n) * k // n] = 20.0
    self.assertLess(metrics.inception_score(logits)[0], 1.01)
    for seed in (2020, 0):
      shuffled = logits[np.random.RandomState(seed).permutation(n)]
      p = np.exp(shuffled - shuffled.max(1, keepdims=True))
      p /= p.sum(1, keepdims=True)
      scores = [np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0))), 1)))
                for q in (p[i * n // 10:(i + 1) * n // 10] for i in range(10))]
      got = metrics.inception_score(logits, shuffle_seed=seed)
      np.testing.assert_allclose(got, (np.mean(scores), np.std(scores)), rtol=1e-10,
                                 err_msg=str(seed))
      self.assertGreater(got[0], 9.0)

  def test_bad_num_splits_is_an_error(self):
    with self.assertRaisesRegex(ValueError, 'num_splits must be at least 1; got 0'):
      metrics.inception_score(np.zeros((5, 10)), num_splits=0)

  def test_fewer_samples_than_splits_is_an_error(self):
    with self.assertRaisesRegex(ValueError, '5 samples in 10 splits'):
      metrics.inception_score(np.zeros((5, 10)))  # empty splits: NaN without the check

  def test_closed_forms(self):
    # Uniform predictions: IS = 1. Confident and balanced over 10 classes: IS = 10.
    mean, _ = metrics.inception_score(np.zeros((100, 10)), num_splits=2)
    self.assertAlmostEqual(mean, 1.0, places=6)
    logits = np.full((100, 10), -1e3)
    logits[np.arange(100), np.arange(100) % 10] = 1e3
    mean, std = metrics.inception_score(logits, num_splits=2)
    self.assertAlmostEqual(mean, 10.0, places=5)
    self.assertAlmostEqual(std, 0.0, places=5)

  def test_a_shift_of_each_row_changes_nothing(self):
    # softmax is invariant to adding a constant to a row (each row's own maximum is taken
    # out, not the whole array's, which would underflow a row 1000 below to NaN).
    logits = np.random.default_rng(9).normal(size=(40, 6))
    shifted = logits + 1000.0 * np.arange(40)[:, None]
    np.testing.assert_allclose(metrics.inception_score(shifted, num_splits=4),
                               metrics.inception_score(logits, num_splits=4), rtol=1e-9)

  def test_as_many_samples_as_splits_is_the_least(self):
    # One sample per split: each split's marginal is its own prediction, KL 0, IS 1.
    logits = np.random.default_rng(8).normal(size=(10, 5))
    np.testing.assert_allclose(metrics.inception_score(logits), (1.0, 0.0), atol=1e-12)
    with self.assertRaisesRegex(ValueError, '9 samples in 10 splits'):
      metrics.inception_score(logits[:9])


class MixtureMetricsTest(chex.TestCase):

  def test_bad_samples_modes_or_std_are_errors(self):
    modes, std = mixtures.MIXTURES['ring8']
    for args, message in (((np.zeros((0, 2)), modes, std), r'n >= 1; got \(0, 2\)'),
                          ((np.zeros((5, 2)), modes, 0.0), 'std must be a finite number > 0'),
                          ((np.zeros((5, 2)), modes, np.nan), 'std must be'),
                          ((np.zeros((5, 2)), np.zeros((0, 2)), std), r'K >= 1')):
      with self.subTest(message), self.assertRaisesRegex(ValueError, message):
        metrics.nearest_modes(*args)

  def test_true_samples(self):
    modes, std = mixtures.MIXTURES['grid25']
    x = mixtures.sample('grid25', np.random.default_rng(4), 10000)
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual(m['modes'], 25.0)
    self.assertEqual(m['strict_modes'], 25.0)
    self.assertAlmostEqual(m['hq_percent'], 98.9, delta=0.5)  # chi(2) mass within 3 std
    self.assertLess(m['reverse_kl'], 0.01)

  def test_within_3_std_includes_3_std(self):
    # High quality: within 3 std of its nearest mode, the bound included.
    modes, std = np.array([[0.0, 0.0], [10.0, 0.0]]), 1.0
    x = np.concatenate([np.tile([[3.0, 0.0]], (1500, 1)), np.tile([[10.0, 3.0]], (1500, 1))])
    self.assertEqual(metrics.mode_metrics(x, modes, std)['hq_percent'], 100.0)

  def test_collapsed_generator(self):
    modes, std = mixtures.MIXTURES['ring8']
    x = np.concatenate([np.tile(modes[:2], (4990, 1)), np.full((20, 2), 9.0)])
    np.random.default_rng(5).shuffle(x)
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual((m['modes'], m['strict_modes']), (2.0, 2.0))
    self.assertAlmostEqual(m['hq_percent'], 100 * 9980 / 10000)
    self.assertAlmostEqual(m['reverse_kl'], np.log(4), places=6)  # KL(1/2,1/2 || 1/8)

  def test_reverse_kl_is_over_hq_samples_as_pacgans_code_computes_it(self):
    # PacGAN's MetricLogger counts a sample toward its nearest mode only within 3 std and
    # reports the entropy of those counts: reverse KL = log K - that entropy, blind to
    # the samples near no mode.
    modes, std = mixtures.MIXTURES['ring8']
    counts = np.array([400, 200, 100, 100, 50, 50, 50, 50])
    x = np.concatenate([np.tile(modes[i], (c, 1)) for i, c in enumerate(counts)]
                       + [np.zeros((10000 - counts.sum(), 2))])   # the centre: near no mode
    np.random.default_rng(7).shuffle(x)
    m = metrics.mode_metrics(x, modes, std)
    q = counts / counts.sum()
    entropy = -np.sum(q * np.log(q))
    self.assertAlmostEqual(m['hq_percent'], 100 * counts.sum() / 10000)
    self.assertAlmostEqual(m['reverse_kl'], np.log(8) - entropy, places=10)
    even = np.concatenate([np.tile(modes, (100, 1)), np.zeros((9200, 2))])
    self.assertAlmostEqual(metrics.mode_metrics(even, modes, std)['reverse_kl'], 0.0,
                           places=12)   # 8 % HQ, shared evenly

  def test_strict_count_needs_a_tenth_of_the_fair_share(self):
    modes, std = mixtures.MIXTURES['ring8']
    counts = [3000] * 3 + [124, 126, 125] + [0, 0]   # fair share 1250: threshold 125
    x = np.concatenate([np.tile(modes[i], (c, 1)) for i, c in enumerate(counts)]
                       + [np.zeros((10000 - sum(counts), 2))])
    np.random.default_rng(6).shuffle(x)
    self.assertEqual(metrics.mode_metrics(x, modes, std)['strict_modes'], 5.0)  # 125 counts

  def test_coverage_counts_only_high_quality_samples(self):
    # 100 of the first 2,500 samples lie far out beyond mode 5 (nearest to it, but not
    # within 3 std): mode 5 is not covered.
    modes, std = mixtures.MIXTURES['ring8']
    x = np.tile(modes[:2], (5000, 1))
    x[:100] = 10 * modes[5]
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual((m['modes'], m['strict_modes']), (2.0, 2.0))
    self.assertAlmostEqual(m['hq_percent'], 99.0)

  def test_bad_samples(self):
    modes, std = mixtures.MIXTURES['ring8']
    with self.assertRaisesRegex(ValueError, 'non-finite'):
      metrics.mode_metrics(np.full((3000, 2), np.nan), modes, std)
    with self.assertRaisesRegex(ValueError, r'\[n, 2\].*\(3000, 3\)'):
      metrics.mode_metrics(np.zeros((3000, 3)), modes, std)
    with self.assertRaisesRegex(ValueError, 'at least 2500'):
      metrics.mode_metrics(np.zeros((100, 2)), modes, std)

  def test_coverage_counts_the_first_2500_samples_only(self):
    # Mode 3 appears only after sample 2,500: among the strict modes, not the covered.
    modes, std = mixtures.MIXTURES['ring8']
    x = np.tile(modes[:2], (5000, 1))
    x[2500:4000] = modes[3]
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual((m['modes'], m['strict_modes']), (2.0, 3.0))
    with self.assertRaisesRegex(ValueError, 'at least 2500 samples; got 2499'):
      metrics.mode_metrics(x[:2499], modes, std)
    self.assertEqual(metrics.mode_metrics(x[:2500], modes, std)['modes'], 2.0)

  def test_coverage_counts_the_hq_samples_among_the_first_2500_not_the_first_2500_hq(self):
    # VEEGAN: modes hit by the HQ samples among the first 2,500 samples. Here samples
    # 0-1249 are near no mode, 1250-2499 at mode 0 and the rest at mode 1: one mode
    # covered (the first 2,500 HQ samples would reach mode 1 too).
    modes, std = mixtures.MIXTURES['ring8']
    x = np.concatenate([np.zeros((1250, 2)), np.tile(modes[0], (1250, 1)),
                        np.tile(modes[1], (2500, 1))])
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual((m['modes'], m['strict_modes']), (1.0, 2.0))
    self.assertAlmostEqual(m['hq_percent'], 75.0)

  def test_a_single_hq_sample_gives_a_reverse_kl_of_log_k(self):
    # q is one-hot on the one HQ sample's mode: KL(q || uniform over 8) = log 8.
    modes, std = mixtures.MIXTURES['ring8']
    x = np.full((3000, 2), 50.0)
    x[1234] = modes[3]
    m = metrics.mode_metrics(x, modes, std)
    self.assertEqual((m['modes'], m['strict_modes']), (1.0, 0.0))
    self.assertAlmostEqual(m['reverse_kl'], np.log(8), places=12)

  def test_distances_keep_the_modes_float64_precision(self):
    # Modes 1e8 + 1 apart from 1e8 (equal in float32): samples exactly at the modes are
    # at distance 0 and high quality, and each is nearest its own mode.
    modes = np.array([[1e8 + 1.0, 0.0], [1e8 + 3.0, 0.0]])
    x = np.repeat(modes, 1250, axis=0)
    nearest, hq = metrics.nearest_modes(x, modes, 0.1)
    np.testing.assert_array_equal(nearest, np.repeat([0, 1], 1250))
    self.assertTrue(hq.all())

  def test_no_high_quality_sample_gives_an_infinite_reverse_kl(self):
    modes, std = mixtures.MIXTURES['ring8']
    m = metrics.mode_metrics(np.full((3000, 2), 50.0), modes, std)   # far from every mode
    self.assertEqual(m, {'hq_percent': 0.0, 'modes': 0.0, 'strict_modes': 0.0,
                         'reverse_kl': float('inf')})


class PrecisionRecallDensityCoverageTest(chex.TestCase):
  """Against the definitions by brute force, a case worked by hand, and the prdc package
  (Naeem et al.'s code: stored values, and live with the [parity] extra)."""

  @staticmethod
  def _by_definition(x, y, k):
    """Every distance by broadcasting, each radius from a full sort: the formulas as
    written (Naeem et al., section 3), with none of the blocks or partitions."""
    dxx = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    dyy = np.sqrt(((y[:, None] - y[None]) ** 2).sum(-1))
    dxy = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))  # [N, M]
    r = np.sort(dxx, axis=1)[:, k]  # column 0 is the sample itself
    s = np.sort(dyy, axis=1)[:, k]
    inside = dxy < r[:, None]  # inside[i, j]: fake j in real i's ball
    return {'precision': inside.any(0).mean(), 'recall': (dxy < s[None, :]).any(1).mean(),
            'density': inside.sum() / (k * len(y)), 'coverage': inside.any(1).mean()}

  def test_matches_the_definitions_by_brute_force(self):
    rng = np.random.default_rng(3)
    for n, m, d, k, shift, block in ((40, 55, 3, 5, 0.0, 7), (90, 30, 6, 2, 0.7, 1000),
                                     (25, 25, 2, 1, 2.0, 1), (64, 48, 5, 3, 0.3, 16)):
      x = rng.normal(size=(n, d))
      y = rng.normal(size=(m, d)) + shift
      got = metrics.precision_recall_density_coverage(x, y, k, block=block)
      want = self._by_definition(x, y, k)
      self.assertEqual(set(got), set(want))
      for name in want:
        self.assertAlmostEqual(got[name], float(want[name]), places=12, msg=(name, n, m, k))

  def test_a_case_worked_by_hand(self):
    # Real 0, 1, 2, 3, 10 and fake 0.5, 2.5, 20 on a line, k = 1. Real radii (nearest other
    # real): 1, 1, 1, 1, 7; fake radii: 2, 2, 17.5. Fake 0.5 lies in the balls of 0 and 1,
    # 2.5 in those of 2 and 3, 20 in none (10 is 10 > 7 away): precision 2/3, density
    # (2 + 2 + 0) / (1 * 3). Reals 0-3 lie within 2 of a fake, 10 within 17.5 of 20: recall
    # 1. Reals 0-3 have a fake 0.5 away, inside their radius 1; 10's nearest fake is 7.5 away,
    # outside its 7: coverage 4/5.
    got = metrics.precision_recall_density_coverage(
        np.array([[0.0], [1], [2], [3], [10]]), np.array([[0.5], [2.5], [20]]), nearest_k=1)
    self.assertEqual(got, {'precision': 2 / 3, 'recall': 1.0, 'density': 4 / 3,
                           'coverage': 0.8})

  def test_a_ball_holds_what_lies_strictly_inside_it_as_prdc_counts(self):
    # Real 0, 1, 2 (radii 1 at k = 1) and fake 3, 4 (radii 1): fake 3 and real 2 lie on
    # each other's ball's boundary, in none.
    got = metrics.precision_recall_density_coverage(np.array([[0.0], [1], [2]]),
                                                    np.array([[3.0], [4]]), nearest_k=1)
    self.assertEqual(got, {'precision': 0.0, 'recall': 0.0, 'density': 0.0, 'coverage': 0.0})

  def test_samples_of_the_real_set_itself_are_all_inside(self):
    # Each fake is a real sample: at distance 0, inside its own ball (radius > 0), and each
    # real's nearest fake is itself.
    x = np.random.default_rng(0).normal(size=(50, 4))
    got = metrics.precision_recall_density_coverage(x, x[::-1])
    self.assertEqual((got['precision'], got['recall'], got['coverage']), (1.0, 1.0, 1.0))

  def _prdc_cases(self):
    """The cases of tests/data/prdc_reference.json (make_prdc_reference.py)."""
    cases = list(_reference_cases(PRDC_REFERENCE))
    yield from cases
    self.assertLen(cases, 3)

  def test_matches_the_prdc_packages_stored_values(self):
    for case, real, fake in self._prdc_cases():
      got = metrics.precision_recall_density_coverage(real, fake, case['nearest_k'])
      for name in ('precision', 'recall', 'density', 'coverage'):
        self.assertAlmostEqual(got[name], case[name], places=12, msg=(name, case['seed']))

  @pytest.mark.skipif(importlib.util.find_spec('prdc') is None,
                      reason='live comparison with the prdc package needs the [parity] extra; '
                      'the stored values cover it without')
  def test_matches_the_prdc_package_live(self):
    import contextlib
    import io

    import prdc
    for case, real, fake in self._prdc_cases():
      with contextlib.redirect_stdout(io.StringIO()):
        want = prdc.compute_prdc(real, fake, case['nearest_k'])
      got = metrics.precision_recall_density_coverage(real, fake, case['nearest_k'])
      for name, value in want.items():
        self.assertAlmostEqual(got[name], float(value), places=12, msg=name)

  def test_bad_inputs_are_an_error_naming_them(self):
    x = np.zeros((10, 4))
    with self.assertRaisesRegex(ValueError, r'Feature dimensions differ: \(10, 4\) vs \(10, 3\)'):
      metrics.precision_recall_density_coverage(x, np.zeros((10, 3)))
    with self.assertRaisesRegex(ValueError, 'more than nearest_k = 5 samples .*got 10 real and '
                                '5 fake'):
      metrics.precision_recall_density_coverage(x, x[:5])
    with self.assertRaisesRegex(ValueError, 'got nearest_k=0, block=1000'):
      metrics.precision_recall_density_coverage(x, x, nearest_k=0)
    with self.assertRaisesRegex(ValueError, r'fake features must have shape \[n, d\]'):
      metrics.precision_recall_density_coverage(x, np.zeros(10))


if __name__ == '__main__':
  absltest.main()
