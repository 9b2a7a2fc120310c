"""Every config builds with the training length it says, and the conv configs train."""

import functools
import importlib
import json
import math
import os
import tempfile
import types

import chex
import jax
import ml_collections
import numpy as np
from absl import flags
from absl.testing import absltest, parameterized
from ml_collections import config_flags

from jaxgan import build, train, validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = ['mlp_mnist', 'toy2d', 'wgan_gp_mnist', 'dcgan_cifar10']
STUDIES = ['study_toy', 'study_grid25', 'study_digits']
MOCK_EXAMPLES = 1000  # the size of every TFDS split under tfds.testing.mock_data here
DIGITS = 1797


def load(argv: list[str]):
  """The config ``launch.train`` gets from ``argv`` (``--config=...`` and overrides)."""
  values = flags.FlagValues()
  config_flags.DEFINE_config_file('config', None, '', flag_values=values, lock_config=True,
                                  sys_argv=['prog', *argv])
  values(['prog', *argv])
  return values.config


def _mock():
  import tensorflow_datasets as tfds
  return tfds.testing.mock_data(num_examples=MOCK_EXAMPLES)


def _mock_div2k():
  """DIV2K's mock: a few 128 x 136 photos under 'hr' (TFDS's random mock images can be 5 px,
  smaller than any SR crop)."""
  import tensorflow_datasets as tfds
  rng = np.random.default_rng(0)
  records = [{'hr': rng.integers(0, 256, (128, 136, 3), np.uint8)} for _ in range(4)]
  return tfds.testing.mock_data(as_data_source_fn=lambda *args, **kwargs: records)


def _whole_steps(epochs: float, examples: int, per_step: int) -> tuple[int, float]:
  """``(steps, epochs trained)`` of ``epochs`` asked: whole steps, rounded up."""
  steps = math.ceil(epochs * examples / per_step)
  return steps, steps * per_step / examples


