"""The Flax FID Inception against pytorch-fid's InceptionV3, with random weights.

pytorch-fid builds its network and then downloads the 2015-12-05 weights; in the
references that download is replaced by random weights drawn with NumPy from the key/shape
layout in ``tests/data/inception_layout.json`` (``torch_weights.random_state_dict``), which
this test draws again, bit for bit, for the Flax port. Equal pool3 features on the same
images prove the architecture and the preprocessing without any weights file.

* Fixture tests (no PyTorch): pytorch-fid's outputs stored in
  ``tests/data/inception_reference.npz`` by ``tests/data/make_parity_references.py``.
* Live tests (the ``[parity]`` extra: pytorch-fid, torchvision): the fixture is what
  pytorch-fid computes now, and the port matches it on other images; skipped otherwise.
"""

import functools
import importlib.util
import json
import math
import os
import sys
import tempfile
from unittest import mock

import chex
import flax.linen as nn
import jax
import numpy as np
import pytest
from absl.testing import absltest, parameterized

from jaxgan import torch_weights
from jaxgan.metrics import inception

DATA = os.path.join(os.path.dirname(__file__), 'data')
HAS_PARITY = all(importlib.util.find_spec(m) for m in ('torch', 'torchvision', 'pytorch_fid'))
NEEDS_PARITY = pytest.mark.skipif(
    not HAS_PARITY, reason='live comparison with pytorch-fid needs the [parity] extra '
    '(torch, torchvision, pytorch-fid); the stored-reference tests cover the port without it')
TOL = 1e-4  # pytorch-fid vs the port: measured max |diff| 2.9e-6 (32 px) to 5.5e-6 (299 px)


def read_layout() -> list:
  with open(os.path.join(DATA, 'inception_layout.json')) as f:
    return json.load(f)


def read_reference() -> dict[str, np.ndarray]:
  with np.load(os.path.join(DATA, 'inception_reference.npz')) as f:
    return {k: f[k] for k in f.files}


def fixture_images(size: int) -> np.ndarray:
  """The references' images: 2 in [0, 1], seeded with their size."""
  return np.random.default_rng(size).uniform(0, 1, (2, size, size, 3)).astype(np.float32)


def gray_images() -> np.ndarray:
  """The references' grayscale jaxgan images: 2 of 28 px in [-1, 1]."""
  return np.random.default_rng(28).uniform(-1, 1, (2, 28, 28, 1)).astype(np.float32)


def float64_sum(x: np.ndarray) -> float:
  return float(np.sum(x, dtype=np.float64))


class FixtureParityTest(parameterized.TestCase):
  """The port against pytorch-fid's stored outputs; runs without PyTorch."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.ref = read_reference()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), int(cls.ref['weights_seed']))
    cls.variables = inception.variables_from_state_dict(cls.state_dict)

  def test_weights_are_those_of_the_references(self):
    """NumPy draws the weights the references were made with (else: re-make them)."""
    np.testing.assert_array_equal(
        [float64_sum(v) for v in self.state_dict.values()], self.ref['weights_sums'],
        err_msg='NumPy draws other weights than the fixture was made with; re-run '
                'tests/data/make_parity_references.py')

  @parameterized.parameters(32, 64, 299, 320)
  def test_pool3_and_logits_match_pytorch_fid(self, size):
    """Up-sampled (32, 64), unresized (299) and down-sampled (320) images."""
    images = fixture_images(size)
    self.assertEqual(float64_sum(images), self.ref[f'images_{size}_sum'])
    expected = self.ref[f'pool3_{size}']
    self.assertGreater(float(np.std(expected)), 0.5)  # not a degenerate network
    pool3, logits = inception._apply(self.variables, images)
    chex.assert_shape(pool3, (2, inception.FEATURE_DIM))
    chex.assert_shape(logits, (2, inception.NUM_CLASSES))
    np.testing.assert_allclose(pool3, expected, atol=TOL, rtol=TOL)
    # logits = pool3 @ W.T + b, computed by torch.nn.functional.linear in the references.
    np.testing.assert_allclose(logits, self.ref[f'logits_{size}'], atol=TOL, rtol=TOL)

  def test_features_of_jaxgan_rgb_images(self):
    """[-1, 1] RGB through the public entry point: channels kept in RGB order (a BGR flip
    moves the features by far more than the tolerance)."""
    images = 2.0 * fixture_images(299) - 1.0
    feats, _ = inception.features_and_logits(self.variables, images, batch_size=2,
                                             quantize=False)
    np.testing.assert_allclose(feats, self.ref['pool3_299'], atol=TOL, rtol=TOL)

  def test_the_references_detect_a_wrong_pooling_or_resizing_rule(self):
    """The test can fail: average pools that count the padding (as torchvision's
    Inception3, not the TF graph) move features by 0.24, resizing with antialiasing
    (a TF2/PIL habit, not pytorch-fid's) by 0.45 — thousands of times the tolerance."""
    apply = lambda v, x: inception.FIDInceptionV3().apply(v, x)[0]
    pad_counted = lambda x: nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)),
                                        count_include_pad=True)
    with mock.patch.object(inception, '_avg_pool', pad_counted):
      pool3 = jax.jit(apply)(self.variables, fixture_images(32))
    self.assertGreater(float(np.abs(pool3 - self.ref['pool3_32']).max()), 1000 * TOL)
    resize = jax.image.resize
    antialiased = lambda *a, **k: resize(*a, **{**k, 'antialias': True})
    with mock.patch.object(jax.image, 'resize', antialiased):
      pool3 = jax.jit(apply)(self.variables, fixture_images(320))
    self.assertGreater(float(np.abs(pool3 - self.ref['pool3_320']).max()), 1000 * TOL)

  def test_features_of_jaxgan_grayscale_images(self):
    """[-1, 1] grayscale: mapped to [0, 1], 8-bit quantized, copied to 3 channels; the
    logits are ``pool3 @ W.T`` without the bias (the TF Inception Score's)."""
    gray = gray_images()
    self.assertEqual(float64_sum(gray), self.ref['gray_images_sum'])
    feats, logits = inception.features_and_logits(self.variables, gray, batch_size=2)
    expected = self.ref['gray_pool3']
    np.testing.assert_allclose(feats, expected, atol=TOL, rtol=TOL)
    np.testing.assert_allclose(logits, expected @ self.state_dict['fc.weight'].T,
                               atol=TOL, rtol=TOL)


class LoadingTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), 1)

  def test_missing_file_names_the_file_the_url_and_where_to_put_it(self):
    cache = tempfile.mkdtemp()
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}):
      inception.load.cache_clear()
      with pytest.raises(FileNotFoundError) as e:
        inception.load()
    message = str(e.value)
    for part in (os.path.join(cache, inception.WEIGHTS_FILE), inception.WEIGHTS_URL,
                 '$JAXGAN_CACHE', '~/.cache/jaxgan/', '--inception_weights'):
      self.assertIn(part, message)
    with mock.patch.dict(os.environ), pytest.raises(FileNotFoundError) as e:
      os.environ.pop('JAXGAN_CACHE', None)
      inception.load('/nonexistent/weights.pth')
    self.assertIn('not found at /nonexistent/weights.pth', str(e.value))
    self.assertIn(os.path.expanduser('~/.cache/jaxgan/' + inception.WEIGHTS_FILE),
                  str(e.value))

  def test_npz_file_loads_with_pytorch_layouts_transposed(self):
    path = os.path.join(tempfile.mkdtemp(), 'w.npz')
    np.savez(path, **self.state_dict)
    v = inception.load(path)
    sd = self.state_dict
    np.testing.assert_array_equal(  # conv [out, in, kh, kw] -> [kh, kw, in, out]
        v['params']['Mixed_6b']['branch7x7_2']['conv']['kernel'],
        np.moveaxis(sd['Mixed_6b.branch7x7_2.conv.weight'], (0, 1), (3, 2)))
    np.testing.assert_array_equal(v['params']['fc']['kernel'], sd['fc.weight'].T)
    np.testing.assert_array_equal(v['params']['fc']['bias'], sd['fc.bias'])
    np.testing.assert_array_equal(v['params']['Conv2d_1a_3x3']['bn']['scale'],
                                  sd['Conv2d_1a_3x3.bn.weight'])
    np.testing.assert_array_equal(v['batch_stats']['Mixed_7c']['branch_pool']['bn']['var'],
                                  sd['Mixed_7c.branch_pool.bn.running_var'])

  def test_an_upper_case_npz_a_folder_and_a_tilde_cache(self):
    d = tempfile.mkdtemp()
    with open(os.path.join(d, 'W.NPZ'), 'wb') as f:  # np.savez would append .npz to a name
      np.savez(f, a=np.arange(3))
    read = functools.partial(torch_weights.load_state_dict, file_name='w.pth', url='u',
                             needed_by='FID', how_to_pass='p')
    with mock.patch.dict(sys.modules, {'torch': None}):  # read without PyTorch
      np.testing.assert_array_equal(read(os.path.join(d, 'W.NPZ'))['a'], np.arange(3))
      with pytest.raises(torch_weights.WeightsError,
                         match=f'{d} is a folder, not a weights file; FID needs w.pth'):
        read(d)
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': '~/weights'}):
      self.assertEqual(torch_weights.cache_dir(), os.path.expanduser('~/weights'))
      from jaxgan.metrics import digit_classifier  # its classifiers too (made a folder '~')
      x = np.zeros((2, 8, 8, 1), np.float32)
      self.assertTrue(digit_classifier._cache_path(x, np.zeros(2), 'digits').startswith(
          os.path.expanduser('~/weights/digit_classifier_8px_')))

  def test_pth_file_without_pytorch_says_what_to_do(self):
    path = os.path.join(tempfile.mkdtemp(), 'w.pth')
    open(path, 'wb').close()
    with mock.patch.dict(sys.modules, {'torch': None}), pytest.raises(
        torch_weights.WeightsError, match=r'needs PyTorch.*\.npz'):
      torch_weights.load_state_dict(path, file_name='w.pth', url='u', needed_by='FID',
                                    how_to_pass='p')

  def test_every_wrong_key_is_reported_by_name(self):
    sd = dict(self.state_dict)
    sd.pop('Mixed_7c.branch_pool.conv.weight')
    sd.pop('Mixed_5b.branch1x1.bn.running_mean')
    sd['extra.weight'] = np.zeros(3)
    sd['fc.weight'] = np.zeros((1000, 2048), np.float32)
    with pytest.raises(ValueError) as e:
      inception.variables_from_state_dict(sd)
    self.assertRegex(str(e.value), 'FID Inception.*2 missing keys: Mixed_5b.branch1x1.bn.'
                     'running_mean, Mixed_7c.branch_pool.conv.weight; 1 unexpected keys: '
                     r'extra.weight; 1 keys of the wrong shape: fc.weight \(1000, 2048\) '
                     r'\(expected \(1008, 2048\)\)')

  def test_batchnorm_counters_are_optional(self):
    sd = {k: v for k, v in self.state_dict.items() if not k.endswith('num_batches_tracked')}
    self.assertLess(len(sd), len(self.state_dict))
    inception.variables_from_state_dict(sd)

  def test_bad_images_are_rejected(self):
    with pytest.raises(ValueError, match='non-finite'):
      inception.to_unit_range(np.full((2, 8, 8, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match=r'\[-1, 1\]'):
      inception.to_unit_range(np.full((2, 8, 8, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match=r'\(2, 8, 8\)'):
      inception.to_unit_range(np.zeros((2, 8, 8), np.float32))
    with pytest.raises(ValueError, match=r'N >= 1; got \(0, 8, 8, 3\)'):
      inception.to_unit_range(np.zeros((0, 8, 8, 3), np.float32))

  def test_images_in_zero_one_are_warned_of(self):
    light = np.random.default_rng(0).uniform(0, 1, (4, 8, 8, 3)).astype(np.float32)
    with self.assertLogs('absl', level='WARNING') as logs:
      inception.to_unit_range(light)
    self.assertIn('4 images with every value in [0.0', logs.output[0])
    self.assertIn('pass 2 * x - 1', logs.output[0])
    with self.assertNoLogs('absl', level='WARNING'):  # a set with dark values: no warning
      inception.to_unit_range(light * 2 - 1)


def _channel_means(variables, x):
  """A stand-in for the network, row by row: pool3 = each image's channel means."""
  del variables
  return x.mean(axis=(1, 2)), None


class PreprocessingAndBatchingTest(chex.TestCase):
  """``to_unit_range`` by the rules its docstring states, and ``features_and_logits`` /
  ``fid_kid_is`` with a cheap stand-in for the network (its batching, not its numbers)."""

  def test_unit_range_values_by_hand(self):
    # (x + 1) / 2 on 8 bits: -1 -> 0, 1 -> 255, 0 -> 127.5 -> 128, 0.3 -> 165.75 -> 166;
    # values within the tolerance outside [-1, 1] are clipped; gray becomes 3 equal channels.
    x = np.array([-1.0, 0.0, 0.3, 1.0, 1.0005, -1.0005], np.float32).reshape(2, 1, 3, 1)
    want = np.array([0, 128, 166, 255, 255, 0], np.float32).reshape(2, 1, 3, 1) / 255
    got = inception.to_unit_range(x)  # quantized by default
    chex.assert_shape(got, (2, 1, 3, 3))
    for c in range(3):
      np.testing.assert_allclose(got[..., c:c + 1], want, atol=1e-7)
    unquantized = inception.to_unit_range(x, quantize=False)[..., 0].ravel()
    np.testing.assert_allclose(unquantized, [0, 0.5, 0.65, 1, 1, 0], atol=1e-6)

  def test_values_beyond_the_range_and_other_channel_counts_are_rejected(self):
    for bad in (1.01, -1.01):
      with self.subTest(bad), pytest.raises(ValueError, match=r'\[-1, 1\]'):
        inception.to_unit_range(np.full((2, 4, 4, 3), bad, np.float32))
    for channels in (2, 4):
      with self.subTest(channels), pytest.raises(ValueError, match='1 or 3'):
        inception.to_unit_range(np.zeros((2, 4, 4, channels), np.float32))

  def test_the_warning_is_for_several_images_with_no_negative_value(self):
    with self.assertLogs('absl', level='WARNING') as logs:  # min exactly 0: still warned
      inception.to_unit_range(np.stack([np.zeros((4, 4, 3)), np.ones((4, 4, 3))]))
    self.assertIn('2 images with every value in [0.000, 1.000]', logs.output[0])
    with self.assertNoLogs('absl', level='WARNING'):  # one image: no warning
      inception.to_unit_range(np.full((1, 4, 4, 3), 0.5, np.float32))

  def test_features_and_logits_of_batches_that_do_not_divide_the_set(self):
    images = np.random.default_rng(0).uniform(-1, 1, (5, 4, 4, 3)).astype(np.float32)
    kernel = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
    variables = {'params': {'fc': {'kernel': kernel}}}  # no bias: the logits have none
    want = ((images + 1) / 2).mean(axis=(1, 2))
    with mock.patch.object(inception, '_apply', _channel_means):
      for batch_size in (1, 2, 5, 100):
        feats, logits = inception.features_and_logits(variables, images, batch_size,
                                                      quantize=False)
        np.testing.assert_allclose(feats, want, rtol=1e-6, err_msg=str(batch_size))
        np.testing.assert_allclose(logits, want @ kernel, rtol=1e-5, atol=1e-6,
                                   err_msg=str(batch_size))

  def test_fid_kid_is_are_those_of_the_fake_features_against_the_real_ones(self):
    from jaxgan.metrics.frechet import frechet_distance_from_features
    from jaxgan.metrics.inception_score import inception_score
    from jaxgan.metrics.kid import kernel_inception_distance
    from jaxgan.metrics.prdc import precision_recall_density_coverage
    rng = np.random.default_rng(2)
    real = rng.uniform(-1, 1, (12, 2, 2, 3)).astype(np.float32)
    fake = rng.uniform(-1, 0.5, (10, 2, 2, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 5)).astype(np.float32)
    with mock.patch.object(inception, '_apply', _channel_means):
      got = inception.fid_kid_is({'params': {'fc': {'kernel': kernel}}}, real, fake,
                                 batch_size=4)
    # The stand-in's features of the 8-bit images, in NumPy.
    f_real, f_fake = (np.round((x + 1) / 2 * 255).mean(axis=(1, 2)) / 255 for x in (real, fake))
    kid_mean, kid_std = kernel_inception_distance(f_real, f_fake)
    is_mean, is_std = inception_score(f_fake @ kernel)
    want = {'fid': frechet_distance_from_features(f_real, f_fake),
            'kid': kid_mean, 'kid_std': kid_std, 'kid_subset_size': 10,
            'is': is_mean, 'is_std': is_std, 'num_real': 12, 'num_fake': 10,
            **precision_recall_density_coverage(f_real, f_fake, 5), 'prdc_nearest_k': 5}
    self.assertEqual(set(got), set(want))
    self.assertGreater(want['kid_std'], 0)  # 10 of the 12 reals in each subset
    for k, v in want.items():
      np.testing.assert_allclose(got[k], v, rtol=1e-4, atol=1e-7, err_msg=k)

  def test_fid_kid_is_runs_both_sets_in_batches_of_the_size_given(self):
    # Each call of the network gets batch_size rows (rounded up to a multiple of the local
    # devices), for the real set as for the fake one: 12 reals and 10 fakes in batches of
    # 4 are 3 + 3 calls of 4 rows (the last of each padded), not the reals in one batch.
    devices = inception.sharding.local_mesh().size
    batch = -(-4 // devices) * devices
    rows = []

    def spy(variables, x):
      rows.append(int(np.shape(x)[0]))
      return _channel_means(variables, x)
    rng = np.random.default_rng(3)
    real = rng.uniform(-1, 1, (12, 2, 2, 3)).astype(np.float32)
    fake = rng.uniform(-1, 1, (10, 2, 2, 3)).astype(np.float32)
    kernel = rng.standard_normal((3, 5)).astype(np.float32)
    with mock.patch.object(inception, '_apply', spy):
      inception.fid_kid_is({'params': {'fc': {'kernel': kernel}}}, real, fake, batch_size=4)
    self.assertEqual(rows, [batch] * (math.ceil(12 / batch) + math.ceil(10 / batch)))

  def test_batches_are_rounded_up_to_a_multiple_of_the_local_devices(self):
    # On 3 devices (a stand-in mesh; rows are not really split), batch_size 4 becomes 6
    # and a set of 2 images one batch of 3: each call's rows divide over the devices.
    images = np.random.default_rng(0).uniform(-1, 1, (5, 4, 4, 3)).astype(np.float32)
    kernel = np.random.default_rng(1).standard_normal((3, 7)).astype(np.float32)
    rows = []

    def spy(variables, x):
      rows.append(len(x))
      return _channel_means(variables, x)
    with mock.patch.object(inception.sharding, 'local_mesh', return_value=mock.Mock(size=3)), \
         mock.patch.object(inception.sharding, 'put_rows', lambda x, mesh: (x,)), \
         mock.patch.object(inception, '_apply', spy):
      feats, _ = inception.features_and_logits({'params': {'fc': {'kernel': kernel}}},
                                               images, 4, quantize=False)
      np.testing.assert_allclose(feats, ((images + 1) / 2).mean(axis=(1, 2)), rtol=1e-6)
      self.assertEqual(rows, [6])
      rows.clear()
      inception.features_and_logits({'params': {'fc': {'kernel': kernel}}}, images[:2])
      self.assertEqual(rows, [3])


class ScoresInOrderTest(chex.TestCase):

  def test_inception_score_follows_the_samples_order(self):
    # fid_kid_is scores the samples in the order given (Salimans et al.'s splits): samples
    # grouped by class, 100 of each of 10, give each of the 10 splits one class, so every
    # p(y|x) is its split's p(y) and IS = exp(0) = 1 (closed form); a shuffle inside would
    # give about 10.
    classes = np.repeat(np.arange(10), 100)  # each 'image' is its class, grouped
    feats = np.random.default_rng(0).normal(size=(1000, 8)).astype(np.float32)

    def features_and_logits(variables, x, batch_size=100):  # what the network sees of x
      return feats, 30.0 * np.eye(10, dtype=np.float32)[x[:, 0].astype(int)]
    with mock.patch.object(inception, 'features_and_logits', features_and_logits):
      out = inception.fid_kid_is({}, classes[:, None], classes[:, None])
    self.assertAlmostEqual(out['is'], 1.0, places=4)
    self.assertAlmostEqual(out['fid'], 0.0, places=4)  # the same features on both sides
    self.assertEqual((out['num_real'], out['num_fake']), (1000, 1000))

  def test_inception_score_splits_of_unequal_sizes_follow_the_samples_order(self):
    # 15 samples in 10 splits: split i is samples [15i // 10, 15(i + 1) // 10), sizes 1, 2,
    # 1, 2, ... Classes chosen so that each 2-sample split holds one class twice: every
    # split's p(y|x) is its p(y), so IS = exp(0) = 1 (closed form). The samples reversed
    # would pair two classes in each 2-sample split: IS 1.5.
    classes = np.array([0, 1, 1, 2, 3, 3, 4, 5, 5, 6, 7, 7, 8, 9, 9])
    feats = np.random.default_rng(1).normal(size=(15, 8)).astype(np.float32)

    def features_and_logits(variables, x, batch_size=100):
      return feats, 30.0 * np.eye(10, dtype=np.float32)[x[:, 0].astype(int)]
    with mock.patch.object(inception, 'features_and_logits', features_and_logits):
      out = inception.fid_kid_is({}, classes[:, None], classes[:, None])
    self.assertAlmostEqual(out['is'], 1.0, places=4)
    self.assertAlmostEqual(out['is_std'], 0.0, places=4)


class RealFeaturesReuseTest(chex.TestCase):
  """fid_kid_is's real side: computed once while the variables and real images stay."""

  def test_reused_only_for_the_same_variables_and_the_same_bytes(self):
    calls = []

    def fake_features(variables, images, batch_size=100, quantize=True):
      calls.append(images)
      return images.reshape(len(images), -1) * variables['scale'], None
    v, same_values = {'scale': 2.0}, {'scale': 2.0}
    real = np.arange(24, dtype=np.float32).reshape(4, 2, 3, 1)
    changed = real.copy()
    changed[3, 1, 2, 0] += 1
    with mock.patch.object(inception, 'features_and_logits', fake_features):
      first = inception._real_features(v, real, 100)
      again = inception._real_features(v, real.copy(), 100)  # equal bytes, another array
      self.assertLen(calls, 1)
      self.assertIs(again, first)
      self.assertFalse(again.flags.writeable)  # shared: no caller changes it
      np.testing.assert_array_equal(first, real.reshape(4, -1) * 2)
      # One value changed, other variables (equal, yet another network's), a view of other
      # shape or dtype, another batch size: computed again.
      for args in ((v, changed, 100), (same_values, changed, 100),
                   (same_values, changed.reshape(4, 3, 2, 1), 100),
                   (same_values, changed.reshape(4, 3, 2, 1).astype(np.float64), 100),
                   (same_values, changed.reshape(4, 3, 2, 1).astype(np.float64), 50)):
        n = len(calls)
        inception._real_features(*args)
        self.assertLen(calls, n + 1, args[1].shape)
      np.testing.assert_array_equal(inception._real_features(v, changed, 100),
                                    changed.reshape(4, -1) * 2)


class RandomStateDictTest(chex.TestCase):
  """``torch_weights.random_state_dict``: the rules its docstring states."""

  LAYOUT = [('c.weight', [64, 32, 3, 3]), ('c.bias', [64]), ('bn.weight', [256]),
            ('bn.bias', [256]), ('bn.running_mean', [256]), ('bn.running_var', [256]),
            ('bn.num_batches_tracked', []), ('fc.weight', [100, 400])]

  def test_rules(self):
    sd = torch_weights.random_state_dict(self.LAYOUT, seed=3)
    self.assertEqual({k: list(v.shape) for k, v in sd.items()}, dict(self.LAYOUT))
    self.assertEqual(sd['bn.num_batches_tracked'].dtype, np.int64)
    self.assertEqual(int(sd['bn.num_batches_tracked']), 0)
    for k in ('c.weight', 'c.bias', 'bn.weight', 'bn.running_var', 'fc.weight'):
      self.assertEqual(sd[k].dtype, np.float32)
    for k in ('bn.weight', 'bn.running_var'):  # U[0.75, 1.25]: std 0.5 / sqrt(12)
      self.assertTrue(0.75 <= sd[k].min() and sd[k].max() <= 1.25)
      self.assertAlmostEqual(sd[k].std(), 0.5 / np.sqrt(12), delta=0.015)
    for k in ('c.bias', 'bn.bias', 'bn.running_mean'):  # N(0, 0.1^2)
      self.assertAlmostEqual(sd[k].std(), 0.1, delta=0.02)
    self.assertAlmostEqual(sd['c.weight'].std(), np.sqrt(2 / (32 * 9)), delta=0.002)  # He
    self.assertAlmostEqual(sd['fc.weight'].std(), np.sqrt(1 / 400), delta=0.001)

  def test_values_depend_on_seed_and_key_only(self):
    a = torch_weights.random_state_dict(self.LAYOUT, seed=3)
    b = torch_weights.random_state_dict(self.LAYOUT[::-1], seed=3)
    c = torch_weights.random_state_dict(self.LAYOUT, seed=4)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
    self.assertFalse(np.array_equal(a['c.weight'], c['c.weight']))

  def test_a_key_without_a_rule_is_named(self):
    with pytest.raises(ValueError, match=r'no rule for lstm.weight_ih of shape \(8, 4\)'):
      torch_weights.random_state_dict([('lstm.weight_ih', [8, 4])])

  def test_layout_of_keeps_the_selected_keys_in_order(self):
    sd = {'b.weight': np.zeros((2, 3, 1, 1)), 'a.bias': np.zeros(4),
          'head.weight': np.zeros((5, 2)), 'bn.num_batches_tracked': np.zeros((), np.int64)}
    self.assertEqual(torch_weights.layout_of(sd),
                     [('b.weight', [2, 3, 1, 1]), ('a.bias', [4]), ('head.weight', [5, 2]),
                      ('bn.num_batches_tracked', [])])
    self.assertEqual(torch_weights.layout_of(sd, keep=lambda k: not k.startswith('head.')),
                     [('b.weight', [2, 3, 1, 1]), ('a.bias', [4]),
                      ('bn.num_batches_tracked', [])])


class CheckStateDictTest(chex.TestCase):

  def test_no_path_reads_the_file_from_the_cache(self):
    cache = tempfile.mkdtemp()
    np.savez(os.path.join(cache, 'w.npz'), a=np.arange(3, dtype=np.float32))
    kwargs = {'file_name': 'w.npz', 'url': 'u', 'needed_by': 'FID', 'how_to_pass': 'p'}
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}):
      self.assertEqual(torch_weights.cache_path('w.npz'), os.path.join(cache, 'w.npz'))
      sd = torch_weights.load_state_dict(None, **kwargs)
    np.testing.assert_array_equal(sd['a'], [0, 1, 2])

  def test_no_path_reads_the_official_name_as_an_npz_without_pytorch(self):
    # The README's way without PyTorch: convert once, keep it in the cache. Only the .pth
    # name was looked for, so the .npz had to be passed on every run.
    cache = tempfile.mkdtemp()
    kwargs = {'file_name': 'w-1234.pth', 'url': 'u', 'needed_by': 'FID', 'how_to_pass': 'p'}
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}), \
         mock.patch.dict(sys.modules, {'torch': None}):
      with pytest.raises(FileNotFoundError, match=r'w-1234.pth, not found at .*w-1234.pth.*an '
                                                  r'.npz of its keys there, w-1234.npz'):
        torch_weights.load_state_dict(None, **kwargs)
      np.savez(os.path.join(cache, 'w-1234.npz'), a=np.arange(3, dtype=np.float32))
      np.testing.assert_array_equal(torch_weights.load_state_dict(None, **kwargs)['a'],
                                    [0, 1, 2])
      open(os.path.join(cache, 'w-1234.pth'), 'wb').close()  # the official file first
      with pytest.raises(torch_weights.WeightsError, match='w-1234.pth needs PyTorch'):
        torch_weights.load_state_dict(None, **kwargs)

  def test_long_lists_of_keys_name_ten_and_count_the_rest(self):
    expected = {f'k{i:02d}.weight': (2,) for i in range(13)}
    with pytest.raises(torch_weights.WeightsError) as e:
      torch_weights.check_state_dict({'k00.weight': np.zeros(2)}, expected, 'Net')
    names = ', '.join(f'k{i:02d}.weight' for i in range(1, 11))
    self.assertEqual(str(e.value),
                     f'Not the Net state dict: 12 missing keys: {names} and 2 more.')
    with pytest.raises(torch_weights.WeightsError) as e:  # exactly ten: no "more"
      torch_weights.check_state_dict({f'k{i:02d}.weight': np.zeros(2) for i in range(3)},
                                     expected, 'Net')
    names = ', '.join(f'k{i:02d}.weight' for i in range(3, 13))
    self.assertEqual(str(e.value), f'Not the Net state dict: 10 missing keys: {names}.')

  def test_an_npz_that_is_not_a_zip_archive_is_named_so(self):
    # np.load would try a non-zip .npz as a pickle (or a bare .npy array) and fail with a
    # message about pickles; the error says what the file is not.
    folder = tempfile.mkdtemp()
    kwargs = {'file_name': 'w.pth', 'url': 'u', 'needed_by': 'FID', 'how_to_pass': 'p'}
    garbage = os.path.join(folder, 'garbage.npz')
    with open(garbage, 'wb') as f:
      f.write(b'these bytes are not a zip archive')
    bare = os.path.join(folder, 'bare.npz')
    with open(bare, 'wb') as f:
      np.save(f, np.arange(3.0))  # one .npy array under an .npz name
    for path in (garbage, bare):
      with self.subTest(path), pytest.raises(
          torch_weights.WeightsError,
          match=r'is not an .npz \(a zip archive of arrays\); FID needs w.pth'):
        torch_weights.load_state_dict(path, **kwargs)

  def test_weights_of_another_float_type_become_float32_flax_layouts(self):
    # A half-precision state dict: float32 variables, conv [out, in, kh, kw] -> [kh, kw,
    # in, out] and linear [out, in] -> [in, out], checked element by element.
    w_conv = np.arange(2 * 3 * 1 * 2, dtype=np.float16).reshape(2, 3, 1, 2)
    w_fc = np.arange(6, dtype=np.float16).reshape(2, 3) - 2
    sd = {'c.weight': w_conv, 'fc.weight': w_fc, 'fc.bias': np.array([0.5, -1], np.float16)}
    f32 = lambda *shape: jax.ShapeDtypeStruct(shape, np.float32)
    target = {'params': {'c': {'kernel': f32(1, 2, 3, 2)},
                         'fc': {'kernel': f32(3, 2), 'bias': f32(2)}}}
    got = torch_weights.variables_from_state_dict(sd, target, 'Tiny')['params']
    for leaf in (got['c']['kernel'], got['fc']['kernel'], got['fc']['bias']):
      self.assertEqual(leaf.dtype, np.float32)
    conv = np.asarray(got['c']['kernel'])
    for o, i, y, x in np.ndindex(*w_conv.shape):
      self.assertEqual(conv[y, x, i, o], float(w_conv[o, i, y, x]))
    np.testing.assert_array_equal(got['fc']['kernel'], [[-2, 1], [-1, 2], [0, 3]])
    np.testing.assert_array_equal(got['fc']['bias'], [0.5, -1])

  def test_a_tensor_of_the_right_size_and_the_wrong_shape_is_named(self):
    # A transposed linear weight or a (7, 1) kernel stored as (1, 7) has as many values as
    # the expected one; each is named with both shapes, not loaded into the wrong layout.
    sd = dict(torch_weights.random_state_dict(read_layout(), 1))
    sd['fc.weight'] = sd['fc.weight'].T
    key = 'Mixed_6b.branch7x7_2.conv.weight'  # (1, 7) kernel: [128, 128, 1, 7]
    sd[key] = sd[key].reshape(128, 128, 7, 1)
    with pytest.raises(torch_weights.WeightsError) as e:
      inception.variables_from_state_dict(sd)
    self.assertEqual(str(e.value), 'Not the FID Inception state dict: 2 keys of the wrong '
                     f'shape: {key} (128, 128, 7, 1) (expected (128, 128, 1, 7)), fc.weight '
                     '(2048, 1008) (expected (1008, 2048)).')

  def test_a_missing_file_is_named_by_the_path_looked_for(self):
    # Neither the official file nor its .npz in the cache: the message names the official
    # path (the .npz is only the fallback), then where to get and put it.
    cache = tempfile.mkdtemp()
    kwargs = {'file_name': 'w-1234.pth', 'url': 'u', 'needed_by': 'FID', 'how_to_pass': 'p'}
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}), \
         pytest.raises(FileNotFoundError) as e:
      torch_weights.load_state_dict(None, **kwargs)
    self.assertTrue(str(e.value).startswith(
        f'FID needs the weights file w-1234.pth, not found at {cache}/w-1234.pth. Download '
        f'it from u and put it at {cache}/w-1234.pth '), str(e.value))


