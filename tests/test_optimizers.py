"""Tests of jaxgan.optimizers: optax by name, weight clipping as a projection."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest

from jaxgan import optimizers


class OptimizersTest(chex.TestCase):

  def test_adam_by_name_equals_optax(self):
    params = {'w': jnp.asarray([1.0, -2.0, 3.0])}
    grads = {'w': jnp.asarray([0.5, 0.1, -0.3])}
    ours = optimizers.get('adam', learning_rate=0.1, b1=0.5, b2=0.9)
    ref = optax.adam(0.1, b1=0.5, b2=0.9)
    a, _ = ours.update(grads, ours.init(params), params)
    b, _ = ref.update(grads, ref.init(params), params)
    chex.assert_trees_all_close(a, b)
    # Adam's first step is -lr * sign(g) (up to eps): a closed form, not optax's output.
    np.testing.assert_allclose(a['w'], -0.1 * np.sign(grads['w']), rtol=1e-5)

  def test_bad_names_and_arguments(self):
    with self.assertRaisesRegex(ValueError, 'adamx.*adam, adamw, rmsprop, sgd'):
      optimizers.get('adamx', learning_rate=1.0)
    with self.assertRaisesRegex(TypeError, "'rmsprop' has no argument.*b1.*it takes: "
                                           'learning_rate, decay'):
      optimizers.get('rmsprop', learning_rate=1e-3, b1=0.5)
    with self.assertRaisesRegex(TypeError, 'needs argument.*learning_rate'):
      optimizers.get('sgd')


class WeightClippingTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_clip_weights(self):
    rng = np.random.default_rng(0)
    params = {'dense': {'kernel': jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
                        'bias': jnp.asarray(rng.normal(size=4), jnp.float32)},
              'out': jnp.asarray(rng.normal(size=2) * 0.001, jnp.float32)}
    clipped = self.variant(lambda p: optimizers.clip_weights(p, 0.01))(params)
    want = jax.tree.map(lambda x: np.clip(np.asarray(x), -0.01, 0.01), params)
    chex.assert_trees_all_close(clipped, want)


if __name__ == '__main__':
  absltest.main()
