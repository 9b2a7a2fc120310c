"""End to end: evaluate.evaluate on a tiny DCGAN run on CIFAR-10 (TFDS mock data).

FID/KID/IS use the FID Inception with random weights (``torch_weights.random_state_dict``
of ``tests/data/inception_layout.json``, saved as ``.npz``: no PyTorch needed); the numbers
are recomputed here from the network's features (SciPy, NumPy), the network itself is checked
by ``test_inception.py``.
"""

import json
import os
import tempfile
from unittest import mock

import chex
import numpy as np
import pytest
import tensorflow_datasets as tfds
from absl.testing import absltest

from jaxgan import torch_weights
from jaxgan.metrics import inception

DATA = os.path.join(os.path.dirname(__file__), 'data')


class EvaluateImagesTest(chex.TestCase):
  """One small DCGAN run on CIFAR-10 (TFDS mock data), shared by the tests."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    from configs import dcgan_cifar10
    from jaxgan import train
    c = dcgan_cifar10.get_config()
    c.num_steps, c.num_epochs, c.steps_per_call, c.data.batch_size = 1, 0.0, 1, 8
    c.model.generator.width, c.model.discriminator.width = 8, 8
    cls.workdir = tempfile.mkdtemp()
    with tfds.testing.mock_data(num_examples=24):
      train.train_and_evaluate(c, cls.workdir)

  def test_fid_kid_is_of_an_rgb_run(self):
    """launch.evaluate's path on CIFAR-10 (TFDS mock) with a random-weights .npz file."""
    from jaxgan import evaluate
    wd = self.workdir
    with open(os.path.join(DATA, 'inception_layout.json')) as f:
      state_dict = torch_weights.random_state_dict(json.load(f), seed=0)
    weights = os.path.join(tempfile.mkdtemp(), 'w.npz')
    np.savez(weights, **state_dict)
    spy = mock.patch.object(inception, 'fid_kid_is', wraps=inception.fid_kid_is)
    features = []  # what Inception gave for each set, in order: the reals, then the samples
    real_features = inception.features_and_logits

    def features_kept(variables, images, *args, **kwargs):
      features.append((images, real_features(variables, images, *args, **kwargs)))
      return features[-1][1]
    with (tfds.testing.mock_data(num_examples=24), self.assertWarnsRegex(UserWarning, '2048'),
          spy as fid_kid_is,
          mock.patch.object(inception, 'features_and_logits', features_kept)):
      result = evaluate.evaluate(wd, num_samples=20, inception_weights=weights)
    self.assertEqual((result['num_real'], result['num_fake'], result['kid_subset_size']),
                     (20, 20, 20))  # the KID subsets' size, under its 1,000: recorded
    # The numbers reported are those of the samples and reals the run passed, recomputed
    # here from their Inception features: FID in closed form, KID as the brute-force
    # unbiased MMD (20 <= the subset size: every subset is the whole set), IS in NumPy.
    _, real, fake = fid_kid_is.call_args.args
    chex.assert_shape((real, fake), (20, 32, 32, 3))
    self.assertLen(features, 2)
    self.assertIs(features[0][0], real)
    self.assertIs(features[1][0], fake)
    (f_real, _), (f_fake, logits) = (f for _, f in features)
    f_real, f_fake, logits = (np.asarray(a, np.float64) for a in (f_real, f_fake, logits))
    # tr sqrt(s1 s2) without a 2048 x 2048 square root (SciPy's sqrtm took 11 s of this
    # test): with A, B the centred features, s1 = A'A / 19 and s2 = B'B / 19, so s1 s2's
    # eigenvalues other than 0 are those of M M' with M = A B' / 19 (20 x 20), and
    # tr sqrt(s1 s2) is the sum of M's singular values. Exact, and not the port's route
    # (an eigendecomposition of the 2048 x 2048 product's symmetric form).
    def fid_of(f_real, f_fake):
      s1, s2 = np.cov(f_real, rowvar=False), np.cov(f_fake, rowvar=False)
      a, b = f_real - f_real.mean(0), f_fake - f_fake.mean(0)
      trace_root = np.linalg.svd(a @ b.T / 19, compute_uv=False).sum()
      return (((f_real.mean(0) - f_fake.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
              - 2 * trace_root)
    np.testing.assert_allclose(result['fid'], fid_of(f_real, f_fake), rtol=1e-7)
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3
    off = ~np.eye(20, dtype=bool)
    kid = k(f_real, f_real)[off].mean() + k(f_fake, f_fake)[off].mean() - 2 * k(f_real,
                                                                                 f_fake).mean()
    np.testing.assert_allclose(result['kid'], kid, rtol=1e-4, atol=1e-9)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = [np.exp(np.mean(np.sum(q * (np.log(q) - np.log(q.mean(0))), axis=1)))
              for q in np.split(p, 10)]  # 10 splits of 2
    np.testing.assert_allclose(result['is'], np.mean(scores), rtol=1e-5)
    self.assertGreater(result['is'], 1.0)
    self.assertIn('train split', result['fid_reference'])
    # Evaluated again (other samples, the same real images, as --all_steps does for each
    # kept checkpoint): the reals pass through Inception once, and their features give
    # the FID that they gave above.
    with (tfds.testing.mock_data(num_examples=24), self.assertWarnsRegex(UserWarning, '2048'),
          spy as fid_kid_is,
          mock.patch.object(inception, 'features_and_logits', features_kept)):
      again = evaluate.evaluate(wd, num_samples=20, seed=1, inception_weights=weights)
    _, real_again, fake_again = fid_kid_is.call_args.args
    np.testing.assert_array_equal(real_again, real)
    self.assertLen(features, 3)
    self.assertIs(features[2][0], fake_again)
    f_again = np.asarray(features[2][1][0], np.float64)
    self.assertFalse(np.allclose(f_again, f_fake))
    np.testing.assert_allclose(again['fid'], fid_of(f_real, f_again), rtol=1e-7)

  def test_unusable_weights_fail_before_any_sample(self):
    from jaxgan import evaluate
    d = tempfile.mkdtemp()
    bad_npz, wrong_keys = os.path.join(d, 'bad.npz'), os.path.join(d, 'wrong.npz')
    with open(bad_npz, 'wb') as f:
      f.write(b'not a zip file')
    np.savez(wrong_keys, fc=np.zeros(3))
    objects = os.path.join(d, 'objects.npz')
    np.savez(objects, fc=np.array([{}], dtype=object))
    eval_json = os.path.join(self.workdir, 'eval.json')
    before = os.path.getmtime(eval_json) if os.path.exists(eval_json) else None
    for path, message in ((bad_npz, r'bad.npz is not an .npz \(a zip archive of arrays\)'),
                          (objects, 'objects.npz cannot be read as an .npz of arrays'),
                          (wrong_keys, 'Not the FID Inception state dict: .* missing keys')):
      with tfds.testing.mock_data(num_examples=24), \
           mock.patch.object(evaluate.inference, 'sample') as sample, \
           pytest.raises(torch_weights.WeightsError, match=message):
        evaluate.evaluate(self.workdir, num_samples=10, inception_weights=path)
      sample.assert_not_called()
    self.assertEqual(os.path.getmtime(eval_json) if os.path.exists(eval_json) else None, before)

  def test_rgb_run_without_weights_names_the_file(self):
    from jaxgan import evaluate
    wd = self.workdir
    cache = tempfile.mkdtemp()
    with mock.patch.dict(os.environ, {'JAXGAN_CACHE': cache}):
      inception.load.cache_clear()
      with tfds.testing.mock_data(num_examples=24), pytest.raises(
          FileNotFoundError, match=f'{inception.WEIGHTS_FILE}.*{cache}'):
        evaluate.evaluate(wd, num_samples=10)


if __name__ == '__main__':
  absltest.main()