@NEEDS_PARITY
class LiveParityTest(parameterized.TestCase):
  """Against pytorch-fid itself (the ``[parity]`` extra)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    import torch
    from pytorch_fid import inception as pf_inception
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    cls.ref = read_reference()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), int(cls.ref['weights_seed']))
    tensors = {k: torch.from_numpy(v) for k, v in cls.state_dict.items()}
    with mock.patch.object(pf_inception, 'load_state_dict_from_url', lambda *a, **k: tensors):
      cls.net = pf_inception.InceptionV3(
          [pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]]).eval()
    cls.variables = inception.variables_from_state_dict(cls.state_dict)

  def pytorch_fid_pool3(self, images01: np.ndarray) -> np.ndarray:
    """pool3 features of NHWC images in [0, 1]: pytorch-fid takes NCHW."""
    import torch
    with torch.no_grad():
      x = torch.from_numpy(np.ascontiguousarray(images01.transpose(0, 3, 1, 2)))
      return self.net(x)[0][:, :, 0, 0].numpy()

  def test_layout_is_pytorch_fids_state_dict(self):
    """pytorch-fid's network loads the layout's weights strictly and has the same keys."""
    import torch
    from pytorch_fid import inception as pf_inception
    tensors = {k: torch.from_numpy(v) for k, v in self.state_dict.items()}
    with mock.patch.object(pf_inception, 'load_state_dict_from_url', lambda *a, **k: tensors):
      state = pf_inception.fid_inception_v3().state_dict()
    self.assertEqual([[k, list(v.shape)] for k, v in state.items()], read_layout())

  def test_stored_references_are_what_pytorch_fid_computes(self):
    """Up to float32 summation order (thread count, CPU): 1.5e-6 measured."""
    for size in (32, 299):
      np.testing.assert_allclose(self.pytorch_fid_pool3(fixture_images(size)),
                                 self.ref[f'pool3_{size}'], atol=TOL / 10, rtol=TOL / 10)
    rgb01 = np.repeat(np.round((gray_images() + 1) / 2 * 255) / 255, 3, axis=-1)
    np.testing.assert_allclose(self.pytorch_fid_pool3(rgb01.astype(np.float32)),
                               self.ref['gray_pool3'], atol=TOL / 10, rtol=TOL / 10)

  def test_pool3_features_of_other_images_match(self):
    """Non-square images, other sizes: pytorch-fid resizes both sides to 299."""
    images = np.random.default_rng(7).uniform(0, 1, (3, 40, 56, 3)).astype(np.float32)
    expected = self.pytorch_fid_pool3(images)
    pool3, _ = inception._apply(self.variables, images)
    np.testing.assert_allclose(pool3, expected, atol=TOL, rtol=TOL)

  def test_frechet_distance_equals_pytorch_fid(self):
    """jaxgan's eigen-form FD equals pytorch-fid's scipy.linalg.sqrtm form."""
    from pytorch_fid.fid_score import calculate_frechet_distance

    from jaxgan import metrics
    rng = np.random.default_rng(3)
    a = rng.standard_normal((500, 64)) @ rng.standard_normal((64, 64)) * 0.3
    b = rng.standard_normal((400, 64)) @ rng.standard_normal((64, 64)) * 0.3 + 0.2
    stats = [(x.mean(0), np.cov(x, rowvar=False)) for x in (a, b)]
    expected = calculate_frechet_distance(*stats[0], *stats[1])
    got = metrics.frechet_distance(*stats[0], *stats[1])
    np.testing.assert_allclose(got, expected, rtol=1e-6)

  def test_pth_and_npz_files_load_the_same(self):
    import torch
    d = tempfile.mkdtemp()
    torch.save({k: torch.from_numpy(v) for k, v in self.state_dict.items()},
               os.path.join(d, 'w.pth'))
    np.savez(os.path.join(d, 'w.npz'), **self.state_dict)
    kwargs = {'file_name': 'w', 'url': 'u', 'needed_by': 'FID', 'how_to_pass': 'p'}
    a = torch_weights.load_state_dict(os.path.join(d, 'w.pth'), **kwargs)
    b = torch_weights.load_state_dict(os.path.join(d, 'w.npz'), **kwargs)
    self.assertEqual(list(a), list(b))
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])
      self.assertEqual(a[k].dtype, b[k].dtype)


if __name__ == '__main__':
  absltest.main()
