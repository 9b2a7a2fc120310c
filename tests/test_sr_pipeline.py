"""Super-resolution plumbing: content losses, paired data, tiled upscaling, two-stage
training and network interpolation (with small stand-in generators)."""

import itertools
import math
import os
import re
import tempfile
import types
from unittest import mock

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from jax import test_util as jtu
from PIL import Image

from jaxgan import content, data, upscale, validation
from jaxgan.data import bicubic, images, paired


def _images(seed: int, shape: tuple[int, ...]) -> np.ndarray:
  return np.random.default_rng(seed).uniform(-1, 1, shape).astype(np.float32)


class PixelLossTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_values_and_gradients_match_numpy(self):
    sr, hr = _images(0, (2, 8, 8, 3)), _images(1, (2, 8, 8, 3))
    d, n = sr.astype(np.float64) - hr, sr.size
    for criterion, value, grad in (('l1', np.abs(d).mean(), np.sign(d) / n),
                                   ('mse', (d ** 2).mean(), 2 * d / n)):
      fn = self.variant(jax.value_and_grad(lambda a, b, c=criterion: content.pixel_loss(a, b, c)))
      got, got_grad = fn(sr, hr)
      np.testing.assert_allclose(got, value, rtol=1e-5, err_msg=criterion)
      np.testing.assert_allclose(got_grad, grad, rtol=1e-5, atol=1e-9, err_msg=criterion)

  def test_the_default_is_l1_and_bfloat16_images_are_compared_in_float32(self):
    sr, hr = _images(0, (2, 8, 8, 3)), _images(1, (2, 8, 8, 3))
    np.testing.assert_allclose(content.pixel_loss(sr, hr),
                               np.abs(sr.astype(np.float64) - hr).mean(), rtol=1e-5)
    a, b = jnp.asarray(sr, jnp.bfloat16), jnp.asarray(hr, jnp.bfloat16)
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)  # the bf16 values, exactly
    for criterion, want in (('l1', np.abs(d).mean()), ('mse', (d ** 2).mean())):
      got = content.pixel_loss(a, b, criterion)
      self.assertEqual(got.dtype, jnp.float32)
      np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=criterion)

  def test_check_grads(self):
    sr, hr = _images(2, (1, 4, 4, 3)), _images(3, (1, 4, 4, 3))  # |sr - hr| > 0: no kink
    for criterion in ('l1', 'mse'):
      jtu.check_grads(lambda a, c=criterion: content.pixel_loss(a, hr, c), (sr,), order=2,
                      modes=['rev'], eps=1e-3)

  def test_bad_input(self):
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    with self.assertRaisesRegex(ValueError, r'sr \(1, 4, 4, 3\) and hr \(1, 8, 8, 3\)'):
      content.pixel_loss(sr, _images(6, (1, 8, 8, 3)))
    with self.assertRaisesRegex(ValueError, r'sr \(1, 4, 4, 3\) and hr \(2, 4, 4, 3\)'):
      content.pixel_loss(sr, _images(7, (2, 4, 4, 3)))  # would broadcast
    with self.assertRaisesRegex(ValueError, "criterion must be one of l1, mse; got 'l2'"):
      content.pixel_loss(sr, hr, 'l2')


# A stand-in feature network: 'a' = v x, 'b' = x^2; the loss compares only its `layer`.
FEATURES = lambda v, x: {'a': v * x, 'b': x ** 2}


class PerceptualLossTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_values_and_gradient_match_numpy(self):
    sr, hr = _images(2, (2, 4, 4, 3)), _images(3, (2, 4, 4, 3))
    fn = self.variant(jax.value_and_grad(
        lambda a, b: content.perceptual_loss(FEATURES, 2.0, a, b, 'b', 'mse', scale=0.5)))
    got, grad = fn(sr, hr)
    s, h = sr.astype(np.float64), hr.astype(np.float64)
    diff = 0.5 * s ** 2 - 0.5 * h ** 2
    np.testing.assert_allclose(got, (diff ** 2).mean(), rtol=1e-5)
    # d/ds mean((0.5 s^2 - 0.5 h^2)^2) = 2 (0.5 s^2 - 0.5 h^2) * s / N
    np.testing.assert_allclose(grad, 2 * diff * s / s.size, rtol=1e-5, atol=1e-9)
    l1 = self.variant(lambda a, b: content.perceptual_loss(FEATURES, 2.0, a, b, 'a'))(sr, hr)
    np.testing.assert_allclose(l1, np.abs(2 * s - 2 * h).mean(), rtol=1e-5)

  def test_the_target_carries_no_gradient_and_check_grads(self):
    sr, hr = jnp.asarray(_images(2, (2, 4, 4, 3))), jnp.asarray(_images(3, (2, 4, 4, 3)))
    g_hr = jax.grad(lambda h: content.perceptual_loss(FEATURES, 2.0, sr, h, 'a'))(hr)
    np.testing.assert_array_equal(g_hr, 0.0)
    jtu.check_grads(lambda a: content.perceptual_loss(FEATURES, 2.0, a, hr, 'b', 'mse', 0.5),
                    (sr,), order=2, modes=['rev'], eps=1e-3)

  def test_images_of_other_shapes_are_refused(self):
    sr = _images(2, (1, 4, 4, 3))
    with self.assertRaisesRegex(ValueError, r'sr \(1, 4, 4, 3\) and hr \(2, 4, 4, 3\)'):
      content.perceptual_loss(FEATURES, 2.0, sr, _images(3, (2, 4, 4, 3)), 'a')  # would broadcast

  def test_an_unknown_layer_lists_the_networks_layers(self):
    sr, hr = _images(2, (1, 4, 4, 3)), _images(3, (1, 4, 4, 3))
    with self.assertRaisesRegex(ValueError, "No feature layer 'conv5_4': the network gives a, b."):
      content.perceptual_loss(FEATURES, 2.0, sr, hr, 'conv5_4')


class ContentLossTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_weights_combine(self):
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    total, parts = self.variant(lambda a, b: content.make(pixel='mse', pixel_weight=0.25)(
        a, b, {}))(sr, hr)
    d = sr.astype(np.float64) - hr
    np.testing.assert_allclose(total, 0.25 * (d ** 2).mean(), rtol=1e-5)
    self.assertEqual(list(parts), ['pixel_loss'])
    fn = content.make(FEATURES, pixel='l1', pixel_weight=0.5, perceptual_weight=2.0,
                      perceptual_layer='a', perceptual_criterion='mse', perceptual_scale=3.0)
    total, parts = self.variant(lambda a, b: fn(a, b, {'vgg': 1.5}))(sr, hr)
    perceptual = ((3.0 * 1.5 * d) ** 2).mean()
    np.testing.assert_allclose(parts['perceptual_loss'], perceptual, rtol=1e-5)
    np.testing.assert_allclose(parts['pixel_loss'], np.abs(d).mean(), rtol=1e-5)
    np.testing.assert_allclose(total, 0.5 * np.abs(d).mean() + 2.0 * perceptual, rtol=1e-5)

  def test_no_weights_give_a_float32_zero_and_negative_weights_are_refused(self):
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    total, parts = content.make()(sr, hr, {})
    self.assertEqual((total.dtype, float(total), parts), (jnp.float32, 0.0, {}))
    features = lambda v, x: {'conv5_4': v * x}
    for name, bad in itertools.product(('pixel_weight', 'perceptual_weight'),
                                       (-0.5, math.nan, math.inf)):
      message = rf'{name} must be a finite number >= 0 .*got {bad!r}\.$'
      with self.assertRaisesRegex(ValueError, message):  # when bound, before training
        content.make(features, **{name: bad})
      with self.assertRaisesRegex(ValueError, message):  # and called directly
        content.content_loss(sr, hr, {'vgg': 3.0}, features_fn=features, **{name: bad})

  def test_perceptual_defaults_are_esrgans(self):
    """Unset, the perceptual term is ESRGAN's: L1 of conv5_4 features, unscaled."""
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    features = lambda v, x: {'conv5_4': v * x, 'relu5_4': jnp.maximum(v * x, 0)}
    total, parts = content.make(features, perceptual_weight=1.0)(sr, hr, {'vgg': 3.0})
    self.assertEqual(list(parts), ['perceptual_loss'])
    want = np.abs(3.0 * (sr.astype(np.float64) - hr)).mean()
    np.testing.assert_allclose(parts['perceptual_loss'], want, rtol=1e-5)
    np.testing.assert_allclose(total, want, rtol=1e-5)

  def test_a_perceptual_weight_needs_a_feature_network(self):
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    with self.assertRaisesRegex(ValueError, 'needs features_fn .* got None with '
                                'perceptual_weight=0.5'):
      content.make(perceptual_weight=0.5)(sr, hr, {'vgg': 3.0})
    total, _ = content.make(pixel_weight=1.0)(sr, hr, {})  # a pixel loss alone needs none
    np.testing.assert_allclose(total, np.abs(sr.astype(np.float64) - hr).mean(), rtol=1e-5)

  def test_a_perceptual_weight_needs_the_vgg_variables_in_frozen(self):
    sr, hr = _images(4, (1, 4, 4, 3)), _images(5, (1, 4, 4, 3))
    fn = content.make(lambda v, x: {'conv5_4': v * x}, perceptual_weight=1.0)
    with self.assertRaisesRegex(ValueError, r"frozen\['vgg'\] .* got frozen=dict with keys "
                                r"\['d'\]\."):
      fn(sr, hr, {'d': 3.0})
    with self.assertRaisesRegex(ValueError, r"frozen\['vgg'\] .* got frozen=NoneType\.$"):
      fn(sr, hr, None)


