"""Vmapped seeds equal separate runs; the study and evaluate entry points."""

import json
import os
import tempfile

import chex
import jax
import numpy as np
from absl.testing import absltest

from jaxgan import data, evaluate, seeds, study, study_digits, train
from jaxgan.metrics import digit_classifier
from tests.test_train import small_config


class SeedsTest(chex.TestCase):

  def test_vmapped_seeds_equal_separate_runs(self):
    config = small_config(num_steps=20, **{'penalty.name': 'r1'})
    gan, _ = train.build(config)
    seed_list = [3, 7]
    pipes = seeds.seed_pipelines('ring8', seed_list, batch_size=config.data.batch_size)
    states, diverged = seeds.train_seeds(gan, pipes, seed_list, 20, 5)
    np.testing.assert_array_equal(diverged, [0, 0])
    for i, s in enumerate(seed_list):
      config.seed = s
      alone = train.train_and_evaluate(config, tempfile.mkdtemp())
      chex.assert_trees_all_close(jax.tree.map(lambda x, i=i: x[i], states), alone,
                                  rtol=2e-4, atol=2e-5)
    # Different seeds really differ.
    self.assertFalse(np.allclose(jax.tree.leaves(states.g_params)[0][0],
                                 jax.tree.leaves(states.g_params)[0][1]))

  def test_a_diverging_seed_is_reported_and_others_continue(self):
    config = small_config(num_steps=20)
    gan, _ = train.build(config)
    pipes = seeds.seed_pipelines('ring8', [0, 1], batch_size=config.data.batch_size)
    p = pipes[1]
    poisoned = data.Pipeline(p.name, p.element_shape, p.num_examples, p.data_range,
                             lambda s: p.batch(s) * (np.nan if s == 6 else 1.0))
    states, diverged = seeds.train_seeds(gan, [pipes[0], poisoned], [0, 1], 20, 5)
    np.testing.assert_array_equal(diverged, [0, 7])
    chex.assert_tree_all_finite(jax.tree.map(lambda x: x[0], states))

  def test_summarize_skips_diverged_seeds(self):
    results = [{'modes': 8.0, 'hq_percent': 90.0, 'strict_modes': 8.0, 'reverse_kl': 0.1},
               {'modes': 6.0, 'hq_percent': 70.0, 'strict_modes': 5.0, 'reverse_kl': 0.3},
               {'diverged_at': 12}]
    s = study.summarize(results)
    self.assertEqual((s['seeds'], s['diverged']), (3, 1))
    self.assertEqual(s['modes'], (7.0, 1.0))
    np.testing.assert_allclose(s['hq_percent'], (80.0, 10.0))

  def test_study_writes_report(self):
    from configs import study_toy
    c = study_toy.get_config()
    c.model.generator.features = (16,)
    c.model.discriminator.features = (16,)
    c.num_steps = 10
    c.steps_per_call = 5
    c.study.datasets = ('ring8',)
    c.study.runs = ('hinge:none', 'wasserstein:wgan_gp')
    c.study.num_seeds = 2
    wd = tempfile.mkdtemp()
    report = study.run_study(c, wd)
    self.assertEqual([r['objective'] for r in report['ring8']], ['hinge', 'wasserstein'])
    self.assertEqual(len(report['ring8'][1]['per_seed']), 2)
    for name in ('study.md', 'study.json', 'study_ring8.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    self.assertIn('| wasserstein | wgan_gp |', open(os.path.join(wd, 'study.md')).read())


class DigitsStudyTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    os.environ['JAXGAN_CACHE'] = tempfile.mkdtemp()  # one classifier for the class

  def _config(self):
    from configs import study_digits as cfg
    c = cfg.get_config('mlp')
    c.data.image_size, c.data.batch_size = 8, 32
    c.model.generator.features, c.model.discriminator.features = (16,), (16,)
    c.model.generator.output_shape = (8, 8, 1)
    c.num_steps, c.steps_per_call = 20, 5
    c.study.update(num_seeds=2, eval_every=10, num_samples=200,
                   runs=('non_saturating:none', 'wasserstein:wgan_gp'))
    return c

  def test_callback_sees_every_call(self):
    config = small_config(num_steps=20)
    gan, _ = train.build(config)
    pipes = seeds.seed_pipelines('ring8', [0, 1], batch_size=config.data.batch_size)
    seen = []
    seeds.train_seeds(gan, pipes, [0, 1], 12, 5,
                      callback=lambda s, st: seen.append((s, int(st.step[0]))))
    self.assertEqual(seen, [(5, 5), (10, 10), (12, 12)])

  def test_digits_study_writes_curves(self):
    wd = tempfile.mkdtemp()
    report = study_digits.run_study(self._config(), wd)
    r = report['mlp/wasserstein:wgan_gp']
    self.assertEqual(r['steps'], [10, 20])
    chex.assert_shape(np.asarray(r['digit_fd']), (2, 2))
    self.assertTrue(np.all(np.isfinite(r['digit_fd'])))
    for name in ('digits.md', 'digits.json', 'digits_fd.png'):
      self.assertTrue(os.path.exists(os.path.join(wd, name)), name)
    self.assertIn('| mlp | wasserstein | wgan_gp |', open(os.path.join(wd, 'digits.md')).read())

  def test_sequential_seeds_give_the_vmapped_curves(self):
    """The sequential path (for conv models) trains the same seeds to the same scores."""
    c = self._config()
    features = digit_classifier.Reference(8)
    run = study_digits.run_config(c, 'mlp', 'non_saturating:none')
    together = study_digits.run_one(run, [0, 1], 10, 200, features, vmap_seeds=True)
    apart = study_digits.run_one(run, [0, 1], 10, 200, features, vmap_seeds=False)
    self.assertEqual(together['steps'], apart['steps'])
    np.testing.assert_allclose(apart['digit_fd'], together['digit_fd'], rtol=1e-3)
    self.assertFalse(np.allclose(together['digit_fd'][-1][0], together['digit_fd'][-1][1]))


class EvaluateTest(chex.TestCase):

  def test_mixture_run(self):
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(small_config(num_steps=10), wd)
    result = evaluate.evaluate(wd, num_samples=3000)
    self.assertEqual(result['step'], 10)
    for k in ('hq_percent', 'modes', 'strict_modes', 'reverse_kl'):
      self.assertIn(k, result)
    self.assertEqual(json.load(open(os.path.join(wd, 'eval.json')))['modes'], result['modes'])

  def test_digits_run(self):
    os.environ['JAXGAN_CACHE'] = tempfile.mkdtemp()
    c = small_config(num_steps=5, steps_per_call=5)
    c.data.name, c.data.image_size = 'digits', 8
    c.model.generator.output_shape = (8, 8, 1)
    c.model.generator.output_activation = 'tanh'
    wd = tempfile.mkdtemp()
    train.train_and_evaluate(c, wd)
    result = evaluate.evaluate(wd, num_samples=1000)
    self.assertGreater(result['digit_fd'], result['digit_fd_floor_real_vs_real'])
    self.assertTrue(1.0 <= result['digit_is'] <= 10.0)
    # The classifier behind digit-FD really classifies held-out digits.
    from jaxgan.metrics import digit_classifier as dc
    _, (held_x, held_y) = dc.split_digits(8)
    _, logits = dc.features_and_logits(dc.load_or_train(8), held_x)
    self.assertGreater(float((logits.argmax(1) == held_y).mean()), 0.95)


if __name__ == '__main__':
  absltest.main()
