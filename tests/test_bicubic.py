"""Tests of jaxgan.data.bicubic: closed forms, a per-pixel loop from MATLAB's formulas, PIL."""

from __future__ import annotations

import math
from unittest import mock

import chex
import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image
from scipy.ndimage import gaussian_filter

from jaxgan.data import bicubic


def _keys(d: float) -> float:
  """Keys' cubic, a = -0.5, written out for one number."""
  d = abs(d)
  if d <= 1:
    return 1.5 * d ** 3 - 2.5 * d ** 2 + 1
  if d <= 2:
    return -0.5 * d ** 3 + 2.5 * d ** 2 - 4 * d + 2
  return 0.0


def _taps(in_len: int, out_x: int, scale: float, antialias: bool) -> list[tuple[int, float]]:
  """(0-based source pixel, weight) of 1-based output pixel ``out_x``, from imresize.m."""
  widen = antialias and scale < 1
  width = 4 / scale if widen else 4
  u = out_x / scale + 0.5 * (1 - 1 / scale)
  left = math.floor(u - width / 2)
  aux = list(range(1, in_len + 1)) + list(range(in_len, 0, -1))
  taps = []
  for j in range(math.ceil(width) + 2):
    idx = left + j
    w = scale * _keys(scale * (u - idx)) if widen else _keys(u - idx)
    taps.append((aux[(idx - 1) % len(aux)] - 1, w))
  total = sum(w for _, w in taps)
  return [(i, w / total) for i, w in taps]


def _loop_resize(img: np.ndarray, out_h: int, out_w: int, scale_h: float, scale_w: float,
                 antialias: bool = True) -> np.ndarray:
  """Per-pixel 2-D sum over both axes' taps: an independent reference, tiny images only."""
  out = np.zeros((out_h, out_w, img.shape[2]))
  for y in range(out_h):
    ty = _taps(img.shape[0], y + 1, scale_h, antialias)
    for x in range(out_w):
      tx = _taps(img.shape[1], x + 1, scale_w, antialias)
      for iy, wy in ty:
        for ix, wx in tx:
          out[y, x] += wy * wx * img[iy, ix]
  return out


