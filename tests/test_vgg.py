"""The Flax VGG19 features against torchvision's ``vgg19().features``, with random weights.

The references (``tests/data/vgg19_reference.npz``, made by
``tests/data/make_parity_references.py``) hold torchvision's outputs at a few layers for
weights drawn with NumPy from ``tests/data/vgg19_layout.json``
(``torch_weights.random_state_dict``), which this test draws again for the port. Live tests
against torchvision itself need the ``[parity]`` extra and are skipped otherwise.
"""

import importlib.util
import json
import os
import tempfile
from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import absltest, parameterized

from jaxgan import torch_weights
from jaxgan.models import vgg

DATA = os.path.join(os.path.dirname(__file__), 'data')
HAS_TORCHVISION = all(importlib.util.find_spec(m) for m in ('torch', 'torchvision'))
NEEDS_TORCHVISION = pytest.mark.skipif(
    not HAS_TORCHVISION, reason='live comparison with torchvision needs the [parity] extra '
    '(torch, torchvision); the stored-reference tests cover the port without it')
TOL = 1e-4  # |port - torchvision| <= TOL * std(features); measured at most 1.3e-5 * std
# The stored layers of the references' images ([-1, 1], seeded with their height).
IMAGES = {(2, 16, 16): ('relu1_2', 'relu2_2', 'conv3_4', 'conv5_4', 'relu5_4'),
          (1, 48, 40): ('conv3_4', 'conv5_4', 'relu5_4')}


def read_layout() -> list:
  with open(os.path.join(DATA, 'vgg19_layout.json')) as f:
    return json.load(f)


def read_reference() -> dict[str, np.ndarray]:
  with np.load(os.path.join(DATA, 'vgg19_reference.npz')) as f:
    return {k: f[k] for k in f.files}


def fixture_images(n: int, h: int, w: int) -> np.ndarray:
  return np.random.default_rng(h).uniform(-1, 1, (n, h, w, 3)).astype(np.float32)


def assert_close_to_scale(actual, expected, tol=TOL, what=''):
  """``|actual - expected| <= tol * std(expected)`` elementwise."""
  expected = np.asarray(expected, np.float32)
  np.testing.assert_allclose(np.asarray(actual, np.float32), expected, rtol=0,
                             atol=tol * float(np.std(expected)), err_msg=what)


def apply(layers, variables, x, dtype=jnp.float32):
  return vgg.VGG19Features(layers=tuple(layers), dtype=dtype).apply(variables, x)


class FixtureParityTest(chex.TestCase):
  """The port against torchvision's stored outputs; runs without PyTorch."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.ref = read_reference()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), int(cls.ref['weights_seed']))
    cls.variables = vgg.variables_from_state_dict(cls.state_dict)

  def test_weights_are_those_of_the_references(self):
    np.testing.assert_array_equal(
        [np.sum(v, dtype=np.float64) for v in self.state_dict.values()],
        self.ref['weights_sums'], err_msg='NumPy draws other weights than the fixture was '
        'made with; re-run tests/data/make_parity_references.py')

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*IMAGES.items())
  def test_features_match_torchvision(self, shape, layers):
    """16x16 (conv5 at 1x1) and 48x40 (odd sizes: max pools floor 6x5 to 3x2)."""
    images = fixture_images(*shape)
    n, h, w = shape
    self.assertEqual(np.sum(images, dtype=np.float64), self.ref[f'images_{h}x{w}_sum'])
    out = self.variant(lambda v, x: apply(layers, v, x))(self.variables, images)
    self.assertEqual(sorted(out), sorted(layers))
    for name in layers:
      expected = self.ref[f'{name}_{h}x{w}']
      self.assertGreater(float(np.std(expected)), 0.05)  # not a degenerate network
      chex.assert_shape(out[name], expected.shape)
      assert_close_to_scale(out[name], expected, what=f'{name} {h}x{w}')

  def test_the_references_detect_a_wrong_input_norm_or_kernel_flip(self):
    """The test can fail: without the ImageNet normalization, or with convolution instead
    of PyTorch's cross-correlation (kernels flipped), features move by >100x TOL*std."""
    images, name = fixture_images(2, 16, 16), 'relu2_2'
    expected = self.ref[f'{name}_16x16']
    with mock.patch.object(vgg, 'IMAGENET_STD', (1.0, 1.0, 1.0)), \
         mock.patch.object(vgg, 'IMAGENET_MEAN', (0.0, 0.0, 0.0)):
      unnormalized = apply([name], self.variables, images)[name]
    flipped = jax.tree_util.tree_map_with_path(
        lambda p, x: x[::-1, ::-1] if p[-1].key == 'kernel' else x, self.variables)
    for wrong in (unnormalized, apply([name], flipped, images)[name]):
      self.assertGreater(float(np.abs(wrong - expected).max()), 100 * TOL * np.std(expected))

  def test_bfloat16_computation(self):
    """``dtype=bfloat16``: bf16 features, float32 parameters, within bf16 rounding."""
    images = fixture_images(1, 48, 40)
    layers = IMAGES[(1, 48, 40)]
    out = apply(layers, self.variables, images, dtype=jnp.bfloat16)
    params = jax.eval_shape(vgg.VGG19Features(dtype=jnp.bfloat16).init, jax.random.key(0),
                            images)['params']
    self.assertEqual({x.dtype for x in jax.tree.leaves(params)}, {jnp.dtype(jnp.float32)})
    for name in layers:
      self.assertEqual(out[name].dtype, jnp.bfloat16)
      assert_close_to_scale(out[name], self.ref[f'{name}_48x40'], tol=0.15, what=name)


class LayerSelectionTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.variables = vgg.variables_from_state_dict(
        torch_weights.random_state_dict(read_layout(), 5))
    cls.images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)

  def test_layer_names(self):
    self.assertLen(vgg.LAYERS, 32)
    self.assertEqual(vgg.LAYERS[:4], ('conv1_1', 'relu1_1', 'conv1_2', 'relu1_2'))
    self.assertEqual(vgg.LAYERS[-2:], ('conv5_4', 'relu5_4'))

  def test_relu_is_the_conv_after_its_activation(self):
    """SRGAN's relu5_4 (after the activation) is max(ESRGAN's conv5_4, 0)."""
    out = apply(['relu5_4', 'conv5_4'], self.variables, self.images)
    chex.assert_shape(out['conv5_4'], (2, 2, 2, 512))
    self.assertGreater(float(jnp.mean(out['conv5_4'] < 0)), 0.1)  # the ReLU does something
    np.testing.assert_array_equal(out['relu5_4'], np.maximum(out['conv5_4'], 0))
    conv1_1 = apply(['conv1_1'], self.variables, self.images)['conv1_1']
    np.testing.assert_array_equal(apply(['relu1_1'], self.variables, self.images)['relu1_1'],
                                  np.maximum(conv1_1, 0))

  def test_only_the_requested_layers_are_computed(self):
    """Convolutions run up to the deepest requested layer; init creates only those."""
    for layers, convs in ((['conv1_1'], 1), (['relu2_2', 'conv1_2'], 4), (['conv3_1'], 5),
                          (['relu5_4'], 16)):
      jaxpr = jax.make_jaxpr(lambda x, layers=layers: apply(layers, self.variables, x))(
          self.images)
      got = str(jaxpr).count('conv_general_dilated')
      self.assertEqual(got, convs, msg=f'{layers}')
      params = jax.eval_shape(vgg.VGG19Features(layers=tuple(layers)).init,
                              jax.random.key(0), self.images)
      self.assertLen(params['params'], convs)
    out = apply(['relu2_2', 'conv1_2'], self.variables, self.images)
    self.assertEqual(sorted(out), ['conv1_2', 'relu2_2'])
    chex.assert_shape([out['conv1_2'], out['relu2_2']], [(2, 32, 32, 64), (2, 16, 16, 128)])

  def test_unknown_layer_lists_the_valid_names(self):
    with pytest.raises(ValueError, match=r"Unknown VGG19 layer.*'relu5_5'.*conv1_1, relu1_1"):
      apply(['relu5_5'], self.variables, self.images)
    with pytest.raises(ValueError, match=r'\(none given\)'):
      apply([], self.variables, self.images)

  def test_one_layer_name_as_a_string_and_the_default_layer(self):
    """``layers='relu1_1'`` is the one layer, not its characters; the default is SRGAN's
    relu5_4 (after the activation)."""
    self.assertEqual(vgg.check_layers('relu1_1'), ('relu1_1',))
    out = vgg.VGG19Features(layers='relu1_1').apply(self.variables, self.images)
    self.assertEqual(list(out), ['relu1_1'])
    out = vgg.VGG19Features().apply(self.variables, self.images)
    self.assertEqual(list(out), ['relu5_4'])
    np.testing.assert_array_equal(out['relu5_4'],
                                  np.maximum(apply(['conv5_4'], self.variables,
                                                   self.images)['conv5_4'], 0))

  def test_images_too_small_for_the_layer_are_rejected(self):
    # Block B's input has passed B - 1 floored max pools: 2**(B-1) pixels give one feature.
    for layer, side in (('conv1_1', 1), ('relu2_2', 2), ('conv3_4', 4), ('relu4_1', 8),
                        ('conv5_4', 16)):
      self.assertEqual(vgg.min_side([layer, 'conv1_1']), side)
      self.assertEqual(vgg.min_side(['conv1_1', layer]), side)  # the deepest, in any order
      out = apply([layer], self.variables, self.images[:, :side, :side + 3])[layer]
      chex.assert_shape(out, (2, 1, 1 + 3 // side, vgg._CHANNELS[int(layer[4]) - 1]))
      if side > 1:  # one pixel fewer: an empty map, whose mean is NaN
        with pytest.raises(ValueError, match=rf'{layer} needs images of at least {side}x'
                           rf'{side}.*\(2, {side - 1}, {side + 3}, 3\)'):
          apply([layer], self.variables, self.images[:, :side - 1, :side + 3])

  def test_images_too_narrow_for_the_layer_are_rejected(self):
    # The width alone too small: relu2_2 follows one max pool, so 1 column gives none.
    with pytest.raises(ValueError, match=r'relu2_2 needs images of at least 2x2.*\(2, 8, 1, 3\)'):
      apply(['relu2_2'], self.variables, self.images[:, :8, :1])

  def test_non_rgb_input_is_rejected(self):
    with pytest.raises(ValueError, match=r'\[N, H, W, 3\].*\(2, 32, 32, 1\)'):
      apply(['conv1_1'], self.variables, self.images[..., :1])

  def test_init_is_torchvisions_kaiming_fan_out(self):
    """kaiming_normal_(mode='fan_out', nonlinearity='relu'): std sqrt(2 / (out * 3 * 3))."""
    params = jax.jit(vgg.VGG19Features(layers=('conv3_1',)).init)(jax.random.key(0),
                                                                  self.images[:1, :8, :8])
    kernel = params['params']['conv3_1']['kernel']  # [3, 3, 128, 256]
    self.assertAlmostEqual(float(jnp.std(kernel)), np.sqrt(2 / (256 * 9)), delta=0.001)
    # A normal, not a truncated one: of 294,912 weights about 0.27 % lie beyond 3 std.
    beyond = float(jnp.mean(jnp.abs(kernel) > 3 * np.sqrt(2 / (256 * 9))))
    self.assertAlmostEqual(beyond, 0.0027, delta=0.0005)
    np.testing.assert_array_equal(params['params']['conv3_1']['bias'], 0)


class LoadingTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), 2)

  def test_missing_file_names_file_url_cache_and_config_field(self):
    cache = tempfile.mkdtemp()
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}):
      vgg.load.cache_clear()
      with pytest.raises(FileNotFoundError) as e:
        vgg.load()
    for part in ('vgg19-dcbb9e9d.pth', 'https://download.pytorch.org/models/vgg19-dcbb9e9d.pth',
                 os.path.join(cache, 'vgg19-dcbb9e9d.pth'), '$JAXGAN_CACHE', '~/.cache/jaxgan/',
                 'content.vgg_weights'):
      self.assertIn(part, str(e.value))

  def test_npz_with_classifier_keys_loads(self):
    """The full torchvision file also holds ``classifier.*``: accepted, not needed."""
    sd = {**self.state_dict, 'classifier.0.weight': np.zeros((4, 7), np.float32),
          'classifier.6.bias': np.zeros(3, np.float32)}
    path = os.path.join(tempfile.mkdtemp(), 'vgg.npz')
    np.savez(path, **sd)
    params = vgg.load(path)['params']
    self.assertLen(params, 16)
    np.testing.assert_array_equal(params['conv2_1']['kernel'],  # features.5: conv2_1
                                  sd['features.5.weight'].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params['conv5_4']['bias'], sd['features.34.bias'])

  def test_missing_and_ill_shaped_feature_keys_are_named(self):
    sd = dict(self.state_dict)
    sd.pop('features.34.bias')
    sd['features.5.weight'] = sd['features.5.weight'][:, :32]
    sd['features.99.weight'] = np.zeros(3, np.float32)
    with pytest.raises(ValueError) as e:
      vgg.variables_from_state_dict(sd)
    self.assertRegex(str(e.value), r'VGG19.*1 missing keys: features.34.bias; 1 unexpected '
                     r'keys: features.99.weight; 1 keys of the wrong shape: features.5.weight '
                     r'\(128, 32, 3, 3\) \(expected \(128, 64, 3, 3\)\)')


