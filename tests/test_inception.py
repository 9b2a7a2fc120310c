"""The Flax FID Inception against pytorch-fid's InceptionV3, with random weights.

pytorch-fid builds its network and then downloads the 2015-12-05 weights; the download is
replaced by a random state dict (conv/fc weights and BatchNorm statistics alike), which is
copied into the Flax port. Equal pool3 features on the same images prove the architecture
and preprocessing without any weights file.
"""

import os
import tempfile

import chex
import numpy as np
import pytest
import torch
import torchvision
from absl.testing import absltest
from pytorch_fid import inception as pf_inception

from jaxgan.metrics import inception


def random_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
  """A random state dict of the FID Inception's keys and shapes.

  Weights are scaled so activations stay O(1) through 94 layers; BatchNorm statistics,
  scales and shifts are random too, so the test sees any mix-up of them.
  """
  torch.manual_seed(seed)
  net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                        init_weights=False)
  out = {}
  for k, v in net.state_dict().items():
    if k.endswith('num_batches_tracked'):
      out[k] = v
    elif k.endswith('running_var'):
      out[k] = torch.rand_like(v) * 0.5 + 0.75
    elif k.endswith('running_mean') or k.endswith('bn.bias'):
      out[k] = torch.randn_like(v) * 0.1
    elif k.endswith('bn.weight'):
      out[k] = torch.rand_like(v) * 0.5 + 0.75
    elif v.ndim == 4:  # He-scaled conv weights
      fan_in = v.shape[1] * v.shape[2] * v.shape[3]
      out[k] = torch.randn_like(v) * np.sqrt(2.0 / fan_in)
    else:
      out[k] = torch.randn_like(v) / np.sqrt(v.shape[-1])
  return out


def reference_network(state_dict) -> torch.nn.Module:
  """pytorch-fid's InceptionV3 (pool3 block), its download replaced by ``state_dict``."""
  original = pf_inception.load_state_dict_from_url
  pf_inception.load_state_dict_from_url = lambda *a, **k: state_dict
  try:
    net = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
  finally:
    pf_inception.load_state_dict_from_url = original
  return net.eval()


def reference_features(net, images01: np.ndarray) -> np.ndarray:
  """pool3 features of NHWC images in [0, 1]: pytorch-fid takes NCHW."""
  with torch.no_grad():
    x = torch.from_numpy(np.ascontiguousarray(images01.transpose(0, 3, 1, 2)))
    return net(x)[0][:, :, 0, 0].numpy()


class FIDInceptionParityTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    cls.state_dict = random_state_dict()
    cls.net = reference_network(cls.state_dict)
    cls.variables = inception.variables_from_state_dict(
        {k: v.numpy() for k, v in cls.state_dict.items()})

  def test_pool3_features_match_pytorch_fid(self):
    """Random images of three sizes (up- and down-sampled to 299): features within 1e-4."""
    rng = np.random.default_rng(0)
    for size in (32, 64, 320):
      images = rng.uniform(0, 1, (3, size, size, 3)).astype(np.float32)
      expected = reference_features(self.net, images)
      pool3, logits = inception._apply(self.variables, images)
      chex.assert_shape(pool3, (3, 2048))
      chex.assert_shape(logits, (3, 1008))
      self.assertGreater(float(np.std(expected)), 1e-2)  # not a degenerate network
      np.testing.assert_allclose(np.asarray(pool3), expected, atol=1e-4, rtol=1e-4,
                                 err_msg=f'{size}px')

  def test_logits_are_the_fc_layer(self):
    images = np.random.default_rng(1).uniform(0, 1, (2, 32, 32, 3)).astype(np.float32)
    pool3 = reference_features(self.net, images)
    fc_w = self.state_dict['fc.weight'].numpy()
    fc_b = self.state_dict['fc.bias'].numpy()
    _, logits = inception._apply(self.variables, images)
    np.testing.assert_allclose(np.asarray(logits), pool3 @ fc_w.T + fc_b, atol=1e-3, rtol=1e-4)

  def test_features_of_jaxgan_images(self):
    """[-1, 1] grayscale images: mapped to [0, 1], 8-bit quantized, copied to 3 channels."""
    rng = np.random.default_rng(2)
    gray = rng.uniform(-1, 1, (5, 28, 28, 1)).astype(np.float32)
    feats, logits = inception.features_and_logits(self.variables, gray, batch_size=4)
    chex.assert_shape(feats, (5, 2048))
    rgb01 = np.repeat(np.round((gray + 1) / 2 * 255) / 255, 3, axis=-1).astype(np.float32)
    expected = reference_features(self.net, rgb01)
    np.testing.assert_allclose(feats, expected, atol=1e-4, rtol=1e-4)
    np.testing.assert_allclose(logits, expected @ self.state_dict['fc.weight'].numpy().T,
                               atol=1e-3, rtol=1e-4)


