"""Tests of jaxgan.metrics.sr against scikit-image (float64) and closed forms."""

from __future__ import annotations

from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from scipy.ndimage import gaussian_filter
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from jaxgan.metrics import sr

# Measured max |ours - scikit-image| (float32 vs float64): PSNR 4e-6 dB, SSIM 1.5e-6.
PSNR_TOL = 1e-4
SSIM_TOL = 1e-5


def _hr_sr_uint8(seed: int, n: int = 3, h: int = 40, w: int = 36) -> tuple[np.ndarray, ...]:
  """Smooth 8-bit RGB 'ground truth' and a noisy, blurred 'super-resolved' version."""
  rng = np.random.default_rng(seed)
  hr = gaussian_filter(rng.uniform(size=(n, h, w, 3)), (0, 2, 2, 0))
  hr = (hr - hr.min()) / (hr.max() - hr.min())
  sr = gaussian_filter(hr, (0, 0.7, 0.7, 0)) + rng.normal(scale=0.03, size=hr.shape)
  to_u8 = lambda x: np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
  return to_u8(hr), to_u8(sr)


def _to_jaxgan(u8: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """8-bit levels -> [-1, 1] as jaxgan's loaders do, plus jitter under half a level."""
  x = u8.astype(np.float64) / 127.5 - 1.0
  x += rng.uniform(-0.4, 0.4, size=x.shape) / 127.5
  return np.clip(x, -1.0, 1.0).astype(np.float32)


def _y(u8: np.ndarray) -> np.ndarray:
  return rgb2ycbcr(u8)[..., 0]  # scikit-image: float Y in [16, 235] from uint8 RGB


def _crop(x: np.ndarray, b: int) -> np.ndarray:
  return x[:, b:x.shape[1] - b, b:x.shape[2] - b] if b else x


class YChannelTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_skimage_rgb2ycbcr(self):
    u8 = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    y = self.variant(sr.rgb_to_y)(u8.astype(np.float32))
    chex.assert_shape(y, (2, 5, 7, 1))
    np.testing.assert_allclose(np.asarray(y)[..., 0], _y(u8), rtol=0, atol=1e-4)

  def test_closed_forms(self):
    rgb = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255]],
                   np.float32)
    np.testing.assert_allclose(np.asarray(sr.rgb_to_y(rgb))[:, 0],
                               [16.0, 235.0, 16 + 65.481, 16 + 128.553, 16 + 24.966],
                               rtol=0, atol=1e-4)

  def test_needs_three_channels(self):
    with self.assertRaisesRegex(ValueError, r'\(4, 4, 1\)'):
      sr.rgb_to_y(np.zeros((4, 4, 1)))