@NEEDS_TORCHVISION
class LiveParityTest(chex.TestCase):
  """Against torchvision itself (the ``[parity]`` extra)."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    import torch
    import torchvision
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    cls.ref = read_reference()
    cls.state_dict = torch_weights.random_state_dict(read_layout(), int(cls.ref['weights_seed']))
    cls.net = torchvision.models.vgg19(weights=None, init_weights=False).eval()
    cls.net.features.load_state_dict({k.removeprefix('features.'): torch.from_numpy(v)
                                      for k, v in cls.state_dict.items()})
    cls.variables = vgg.variables_from_state_dict(cls.state_dict)

  def torchvision_features(self, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every conv/relu output of ``vgg19().features``, named by walking its modules, on
    BasicSR's input (range_norm, then ImageNet normalization)."""
    import torch
    mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    x = ((torch.from_numpy(images.transpose(0, 3, 1, 2).copy()) + 1) / 2 - mean) / std
    out, block, conv = {}, 1, 0
    with torch.no_grad():
      for module in self.net.features[:-1]:  # without pool5 (a 1x1 map has none)
        x = module(x)
        if isinstance(module, torch.nn.Conv2d):
          conv += 1
          name = f'conv{block}_{conv}'
        elif isinstance(module, torch.nn.ReLU):
          name = f'relu{block}_{conv}'
        else:
          block, conv = block + 1, 0
          continue
        out[name] = x.numpy().transpose(0, 2, 3, 1).copy()  # before an in-place ReLU
    return out

  def test_layout_is_torchvisions_features(self):
    self.assertEqual([[k, list(v.shape)] for k, v in self.net.state_dict().items()
                      if k.startswith('features.')], read_layout())

  def test_stored_references_are_what_torchvision_computes(self):
    # Up to another torch build's float32 round-off: torch 2.14.1 (CPU) computes the
    # 48x40 image's relu5_4 within 1.24e-5 * std of the stored features, the 16x16 ones
    # exactly (2026-12-06); a wrong fixture misses by the features' own scale.
    for (n, h, w), layers in IMAGES.items():
      expected = self.torchvision_features(fixture_images(n, h, w))
      for name in layers:
        assert_close_to_scale(self.ref[f'{name}_{h}x{w}'], expected[name], tol=TOL / 4,
                              what=f'{name} {h}x{w}')

  def test_every_layer_matches_torchvision(self):
    images = np.random.default_rng(9).uniform(-1, 1, (2, 40, 36, 3)).astype(np.float32)
    expected = self.torchvision_features(images)
    self.assertEqual(sorted(expected), sorted(vgg.LAYERS))
    out = apply(vgg.LAYERS, self.variables, images)
    for name in vgg.LAYERS:
      assert_close_to_scale(out[name], expected[name], what=name)

  def test_pth_file_loads(self):
    import torch
    path = os.path.join(tempfile.mkdtemp(), 'vgg19.pth')
    torch.save({**self.net.features.state_dict(prefix='features.'),
                'classifier.6.bias': torch.zeros(1000)}, path)
    params = vgg.load(path)['params']
    np.testing.assert_array_equal(params['conv3_4']['kernel'],
                                  self.state_dict['features.16.weight'].transpose(2, 3, 1, 0))


if __name__ == '__main__':
  absltest.main()
