"""SR generators on zero-padded images (``layers.valid_region``): exact on the valid region,
and one compiled program per bucket of image sizes in evaluation."""

from unittest import mock

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from configs import esrgan
from jaxgan import build, evaluate
from jaxgan import gan as gan_lib
from jaxgan.models import layers, sr

SIZES = ((13, 21), (32, 17), (9, 32))  # (rows, cols) of images padded to 32 x 32
MODELS = {
    'srresnet_x4': lambda: sr.SRResNet(num_blocks=2, features=8, scale=4),
    'rrdbnet_x4': lambda: sr.RRDBNet(num_blocks=1, features=8, growth=4, scale=4),
    'rrdbnet_x2': lambda: sr.RRDBNet(num_blocks=1, features=8, growth=4, scale=2),
    'rrdbnet_x4_scanned': lambda: sr.RRDBNet(num_blocks=2, features=8, growth=4, scale=4,
                                             scan_blocks=True),
}


def random_variables(model, seed: int = 0) -> dict:
  """The model's variables drawn at random: non-zero biases (zero at init), and positive
  BatchNorm variances, so that the padding's values would reach the valid region."""
  rng = np.random.default_rng(seed)
  # Only the shapes and dtypes are read (every value is drawn below): not compiled or run.
  v = jax.eval_shape(lambda k: model.init(k, jnp.zeros((1, 8, 8, 3)), train=False),
                     jax.random.key(0))
  v = jax.tree.map(lambda a: jnp.asarray(rng.normal(0, 0.2, a.shape), a.dtype), v)
  if 'batch_stats' in v:
    v['batch_stats'] = jax.tree.map(lambda a: jnp.abs(a) + 0.5, v['batch_stats'])
  return v


# The references, compiled whole (one program per model and image size, shared by the
# variants: a module compares equal to one with the same fields).
_apply = jax.jit(lambda model, v, x: model.apply(v, x, train=False), static_argnums=0)


class ValidRegionTest(chex.TestCase, parameterized.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*MODELS)
  def test_padded_images_give_the_unpadded_result(self, name):
    model = MODELS[name]()
    v = random_variables(model)

    def padded(v, x, rows, cols):
      with layers.valid_region(rows, cols, x.shape[1], x.shape[2]):
        return model.apply(v, x, train=False)
    padded = self.variant(padded)
    rng = np.random.default_rng(1)
    for rows, cols in SIZES:
      x = rng.uniform(-1, 1, (1, rows, cols, 3)).astype(np.float32)
      xp = np.pad(x, ((0, 0), (0, 32 - rows), (0, 32 - cols), (0, 0)))
      want = np.asarray(_apply(model, v, x))
      s = want.shape[1] // rows
      got = np.asarray(padded(v, xp, rows, cols))
      chex.assert_shape(got, (1, 32 * s, 32 * s, 3))
      scale = np.abs(want).max()
      np.testing.assert_allclose(got[:, :rows * s, :cols * s], want, atol=2e-6 * scale)
      # Without the context the padding's values reach the valid region.
      plain = np.asarray(_apply(model, v, xp))[:, :rows * s, :cols * s]
      self.assertGreater(np.abs(plain - want).max(), 0.01 * scale)

  def test_the_context_masks_each_convolution_input_and_ends_with_it(self):
    x = jnp.ones((1, 6, 6, 4))
    kernel = jnp.ones((3, 3, 4, 2))
    with layers.valid_region(2, 3, 6, 6):
      inside = layers.conv(x, kernel)
    outside = layers.conv(x, kernel)  # after the context: the whole image
    valid = np.zeros((6, 6))
    valid[:2, :3] = 1
    np.testing.assert_array_equal(inside[0, ..., 0], _window_sums(valid))
    np.testing.assert_array_equal(outside[0, ..., 1], _window_sums(np.ones((6, 6))))

  def test_a_strided_layer_is_refused(self):
    x = jnp.ones((1, 8, 8, 4))
    kernel = jnp.ones((3, 3, 4, 4))
    with layers.valid_region(5, 5, 8, 8), self.assertRaisesRegex(
        ValueError, r'input of 4x4 is not a whole multiple of the 8x8 padded image'):
      layers.conv(layers.conv(x, kernel, strides=(2, 2)), kernel)
    # The width alone not a multiple (the rows are): refused too, not masked at a guess.
    with layers.valid_region(4, 3, 8, 4), self.assertRaisesRegex(
        ValueError, r'input of 8x6 is not a whole multiple of the 8x4 padded image'):
      layers.conv(jnp.ones((1, 8, 6, 4)), kernel)