class AgainstScikitImageTest(chex.TestCase, parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(convention=('y', 'rgb'), crop_border=(0, 4))
  def test_psnr_and_ssim(self, convention, crop_border):
    hr8, sr8 = _hr_sr_uint8(seed=1)
    rng = np.random.default_rng(2)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    kw = dict(crop_border=crop_border, convention=convention)
    fn_p = self.variant(sr.psnr, static_argnames=('crop_border', 'convention'))
    fn_s = self.variant(sr.ssim, static_argnames=('crop_border', 'convention'))
    got_p, got_s = np.asarray(fn_p(srx, hr, **kw)), np.asarray(fn_s(srx, hr, **kw))
    chex.assert_shape([got_p, got_s], (3,))
    a, b = _crop(sr8, crop_border), _crop(hr8, crop_border)
    if convention == 'y':
      a, b = _y(a), _y(b)
    for i in range(3):
      ref_p = peak_signal_noise_ratio(b[i].astype(np.float64), a[i].astype(np.float64),
                                      data_range=255)
      ref_s = structural_similarity(
          b[i].astype(np.float64), a[i].astype(np.float64), gaussian_weights=True,
          sigma=1.5, use_sample_covariance=False, data_range=255,
          channel_axis=-1 if convention == 'rgb' else None)
      self.assertAlmostEqual(float(got_p[i]), ref_p, delta=PSNR_TOL)
      self.assertAlmostEqual(float(got_s[i]), ref_s, delta=SSIM_TOL)

  def test_the_smallest_images_scored(self):
    # SSIM's 11x11 window fits an 11x11 crop exactly, and PSNR scores a single pixel: both
    # are scored (a '<=' in the size check refused them), as scikit-image scores them.
    hr8, sr8 = _hr_sr_uint8(seed=5, n=1, h=19, w=19)
    rng = np.random.default_rng(6)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    got = sr.ssim(srx, hr, crop_border=4, convention='rgb')
    want = structural_similarity(hr8[0, 4:-4, 4:-4].astype(np.float64),
                                 sr8[0, 4:-4, 4:-4].astype(np.float64), gaussian_weights=True,
                                 sigma=1.5, use_sample_covariance=False, data_range=255,
                                 channel_axis=-1)
    self.assertAlmostEqual(float(got[0]), want, delta=SSIM_TOL)
    got = sr.psnr(srx[:, 8:11, 8:11], hr[:, 8:11, 8:11], crop_border=1, convention='rgb')
    want = peak_signal_noise_ratio(hr8[0, 9:10, 9:10].astype(np.float64),
                                   sr8[0, 9:10, 9:10].astype(np.float64), data_range=255)
    self.assertAlmostEqual(float(got[0]), want, delta=PSNR_TOL)

  def test_sr_metrics_report(self):
    hr8, sr8 = _hr_sr_uint8(seed=3, n=2)
    rng = np.random.default_rng(4)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    out = sr.sr_metrics(srx, hr, crop_border=4)
    self.assertEqual(out['convention'], 'Y channel (BT.601), border 4')
    a, b = _y(_crop(sr8, 4)), _y(_crop(hr8, 4))
    ref_p = [peak_signal_noise_ratio(b[i], a[i], data_range=255) for i in range(2)]
    ref_s = [structural_similarity(b[i], a[i], gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=255)
             for i in range(2)]
    np.testing.assert_allclose(out['psnr_per_image'], ref_p, rtol=0, atol=PSNR_TOL)
    np.testing.assert_allclose(out['ssim_per_image'], ref_s, rtol=0, atol=SSIM_TOL)
    self.assertAlmostEqual(out['psnr'], np.mean(ref_p), delta=PSNR_TOL)
    self.assertAlmostEqual(out['ssim'], np.mean(ref_s), delta=SSIM_TOL)
    rgb = sr.sr_metrics(srx[0], hr[0], crop_border=2, convention='rgb')
    self.assertEqual(rgb['convention'], 'RGB, border 2')
    chex.assert_shape(rgb['psnr_per_image'], (1,))


class ClosedFormTest(chex.TestCase, parameterized.TestCase):

  @parameterized.parameters('y', 'rgb')
  def test_identical_images(self, convention):
    x = _to_jaxgan(_hr_sr_uint8(seed=5, n=2)[0], np.random.default_rng(0))
    self.assertTrue(np.all(np.isinf(sr.psnr(x, x, crop_border=4, convention=convention))))
    np.testing.assert_allclose(sr.ssim(x, x, crop_border=4, convention=convention), 1.0,
                               rtol=0, atol=1e-6)

  def test_known_mse_rgb(self):
    # One channel off by 10 levels everywhere: MSE = 100 / 3.
    hr8 = np.full((1, 16, 16, 3), 100, np.uint8)
    sr8 = hr8.copy()
    sr8[..., 1] += 10
    to = lambda u: u.astype(np.float32) / 127.5 - 1
    got = float(sr.psnr(to(sr8), to(hr8), crop_border=0, convention='rgb')[0])
    self.assertAlmostEqual(got, 10 * np.log10(255 ** 2 / (100 / 3)), delta=1e-4)

  def test_known_mse_y(self):
    # All channels off by d levels: Y moves by d * (65.481 + 128.553 + 24.966) / 255.
    d = 7
    hr8 = np.full((1, 16, 16, 3), 90, np.uint8)
    to = lambda u: u.astype(np.float32) / 127.5 - 1
    got = float(sr.psnr(to(hr8 + d), to(hr8), crop_border=2, convention='y')[0])
    dy = d * 219.0 / 255.0
    self.assertAlmostEqual(got, 10 * np.log10(255 ** 2 / dy ** 2), delta=1e-4)

  @parameterized.parameters('y', 'rgb')
  def test_crop_really_crops(self, convention):
    hr8, sr8 = _hr_sr_uint8(seed=6, n=2, h=32, w=30)
    rng = np.random.default_rng(7)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    bad = srx.copy()
    b = 4
    bad[:, :b] = -1.0
    bad[:, -b:] = 1.0
    bad[:, :, :b] = 1.0
    bad[:, :, -b:] = -1.0
    for fn in (sr.psnr, sr.ssim):
      clean = np.asarray(fn(srx, hr, crop_border=b, convention=convention))
      corrupted = np.asarray(fn(bad, hr, crop_border=b, convention=convention))
      np.testing.assert_array_equal(clean, corrupted)
      # With a narrower crop the corrupted border counts, and the scores drop.
      self.assertTrue(np.all(np.asarray(fn(bad, hr, crop_border=b - 1,
                                           convention=convention)) < clean - 1e-3))

  def test_quantizes_like_a_png(self):
    # Differences under half an 8-bit level vanish; a whole level does not.
    x = np.linspace(-1, 1, 16 * 16 * 3, dtype=np.float32).reshape(1, 16, 16, 3)
    x = np.asarray(sr.to_8bit(x)) / 127.5 - 1
    self.assertTrue(np.isinf(sr.psnr(x + 0.4 / 127.5 * (x < 0.99), x, crop_border=0)[0]))
    self.assertFalse(np.isinf(sr.psnr(x + 2 / 255 * (x < 0.99), x, crop_border=0)[0]))

  def test_y_differs_from_rgb(self):
    hr8, sr8 = _hr_sr_uint8(seed=8, n=1)
    rng = np.random.default_rng(9)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    y = float(sr.psnr(srx, hr, crop_border=4, convention='y')[0])
    rgb = float(sr.psnr(srx, hr, crop_border=4, convention='rgb')[0])
    self.assertGreater(abs(y - rgb), 0.1)

  def test_the_report_averages_over_images(self):
    # Three flat images (RGB), channel 0 off by 3, 6 and 30 levels: MSE d^2 / 3; SSIM of
    # flat images is the luminance term, (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), on
    # channel 0 and 1 on the others. The report gives the means over the images.
    hr8 = np.full((3, 16, 16, 3), 100, np.uint8)
    sr8 = hr8.copy()
    for i, d in enumerate((3, 6, 30)):
      sr8[i, ..., 0] += d
    to = lambda u: u.astype(np.float32) / 127.5 - 1
    out = sr.sr_metrics(to(sr8), to(hr8), crop_border=0, convention='rgb')
    c1 = (0.01 * 255) ** 2
    psnrs = [10 * np.log10(255 ** 2 / (d * d / 3)) for d in (3, 6, 30)]
    ssims = [(2 + (2 * (100 + d) * 100 + c1) / ((100 + d) ** 2 + 100 ** 2 + c1)) / 3
             for d in (3, 6, 30)]
    np.testing.assert_allclose(out['psnr_per_image'], psnrs, rtol=0, atol=1e-4)
    np.testing.assert_allclose(out['ssim_per_image'], ssims, rtol=0, atol=1e-7)
    self.assertAlmostEqual(out['psnr'], np.mean(psnrs), delta=1e-4)
    self.assertAlmostEqual(out['ssim'], np.mean(ssims), delta=1e-7)
    self.assertGreater(abs(np.mean(psnrs) - np.median(psnrs)), 1.0)   # mean, not median
    self.assertGreater(abs(np.mean(ssims) - np.median(ssims)), 1e-3)

  @parameterized.parameters('y', 'rgb')
  def test_ssim_of_bright_flat_images_to_1e7(self, convention):
    # Flat images near white: SSIM is the luminance term alone, (2 mu_x mu_y + C1) /
    # (mu_x^2 + mu_y^2 + C1), on each channel that differs. In float32 the local variances
    # E[x^2] - mu^2 of levels near 230 cancel badly: 9e-5 low at 230 vs 233 (RGB).
    levels = ((230, 3), (250, 1), (200, 5), (245, 4))
    hr8 = np.stack([np.full((24, 20, 3), v, np.uint8) for v, _ in levels])
    sr8 = hr8.copy()
    for i, (_, d) in enumerate(levels):
      sr8[i, ..., 0] += d
    to = lambda u: u.astype(np.float32) / 127.5 - 1
    got = np.asarray(sr.ssim(to(sr8), to(hr8), crop_border=2, convention=convention))
    c1 = (0.01 * 255) ** 2
    lum = lambda a, b: (2 * a * b + c1) / (a * a + b * b + c1)
    if convention == 'rgb':
      want = [(2 + lum(v + d, v)) / 3 for v, d in levels]
    else:  # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255: only R moves
      y = lambda r, g: 16 + (65.481 * r + (128.553 + 24.966) * g) / 255
      want = [lum(y(v + d, v), y(v, v)) for v, d in levels]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)
    self.assertEqual(got.dtype, np.float32)

  def test_ssim_without_a_cpu_backend(self):
    # JAX_PLATFORMS=cuda starts no CPU backend: jax.devices('cpu') raises; the moments are
    # then taken in float64 on the default device.
    hr8, sr8 = _hr_sr_uint8(seed=10, n=2)
    rng = np.random.default_rng(11)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    want = np.asarray(sr.ssim(srx, hr, crop_border=4))
    real = jax.devices

    def devices(backend=None):
      if backend == 'cpu':
        raise RuntimeError('Unknown backend cpu')
      return real(backend)
    with mock.patch.object(jax, 'devices', devices):
      got = np.asarray(sr.ssim(srx, hr, crop_border=4))
    np.testing.assert_array_equal(got, want)

  def test_out_of_range_values_are_clipped_as_a_png_would(self):
    # to_8bit: round(255 * clip((x + 1) / 2, 0, 1)). Under jit the range is not checked,
    # so a generator without tanh scores as its saved (clipped) 8-bit images would.
    np.testing.assert_array_equal(
        np.asarray(sr.to_8bit(np.array([-3.0, -1.0, 0.0, 1.0, 3.0], np.float32))),
        [0.0, 0.0, 128.0, 255.0, 255.0])   # 127.5 rounds half to even: 128
    hr8, sr8 = _hr_sr_uint8(seed=10, n=2)
    rng = np.random.default_rng(11)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    wild = srx * 1.5   # values up to +-1.5
    saved = np.round(255 * np.clip((wild.astype(np.float64) + 1) / 2, 0, 1))
    psnr = jax.jit(sr.psnr, static_argnames=('crop_border', 'convention'))
    got = np.asarray(psnr(jnp.asarray(wild), hr, crop_border=2, convention='rgb'))
    for i in range(2):
      want = peak_signal_noise_ratio(_crop(hr8, 2)[i].astype(np.float64),
                                     _crop(saved, 2)[i], data_range=255)
      self.assertAlmostEqual(float(got[i]), want, delta=PSNR_TOL)