class ConfigsTest(chex.TestCase):

  @parameterized.parameters(
      # (config argv, steps, epochs, examples) computed by hand from each recipe:
      # epochs = steps * batch * n_critic / examples, where a recipe asking for epochs
      # trains steps = ceil(epochs asked * examples / (batch * n_critic)).
      (['configs/mlp_mnist.py'], 6000, 6000 * 128 / DIGITS, DIGITS),
      (['configs/mlp_mnist.py:mnist'], *_whole_steps(80, MOCK_EXAMPLES, 128), MOCK_EXAMPLES),
      (['configs/toy2d.py'], 20000, None, None),
      (['configs/wgan_gp_mnist.py'], *_whole_steps(30, DIGITS, 32 * 5), DIGITS),
      (['configs/wgan_gp_mnist.py', '--config.data.name=mnist'],
       *_whole_steps(30, MOCK_EXAMPLES, 32 * 5), MOCK_EXAMPLES),
      (['configs/dcgan_cifar10.py'], *_whole_steps(50, MOCK_EXAMPLES, 128), MOCK_EXAMPLES),
      (['configs/dcgan_cifar10.py', '--config.num_epochs=0', '--config.num_steps=7'], 7,
       7 * 128 / MOCK_EXAMPLES, MOCK_EXAMPLES),
      (['configs/study_toy.py'], 5000, None, None),
      (['configs/study_grid25.py'], 20000, None, None),
      (['configs/study_digits.py'], 6000, 6000 * 128 / DIGITS, DIGITS),
      # The zoo: every recipe sets num_steps; epochs = steps * batch * n_critic / examples.
      (['configs/cgan_digits.py'], 5000, 5000 * 64 / DIGITS, DIGITS),
      (['configs/acgan_digits.py'], 5000, 5000 * 64 / DIGITS, DIGITS),
      (['configs/infogan_digits.py'], 5000, 5000 * 64 / DIGITS, DIGITS),
      (['configs/sngan_cifar10.py'], 100000, 100000 * 64 * 5 / MOCK_EXAMPLES, MOCK_EXAMPLES),
      (['configs/sngan_cifar10.py:digits'], 3000, 3000 * 64 * 5 / DIGITS, DIGITS),
      (['configs/sagan_cifar10.py'], 100000, 100000 * 64 / MOCK_EXAMPLES, MOCK_EXAMPLES),
      (['configs/sagan_cifar10.py:digits'], 3000, 3000 * 64 / DIGITS, DIGITS),
      (['configs/cgan_pd_cifar10.py'], 100000, 100000 * 64 * 5 / MOCK_EXAMPLES, MOCK_EXAMPLES),
      (['configs/study_diffaugment.py'], 3000, 3000 * 64 / 180, 180),
      # Super-resolution: random crops of the 7 offline training photos, 16 per step (the
      # pre-training stage, n_critic 0, draws one batch per step too).
      (['configs/srgan.py:psnr,small'], 3000, 3000 * 16 / 7, 7),
      (['configs/esrgan.py:small,offline'], 1500, 1500 * 16 / 7, 7),
  )
  def test_training_length(self, argv, steps, epochs, examples):
    config = load([f'--config={argv[0]}', *argv[1:]])
    with _mock():
      gan, pipe = build.build(config)
      length = build.training_length(config, pipe)
    self.assertEqual((length.steps, length.num_examples), (steps, examples))
    if epochs is None:
      self.assertIsNone(length.epochs)
      self.assertIn('no epochs', length.describe())
    else:
      self.assertAlmostEqual(length.epochs, epochs, places=6)
      self.assertIn(f'{steps} steps = {epochs:.4g} epochs of {examples} examples',
                    length.describe())

  def test_a_length_in_epochs_is_rounded_up_to_whole_steps_and_says_so(self):
    # It logged the epochs asked, not those trained ("3 steps = 0.2 epochs" for 0.267).
    c = ml_collections.ConfigDict(
        {'num_steps': 0, 'num_epochs': 0.2, 'n_critic': 5, 'data': {'batch_size': 64}})
    pipe = types.SimpleNamespace(name='digits', num_examples=1797)
    length = build.training_length(c, pipe)  # 0.2 * 1797 / 320 = 1.12 -> 2 steps
    self.assertEqual(length.steps, 2)
    self.assertAlmostEqual(length.epochs, 640 / 1797)
    self.assertEqual(length.describe(), '2 steps = 0.3561 epochs of 1797 examples (320 '
                                        'examples per step; num_epochs=0.2 rounded up to '
                                        'whole steps)')
    pipe.num_examples = 1600  # 0.4 * 1600 / 320 = 2 steps exactly: nothing rounded
    c.num_epochs = 0.4
    self.assertEqual(build.training_length(c, pipe).describe(),
                     '2 steps = 0.4 epochs of 1600 examples (320 examples per step)')

  def test_esrgan_weights_are_the_reference_codes(self):
    """configs/esrgan.py's GAN stage, in jaxgan's conventions (images in [-1, 1], RaGAN's
    two terms summed), gives the pixel and adversarial terms of ESRGAN's code (BasicSR: L1
    1e-2 on images in [0, 1], 5e-3 times the mean of RaGAN's two BCE terms), by hand."""
    c = load([f'--config={ROOT}/configs/esrgan.py:small', '--config.content.perceptual_weight=0'])
    gan, _ = build.build(c)
    rng = np.random.default_rng(0)
    sr, hr = (rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32) for _ in range(2))
    real, fake = (rng.normal(size=4).astype(np.float32) for _ in range(2))
    pixel, _ = gan.content(sr, hr, {})
    np.testing.assert_allclose(pixel, 1e-2 * np.mean(np.abs((sr + 1) / 2 - (hr + 1) / 2)),
                               rtol=1e-5)
    bce = lambda x, t: np.mean(t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x))
    reference = 5e-3 * (bce(real - fake.mean(), 0) + bce(fake - real.mean(), 1)) / 2
    np.testing.assert_allclose(gan.adversarial_weight * gan.objective.generator_loss(real, fake),
                               reference, rtol=1e-5)

  def test_crops_too_small_for_the_perceptual_layer_are_refused(self):
    # conv5_4 follows 4 max pools: a 12 px crop has no features there (a loss of NaN at
    # the first step); the hint is the next crop that is a multiple of the scale.
    base = [f'--config={ROOT}/configs/esrgan.py:psnr,small', '--config.data.crop_size=12',
            '--config.content.perceptual_weight=1']  # no critic: it has its own size check
    for scale, crop in ((4, 16), (3, 18)):
      c = load([*base, f'--config.data.scale={scale}', f'--config.model.generator.scale={scale}'])
      with self.assertRaisesRegex(validation.ConfigError,
                                  r"'conv5_4' needs images of at least 16x16 pixels.*\(12, 12, "
                                  rf'3\)\. Use larger crops \(--config.data.crop_size={crop}\)'):
        build.build(c)
    build.build(load([*base, '--config.content.perceptual_layer=relu3_1']))  # needs 4 px
    build.build(load([*base, '--config.data.crop_size=16']))  # conv5_4's least: 16 px

  def test_a_perceptual_loss_on_data_other_than_rgb_images_is_refused(self):
    # VGG19 takes [H, W, 3]: 2-D points and grey digits failed at the first step, after the
    # run had written its workdir (and asked for the VGG19 weights first).
    for config, shape in (('toy2d.py', r'\(2,\)'), ('mlp_mnist.py', r'\(28, 28, 1\)')):
      c = load([f'--config={ROOT}/configs/{config}', '--config.content.perceptual_weight=0.5'])
      with self.assertRaisesRegex(validation.ConfigError,
                                  r'^config.content.perceptual_weight = 0.5: a perceptual loss '
                                  rf'compares VGG19 features of RGB images \[H, W, 3\]; '
                                  rf"'\w+' has samples of shape {shape}\. Leave it out: "
                                  r'--config.content.perceptual_weight=0\.$'):
        build.build(c)
      wd = os.path.join(tempfile.mkdtemp(), 'run')
      with self.assertRaisesRegex(validation.ConfigError, r'RGB images \[H, W, 3\]'):
        train.train_and_evaluate(c, wd)
      self.assertFalse(os.path.exists(wd))

  def test_perceptual_terms_are_the_papers(self):
    """The GAN stages' content terms, through a stand-in feature extractor whose layers are
    known functions of the image, against the papers by hand: SRGAN's VGG54 is the MSE of
    features after the ReLU, rescaled by 1/12.75, weight 1 (Ledig et al. eq. 5); ESRGAN's
    is the L1 of features before it, weight 1, plus L1 pixels 1e-2 on [0, 1] images."""
    rng = np.random.default_rng(0)
    sr, hr = (rng.uniform(-1, 1, (2, 8, 8, 3)).astype(np.float32) for _ in range(2))
    stand_in = lambda variables, x: {'relu5_4': np.maximum(3 * x, 0), 'conv5_4': 3 * x}
    for argv, want in (
        (['--config=configs/srgan.py:small'],
         np.mean(np.square((np.maximum(3 * sr, 0) - np.maximum(3 * hr, 0)) / 12.75))),
        (['--config=configs/esrgan.py:small'],
         np.mean(np.abs(3 * sr - 3 * hr)) + 1e-2 * np.mean(np.abs((sr - hr) / 2)))):
      c = load([f'--config={ROOT}/{argv[0].split("=")[1]}'])
      gan, _ = build.build(c)
      content = functools.partial(gan.content, features_fn=stand_in)
      total, parts = content(sr, hr, {'vgg': None})
      self.assertIn('perceptual_loss', parts, argv)
      np.testing.assert_allclose(total, want, rtol=1e-5, err_msg=str(argv))
    with self.assertRaisesRegex(ValueError, r"needs the VGG19 variables as frozen\['vgg'\] "
                                r'.*got frozen=dict with keys \[\]'):
      content(sr, hr, {})

  def test_length_rule_names_both_fields(self):
    for argv in (['--config=configs/default.py'],
                 ['--config=configs/dcgan_cifar10.py', '--config.num_steps=7']):
      config = load(argv)
      with _mock(), self.assertRaisesRegex(validation.ConfigError,
                                           'exactly one of config.num_steps and '
                                           'config.num_epochs'):
        build.training_length(config, build.pipeline(config))
    config = load(['--config=configs/toy2d.py', '--config.num_steps=0',
                   '--config.num_epochs=3'])
    with self.assertRaisesRegex(validation.ConfigError, 'sampled on the fly.*num_steps'):
      build.training_length(config, build.pipeline(config))

  @parameterized.parameters(*RECIPES, *STUDIES, 'default')
  def test_builds_and_batches(self, name):
    config = importlib.import_module(f'configs.{name}').get_config()
    with _mock():
      _, pipe = build.build(config)
      batch = pipe.batch(0)
    self.assertEqual(batch['x'].shape,
                     (config.n_critic, config.data.batch_size, *pipe.element_shape))

  def test_no_recipe_builds_on_another(self):
    for name in RECIPES + STUDIES:
      source = open(os.path.join(ROOT, 'configs', f'{name}.py')).read()
      for other in RECIPES + STUDIES:
        self.assertNotIn(f'import {other}', source.replace('from configs import', 'import'),
                         f'{name} imports {other}')

  def test_every_study_run_builds(self):
    """Each (group, run) of the digits study and each run of the grid25 study."""
    from configs import study_digits, study_grid25
    from studies import runner
    c = study_digits.get_config()
    self.assertEqual(sorted(c.study.groups), ['dcgan', 'mlp'])
    for group in c.study.groups:
      for run in c.study.runs:
        rc, vmap_seeds = runner.run_config(c, group, run)
        _, pipe = build.build(rc)
        self.assertEqual(pipe.element_shape, (28, 28, 1))
        self.assertEqual(vmap_seeds, group == 'mlp')
    self.assertEqual(runner.run_config(c, 'dcgan', 'hinge:none')[0].num_steps, 3000)
    g = study_grid25.get_config()
    for run in g.study.runs:
      rc, _ = runner.run_config(g, 'grid25', run)
      build.build(rc)
      self.assertEqual((rc.num_steps, rc.penalty.weight, rc.data.name), (20000, 0.1, 'grid25'))

  def test_recipes_decay_their_rates_as_their_references(self):
    """SRGAN: 1e5 updates at 1e-4, then 1e-5 (Ledig et al. 2017, sec. 3.2). ESRGAN
    pretraining: 2e-4 halved every 2e5 updates; GAN stage: 1e-4 halved at 50k, 100k, 200k,
    300k (Wang et al. 2018, sec. 4.1). SNGAN and cGAN-PD on CIFAR-10: 2e-4 linearly to 0
    over 100k steps (Mimicry's lr_decay='linear'). The short CPU runs keep their rates."""
    from jaxgan import optimizers
    for spec, rates in (
        ('srgan.py', {0: 1e-4, 99999: 1e-4, 100000: 1e-5, 199999: 1e-5}),
        ('srgan.py:psnr', {0: 1e-4, 999999: 1e-4}),
        ('esrgan.py:psnr', {199999: 2e-4, 200000: 1e-4, 400000: 5e-5, 800000: 1.25e-5}),
        ('esrgan.py', {49999: 1e-4, 50000: 5e-5, 100000: 2.5e-5, 200000: 1.25e-5,
                       300000: 6.25e-6, 399999: 6.25e-6}),
        ('esrgan.py:small', {0: 1e-4, 10**6: 1e-4}),
        ('srgan.py:small', {0: 1e-4, 10**6: 1e-4}),
        ('sngan_cifar10.py', {0: 2e-4, 25000: 1.5e-4, 50000: 1e-4, 90000: 2e-5}),
        ('cgan_pd_cifar10.py', {0: 2e-4, 50000: 1e-4, 90000: 2e-5}),
        ('sngan_cifar10.py:digits', {0: 2e-4, 10**5: 2e-4})):
      c = load([f'--config=configs/{spec}'])
      for opt in (c.g_optimizer, c.d_optimizer):
        fn = optimizers.schedule(opt.schedule, opt.learning_rate)
        got = {s: float(fn(s)) if callable(fn) else fn for s in rates}
        for step, want in rates.items():
          self.assertAlmostEqual(got[step] / want, 1.0, places=5, msg=f'{spec} step {step}')

  def test_esrgan_scans_the_papers_rrdbs_in_both_stages(self):
    """The papers' RRDBNet compiles its 23 blocks once (scan_blocks), in the PSNR stage and
    the GAN stage alike, so that the GAN stage starts from the PSNR stage's parameters
    (init_from); the small one, which trains on a CPU, is unrolled."""
    lr = jax.numpy.zeros((1, 8, 8, 3))
    shapes = {}
    for spec, scanned in (('esrgan.py', True), ('esrgan.py:psnr', True),
                          ('esrgan.py:small', False), ('esrgan.py:psnr,small', False)):
      gan, _ = build.build(load([f'--config={ROOT}/configs/{spec}']))
      self.assertEqual(gan.generator.scan_blocks, scanned, spec)
      v = jax.eval_shape(lambda g=gan.generator: g.init(jax.random.key(0), lr))
      shapes[spec] = jax.tree.map(lambda a: a.shape, v)
      self.assertEqual('rrdbs' in v['params'], scanned, spec)
    self.assertEqual(shapes['esrgan.py'], shapes['esrgan.py:psnr'])
    self.assertEqual(shapes['esrgan.py:small'], shapes['esrgan.py:psnr,small'])

  def test_the_paper_recipes(self):
    # The hyper-parameters each recipe's docstring states: its paper's (Miyato et al. 2018,
    # SNGAN, and Miyato & Koyama 2018, cGAN-PD, on CIFAR-10; Zhang et al. 2019, SAGAN's
    # TTUR; Gulrajani et al. 2017, WGAN-GP's Algorithm 1 and MNIST code; Chen et al. 2016,
    # InfoGAN App. C.1 with the PyTorch ports' lambda_cont), or a stated deviation (WGAN-GP's
    # z 64 for 2 cores, theirs 128).
    adam = lambda lr, b1, b2: {'name': 'adam', 'learning_rate': lr, 'b1': b1, 'b2': b2}
    recipes = {
        'sngan_cifar10': dict(loss='hinge', z=128, n_critic=5, g=adam(2e-4, 0.0, 0.9),
                              d=adam(2e-4, 0.0, 0.9), gen={'ngf': 256}, disc={'ndf': 128}),
        'cgan_pd_cifar10': dict(loss='hinge', z=128, n_critic=5, g=adam(2e-4, 0.0, 0.9),
                                d=adam(2e-4, 0.0, 0.9), gen={'ngf': 256, 'num_classes': 10},
                                disc={'ndf': 128, 'num_classes': 10}),
        'sagan_cifar10': dict(loss='hinge', z=128, n_critic=1, g=adam(1e-4, 0.0, 0.9),
                              d=adam(4e-4, 0.0, 0.9), gen={'ngf': 256}, disc={'ndf': 128}),
        'wgan_gp_mnist': dict(loss='wasserstein', z=64, n_critic=5, g=adam(1e-4, 0.5, 0.9),
                              d=adam(1e-4, 0.5, 0.9), penalty=('wgan_gp', 10.0)),
        'infogan_digits': dict(loss='non_saturating', z=62, n_critic=1, g=adam(1e-3, 0.5, 0.999),
                               d=adam(2e-4, 0.5, 0.999),
                               auxiliary=('infogan', {'lambda_cat': 1.0, 'lambda_cont': 0.1})),
    }
    for name, want in recipes.items():
      c = importlib.import_module(f'configs.{name}').get_config()
      with self.subTest(name):
        self.assertEqual((c.loss.name, c.model.z_dim, c.n_critic),
                         (want['loss'], want['z'], want['n_critic']))
        for field, opt in (('g', c.g_optimizer), ('d', c.d_optimizer)):
          self.assertEqual({k: opt[k] for k in want[field]}, want[field])
        for field, part in (('gen', c.model.generator), ('disc', c.model.discriminator)):
          self.assertEqual({k: part[k] for k in want.get(field, {})}, want.get(field, {}))
        self.assertEqual((c.penalty.name, c.penalty.weight),
                         want.get('penalty', ('none', 0.0)))
        self.assertEqual((c.auxiliary.name, c.auxiliary.kwargs.to_dict()),
                         want.get('auxiliary', ('none', {})))

  def test_every_scheduled_recipe_ends_its_schedule_within_its_run(self):
    """No shipped recipe logs the schedule warning: its last milestone falls before its
    last train step, and its decay ends by it."""
    for spec in ('srgan.py', 'esrgan.py', 'esrgan.py:psnr', 'sngan_cifar10.py',
                 'cgan_pd_cifar10.py'):
      c = load([f'--config=configs/{spec}'])
      self.assertNotEqual(c.g_optimizer.schedule, 'constant', spec)
      self.assertEqual(build.schedule_warnings(c, c.num_steps), [], spec)
      c.num_steps //= 2  # the same recipe cut short is warned about
      self.assertNotEqual(build.schedule_warnings(c, c.num_steps), [], spec)

  def test_the_critic_schedule_counts_train_steps(self):
    """With n_critic = 3 the critic's optimizer updates 3 times per train step: its
    schedule (milestone: train step 2) switches at its 7th update, the generator's at its
    3rd."""
    c = importlib.import_module('configs.toy2d').get_config()
    c.n_critic = 3
    c.g_optimizer = c.d_optimizer = dict(name='sgd', learning_rate=1.0,
                                         schedule='multistep(milestones=(2,))')
    gan, _ = build.build(c)
    for optimizer, per_step in ((gan.g_optimizer, 1), (gan.d_optimizer, 3)):
      params, grads = {'w': np.zeros((), np.float32)}, {'w': np.ones((), np.float32)}
      state, applied = optimizer.init(params), []
      for _ in range(3 * per_step):
        updates, state = optimizer.update(grads, state, params)
        applied.append(float(updates['w']))
      np.testing.assert_allclose(applied, [-1.0] * 2 * per_step + [-0.1] * per_step,
                                 rtol=1e-6)

  def test_the_built_gan_takes_each_training_field_from_the_config(self):
    # Each field where its own section says, not a default: a generator and a critic
    # optimizer of their own rates (TTUR), the loss's arguments, the penalty weight, the
    # clip and the EMA decay.
    c = importlib.import_module('configs.toy2d').get_config()
    c.g_optimizer = dict(name='sgd', learning_rate=1.0)
    c.d_optimizer = dict(name='sgd', learning_rate=0.5)
    c.loss.name, c.loss.kwargs = 'least_squares', {'a': -1.0, 'b': 1.0, 'c': 0.0}
    c.penalty.name, c.penalty.weight = 'r1', 5.0
    c.weight_clip, c.ema_decay = 0.01, 0.9
    gan, _ = build.build(c)
    self.assertEqual((gan.penalty_weight, gan.weight_clip, gan.ema_decay), (5.0, 0.01, 0.9))
    for optimizer, rate in ((gan.g_optimizer, 1.0), (gan.d_optimizer, 0.5)):
      params = {'w': np.zeros((), np.float32)}
      updates, _ = optimizer.update({'w': np.ones((), np.float32)}, optimizer.init(params),
                                    params)
      np.testing.assert_allclose(updates['w'], -rate)
    r, f = np.float32([0.5, 2.0]), np.float32([-0.5, 1.0])
    np.testing.assert_allclose(gan.objective.discriminator_loss(r, f),  # Mao et al. eq. 2
                               0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean((f + 1) ** 2))
    np.testing.assert_allclose(gan.objective.generator_loss(r, f), 0.5 * np.mean(f ** 2))

  def test_a_model_that_cannot_take_the_data_is_a_config_error_at_build(self):
    c = load(['--config=configs/esrgan.py:small,offline', '--config.data.crop_size=96',
              '--config.model.discriminator.image_size=96'])
    with self.assertRaisesRegex(validation.ConfigError,
                                r"config.model \('esrgan'\) on 'photos': .*4 \* 2\^k.*got 96"):
      build.build(c)

  def test_an_sr_crop_or_scale_override_sets_every_field_that_must_agree(self):
    # The discriminator takes the HR crops and the generator upscales by the data's scale:
    # one override sets both (the discriminator's size alone used to stop the PSNR stage).
    for name in ('srgan', 'esrgan'):
      with self.subTest(name):
        c = load([f'--config=configs/{name}.py:psnr,small,offline', '--config.data.crop_size=32',
                  '--config.data.scale=2'])
        self.assertEqual((c.model.discriminator.image_size, c.model.generator.scale), (32, 2))
        self.assertEqual(build.build(c)[1].lowres_shape, (16, 16, 3))
        self.assertEqual(json.loads(c.to_json())['model']['generator']['scale'], 2)
    # A scale set on one side only is named, with both fields.
    c = load(['--config=configs/srgan.py:psnr,small,offline'])
    c.model.generator = dict(c.model.generator.to_dict(), scale=2)
    with self.assertRaisesRegex(validation.ConfigError,
                                r'upscales 2x \(config.model.generator.scale\) and .photos. '
                                r'pairs its crops at 4x \(config.data.scale\): set both'):
      build.build(c)
    # The PSNR stage has no discriminator, so any crop builds; the GAN stage's VGG-style
    # one takes crops of 4 * 2^k pixels only, and says so.
    argv = ['--config=configs/esrgan.py:psnr,small,offline', '--config.data.crop_size=96']
    self.assertEqual(build.build(load(argv))[1].element_shape, (96, 96, 3))
    argv = ['--config=configs/esrgan.py:small,offline', '--config.data.crop_size=96']
    with self.assertRaisesRegex(validation.ConfigError, r'data.crop_size\) must be 4 \* 2\^k.*'
                                r'got 96\. .*--config.model.discriminator.layout=srgan\.$'):
      build.build(load(argv))
    c = load([*argv, '--config.model.discriminator.layout=srgan'])
    self.assertEqual(build.build(c)[1].element_shape, (96, 96, 3))
    with self.assertRaisesRegex(validation.ConfigError, r"got 'bogus'.$"):
      build.build(load(['--config=configs/esrgan.py:small,offline',
                        '--config.model.discriminator.norm=bogus']))

  def test_an_unknown_variant_lists_the_valid_ones(self):
    for argv, message in (('configs/sngan_cifar10.py:cond', "variant 'cond'.*'digits'"),
                          ('configs/sagan_cifar10.py:digit', "variant 'digit'.*'cond'"),
                          ('configs/study_digits.py:mlp,cnn', "option.*cnn.*mlp, dcgan"),
                          ('configs/study_digits.py: ', 'at least one model group')):
      with self.subTest(argv), self.assertRaisesRegex(ValueError, message):
        module, _, arg = argv.partition(':')
        importlib.import_module(module[:-3].replace('/', '.')).get_config(arg)
    self.assertEqual(list(load(['--config=configs/study_digits.py:dcgan']).study.groups),
                     ['dcgan'])

  def test_every_command_in_a_config_docstring_builds(self):
    """Every ``launch.train`` line of every config's docstring, flags read from it, loads
    and builds (models, data, auxiliary terms, schedules); every ``launch.study`` line
    loads, and the first run of each of its groups builds. TFDS is mocked."""
    import glob
    import shlex

    from studies import runner
    lines = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))):
      doc = (importlib.import_module(f'configs.{os.path.basename(path)[:-3]}').__doc__ or '')
      lines += [ln.strip() for ln in doc.replace('\\\n', ' ').splitlines()
                if ln.strip().startswith(('python -m launch.train', 'python -m launch.study'))]
    self.assertGreaterEqual(len(lines), 25)
    for line in lines:
      argv = [a for a in shlex.split(line) if a.startswith('--config')]
      with self.subTest(line), (_mock_div2k() if 'data.name=div2k' in line else _mock()):
        c = load(argv)
        if 'launch.study' in line:
          for group in c.study.groups:
            build.build(runner.run_config(c, group, c.study.runs[0])[0])
        else:
          _, pipe = build.build(c)
          build.schedule_warnings(c, build.training_length(c, pipe).steps)

  def test_study_digits_quick_command_trains_every_group_briefly(self):
    """The docstring's quick command (its flags read from the docstring): every run of
    every group trains the steps it asks for."""
    from configs import study_digits
    from studies import runner
    doc = study_digits.__doc__.replace('\\\n', ' ')
    line = next(ln for ln in doc.splitlines() if '/tmp/quick' in ln)
    argv = [a for a in line.split() if a.startswith('--config')]
    c = load(argv)
    self.assertEqual(sorted(c.study.groups), ['dcgan', 'mlp'])
    for group in c.study.groups:
      self.assertEqual(runner.run_config(c, group, c.study.runs[0])[0].num_steps, 200, group)

  def test_mnist_variant_uses_the_recipe(self):
    from configs import mlp_mnist
    c = mlp_mnist.get_config('mnist')
    self.assertEqual((c.data.name, c.num_epochs, c.num_steps), ('mnist', 80, 0))
    self.assertEqual((c.g_optimizer.learning_rate, c.d_optimizer.learning_rate,
                      c.g_optimizer.b1, c.data.batch_size, c.model.z_dim,
                      c.model.generator.kernel_init), (1e-3, 1e-4, 0.5, 128, 100,
                                                       'glorot_uniform'))

  @parameterized.parameters('wgan_gp_mnist', 'dcgan_cifar10')
  def test_conv_configs_train(self, name):
    c = importlib.import_module(f'configs.{name}').get_config()
    c.num_steps, c.num_epochs, c.data.batch_size = 2, 0.0, 8
    c.model.generator.width, c.model.discriminator.width = 16, 16
    wd = tempfile.mkdtemp()
    with _mock():
      state = train.train_and_evaluate(c, wd)
      init = build.init_state(*build.build(c), build.init_key(c.seed))
    self.assertEqual(int(state.step), 2)
    rows = open(os.path.join(wd, 'metrics.jsonl')).read()
    self.assertIn('"step": 2', rows)
    if c.penalty.name != 'none':
      self.assertIn('penalty', rows)
    logged = [json.loads(line) for line in rows.splitlines()]
    self.assertTrue(all(np.isfinite(v) for r in logged for v in r.values()), logged)
    # Both networks trained: every parameter leaf moved from its initial value, except the
    # critic's output bias under the Wasserstein loss (it cancels in E f - E r: gradient 0).
    for name in ('g_params', 'd_params'):
      moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                           getattr(state, name), getattr(init, name))
      if name == 'd_params' and c.loss.name == 'wasserstein':
        self.assertFalse(moved['Dense_0'].pop('bias'))
      self.assertTrue(all(jax.tree.leaves(moved)), (name, moved))


if __name__ == '__main__':
  absltest.main()