def _window_sums(ones: np.ndarray) -> np.ndarray:
  """A 3 x 3 SAME convolution of 4 channels of ``ones [H, W]`` with a kernel of ones."""
  h, w = ones.shape
  return np.array([[4 * ones[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2].sum()
                    for j in range(w)] for i in range(h)])


class EvaluationTest(chex.TestCase):

  def test_one_program_per_bucket_and_the_exact_result(self):
    # The ESRGAN recipe (the SRGAN generator's exactness is ValidRegionTest's).
    c = esrgan.get_config('small,offline')
    c.model.generator.update(num_blocks=1, features=8)
    if 'growth' in c.model.generator:
      c.model.generator.growth = 4
    gan, pipe = build.build(c)
    state = jax.jit(lambda k: build.init_state(gan, pipe, k))(build.init_key(0))
    # Random generator weights (zero biases at init would hide the padding).
    state = state.replace(g_params=random_variables(gan.generator)['params'])
    run = evaluate.EvalRun(gan, state, pipe, use_ema=False, num_samples=0)
    rng = np.random.default_rng(0)
    # Each program traced: the padded size it was traced for (valid_region's static
    # arguments; the rows and columns are traced values). The jitted function's own
    # _cache_size() was read here before: it counts the C++ fast path's entries, and read
    # 1 for the two programs once in a full run of the suite.
    traced, real_region = [], layers.valid_region
    # The reference compiled whole (one program per size; it opens no valid_region).
    generate = jax.jit(lambda state, lr: gan_lib.generate(gan, state, lr, None, False))

    def region(rows, cols, height, width):
      traced.append((height, width))
      return real_region(rows, cols, height, width)
    with mock.patch.object(evaluate.layers, 'valid_region', region):
      for i, (rows, cols) in enumerate(((13, 21), (30, 7), (32, 32), (40, 9))):
        lr = rng.uniform(-1, 1, (1, rows, cols, 3)).astype(np.float32)
        got = run.generate(lr)
        want = np.clip(np.asarray(generate(state, jnp.asarray(lr))), -1, 1)
        chex.assert_shape(got, (1, 4 * rows, 4 * cols, 3))
        np.testing.assert_allclose(got, want, atol=1e-5, err_msg=f'{rows}x{cols}')
        # 32 x 32 holds the first three; 40 x 9 pads to 64 x 32.
        self.assertEqual(traced, [(32, 32)] if i < 3 else [(32, 32), (64, 32)])


class UnpaddedGeneratorTest(chex.TestCase):

  def test_a_generator_outside_the_paddable_ones_is_run_whole_and_clipped(self):
    # EvalRun.generate of a generator that is not one of sr.PADDABLE runs it at the
    # input's own size and, like the padded path, clips to [-1, 1]: here G(lr) = 3 s x
    # (nearest-neighbour x2, s = 1 a parameter), by hand np.clip(3 * repeat(lr), -1, 1).
    # Kills: the unpadded path's samples left unclipped.
    class Nearest3(nn.Module):
      @nn.compact
      def __call__(self, x, y=None, train=False):
        s = self.param('s', nn.initializers.ones, ())
        return 3.0 * s * jnp.repeat(jnp.repeat(x, 2, axis=1), 2, axis=2)
    gan = gan_lib.GAN(generator=Nearest3(), discriminator=None, objective=None,
                      g_optimizer=None, d_optimizer=None,
                      latent=gan_lib.Latent(conditioning='lowres'))
    params = {'s': jnp.ones(())}
    state = gan_lib.GANState(step=jnp.zeros((), jnp.int32), g_params=params, g_stats={},
                             d_params={}, d_stats={}, g_opt_state=None, d_opt_state=None,
                             ema_params=params)
    run = evaluate.EvalRun(gan, state, pipe=None, use_ema=True, num_samples=0)
    lr = np.random.default_rng(0).uniform(-1, 1, (5, 7, 3)).astype(np.float32)
    got = run.upscale_whole(lr)
    want = np.clip(3.0 * np.repeat(np.repeat(lr, 2, axis=0), 2, axis=1), -1.0, 1.0)
    chex.assert_shape(got, (10, 14, 3))
    np.testing.assert_allclose(got, want, rtol=1e-6)
    self.assertGreater(np.abs(3.0 * lr).max(), 1.5)  # the clip does something


if __name__ == '__main__':
  absltest.main()
