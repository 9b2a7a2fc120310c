"""Every config builds, and the convolutional configs train a few steps."""

import importlib
import os
import tempfile

import chex
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan import train

CONFIGS = ['mlp_mnist', 'toy2d', 'wgan_gp_mnist', 'dcgan_cifar10', 'study_toy', 'study_grid25',
           'study_digits']


class ConfigsTest(chex.TestCase):

  @parameterized.parameters(*CONFIGS)
  def test_builds(self, name):
    import tensorflow_datasets as tfds
    config = importlib.import_module(f'configs.{name}').get_config()
    with tfds.testing.mock_data(num_examples=16):
      gan, pipeline = train.build(config)
      self.assertEqual(pipeline.batch(0).shape,
                       (config.n_critic, config.data.batch_size, *pipeline.element_shape))

  def test_every_study_run_builds(self):
    """Each (model, objective) of the digits study and each run of the grid25 study."""
    from configs import study_digits, study_grid25
    from jaxgan import study
    from jaxgan import study_digits as sd
    c = study_digits.get_config()
    self.assertEqual(sorted(c.study.models), ['dcgan', 'mlp'])
    for model in c.study.models:
      for run in c.study.runs:
        gan, pipeline = train.build(sd.run_config(c, model, run))
        self.assertEqual(pipeline.element_shape, (28, 28, 1))
    self.assertEqual(sd.run_config(c, 'dcgan', 'hinge:none').num_steps, 3000)
    g = study_grid25.get_config()
    for run in g.study.runs:
      objective, penalty = run.split(':')
      rc = study.run_config(g, 'grid25', objective, penalty, g.study.penalty_weights)
      train.build(rc)
      self.assertEqual((rc.num_steps, rc.penalty.weight), (20000, 0.1))

  def test_mnist_variant_uses_the_recipe(self):
    from configs import mlp_mnist
    c = mlp_mnist.get_config('mnist')
    self.assertEqual((c.data.name, c.num_epochs, c.num_steps), ('mnist', 80, -1))
    self.assertEqual((c.g_optimizer.learning_rate, c.d_optimizer.learning_rate,
                      c.g_optimizer.b1, c.data.batch_size, c.model.z_dim),
                     (1e-3, 1e-4, 0.5, 128, 100))

  @parameterized.parameters('wgan_gp_mnist', 'dcgan_cifar10')
  def test_conv_configs_train(self, name):
    import tensorflow_datasets as tfds
    c = importlib.import_module(f'configs.{name}').get_config()
    c.num_steps, c.data.batch_size = 2, 8
    c.model.generator.width, c.model.discriminator.width = 16, 16
    wd = tempfile.mkdtemp()
    with tfds.testing.mock_data(num_examples=16):
      state = train.train_and_evaluate(c, wd)
    self.assertEqual(int(state.step), 2)
    rows = open(os.path.join(wd, 'metrics.jsonl')).read()
    self.assertIn('"step": 2', rows)
    if c.penalty.name != 'none':
      self.assertIn('penalty', rows)
    self.assertTrue(np.isfinite(float(state.step)))


if __name__ == '__main__':
  absltest.main()
