"""Tests of the config check that runs before anything is written or compiled."""

import errno
import json
import os
import re
import tempfile
from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image

from configs import acgan_digits, default, esrgan, toy2d
from jaxgan import build, train, validation, workdir
from tests.train_helpers import small_config


class ValidationTest(chex.TestCase):
  """Defects 3 and 4: one validation pass before anything is written or compiled."""

  def test_model_values_are_checked_where_the_model_is_built(self):
    # z_dim 0 divided by zero in an initializer; dropout 1.5 zeroed the critic's output
    # and trained nothing (rc 0, d_loss ln 4 at every step).
    for field, value, message in (
        ('model.z_dim', 0, "model 'mlp' draws noise z, so it needs z_dim >= 1"),
        ('model.discriminator.dropout', 1.5, r'dropout must be a rate in \[0, 1\); got 1.5'),
        ('model.discriminator.dropout', -0.5, r'dropout must be a rate in \[0, 1\)')):
      wd = os.path.join(tempfile.mkdtemp(), 'never')
      with self.subTest(field=field, value=value), self.assertRaisesRegex(
          validation.ConfigError, message):
        train.train_and_evaluate(small_config(**{field: value}), wd)
      self.assertFalse(os.path.exists(wd))

  def test_a_noise_model_on_sr_data_and_an_sr_model_on_images_are_refused(self):
    # A DCGAN on a folder (a super-resolution set) trained and saved, then failed at its
    # first sample picture (its noise read as low-resolution images); an SR model on
    # digits failed with a bare TypeError.
    folder = tempfile.mkdtemp()
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(os.path.join(folder, '0.png'))
    noise = default.get_config()
    noise.data = dict(name='folder', batch_size=4, path=folder, crop_size=16, scale=4)
    noise.model.generator = dict(output_shape=(16, 16, 3))
    noise.num_steps, noise.num_epochs = 2, 0
    sr_on_digits = esrgan.get_config('small,offline')
    sr_on_digits.data = dict(name='digits', batch_size=4, image_size=32)
    for config, message in (
        (noise, "Model 'mlp' makes images from noise, but dataset 'folder' pairs low- and "
                r'high-resolution crops .*: use a super-resolution model \(.*esrgan'),
        (sr_on_digits, "Model 'esrgan' upscales low-resolution images, but dataset "
                       "'digits' has no low-resolution inputs")):
      wd = os.path.join(tempfile.mkdtemp(), 'never')
      with self.subTest(message[:20]), self.assertRaisesRegex(validation.ConfigError, message):
        train.train_and_evaluate(config, wd)
      self.assertFalse(os.path.exists(os.path.join(wd, 'config.json')))

  def test_a_fractional_digits_subset_is_refused(self):
    from jaxgan import data
    with self.assertRaisesRegex(validation.ConfigError,
                                r'data.subset must be an integer >= 1; got 2.5'):
      data.get('digits', batch_size=4, subset=2.5)  # was a TypeError from NumPy slicing
    # More digits than scikit-learn ships is refused, not silently all 1,797.
    with self.assertRaisesRegex(validation.ConfigError,
                                r'data.subset must be in \[1, 1797\]; got 1798'):
      data.get('digits', batch_size=4, subset=1798)
    self.assertEqual(data.get('digits', batch_size=4, subset=1797).num_examples, 1797)

  def test_data_get_names_a_bad_batch_size_n_critic_or_seed(self):
    # Called directly (not through a config), batch_size 0 gave empty batches and seed -1
    # failed later inside NumPy's generator, at the first batch.
    from jaxgan import data
    for kwargs, message in (
        (dict(batch_size=0), 'batch_size must be an integer >= 1; got 0'),
        (dict(batch_size=-3), 'batch_size must be an integer >= 1; got -3'),
        (dict(batch_size=8, n_critic=0), 'n_critic must be an integer >= 1; got 0'),
        (dict(batch_size=8, seed=-1), r'seed must be an integer in \[0, 2\*\*32\) .*got -1'),
        (dict(batch_size=8, seed=2**32), r'seed must be .*got 4294967296')):
      for name in ('ring8', 'digits'):
        with self.subTest(name=name, **kwargs), self.assertRaisesRegex(
            validation.ConfigError, message):
          data.get(name, **kwargs)
    chex.assert_shape(data.get('ring8', batch_size=8, n_critic=2, seed=2**32 - 1).batch(0)['x'],
                      (2, 8, 2))

  @parameterized.parameters(
      ('keep_checkpoints', 0, 'an integer >= 1'),
      ('data.batch_size', 0, 'an integer >= 1'),
      ('data.batch_size', -4, 'an integer >= 1'),
      ('g_optimizer.learning_rate', -1.0, 'a finite number > 0'),
      ('d_optimizer.learning_rate', float('nan'), 'a finite number > 0'),
      ('penalty.weight', float('nan'), 'a finite number >= 0'),
      ('penalty.weight', None, 'a finite number >= 0'),  # was a TypeError in float()
      ('n_critic', -1, 'an integer >= 0'),
      ('ema_decay', 1.0, r'a number in \[0, 1\)'),
      ('num_steps', -5, r'an integer >= 0 \(0 = unset/off\)'),
      ('seed', -1, r'an integer in \[0, 2\*\*32\) \(0 is an ordinary seed\)'),
      ('seed', 2**32 + 5, r'an integer in \[0, 2\*\*32\)'),  # was seed 5 again
      ('model.z_dim', -1, 'an integer >= 0'),  # an MLIR error inside JAX
      ('content.perceptual_scale', float('nan'), 'a finite number > 0'),  # never resumed
      # Content-loss choices, refused here rather than when the first step is traced.
      ('content.pixel', 'l2', 'one of l1, mse'),
      ('content.perceptual_criterion', 'huber', 'one of l1, mse'),
      ('content.perceptual_layer', 'relu6_1', 'one of conv1_1, relu1_1, .*, conv5_4, relu5_4'),
  )
  def test_bad_value_names_field_value_and_rule(self, field, value, allowed):
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(validation.ConfigError,
                                rf'config\.{field} = {value!r}: must be {allowed}'):
      train.train_and_evaluate(small_config(**{field: value}), wd)
    self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')

  def test_every_rule_refuses_a_value_just_outside_it(self):
    # One value per checked field, just past its bound (or not among its choices); a
    # rule added to validation.RULES must be added here.
    bad = {'seed': -1, 'data.batch_size': 0, 'n_critic': -1, 'adversarial_weight': -0.5,
           'content.pixel_weight': -0.5, 'content.perceptual_weight': -0.5,
           'content.pixel': 'l2', 'content.perceptual_criterion': 'l2',
           'content.perceptual_layer': 'conv6_1', 'content.perceptual_scale': 0.0,
           'model.z_dim': -1, 'num_steps': -1, 'num_epochs': -0.5,
           'g_optimizer.learning_rate': 0.0, 'd_optimizer.learning_rate': 0.0,
           'g_optimizer.b1': 1.0, 'd_optimizer.b1': 1.0, 'g_optimizer.b2': 1.0,
           'd_optimizer.b2': -0.1, 'penalty.weight': -0.5, 'penalty.every': 0,
           'weight_clip': -0.01, 'ema_decay': 1.0, 'steps_per_call': 0, 'log_every': 0,
           'eval_every': -1, 'checkpoint_every': 0, 'keep_checkpoints': 0,
           'num_eval_samples': 0}
    self.assertEqual(set(bad), set(validation.RULES))
    validation.validate(small_config())
    for field, value in bad.items():
      with self.subTest(field=field), self.assertRaisesRegex(
          validation.ConfigError, rf'config\.{field} = {value!r}: must be '):
        validation.validate(small_config(**{field: value}))

  def test_every_rule_accepts_the_value_on_its_bound(self):
    # The other side of the test above: 0 is 'unset/off' for the non-negative fields (an
    # SR generator's z_dim, eval_every, weight_clip), and 2**32 - 1 is the last seed.
    good = [('seed', 0), ('seed', 2**32 - 1), ('data.batch_size', 1), ('n_critic', 0),
            ('adversarial_weight', 0.0), ('content.pixel_weight', 0.0),
            ('content.perceptual_weight', 0.0), ('content.pixel', 'mse'),
            ('content.perceptual_criterion', 'mse'), ('content.perceptual_layer', 'relu5_4'),
            ('content.perceptual_scale', 1e-6), ('model.z_dim', 0), ('num_steps', 0),
            ('num_epochs', 0.0), ('g_optimizer.learning_rate', 1e-8),
            ('d_optimizer.learning_rate', 1e-8), ('g_optimizer.b1', 0.0),
            ('d_optimizer.b1', 0.0), ('g_optimizer.b2', 0.0), ('d_optimizer.b2', 0.0),
            ('penalty.weight', 0.0), ('penalty.every', 1), ('weight_clip', 0.0),
            ('ema_decay', 0.0), ('steps_per_call', 1), ('log_every', 1), ('eval_every', 0),
            ('checkpoint_every', 1), ('keep_checkpoints', 1), ('num_eval_samples', 1)]
    self.assertEqual({field for field, _ in good}, set(validation.RULES))
    for field, value in good:
      with self.subTest(field=field, value=value):
        self.assertEqual(validation.value_problems(small_config(**{field: value})), [])

  def test_infinite_numbers_and_booleans_are_refused(self):
    # inf > 0 holds, but an infinite rate or weight trains to NaN; a bool is an int in
    # Python, so seed=True would silently be seed 1 and num_steps=True one step.
    for field, value, allowed in (('g_optimizer.learning_rate', float('inf'), 'a finite'),
                                  ('adversarial_weight', float('inf'), 'a finite'),
                                  ('penalty.weight', float('inf'), 'a finite'),
                                  ('content.perceptual_scale', float('inf'), 'a finite'),
                                  ('weight_clip', float('inf'), 'a finite'),
                                  ('seed', True, 'an integer'),
                                  ('num_steps', True, 'an integer')):
      with self.subTest(field=field, value=value), self.assertRaisesRegex(
          validation.ConfigError, rf'config\.{field} = {value!r}: must be {allowed}'):
        validation.validate(small_config(**{field: value}))

  def test_a_field_left_out_of_a_config_is_not_checked(self):
    # Rules apply to the fields a config has: one written without an optional field (here
    # num_epochs and eval_every) is not refused for its absence.
    c = small_config()
    del c['num_epochs']
    del c['eval_every']
    validation.validate(c)

  def test_a_content_loss_alone_trains_with_zero_critic_steps(self):
    # The SR pre-training mode: either content term is enough (ESRGAN's PSNR stage uses
    # the pixel loss, a perceptual-only stage the VGG one).
    for content in ({'content.pixel_weight': 1.0}, {'content.perceptual_weight': 1.0}):
      with self.subTest(**content):
        validation.validate(small_config(n_critic=0, adversarial_weight=0.0, **content))

  def test_no_auxiliary_term_in_any_spelling_allows_adversarial_weight_0(self):
    for none in ('none', 'none()', ' none'):
      with self.subTest(none=none):
        validation.validate(small_config(adversarial_weight=0.0, **{'auxiliary.name': none}))

  def test_every_unknown_field_of_a_section_is_named(self):
    c = small_config()
    c.penalty.evry = 4
    c.penalty.wieght = 1.0
    with self.assertRaises(validation.ConfigError) as raised:
      validation.validate(c)
    self.assertRegex(str(raised.exception), r"(?s)config.penalty has no field 'evry'.*"
                     r"config.penalty has no field 'wieght' \(did you mean 'weight'\?\)")

  def test_an_unknown_command_line_field_is_described_at_its_level(self):
    c = default.get_config()
    self.assertIsNone(validation.describe_unknown_field(c, 'model.generator'))
    # A field of a value: said so, not a KeyError (the launcher would show a traceback).
    self.assertEqual(validation.describe_unknown_field(c, 'seed.x'),
                     "config.seed is a value (0), it has no field 'x'.")
    # A module's section is not a kwargs: no advice to put the field in the model's name.
    message = validation.describe_unknown_field(c, 'model.generator.featurez')
    self.assertStartsWith(message, "config.model.generator has no field 'featurez'")
    self.assertNotIn('kwargs', message)
    # A kwargs field: the advice adds it to the arguments the name has (following it
    # dropped them).
    c.penalty.name = 'r1(per_example=True)'
    self.assertIn("--config.penalty.name='r1(per_example=True, gamma=VALUE)'.",
                  validation.describe_unknown_field(c, 'penalty.kwargs.gamma'))
    c.penalty.name = ' r1( ) '
    self.assertIn("--config.penalty.name='r1(gamma=VALUE)'.",
                  validation.describe_unknown_field(c, 'penalty.kwargs.gamma'))

  def test_a_penalty_without_a_weight_is_refused(self):
    # The default weight is 0: naming a penalty alone would compute it and add nothing.
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(validation.ConfigError,
                                r"config.penalty.name = 'wgan_gp' with config.penalty.weight "
                                r"= 0.0: the penalty would be computed and add nothing"):
      train.train_and_evaluate(small_config(**{'penalty.name': 'wgan_gp',
                                               'penalty.weight': 0.0}), wd)
    self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')
    with self.assertRaisesRegex(validation.ConfigError, r"'dragan\(scale=1.0\)' with config"):
      validation.validate(small_config(**{'penalty.name': 'dragan(scale=1.0)',
                                          'penalty.weight': 0.0}))
    # Switching a penalty off takes one flag: its weight and laziness are then unused.
    validation.validate(small_config(**{'penalty.name': 'none', 'penalty.weight': 5.0,
                                        'penalty.every': 4}))
    # A misspelt name is the registry's error, which lists the valid names.
    c = small_config(**{'penalty.name': 'wgan_gpp', 'penalty.weight': 0.0})
    validation.validate(c)
    with self.assertRaisesRegex(ValueError, "'wgan_gpp'.*wgan_gp"):
      build.build(c)

  def test_unknown_fields_are_named_with_the_valid_ones_at_their_level(self):
    # Misspelt in a config file or in Python (the command line has its own check): each
    # would be ignored, e.g. no EMA and a penalty at every step.
    c = small_config(**{'penalty.every': 5})
    c.ema_deacy = 0.999
    c.penalty.evry = 4
    c.content.pixel_wieght = 1.0
    c.model.zdim = 64
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaises(validation.ConfigError) as raised:
      train.train_and_evaluate(c, wd)
    lines = str(raised.exception).splitlines()[1:]
    self.assertLen(lines, 4)
    top = ', '.join(sorted(toy2d.get_config().keys()))
    self.assertEqual(lines[0].strip(), "config has no field 'ema_deacy' (did you mean "
                     f"'ema_decay'?); its fields are: {top}.")
    self.assertEqual(lines[1].strip(), "config.model has no field 'zdim' (did you mean "
                     "'z_dim'?); its fields are: discriminator, generator, name, z_dim.")
    self.assertEqual(lines[2].strip(), "config.penalty has no field 'evry' (did you mean "
                     "'every'?); its fields are: every, kwargs, name, weight.")
    self.assertIn("config.content has no field 'pixel_wieght' (did you mean "
                  "'pixel_weight'?)", lines[3])
    self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')

  def test_free_form_sections_are_left_to_what_they_build(self):
    # A dataset's, a module's and an optimizer's arguments are checked where they are
    # built: here the Flax module refuses the unknown attribute, naming it.
    c = small_config()
    validation.validate(c)  # the toy config itself is valid
    c.model.generator.featurez = (8,)
    validation.validate(c)
    with self.assertRaisesRegex(TypeError, 'featurez'):
      build.build(c)

  def test_arguments_of_no_auxiliary_term_are_refused(self):
    c = small_config(**{'auxiliary.kwargs': {'weight': 2.0}})
    with self.assertRaisesRegex(validation.ConfigError,
                                r"auxiliary.kwargs = \{'weight': 2.0\} are arguments of no "
                                r"auxiliary term: config.auxiliary.name is 'none'"):
      build.build(c)

  def test_an_auxiliary_term_without_its_heads_is_a_config_error_before_any_write(self):
    from configs import cgan_digits, infogan_digits
    c = cgan_digits.get_config()
    c.auxiliary.name = 'acgan'
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(validation.ConfigError,
                                r"config.auxiliary.name = 'acgan' with config.model \('cgan'\): "
                                r"ACGAN needs the discriminator head 'class_logits'; the "
                                r'discriminator gave heads: none'):
      train.train_and_evaluate(c, wd)
    self.assertFalse(os.path.exists(wd), 'nothing may be written before the check')
    c = infogan_digits.get_config()
    c.auxiliary = dict(name='acgan', kwargs={})
    with self.assertRaisesRegex(validation.ConfigError, "gave heads: 'categorical_logits'"):
      build.build(c)
    build.build(infogan_digits.get_config())  # the recipe itself has its heads
    from configs import acgan_digits
    c = acgan_digits.get_config()
    c.auxiliary = dict(name='infogan', kwargs={})   # codes wanted, class labels given
    with self.assertRaisesRegex(validation.ConfigError, r"config.model \('acgan'\): InfoGAN "
                                r'codes must be a dict .*; got an array int32\[\d+\] \(class '
                                r'labels\?\)\.$'):
      build.build(c)

  def test_a_model_whose_conditioning_needs_an_auxiliary_term_refuses_none(self):
    # ACGAN's and InfoGAN's discriminators never see the generator's labels or codes: only
    # the auxiliary term uses them, so without it they would be silently ignored.
    from configs import acgan_digits, infogan_digits
    for get, name, advice in ((acgan_digits.get_config, 'acgan',
                               r'--config.auxiliary.name=acgan \(or --config.model.name=cgan'),
                              (infogan_digits.get_config, 'infogan',
                               r'--config.auxiliary.name=infogan\.')):
      for none in ('none', 'none()', ' none'):  # every spelling of the registry's 'none'
        c = get()
        c.auxiliary.name = none   # as on the command line: the recipe's kwargs stay
        with self.subTest(name=name, none=none), self.assertRaisesRegex(
            validation.ConfigError, rf"config.model.name = '{name}' with config.auxiliary."
            rf"name = 'none': .*never trained\. Set {advice}"):
          build.build(c)

  def test_the_known_fields_are_the_default_configs(self):
    d = default.get_config()
    expected = {'': set(d.keys())} | {k: set(d[k].keys()) for k in validation.FIELDS if k}
    self.assertEqual({k: set(v) for k, v in validation.FIELDS.items()}, expected)

  def test_zero_critic_steps_need_a_content_loss_and_no_adversarial_term(self):
    # n_critic = 0 is the SR pre-training mode (generator on its content loss alone); in a
    # plain GAN config it trains nothing useful, and the error says why.
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(
        validation.ConfigError,
        r'(?s)n_critic = 0 trains no discriminator: config\.adversarial_weight must be 0.*'
        r'content loss alone: set config\.content\.pixel_weight'):
      train.train_and_evaluate(small_config(n_critic=0), wd)
    self.assertFalse(os.path.exists(wd))

  def test_a_negative_adversarial_weight_with_zero_critic_steps_lists_both_problems(self):
    # Each problem is listed: a negative weight is named by its rule, and as one that a
    # generator trained alone cannot take (it must be 0 then).
    c = small_config(n_critic=0, adversarial_weight=-1.0, **{'content.pixel_weight': 1.0})
    with self.assertRaisesRegex(validation.ConfigError,
                                r'(?s)adversarial_weight = -1.0: must be .*n_critic = 0 '
                                r'trains no discriminator.*got -1.0'):
      validation.validate(c)

  def test_a_negative_penalty_weight_is_named_by_its_rule_alone(self):
    # Not also as a weight of 0 ("would add nothing"): it would subtract.
    c = small_config(**{'penalty.name': 'wgan_gp', 'penalty.weight': -1.0})
    with self.assertRaisesRegex(validation.ConfigError,
                                r'penalty.weight = -1.0: must be a finite number >= 0') as e:
      validation.validate(c)
    self.assertNotIn('add nothing', str(e.exception))

  def test_an_auxiliary_term_needs_the_adversarial_step(self):
    # G's ACGAN/InfoGAN term rides on its adversarial step: with adversarial_weight 0 only
    # D's head would train, silently.
    c = acgan_digits.get_config()
    c.adversarial_weight = 0.0
    with self.assertRaisesRegex(validation.ConfigError,
                                r"auxiliary.name = 'acgan' with config.adversarial_weight = 0"):
      validation.validate(c)

  def test_a_failed_write_of_a_changed_config_keeps_the_old_one_and_its_check(self):
    # config.json was moved aside before the new one was written: a full disk there left
    # none, and every later resume went unchecked.
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config(n_critic=5))
    with open(workdir.config_path(wd)) as f:
      before = f.read()
    changed = small_config(n_critic=1, allow_config_change=True)
    changes = workdir.check_resume_config(wd, changed, step=10)
    with mock.patch.object(workdir, 'write_config',
                           side_effect=OSError(errno.ENOSPC, 'No space left on device')):
      with self.assertRaisesRegex(OSError, 'No space left'):
        workdir.record_config(wd, changed, 10, changes)
    with open(workdir.config_path(wd)) as f:
      self.assertEqual(f.read(), before)
    with self.assertRaisesRegex(validation.ConfigError, r'n_critic: 5 -> 1'):
      workdir.check_resume_config(wd, small_config(n_critic=1), step=10)
    workdir.record_config(wd, changed, 10, changes)  # with room: recorded and kept
    with open(os.path.join(wd, 'config_before_step_10.json')) as f:
      self.assertEqual(f.read(), before)
    self.assertEqual(workdir.read_json(workdir.config_path(wd))['n_critic'], 1)

  def test_a_constant_rate_is_constant_however_it_is_written(self):
    # optimizers.schedule reads 'constant()' as 'constant': no change of optimizer state
    # (nor a change at all: specs are compared as read), and n_critic may change under it.
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config(**{'d_optimizer.schedule': 'constant()'}))
    self.assertEqual(workdir.check_resume_config(wd, small_config(
        allow_config_change=True, n_critic=2, **{'d_optimizer.schedule': 'constant'}),
        step=10), ['n_critic: 1 -> 2'])
    with self.assertRaisesRegex(validation.ConfigError,
                                r"d_optimizer.schedule is 'constant\(\)'; 'linear"):
      workdir.check_resume_config(wd, small_config(
          allow_config_change=True, **{'d_optimizer.schedule': 'linear(decay_steps=300)'}),
          step=10)

  def test_a_checkpoint_without_config_json_is_not_resumed_unchecked(self):
    wd = tempfile.mkdtemp()
    with self.assertRaisesRegex(validation.ConfigError,
                                r'holds a run \(step 10\) but no config.json'):
      workdir.check_resume_config(wd, small_config(), step=10)
    self.assertEqual(workdir.check_resume_config(
        wd, small_config(allow_config_change=True), step=10), [])
    self.assertEqual(workdir.check_resume_config(wd, small_config(), step=None), [])

  def test_each_location_field_may_change_on_resume_and_is_reported(self):
    from configs import srgan
    for field, old, new in (('data.data_dir', '/a', '/b'), ('content.vgg_weights', 'a.pth',
                                                            'b.pth'), ('init_from', '/a', '/c')):
      wd = tempfile.mkdtemp()
      c = srgan.get_config('small')
      parent, _, leaf = field.rpartition('.')
      (c[parent] if parent else c)[leaf] = old
      workdir.write_config(wd, c)
      (c[parent] if parent else c)[leaf] = new
      self.assertEqual(workdir.check_resume_config(wd, c, step=10),
                       [f'{field}: {old!r} -> {new!r}'], field)

  def test_an_init_from_given_to_a_saved_run_is_refused_as_never_read(self):
    # init_from starts a fresh run's generator; a run with a checkpoint resumes from that,
    # so a new init_from would be ignored while config.json recorded it.
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config())
    for allow in (False, True):
      with self.assertRaisesRegex(validation.ConfigError,
                                  r"holds a run \(step 10\), which resumes from its own "
                                  r"checkpoint; init_from='/c' starts a new run's generator"):
        workdir.check_resume_config(wd, small_config(init_from='/c',
                                                     allow_config_change=allow), step=10)
    # Before the first checkpoint it is read: a change like any other, and taken.
    self.assertEqual(workdir.check_resume_config(wd, small_config(init_from='/c'), step=None),
                     ["init_from: '' -> '/c'"])
    # Dropped on a resume: nothing to read either way.
    workdir.write_config(wd, small_config(init_from='/c'))
    self.assertEqual(workdir.check_resume_config(wd, small_config(), step=10),
                     ["init_from: '/c' -> ''"])
    # No config.json to tell whether the run started from it (allow_config_change): said.
    os.remove(os.path.join(wd, 'config.json'))
    with self.assertLogs('absl', level='WARNING') as logs:
      self.assertEqual(workdir.check_resume_config(
          wd, small_config(init_from='/c', allow_config_change=True), step=10), [])
    self.assertIn("init_from='/c' is not read: ", logs.output[0])
    self.assertIn('resumes from its step-10 checkpoint', logs.output[0])

  def test_a_folder_is_a_runs_by_its_checkpoints_or_a_jaxgan_config(self):
    wd = tempfile.mkdtemp()
    with open(os.path.join(wd, 'metrics.csv'), 'w') as f:
      f.write('step,x\n1,2\n')
    os.makedirs(os.path.join(wd, 'checkpoints'))  # a run's, whose config.json is lost
    workdir.check_not_foreign(wd)
    os.rmdir(os.path.join(wd, 'checkpoints'))
    open(os.path.join(wd, 'checkpoints'), 'w').close()  # a file of that name: no run's
    with self.assertRaisesRegex(FileExistsError, 'holds metrics.csv but no jaxgan run'):
      workdir.check_not_foreign(wd)
    os.remove(os.path.join(wd, 'checkpoints'))
    for saved, foreign in (({'model': 'x'}, True), ({'model': {}, 'loss': {}}, True),
                           ({'model': {}, 'loss': {}, 'data': {}}, False)):
      with open(os.path.join(wd, 'config.json'), 'w') as f:
        json.dump(saved, f)
      if foreign:
        with self.assertRaisesRegex(FileExistsError, 'holds metrics.csv but no jaxgan run'):
          workdir.check_not_foreign(wd)
      else:
        workdir.check_not_foreign(wd)

  def test_another_n_critic_under_a_scheduled_critic_rate_is_refused_on_resume(self):
    # The critic's schedule reads its optimizer's count (n_critic updates per generator
    # step): another n_critic would move it to another step, even with allow_config_change.
    wd = tempfile.mkdtemp()
    saved = small_config(n_critic=5, **{'d_optimizer.schedule': 'cosine(decay_steps=100)'})
    workdir.write_config(wd, saved)
    changed = small_config(n_critic=1, allow_config_change=True,
                           **{'d_optimizer.schedule': 'cosine(decay_steps=100)'})
    with self.assertRaisesRegex(validation.ConfigError,
                                r"n_critic=5; n_critic=1 with the scheduled d_optimizer"):
      workdir.check_resume_config(wd, changed, step=10)
    self.assertEqual(workdir.check_resume_config(wd, changed, step=None), ['n_critic: 5 -> 1'])
    workdir.write_config(wd, small_config(n_critic=5))  # a constant rate: only a change
    self.assertEqual(workdir.check_resume_config(wd, small_config(
        n_critic=1, allow_config_change=True), step=10)[0], 'n_critic: 5 -> 1')

  def test_a_changed_training_field_is_refused_on_resume(self):
    # Fields outside RESUMABLE_FIELDS and the locations change what is trained: each named.
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config())
    for field, old, new in (('ema_decay', 0.999, 0.99), ('weight_clip', 0.0, 0.01),
                            ('seed', 0, 7), ('adversarial_weight', 1.0, 0.5)):
      with self.assertRaisesRegex(validation.ConfigError, rf'{field}: {old} -> {new}'):
        workdir.check_resume_config(wd, small_config(**{field: new}), step=10)

  def test_a_run_saved_before_the_critic_layout_resumes_as_srgan(self):
    # config.json from before SRGANDiscriminator's layout: that critic was SRGAN's.
    wd = tempfile.mkdtemp()
    old = esrgan.get_config('small,offline')
    del old.model.discriminator['layout']
    workdir.write_config(wd, old)
    srgan_layout = esrgan.get_config('small,offline')
    srgan_layout.model.discriminator.layout = 'srgan'
    self.assertEqual(workdir.check_resume_config(wd, srgan_layout, step=10), [])
    with self.assertRaisesRegex(validation.ConfigError,
                                r"model\.discriminator\.layout: 'srgan' -> 'esrgan'"):
      workdir.check_resume_config(wd, esrgan.get_config('small,offline'), step=10)

  def test_a_run_saved_before_scan_blocks_resumes_unrolled_only(self):
    # config.json of an ESRGAN run from before RRDBNet's scan_blocks: its blocks were
    # unrolled, so the small recipe (unrolled) resumes it, and the papers' (scanned, another
    # parameter layout) is refused with the difference named.
    wd = tempfile.mkdtemp()
    old = esrgan.get_config('small,offline')
    del old.model.generator['scan_blocks']
    workdir.write_config(wd, old)
    self.assertEqual(workdir.check_resume_config(wd, esrgan.get_config('small,offline'),
                                                 step=10), [])
    scanned = esrgan.get_config('small,offline')
    scanned.model.generator.scan_blocks = True
    with self.assertRaisesRegex(validation.ConfigError,
                                r'model\.generator\.scan_blocks: False -> True'):
      workdir.check_resume_config(wd, scanned, step=10)
    # Not even with allow_config_change: the checkpoint holds the other layout.
    scanned.allow_config_change = True
    with self.assertRaisesRegex(validation.ConfigError,
                                r'scan_blocks is False; True stores the RRDBs in another '
                                r'layout.*--config\.model\.generator\.scan_blocks=False'):
      workdir.check_resume_config(wd, scanned, step=10)
    self.assertEqual(workdir.check_resume_config(wd, scanned, step=None),
                     ['model.generator.scan_blocks: False -> True'])

  def test_the_length_and_logging_fields_change_on_resume_unrefused_and_unlisted(self):
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config())
    changed = small_config(num_steps=80, steps_per_call=10, log_every=10, eval_every=40,
                           checkpoint_every=20, keep_checkpoints=7, num_eval_samples=50,
                           distributed=True)
    self.assertEqual(workdir.check_resume_config(wd, changed, step=10), [])

  def test_a_generator_trained_alone_resumes_alone(self):
    # n_critic = 0 is refused only for a run that trained a discriminator; a run saved
    # before n_critic existed trained one (n_critic 1).
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config(n_critic=0))
    self.assertEqual(workdir.check_resume_config(wd, small_config(n_critic=0), step=10), [])
    old = json.loads(small_config().to_json())
    del old['n_critic']
    with open(workdir.config_path(wd), 'w') as f:
      json.dump(old, f)
    with self.assertRaisesRegex(validation.ConfigError, r'with n_critic=1, whose checkpoint'):
      workdir.check_resume_config(wd, small_config(n_critic=0, allow_config_change=True),
                                  step=10)

  def test_every_changed_record_at_one_step_is_kept_and_an_undo_puts_the_last_back(self):
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config(n_critic=1))
    kept = []
    for n in (2, 3, 4):
      kept.append(workdir.record_config(wd, small_config(n_critic=n), 10,
                                        [f'n_critic: {n - 1} -> {n}']))
    self.assertEqual([os.path.basename(k) for k in kept],
                     ['config_before_step_10.json', 'config_before_step_10_2.json',
                      'config_before_step_10_3.json'])
    self.assertEqual([workdir.read_json(k)['n_critic'] for k in kept], [1, 2, 3])
    workdir.undo_config_record(wd, kept[-1])
    self.assertEqual(workdir.read_json(workdir.config_path(wd))['n_critic'], 3)
    self.assertFalse(os.path.exists(kept[-1]))
    self.assertTrue(os.path.exists(kept[-2]))

  def test_a_config_json_that_is_not_utf8_is_a_config_error_naming_it(self):
    wd = tempfile.mkdtemp()
    with open(workdir.config_path(wd), 'wb') as f:
      f.write(b'{"model": "\xff\xfe"}')
    with self.assertRaisesRegex(validation.ConfigError, r'config\.json is damaged'):
      workdir.check_resume_config(wd, small_config(), step=10)
    self.assertIsNone(workdir.read_data_shapes(wd))  # none written: an older run's

  def test_a_damaged_pending_record_is_a_config_error_naming_it(self):
    wd = tempfile.mkdtemp()
    with open(workdir.pending_path(wd), 'w') as f:
      f.write('{"resumed_at": 20, "chan')
    with self.assertRaisesRegex(validation.ConfigError,
                                f'{workdir.pending_path(wd)} is damaged and cannot be read '
                                r'\(.*\); delete it and resume with the changed config again '
                                r'\(with --config.allow_config_change=True\)'):
      workdir.read_pending(wd, 30)
    # JSON, but not the record: was a bare TypeError or KeyError at the start of training.
    for text, said in (('[]', 'it holds an array, not the JSON object it was written as'),
                       ('{"resumed_at": 20}', 'it lacks changes, config, data_shapes')):
      with open(workdir.pending_path(wd), 'w') as f:
        f.write(text)
      with self.subTest(text=text), self.assertRaisesRegex(
          validation.ConfigError, f'{workdir.pending_path(wd)} is damaged: {said}; delete it'):
        workdir.settle_pending(wd, 30)

  def test_a_config_json_that_is_not_an_object_is_damaged_not_another_config(self):
    # It was refused as "trained with another config", every field '(absent)' -> value.
    wd = tempfile.mkdtemp()
    for text, kind in (('[]', 'an array'), ('null', 'null'), ('"x"', 'a string'),
                       ('3', 'a number')):
      with open(workdir.config_path(wd), 'w') as f:
        f.write(text)
      with self.subTest(text=text), self.assertRaisesRegex(
          validation.ConfigError, rf'config\.json is damaged: it holds {kind}, not the JSON '
                                  r'object it was written as; restore it'):
        workdir.check_resume_config(wd, small_config(), step=10)

  def test_a_data_path_inside_the_data_name_is_a_location(self):
    # A moved run: 'images(path=A)' -> 'images(path=B)' is recorded, never refused, like
    # data.data_dir; the name's other arguments are training changes, and spacing or
    # quoting is not a change.
    def changes(was, now, fields=None):
      return workdir.config_changes({'data': {'name': was}}, {'data': {'name': now}}, fields)
    was = "images(path='/a', channels=1)"
    self.assertEqual(changes(was, "images(channels=1, path='/b')"), [])
    self.assertEqual(changes(was, "images(channels=1, path='/b')", workdir.LOCATION_FIELDS),
                     ["data.name(path): '/a' -> '/b'"])
    self.assertEqual(changes(was, 'images( path="/a",channels=1 )'), [])
    # ... and shown as written.
    self.assertEqual(changes(was, "images(path='/a', channels=3)"),
                     [f'data.name: {was!r} -> "images(path=\'/a\', channels=3)"'])
    self.assertEqual(changes(was, "folder(path='/b', channels=1)"),
                     [f'data.name: {was!r} -> "folder(path=\'/b\', channels=1)"'])
    self.assertEqual(changes("sr_tfds(data_dir='/x')", "sr_tfds(data_dir='/y')",
                             workdir.LOCATION_FIELDS),
                     ["data.name(data_dir): '/x' -> '/y'"])
    self.assertEqual(changes('ring8', 'grid25'), ["data.name: 'ring8' -> 'grid25'"])
    self.assertEqual(changes('ring8(', 'ring8('), [])  # unreadable: compared as written
    self.assertEqual(changes("images(path='/a')", 'images'),  # the path dropped: moved
                     [])

  def test_a_spec_argument_is_the_same_written_in_its_field(self):
    # The builders merge a spec's arguments with its section's fields (losses.get(name,
    # **kwargs), data.get(name, **data), optimizers.get(name, **rest)): either spelling is
    # the same run; a changed value is a change, shown as written.
    same = [({'loss': {'name': 'least_squares(a=-1.0)'}},
             {'loss': {'name': 'least_squares', 'kwargs': {'a': -1.0}}}),
            ({'penalty': {'name': 'r1', 'kwargs': {'per_example': True}}},
             {'penalty': {'name': 'r1(per_example=True)'}}),
            ({'data': {'name': 'digits(image_size=16)'}},
             {'data': {'name': 'digits', 'image_size': 16}}),
            ({'g_optimizer': {'name': 'adam', 'b1': 0.5}},
             {'g_optimizer': {'name': 'adam(b1=0.5)'}}),
            ({'data': {'name': "images(path='/a', image_size=(32, 32))"}},  # JSON's list
             {'data': {'name': "images(path='/a')", 'image_size': [32, 32]}})]
    for saved, current in same:
      with self.subTest(saved=saved):
        self.assertEqual(workdir.config_changes(saved, current), [])
    self.assertEqual(
        workdir.config_changes({'loss': {'name': 'least_squares(a=-1.0)'}},
                               {'loss': {'name': 'least_squares', 'kwargs': {'a': 0.0}}}),
        ["loss.kwargs.a: -1.0 -> 0.0"])
    self.assertEqual(
        workdir.config_changes({'data': {'name': 'digits(image_size=16, subset=100)'}},
                               {'data': {'name': 'digits(image_size=8, subset=50)'}}),
        ["data.name: 'digits(image_size=16, subset=100)' -> 'digits(image_size=8, "
         "subset=50)'"])  # one line for the spec, as written

  def test_every_spec_is_compared_as_read(self):
    # Spacing, quoting, argument order and empty parentheses in any spec field are no
    # change; another value is, shown as written; what parse_spec cannot read is compared
    # as written; a field saved without a schedule reads 'constant' (ABSENT_MEANS).
    saved = {'loss': {'name': "least_squares(a=-1, b=1, c=0)"},
             'g_optimizer': {'schedule': 'linear(decay_steps=100)'}, 'dtype': 'float32'}
    same = {'loss': {'name': ' least_squares( c=0,b=1 , a=-1 )'},
            'g_optimizer': {'schedule': "linear( decay_steps=100 )"}, 'dtype': 'float32'}
    self.assertEqual(workdir.config_changes(saved, same), [])
    other = {**same, 'g_optimizer': {'schedule': 'linear(decay_steps=200 )'}}
    self.assertEqual(workdir.config_changes(saved, other),
                     ["g_optimizer.schedule: 'linear(decay_steps=100)' -> "
                      "'linear(decay_steps=200 )'"])
    self.assertEqual(workdir.config_changes({}, {'d_optimizer': {'schedule': 'constant()'}}),
                     [])
    self.assertEqual(workdir.config_changes({}, {'d_optimizer': {'schedule': 'cosine'}}),
                     ["d_optimizer.schedule: 'constant' -> 'cosine'"])
    self.assertEqual(workdir.config_changes({'x': 'a(b'}, {'x': 'a(b'}), [])
    self.assertEqual(workdir.config_changes({'x': '/d/a'}, {'x': '/d/a '}),
                     ["x: '/d/a' -> '/d/a '"])  # not a spec: as written
    # A DiffAugment policy, entry by entry (a space after its comma was a change).
    policy = lambda p: {'augment': p}
    self.assertEqual(workdir.config_changes(policy('color,translation(ratio=0.25)'),
                                            policy(' color, translation( ratio=0.25 ),')), [])
    self.assertEqual(workdir.config_changes(policy('color,translation'),
                                            policy('translation, color')),
                     ["augment: 'color,translation' -> 'translation, color'"])  # the order
    self.assertEqual(workdir.config_changes(policy(''), policy('color')),
                     ["augment: '' -> 'color'"])

  def test_a_schedules_arguments_in_another_order_are_no_change(self):
    # A spec outside the merged sections (a schedule) is compared by its arguments, not by
    # their order: the same rate, which a resume must not refuse as another config.
    saved = {'g_optimizer': {'schedule': 'warmup_cosine(warmup_steps=10, decay_steps=100)'}}
    same = {'g_optimizer': {'schedule': 'warmup_cosine(decay_steps=100, warmup_steps=10)'}}
    self.assertEqual(workdir.config_changes(saved, same), [])

  def test_a_pending_record_already_made_is_not_made_twice(self):
    # The run stopped after recording its changed config, before its data shapes: the
    # next start writes the shapes and keeps no second copy of the config.
    wd = tempfile.mkdtemp()
    workdir.write_config(wd, small_config(n_critic=1))
    changed, changes = small_config(n_critic=2), ['n_critic: 1 -> 2']
    workdir.write_pending(wd, changed, 10, changes, {'x': [2]})
    workdir.record_config(wd, changed, 10, changes)
    workdir.settle_pending(wd, 20)
    self.assertEqual(sorted(f for f in os.listdir(wd) if f.startswith('config')),
                     ['config.json', 'config_before_step_10.json'])
    self.assertEqual(workdir.read_json(workdir.config_path(wd))['n_critic'], 2)
    self.assertEqual(workdir.read_data_shapes(wd), {'x': [2]})
    self.assertFalse(os.path.exists(workdir.pending_path(wd)))
    # Without any checkpoint the record is none of theirs: dropped, config.json kept.
    workdir.write_pending(wd, small_config(n_critic=3), 20, ['n_critic: 2 -> 3'], {'x': [3]})
    self.assertIsNone(workdir.read_pending(wd, None))
    workdir.settle_pending(wd, None)
    self.assertEqual(workdir.read_json(workdir.config_path(wd))['n_critic'], 2)
    self.assertEqual(workdir.read_data_shapes(wd), {'x': [2]})
    self.assertFalse(os.path.exists(workdir.pending_path(wd)))

  def test_a_field_the_saved_config_lacks_is_a_change(self):
    # A field added since the run was saved (outside ABSENT_MEANS): its value now is not
    # what the run trained with, so it is listed and refused like any change.
    wd = tempfile.mkdtemp()
    old = json.loads(small_config().to_json())
    del old['augment']
    with open(workdir.config_path(wd), 'w') as f:
      json.dump(old, f)
    with self.assertRaisesRegex(validation.ConfigError,
                                r"augment: '\(absent\)' -> 'translation'"):
      workdir.check_resume_config(wd, small_config(augment='translation'), step=10)

  def test_each_run_output_marks_a_folder_as_someone_elses(self):
    for name in ('metrics.jsonl', 'metrics.csv', 'loss_curves.png', 'samples', 'tensorboard',
                 'data_shapes.json', 'eval.json', 'evals.jsonl'):
      wd = tempfile.mkdtemp()
      open(os.path.join(wd, 'notes.txt'), 'w').close()  # other files do not count
      workdir.check_not_foreign(wd)
      if '.' in name:
        open(os.path.join(wd, name), 'w').close()
      else:
        os.makedirs(os.path.join(wd, name))
      with self.assertRaisesRegex(FileExistsError, f'holds {name} but no jaxgan run'):
        workdir.check_not_foreign(wd)

  def test_augmenting_data_that_are_not_images_is_a_config_error(self):
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    with self.assertRaisesRegex(validation.ConfigError,
                                r"augments images \[H, W, C\]; 'ring8' has samples of shape "
                                r'\(2,\)'):
      train.train_and_evaluate(small_config(augment='translation'), wd)
    self.assertFalse(os.path.exists(wd))

  def test_epochs_must_be_positive_and_exactly_one_length_is_set(self):
    wd = os.path.join(tempfile.mkdtemp(), 'never')
    c = small_config(num_steps=0, num_epochs=-1.0)
    with self.assertRaisesRegex(validation.ConfigError, r'num_epochs = -1\.0: must be'):
      train.train_and_evaluate(c, wd)
    for steps, epochs in ((0, 0.0), (10, 2.0)):
      with self.assertRaisesRegex(validation.ConfigError,
                                  'set exactly one of them.*--config.num_epochs=0'):
        train.train_and_evaluate(small_config(num_steps=steps, num_epochs=epochs), wd)
    self.assertFalse(os.path.exists(wd))

  def test_a_penalty_on_a_batchnorm_critic_is_warned_about(self):
    c = acgan_digits.get_config()  # DCGAN critic with batch normalization
    c.penalty = dict(name='r1', weight=1.0, every=1, kwargs={})
    with self.assertLogs('absl', 'WARNING') as logs:
      build.build(c)
    self.assertRegex(logs.output[0], r"config.penalty 'r1' on a critic with batch "
                                     r"normalization \('acgan'\).*discriminator.norm=layer")
    with self.assertNoLogs('absl', 'WARNING'):  # a run restored to sample from
      build.build(c, warn=False)
    c.model.discriminator.norm = 'layer'  # a penalized critic without batch statistics
    with self.assertNoLogs('absl', 'WARNING'):
      build.build(c)
    self.assertEqual(acgan_digits.get_config().penalty.name, 'none')
    with self.assertNoLogs('absl', 'WARNING'):  # batch norm, no penalty
      build.build(acgan_digits.get_config())
    c.model.discriminator.norm = 'spectral'  # SN keeps u and sigma in batch_stats too
    with self.assertNoLogs('absl', 'WARNING'):
      build.build(c)

  def test_a_layer_width_below_1_is_a_config_error(self):
    # Each failed in its initializer (a fan-in of 0) with a ZeroDivisionError traceback.
    for field, value, said in (('model.generator.features', (128, 0), 'each an integer'),
                               ('model.discriminator.features', (0,), 'each an integer'),
                               ('model.generator.features', (64.5,), 'each an integer')):
      part = field.split('.')[1]
      with self.subTest(field=field, value=value):
        c = small_config()
        c.model[part].features = value
        with self.assertRaisesRegex(validation.ConfigError,
                                    rf'^config.{field} = {re.escape(repr(value))}: a layer '
                                    f'width, {said} >= 1.$'):
          build.build(c)
    c = small_config()
    c.model.generator.features = (128, True)  # a boolean is no width (True == 1)
    with self.assertRaisesRegex(validation.ConfigError,
                                r'^config.model.generator.features = \(128, True\): a layer '
                                'width, each an integer >= 1.$'):
      build.build(c)
    from configs import cgan_digits
    for width in (0, -3):
      c = cgan_digits.get_config()
      c.model.discriminator.width = width
      with self.assertRaisesRegex(validation.ConfigError,
                                  f'^config.model.discriminator.width = {width}: a layer '
                                  'width, an integer >= 1.$'):
        build.build(c)

  def test_a_negative_count_or_sample_shape_is_a_config_error(self):
    # A negative num_blocks or num_layers was a model of none, silently (and an SR
    # generator's receptive radius one too small, so tiled upscaling showed seams); a
    # negative output_shape failed deep in jnp with a TypeError.
    c = esrgan.get_config('small,offline')
    c.model.generator.num_blocks = -1
    with self.assertRaisesRegex(validation.ConfigError,
                                r'^config.model.generator.num_blocks = -1: a number of layers '
                                'or blocks, an integer >= 0.$'):
      build.build(c)
    c = small_config(**{'model.generator.output_shape': (2, -1)})
    with self.assertRaisesRegex(validation.ConfigError, r'output_shape = \(2, -1\): the shape'):
      build.build(c)
    c = small_config(**{'model.generator.output_shape': (2, 0)})  # a ZeroDivisionError
    with self.assertRaisesRegex(validation.ConfigError, r'output_shape = \(2, 0\): the shape'):
      build.build(c)
    from configs import parts
    c = parts.dcgan_digits(default.get_config())
    c.model.discriminator.num_layers = -2
    with self.assertRaisesRegex(validation.ConfigError, 'discriminator.num_layers = -2'):
      build.build(c)
    c.model.discriminator.num_layers = 0  # a linear critic on the pixels: a model
    build.build(c)
    # The modules themselves, for callers without a config.
    from jaxgan import models
    gen = models.SRResNet(num_blocks=-1, features=8)
    for fn in (lambda: gen.init(jax.random.key(0), jnp.zeros((1, 4, 4, 3))),
               lambda: models.sr.receptive_radius(gen)):
      with self.assertRaisesRegex(ValueError, 'SRResNet: num_blocks must be an integer >= 0'):
        fn()
    with self.assertRaisesRegex(ValueError, 'num_layers must be an integer >= 0; got -1'):
      models.DCGANDiscriminator(num_layers=-1).init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))

  def test_a_content_loss_on_unpaired_data_is_warned_about(self):
    # Each generated sample would be pulled toward an unrelated real one; the SR configs'
    # content losses, on paired data, are not warned about (the test below).
    c = small_config(**{'content.pixel_weight': 1.0})
    with self.assertLogs('absl', 'WARNING') as logs:
      build.build(c)
    self.assertRegex(logs.output[0], r"config.content \(pixel_weight 1.0, perceptual_weight "
                                     r"0.0\) on 'ring8': .* only paired")
    with self.assertNoLogs('absl', 'WARNING'):
      build.build(c, warn=False)
      build.build(small_config())

  def test_an_ema_of_a_batchnorm_sr_generator_is_warned_about(self):
    # SRResNet has batch normalization, whose EMA statistics are not recomputed for an SR
    # generator; RRDBNet has none.
    from configs import esrgan, srgan
    c = srgan.get_config('small,offline')
    c.ema_decay = 0.999
    with self.assertLogs('absl', 'WARNING') as logs:
      build.build(c)
    self.assertRegex(logs.output[0], r'config.ema_decay 0.999 with a super-resolution '
                                     r'generator with batch normalization')
    c.ema_decay = 0.0
    with self.assertNoLogs('absl', 'WARNING'):
      build.build(c)
    c = esrgan.get_config('small,offline')
    c.ema_decay = 0.999
    with self.assertNoLogs('absl', 'WARNING'):
      build.build(c)

  def test_bad_names_fail_before_compiling(self):
    cases = {'loss.name': ('hinge2', 'minimax, non_saturating'),
             'penalty.name': ('gp', 'none, wgan_gp'),
             'data.name': ('ring9', 'ring8, grid25'),
             'model.name': ('resnet', 'mlp, dcgan'),
             'g_optimizer.name': ('adamw2', 'adam, adamw, rmsprop, sgd')}
    for field, (bad, listed) in cases.items():
      wd = os.path.join(tempfile.mkdtemp(), field)
      with self.assertRaisesRegex(ValueError, f'{bad}.*{listed}'):
        train.train_and_evaluate(small_config(**{field: bad}), wd)
      self.assertFalse(os.path.exists(wd), 'nothing may be written before validation')


  def test_penalty_hyperparameters_in_the_name(self):
    # Written once, inline, per_example is taken (build adds no keyword of its own) ...
    c = small_config(**{'penalty.name': 'r1(per_example=True)', 'penalty.weight': 1.0})
    self.assertEqual(build.build(c)[0].penalty.keywords, {'per_example': True})
    # ... and a value of the wrong type is refused before anything is written.
    wd = os.path.join(tempfile.mkdtemp(), 'run')
    with self.assertRaisesRegex(TypeError, "one_sided must be a bool .*got 'False'"):
      train.train_and_evaluate(small_config(**{'penalty.name': 'dragan(one_sided="False")',
                                               'penalty.weight': 1.0}), wd)
    self.assertFalse(os.path.exists(wd))


if __name__ == '__main__':
  absltest.main()
