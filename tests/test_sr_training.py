"""Super-resolution end to end: sub-pixel upsampling, two-stage training (PSNR, then GAN
from it), the perceptual loss through VGG19, network interpolation, evaluation and the
upscale command."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import chex
import jax
import numpy as np
from absl.testing import absltest
from PIL import Image
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from configs import esrgan, srgan
from jaxgan import checkpoints, evaluate, inference, torch_weights, train, validation
from jaxgan.data import bicubic, paired
from jaxgan.models import sr
from jaxgan.models.layers import pixel_shuffle, pixel_unshuffle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'PYTHONPATH': ROOT}


def _upscale_patched(patch: str, *flags: str) -> subprocess.CompletedProcess:
  """``python -m launch.upscale FLAGS`` in a subprocess that first runs ``patch`` (Python
  source standing in for a part of jaxgan)."""
  code = f"{patch}import runpy\nrunpy.run_module('launch.upscale', run_name='__main__', " \
         'alter_sys=True)\n'
  return subprocess.run([sys.executable, '-c', code, *flags], cwd=ROOT, env=ENV,
                        capture_output=True, text=True, timeout=300)


def _tiny(config, steps: int = 2):
  """``config`` with a one-block, 8-feature generator, 32 px crops, batch 4."""
  config.num_steps, config.data.batch_size, config.data.crop_size = steps, 4, 32
  config.model.generator.update(num_blocks=1, features=8)
  if 'growth' in config.model.generator:
    config.model.generator.growth = 4
  config.model.discriminator.update(image_size=32, width=4, hidden=16)
  config.eval_every, config.num_eval_samples = steps, 2
  return config


class SubPixelTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_pixel_shuffle_matches_pytorch_order_by_hand(self):
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 12)).astype(np.float32)
    y = np.asarray(self.variant(lambda x: pixel_shuffle(x, 2))(x))
    chex.assert_shape(y, (2, 6, 10, 3))
    for c in range(3):  # out[n, h*r+i, w*r+j, c] = x[n, h, w, c*r*r + i*r + j]
      for i in range(2):
        for j in range(2):
          np.testing.assert_array_equal(y[:, i::2, j::2, c], x[..., c * 4 + i * 2 + j])
    np.testing.assert_array_equal(self.variant(lambda y: pixel_unshuffle(y, 2))(y), x)
    with self.assertRaisesRegex(ValueError, r'divisible by 4.*\(2, 3, 5, 10\)'):
      pixel_shuffle(x[..., :10], 2)
    with self.assertRaisesRegex(ValueError, r'divisible by 2.*\(2, 6, 9, 3\)'):
      pixel_unshuffle(y[:, :, :9], 2)


class TwoStageTest(chex.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp()
    cls.psnr = os.path.join(cls.root, 'psnr')
    cls.psnr_state = train.train_and_evaluate(_tiny(esrgan.get_config('psnr,small')), cls.psnr)
    cls.gan = os.path.join(cls.root, 'gan')
    c = _tiny(esrgan.get_config('small,offline'))
    c.init_from = cls.psnr
    cls.gan_state = train.train_and_evaluate(c, cls.gan)

  def test_pretraining_has_no_discriminator_and_the_gan_starts_from_it(self):
    rows = [json.loads(r) for r in open(os.path.join(self.psnr, 'metrics.jsonl'))]
    self.assertNotIn('d_loss', rows[-1])
    self.assertIn('pixel_loss', rows[-1])
    # The PSNR stage keeps no discriminator: none in its state, none in its checkpoint.
    self.assertEqual((self.psnr_state.d_params, self.psnr_state.d_stats), ({}, {}))
    self.assertEqual([x.shape for x in jax.tree.leaves(self.psnr_state.d_opt_state)],
                     [()])  # Adam's step count alone
    ckpt = checkpoints.Checkpoints(os.path.join(self.psnr, 'checkpoints'), read_only=True)
    saved = ckpt.saved_shapes(ckpt.latest_step())
    ckpt.close()
    self.assertEqual(sorted({k[0] for k in saved}),
                     ['d_opt_state', 'ema_params', 'g_opt_state', 'g_params', 'step'])
    self.assertEqual([k for k in saved if k[0] == 'd_opt_state'], [('d_opt_state', '0', 'count')])
    rows = [json.loads(r) for r in open(os.path.join(self.gan, 'metrics.jsonl'))]
    self.assertIn('d_loss', rows[-1])
    self.assertNotEqual(self.gan_state.d_params, {})

  def test_a_psnr_run_saved_with_its_untrained_discriminator_still_resumes_and_seeds(self):
    # Older jaxgan checkpointed the PSNR stage's discriminator and its Adam moments (92 %
    # of SRGAN's PSNR state). Such a run restores without them, resumes, samples,
    # and starts a GAN stage, its generator the one it saved.
    from jaxgan import build, sharding
    from jaxgan import gan as gan_lib
    old = os.path.join(self.root, 'old_psnr')
    shutil.copytree(self.psnr, old)
    gan, pipe, state, config = inference.restore(old)
    whole = jax.jit(lambda k: gan_lib.init_state(gan, k, pipe.element_shape, pipe.lowres_shape,
                                                 discriminator=True))(build.init_key(1))
    self.assertGreater(len(jax.tree.leaves(whole.d_params)), 0)
    whole = whole.replace(step=state.step, g_params=state.g_params, g_stats=state.g_stats,
                          g_opt_state=state.g_opt_state, ema_params=state.ema_params)
    step = int(state.step)
    shutil.rmtree(os.path.join(old, 'checkpoints'))
    ckpt = checkpoints.Checkpoints(os.path.join(old, 'checkpoints'))
    ckpt.save(step, whole)
    ckpt.close()
    # A plain restore into today's layout is refused (the structures differ) ...
    ckpt = checkpoints.Checkpoints(os.path.join(old, 'checkpoints'), read_only=True)
    replicated = sharding.replicated(sharding.make_mesh())
    with self.assertRaises(checkpoints.CheckpointError):
      ckpt.restore(checkpoints.abstract_like(build.abstract_state(gan, pipe), replicated))
    # ... and build.restore_state reads it whole and leaves the discriminator out: its
    # layout told by one read of the metadata, and restored at the first try.
    with mock.patch.object(ckpt, 'saved_tree', wraps=ckpt.saved_tree) as read, \
        mock.patch.object(ckpt, 'restore', wraps=ckpt.restore) as load:
      restored = build.restore_state(ckpt, gan, pipe, replicated)
    self.assertEqual((read.call_count, load.call_count), (1, 1))
    # Its discriminator is read as saved, not as the config would build it now: a
    # changed crop (48, which this tiny ESRGAN discriminator would refuse) restores too.
    c = _tiny(esrgan.get_config('psnr,small'))
    c.data.crop_size = 48
    gan48, pipe48 = build.build(c)
    restored48 = build.restore_state(ckpt, gan48, pipe48, replicated)
    ckpt.close()
    self.assertEqual((int(restored48.step), restored48.d_params), (step, {}))
    chex.assert_trees_all_equal(restored48.g_params, state.g_params)
    self.assertEqual((restored.d_params, restored.d_stats), ({}, {}))
    chex.assert_trees_all_equal(
        (restored.step, restored.g_params, restored.g_opt_state, restored.ema_params),
        (state.step, state.g_params, state.g_opt_state, state.ema_params))
    chex.assert_trees_all_equal(jax.tree.leaves(restored.d_opt_state), [np.int32(0)])
    # The workdir functions take it: sampling weights, a GAN stage's init, a resume.
    chex.assert_trees_all_equal(inference.generator_weights(old),
                                inference.generator_weights(self.psnr))
    c = _tiny(esrgan.get_config('small,offline'), steps=1)
    c.init_from = old
    seeded = train.train_and_evaluate(c, os.path.join(self.root, 'gan_from_old'))
    self.assertEqual(int(seeded.step), 1)
    c = _tiny(esrgan.get_config('psnr,small'), steps=step + 1)
    c.eval_every = step + 1
    resumed = train.train_and_evaluate(c, old)
    self.assertEqual((int(resumed.step), resumed.d_params), (step + 1, {}))
    ckpt = checkpoints.Checkpoints(os.path.join(old, 'checkpoints'), read_only=True)
    self.assertFalse(any(k[0] == 'd_params' for k in ckpt.saved_shapes(step + 1)))
    self.assertTrue(any(k[0] == 'd_params' for k in ckpt.saved_shapes(step)))
    ckpt.close()

  def test_a_psnr_run_resumed_as_the_gan_stage_starts_a_discriminator_as_a_new_run(self):
    # A changed resume in the same workdir (allowed with a constant critic rate), here with
    # another seed and critic optimizer: the checkpoint holds no discriminator, so it gets
    # the one a new run of the config's seed would: Flax's init from the second half of
    # the seed's key (k_g, k_d = split(key(seed))), with a fresh optimizer state.
    from jaxgan import build, sharding
    wd = os.path.join(self.root, 'psnr_then_gan')
    shutil.copytree(self.psnr, wd)
    c = _tiny(esrgan.get_config('small,offline'), steps=3)
    c.allow_config_change, c.seed = True, 1
    c.d_optimizer = dict(name='rmsprop', learning_rate=1e-4, schedule='constant')
    gan, pipe = build.build(c)
    variables = gan.discriminator.init(jax.random.split(jax.random.key(1))[1],
                                       np.zeros((1, 32, 32, 3), np.float32), train=False)
    self.assertTrue(variables['batch_stats'])
    replicated = sharding.replicated(sharding.make_mesh())
    ckpt = checkpoints.Checkpoints(os.path.join(wd, 'checkpoints'), read_only=True)
    with self.assertLogs(level='WARNING') as logs:
      restored = build.restore_state(ckpt, gan, pipe, replicated, c.seed)
    ckpt.close()
    self.assertIn('holds no discriminator', logs.output[0])
    chex.assert_trees_all_equal((restored.d_params, restored.d_stats),
                                (variables['params'], variables['batch_stats']))
    chex.assert_trees_all_equal(restored.d_opt_state,
                                gan.d_optimizer.init(variables['params']))
    chex.assert_trees_all_equal((restored.step, restored.g_params),
                                (self.psnr_state.step, self.psnr_state.g_params))
    # Training and the read-only tools pass the config's seed.
    with mock.patch.object(build, 'restore_state', wraps=build.restore_state) as spy:
      resumed = train.train_and_evaluate(c, wd)
      self.assertEqual(spy.call_args.args[4], 1)
      inference.restore(wd, with_data=False)
      self.assertEqual(spy.call_args.args[4], 1)
    self.assertEqual(int(resumed.step), 3)
    rows = [json.loads(r) for r in open(os.path.join(wd, 'metrics.jsonl'))]
    self.assertEqual(rows[-1]['step'], 3)
    self.assertTrue(all(('d_loss' in r) == (r['step'] > 2) for r in rows), rows)

  def test_a_gan_stage_resumed_with_n_critic_0_is_refused_its_discriminator_kept(self):
    wd = os.path.join(self.root, 'gan_then_psnr')
    shutil.copytree(self.gan, wd)
    before = sorted(os.listdir(os.path.join(wd, 'checkpoints')))
    c = _tiny(esrgan.get_config('psnr,small'), steps=3)
    c.allow_config_change = True
    with self.assertRaisesRegex(validation.ConfigError,
                                r'n_critic=1, whose checkpoint holds its trained '
                                r'discriminator; n_critic=0 .*init_from'):
      train.train_and_evaluate(c, wd)
    self.assertEqual(sorted(os.listdir(os.path.join(wd, 'checkpoints'))), before)

  def test_the_sample_picture_rows_are_bicubic_generated_and_real_of_one_crop(self):
    from jaxgan import build
    from jaxgan import gan as gan_lib
    gan, pipe, state, config = inference.restore(self.gan)
    inputs = build.eval_inputs(gan, pipe, config.seed, config.num_eval_samples)
    generate = lambda st, *x: gan_lib.generate(gan, st, *x, use_ema=False)
    grids, real_save, writer = [], train.plots.save_image_grid, mock.Mock()
    with mock.patch.object(train.plots, 'save_image_grid', lambda images, *a, **k: (
        grids.append(np.asarray(images)), real_save(images, *a, **k))[1]):
      train._write_pictures(generate, gan, pipe, state, inputs, tempfile.mkdtemp(), 1, writer)
    writer.write_image.assert_called_once()  # the same picture in TensorBoard, on disk
    writer.flush.assert_called_once()  # before a save's checkpoint is final
    bicubic_lr, generated, real = grids[0].reshape(-1, 3, *grids[0].shape[1:]).swapaxes(0, 1)
    lr = np.asarray(inputs[0])
    self.assertEqual(len(real), len(lr))
    # Each row is one crop: its LR is the real HR crop's (away from the 2-pixel border, where
    # the whole image's LR sees beyond the crop), bicubic upscaled in the first column.
    np.testing.assert_allclose(paired.downscale(real, 4)[:, 2:-2, 2:-2], lr[:, 2:-2, 2:-2],
                               atol=1e-6)
    np.testing.assert_allclose(bicubic_lr, np.clip(bicubic.imresize(lr, 4), -1, 1), atol=1e-6)
    np.testing.assert_allclose(generated, np.clip(generate(state, lr, None), -1, 1), atol=1e-5)

  def test_the_sample_picture_shows_at_most_8_fixed_crops(self):
    from jaxgan import build
    gan, pipe, _, config = inference.restore(self.gan)
    lr, _ = build.eval_inputs(gan, pipe, config.seed, 20)
    self.assertEqual(np.shape(lr)[0], 8)
    np.testing.assert_array_equal(lr, pipe.evaluator_args['sample_pairs'](8)[1])

  def test_interpolation_endpoints_are_the_two_models(self):
    psnr_w, _ = inference.generator_weights(self.psnr)
    gan_w, _ = inference.generator_weights(self.gan)
    for alpha, want in ((0.0, psnr_w), (1.0, gan_w)):
      out = os.path.join(self.root, f'interp_{alpha}')
      inference.interpolate(self.psnr, self.gan, alpha, out)
      got, _ = inference.generator_weights(out)
      chex.assert_trees_all_close(got, want, atol=1e-7)
    half = os.path.join(self.root, 'interp_half')
    inference.interpolate(self.psnr, self.gan, 0.25, half)
    got, _ = inference.generator_weights(half)
    chex.assert_trees_all_close(
        got, jax.tree.map(lambda a, b: 0.75 * a + 0.25 * b, psnr_w, gan_w), rtol=1e-6)
    self.assertEqual(json.load(open(os.path.join(half, 'interpolation.json')))['alpha'], 0.25)
    # The command line: --psnr weighs 1 - alpha, --gan alpha.
    cli = os.path.join(self.root, 'interp_cli')
    proc = subprocess.run([sys.executable, '-m', 'launch.interpolate', f'--psnr={self.psnr}',
                           f'--gan={self.gan}', '--alpha=0.25', f'--workdir={cli}'], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=600)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    chex.assert_trees_all_close(inference.generator_weights(cli)[0], got, atol=1e-7)
    with self.assertRaisesRegex(ValueError, 'exists and is not an empty folder'):
      inference.interpolate(self.psnr, self.gan, 0.5, half)
    # Any file in the folder is kept: a run stopped before its first checkpoint too.
    other = os.path.join(self.root, 'other_run')
    os.makedirs(other)
    with open(os.path.join(other, 'config.json'), 'w') as f:
      f.write('{"mine": 1}')
    with self.assertRaisesRegex(ValueError, 'exists and is not an empty folder'):
      inference.interpolate(self.psnr, self.gan, 0.5, other)
    self.assertEqual(os.listdir(other), ['config.json'])
    self.assertEqual(open(os.path.join(other, 'config.json')).read(), '{"mine": 1}')
    with self.assertRaisesRegex(ValueError, r'alpha must lie in \[0, 1\]'):
      inference.interpolate(self.psnr, self.gan, 1.5, os.path.join(self.root, 'bad'))
    # A failure while writing (a full disk) leaves no half-written workdir, nor its
    # temporary folder: the same command can run again.
    failed = os.path.join(self.root, 'failed')
    with mock.patch.object(checkpoints.Checkpoints, 'save', side_effect=OSError(28, 'full')):
      with self.assertRaisesRegex(OSError, 'full'):
        inference.interpolate(self.psnr, self.gan, 0.5, failed)
    self.assertFalse(os.path.exists(failed))
    # An empty folder given (here through a link) stays, empty.
    empty = os.path.join(self.root, 'empty')
    os.makedirs(empty)
    os.symlink(empty, os.path.join(self.root, 'link'))
    with mock.patch.object(checkpoints.Checkpoints, 'save', side_effect=OSError(28, 'full')):
      with self.assertRaisesRegex(OSError, 'full'):
        inference.interpolate(self.psnr, self.gan, 0.5, os.path.join(self.root, 'link'))
    self.assertEqual(os.listdir(empty), [])
    inference.interpolate(self.psnr, self.gan, 0.5, os.path.join(self.root, 'link'))
    self.assertIn('interpolation.json', os.listdir(empty))
    # A file put in the folder while the runs are read: refused, and the file kept.
    late = os.path.join(self.root, 'late')
    real_restore = inference.restore

    def restore_then_someone_writes(*args, **kwargs):
      os.makedirs(late, exist_ok=True)
      open(os.path.join(late, 'mine.txt'), 'w').close()
      return real_restore(*args, **kwargs)
    with mock.patch.object(inference, 'restore', restore_then_someone_writes), \
         self.assertRaisesRegex(ValueError, 'exists and is not an empty folder') as e:
      inference.interpolate(self.psnr, self.gan, 0.5, late)
    self.assertEqual(os.listdir(late), ['mine.txt'])
    self.assertNotIn('cut short', str(e.exception))
    # A process killed while writing (which no cleanup can catch) leaves the folder
    # without interpolation.json, written last; a run again names it, and keeps it.
    cut = os.path.join(self.root, 'cut')
    real_write = inference.files.write_json

    def killed_at_the_last_file(path, *args, **kwargs):
      if path.endswith('interpolation.json'):
        raise SystemExit
      real_write(path, *args, **kwargs)
    with mock.patch.object(inference.files, 'write_json', killed_at_the_last_file), \
        mock.patch('shutil.rmtree'), mock.patch('os.remove'):  # no cleanup, as after a kill
      with self.assertRaises(SystemExit):
        inference.interpolate(self.psnr, self.gan, 0.5, cut)
    kept = sorted(os.listdir(cut))
    self.assertEqual(kept, ['checkpoints', 'config.json', 'data_shapes.json'])
    with self.assertRaisesRegex(ValueError, r'not an empty folder; .* not interpolation\.json, '
                                r'which it writes last: .*cut short .*remove it and run again'):
      inference.interpolate(self.psnr, self.gan, 0.5, cut)
    self.assertEqual(sorted(os.listdir(cut)), kept)
    with self.assertRaisesRegex(ValueError, r'not an empty folder; choose a new workdir '
                                r'\(nothing was written\)\.$'):  # a file: no such advice
      inference.interpolate(self.psnr, self.gan, 0.5, os.path.join(cut, 'config.json'))
    inference.interpolate(self.psnr, self.gan, 0.5, failed)
    self.assertEqual(sorted(os.listdir(failed)), ['checkpoints', 'config.json',
                                                  'data_shapes.json', 'interpolation.json'])

  def test_init_from_another_architecture_is_refused(self):
    c = _tiny(esrgan.get_config('small,offline'))
    c.model.generator.features = 12
    c.init_from = self.psnr
    with self.assertRaisesRegex(ValueError, 'init_from=.*differ in architecture') as e:
      train.train_and_evaluate(c, os.path.join(self.root, 'other'))
    # The message names the first parameters that differ, not both whole trees.
    self.assertIn("(42 vs 42 parameters); ['conv_body']['bias']: (8,) vs (12,); "
                  "['conv_body']['kernel']: (3, 3, 8, 8) vs (3, 3, 12, 12);", str(e.exception))
    self.assertRegex(str(e.exception), r'; and \d+ more\.$')
    self.assertLess(len(str(e.exception)), 600)
    # A config error: the launcher's one-line error, not a traceback.
    from jaxgan import validation
    self.assertIsInstance(e.exception, validation.ConfigError)

  def test_interpolation_mixes_the_trained_weights_and_the_ema_alike(self):
    # The new workdir's EMA is the mixture too, not the GAN run's: a run with an EMA
    # samples it, and a run resumed from the workdir continues it.
    psnr_w, _ = inference.generator_weights(self.psnr)
    _, _, gan_state, _ = inference.restore(self.gan, with_data=False)
    out = os.path.join(self.root, 'interp_ema')
    inference.interpolate(self.psnr, self.gan, 0.25, out)
    _, _, mixed, _ = inference.restore(out, with_data=False)
    mix = lambda b: jax.tree.map(lambda x, y: 0.75 * x + 0.25 * y, psnr_w, b)
    chex.assert_trees_all_close(mixed.g_params, mix(gan_state.g_params), rtol=1e-6, atol=1e-8)
    chex.assert_trees_all_close(mixed.ema_params, mix(gan_state.ema_params), rtol=1e-6,
                                atol=1e-8)

  def test_a_scanned_gan_stage_starts_from_and_mixes_with_an_unrolled_psnr_run(self):
    # The PSNR run is unrolled (rrdb_0); a GAN stage with scan_blocks=True takes its weights
    # stacked, and network interpolation mixes the two in the GAN run's (scanned) layout.
    from jaxgan import build
    psnr_w, _ = inference.generator_weights(self.psnr)
    self.assertIn('rrdb_0', psnr_w)
    c = _tiny(esrgan.get_config('small,offline'))
    c.model.generator.scan_blocks = True
    c.init_from = self.psnr
    gan, pipe = build.build(c)
    fresh = jax.jit(lambda k: build.init_state(gan, pipe, k))(build.init_key(c.seed))
    state = inference.init_generator_from(fresh, gan, self.psnr)
    self.assertNotIn('rrdb_0', state.g_params)
    chex.assert_shape(state.g_params['rrdbs']['rdb1']['conv1']['kernel'], (1, 3, 3, 8, 4))
    chex.assert_trees_all_close(state.g_params, sr.stack_rrdbs(psnr_w))
    scanned = os.path.join(self.root, 'scanned_gan')
    train.train_and_evaluate(c, scanned)
    scanned_w, _ = inference.generator_weights(scanned)
    for alpha, want in ((0.0, sr.stack_rrdbs(psnr_w)), (1.0, scanned_w)):
      out = os.path.join(self.root, f'interp_scanned_{alpha}')
      inference.interpolate(self.psnr, scanned, alpha, out)
      got, _ = inference.generator_weights(out)
      chex.assert_trees_all_close(got, want, atol=1e-7)
    # And back: the unrolled layout from a scanned tree; other trees pass unchanged.
    chex.assert_trees_all_close(sr.in_block_layout_of(scanned_w, psnr_w),
                                sr.unstack_rrdbs(scanned_w))
    self.assertIs(sr.in_block_layout_of(psnr_w, {'conv_first': 1}), psnr_w)

  def test_a_held_out_image_too_small_to_score_is_an_evaluation_error(self):
    # A lazily read set (TFDS) is checked only when evaluated: one clear error, before
    # any image is upscaled, not a traceback from SSIM.
    import types
    hr = np.zeros((20, 40, 3), np.float32)  # the least that is scored at x4
    small = np.zeros((16, 40, 3), np.float32)
    pairs = [(paired.downscale(hr, 4), hr), (paired.downscale(small, 4), small)]
    run = types.SimpleNamespace(
        pipe=types.SimpleNamespace(evaluator_args={'scale': 4, 'eval_pairs': lambda: pairs}),
        upscale_whole=mock.Mock(side_effect=AssertionError('upscaled')))
    with self.assertRaisesRegex(evaluate.EvaluationError,
                                r'^Held-out image 1 is 16x40 \(cut to a multiple of 4\): too '
                                r'small to score at x4, .* need 20 on a side'), \
        self.assertLogs('absl', 'WARNING') as logs:  # and Inception weights go unused, said
      evaluate.sr_evaluation(run, 'w.pth')
    self.assertRegex(logs.output[0], 'Inception weights w.pth not used: this run is scored by '
                     'PSNR and SSIM, no FID')

  def test_evaluation_reports_both_conventions_and_bicubic(self):
    seen = {}
    table = evaluate.sr_table

    def spy(pairs, upscalers, scale):
      seen.update(pairs=pairs, upscalers=upscalers)
      return table(pairs, upscalers, scale)
    with mock.patch.object(evaluate, 'sr_table', spy):
      result = evaluate.evaluate(self.gan)
    self.assertEqual((result['evaluator'], result['scale'], result['num_images']), ('sr', 4, 3))
    self.assertEqual(list(result)[-2:], ['bicubic', 'model'])  # the baseline first
    # SR draws no samples: no sample count or noise seed in its record.
    self.assertNotIn('num_samples', result)
    self.assertNotIn('seed', result)
    # Each row is the mean over the held-out photos of scikit-image's PSNR and SSIM of the
    # 8-bit images (Y of BT.601, or RGB; a border of 4 cropped): the bicubic row of MATLAB
    # bicubic upscaling, the model row of the run's generator.
    pairs = seen['pairs']
    self.assertLen(pairs, 3)
    eight_bit = lambda x: np.round(255 * np.clip((np.asarray(x) + 1) / 2, 0, 1))[4:-4, 4:-4]
    bicubic_sr = lambda lr: np.clip(bicubic.imresize(lr, 4), -1.0, 1.0)
    for row, upscale in (('bicubic', bicubic_sr), ('model', seen['upscalers']['model'])):
      for convention in ('y', 'rgb'):
        psnrs, ssims = [], []
        for lr, hr in pairs:
          a, b = eight_bit(upscale(lr)), eight_bit(hr)
          if convention == 'y':
            a, b = rgb2ycbcr(a.astype(np.uint8))[..., 0], rgb2ycbcr(b.astype(np.uint8))[..., 0]
          psnrs.append(peak_signal_noise_ratio(b, a, data_range=255))
          ssims.append(structural_similarity(
              b, a, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
              data_range=255, channel_axis=-1 if convention == 'rgb' else None))
        got = result[row][convention]
        self.assertEqual(got['convention'], 'Y channel (BT.601), border 4' if convention == 'y'
                         else 'RGB, border 4')
        self.assertAlmostEqual(got['psnr'], np.mean(psnrs), delta=1e-3, msg=(row, convention))
        self.assertAlmostEqual(got['ssim'], np.mean(ssims), delta=1e-4, msg=(row, convention))

  def test_sampling_from_noise_is_refused_with_the_upscale_command(self):
    gan, _, state, _ = inference.restore(self.gan, with_data=False)
    with self.assertRaisesRegex(ValueError, 'super-resolution model.*launch.upscale'):
      inference.sample(gan, state, 4, use_ema=False)

  def test_upscale_command(self):
    d = tempfile.mkdtemp()
    pixels = np.random.default_rng(0).integers(0, 256, (20, 60, 3)).astype(np.uint8)
    from PIL import ImageCms
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile('sRGB')).tobytes()
    Image.fromarray(pixels).save(os.path.join(d, 'in.jpg'), icc_profile=profile)
    run = lambda *a: subprocess.run([sys.executable, '-m', 'launch.upscale', *a], cwd=ROOT,
                                    env=ENV, capture_output=True, text=True, timeout=300)
    margin = sr.receptive_radius(inference.restore(self.gan, with_data=False)[0].generator)
    proc = run(f'--workdir={self.gan}', f'--input={d}/in.jpg', f'--output={d}/out.PNG',
               '--tile=8', f'--margin={margin}')  # a suffix in any case
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertEqual(np.asarray(Image.open(f'{d}/out.PNG')).shape, (80, 240, 3))
    # Tagged with the input's colour profile (untagged, a viewer would read it as sRGB).
    self.assertEqual(Image.open(f'{d}/out.PNG').info.get('icc_profile'), profile)
    self.assertIn(f'8 tiles of 8 px, margin {margin}', proc.stdout)  # 60 > 8 + 2 margin
    # Upscaling needs the checkpoints, not the training data: a copy of the workdir whose
    # config names a folder that does not exist still upscales, with the default margin
    # (the receptive-field radius) and tile (128), whole: the same image as the tiles.
    moved = os.path.join(d, 'moved')
    shutil.copytree(self.gan, moved)
    config = json.load(open(os.path.join(moved, 'config.json')))
    config['data'].update(name='folder', path=os.path.join(d, 'gone'))
    json.dump(config, open(os.path.join(moved, 'config.json'), 'w'))
    proc = run(f'--workdir={moved}', f'--input={d}/in.jpg', f'--output={d}/out2.png')
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertIn(f'1 tile of 128 px, margin {margin}', proc.stdout)
    np.testing.assert_allclose(np.asarray(Image.open(f'{d}/out2.png'), np.float32),
                               np.asarray(Image.open(f'{d}/out.PNG'), np.float32), atol=1)
    with open(f'{d}/text.png', 'w') as f:
      f.write('not an image')
    # 16,376 px x 4 = 65,504: a JPEG side over 65,500, refused before the work.
    Image.fromarray(np.zeros((1, 16376, 3), np.uint8)).save(f'{d}/wide.png')
    toy = os.path.join(d, 'toy')
    from configs import toy2d
    c = toy2d.get_config()
    c.num_steps, c.steps_per_call = 5, 5
    train.train_and_evaluate(c, toy)
    for args, message in (([f'--input={d}/missing.png'], 'No such image file'),
                          ([f'--input={d}/text.png'], 'is not an image'),
                          ([f'--input={d}/in.jpg', f'--workdir={toy}'],
                           'not a super-resolution one'),
                          ([f'--input={d}/out.PNG', f'--output={d}/out.PNG'],
                           'is the input image'),
                          ([f'--input={d}/in.jpg', f'--output={d}'], 'is a folder'),
                          ([f'--input={d}/in.jpg', f'--output={d}/.png'],
                           'needs a file name before its suffix'),
                          ([f'--input={d}/wide.png', f'--output={d}/wide.jpg'],
                           'would be 65504x4 pixels; a JPEG side is at most 65500')):
      flags = {a.split('=')[0]: a for a in [f'--workdir={self.gan}', f'--output={d}/o.png',
                                             *args]}
      proc = run(*flags.values())
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertIn(message, proc.stderr.strip().splitlines()[-1])
      self.assertNotIn('Traceback', proc.stderr)  # the launcher's line, before the work

  def test_a_jpeg_too_wide_is_refused_before_the_image_is_upscaled(self):
    # 16,376 px x 4 = 65,504: the output's size is checked from the input and the scale,
    # before the work (the upscaling, stood in for by one that fails), not when writing.
    d = tempfile.mkdtemp()
    Image.fromarray(np.zeros((1, 16376, 3), np.uint8)).save(os.path.join(d, 'wide.png'))
    proc = _upscale_patched(('from jaxgan import upscale\n'
                             'def began(*args, **kwargs):\n'
                             "  raise AssertionError('the work began')\n"
                             'upscale.upscale = began\n'),
                            f'--workdir={self.gan}', f'--input={d}/wide.png',
                            f'--output={d}/wide.jpg')
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertEqual(proc.stderr.strip().splitlines()[-1],
                     f'Error: The output would be 65504x4 pixels; a JPEG side is at most 65500: '
                     f'write a .png ({d}/wide.jpg).')
    self.assertEqual(os.listdir(d), ['wide.png'])

  def test_a_non_finite_upscaled_image_is_one_line_and_not_written(self):
    # A diverged generator (stood in for by one whose every pixel is NaN, 32 x 32 x 3 of
    # them at scale 4): write_image refuses the image, and the launcher ends in that line,
    # not in a ValueError traceback.
    d = tempfile.mkdtemp()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(d, 'in.png'))
    proc = _upscale_patched(
        ('import numpy as np\n'
         'from jaxgan import evaluate\n'
         'real = evaluate.EvalRun.generate.func\n'
         'evaluate.EvalRun.generate = property(\n'
         '    lambda self: lambda lr: np.full_like(np.asarray(real(self)(lr)), np.nan))\n'),
        f'--workdir={self.gan}', f'--input={d}/in.png', f'--output={d}/out.png')
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertRegex(proc.stderr.strip().splitlines()[-1],
                     r'^Error: the image for .*out\.png: 3072 non-finite values \(NaN or Inf\), '
                     r'from the generator')
    self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual(os.listdir(d), ['in.png'])


class UpscaleEmaTest(chex.TestCase):

  def test_a_run_with_an_ema_is_upscaled_with_its_ema_weights(self):
    # As launch.sample and the evaluation sample a run with an EMA (ema_decay > 0): with
    # its averaged weights, here far from the trained ones (a large rate, a short average).
    c = _tiny(esrgan.get_config('psnr,small'), steps=3)
    c.ema_decay, c.g_optimizer.learning_rate = 0.5, 0.05
    wd = tempfile.mkdtemp()
    with self.assertLogs('absl', 'INFO') as logs:
      state = train.train_and_evaluate(c, wd)
    d = tempfile.mkdtemp()
    pixels = np.random.default_rng(0).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(os.path.join(d, 'in.png'))
    # The command the run's last log line gives, run as given.
    command = logs.records[-1].getMessage().split('; upscale an image with ')[1]
    self.assertEqual(command, f'python -m launch.upscale --workdir={wd} --input=IMAGE '
                     '--output=OUTPUT.png')
    command = command.replace('IMAGE', f'{d}/in.png').replace('OUTPUT.png', f'{d}/out.png')
    proc = subprocess.run([sys.executable, *command.split()[1:]], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    got = np.asarray(Image.open(f'{d}/out.png'), np.float32)
    generator = inference.restore(wd, with_data=False)[0].generator
    lr = pixels[None].astype(np.float32) / 127.5 - 1
    made = {name: (np.clip(np.asarray(generator.apply({'params': params}, lr, train=False))[0],
                           -1, 1) + 1) * 127.5
            for name, params in (('ema', state.ema_params), ('trained', state.g_params))}
    self.assertGreater(np.abs(made['ema'] - made['trained']).max(), 4)
    np.testing.assert_allclose(got, made['ema'], atol=1.01)
    # --step reads a kept checkpoint: this run keeps its last, step 3, alone.
    proc = subprocess.run([sys.executable, *command.split()[1:], '--step=2'], cwd=ROOT,
                          env=ENV, capture_output=True, text=True, timeout=300)
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertEqual(proc.stderr.strip().splitlines()[-1],
                     f'Error: No checkpoint of step 2 in {wd}/checkpoints; the steps kept are: '
                     '3 (a run keeps its last keep_checkpoints).')


class FolderSplitTest(chex.TestCase):

  def test_a_folder_whose_held_out_files_moved_is_refused_on_resume_and_evaluation(self):
    # Every tenth file by name (the last of fewer than ten) is held out: a file added
    # shifts that split, so a resumed run would train on its held-out image and score one
    # it trained on. The run records its held-out files; both are refused, nothing written.
    root = tempfile.mkdtemp()
    folder, wd = os.path.join(root, 'photos'), os.path.join(root, 'run')
    os.mkdir(folder)
    rng = np.random.default_rng(0)
    for name in ('a.png', 'b.png', 'c.png', 'd.png'):
      Image.fromarray(rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)).save(
          os.path.join(folder, name))
    c = _tiny(srgan.get_config('psnr,small'), steps=1)
    c.data.name = f"folder(path='{folder}')"
    train.train_and_evaluate(c, wd)
    self.assertEqual(json.load(open(os.path.join(wd, 'data_shapes.json')))['held_out_files'],
                     ['d.png'])
    Image.fromarray(rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)).save(
        os.path.join(folder, 'e.png'))
    before = sorted(os.listdir(wd))
    c.num_steps = 2
    advice = ' (or pass --config.allow_config_change=True to go on training on the new split).'
    for call, advised in ((lambda: train.train_and_evaluate(c, wd), True),
                          (lambda: evaluate.evaluate(wd, num_samples=2), False)):
      with self.assertRaisesRegex(validation.DataError,
                                  r'held out d\.png \(every tenth file by name\); the folder '
                                  r'now holds out e\.png') as e:
        call()
      # Training can go on anyway when asked (below); an evaluation trains nothing.
      self.assertEqual(str(e.exception).endswith(advice), advised, str(e.exception))
    self.assertEqual(sorted(os.listdir(wd)), before)
    self.assertEqual(checkpoints.Checkpoints(os.path.join(wd, 'checkpoints'),
                                             read_only=True).all_steps(), [1])
    # A network interpolation of the run keeps its record (it is built from shapes alone).
    interp = os.path.join(root, 'interp')
    inference.interpolate(wd, wd, 0.5, interp)
    with self.assertRaisesRegex(validation.DataError, r'held out d\.png .* now holds out e\.png'):
      evaluate.evaluate(interp, num_samples=2)
    os.remove(os.path.join(folder, 'e.png'))  # the folder as it was: evaluated
    for run in (wd, interp):
      self.assertEqual(evaluate.evaluate(run, num_samples=2)['num_images'], 1)
    # allow_config_change trains on the new split, with a warning, and records it.
    Image.fromarray(rng.integers(0, 256, (40, 40, 3)).astype(np.uint8)).save(
        os.path.join(folder, 'e.png'))
    c.allow_config_change = True
    with self.assertLogs('absl', level='WARNING') as logs:
      train.train_and_evaluate(c, wd)
    self.assertRegex('\n'.join(logs.output), r'now holds out e\.png.* Training goes on with '
                     r'the new split \(allow_config_change\): later evaluations score images '
                     'that steps before 1 trained on')
    self.assertEqual(json.load(open(os.path.join(wd, 'data_shapes.json')))['held_out_files'],
                     ['e.png'])


class LegacyCheckpointTest(chex.TestCase):
  """A PSNR-stage workdir as jaxgan 215c9a9 wrote it (``tests/data/legacy_psnr_run``, made
  by ``make_legacy_psnr_run.py``): its checkpoint holds the untrained discriminator and its
  Adam moments that today's PSNR stage keeps no more."""

  def setUp(self):
    super().setUp()
    self.wd = os.path.join(tempfile.mkdtemp(), 'old')
    shutil.copytree(os.path.join(ROOT, 'tests', 'data', 'legacy_psnr_run'), self.wd)
    # The arrays as saved, read by orbax with no target (no jaxgan code involved).
    import orbax.checkpoint as ocp
    checkpointer = ocp.StandardCheckpointer()
    self.saved = checkpointer.restore(os.path.join(self.wd, 'checkpoints', '2', 'default'))
    checkpointer.close()

  def test_the_fixture_holds_a_discriminator(self):
    self.assertEqual(int(self.saved['step']), 2)
    self.assertGreater(len(jax.tree.leaves(self.saved['d_params'])), 4)
    self.assertTrue(jax.tree.leaves(self.saved['d_stats']))  # SRGAN's critic has BatchNorm
    self.assertTrue(jax.tree.leaves(self.saved['g_stats']))  # and SRResNet

  def test_it_restores_samples_resumes_and_seeds_a_gan_stage_with_todays_code(self):
    _, _, state, _ = inference.restore(self.wd, with_data=False)
    self.assertEqual((int(state.step), state.d_params, state.d_stats), (2, {}, {}))
    chex.assert_trees_all_equal(
        jax.device_get((state.g_params, state.g_stats, state.g_opt_state, state.ema_params)),
        (self.saved['g_params'], self.saved['g_stats'],
         jax.tree.unflatten(jax.tree.structure(state.g_opt_state),
                            jax.tree.leaves(self.saved['g_opt_state'])),
         self.saved['ema_params']))
    params, stats = inference.generator_weights(self.wd)
    chex.assert_trees_all_equal(jax.tree.structure(params),
                                jax.tree.structure(self.saved['g_params']))
    c = _tiny(srgan.get_config('small,offline'), steps=1)
    c.init_from = self.wd
    seeded = train.train_and_evaluate(c, os.path.join(os.path.dirname(self.wd), 'gan'))
    self.assertEqual(int(seeded.step), 1)
    self.assertTrue(jax.tree.leaves(seeded.d_params))
    c = _tiny(srgan.get_config('psnr,small'), steps=3)
    resumed = train.train_and_evaluate(c, self.wd)
    self.assertEqual((int(resumed.step), resumed.d_params), (3, {}))
    ckpt = checkpoints.Checkpoints(os.path.join(self.wd, 'checkpoints'), read_only=True)
    self.assertEqual(ckpt.all_steps(), [2, 3])
    self.assertFalse(any(k[0] == 'd_params' for k in ckpt.saved_shapes(3)))
    ckpt.close()


