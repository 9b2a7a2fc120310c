"""End to end: evaluate.evaluate on a tiny DCGAN run on CIFAR-10 (TFDS mock data).

FID/KID/IS use the FID Inception with random weights (``torch_weights.random_state_dict``
of ``tests/data/inception_layout.json``, saved as ``.npz``: no PyTorch needed); the numbers
are only checked for being well-formed, the network itself by ``test_inception.py``.
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
    with tfds.testing.mock_data(num_examples=24), self.assertWarnsRegex(UserWarning, '2048'):
      result = evaluate.evaluate(wd, num_samples=10, inception_weights=weights)
    self.assertEqual((result['num_real'], result['num_fake']), (10, 10))
    self.assertGreater(result['fid'], 0.0)
    self.assertTrue(np.isfinite(result['kid']))
    self.assertTrue(1.0 <= result['is'] <= 1008.0)
    self.assertIn('train split', result['fid_reference'])

  def test_unusable_weights_fail_before_any_sample(self):
    from jaxgan import evaluate
    d = tempfile.mkdtemp()
    bad_npz, wrong_keys = os.path.join(d, 'bad.npz'), os.path.join(d, 'wrong.npz')
    with open(bad_npz, 'wb') as f:
      f.write(b'not a zip file')
    np.savez(wrong_keys, fc=np.zeros(3))
    eval_json = os.path.join(self.workdir, 'eval.json')
    before = os.path.getmtime(eval_json) if os.path.exists(eval_json) else None
    for path, message in ((bad_npz, 'bad.npz cannot be read as an .npz of arrays'),
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