class PairedDataTest(chex.TestCase):

  def test_downscale_is_matlab_bicubic_quantized_to_8_bits(self):
    crops = _images(7, (3, 8, 8, 3))
    want = np.round((np.clip(bicubic.imresize(crops, 0.25), -1, 1) + 1) * 127.5) / 127.5 - 1
    np.testing.assert_allclose(paired.downscale(crops, 4), want, atol=1e-6)

  def test_every_crop_position_on_the_lr_grid_is_drawn_and_a_crop_sized_image_is_whole(self):
    # Rows of value 20 * row: a crop's smallest value is its top row, under any flip or
    # rotation. A 12 x 8 image has two 8-pixel crops on the x4 grid, at rows 0 and 4.
    image = np.repeat(20 * np.arange(12, dtype=np.uint8)[:, None, None], 8, 1).repeat(3, 2)
    tops = set()
    for seed in range(64):
      hr, lr = paired.random_pair(image, 8, 4, np.random.default_rng(seed))
      chex.assert_shape((hr, lr), ((8, 8, 3), (2, 2, 3)))
      tops.add(int(round((hr.min() + 1) * 127.5)) // 20)
    self.assertEqual(tops, {0, 4})
    # An image exactly the crop's size is the crop, every pixel of it.
    square = np.random.default_rng(3).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    hr, _ = paired.random_pair(square, 8, 4, np.random.default_rng(0))
    np.testing.assert_allclose(np.sort(hr, axis=None),
                               np.sort(square.astype(np.float32) / 127.5 - 1, axis=None),
                               atol=1e-6)

  def test_lr_crops_are_windows_of_the_whole_images_lr(self):
    # Training pairs as evaluation (and BasicSR) make them: the LR crop is the matching
    # window of the whole image's LR, at its borders too, under the HR crop's flip/rotation.
    source = (np.random.default_rng(8).uniform(0, 255, (42, 53, 3))
              .round().astype(np.uint8))  # 40 x 52 on the x4 grid
    whole = source[:40, :52].astype(np.float32) / 127.5 - 1.0
    whole_lr = np.round((np.clip(bicubic.imresize(whole, 0.25), -1, 1) + 1) * 127.5) / 127.5 - 1
    views = []
    for flip in (False, True):
      for k in range(4):
        hr, lr = np.rot90(whole, k), np.rot90(whole_lr, k)
        views.append((hr[:, ::-1], lr[:, ::-1]) if flip else (hr, lr))
    batch = paired.pipeline_parts(lambda: [source], 1, 16, 4, 1, 0, 24, 0, 1,
                                  data.epoch_indices)(3)
    at_border, used = 0, set()
    for hr, lr in zip(batch['x'][0], batch['lr'][0], strict=True):
      found = [(n, i, j) for n, (v, _) in enumerate(views) for i in range(0, v.shape[0] - 15, 4)
               for j in range(0, v.shape[1] - 15, 4) if np.array_equal(hr, v[i:i + 16, j:j + 16])]
      self.assertLen(found, 1)
      n, i, j = found[0]
      v, v_lr = views[n]
      used.add(n)
      np.testing.assert_allclose(lr, v_lr[i // 4:i // 4 + 4, j // 4:j // 4 + 4], atol=1e-6)
      at_border += i in (0, v.shape[0] - 16) or j in (0, v.shape[1] - 16)
    self.assertGreater(at_border, 5)  # the reflected context is exercised
    self.assertGreater(len(used), 4)  # the 8 flips/rotations are drawn

  def test_every_crop_column_on_the_lr_grid_is_drawn(self):
    # Columns of value 12 * column: a crop's smallest value is its left column, under any
    # flip or rotation. An 8 x 20 image has four 8-pixel crops on the x4 grid, at columns
    # 0, 4, 8 and 12 (and one row position).
    image = np.repeat(12 * np.arange(20, dtype=np.uint8)[None, :, None], 8, 0).repeat(3, 2)
    lefts = set()
    for seed in range(64):
      hr, _ = paired.random_pair(image, 8, 4, np.random.default_rng(seed))
      lefts.add(int(round((hr.min() + 1) * 127.5)) // 12)
    self.assertEqual(lefts, {0, 4, 8, 12})

  def test_the_eight_flips_and_rotations_are_drawn_alike_and_move_hr_and_lr_together(self):
    # A crop-sized image is its own crop: each pair is one of the 8 elements of the
    # dihedral group applied to the image and to its MATLAB-bicubic 8-bit LR.
    image = np.random.default_rng(5).integers(0, 256, (8, 8, 3)).astype(np.uint8)
    whole = image.astype(np.float32) / 127.5 - 1.0
    whole_lr = np.round((np.clip(bicubic.imresize(whole, 0.25), -1, 1) + 1) * 127.5) / 127.5 - 1
    views = [(np.rot90(whole, k)[:, ::-1], np.rot90(whole_lr, k)[:, ::-1]) if flip
             else (np.rot90(whole, k), np.rot90(whole_lr, k))
             for flip in (False, True) for k in range(4)]
    counts = np.zeros(8, int)
    for seed in range(400):
      hr, lr = paired.random_pair(image, 8, 4, np.random.default_rng(seed))
      found = [n for n, (v, _) in enumerate(views) if np.allclose(hr, v, atol=1e-6)]
      self.assertLen(found, 1)
      np.testing.assert_allclose(lr, views[found[0]][1], atol=1e-6)
      counts[found[0]] += 1
    # 50 expected each; a binomial(400, 1/8) count is under 30 with probability ~1e-3.
    self.assertGreater(counts.min(), 25, counts)

  def test_quantize_rounds_to_8_bit_levels_and_clips(self):
    x = np.array([-1.5, -1.0, -1.0 + 0.4 / 127.5, -1.0 + 0.6 / 127.5, 0.0, 1.0, 1.2],
                 np.float32)
    np.testing.assert_allclose(paired.quantize(x),
                               np.array([0, 0, 0, 1, 128, 255, 255]) / 127.5 - 1, atol=1e-6)
    # A sharp edge overshoots under bicubic's negative lobes; the LR stays a saved 8-bit
    # image: in [-1, 1], on the 256 levels.
    edge = np.where(np.arange(32) < 14, -1.0, 1.0)[None, :, None].repeat(32, 0).repeat(3, 2)
    self.assertGreater(bicubic.imresize(edge, 0.25).max(), 1.0)
    lr = paired.downscale(edge.astype(np.float32), 4)
    self.assertLessEqual(lr.max(), 1.0)
    self.assertGreaterEqual(lr.min(), -1.0)
    levels = (lr.astype(np.float64) + 1) * 127.5
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)

  def test_a_batch_split_over_hosts_is_the_one_host_batch(self):
    # Each example's crop is keyed by its place in the global batch: two hosts' slices,
    # put together, are the batch one host makes.
    sources = [_images(i, (40, 44, 3)) for i in range(10)]
    make = lambda host, num_hosts: paired.pipeline_parts(
        lambda: sources, len(sources), 16, 4, 2, 3, 8, host, num_hosts, data.epoch_indices)(5)
    whole = make(0, 1)
    halves = [make(host, 2) for host in (0, 1)]
    for key in ('x', 'lr'):
      np.testing.assert_array_equal(
          np.concatenate([h[key] for h in halves], axis=1), whole[key], err_msg=key)

  def test_a_folder_holds_out_every_tenth_image_or_its_last(self):
    images_ = [np.full((1, 1, 3), i, np.uint8) for i in range(25)]
    train, held = paired.split_folder(images_)
    self.assertEqual([int(im[0, 0, 0]) for im in held], [0, 10, 20])
    self.assertEqual([int(im[0, 0, 0]) for im in train],
                     [i for i in range(25) if i % 10])
    train, held = paired.split_folder(images_[:4])
    self.assertEqual(([int(im[0, 0, 0]) for im in train], [int(im[0, 0, 0]) for im in held]),
                     ([0, 1, 2], [3]))

  def test_the_smallest_held_out_image_is_the_smallest_the_metrics_score(self):
    # eval_min_size(scale): the least side whose crop to a multiple of scale, less a
    # border of scale on each edge, SSIM (its 11 px window) takes.
    from jaxgan.metrics import sr as sr_metrics
    # Every side from 1 to two multiples of scale past the least (a shape each multiple:
    # SSIM compiles once per shape); a wrong least is missed from below or from above.
    for scale in (2, 3, 4, 8):
      top = paired.eval_min_size(scale) + 2 * scale
      scored = []
      for size in range(1, top):
        hr = paired.crop_to_multiple(np.zeros((size, size + 7, 3), np.float32), scale)
        try:
          sr_metrics.sr_metrics(hr, hr, crop_border=scale)
          scored.append(size)
        except ValueError:
          pass
      self.assertEqual(paired.eval_min_size(scale), scored[0], scale)
      self.assertEqual(scored, list(range(scored[0], top)), scale)
    self.assertEqual(sorted(paired.held_out_indices(25)), [0, 10, 20])
    self.assertEqual(paired.held_out_indices(4), {3})
    self.assertEqual(paired.held_out_indices(1), {0})
    self.assertEqual(paired.held_out_indices(9), {8})  # under ten: the last
    self.assertEqual(paired.held_out_indices(10), {0})  # ten: every tenth from the first
    # An image of exactly the least side is scored, and so it is not refused.
    for scale in (2, 4):
      need = paired.eval_min_size(scale)
      paired.check_eval_fits([np.zeros((need, need + 5, 3), np.float32)], scale)
      with self.assertRaisesRegex(validation.DataError, rf'at least {need} pixels'):
        paired.check_eval_fits([np.zeros((need - 1, need + 5, 3), np.float32)], scale)

  def test_to_rgb_keeps_the_colour_channels(self):
    rgba = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(paired.to_rgb(rgba), rgba[..., :3])
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(paired.to_rgb(gray), np.stack([gray] * 3, -1))
    np.testing.assert_array_equal(paired.to_rgb(gray[..., None]), np.stack([gray] * 3, -1))

  def test_photos_pipeline(self):
    p = data.get('photos', batch_size=4, n_critic=2, crop_size=32, scale=4)
    b = p.batch(3)
    chex.assert_shape(b['x'], (2, 4, 32, 32, 3))
    chex.assert_shape(b['lr'], (2, 4, 8, 8, 3))
    # Away from its 2-pixel border (the kernel's reach) the LR is that of the crop itself.
    np.testing.assert_allclose(b['lr'][1][:, 2:-2, 2:-2],
                               paired.downscale(b['x'][1], 4)[:, 2:-2, 2:-2], atol=1e-6)
    np.testing.assert_array_equal(p.batch(3)['x'], b['x'])  # stateless
    self.assertEqual((p.evaluator, p.lowres_shape, p.num_examples),
                     ('sr', (8, 8, 3), len(paired.TRAIN_PHOTOS)))
    pairs = p.evaluator_args['eval_pairs']()
    self.assertLen(pairs, len(paired.HELD_OUT_PHOTOS))
    for lr, hr in pairs:
      self.assertEqual((lr.shape[0] * 4, lr.shape[1] * 4), hr.shape[:2])
    self.assertTrue(set(paired.TRAIN_PHOTOS).isdisjoint(paired.HELD_OUT_PHOTOS))
    real = p.real_samples(5)
    chex.assert_shape(real, (5, 32, 32, 3))
    again = data.get('photos', batch_size=4, n_critic=2, crop_size=32, scale=4)
    np.testing.assert_array_equal(again.real_samples(5), real)  # a fixed set
    self.assertFalse(real.flags.writeable)  # shared by every caller: read-only
    with self.assertRaisesRegex(ValueError, 'crop_size 30 must be a multiple of data.scale 4'):
      data.get('photos', batch_size=4, crop_size=30)

  def test_a_host_reads_only_its_share_of_the_batch(self):
    # Two hosts of a batch of 8: each host touches 4 images per critic step, not the global 8
    # (a lazily read TFDS set decodes what is touched).
    sources = [_images(i, (40, 40, 3)) for i in range(10)]

    class Counting(list):
      reads = 0

      def __getitem__(self, i):
        Counting.reads += 1
        return list.__getitem__(self, i)
    for host, num_hosts in ((0, 1), (0, 2), (1, 2)):
      Counting.reads = 0
      batch = paired.pipeline_parts(lambda: Counting(sources), len(sources), 16, 4, 2, 3, 8,
                                    host, num_hosts, data.epoch_indices)
      chex.assert_shape(batch(5)['x'], (2, 8 // num_hosts, 16, 16, 3))
      self.assertEqual(Counting.reads, 2 * 8 // num_hosts)

  def test_the_sample_grid_inputs_are_the_same_on_every_host(self):
    # The LR inputs of the pictures go into one replicated program: every host must pass the
    # same (the held-out crops, bicubic-downscaled), not its own slice of a training batch.
    from jaxgan import build
    from jaxgan import gan as gan_lib
    gan = types.SimpleNamespace(latent=gan_lib.Latent(conditioning='lowres'))  # all it reads
    lrs = []
    for host in (0, 1):
      with (mock.patch.object(jax, 'process_index', return_value=host),
            mock.patch.object(jax, 'process_count', return_value=2)):
        pipe = data.get('photos', batch_size=4, crop_size=32, scale=4)
        lrs.append(np.asarray(build.eval_inputs(gan, pipe, 0, 16)[0]))
    chex.assert_shape(lrs[0], (8, 8, 8, 3))
    np.testing.assert_array_equal(lrs[0], lrs[1])
    # Away from its 2-pixel border (the kernel's reach) each LR is that of its HR crop.
    np.testing.assert_allclose(lrs[0][:, 2:-2, 2:-2],
                               paired.downscale(pipe.real_samples(8), 4)[:, 2:-2, 2:-2],
                               atol=1e-6)

  def test_shapes_only_pipeline(self):
    p = data.sr_shapes('div2k', crop_size=64, scale=4, tfds_name='unused', batch_size=8)
    self.assertEqual((p.element_shape, p.lowres_shape, p.evaluator_args['scale']),
                     ((64, 64, 3), (16, 16, 3), 4))
    with self.assertRaisesRegex(RuntimeError, 'shapes only'):
      p.batch(0)
    with self.assertRaisesRegex(ValueError, 'crop_size 30 must be a multiple of data.scale 4'):
      data.sr_shapes('photos', crop_size=30)

  def test_shapes_only_pipeline_reads_sizes_written_in_the_name(self):
    # A run configured with data.name = 'photos(crop_size=32, scale=2)' is rebuilt without
    # its data from its config; its sizes were read as the defaults 96 and 4.
    for config_data in ({'name': 'photos(crop_size=32, scale=2)', 'batch_size': 4},
                        {'name': 'photos(scale=2)', 'crop_size': 32, 'batch_size': 4}):
      p = data.sr_shapes(**config_data)
      self.assertEqual((p.name, p.element_shape, p.lowres_shape, p.evaluator_args['scale']),
                       ('photos', (32, 32, 3), (16, 16, 3), 2))

  def test_sizes_that_are_not_positive_are_config_errors(self):
    # Were a ZeroDivisionError, or a TypeError deep in JAX at the first step.
    for kwargs, message in (({'scale': 0}, 'data.scale must be an integer >= 1; got 0'),
                            ({'scale': -4}, 'data.scale must be an integer >= 1; got -4'),
                            ({'crop_size': 0}, 'data.crop_size must be an integer >= 1')):
      with self.subTest(**kwargs), self.assertRaisesRegex(validation.ConfigError, message):
        data.get('photos', batch_size=2, **kwargs)
    with self.assertRaisesRegex(validation.ConfigError, 'data.scale .* got 0'):
      data.sr_shapes('photos(scale=0)')
    for size in (0, -3):
      with self.assertRaisesRegex(validation.ConfigError, 'data.image_size must be an integer'):
        data.get('digits', batch_size=4, image_size=size)
    with self.assertRaisesRegex(validation.ConfigError, 'data.image_size must be an integer'):
      data.get('cifar10', batch_size=4, image_size=-1)  # before any TFDS data is looked for

  def test_folder_pipeline_and_its_errors(self):
    d = tempfile.mkdtemp()
    for i in range(3):
      Image.fromarray(np.full((40, 48, 3), 40 * i, np.uint8)).save(os.path.join(d, f'{i}.png'))
    p = data.get('folder', batch_size=2, path=d, crop_size=16, scale=4)
    self.assertEqual(p.num_examples, 2)  # the last image is held out
    chex.assert_shape(p.batch(0)['lr'], (1, 2, 4, 4, 3))
    # Held as stored (uint8: a quarter of float32's memory), mapped to [-1, 1] when drawn.
    from jaxgan.data import paired
    self.assertEqual({im.dtype for im in paired.folder(d)}, {np.dtype(np.uint8)})
    hr = p.batch(0)['x'][0]  # each training image is one flat value: 0 or 40
    self.assertEqual(hr.dtype, np.float32)
    self.assertTrue(np.all(np.isclose(hr, -1.0) | np.isclose(hr, 40 / 127.5 - 1)))
    lr, held_hr = p.evaluator_args['eval_pairs']()[0]
    np.testing.assert_allclose(held_hr, 80 / 127.5 - 1, rtol=1e-6)  # the held-out image 2
    with self.assertRaisesRegex(FileNotFoundError, 'not a folder'):
      data.get('folder', batch_size=2, path=os.path.join(d, 'nope'))
    # No path: the message shows the form that gives one (data has no 'path' field).
    with self.assertRaisesRegex(FileNotFoundError,
                                r'needs the folder of images: --config.data.name="folder'
                                r"\(path='DIR'\)\""):
      data.get('folder', batch_size=2)
    # Hidden files (macOS's ._* beside each copied image) and folders are not images.
    with open(os.path.join(d, '._0.png'), 'wb') as f:
      f.write(b'\x00\x05\x16\x07 AppleDouble')
    os.mkdir(os.path.join(d, 'sub.png'))
    self.assertLen(paired.folder(d), 3)
    with mock.patch.dict(os.environ, {'HOME': os.path.dirname(d)}):
      self.assertLen(paired.folder(os.path.join('~', os.path.basename(d))), 3)
    empty = tempfile.mkdtemp()
    with self.assertRaisesRegex(FileNotFoundError, 'No .png/.jpg/.jpeg/.bmp image'):
      data.get('folder', batch_size=2, path=empty)
    with open(os.path.join(d, 'broken.png'), 'w') as f:
      f.write('not an image')
    with self.assertRaisesRegex(validation.DataError, 'broken.png is not an image PIL can read'):
      data.get('folder', batch_size=2, path=d)
    # A valid image past Pillow's pixel limit (twice MAX_IMAGE_PIXELS) is named as one: it
    # was "not an image PIL can read".
    os.remove(os.path.join(d, 'broken.png'))
    with mock.patch.object(Image, 'MAX_IMAGE_PIXELS', 100), self.assertRaisesRegex(
        validation.DataError, r'\.png is larger than Pillow opens \(.*\); '
        r'PIL\.Image\.MAX_IMAGE_PIXELS sets the limit'):
      data.get('folder', batch_size=2, path=d)
    # An image smaller than the crop is named, by its file, when the pipeline is built, not
    # at the step that first draws it (here the held-out one, whose number in the held-out
    # list, 0, named no file).
    small = tempfile.mkdtemp()
    for i, size in enumerate((40, 40, 12)):
      Image.fromarray(np.zeros((size, 48, 3), np.uint8)).save(os.path.join(small, f'{i}.png'))
    with self.assertRaisesRegex(validation.DataError,
                                rf'Folder image 2 \({os.path.join(small, "2.png")}\) of shape '
                                r'\(12, 48, 3\) is smaller than the crop size 16'):
      data.get('folder', batch_size=2, path=small, crop_size=16, scale=4)
    # A held-out image too small to score (SSIM's 11 px window after a border of `scale`
    # pixels) is named by its file before training, not by a traceback at evaluation.
    for i, size in enumerate((40, 40, 18)):
      Image.fromarray(np.zeros((size, 48, 3), np.uint8)).save(os.path.join(small, f'{i}.png'))
    with self.assertRaisesRegex(validation.DataError,
                                rf'Held-out image {os.path.join(small, "2.png")} of shape '
                                r'\(18, 48, 3\) is too small to evaluate at x4: .* at least '
                                '20 pixels'):
      data.get('folder', batch_size=2, path=small, crop_size=16, scale=4)
    self.assertLen(data.get('folder', batch_size=2, path=small, crop_size=8, scale=2)
                   .evaluator_args['eval_pairs'](), 1)  # x2 needs 16
    # One image is trained on and held out: its scores are the training image's, said.
    one = tempfile.mkdtemp()
    Image.fromarray(np.zeros((40, 48, 3), np.uint8)).save(os.path.join(one, '0.png'))
    with self.assertLogs(level='WARNING') as logs:
      p = data.get('folder', batch_size=2, path=one, crop_size=16, scale=4)
    self.assertRegex('\n'.join(logs.output), 'holds one image: it is both trained on and '
                     'held out')
    self.assertEqual((p.num_examples, len(p.evaluator_args['eval_pairs']())), (1, 1))

  def test_sr_tfds_reads_the_image_feature_and_names_a_missing_one(self):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=6):
      # 'image', as most TFDS image sets name it, is the default (it was DIV2K's 'hr').
      p = data.get('sr_tfds', batch_size=2, tfds_name='cifar10', eval_split='test',
                   num_eval=2, crop_size=16, scale=4)
      chex.assert_shape(p.batch(0)['x'], (1, 2, 16, 16, 3))
      with self.assertRaisesRegex(validation.ConfigError,
                                  "'cifar10' \\(train\\) has no feature 'hr'; its features "
                                  "are: .*image.*label.*image_key='image'"):
        data.get('sr_tfds', batch_size=2, tfds_name='cifar10', image_key='hr')
      for n in (0, -1):
        with self.assertRaisesRegex(validation.ConfigError, 'num_eval must be an integer >= 1'):
          data.get('sr_tfds', batch_size=2, tfds_name='cifar10', num_eval=n)
    self.assertEqual(data._DATASETS.parameters('div2k')['image_key'], 'hr')

  def test_a_small_tfds_image_is_named_with_its_set_when_drawn(self):
    # A TFDS set is read lazily: an image under the crop size is found at the step that
    # draws it, and the error names the set (it said 'Image 11' alone).
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=30):  # mock images of random sizes
      p = data.get('div2k', batch_size=2, crop_size=16, scale=4, num_eval=2)
      sizes = [min(im.shape[:2]) for im in (images.TFDSImages('div2k/bicubic_x4', 'train',
                                                              'hr')[i] for i in range(30))]
      self.assertLess(min(sizes), 16)
      with self.assertRaisesRegex(validation.DataError, r"Training image \d+ of "
                                  r"'div2k/bicubic_x4' of shape .* is smaller than the crop "
                                  'size 16'):
        for step in range(30):
          p.batch(step)

  def test_a_small_held_out_tfds_image_is_named_with_its_set_and_split(self):
    # The held-out images are read when the pipeline is built: one too small for the crop
    # or for SSIM's window is named with its set and split (it said 'Held-out image 3').
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=30):  # mock images of random sizes
      for crop, problem in ((16, 'is smaller than the crop size 16'),
                            (4, 'is too small to evaluate at x4')):
        with self.assertRaisesRegex(validation.DataError,
                                    r"^Held-out image \d+ \('div2k/bicubic_x4', split "
                                    rf"'validation'\) of shape .* {problem}"):
          data.get('div2k', batch_size=2, crop_size=crop, scale=4, num_eval=30)

  def test_tfds_images_pipeline(self):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=6):
      p = data.get('sr_tfds', batch_size=2, tfds_name='cifar10', image_key='image',
                   eval_split='test', num_eval=2, crop_size=16, scale=4)
      chex.assert_shape(p.batch(0)['x'], (1, 2, 16, 16, 3))
      pairs = p.evaluator_args['eval_pairs']()
      self.assertLen(pairs, 2)
      # Stored as uint8, mapped to [-1, 1] per crop and pair: the same values as before.
      from jaxgan.data import images
      held = images.TFDSImages('cifar10', 'test', 'image')[0]
      self.assertEqual(held.dtype, np.uint8)
      np.testing.assert_allclose(pairs[0][1], held.astype(np.float32) / 127.5 - 1, rtol=1e-6)
      x = p.batch(0)['x']
      self.assertEqual(x.dtype, np.float32)
      self.assertTrue(-1.0 <= x.min() and x.max() <= 1.0)

  def test_sr_tfds_evaluates_every_image_of_a_split_shorter_than_num_eval(self):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=6):
      p = data.get('sr_tfds', batch_size=2, tfds_name='cifar10', eval_split='test',
                   num_eval=10, crop_size=16, scale=4)
      pairs = p.evaluator_args['eval_pairs']()
      self.assertLen(pairs, 6)  # all 6 of the split, the last one too
      last = tfds.data_source('cifar10', split='test')[5]['image']  # TFDS's own reader
      np.testing.assert_allclose(pairs[5][1], last.astype(np.float32) / 127.5 - 1, rtol=1e-6)

  def test_the_sample_crops_come_from_every_held_out_image_whatever_the_data_seed(self):
    # 20 flat images: 0 and 10 are held out (every tenth). The sample-picture crops (and
    # real_samples, their HR side) are drawn from both, the last held-out one too, and are
    # the same fixed crops for every data seed.
    d = tempfile.mkdtemp()
    for i in range(20):
      Image.fromarray(np.full((48, 48, 3), 10 * i, np.uint8)).save(
          os.path.join(d, f'{i:02d}.png'))
    hr = [data.get('folder', batch_size=2, path=d, crop_size=16, scale=2,
                   seed=seed).real_samples(32) for seed in (0, 1)]
    np.testing.assert_array_equal(hr[0], hr[1])
    levels = {int(v) for v in np.round((hr[0][:, 0, 0, 0] + 1) * 127.5)}
    self.assertEqual(levels, {0, 100})


class _TinySR(nn.Module):
  """Two 3x3 convs at LR then pixel shuffle: receptive-field radius 2 LR pixels."""

  @nn.compact
  def __call__(self, lr, y=None, train=True):
    from jaxgan.models.layers import pixel_shuffle
    h = nn.relu(nn.Conv(8, (3, 3))(lr))
    return pixel_shuffle(nn.Conv(3 * 4, (3, 3))(h), 2)


class UpscaleTest(chex.TestCase):

  def test_tiles_with_a_margin_equal_the_whole_image(self):
    model = _TinySR()
    lr = _images(8, (1, 37, 45, 3))
    v = model.init(jax.random.key(0), lr)
    gen = jax.jit(lambda x: model.apply(v, x))
    whole = np.asarray(gen(lr))[0]
    tiled = upscale.upscale(gen, lr[0], 2, tile=16, margin=2)  # 3 x 3 tiles
    self.assertEqual(upscale.num_tiles((37, 45), 16, 2), 9)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)
    # Without a margin the tile borders differ: the margin is what removes the seams.
    seams = upscale.upscale(gen, lr[0], 2, tile=16, margin=0)
    self.assertGreater(np.abs(seams - whole).max(), 1e-3)

  def test_every_window_has_one_shape_and_a_small_image_runs_whole(self):
    shapes = []
    gen = lambda x: shapes.append(x.shape) or np.repeat(np.repeat(x, 2, 1), 2, 2)
    lr = _images(9, (37, 45, 3))
    np.testing.assert_array_equal(upscale.upscale(gen, lr, 2, tile=16, margin=3),
                                  np.repeat(np.repeat(lr, 2, 0), 2, 1))
    self.assertEqual(set(shapes), {(1, 22, 22, 3)})   # tile + 2 * margin: one compilation
    self.assertLen(shapes, 9)
    shapes.clear()   # 37 rows fit in a 16 + 2 * 12 window: one window per column of tiles
    upscale.upscale(gen, lr, 2, tile=16, margin=12)
    self.assertEqual(shapes, [(1, 37, 40, 3)] * 3)
    self.assertEqual(upscale.num_tiles((37, 45), 16, 12), 3)
    shapes.clear()
    upscale.upscale(gen, lr[:20, :20], 2, tile=16, margin=2)
    self.assertEqual(shapes, [(1, 20, 20, 3)])
    for tile, margin in ((16, -1), (0, 0)):
      with self.assertRaisesRegex(ValueError, 'tile must be >= 1 and margin >= 0'):
        upscale.upscale(gen, lr, 2, tile=tile, margin=margin)
    # One image, not a batch of them (its rows would be tiled as the batch axis).
    with self.assertRaisesRegex(ValueError, r'lr must be one image \[h, w, C\]; got shape '
                                r'\(1, 37, 45, 3\)'):
      upscale.upscale(gen, lr[None], 2, tile=16, margin=3)
    # 8-bit values are refused (upscaled as if far past white); a small overshoot of
    # [-1, 1], as a resampled image has, is not.
    eight_bit = np.round((lr + 1) * 127.5)
    for bad, dtype in ((eight_bit.astype(np.uint8), 'uint8'), (eight_bit, 'float32')):
      with self.assertRaisesRegex(ValueError, rf'lr must be an image in \[-1, 1\] \(float\); '
                                  rf'got {dtype} values in \[0, 255\]\. Map a stored image '
                                  r'with jaxgan.data.paired.to_unit_range \(8-bit'):
        upscale.upscale(gen, bad, 2, tile=16, margin=3)
    over = 1.2 * lr
    np.testing.assert_array_equal(upscale.upscale(gen, over, 2, tile=16, margin=3),
                                  np.repeat(np.repeat(over, 2, 0), 2, 1))

  def test_a_folder_given_as_an_image_is_named_a_folder(self):
    d = tempfile.mkdtemp()
    with self.assertRaisesRegex(FileNotFoundError,
                                f'^{re.escape(d)} is a folder, not an image file\\.$'):
      upscale.read_image(d)
    missing = os.path.join(d, 'x.png')
    with self.assertRaisesRegex(FileNotFoundError, f'^No such image file: {re.escape(missing)}$'):
      upscale.read_image(missing)

  def test_an_image_well_past_minus_one_one_is_refused(self):
    # A resampled image may overshoot [-1, 1] a little: up to 1.5 is taken, a value of 2 (a
    # [0, 1] image mapped twice, say) is no overshoot.
    gen = lambda x: np.repeat(np.repeat(x, 2, 1), 2, 2)
    lr = np.zeros((6, 6, 3), np.float32)
    for taken in (1.5, -1.5):
      lr[0, 0, 0] = taken
      np.testing.assert_array_equal(upscale.upscale(gen, lr, 2, tile=16, margin=3),
                                    gen(lr[None])[0])
    lr[0, 0, 0] = 2.0
    with self.assertRaisesRegex(ValueError, r'lr must be an image in \[-1, 1\] \(float\); '
                                r'got float32 values in \[0, 2\]'):
      upscale.upscale(gen, lr, 2, tile=16, margin=3)
    lr[0, 0, 0] = -2.0
    with self.assertRaisesRegex(ValueError, r'got float32 values in \[-2, 0\]'):
      upscale.upscale(gen, lr, 2, tile=16, margin=3)

  def test_an_sr_generator_tiled_with_its_receptive_radius_equals_the_whole_image(self):
    from jaxgan.models import sr
    lr = _images(10, (1, 41, 47, 3))
    for g, tile in ((sr.SRResNet(num_blocks=1, features=8, scale=2), 8),
                    (sr.RRDBNet(num_blocks=1, features=8, growth=4, scale=2), 8)):
      v = g.init(jax.random.key(0), lr, train=False)
      # Every variable redrawn (BN's running statistics far from the identity), so that each
      # layer spreads what it sees.
      leaves, tree = jax.tree.flatten(v)
      rng = np.random.default_rng(11)
      v = jax.tree.unflatten(tree, [
          jnp.asarray(rng.uniform(0.5, 2.0, x.shape) if x.ndim == 1 else
                      rng.normal(size=x.shape) / np.sqrt(np.prod(x.shape[:-1])), x.dtype)
          for x in leaves])
      gen = jax.jit(lambda x, g=g, v=v: g.apply(v, x, train=False))
      margin = sr.receptive_radius(g)
      whole = np.asarray(gen(lr))[0]
      tiled = upscale.upscale(gen, lr[0], 2, tile=tile, margin=margin)
      self.assertGreater(upscale.num_tiles((41, 47), tile, margin), 1, type(g).__name__)
      np.testing.assert_allclose(tiled, whole, atol=1e-4, err_msg=type(g).__name__)
      if isinstance(g, sr.SRResNet):  # its radius is tight: one pixel less is not exact
        self.assertEqual((margin, upscale.num_tiles((41, 47), 8, margin)), (10, 6 * 6))
        short = upscale.upscale(gen, lr[0], 2, tile=tile, margin=margin - 1)
        self.assertGreater(np.abs(short - whole).max(), 1e-3)

  def test_image_files(self):
    d = tempfile.mkdtemp()
    pixels = np.random.default_rng(0).integers(0, 256, (10, 12, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(os.path.join(d, 'a.png'))
    x = upscale.read_image(os.path.join(d, 'a.png'))
    np.testing.assert_allclose((x + 1) * 127.5, pixels, atol=1e-4)
    upscale.write_image(os.path.join(d, 'b.png'), x)
    np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(d, 'b.png'))), pixels)
    # Each level is the nearest one (rounded, not truncated), and [-1, 1] is clipped.
    levels = np.arange(256, dtype=np.float64)
    for offset in (-0.4, 0.4):
      near = np.repeat((levels + offset) / 127.5 - 1.0, 3).reshape(1, 256, 3)
      upscale.write_image(os.path.join(d, 'r.png'), near.astype(np.float32))
      np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(d, 'r.png')))[0, :, 0],
                                    levels, err_msg=f'offset {offset}')
    beyond = np.array([-3.0, 3.0], np.float32)[None, :, None].repeat(3, axis=2)
    upscale.write_image(os.path.join(d, 'r.png'), beyond)
    np.testing.assert_array_equal(np.asarray(Image.open(os.path.join(d, 'r.png')))[0, :, 0],
                                  [0, 255])
    with self.assertRaisesRegex(FileNotFoundError, 'No such image file'):
      upscale.read_image(os.path.join(d, 'missing.png'))
    with open(os.path.join(d, 'c.png'), 'w') as f:
      f.write('text')
    with self.assertRaisesRegex(ValueError, 'c.png is not an image'):
      upscale.read_image(os.path.join(d, 'c.png'))
    with self.assertRaisesRegex(ValueError, 'must end in .png, .jpg, .jpeg'):
      upscale.write_image(os.path.join(d, 'b.gif'), x)
    # A generator's NaN is refused, not written as black; the file is not made.
    bad = x.copy()
    bad[0, 0, 0] = np.nan
    with self.assertRaisesRegex(ValueError, r'the image for .*e\.png: 1 non-finite value '
                                r'\(NaN or Inf\), from the generator'):
      upscale.write_image(os.path.join(d, 'e.png'), bad)
    self.assertFalse(os.path.exists(os.path.join(d, 'e.png')))

  def test_the_default_tile_is_128_px_or_twice_the_margin(self):
    # launch.upscale's default: a full tile's window then computes at most 4x its pixels.
    self.assertEqual([upscale.default_tile(m) for m in (0, 12, 64, 65, 100, 349)],
                     [128, 128, 128, 130, 200, 698])

  def test_a_float_image_must_be_in_minus_one_one(self):
    from jaxgan.data import paired
    x = np.linspace(-1, 1, 4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    np.testing.assert_array_equal(paired.to_unit_range(x), x)
    np.testing.assert_allclose(paired.to_unit_range(np.full((2, 2), 255, np.uint8)), 1.0)
    # A float image a rounding past 1 (within 1e-3) is taken; 1.05 is refused.
    np.testing.assert_array_equal(paired.to_unit_range(x * 1.0005), x * np.float32(1.0005))
    with self.assertRaisesRegex(ValueError, r'got \[-1\.050, 1\.050\]'):
      paired.to_unit_range(x * 1.05)
    for wrong, message in ((x * 127.5 + 127.5, r'must lie in \[-1, 1\]; got \[0\.000, 255\.000\]'),
                           (np.full((2, 2, 3), np.nan, np.float32), '12 non-finite values'),
                           (np.zeros((2, 2, 3), np.int32), 'uint8, uint16 or float image; '
                            'got int32')):
      with self.assertRaisesRegex(ValueError, message):
        paired.to_unit_range(wrong)

  def test_an_alpha_channel_is_dropped_with_a_warning(self):
    d = tempfile.mkdtemp()
    rgba = np.random.default_rng(2).integers(0, 256, (5, 4, 4)).astype(np.uint8)
    Image.fromarray(rgba, 'RGBA').save(os.path.join(d, 'a.png'))
    Image.fromarray(rgba[..., :3]).save(os.path.join(d, 'b.png'))
    with self.assertLogs('absl', 'WARNING') as logs:
      x = upscale.read_image(os.path.join(d, 'a.png'))
    self.assertRegex(logs.output[0], 'a.png has an alpha channel: it is dropped')
    np.testing.assert_allclose((x + 1) * 127.5, rgba[..., :3], atol=1e-4)
    with self.assertNoLogs('absl', 'WARNING'):
      upscale.read_image(os.path.join(d, 'b.png'))
    # A palette image with a transparent colour: warned too, its pixels the palette's.
    palette = Image.fromarray(rgba[..., 0] % 4, 'P')
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    palette.save(os.path.join(d, 'p.png'), transparency=0)
    with self.assertLogs('absl', 'WARNING') as logs:
      x = upscale.read_image(os.path.join(d, 'p.png'))
    self.assertRegex(logs.output[0], 'p.png has an alpha channel: it is dropped')
    colours = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255]])
    np.testing.assert_allclose((x + 1) * 127.5, colours[rgba[..., 0] % 4], atol=1e-4)

  def test_16_bit_grayscale_keeps_its_range(self):
    d = tempfile.mkdtemp()
    ramp = np.linspace(0, 65535, 6 * 7).reshape(6, 7).astype(np.uint16)
    Image.fromarray(ramp).save(os.path.join(d, 'g16.png'))
    x = upscale.read_image(os.path.join(d, 'g16.png'))
    chex.assert_shape(x, (6, 7, 3))
    np.testing.assert_allclose(x, np.repeat(ramp[..., None] / 65535 * 2 - 1, 3, -1),
                               atol=1e-6)

  def test_float_and_32_bit_images_are_refused(self):
    # Their range has no standard: read as 8 bits they came out black or clipped.
    d = tempfile.mkdtemp()
    Image.fromarray(np.full((4, 5), 0.5, np.float32), 'F').save(os.path.join(d, 'f.tif'))
    Image.fromarray(np.full((4, 5), 70000, np.int32), 'I').save(os.path.join(d, 'i.tif'))
    Image.fromarray(np.full((4, 5), 60000, np.int32), 'I').save(os.path.join(d, 'j.tif'))
    with self.assertRaisesRegex(ValueError, 'f.tif is a floating-point image'):
      upscale.read_image(os.path.join(d, 'f.tif'))
    with self.assertRaisesRegex(ValueError, r'i.tif holds values in \[70000, 70000\], outside '
                                '16 bits'):
      upscale.read_image(os.path.join(d, 'i.tif'))
    Image.fromarray(np.full((4, 5), -5, np.int32), 'I').save(os.path.join(d, 'n.tif'))
    with self.assertRaisesRegex(ValueError, r'n.tif holds values in \[-5, -5\], outside 16 '
                                'bits'):  # not wrapped around to 65531
      upscale.read_image(os.path.join(d, 'n.tif'))
    np.testing.assert_allclose(upscale.read_image(os.path.join(d, 'j.tif')),
                               60000 / 65535 * 2 - 1, rtol=1e-6)  # within 16 bits: kept

  def test_exif_orientation_is_applied(self):
    d = tempfile.mkdtemp()
    pixels = np.random.default_rng(1).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6   # Orientation: the stored image must be turned 90 degrees clockwise
    Image.fromarray(pixels).save(os.path.join(d, 'r.png'), exif=exif)
    x = upscale.read_image(os.path.join(d, 'r.png'))
    np.testing.assert_allclose((x + 1) * 127.5, np.rot90(pixels, -1), atol=1e-4)

  def test_a_malformed_exif_block_is_warned_about_and_the_image_read_as_stored(self):
    d = tempfile.mkdtemp()
    pixels = np.random.default_rng(2).integers(0, 256, (4, 6, 3)).astype(np.uint8)
    path = os.path.join(d, 'bad_exif.png')
    Image.fromarray(pixels).save(path, exif=b'Exif\x00\x00garbagegarbage')
    with self.assertLogs(level='WARNING') as logs:
      x = upscale.read_image(path)
    np.testing.assert_allclose((x + 1) * 127.5, pixels, atol=1e-4)
    self.assertRegex(logs.output[0], r'bad_exif\.png: its EXIF orientation cannot be read')
    # A truncated file with an orientation is not an image, and not an EXIF problem.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = os.path.join(d, 'cut.jpg')
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3)).astype(np.uint8)
                    ).save(path, exif=exif)
    with open(path, 'rb') as f:
      head = f.read()[:-400]
    with open(path, 'wb') as f:
      f.write(head)
    with self.assertNoLogs(level='WARNING'), \
         self.assertRaisesRegex(validation.DataError, r'cut\.jpg is not an image PIL can read'):
      upscale.read_image(path)


if __name__ == '__main__':
  absltest.main()