class PerceptualStepTest(chex.TestCase):

  def test_srgan_with_vgg54_trains_on_random_vgg_weights(self):
    """The perceptual term end to end: VGG19 weights from the stored layout (random, no
    download), passed to the step as frozen variables."""
    layout = json.load(open(os.path.join(ROOT, 'tests', 'data', 'vgg19_layout.json')))
    path = os.path.join(tempfile.mkdtemp(), 'vgg19.npz')
    np.savez(path, **torch_weights.random_state_dict(layout, seed=0))
    c = _tiny(srgan.get_config('small'), steps=1)
    c.content.vgg_weights = path
    wd = tempfile.mkdtemp()
    state = train.train_and_evaluate(c, wd)
    row = json.loads(open(os.path.join(wd, 'metrics.jsonl')).readlines()[-1])
    self.assertGreater(row['perceptual_loss'], 0.0)
    chex.assert_tree_all_finite(state)
    c.content.vgg_weights = os.path.join(tempfile.mkdtemp(), 'missing.pth')
    fresh = tempfile.mkdtemp()
    with self.assertRaisesRegex(FileNotFoundError, 'vgg19-dcbb9e9d.pth'):
      train.train_and_evaluate(c, fresh)
    # Found missing before anything is written (config.json, checkpoints/) or initialized.
    # (nor the lock, which goes again with the empty checkpoint folder).
    self.assertEqual(os.listdir(fresh), [])


class InterpolationFolderTest(chex.TestCase):

  def test_only_a_folder_without_the_last_file_is_called_an_interpolation_cut_short(self):
    # A finished interpolation (interpolation.json, written last, is there) is refused
    # without the cut-short advice; the same files less interpolation.json get it.
    for names, cut_short in ((('checkpoints', 'config.json', 'data_shapes.json',
                               'interpolation.json'), False),
                             (('checkpoints', 'config.json'), True)):
      d = tempfile.mkdtemp()
      for name in names:
        open(os.path.join(d, name), 'w').close()
      with self.assertRaisesRegex(ValueError, 'exists and is not an empty folder') as e:
        inference._check_empty_or_new(d)
      self.assertEqual('cut short' in str(e.exception), cut_short, names)


if __name__ == '__main__':
  absltest.main()