class BadInputTest(parameterized.TestCase):

  def test_shape_mismatch_names_shapes(self):
    with self.assertRaisesRegex(ValueError, r'\(2, 16, 16, 3\).*\(2, 16, 18, 3\)'):
      sr.psnr(np.zeros((2, 16, 16, 3)), np.zeros((2, 16, 18, 3)), crop_border=0)
    with self.assertRaisesRegex(ValueError, r'\(16, 16, 3\).*\(1, 16, 16, 3\)'):
      sr.sr_metrics(np.zeros((16, 16, 3)), np.zeros((1, 16, 16, 3)), crop_border=0)
    # Two single images: their own shapes, not the batches of one they were made into.
    with self.assertRaisesRegex(ValueError, r'got sr \(16, 16, 3\) and hr \(16, 18, 3\)\.$'):
      sr.sr_metrics(np.zeros((16, 16, 3)), np.zeros((16, 18, 3)), crop_border=0)

  @parameterized.parameters((16, 16, 1), (16, 16), (1, 2, 16, 16, 3))
  def test_wrong_rank_or_channels(self, *shape):
    with self.assertRaisesRegex(ValueError, 'RGB'):
      sr.ssim(np.zeros(shape), np.zeros(shape), crop_border=0)

  def test_unknown_convention_lists_valid(self):
    with self.assertRaisesRegex(ValueError, "'ycbcr'.*y, rgb"):
      sr.psnr(np.zeros((16, 16, 3)), np.zeros((16, 16, 3)), crop_border=0,
              convention='ycbcr')

  @parameterized.parameters(1.05, -1.2, np.nan, np.inf)
  def test_values_outside_range_or_non_finite(self, value):
    x = np.zeros((1, 16, 16, 3), np.float32)
    bad = x.copy()
    bad[0, 3, 3, 1] = value
    for fn in (sr.psnr, sr.ssim):
      with self.assertRaisesRegex(ValueError, 'sr(: 1 non-finite value| must lie)'):
        fn(bad, x, crop_border=0)
      with self.assertRaisesRegex(ValueError, 'hr(: 1 non-finite value| must lie)'):
        fn(x, bad, crop_border=0)

  def test_no_images_or_integer_images(self):
    empty = np.zeros((0, 16, 16, 3), np.float32)
    levels = np.ones((1, 16, 16, 3), np.uint8)  # in [-1, 1], but 8-bit levels
    for fn in (sr.psnr, sr.ssim, sr.sr_metrics):
      with self.assertRaisesRegex(ValueError, r'No images to score.*\(0, 16, 16, 3\)'):
        fn(empty, empty, crop_border=0)
      with self.assertRaisesRegex(ValueError, 'sr must be a floating-point image.*uint8'):
        fn(levels, levels.astype(np.float32), crop_border=0)
      with self.assertRaisesRegex(ValueError, 'hr must be a floating-point image.*int32'):
        fn(np.zeros((16, 16, 3), np.float32), np.zeros((16, 16, 3), np.int32), crop_border=0)
    bf16 = jnp.zeros((1, 16, 16, 3), jnp.bfloat16)  # a floating type NumPy does not know
    self.assertTrue(np.isinf(sr.psnr(bf16, bf16, crop_border=0)[0]))

  def test_crop_too_large(self):
    x = np.zeros((1, 20, 20, 3))
    chex.assert_shape(sr.ssim(x, x, crop_border=4), (1,))  # 12x12 >= 11: fine
    with self.assertRaisesRegex(ValueError, r'leave 10x10.*11x11'):
      sr.ssim(x, x, crop_border=5)
    with self.assertRaisesRegex(ValueError, r'leave 0x0'):
      sr.psnr(x, x, crop_border=10)
    with self.assertRaisesRegex(ValueError, 'crop_border'):
      sr.psnr(x, x, crop_border=-1)

  def test_jit_traces_without_value_checks(self):
    # Under jit the values are not known; shapes are still checked.
    f = jax.jit(sr.psnr, static_argnames=('crop_border', 'convention'))
    x = jnp.zeros((1, 16, 16, 3))
    self.assertTrue(np.isinf(f(x, x, crop_border=1)[0]))
    with self.assertRaisesRegex(ValueError, 'same shape'):
      f(x, jnp.zeros((1, 16, 15, 3)), crop_border=1)


