"""Conditioning, once: class labels and InfoGAN codes through the step, penalties at fixed
labels, DiffAugment, sampling by label or code, and the conditional evaluations."""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import types
from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
import scipy.stats
from absl.testing import absltest
from PIL import Image

from configs import acgan_digits, cgan_digits, infogan_digits
from jaxgan import build, data, evaluate, inference, models, train, validation
from jaxgan import gan as gan_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'PYTHONPATH': ROOT}


def _two_class_folder() -> data.Pipeline:
  """A labelled folder of 8 x 8 images: 6 of class a (pixel value 40), 2 of class b (200)."""
  root = tempfile.mkdtemp()
  for c, n, value in (('a', 6, 40), ('b', 2, 200)):
    os.mkdir(os.path.join(root, c))
    for i in range(n):
      Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(
          os.path.join(root, c, f'{i}.png'))
  return data.get('images', batch_size=2, path=root, image_size=8, labels=True)


def _small(config, steps: int = 2):
  """``config`` with 8-wide convs, 32-wide dense layers, batch 16 and ``steps`` steps."""
  config.num_steps, config.data.batch_size, config.num_eval_samples = steps, 16, 20
  config.model.generator.width = config.model.discriminator.width = 8
  config.model.discriminator.hidden = 32
  if config.model.name == 'infogan':
    config.model.generator.hidden = 32
  return config