def _smooth_image(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
  return gaussian_filter(rng.uniform(size=shape), (1.0, 1.0) + (0,) * (len(shape) - 2))


def _interior(in_len: int, out_len: int, scale: float) -> np.ndarray:
  """Output pixels whose kernel support lies inside the input (no mirrored taps)."""
  half = 2 / scale if scale < 1 else 2
  u = np.arange(1, out_len + 1) / scale + 0.5 * (1 - 1 / scale)
  return (u - half >= 0) & (u + half <= in_len + 1)


class ClosedFormTest(parameterized.TestCase):

  @parameterized.parameters(0.25, 0.5, 1 / 3, 0.3, 2, 3, 4, 1.7)
  def test_constant_stays_constant(self, scale):
    img = np.full((13, 10, 2), 0.37)
    out = bicubic.imresize(img, scale)
    np.testing.assert_allclose(out, 0.37, rtol=0, atol=1e-14)

  def test_constant_stays_constant_output_shape(self):
    out = bicubic.imresize(np.full((2, 9, 11, 3), -0.6), output_shape=(5, 17))
    np.testing.assert_allclose(out, -0.6, rtol=0, atol=1e-14)

  @parameterized.parameters(2, 3, 4, 0.5, 0.25, 1 / 3)
  def test_linear_ramp_reproduced_at_pixel_centres(self, scale):
    # f(i, j) = 2 i - 3 j + 5 at 1-based pixel (i, j); the output pixel (y, x) maps to
    # u(y), u(x) and must equal f(u(y), u(x)) wherever no tap is mirrored. Holds for
    # downscaling by integer factors too: the taps sit symmetrically about u.
    h, w = 40, 36
    i, j = np.meshgrid(np.arange(1, h + 1), np.arange(1, w + 1), indexing='ij')
    img = (2.0 * i - 3.0 * j + 5.0)[..., None]
    out = bicubic.imresize(img, scale)[..., 0]
    oh, ow = math.ceil(scale * h), math.ceil(scale * w)
    uy = np.arange(1, oh + 1) / scale + 0.5 * (1 - 1 / scale)
    ux = np.arange(1, ow + 1) / scale + 0.5 * (1 - 1 / scale)
    expected = 2.0 * uy[:, None] - 3.0 * ux[None, :] + 5.0
    my, mx = _interior(h, oh, scale), _interior(w, ow, scale)
    self.assertGreater(my.sum(), 2)
    np.testing.assert_allclose(out[np.ix_(my, mx)], expected[np.ix_(my, mx)], rtol=0,
                               atol=1e-11)
    # ...and at the borders the mirror bends the ramp, so the check is not vacuous.
    self.assertGreater(np.abs(out - expected).max(), 0.1)

  @parameterized.parameters((32, 8, 0.25), (32, 128, 4), (17, 6, 1 / 3), (10, 7, 0.7),
                            (9, 20, 20 / 9))
  def test_weights_sum_to_one(self, n_in, n_out, scale):
    for aa in (True, False):
      m = bicubic.weight_matrix(n_in, n_out, scale, antialiasing=aa)
      chex.assert_shape(m, (n_out, n_in))
      np.testing.assert_allclose(m.sum(1), 1.0, rtol=0, atol=1e-14)

  def test_keys_kernel_values(self):
    # Keys' cubic with a = -0.5 at a few points, by hand.
    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    np.testing.assert_allclose(bicubic.cubic(x),
                               [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625])

  def test_halving_without_antialiasing_uses_keys_half_pixel_weights(self):
    # s = 1/2, no antialiasing: u = 2x - 0.5 sits halfway between pixels, so the weights are
    # k(+-0.5) = 9/16 and k(+-1.5) = -1/16. Pixel values 0..15 in a 4x4 grid: output (1, 1)
    # taps rows/cols {0 (mirror of 1), 1, 2, 3} -> 0.4375 per axis, i.e. 4*0.4375 + 0.4375.
    img = np.arange(16.0).reshape(4, 4, 1)
    out = bicubic.imresize(img, 0.5, antialiasing=False)[..., 0]
    np.testing.assert_allclose(out, [[2.1875, 4.3125], [10.6875, 12.8125]], atol=1e-12)


class ReferenceTest(parameterized.TestCase):

  @parameterized.parameters((0.5, None), (1 / 3, None), (0.25, None), (2, None), (3, None),
                            (None, (4, 13)), (None, (11, 3)))
  def test_matches_per_pixel_loop(self, scale, output_shape):
    rng = np.random.default_rng(0)
    img = rng.normal(size=(9, 7, 2))
    out = bicubic.imresize(img, scale=scale, output_shape=output_shape)
    if scale is not None:
      oh, ow, sh, sw = math.ceil(scale * 9), math.ceil(scale * 7), scale, scale
    else:
      (oh, ow), sh, sw = output_shape, output_shape[0] / 9, output_shape[1] / 7
    np.testing.assert_allclose(out, _loop_resize(img, oh, ow, sh, sw), rtol=0, atol=1e-12)

  @parameterized.parameters((3, 0.25), (2, 0.2), (5, 0.3), (3, 0.1), (4, 0.7))
  def test_a_kernel_wider_than_twice_the_image_reflects_again(self, n, scale):
    # The widened kernel (4 / scale taps) reaches past the mirrored copy of an axis of n
    # pixels when 4 / scale > 2 n (all but the last case): MATLAB's aux = [1:n, n:-1:1]
    # indexed modulo 2n, as _taps does.
    img = (np.arange(n * (n + 1), dtype=np.float64).reshape(n, n + 1, 1) % 7) ** 2
    out = bicubic.imresize(img, scale)
    want = _loop_resize(img, math.ceil(scale * n), math.ceil(scale * (n + 1)), scale, scale)
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)

  def test_matches_per_pixel_loop_without_antialiasing(self):
    img = np.random.default_rng(1).normal(size=(12, 9, 1))
    out = bicubic.imresize(img, 0.5, antialiasing=False)
    np.testing.assert_allclose(out, _loop_resize(img, 6, 5, 0.5, 0.5, antialias=False),
                               rtol=0, atol=1e-12)

  @parameterized.parameters(0.25, 0.5, 2, 4)
  def test_interior_matches_pil_bicubic(self, scale):
    # PIL's BICUBIC is also Keys a = -0.5, centre-aligned, support widened by 1/scale when
    # downscaling; it clips (not mirrors) at borders, so compare where no tap is mirrored.
    rng = np.random.default_rng(2)
    img = _smooth_image(rng, (64, 48)) * 255
    out = bicubic.imresize(img[..., None], scale)[..., 0]
    size = (math.ceil(48 * scale), math.ceil(64 * scale))
    pil = np.asarray(Image.fromarray(img.astype(np.float32), 'F').resize(size, Image.BICUBIC),
                     np.float64)
    my, mx = _interior(64, out.shape[0], scale), _interior(48, out.shape[1], scale)
    diff = np.abs(out - pil)[np.ix_(my, mx)]
    # PIL works in float32 (intermediate image and output): about 1e-7 relative.
    self.assertLess(diff.max(), 1e-4)
    self.assertGreater(np.abs(out - pil).max(), 1e-2)  # the borders do differ