class BoundaryTest(parameterized.TestCase):
  """The edges of the checks (range slack, crop size on each side, crop_border's type, RGB
  channels), SSIM traced over sr alone, and ties in the 8-bit quantization."""

  def test_values_within_the_range_slack_are_accepted_and_clipped(self):
    # Up to 1e-3 past [-1, 1] (float round-off of a tanh output) is accepted and scored as
    # the saved PNG would hold it: clipped to level 255 (or 0). hr at 0.0 is level 128
    # (127.5 rounds half to even), so the RGB difference is 127 (or 128) in every channel.
    hr = np.zeros((1, 16, 16, 3), np.float32)
    for value, d in ((1.0005, 127.0), (-1.0005, 128.0)):
      srx = np.full((1, 16, 16, 3), value, np.float32)
      got = sr.psnr(srx, hr, crop_border=0, convention='rgb')
      self.assertAlmostEqual(float(got[0]), 10 * np.log10(255.0 ** 2 / d ** 2), delta=1e-4)
      got = sr.psnr(hr, srx, crop_border=0, convention='rgb')  # on the hr side too
      self.assertAlmostEqual(float(got[0]), 10 * np.log10(255.0 ** 2 / d ** 2), delta=1e-4)

  def test_ssim_traced_over_sr_alone_matches_scikit_image(self):
    # Scoring in a compiled step against fixed ground truth: sr traced, hr a constant.
    hr8, sr8 = _hr_sr_uint8(seed=12, n=2)
    rng = np.random.default_rng(13)
    hr, srx = _to_jaxgan(hr8, rng), _to_jaxgan(sr8, rng)
    got = np.asarray(jax.jit(lambda s: sr.ssim(s, hr, crop_border=4))(srx))
    a, b = _y(_crop(sr8, 4)), _y(_crop(hr8, 4))
    for i in range(2):
      want = structural_similarity(b[i], a[i], gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=255)
      self.assertAlmostEqual(float(got[i]), want, delta=SSIM_TOL)

  def test_a_crop_too_large_on_the_narrow_side_is_refused(self):
    # Non-square images: the width counts as well as the height.
    x = np.zeros((1, 24, 12, 3), np.float32)
    with self.assertRaisesRegex(ValueError, r'24x12 cropped by 1 at each edge leave 22x10'):
      sr.ssim(x, x, crop_border=1)
    y = np.zeros((1, 20, 2, 3), np.float32)
    with self.assertRaisesRegex(ValueError, r'leave 18x0'):
      sr.psnr(y, y, crop_border=1)

  def test_a_bool_crop_border_is_refused(self):
    x = np.zeros((1, 16, 16, 3), np.float32)
    for fn in (sr.psnr, sr.ssim):
      with self.assertRaisesRegex(ValueError, r'crop_border must be an int >= 0; got True'):
        fn(x, x, crop_border=True)

  @parameterized.parameters((16, 16, 1), (16, 16, 4), (2, 16, 16, 1))
  def test_rgb_convention_refuses_images_that_are_not_rgb(self, *shape):
    # Without the channel check, 'rgb' scored 1- or 4-channel images (only 'y' failed).
    x = np.zeros(shape, np.float32)
    for fn in (sr.psnr, sr.ssim, sr.sr_metrics):
      with self.assertRaisesRegex(ValueError, r'Images must be RGB \[N, H, W, 3\]'):
        fn(x, x, crop_border=0, convention='rgb')

  def test_ties_round_half_to_even_as_numpy(self):
    # Inputs whose float32 255 * (x + 1) / 2 is exactly k + 0.5: NumPy's (and PyTorch's)
    # round gives the even level, not k + 1 for even k.
    xs, halves = [], []
    for k in range(60, 200):
      x = np.float32(2 * (k + 0.5) / 255 - 1)
      for _ in range(40):
        v = (x + np.float32(1)) / np.float32(2) * np.float32(255)
        if v == k + 0.5:
          xs.append(x)
          halves.append(v)
          break
        x = np.nextafter(x, np.float32(2 if v < k + 0.5 else -2), dtype=np.float32)
    self.assertGreater(len(xs), 50)
    self.assertTrue(any(int(h) % 2 == 0 for h in halves))
    got = np.asarray(sr.to_8bit(np.array(xs, np.float32)))
    np.testing.assert_array_equal(got, np.round(np.array(halves, np.float64)))


if __name__ == '__main__':
  absltest.main()
