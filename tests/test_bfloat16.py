"""Mixed precision: bfloat16 activations, float32 parameters, optimizer states and losses."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl.testing import absltest

from configs import toy2d
from jaxgan import build, losses, models, penalties
from jaxgan import gan as gan_lib


def _conv_critic():
  return models.DCGANDiscriminator(width=8, num_layers=2, norm='layer', dtype=jnp.bfloat16)


class BFloat16Test(chex.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.real = jnp.asarray(rng.uniform(-1, 1, (8, 28, 28, 1)), jnp.float32)
    self.fake = jnp.asarray(rng.uniform(-1, 1, (8, 28, 28, 1)), jnp.float32)
    self.critic = _conv_critic()
    self.params = self.critic.init(jax.random.key(0), self.real[:1], train=False)

  def test_every_objective_and_penalty_is_finite_on_a_bf16_conv_critic(self):
    critic_fn = lambda x: self.critic.apply(self.params, x, train=False)
    r, f = critic_fn(self.real), critic_fn(self.fake)
    self.assertEqual(r.dtype, jnp.float32)  # the critic returns float32 logits
    for name in losses.names():
      obj = losses.get(name)
      values = (obj.discriminator_loss(r, f), obj.generator_loss(r, f))
      self.assertTrue(all(v.dtype == jnp.float32 for v in values), name)
      chex.assert_tree_all_finite(values)
    # The step's form (summed logits) for each penalty, and the per-example form once.
    for name, per_example in [(n, False) for n in penalties.names()[1:]] + [('r1', True)]:
      penalty = penalties.get(name, per_example=per_example)

      def value(p, penalty=penalty):
        return penalty(lambda x: self.critic.apply(p, x, train=False), self.real, self.fake,
                       jax.random.key(1))
      value, grad = jax.jit(jax.value_and_grad(value))(self.params)
      self.assertEqual(value.dtype, jnp.float32, name)
      chex.assert_tree_all_finite((value, grad))
      self.assertGreater(float(value), 0.0, name)

  def test_a_bf16_train_step_keeps_float32_state(self):
    g = models.DCGANGenerator(image_size=28, channels=1, width=8, dtype=jnp.bfloat16)
    gan = gan_lib.GAN(generator=g, discriminator=self.critic,
                      objective=losses.get('wasserstein'), g_optimizer=optax.adam(1e-3),
                      d_optimizer=optax.adam(1e-3), latent=gan_lib.Latent(z_dim=8),
                      penalty=penalties.get('wgan_gp'), penalty_weight=10.0)
    state = gan_lib.init_state(gan, jax.random.key(0), (28, 28, 1))
    new, metrics = jax.jit(lambda s, b: gan_lib.train_step(gan, s, b, jax.random.key(2)))(
        state, {'x': self.real[None]})
    for tree in (new.g_params, new.d_params, new.g_opt_state, new.d_opt_state, new.ema_params):
      self.assertTrue(all(x.dtype in (jnp.float32, jnp.int32) for x in jax.tree.leaves(tree)))
    self.assertTrue(all(v.dtype == jnp.float32 for v in metrics.values()))
    chex.assert_tree_all_finite((new, metrics))
    x = gan_lib.generate(gan, new, jnp.zeros((2, 8)))
    self.assertEqual(x.dtype, jnp.float32)  # samples are handed out as float32

  def test_config_dtype_reaches_every_module(self):
    c = toy2d.get_config()
    c.dtype = 'bfloat16'
    gan, _ = build.build(c)
    self.assertEqual((gan.generator.dtype, gan.discriminator.dtype),
                     (jnp.bfloat16, jnp.bfloat16))
    c.dtype = 'float16'
    with self.assertRaisesRegex(ValueError, "config.dtype must be one of float32, bfloat16; "
                                            "got 'float16'"):
      build.build(c)


if __name__ == '__main__':
  absltest.main()