class ShapeAndErrorTest(parameterized.TestCase):

  @parameterized.parameters((2, (24, 20)), (4, (48, 40)), (0.5, (6, 5)), (0.25, (3, 3)))
  def test_shapes(self, scale, hw):
    x = np.zeros((2, 12, 10, 3), np.float32)
    out = bicubic.imresize(x, scale)
    chex.assert_shape(out, (2, *hw, 3))
    self.assertEqual(out.dtype, np.float32)
    chex.assert_shape(bicubic.imresize(x[0], scale), (*hw, 3))

  def test_batch_equals_single_images(self):
    x = np.random.default_rng(3).normal(size=(3, 16, 12, 2))
    out = bicubic.imresize(x, 0.25)
    for i in range(3):
      np.testing.assert_allclose(out[i], bicubic.imresize(x[i], 0.25), rtol=0, atol=1e-13)

  def test_lr_crop_batch(self):
    x = np.random.default_rng(4).uniform(-1, 1, (16, 128, 128, 3)).astype(np.float32)
    chex.assert_shape(bicubic.imresize(x, 0.25), (16, 32, 32, 3))

  @parameterized.named_parameters(
      ('rank', np.zeros((4, 4)), {'scale': 2}, 'shape'),
      ('integer', np.zeros((4, 4, 1), np.uint8), {'scale': 2}, 'float'),
      ('nan', np.full((4, 4, 1), np.nan), {'scale': 2}, 'non-finite'),
      ('neither', np.zeros((4, 4, 1)), {}, 'exactly one'),
      ('both', np.zeros((4, 4, 1)), {'scale': 2, 'output_shape': (8, 8)}, 'exactly one'),
      ('zero_scale', np.zeros((4, 4, 1)), {'scale': 0}, 'positive'),
      ('string_scale', np.zeros((4, 4, 1)), {'scale': '2'}, 'positive number'),
      ('bool_scale', np.zeros((4, 4, 1)), {'scale': True}, 'positive number'),
      ('string_size', np.zeros((4, 4, 1)), {'output_shape': (2, 'a')}, 'output_shape'),
      ('int_size', np.zeros((4, 4, 1)), {'output_shape': 5}, 'output_shape'),
      ('bool_size', np.zeros((4, 4, 1)), {'output_shape': (True, 2)}, 'output_shape'),
      ('nan_size', np.zeros((4, 4, 1)), {'output_shape': (np.nan, 2)}, 'output_shape'),
      ('bad_size', np.zeros((4, 4, 1)), {'output_shape': (0, 3)}, 'output_shape'),
      ('bad_size_len', np.zeros((4, 4, 1)), {'output_shape': (3,)}, 'output_shape'),
      ('fractional_size', np.zeros((4, 4, 1)), {'output_shape': (2.5, 3)}, 'output_shape'),
      ('rank_5', np.zeros((1, 1, 4, 4, 1)), {'scale': 2}, r'\[N, H, W, C\]; got shape'),
      ('no_rows', np.zeros((0, 4, 1)), {'output_shape': (2, 2)}, 'at least one row and one'),
      ('no_columns', np.zeros((2, 4, 0, 1)), {'scale': 2}, 'at least one row and one'),
  )
  def test_bad_input(self, images, kwargs, message):
    with self.assertRaisesRegex(ValueError, message):
      bicubic.imresize(images, **kwargs)

  def test_a_scale_far_below_one_pixel_is_refused_before_allocating(self):
    # scale 1e-9 would evaluate 4e9 + 2 kernel taps (about 30 GiB in float64 arrays); a
    # subnormal one infinitely many.
    for scale, taps in ((1e-9, '4,000,000,002'), (1e-309, 'infinitely many')):
      with self.assertRaisesRegex(ValueError, rf'axis of 100 pixels to 1 \(scale {scale:g}\) '
                                  rf'takes {taps} kernel taps .* below 1/100 makes the axis 1 '
                                  'pixel anyway'):
        bicubic.imresize(np.zeros((100, 100, 1)), scale)
    # The limit counts every tap of an axis: 3 rows at scale 0.1 take ceil(4 / 0.1) + 2 =
    # 42 taps for their 1 output row; 4 columns to 2 (scale 0.5) take 2 x (8 + 2) = 20.
    img = (np.arange(12, dtype=np.float64).reshape(3, 4, 1) % 5) ** 2
    with mock.patch.object(bicubic, 'MAX_TAPS', 42):
      np.testing.assert_allclose(bicubic.imresize(img, 0.1), _loop_resize(img, 1, 1, 0.1, 0.1),
                                 rtol=0, atol=1e-12)
    with mock.patch.object(bicubic, 'MAX_TAPS', 41):
      with self.assertRaisesRegex(ValueError, r'axis of 3 pixels to 1 \(scale 0.1\) takes 42 '
                                  r'kernel taps for each output pixel: more than 41 in all'):
        bicubic.imresize(img, 0.1)
    with mock.patch.object(bicubic, 'MAX_TAPS', 6):  # not widened: 4 + 2 taps
      np.testing.assert_allclose(bicubic.imresize(img, 0.1, antialiasing=False),
                                 _loop_resize(img, 1, 1, 0.1, 0.1, antialias=False),
                                 rtol=0, atol=1e-12)
    with mock.patch.object(bicubic, 'MAX_TAPS', 20):
      np.testing.assert_allclose(bicubic.imresize(img, output_shape=(3, 2)),
                                 _loop_resize(img, 3, 2, 1, 0.5), rtol=0, atol=1e-12)
    with mock.patch.object(bicubic, 'MAX_TAPS', 19):  # the 4 columns to 2: 2 x 10 taps
      with self.assertRaisesRegex(ValueError, r'axis of 4 pixels to 2 \(scale 0.5\) takes 10 '
                                  r'kernel taps for each output pixel: more than 19 in all '
                                  r'\(bicubic.MAX_TAPS\)\.$'):  # no 1-pixel advice
        bicubic.imresize(img, output_shape=(3, 2))
    with mock.patch.object(bicubic, 'MAX_TAPS', 17):  # 3 rows kept: 3 x 6 taps, unwidened
      with self.assertRaisesRegex(ValueError, r'axis of 3 pixels to 3 \(scale 1\) takes 6 '
                                  r'kernel taps .*MAX_TAPS\)\.$'):
        bicubic.imresize(img, output_shape=(3, 4))

if __name__ == '__main__':
  absltest.main()