class ConditionalStepTest(chex.TestCase):

  def test_fake_labels_reach_g_and_d_and_real_labels_reach_d(self):
    """D(x, y): changing only the real batch's labels changes the critic's update."""
    gan, pipe = build.build(_small(cgan_digits.get_config()))
    state = jax.jit(lambda k: gan_lib.init_state(gan, k, pipe.element_shape))(jax.random.key(0))
    batch = jax.tree.map(jnp.asarray, pipe.batch(0))
    step = jax.jit(lambda s, b: gan_lib.train_step(gan, s, b, jax.random.key(1)))
    a, _ = step(state, batch)
    relabelled = {**batch, 'y': (batch['y'] + 1) % 10}
    b, _ = step(state, relabelled)
    self.assertFalse(np.allclose(jax.tree.leaves(a.d_params)[0], jax.tree.leaves(b.d_params)[0]))
    z, y = gan_lib.sample_latent(gan.latent, jax.random.key(2), 1000)
    self.assertEqual((y.dtype, int(y.min()), int(y.max())), (jnp.int32, 0, 9))
    self.assertTrue(0.07 < float(jnp.mean(y == 3)) < 0.13)  # uniform over the classes

  def test_codes_are_drawn_as_infogan_defines_them(self):
    gan, _ = build.build(_small(infogan_digits.get_config()))
    z, codes = gan_lib.sample_latent(gan.latent, jax.random.key(0), 2000)
    chex.assert_shape((z, codes['categorical'], codes['continuous']),
                      [(2000, 62), (2000,), (2000, 2)])
    cont = np.asarray(codes['continuous'])
    self.assertTrue(-1 <= cont.min() and cont.max() <= 1)
    np.testing.assert_allclose(cont.std(0), 2 / np.sqrt(12), rtol=0.05)  # U[-1, 1]
    counts = np.bincount(np.asarray(codes['categorical']), minlength=10)
    self.assertTrue(np.all(np.abs(counts / 2000 - 0.1) < 0.03))

  def test_truncation_bounds_the_noise_and_leaves_the_codes(self):
    # z from N(0, I) truncated to [-1, 1]: inside it, with the truncated normal's variance
    # (SciPy's closed form, 0.291); the codes drawn as without truncation.
    gan, _ = build.build(_small(infogan_digits.get_config()))
    key = jax.random.key(4)
    z, codes = gan_lib.sample_latent(gan.latent, key, 4000, truncation=1.0)
    z_full, codes_full = gan_lib.sample_latent(gan.latent, key, 4000)
    z = np.asarray(z)
    self.assertTrue(-1 <= z.min() and z.max() <= 1)
    self.assertGreater(np.abs(np.asarray(z_full)).max(), 3)  # the untruncated noise is not
    np.testing.assert_allclose(z.var(), scipy.stats.truncnorm.var(-1, 1), rtol=0.01)
    chex.assert_trees_all_equal(codes, codes_full)

  def test_every_conditional_family_trains_with_a_penalty_and_augment(self):
    for get in (cgan_digits.get_config, acgan_digits.get_config, infogan_digits.get_config):
      c = _small(get())
      c.penalty = dict(name='r1', weight=1.0, every=1, kwargs={})
      c.augment = 'color,translation,cutout'
      wd = tempfile.mkdtemp()
      state = train.train_and_evaluate(c, wd)
      self.assertEqual(int(state.step), 2)
      rows = open(os.path.join(wd, 'metrics.jsonl')).read()
      self.assertIn('"penalty"', rows)
      if c.auxiliary.name != 'none':
        self.assertIn(f'"d_{c.auxiliary.name}"', rows)
        self.assertIn(f'"g_{c.auxiliary.name}"', rows)
      self.assertEqual('"infogan_mi_categorical"' in rows, c.auxiliary.name == 'infogan')

  def test_conditional_model_on_unlabelled_data_is_refused(self):
    c = _small(cgan_digits.get_config())
    c.data = dict(name='ring8', batch_size=16)
    with self.assertRaisesRegex(ValueError, "'cgan' is class-conditional but dataset 'ring8' "
                                            'has no labels'):
      build.build(c)

  def test_discriminator_class_count_must_match_the_generators(self):
    # A critic with fewer classes than the labels it is given turned the first step's
    # losses to NaN; more classes would train a class it never sees.
    for get, field in ((cgan_digits.get_config, 'num_classes'),
                       (acgan_digits.get_config, 'num_classes'),
                       (infogan_digits.get_config, 'num_categories')):
      for wrong in (5, 12):
        c = _small(get())
        c.model.discriminator[field] = wrong
        with self.assertRaisesRegex(ValueError, f'discriminator has {field}={wrong} but the '
                                    f'generator has 10; set config.model.discriminator'):
          build.build(c)

  def test_infogan_code_sizes_out_of_range_name_the_fields(self):
    for field, value, least in (('num_categories', 0, 1), ('num_continuous', -1, 0)):
      c = _small(infogan_digits.get_config())
      c.model.generator[field] = c.model.discriminator[field] = value
      with self.subTest(field), self.assertRaisesRegex(
          validation.ConfigError, rf'config.model.generator.{field} = {value}: model '
          rf"'infogan' needs {field} >= {least}\."):
        build.build(c)
    for module in models.get('infogan', {'num_categories': 0}, {'num_categories': 0}):
      with self.subTest(type(module).__name__), self.assertRaisesRegex(
          ValueError, f'{type(module).__name__} needs num_categories >= 1 and num_continuous '
          '>= 0; got num_categories=0, num_continuous=2'):
        inputs = ((jnp.zeros((2, 28, 28, 1)),) if 'Discriminator' in type(module).__name__
                  else (jnp.zeros((2, 4)), {'categorical': jnp.zeros(2, jnp.int32),
                                            'continuous': jnp.zeros((2, 2))}))
        jax.eval_shape(lambda m=module, i=inputs: m.init(jax.random.key(0), *i))

  def test_labels_and_categorical_codes_must_lie_in_their_range(self):
    # One past the last class (or category) is refused, as is -1: neither is an input the
    # generator saw in training. The checks read gan.latent alone.
    cgan = types.SimpleNamespace(latent=gan_lib.Latent(conditioning='labels', num_classes=10))
    inference.check_labels(cgan, np.array([0, 9]))
    for bad in (10, -1):
      with self.assertRaisesRegex(ValueError, rf'Labels must lie in \[0, 10\); got {bad}\.$'):
        inference.check_labels(cgan, np.array([0, bad]))
    # The values outside, each once, not the range of all (it said 'got [12, 12]').
    with self.assertRaisesRegex(ValueError, r'; got -2, 10, 11, 12, 13 and 2 more\.$'):
      inference.check_labels(cgan, np.array([3, 12, -2, 12, 10, 11, 13, 14, 15, 0]))
    info = types.SimpleNamespace(latent=gan_lib.Latent(conditioning='codes', num_categorical=4,
                                                       num_continuous=2))
    inference.check_codes(info, {'categorical': np.array([0, 3])})
    for bad in (4, -1):
      with self.assertRaisesRegex(ValueError, rf'codes must lie in \[0, 4\); got {bad}\.$'):
        inference.check_codes(info, {'categorical': np.array([bad, 0])})

  def test_exactly_five_values_outside_are_all_named_with_no_more(self):
    # The message names the first five values outside; ' and N more' only when there are
    # more than five (it said ' and 0 more' for exactly five).
    cgan = types.SimpleNamespace(latent=gan_lib.Latent(conditioning='labels', num_classes=10))
    with self.assertRaisesRegex(ValueError, r'; got -2, -1, 10, 11, 12\.$'):
      inference.check_labels(cgan, np.array([0, 12, -2, 11, 10, -1, 3]))
    with self.assertRaisesRegex(ValueError, r'; got -3, -2, -1, 10, 11 and 1 more\.$'):
      inference.check_labels(cgan, np.array([0, 12, -2, 11, 10, -1, -3]))

  def test_codes_must_be_one_per_sample_not_a_scalar(self):
    # A 0-d code is refused as a ValueError naming its shape (len() of it was a TypeError).
    # The check reads gan.latent alone, before any sampling.
    info = types.SimpleNamespace(latent=gan_lib.Latent(conditioning='codes', num_categorical=4,
                                                       num_continuous=2))
    for codes in ({'categorical': np.array(2)}, {'continuous': np.float32(0.5)}):
      with self.assertRaisesRegex(ValueError, r"codes\['\w+'\] has shape \(\): give one "
                                  r'per sample, 4 \(num_samples\) rows'):
        inference.sample(info, None, 4, use_ema=False, codes=codes)

  def test_architecture_differences_name_three_then_count_the_rest(self):
    # The first three differing parameters (sorted paths, both shapes), then how many more.
    z = lambda *s: np.zeros(s, np.float32)
    a = {'a': z(1), 'b': z(2), 'c': z(3), 'd': z(4)}
    b = {'a': z(2), 'b': z(3), 'c': z(4), 'd': z(4)}
    with self.assertRaisesRegex(validation.ConfigError,
                                r"^x: the generators differ in architecture \(4 vs 4 "
                                r"parameters\); \['a'\]: \(1,\) vs \(2,\); \['b'\]: "
                                r"\(2,\) vs \(3,\); \['c'\]: \(3,\) vs \(4,\)\.$"):
      inference._check_same_structure(a, b, 'x')
    b['d'] = z(5)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"\['c'\]: \(3,\) vs \(4,\); and 1 more\.$"):
      inference._check_same_structure(a, b, 'x')


class ConditionalSamplingTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.cgan = tempfile.mkdtemp()
    train.train_and_evaluate(_small(cgan_digits.get_config()), cls.cgan)
    cls.infogan = tempfile.mkdtemp()
    train.train_and_evaluate(_small(infogan_digits.get_config()), cls.infogan)

  def _sample(self, workdir, *flags):
    out = os.path.join(tempfile.mkdtemp(), 's.npy')
    proc = subprocess.run([sys.executable, '-m', 'launch.sample', f'--workdir={workdir}',
                           f'--output={out}', '--num_samples=20', *flags], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    return proc, out

  def test_labels_choose_the_class(self):
    gan, _, state, _ = inference.restore(self.cgan)
    all_labels = np.arange(20) % 10
    x = inference.sample(gan, state, 20, use_ema=True, labels=all_labels)
    # The same noise with label i mod K equals sampling each sample with its own label.
    z, _ = gan_lib.sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), 0), 20)
    for i in (0, 7, 13):
      one = gan_lib.generate(gan, state, z[i:i + 1], jnp.asarray([all_labels[i]]), True)
      np.testing.assert_allclose(x[i], np.asarray(one)[0], atol=1e-5)
    # In batches of 7, sample i still has label i (not the first batch's labels again).
    perm = np.random.default_rng(1).permutation(20) % 10
    x7 = inference.sample(gan, state, 20, use_ema=True, labels=perm, batch_size=7)
    each = gan_lib.generate(gan, state, z, jnp.asarray(perm), True)
    np.testing.assert_allclose(x7, np.asarray(each), atol=1e-5)
    three = inference.sample(gan, state, 20, use_ema=True, labels=np.full(20, 3))
    self.assertFalse(np.allclose(x[:3], three[:3]))
    proc, out = self._sample(self.cgan, '--labels=all')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    np.testing.assert_allclose(np.load(out), x, atol=1e-5)
    proc, out = self._sample(self.cgan, '--labels=3')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    np.testing.assert_allclose(np.load(out), three, atol=1e-5)  # every sample of class 3
    # One label per sample, a whole class number: not dropped, run short or truncated.
    for bad, message in ((np.arange(21) % 10, r'labels has shape \(21,\): give one per sample, '
                                               r'20 \(num_samples\) rows'),
                         (np.arange(19) % 10, r'labels has shape \(19,\)'),
                         (np.zeros(0, int), r'labels has shape \(0,\)'),
                         (np.full(20, 2.7), 'labels must be whole class numbers'),
                         (np.zeros((20, 1), int), 'labels must be whole class numbers')):
      with self.subTest(message), self.assertRaisesRegex(ValueError, message):
        inference.sample(gan, state, 20, use_ema=True, labels=bad)
    np.testing.assert_allclose(  # a list, and whole floats, are taken
        inference.sample(gan, state, 20, use_ema=True, labels=[3.0] * 20), three, atol=1e-5)

  def test_a_walk_holds_its_rows_class(self):
    # --walk=4 with --labels=all: row i runs from the noise of sample i to that of sample
    # 20 + i in class i mod 10, which is sample 20 + i's class too: its ends are those
    # samples of --labels=all.
    proc, out = self._sample(self.cgan, '--labels=all', '--walk=4')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    walks = np.load(out)
    chex.assert_shape(walks, (20, 4, 28, 28, 1))
    gan, _, state, _ = inference.restore(self.cgan, with_data=False)
    x = inference.sample(gan, state, 40, use_ema=True, labels=np.arange(40) % 10)
    np.testing.assert_allclose(walks[:, 0], x[:20], atol=1e-5)
    np.testing.assert_allclose(walks[:, -1], x[20:], atol=1e-4)
    # A PNG of walks: 10 rows unless told; 10 rows of 101 steps are more than a grid holds.
    png = os.path.join(tempfile.mkdtemp(), 'walk.png')
    for steps, want in ((3, f'wrote 10 walks of 3 steps (slerp, step 2) to {png}'),
                        (101, 'A PNG grid holds at most 1000 images; got --num_samples=10 '
                              'walks of 101')):
      proc = subprocess.run([sys.executable, '-m', 'launch.sample', f'--workdir={self.cgan}',
                             f'--output={png}', '--labels=all', f'--walk={steps}'], cwd=ROOT,
                            env=ENV, capture_output=True, text=True, timeout=300)
      self.assertIn(want, proc.stdout + proc.stderr)
    self.assertEqual(Image.open(png).size, (3 * (3 * 29 + 1), 3 * (10 * 29 + 1)))

  def test_png_grid_has_one_column_per_class(self):
    """--output=*.png: sample i (class i mod 10) in row i // 10 and column i mod 10, 28 px
    cells 1 px apart, upscaled 3 times, in [0, 1]; 100 samples in a square unless told."""
    out = os.path.join(tempfile.mkdtemp(), 'grid.png')
    proc, _ = self._sample(self.cgan, f'--output={out}', '--labels=all')  # 20 samples
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn(f'wrote a picture of (20, 28, 28, 1) samples of step 2 to {out}',
                  proc.stdout)
    gan, _, state, _ = inference.restore(self.cgan, with_data=False)
    x = inference.sample(gan, state, 20, use_ema=True, labels=np.arange(20) % 10)
    grid = np.asarray(Image.open(out).convert('L'), np.float32) / 255
    self.assertEqual(grid.shape, (3 * (2 * 29 + 1), 3 * (10 * 29 + 1)))  # not 5 x 4
    grid = grid[::3, ::3]
    for i in (0, 9, 10, 17, 19):
      r, c = divmod(i, 10)
      cell = grid[1 + 29 * r:29 * (r + 1), 1 + 29 * c:29 * (c + 1)]
      np.testing.assert_allclose(cell, np.clip((x[i, ..., 0] + 1) / 2, 0, 1), atol=0.01)
    np.testing.assert_array_equal(grid[::29], 1.0)  # the white lines between rows
    for flags, want in ((['--labels=3', '--num_samples=1000'],  # the most a grid holds
                         'wrote a picture of (1000, 28, 28, 1)'),
                        (['--labels=3'], 'wrote a picture of (100, 28, 28, 1)'),
                        (['--labels=3', '--num_samples=1001'],
                         'A PNG grid holds at most 1000 images')):
      proc = subprocess.run([sys.executable, '-m', 'launch.sample', f'--workdir={self.cgan}',
                             f'--output={out}', *flags], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=300)
      self.assertIn(want, proc.stdout + proc.stderr)
    self.assertEqual(Image.open(out).size, (3 * (10 * 29 + 1),) * 2)
    # Fewer samples than classes: one row of classes 0, 1, 2, no blank columns.
    proc, _ = self._sample(self.cgan, f'--output={out}', '--labels=all', '--num_samples=3')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertEqual(Image.open(out).size, (3 * (3 * 29 + 1), 3 * (29 + 1)))
    self.assertIn('3 samples cover classes 0 to 2 of the 10 (--num_samples=10 or more',
                  proc.stderr)  # the other classes are missing, which was silent
    # As many samples as classes: one full row, and nothing to say.
    proc, _ = self._sample(self.cgan, f'--output={out}', '--labels=all', '--num_samples=10')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertEqual(Image.open(out).size, (3 * (10 * 29 + 1), 3 * (29 + 1)))
    self.assertNotIn('samples cover', proc.stderr)

  def test_the_training_grid_shows_each_class_in_its_own_column(self):
    """samples/step_*.png: the fixed noise of fold_in(fold_in(key(seed), 1), 2**31 - 1)
    (jaxgan.build's key schedule) with labels i mod 10, sample i in row i // 10 and column
    i mod 10 (not a 4 x 5 square of 20)."""
    gan, _, state, config = inference.restore(self.cgan, with_data=False)
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(config.seed), 1), 2**31 - 1)
    z, _ = gan_lib.sample_latent(gan.latent, key, 20)
    x = np.asarray(gan_lib.generate(gan, state, z, jnp.arange(20) % 10,
                                    use_ema=inference.uses_ema(config)))
    path = os.path.join(self.cgan, 'samples', 'step_0000002.png')
    grid = np.asarray(Image.open(path).convert('L'), np.float32) / 255
    self.assertEqual(grid.shape, (3 * (2 * 29 + 1), 3 * (10 * 29 + 1)))
    grid = grid[::3, ::3]
    for i in (0, 9, 10, 17, 19):
      r, c = divmod(i, 10)
      cell = grid[1 + 29 * r:29 * (r + 1), 1 + 29 * c:29 * (c + 1)]
      np.testing.assert_allclose(cell, np.clip((x[i, ..., 0] + 1) / 2, 0, 1), atol=0.01)

  def test_a_tfds_run_samples_without_its_data_set(self):
    """A class-conditional MNIST run trained on TFDS's mock data samples, in process and by
    launch.sample, where MNIST is not prepared: its model comes from data_shapes.json."""
    import tensorflow_datasets as tfds
    config = _small(cgan_digits.get_config())
    config.data = dict(name='mnist', batch_size=16, data_dir=tempfile.mkdtemp())  # empty
    wd = tempfile.mkdtemp()
    with tfds.testing.mock_data(num_examples=32):
      trained = train.train_and_evaluate(config, wd)
    with open(os.path.join(wd, 'data_shapes.json')) as f:
      self.assertEqual(json.load(f), {'name': 'mnist', 'element_shape': [28, 28, 1],
                                      'num_classes': 10, 'evaluator': 'digits',
                                      'lowres_shape': None})
    with self.assertRaisesRegex(FileNotFoundError, "'mnist' .*is not prepared"):
      inference.restore(wd)  # the input pipeline needs the data set
    gan, pipe, state, _ = inference.restore(wd, with_data=False)
    self.assertEqual((pipe.element_shape, pipe.num_classes), ((28, 28, 1), 10))
    with self.assertRaisesRegex(RuntimeError, 'shapes only'):
      pipe.batch(0)
    chex.assert_trees_all_equal(state.ema_params, trained.ema_params)
    # The trained state's EMA generator on sample() 's documented noise and labels.
    labels = np.arange(20) % 10
    z, _ = gan_lib.sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), 0), 20)
    want = gan_lib.generate(gan, trained, z, jnp.asarray(labels), True)
    proc, out = self._sample(wd, '--labels=all')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    np.testing.assert_allclose(np.load(out), want, atol=1e-5)

  def test_sampling_errors(self):
    for flags, message in (((), 'class-conditional (10 classes): give labels'),
                           (('--labels=12',), 'Labels must lie in [0, 10); got 12.'),
                           (('--labels=x',), "--labels must be 'all' or an integer"),
                           (('--codes=all',), '--codes is for InfoGAN models')):
      proc, _ = self._sample(self.cgan, *flags)
      self.assertNotEqual(proc.returncode, 0, flags)
      self.assertIn(message, proc.stderr)

  def test_codes_choose_the_category(self):
    proc, out = self._sample(self.infogan, '--codes=all')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    gan, _, state, _ = inference.restore(self.infogan)
    want = inference.sample(gan, state, 20, use_ema=False,
                            codes={'categorical': np.arange(20) % 10})
    np.testing.assert_allclose(np.load(out), want, atol=1e-5)
    # By hand: sample()'s documented noise and continuous codes, the categories given.
    z, drawn = gan_lib.sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), 0), 20)
    got = {}
    for category in (3, 4):
      codes = {**drawn, 'categorical': jnp.full(20, category, jnp.int32)}
      got[category] = inference.sample(gan, state, 20, use_ema=False,
                                       codes={'categorical': np.full(20, category)})
      np.testing.assert_allclose(got[category], gan_lib.generate(gan, state, z, codes, False),
                                 rtol=1e-4, atol=1e-7)
    # (A briefly trained generator's outputs are small, ~3e-3; the code moves them ~1e-4.)
    self.assertGreater(np.abs(got[3] - got[4]).max(), 1e-5)

  def test_sample_grids_ask_for_each_class_in_turn(self):
    # The training grids' labels are i mod K: every class in order, row after row.
    gan, pipe = build.build(cgan_digits.get_config())
    _, y = build.eval_inputs(gan, pipe, 0, 25)
    np.testing.assert_array_equal(y, np.arange(25) % 10)

  def test_infogan_grids_ask_for_each_code_in_turn_a_column_each(self):
    # As launch.sample --codes=all: categorical code i mod K, continuous codes drawn.
    config = _small(infogan_digits.get_config())
    gan, pipe = build.build(config)
    z, codes = build.eval_inputs(gan, pipe, 0, 25)
    np.testing.assert_array_equal(codes['categorical'], np.arange(25) % 10)
    chex.assert_shape((z, codes['continuous']), ((25, gan.latent.z_dim), (25, 2)))
    self.assertTrue(np.all(np.abs(np.asarray(codes['continuous'])) <= 1))
    self.assertGreater(np.std(np.asarray(codes['continuous'])), 0.3)  # drawn, not fixed
    # The training grid of 20 samples: 10 columns (one a code) by 2 rows of 28 px cells,
    # 1 px apart, drawn 3x.
    path = os.path.join(self.infogan, 'samples', f'step_{config.num_steps:07d}.png')
    with Image.open(path) as im:
      size = im.size
    self.assertEqual(size, (3 * (10 * 29 + 1), 3 * (2 * 29 + 1)))  # (width, height)

  def test_the_figures_cli_on_a_damaged_checkpoint_is_one_line(self):
    # Its error came first, then TensorStore's late callbacks as tracebacks.
    import shutil
    wd = os.path.join(tempfile.mkdtemp(), 'damaged')
    shutil.copytree(self.cgan, wd)
    for root, _, names in os.walk(os.path.join(wd, 'checkpoints')):
      for name in names:
        if os.sep + 'd' + os.sep in os.path.join(root, name) + os.sep:  # the data files
          with open(os.path.join(root, name), 'wb') as f:
            f.write(b'cut')
    proc = subprocess.run([sys.executable, '-m', 'studies.figures', 'classes',
                           f'--workdir={wd}', f'--output={os.path.join(wd, "f.png")}'],
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          capture_output=True, text=True, timeout=300, check=False)
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertRegex(proc.stderr.strip().splitlines()[-1], r'^Error: The checkpoint of step '
                     r'\d+ .* cannot be restored')
    self.assertNotIn('Traceback', proc.stderr)

  def test_figure_grids_ask_for_each_class_and_sweep_the_code_over_minus_2_to_2(self):
    from studies import figures
    grids = []
    save = lambda x, path, ncols: grids.append((np.asarray(x).shape, ncols))
    with mock.patch.object(figures.plots, 'save_image_grid', save), \
         mock.patch.object(figures.inference, 'sample', wraps=figures.inference.sample) as spy:
      figures.class_grid(self.cgan, 'unused.png', per_class=3)
    np.testing.assert_array_equal(spy.call_args.kwargs['labels'], np.repeat(np.arange(10), 3))
    self.assertIs(spy.call_args.args[3], True)  # the cgan run keeps an EMA (0.999): sampled
    with mock.patch.object(figures.plots, 'save_image_grid', save), \
         mock.patch.object(figures.gan_lib, 'generate', wraps=figures.gan_lib.generate) as spy:
      figures.code_grid(self.infogan, 'unused.png', continuous=1, steps=5)
    self.assertEqual(spy.call_count, 10)  # one row per category
    codes = spy.call_args.args[3]
    np.testing.assert_array_equal(codes['categorical'], np.full(5, 9))
    np.testing.assert_allclose(codes['continuous'][:, 1], [-2, -1, 0, 1, 2])
    np.testing.assert_array_equal(codes['continuous'][:, 0], 0.0)
    self.assertEqual(grids, [((30, 28, 28, 1), 3), ((50, 28, 28, 1), 5)])
    for bad in (2, -1):  # the run has 2 continuous codes; -1 would sweep the last one
      with self.assertRaisesRegex(ValueError, rf'^continuous must be in \[0, 2\) for .*; got '
                                  f'{bad}.$'):
        figures.code_grid(self.infogan, 'unused.png', continuous=bad, steps=5)

  def test_codes_outside_the_categories_are_refused(self):
    # one_hot(10, 10) is a zero vector: a code the generator never saw, so refused.
    gan, _, state, _ = inference.restore(self.infogan)
    for bad in (10, -1):
      with self.assertRaisesRegex(ValueError, r'Categorical codes must lie in \[0, 10\)'):
        inference.sample(gan, state, 4, use_ema=False, codes={'categorical': np.full(4, bad)})
    with self.assertRaisesRegex(ValueError, r"codes are 'categorical' and 'continuous'"):
      inference.sample(gan, state, 4, use_ema=False, codes={'discrete': np.zeros(4, int)})
    with self.assertRaisesRegex(ValueError, r"codes\['categorical'\] has shape \(3,\): give one "
                                r'per sample, 4 \(num_samples\) rows'):
      inference.sample(gan, state, 4, use_ema=False, codes={'categorical': np.zeros(3, int)})
    with self.assertRaisesRegex(ValueError, r"codes\['categorical'\] has shape \(0,\)"):
      inference.sample(gan, state, 4, use_ema=False, codes={'categorical': np.zeros(0, int)})
    with self.assertRaisesRegex(ValueError, 'Categorical codes must be whole category numbers'):
      inference.sample(gan, state, 4, use_ema=False, codes={'categorical': np.full(4, 2.7)})
    # A NaN code: XLA:CPU's dot fusion made finite samples of it.
    for bad in (np.nan, np.inf):
      with self.assertRaisesRegex(ValueError, 'Continuous codes must be finite numbers'):
        inference.sample(gan, state, 4, use_ema=False,
                         codes={'continuous': np.full((4, 2), bad, np.float32)})
    proc, _ = self._sample(self.infogan, '--codes=10')
    self.assertNotEqual(proc.returncode, 0)
    self.assertIn('Categorical codes must lie in [0, 10); got 10.', proc.stderr)

  def test_evaluation_samples_ask_for_each_class_or_code_in_turn(self):
    # What evaluate() scores: sample i of class (or categorical code) i mod 10, on
    # sample()'s documented noise (seed 0), each sample generated with its own class.
    gan, pipe, state, _ = inference.restore(self.cgan)
    run = evaluate.EvalRun(gan, state, pipe, use_ema=True, num_samples=20)
    np.testing.assert_array_equal(run.assigned, np.arange(20) % 10)
    z, _ = gan_lib.sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), 0), 20)
    for i in (0, 7, 13):
      one = gan_lib.generate(gan, state, z[i:i + 1], jnp.asarray([i % 10]), True)
      np.testing.assert_allclose(run.samples[i], np.asarray(one)[0], atol=1e-5)
    gan, pipe, state, _ = inference.restore(self.infogan)
    run = evaluate.EvalRun(gan, state, pipe, use_ema=False, num_samples=20)
    np.testing.assert_array_equal(run.assigned, np.arange(20) % 10)
    z, drawn = gan_lib.sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), 0), 20)
    codes = {**drawn, 'categorical': jnp.arange(20) % 10}
    np.testing.assert_allclose(run.samples, gan_lib.generate(gan, state, z, codes, False),
                               rtol=1e-4, atol=1e-7)

  def test_fid_samples_take_the_classes_of_the_real_images_they_are_compared_with(self):
    # A folder of 6 images of class a and 2 of class b: FID/KID compare the samples with
    # real images in that 3:1 mix, so a class-conditional model's samples are drawn in it
    # (i mod K would give 1:1, and even a perfect generator a large FID).
    pipe = _two_class_folder()
    gan = types.SimpleNamespace(latent=gan_lib.Latent('labels', z_dim=4, num_classes=2))
    for n in (8, 16, 4):  # all 8 real images; all 8 twice; a random 4 of them
      run = evaluate.EvalRun(gan, None, pipe, use_ema=False, num_samples=n, seed=3)
      real = pipe.real_samples(n)  # the classes by their pixel value, as FID sees them
      want = np.bincount((real[:, 0, 0, 0] > 0).astype(int), minlength=2) * (n // len(real))
      np.testing.assert_array_equal(np.bincount(run.assigned, minlength=2), want)
      if n >= 8:
        self.assertEqual(want.tolist(), [6 * n // 8, 2 * n // 8])
    # 12 = all 8 once and 4 more, a random 4 of the 8 (not the first 4: all of class a);
    # over seeds, class b's share of the extra 4 averages its 1/4.
    extra = []
    for seed in range(200):
      counts = np.bincount(evaluate.EvalRun(gan, None, pipe, use_ema=False, num_samples=12,
                                            seed=seed).assigned, minlength=2)
      self.assertEqual(counts.sum(), 12)
      extra.append(counts[1] - 2)
    self.assertBetween(np.mean(extra), 0.85, 1.15)
    self.assertGreaterEqual(min(extra), 0)
    # In a seeded shuffled order (the IS splits follow it), not the folder's class by class.
    # (At 8, as many as the real images, their classes come class by class unshuffled; at
    # 16 np.tile alone breaks the order.)
    for n in (8, 16):
      run = evaluate.EvalRun(gan, None, pipe, use_ema=False, num_samples=n, seed=3)
      self.assertNotEqual(run.assigned.tolist(), sorted(run.assigned.tolist()), n)
    run.__dict__['samples'] = np.zeros((16, 8, 8, 3), np.float32)  # the FID record says so
    with mock.patch.object(evaluate.inception, 'load'), \
         mock.patch.object(evaluate.inception, 'fid_kid_is', lambda v, real, fake: {}):
      self.assertIn("8 real images of the folder (the run's training images, all); ",
                    evaluate.inception_metrics(run, 'w.npz')['fid_reference'])
      self.assertTrue(evaluate.inception_metrics(run, 'w.npz')['fid_reference'].endswith(
          "; the samples' classes those of the real images"))
    # InfoGAN's codes are uniform by definition, and digit-FD scores every class equally.
    for latent, evaluator in ((gan_lib.Latent('codes', 4, num_categorical=2), 'inception'),
                              (gan_lib.Latent('labels', 4, num_classes=2), 'digits')):
      run = evaluate.EvalRun(types.SimpleNamespace(latent=latent), None,
                             dataclasses.replace(pipe, evaluator=evaluator),
                             use_ema=False, num_samples=8)
      np.testing.assert_array_equal(run.assigned, np.arange(8) % 2)


class ConditionalEvaluationTest(chex.TestCase):

  def test_class_fidelity_counts_each_class(self):
    asked = np.repeat(np.arange(3), 4)
    predicted = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 0, 0, 0])
    out = evaluate.class_fidelity(asked, predicted, 3)
    np.testing.assert_allclose(out['class_fidelity_per_class'], [0.75, 1.0, 0.25])
    self.assertAlmostEqual(out['class_fidelity'], 2 / 3)
    # Unequal classes (num_samples not a multiple of K): the mean over classes, not over
    # samples (which would read 3/4 here).
    out = evaluate.class_fidelity(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]), 2)
    self.assertEqual((out['class_fidelity'], out['class_fidelity_per_class']), (0.5, [1.0, 0.0]))
    with self.assertRaisesRegex(ValueError, r'classes \[2\] have none.*at least 3 samples'):
      evaluate.class_fidelity(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 1]), 3)

  def test_code_matching_is_the_best_permutation(self):
    # Codes 0, 1, 2 produce mostly classes 2, 0, 1: the matching undoes the permutation.
    codes = np.repeat(np.arange(3), 10)
    predicted = np.array([2] * 9 + [0] + [0] * 8 + [1] * 2 + [1] * 10)
    out = evaluate.code_class_matching(codes, predicted, 3)
    self.assertEqual(out['code_to_class'], {0: 2, 1: 0, 2: 1})
    self.assertAlmostEqual(out['code_accuracy'], 27 / 30)

  def test_code_matching_with_fewer_codes_than_classes(self):
    # Two codes over ten digit classes: code 0 draws mostly 7s, code 1 mostly 9s.
    codes = np.repeat(np.arange(2), 10)
    predicted = np.array([7] * 8 + [1, 9] + [9] * 9 + [4])
    out = evaluate.code_class_matching(codes, predicted, 2)
    self.assertEqual(out['code_to_class'], {0: 7, 1: 9})
    self.assertAlmostEqual(out['code_accuracy'], 17 / 20)

  def test_an_acgan_is_sampled_and_scored_by_class_as_a_cgan(self):
    # ACGAN ('generator_labels': G takes labels, D does not) is as class-conditional as a
    # cGAN for sampling and evaluation: its K classes are spread over the samples (i mod K
    # for digit-FD and the grids), FID/KID draws the classes of the real images (a folder
    # of 6 images of class a and 2 of class b: 6:2), and the sample count must give each
    # class one. Kills: 'generator_labels' left out of Latent.assigned_classes or of
    # EvalRun.classes_of_real (an ACGAN then drawn i mod K, 1:1, against a 3:1 real mix).
    acgan = gan_lib.Latent('generator_labels', z_dim=4, num_classes=2)
    self.assertEqual(acgan.assigned_classes, 2)
    self.assertFalse(acgan.discriminator_labels)
    pipe = _two_class_folder()
    gan = types.SimpleNamespace(latent=acgan)
    run = evaluate.EvalRun(gan, None, pipe, use_ema=False, num_samples=8, seed=3)
    self.assertTrue(run.classes_of_real)
    np.testing.assert_array_equal(np.bincount(run.assigned, minlength=2), [6, 2])
    run = evaluate.EvalRun(gan, None, dataclasses.replace(pipe, evaluator='digits'),
                           use_ema=False, num_samples=8)
    np.testing.assert_array_equal(run.assigned, np.arange(8) % 2)
    with self.assertRaisesRegex(ValueError, 'one sample of each of the 12 classes'):
      evaluate.check_num_samples(11, 'digits', gan_lib.Latent('generator_labels', 4,
                                                              num_classes=12))

  def test_fid_samples_past_a_multiple_of_the_real_images_take_distinct_ones(self):
    # 15 samples of a folder of 8 real images (6 of class a, 2 of class b): each image's
    # class once, then 7 distinct images of the 8 once more, so only one image is left out
    # of the extra 7: class b gets 2 + 1 or 2 + 2 samples, never 2 + 0 or more than 4.
    # Kills: the extra few drawn with replacement (one image's class drawn several times).
    pipe = _two_class_folder()
    gan = types.SimpleNamespace(latent=gan_lib.Latent('labels', z_dim=4, num_classes=2))
    seen = set()
    for seed in range(40):
      counts = np.bincount(evaluate.EvalRun(gan, None, pipe, use_ema=False, num_samples=15,
                                            seed=seed).assigned, minlength=2)
      self.assertIn(counts.tolist(), ([12, 3], [11, 4]), seed)
      seen.add(counts[1])
    self.assertEqual(seen, {3, 4})  # both happen (b left out 2 times in 8)


if __name__ == '__main__':
  absltest.main()