class FrechetAgainstPytorchFidTest(chex.TestCase):

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


class EvaluateImagesTest(chex.TestCase):
  """One small DCGAN run on CIFAR-10 (TFDS mock data), shared by the tests."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    import tensorflow_datasets as tfds

    from configs import dcgan_cifar10
    from jaxgan import train
    c = dcgan_cifar10.get_config()
    c.num_steps, c.steps_per_call, c.data.batch_size = 1, 1, 8
    c.model.generator.width, c.model.discriminator.width = 8, 8
    cls.workdir = tempfile.mkdtemp()
    with tfds.testing.mock_data(num_examples=24):
      train.train_and_evaluate(c, cls.workdir)

  def test_fid_kid_is_of_an_rgb_run(self):
    """launch.evaluate's path on CIFAR-10 (TFDS mock) with a random-weights .npz file."""
    import tensorflow_datasets as tfds

    from jaxgan import evaluate
    wd = self.workdir
    weights = os.path.join(tempfile.mkdtemp(), 'w.npz')
    np.savez(weights, **{k: v.numpy() for k, v in random_state_dict().items()})
    with tfds.testing.mock_data(num_examples=24), self.assertWarnsRegex(UserWarning, '2048'):
      result = evaluate.evaluate(wd, num_samples=10, inception_weights=weights)
    self.assertEqual((result['num_real'], result['num_fake']), (10, 10))
    self.assertGreater(result['fid'], 0.0)
    self.assertTrue(np.isfinite(result['kid']))
    self.assertTrue(1.0 <= result['is'] <= 1008.0)
    self.assertIn('train split', result['fid_reference'])

  def test_rgb_run_without_weights_names_the_file(self):
    import tensorflow_datasets as tfds

    from jaxgan import evaluate
    wd = self.workdir
    os.environ['JAXGAN_CACHE'] = tempfile.mkdtemp()
    inception.load.cache_clear()
    with tfds.testing.mock_data(num_examples=24), pytest.raises(
        FileNotFoundError, match=f'{inception.WEIGHTS_FILE}.*{os.environ["JAXGAN_CACHE"]}'):
      evaluate.evaluate(wd, num_samples=8)


class LoadingTest(chex.TestCase):

  def test_missing_file_names_the_file_and_the_url(self):
    with pytest.raises(FileNotFoundError) as e:
      inception.load_state_dict('/nonexistent/weights.pth')
    self.assertIn(inception.WEIGHTS_FILE, str(e.value))
    self.assertIn(inception.WEIGHTS_URL, str(e.value))
    self.assertIn('--inception_weights', str(e.value))

  def test_wrong_state_dict_is_reported(self):
    sd = {k: v.numpy() for k, v in random_state_dict().items()}
    sd.pop('Mixed_7c.branch_pool.conv.weight')
    sd['extra.weight'] = np.zeros(3)
    with pytest.raises(ValueError, match='1 missing keys.*Mixed_7c.branch_pool.conv.weight'
                                         '.*1 unexpected keys.*extra.weight'):
      inception.variables_from_state_dict(sd)

  def test_wrong_shape_is_reported(self):
    sd = {k: v.numpy() for k, v in random_state_dict().items()}
    sd['fc.weight'] = np.zeros((1000, 2048), np.float32)
    with pytest.raises(ValueError, match='fc.weight'):
      inception.variables_from_state_dict(sd)

  def test_pth_and_npz_files_load_the_same(self):
    sd = random_state_dict()
    d = tempfile.mkdtemp()
    torch.save(sd, os.path.join(d, 'w.pth'))
    np.savez(os.path.join(d, 'w.npz'), **{k: v.numpy() for k, v in sd.items()})
    a = inception.load_state_dict(os.path.join(d, 'w.pth'))
    b = inception.load_state_dict(os.path.join(d, 'w.npz'))
    self.assertEqual(sorted(a), sorted(b))
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])

  def test_bad_images_are_rejected(self):
    with pytest.raises(ValueError, match='non-finite'):
      inception.to_unit_range(np.full((2, 8, 8, 3), np.nan, np.float32))
    with pytest.raises(ValueError, match=r'\[-1, 1\]'):
      inception.to_unit_range(np.full((2, 8, 8, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match=r'\(2, 8, 8\)'):
      inception.to_unit_range(np.zeros((2, 8, 8), np.float32))


if __name__ == '__main__':
  absltest.main()
