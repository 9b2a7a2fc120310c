"""Tests of jaxgan.augment against NumPy re-implementations of the official DiffAugment code.

The references follow github.com/mit-han-lab/data-efficient-gans ``DiffAugment_pytorch.py``
formula by formula (index grids into a 1-padded image, clamped hole indices), in NHWC.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import test_util as jtu
from scipy import stats

from jaxgan import augment

KEY = jax.random.key(0)


def _images(seed, shape=(4, 8, 8, 3)):
  return np.random.default_rng(seed).uniform(-1.0, 1.0, shape).astype(np.float32)


# ---------------------------------------------------------------------------
# NumPy references, written from the official code (float64).


def np_brightness(x, shift):
  return x + shift[:, None, None, None]


def np_saturation(x, factor):
  mean = x.mean(axis=3, keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def np_contrast(x, factor):
  mean = x.mean(axis=(1, 2, 3), keepdims=True)
  return (x - mean) * factor[:, None, None, None] + mean


def np_color(x, brightness, saturation, contrast):
  return np_contrast(np_saturation(np_brightness(x, brightness), saturation), contrast)


def np_translation(x, offsets):
  """rand_translation: gather from the image padded by one zero, indices clamped."""
  b, h, w, _ = x.shape
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  grid_b = np.arange(b)[:, None, None]
  grid_x = np.clip(np.arange(h)[None, :, None] + offsets[:, 0, None, None] + 1, 0, h + 1)
  grid_y = np.clip(np.arange(w)[None, None, :] + offsets[:, 1, None, None] + 1, 0, w + 1)
  return padded[grid_b, grid_x, grid_y]


def np_cutout(x, centres, ratio):
  """rand_cutout: zero the clamped hole grid around ``centres`` (the official 'offset')."""
  b, h, w, _ = x.shape
  size = int(h * ratio + 0.5), int(w * ratio + 0.5)
  grid_b = np.arange(b)[:, None, None]
  grid_x = np.clip(np.arange(size[0])[None, :, None] + centres[:, 0, None, None] - size[0] // 2,
                   0, h - 1)
  grid_y = np.clip(np.arange(size[1])[None, None, :] + centres[:, 1, None, None] - size[1] // 2,
                   0, w - 1)
  mask = np.ones((b, h, w))
  mask[grid_b, grid_x, grid_y] = 0
  return x * mask[..., None]


def _np_jacobian(linear_fn, shape):
  """Jacobian of an affine NumPy map: columns ``fn(e_k) - fn(0)``, shape [out, in]."""
  n = int(np.prod(shape))
  zero = linear_fn(np.zeros(shape))
  cols = [(linear_fn(np.eye(n)[k].reshape(shape)) - zero).ravel() for k in range(n)]
  return np.stack(cols, axis=1)


def _f64(a):
  return np.asarray(a, np.float64)


def _draws(key, names, shape, ratios):
  """The draws of each transformation of a policy, transformation i from split(key, n)[i]."""
  b, h, w, _ = shape
  draws = []
  for name, k in zip(names, jax.random.split(key, len(names)), strict=True):
    if name == 'color':
      draws.append({n: _f64(v) for n, v in augment.sample_color(k, b).items()})
    elif name == 'translation':
      draws.append(np.asarray(augment.sample_translation(k, b, h, w,
                                                         ratios.get(name, 0.125))))
    else:
      draws.append(np.asarray(augment.sample_cutout(k, b, h, w, ratios.get(name, 0.5))))
  return draws


def _apply_draws(x, names, draws, ratios):
  y = _f64(x)
  for name, d in zip(names, draws, strict=True):
    if name == 'color':
      y = np_color(y, d['brightness'], d['saturation'], d['contrast'])
    elif name == 'translation':
      y = np_translation(y, d)
    else:
      y = np_cutout(y, d, ratios.get(name, 0.5))
  return y


# ---------------------------------------------------------------------------


class ColorTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_adjustments_match_numpy(self):
    x = _images(1)
    rng = np.random.default_rng(2)
    shift, sat, con = (rng.uniform(lo, hi, 4).astype(np.float32)
                       for lo, hi in ((-0.5, 0.5), (0.0, 2.0), (0.5, 1.5)))
    for fn, ref, draw in ((augment.adjust_brightness, np_brightness, shift),
                          (augment.adjust_saturation, np_saturation, sat),
                          (augment.adjust_contrast, np_contrast, con)):
      out = self.variant(fn)(x, draw)
      chex.assert_shape(out, x.shape)
      np.testing.assert_allclose(out, ref(_f64(x), _f64(draw)), rtol=1e-5, atol=1e-6)

  def test_closed_forms(self):
    x = _images(3)
    ones, zeros = np.ones(4, np.float32), np.zeros(4, np.float32)
    # Factor 1 is the identity for saturation and contrast; shift 0 for brightness.
    np.testing.assert_allclose(augment.adjust_contrast(x, ones), x, atol=1e-6)
    np.testing.assert_allclose(augment.adjust_saturation(x, ones), x, atol=1e-6)
    np.testing.assert_allclose(augment.adjust_brightness(x, zeros), x, atol=0)
    # Saturation 0 gives every channel the pixel's channel mean; contrast 0 the image mean.
    gray = np.broadcast_to(x.mean(axis=3, keepdims=True), x.shape)
    np.testing.assert_allclose(augment.adjust_saturation(x, zeros), gray, atol=1e-6)
    flat = np.broadcast_to(x.mean(axis=(1, 2, 3), keepdims=True), x.shape)
    np.testing.assert_allclose(augment.adjust_contrast(x, zeros), flat, atol=1e-6)
    # Brightness adds the same value to every pixel of an example.
    out = augment.adjust_brightness(x, np.array([0.5, -0.5, 0.25, 0.0], np.float32))
    np.testing.assert_allclose((out - x).reshape(4, -1).min(1), [0.5, -0.5, 0.25, 0.0], atol=1e-6)
    np.testing.assert_allclose((out - x).reshape(4, -1).max(1), [0.5, -0.5, 0.25, 0.0], atol=1e-6)

  def test_linear_jacobians_are_analytic(self):
    # Per example, d saturation / dx = f I + (1 - f) (1/C) 1_C 1_C^T per pixel, and
    # d contrast / dx = f I + (1 - f) (1/N) 1 1^T, N = H W C; brightness has Jacobian I.
    x = _images(4, (1, 3, 2, 3))
    n, c = x.size, 3
    for fn, factor, linear_part in (
        (augment.adjust_saturation, 0.3,
         lambda f: f * np.eye(n) + (1 - f) / c * np.kron(np.eye(n // c), np.ones((c, c)))),
        (augment.adjust_contrast, 1.4,
         lambda f: f * np.eye(n) + (1 - f) / n * np.ones((n, n))),
        (augment.adjust_brightness, 0.2, lambda f: np.eye(n))):
      jac = jax.jacrev(lambda v, fn=fn, factor=factor: fn(v, jnp.array([factor])))(x)
      np.testing.assert_allclose(np.asarray(jac).reshape(n, n), linear_part(factor), atol=1e-6)

  def test_sampling_ranges_and_distributions(self):
    draws = augment.sample_color(jax.random.key(7), 20000)
    for name, (lo, hi) in (('brightness', (-0.5, 0.5)), ('saturation', (0.0, 2.0)),
                           ('contrast', (0.5, 1.5))):
      d = np.asarray(draws[name], np.float64)
      chex.assert_shape(d, (20000,))
      self.assertGreaterEqual(d.min(), lo, name)
      self.assertLess(d.max(), hi, name)
      p = stats.kstest(d, stats.uniform(loc=lo, scale=hi - lo).cdf).pvalue
      self.assertGreater(p, 1e-3, f'{name} is not U[{lo}, {hi}): KS p = {p}')
    # The three draws are independent of each other.
    corr = np.corrcoef(np.stack([np.asarray(draws[k]) for k in draws]))
    self.assertLess(np.abs(corr - np.eye(3)).max(), 0.05)

  @chex.variants(with_jit=True, without_jit=True)
  def test_rand_color_uses_its_draws_in_order(self):
    x = _images(5)
    key = jax.random.key(11)
    d = {k: _f64(v) for k, v in augment.sample_color(key, 4).items()}
    out = self.variant(augment.rand_color)(x, key)
    np.testing.assert_allclose(out, np_color(_f64(x), d['brightness'], d['saturation'],
                                             d['contrast']), rtol=1e-5, atol=1e-5)


class TranslationTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_numpy_for_every_offset(self):
    # Offsets from -H to H (and beyond the image) on a non-square image.
    h, w = 6, 5
    offsets = np.array([(i, j) for i in range(-h - 1, h + 2) for j in (-w, -2, 0, 1, w + 3)],
                       np.int32)
    x = _images(6, (len(offsets), h, w, 2))
    out = self.variant(augment.translate)(x, offsets)
    np.testing.assert_array_equal(out, np_translation(x, offsets))

  def test_one_hot_pixel_moves_by_the_offset(self):
    h, w = 8, 6
    for (p, q), (tx, ty) in (((3, 2), (1, -2)), ((0, 0), (-1, -1)), ((7, 5), (2, 1)),
                             ((4, 1), (0, 0)), ((2, 2), (-6, 0)), ((5, 3), (6, 0))):
      x = np.zeros((1, h, w, 1), np.float32)
      x[0, p, q, 0] = 1.0
      out = np.asarray(augment.translate(x, np.array([[tx, ty]])))
      expected = np.zeros_like(x)
      if 0 <= p - tx < h and 0 <= q - ty < w:
        expected[0, p - tx, q - ty, 0] = 1.0
      np.testing.assert_array_equal(out, expected, err_msg=f'pixel {(p, q)} offset {(tx, ty)}')

  def test_zero_fill(self):
    x = np.ones((1, 8, 8, 3), np.float32)
    out = np.asarray(augment.translate(x, np.array([[2, -3]])))
    self.assertEqual(out[0, 6:].sum() + out[0, :, :3].sum(), 0.0)  # shifted-in rows/cols
    self.assertTrue(np.all(out[0, :6, 3:] == 1.0))

  def test_bounds_round_half_up(self):
    # int(size / 8 + 0.5), unlike size // 8 of the first release: 12 -> 2, 11 -> 1, 32 -> 4.
    self.assertEqual(augment.translation_bounds(12, 11), (2, 1))
    self.assertEqual(augment.translation_bounds(32, 64), (4, 8))
    self.assertEqual(augment.translation_bounds(12, 20, ratio=0.25), (3, 5))

  def test_sampling_range_and_distribution(self):
    offsets = np.asarray(augment.sample_translation(jax.random.key(3), 6000, 12, 20))
    chex.assert_shape(offsets, (6000, 2))
    self.assertEqual(offsets.dtype, np.int32)
    for axis, s in ((0, 2), (1, 3)):  # int(12/8 + .5) = 2 rows, int(20/8 + .5) = 3 columns
      values, counts = np.unique(offsets[:, axis], return_counts=True)
      np.testing.assert_array_equal(values, np.arange(-s, s + 1))
      self.assertGreater(stats.chisquare(counts).pvalue, 1e-3)
    self.assertLess(abs(np.corrcoef(offsets.T)[0, 1]), 0.05)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0.125, 0.25)
  def test_rand_translation_uses_its_draws(self, ratio):
    x = _images(8, (16, 12, 10, 3))
    key = jax.random.key(4)
    offsets = np.asarray(augment.sample_translation(key, 16, 12, 10, ratio))
    out = self.variant(lambda x, k: augment.rand_translation(x, k, ratio))(x, key)
    np.testing.assert_array_equal(out, np_translation(x, offsets))


class CutoutTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters((5, 5), (6, 4), (7, 8), (9, 6))
  def test_matches_numpy_for_every_centre(self, h, w):
    # Every centre the sampler can draw, 0 .. side - k % 2, for odd and even holes k.
    size = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
    centres = np.array([(i, j) for i in range(h + 1 - size[0] % 2)
                        for j in range(w + 1 - size[1] % 2)], np.int32)
    x = _images(9, (len(centres), h, w, 2))
    out = self.variant(lambda x, c: augment.cut_out(x, c, size))(x, centres)
    np.testing.assert_array_equal(out, np_cutout(x, centres, 0.5))

  def test_zeroes_exactly_the_rectangle_clipped(self):
    x = np.ones((3, 8, 8, 1), np.float32)
    centres = np.array([[4, 4], [0, 0], [8, 7]], np.int32)  # hole 4x4: rows c-2 .. c+1
    out = np.asarray(augment.cut_out(x, centres, (4, 4)))[..., 0]
    expected = np.ones((3, 8, 8), np.float32)
    expected[0, 2:6, 2:6] = 0
    expected[1, 0:2, 0:2] = 0
    expected[2, 6:8, 5:8] = 0
    np.testing.assert_array_equal(out, expected)

  def test_hole_outside_the_image_zeroes_nothing(self):
    # Centres the sampler never draws: the hole is intersected with the image (the official
    # clamp would zero the border row or column instead).
    x = np.ones((2, 6, 6, 1), np.float32)
    out = augment.cut_out(x, np.array([[-2, 3], [3, 8]], np.int32), (2, 2))
    np.testing.assert_array_equal(out, x)

  def test_size_rounds_half_up(self):
    self.assertEqual(augment.cutout_size(32, 31), (16, 16))
    self.assertEqual(augment.cutout_size(9, 7), (5, 4))  # int(4.5 + .5) = 5, int(3.5 + .5) = 4
    self.assertEqual(augment.cutout_size(10, 10, ratio=0.25), (3, 3))

  def test_sampling_range_and_distribution(self):
    # 10 x 8 image: hole 5 (odd) x 4 (even): row centre in 0..9, column centre in 0..8.
    centres = np.asarray(augment.sample_cutout(jax.random.key(5), 6000, 10, 8))
    chex.assert_shape(centres, (6000, 2))
    for axis, high in ((0, 9), (1, 8)):
      values, counts = np.unique(centres[:, axis], return_counts=True)
      np.testing.assert_array_equal(values, np.arange(0, high + 1))
      self.assertGreater(stats.chisquare(counts).pvalue, 1e-3)

  @chex.variants(with_jit=True, without_jit=True)
  def test_rand_cutout_uses_its_draws(self):
    x = _images(10, (16, 9, 12, 3))
    key = jax.random.key(6)
    centres = np.asarray(augment.sample_cutout(key, 16, 9, 12))
    out = self.variant(augment.rand_cutout)(x, key)
    np.testing.assert_array_equal(out, np_cutout(x, centres, 0.5))


class PolicyTest(chex.TestCase):

  def _numpy_policy(self, x, key, names, ratios=None):
    """The documented key scheme: transformation i gets split(key, n)[i]."""
    return _apply_draws(x, names, _draws(key, names, x.shape, ratios or {}), ratios or {})

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters('color,translation,cutout', 'cutout,color', 'translation',
                            'translation,cutout,translation')
  def test_matches_numpy_chain(self, policy):
    x = _images(11, (6, 8, 12, 3))
    out = self.variant(augment.make_augment(policy))(x, KEY)
    np.testing.assert_allclose(out, self._numpy_policy(x, KEY, policy.split(',')),
                               rtol=1e-5, atol=1e-5)

  def test_specs_set_ratios(self):
    x = _images(12, (4, 16, 16, 3))
    policy = 'translation(ratio=0.25), cutout(ratio=0.25)'
    out = jax.jit(lambda x, k: augment.augment(x, k, policy))(x, KEY)
    ref = self._numpy_policy(x, KEY, ['translation', 'cutout'],
                             {'translation': 0.25, 'cutout': 0.25})
    np.testing.assert_allclose(out, ref, atol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_empty_policy_is_identity(self):
    x = _images(13)
    for policy in ('', ' ', ','):
      np.testing.assert_array_equal(self.variant(augment.make_augment(policy))(x, KEY), x)

  def test_keys(self):
    x = np.broadcast_to(_images(14, (1, 8, 8, 3)), (8, 8, 8, 3))
    fn = jax.jit(augment.make_augment('color,translation,cutout'))
    a, b, c = fn(x, KEY), fn(x, KEY), fn(x, jax.random.key(1))
    np.testing.assert_array_equal(a, b)
    self.assertGreater(float(jnp.abs(a - c).max()), 0.1)
    # Identical inputs: every example of the batch gets its own draws.
    flat = np.asarray(a).reshape(8, -1)
    for i in range(8):
      for j in range(i):
        self.assertGreater(np.abs(flat[i] - flat[j]).max(), 1e-3, (i, j))
    # The old uint32 keys work as well.
    np.testing.assert_array_equal(fn(x, jax.random.PRNGKey(3)), fn(x, jax.random.PRNGKey(3)))

  def test_vmap_equals_loop(self):
    xs = _images(15, (3, 4, 8, 8, 3))
    keys = jax.random.split(KEY, 3)
    fn = jax.jit(augment.make_augment('color,translation,cutout'))
    batched = jax.jit(jax.vmap(fn))(xs, keys)
    looped = jnp.stack([fn(xs[i], keys[i]) for i in range(3)])
    chex.assert_trees_all_close(batched, looped, rtol=1e-6, atol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_apply_each_gives_example_i_its_own_key(self):
    x = _images(18, (5, 8, 8, 3))
    keys = jax.random.split(KEY, 5)
    names = ['color', 'translation', 'cutout']
    out = self.variant(lambda v, k: augment.apply_each(augment.make_augment(','.join(names)),
                                                       v, k))(x, keys)
    want = np.concatenate([self._numpy_policy(x[i:i + 1], keys[i], names) for i in range(5)])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    with self.assertRaisesRegex(ValueError, r'one key per example: got keys of shape \(4,\) '
                                            r'for images of shape \(5, 8, 8, 3\)'):
      augment.apply_each(augment.make_augment('cutout'), x, keys[:4])
    # A raw key is [2] uint32: one key, not two, for a batch of 2; raw [batch, 2] keys work.
    with self.assertRaisesRegex(ValueError, r'one key per example: got keys of shape \(2,\)'):
      augment.apply_each(augment.make_augment('cutout'), x[:2], jax.random.PRNGKey(0))
    raw = jax.random.split(jax.random.PRNGKey(1), 5)
    np.testing.assert_allclose(
        augment.apply_each(augment.make_augment('cutout'), x, raw),
        np.concatenate([self._numpy_policy(x[i:i + 1], raw[i], ['cutout']) for i in range(5)]),
        rtol=1e-5, atol=1e-5)

  def test_jacobian_equals_numpy_and_check_grads(self):
    # For a fixed key the policy is affine in the images; its Jacobian is the reference's.
    x = _images(16, (2, 4, 5, 2))
    policy = 'color,translation,cutout'
    fn = augment.make_augment(policy)
    names = policy.split(',')
    jac = np.asarray(jax.jit(jax.jacrev(lambda v: fn(v, KEY)))(x)).reshape(x.size, x.size)
    draws = _draws(KEY, names, x.shape, {})
    ref = _np_jacobian(lambda v: _apply_draws(v, names, draws, {}), x.shape)
    np.testing.assert_allclose(jac, ref, atol=1e-5)
    jtu.check_grads(jax.jit(lambda v: fn(v, KEY)), (jnp.asarray(x),), order=2, modes=['rev'],
                    eps=1e-2, atol=1e-2, rtol=1e-2)

  def test_gradient_reaches_the_generator(self):
    # A linear "generator" G(w) = tanh(w z); the loss sum(D(T(G(w)))) with D linear.
    rng = np.random.default_rng(17)
    z = jnp.asarray(rng.normal(size=(4, 5)), jnp.float32)
    d = jnp.asarray(rng.normal(size=(8 * 8 * 3,)), jnp.float32)
    fn = augment.make_augment('color,translation,cutout')

    def loss(w):
      images = jnp.tanh(z @ w).reshape(4, 8, 8, 3)
      return jnp.sum(fn(images, KEY).reshape(4, -1) @ d)

    w = jnp.asarray(rng.normal(size=(5, 8 * 8 * 3)) * 0.3, jnp.float32)
    g = jax.jit(jax.grad(loss))(w)
    chex.assert_tree_all_finite(g)
    self.assertGreater(float(jnp.abs(g).sum()), 1.0)
    # Directional derivative against a central difference (float32, step 1e-2).
    v = jnp.asarray(rng.normal(size=w.shape), jnp.float32)
    f = jax.jit(loss)
    numeric = (f(w + 1e-2 * v) - f(w - 1e-2 * v)) / 2e-2
    np.testing.assert_allclose(jnp.vdot(g, v), numeric, rtol=2e-2)

  def test_bfloat16_stays_bfloat16_and_close(self):
    x = _images(18)
    fn = jax.jit(augment.make_augment('color,translation,cutout'))
    out = fn(jnp.asarray(x, jnp.bfloat16), KEY)
    self.assertEqual(out.dtype, jnp.bfloat16)
    chex.assert_tree_all_finite(out)
    np.testing.assert_allclose(np.asarray(out, np.float32), fn(x, KEY), atol=6e-2)

  def test_unknown_name_lists_valid_names(self):
    with self.assertRaisesRegex(ValueError, "'crop'.*color, translation, cutout"):
      augment.make_augment('color,crop')
    with self.assertRaisesRegex(TypeError, 'size.*it takes: ratio'):
      augment.make_augment('cutout(size=4)')
    # Commas inside a transformation's parentheses separate its arguments, not entries.
    with self.assertRaisesRegex(TypeError, "'translation' has no argument.*size.*it takes: "
                                'ratio'):
      augment.make_augment('translation(ratio=0.25, size=2)')
    x = _images(14, (4, 16, 16, 3))
    np.testing.assert_array_equal(augment.make_augment('color,translation(ratio=0.25,)')(x, KEY),
                                  augment.make_augment('color,translation(ratio=0.25)')(x, KEY))
    self.assertEqual(augment.names(), ['color', 'translation', 'cutout'])

  def test_bad_policies_ratios_and_dtypes_are_refused(self):
    # A negative ratio shifted every example by the same +15 px (translation) or cut
    # nothing (cutout); a list was read as 'colorcutout'; int images lost the brightness.
    for spec in ('translation(ratio=-0.5)', 'cutout(ratio=1.5)', 'translation(ratio=2)'):
      with self.assertRaisesRegex(TypeError, r'ratio must lie in \[0, 1\]'):
        augment.make_augment(spec)
    for policy in (['color', 'cutout'], None):
      with self.assertRaisesRegex(TypeError, r"A DiffAugment policy is a string such as "
                                  r"'color,translation,cutout'"):
        augment.make_augment(policy)
    with self.assertRaisesRegex(ValueError, 'images must be floating point.*int32'):
      augment.make_augment('color')(jnp.zeros((2, 8, 8, 3), jnp.int32), KEY)
    augment.make_augment('translation(ratio=0.0),cutout(ratio=1.0)')  # the bounds are fine

  def test_bad_shapes_name_the_shape(self):
    with self.assertRaisesRegex(ValueError, r'\(8, 8, 3\)'):
      augment.augment(jnp.zeros((8, 8, 3)), KEY, 'color')
    with self.assertRaisesRegex(ValueError, r'\(4, 2\).*\(4, 3\)'):
      augment.translate(jnp.zeros((4, 8, 8, 3)), jnp.zeros((4, 3), jnp.int32))
    # Whole pixels: a cast would have moved by (1, 0) for (1.7, -0.5).
    with self.assertRaisesRegex(ValueError, 'offsets must be integers.*float32'):
      augment.translate(jnp.zeros((1, 8, 8, 3)), jnp.asarray([[1.7, -0.5]]))
    with self.assertRaisesRegex(ValueError, 'centres must be integers.*float32'):
      augment.cut_out(jnp.zeros((1, 8, 8, 3)), jnp.asarray([[2.5, 3.0]]), (2, 2))
    chex.assert_trees_all_equal(  # any integer dtype is fine
        augment.translate(jnp.ones((1, 3, 3, 1)), np.array([[1, 0]], np.int64)),
        augment.translate(jnp.ones((1, 3, 3, 1)), jnp.array([[1, 0]], jnp.int32)))
    with self.assertRaisesRegex(ValueError, r'\(4,\).*\(5,\)'):
      augment.adjust_contrast(jnp.zeros((4, 8, 8, 3)), jnp.ones(5))
    # One value per example, not a column (which would broadcast to [4, 4, 8, 8, 3]).
    with self.assertRaisesRegex(ValueError, r'shift must have shape \(batch,\) = \(4,\).*'
                                r'got shape \(4, 1\)'):
      augment.adjust_brightness(jnp.zeros((4, 8, 8, 3)), jnp.zeros((4, 1)))


if __name__ == '__main__':
  absltest.main()
