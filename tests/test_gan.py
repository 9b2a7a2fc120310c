"""Tests of the pure train step against an update written out by hand with optax."""

import dataclasses
import functools
import os

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import scipy.stats
from absl.testing import absltest, parameterized

from jaxgan import augment, auxiliary, content, losses, models, penalties
from jaxgan import gan as gan_lib
from tests.test_augment import _apply_draws, _draws, _np_jacobian

Z, B = 4, 8


def _gan(**kw) -> gan_lib.GAN:
  args = dict(
      generator=models.MLPGenerator(features=(16,), output_shape=(2,), batch_norm=False,
                                    output_activation='linear'),
      discriminator=models.MLPDiscriminator(features=(16,), dropout=0.0),
      objective=losses.get('non_saturating'),
      g_optimizer=optax.adam(1e-2), d_optimizer=optax.adam(1e-2),
      latent=gan_lib.Latent(z_dim=Z))
  args.update(kw)
  return gan_lib.GAN(**args)


def _real(n_critic: int = 1, seed: int = 0) -> jnp.ndarray:
  return jnp.asarray(np.random.default_rng(seed).normal(size=(n_critic, B, 2)), jnp.float32)


def _init_state(gan: gan_lib.GAN, key: jax.Array,
                element_shape: tuple[int, ...] = (2,)) -> gan_lib.GANState:
  """``init_state(gan, key, element_shape)`` as one compiled program (eagerly each op
  compiles on its own)."""
  return jax.jit(lambda k: gan_lib.init_state(gan, k, element_shape))(key)


def _jit_step(gan: gan_lib.GAN):
  """``train_step`` of ``gan`` as one compiled program."""
  return jax.jit(lambda s, b, k: gan_lib.train_step(gan, s, b, k))


class _Zeros(nn.Module):
  """A generator of zeros ``[batch, 2]`` (its parameters get gradient 0), of any labels."""

  @nn.compact
  def __call__(self, z, y=None, train=True):
    return 0.0 * nn.Dense(2)(z)


class _Linear(nn.Module):
  """A linear critic ``w . x + b``, ``b`` initialized at ``bias``."""
  bias: float = 0.0

  @nn.compact
  def __call__(self, x, train=True):
    return nn.Dense(1, bias_init=nn.initializers.constant(self.bias))(x)[:, 0]


class _Labelled(nn.Module):
  """A labelled linear critic ``D(x, y) = x . W[y]``, ``W [num_classes, 2]``, of samples
  ``x [batch, 2]`` or of 1x1 images of 2 channels (flattened)."""
  num_classes: int

  @nn.compact
  def __call__(self, x, y, train=True):
    w = self.param('w', nn.initializers.normal(1.0), (self.num_classes, 2))
    return jnp.sum(x.reshape(x.shape[0], 2) * w[y], -1)


class _ConstantBN(nn.Module):
  """G(z) = BN(0 z + 1.5) on 2 features (BatchNorm momentum 0.9): every batch of pre-BN
  activations has mean 1.5 and variance 0."""

  @nn.compact
  def __call__(self, z, train=True):
    h = nn.Dense(2, kernel_init=nn.initializers.zeros,
                 bias_init=nn.initializers.constant(1.5))(z)
    return nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)


class TrainStepTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_hand_written_update(self):
    # SGD: the updates are the gradients themselves (Adam's first step is lr * sign(grad)).
    gan = _gan(g_optimizer=optax.sgd(0.1), d_optimizer=optax.sgd(0.1))
    state = _init_state(gan, jax.random.key(0))
    real = _real()
    key = jax.random.key(1)
    new, metrics = self.variant(lambda s, b, k: gan_lib.train_step(gan, s, b, k))(state, real, key)

    # The same step by hand: documented key schedule, plain jax.grad and optax (as one
    # compiled program).
    G, D = gan.generator, gan.discriminator

    @jax.jit
    def by_hand(state, real, key):
      k_d, k_g = jax.random.split(key, 2)
      k_z, _ = jax.random.split(k_d)
      z = jax.random.normal(jax.random.split(k_z, 3)[0], (B, Z))  # sample_latent's z key
      fake = G.apply({'params': state.g_params}, z)

      def d_loss(p):
        r = D.apply({'params': p}, real[0])
        f = D.apply({'params': p}, fake)
        return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))
      sgd = lambda p, g: jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
      d_params = sgd(state.d_params, jax.grad(d_loss)(state.d_params))

      z2 = jax.random.normal(jax.random.split(jax.random.split(k_g, 3)[0], 3)[0], (B, Z))

      def g_loss(p):
        return jnp.mean(jax.nn.softplus(-D.apply({'params': d_params},
                                                 G.apply({'params': p}, z2))))
      g_params = sgd(state.g_params, jax.grad(g_loss)(state.g_params))
      return d_params, g_params, d_loss(state.d_params), g_loss(state.g_params)
    d_params, g_params, d_loss0, g_loss0 = by_hand(state, real, key)

    chex.assert_trees_all_close(new.d_params, d_params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(new.g_params, g_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics['d_loss'], d_loss0, rtol=1e-5)
    np.testing.assert_allclose(metrics['g_loss'], g_loss0, rtol=1e-5)
    self.assertEqual(int(new.step), 1)

  @chex.variants(with_jit=True, without_jit=True)
  def test_two_critic_updates_by_hand_log_the_last_and_the_generator_sees_the_last_batch(self):
    # n_critic = 2 with different real batches and RSGAN (whose generator loss reads the
    # real logits): the critic metrics are those of the second update, taken at the
    # parameters of the first; the generator's real batch is the last one.
    gan = _gan(n_critic=2, objective=losses.get('rsgan'), g_optimizer=optax.sgd(0.1),
               d_optimizer=optax.sgd(0.1))
    state = _init_state(gan, jax.random.key(0))
    real, key = _real(2, seed=3), jax.random.key(4)
    new, metrics = self.variant(lambda s, b, k: gan_lib.train_step(gan, s, b, k))(state, real, key)

    G, D = gan.generator, gan.discriminator
    keys = jax.random.split(key, 3)  # one per critic update, then the generator's
    noise = lambda k: jax.random.normal(jax.random.split(jax.random.split(k)[0], 3)[0], (B, Z))
    sgd = lambda p, g: jax.tree.map(lambda a, b: a - 0.1 * b, p, g)
    d_params, logged = state.d_params, []
    for i in range(2):
      fake = G.apply({'params': state.g_params}, noise(keys[i]))

      def d_loss(p, x=real[i], fake=fake):
        r, f = D.apply({'params': p}, x), D.apply({'params': p}, fake)
        return jnp.mean(jax.nn.softplus(-(r - f))), jnp.mean(r)
      logged.append(d_loss(d_params))
      d_params = sgd(d_params, jax.grad(lambda p: d_loss(p)[0])(d_params))
    z = jax.random.normal(jax.random.split(jax.random.split(keys[2], 3)[0], 3)[0], (B, Z))

    def g_loss(p):
      f = D.apply({'params': d_params}, G.apply({'params': p}, z))
      return jnp.mean(jax.nn.softplus(-(f - D.apply({'params': d_params}, real[1]))))
    g_params = sgd(state.g_params, jax.grad(g_loss)(state.g_params))

    self.assertGreater(abs(float(logged[0][0] - logged[1][0])), 1e-3)  # the two differ
    np.testing.assert_allclose((metrics['d_loss'], metrics['real_logits']), logged[1],
                               rtol=1e-5)
    chex.assert_trees_all_close(new.d_params, d_params, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics['g_loss'], g_loss(state.g_params), rtol=1e-5)
    chex.assert_trees_all_close(new.g_params, g_params, rtol=1e-5, atol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_generator_terms_match_hand_written_update(self):
    # The generator's total: adversarial_weight * its objective's loss + pixel_weight * E|G-x|
    # + perceptual_weight * E(s phi(G) - s phi(x))^2, phi a stand-in feature map whose
    # target side carries no gradient.
    features = lambda v, x: {'conv5_4': jnp.tanh(x @ v['w'])}
    # SGD: the update is the gradient itself (Adam's first step is lr * sign(grad)).
    gan = _gan(g_optimizer=optax.sgd(0.1), adversarial_weight=0.3, content=content.make(
        features, pixel='l1', pixel_weight=0.7, perceptual_weight=0.5,
        perceptual_layer='conv5_4', perceptual_criterion='mse', perceptual_scale=2.0))
    frozen = {'vgg': {'w': jnp.asarray(np.random.default_rng(5).normal(size=(2, 3)),
                                       jnp.float32)}}
    state = _init_state(gan, jax.random.key(0))
    real, key = _real(), jax.random.key(1)
    new, metrics = self.variant(
        lambda s, b, k, f: gan_lib.train_step(gan, s, b, k, frozen=f))(state, real, key, frozen)

    # By hand, with the updated critic of the step (checked by the test above).
    G, D = gan.generator, gan.discriminator
    k_g = jax.random.split(key, 2)[1]
    z = jax.random.normal(jax.random.split(jax.random.split(k_g, 3)[0], 3)[0], (B, Z))
    w, x = frozen['vgg']['w'], real[0]

    def g_total(p):
      fake = G.apply({'params': p}, z)
      adversarial = jnp.mean(jax.nn.softplus(-D.apply({'params': new.d_params}, fake)))
      pixel = jnp.mean(jnp.abs(fake - x))
      perceptual = jnp.mean((2.0 * jnp.tanh(fake @ w) - 2.0 * jnp.tanh(x @ w)) ** 2)
      return 0.3 * adversarial + 0.7 * pixel + 0.5 * perceptual, (adversarial, pixel,
                                                                   perceptual)
    (total, parts), grad = jax.jit(jax.value_and_grad(g_total, has_aux=True))(state.g_params)
    chex.assert_trees_all_close(new.g_params,
                                jax.tree.map(lambda p, g: p - 0.1 * g, state.g_params, grad),
                                rtol=1e-5, atol=1e-6)
    for name, want in zip(('g_loss', 'pixel_loss', 'perceptual_loss'), parts, strict=True):
      np.testing.assert_allclose(metrics[name], want, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(metrics['g_total'], total, rtol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_augmented_acgan_step_matches_hand_written_update(self):
    # DiffAugment's T on every critic input (reals and fakes in D's update, fakes in G's,
    # each with its own key) and ACGAN's class terms in both losses, by hand, with SGD.
    k_classes = 3

    class Generator(nn.Module):
      @nn.compact
      def __call__(self, z, y, train=True):
        return nn.Dense(2)(jnp.concatenate([z, jax.nn.one_hot(y, k_classes)], -1))

    class Critic(nn.Module):
      @nn.compact
      def __call__(self, x, train=True):
        h = jnp.tanh(nn.Dense(8)(x))
        return nn.Dense(1)(h)[:, 0], {'class_logits': nn.Dense(k_classes)(h)}
    aug = lambda x, k: 2.0 * x + jax.random.uniform(k, x.shape)  # a stand-in T
    gan = _gan(generator=Generator(), discriminator=Critic(), g_optimizer=optax.sgd(0.1),
               d_optimizer=optax.sgd(0.1), augment=aug, adversarial_weight=0.4,
               auxiliary=auxiliary.get('acgan', weight=0.7),
               latent=gan_lib.Latent(conditioning='generator_labels', z_dim=Z,
                                     num_classes=k_classes))
    state = _init_state(gan, jax.random.key(0))
    rng = np.random.default_rng(0)
    batch = {'x': jnp.asarray(rng.normal(size=(1, B, 2)), jnp.float32),
             'y': jnp.asarray(rng.integers(0, k_classes, (1, B)), jnp.int32)}
    key = jax.random.key(1)
    new, metrics = self.variant(lambda s, b, k: gan_lib.train_step(gan, s, b, k))(
        state, batch, key)

    G, D = Generator(), Critic()
    ce = lambda logits, t: -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(B), t])
    t_key = lambda k: jax.random.split(k)[0]  # each critic pass augments with split(k)[0]
    sgd = lambda p, g: jax.tree.map(lambda a, b: a - 0.1 * b, p, g)

    @jax.jit  # the update by hand, as one compiled program
    def by_hand(state, batch, key):
      k_d, k_g = jax.random.split(key)
      k_z, k_loss = jax.random.split(k_d)
      kz, ky, _ = jax.random.split(k_z, 3)
      z, y = jax.random.normal(kz, (B, Z)), jax.random.randint(ky, (B,), 0, k_classes)
      fake = G.apply({'params': state.g_params}, z, y)
      k_real, k_fake, _ = jax.random.split(k_loss, 3)

      def d_loss(p):
        r, r_heads = D.apply({'params': p}, aug(batch['x'][0], t_key(k_real)))
        f, f_heads = D.apply({'params': p}, aug(fake, t_key(k_fake)))
        adversarial = jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))
        aux = 0.7 * (ce(r_heads['class_logits'], batch['y'][0])
                     + ce(f_heads['class_logits'], y))
        return adversarial + aux, (adversarial, aux)
      (_, (d_adv, d_aux)), grad = jax.value_and_grad(d_loss, has_aux=True)(state.d_params)
      d_params = sgd(state.d_params, grad)
      g_kz, _, g_kfake = jax.random.split(k_g, 3)
      kz2, ky2, _ = jax.random.split(g_kz, 3)
      z2, y2 = jax.random.normal(kz2, (B, Z)), jax.random.randint(ky2, (B,), 0, k_classes)

      def g_loss(p):
        f, f_heads = D.apply({'params': d_params}, aug(G.apply({'params': p}, z2, y2),
                                                       t_key(g_kfake)))
        adversarial, aux = jnp.mean(jax.nn.softplus(-f)), 0.7 * ce(f_heads['class_logits'], y2)
        # adversarial_weight weights the objective's term alone, not the class term.
        return 0.4 * adversarial + aux, (adversarial, aux)
      (_, (g_adv, g_aux)), grad = jax.value_and_grad(g_loss, has_aux=True)(state.g_params)
      return d_params, sgd(state.g_params, grad), (d_adv, d_aux, g_adv, g_aux)
    d_params, g_params, (d_adv, d_aux, g_adv, g_aux) = by_hand(state, batch, key)
    chex.assert_trees_all_close(new.d_params, d_params, rtol=1e-5, atol=1e-6)
    chex.assert_trees_all_close(new.g_params, g_params, rtol=1e-5, atol=1e-6)
    for name, want in (('d_loss', d_adv), ('d_acgan', d_aux), ('g_loss', g_adv),
                       ('g_acgan', g_aux)):
      np.testing.assert_allclose(metrics[name], want, rtol=1e-5, err_msg=name)

  def test_n_critic_updates_and_weight_clipping(self):
    gan = _gan(n_critic=3, weight_clip=0.01, objective=losses.get('wasserstein'),
               d_optimizer=optax.rmsprop(5e-2))
    state = _init_state(gan, jax.random.key(0))
    # The initial critic is in the box too (its first gradient is taken there, as in the
    # reference code, which clamps before each critic update): the clip of a plain init.
    plain = _init_state(dataclasses.replace(gan, weight_clip=0.0), jax.random.key(0))
    self.assertGreater(max(float(jnp.abs(x).max()) for x in jax.tree.leaves(plain.d_params)),
                       0.01)
    chex.assert_trees_all_equal(state.d_params, jax.tree.map(
        lambda x: jnp.clip(x, -0.01, 0.01), plain.d_params))
    new, _ = jax.jit(lambda s, b: gan_lib.train_step(gan, s, b, jax.random.key(2)))(
        state, _real(3))
    self.assertEqual(int(optax.tree_utils.tree_get(new.g_opt_state, 'count')), 1)
    leaves = jax.tree.leaves(new.d_params)
    self.assertTrue(all(float(jnp.max(jnp.abs(x))) <= 0.01 + 1e-7 for x in leaves))
    self.assertTrue(any(float(jnp.max(jnp.abs(x))) > 0.009 for x in leaves))

  def test_weight_clipping_follows_each_critic_update(self):
    # Arjovsky et al. 2017, Algorithm 1: the clip follows every critic update, so each
    # gradient is taken in the box. A linear critic w.x + b with the Wasserstein loss and a
    # generator of zeros has the gradient -mean(real) in w and 0 in b, so with SGD the
    # critic is, by hand, w <- clip(w + lr mean(real_i)) for the three critic batches. The
    # first batch pushes w far out of the box, the next two back in: a clip only after the
    # last update (or none) ends elsewhere.
    c, lr = 0.01, 0.1
    gan = _gan(generator=_Zeros(), discriminator=_Linear(), n_critic=3, weight_clip=c,
               objective=losses.get('wasserstein'), d_optimizer=optax.sgd(lr),
               g_optimizer=optax.sgd(0.0))
    state = _init_state(gan, jax.random.key(0))
    means = np.array([[1.0, -2.0], [-0.03, 0.05], [-0.04, 0.02]], np.float32)
    real = jnp.asarray(means[:, None, :] + np.float32([[-1.0, 0.5], [1.0, -0.5]]))
    new, _ = _jit_step(gan)(state, real, jax.random.key(2))
    w = np.asarray(state.d_params['Dense_0']['kernel'][:, 0], np.float64)
    for m in means:
      w = np.clip(w + lr * m, -c, c)
    np.testing.assert_allclose(new.d_params['Dense_0']['kernel'][:, 0], w, atol=1e-7)
    np.testing.assert_allclose(new.d_params['Dense_0']['bias'], state.d_params['Dense_0']['bias'])
    np.testing.assert_allclose(w, [c - 0.007, -c + 0.007], atol=1e-9)  # inside, both sides

  def test_penalty_weight_and_weight_decay_by_hand(self):
    # A linear critic w.x + b, a generator of zeros (fakes at 0), the Wasserstein loss and
    # R1 at weight lam: d_loss + lam R1 = b - mean(w.x_real + b) + lam ||w||^2, so the
    # gradient is -mean(x_real) + 2 lam w in w and 0 in b. With weight decay wd before SGD
    # (optax.add_decayed_weights, which reads the parameters), by hand:
    #   w <- w - lr (-mean(x_real) + 2 lam w + wd w),  b <- b - lr wd b,
    # and the generator (gradient 0 through its zeros) g <- g - lr wd g. The logged
    # penalty is ||w||^2 unweighted, the logits' means mean(w.x_real) + b and b.
    lr, wd = 0.1, 0.2
    decayed = optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr))
    real = _real(1)
    for lam in (10.0, 0.5):
      gan = _gan(generator=_Zeros(), discriminator=_Linear(bias=0.3),
                 objective=losses.get('wasserstein'),
                 penalty=penalties.get('r1'), penalty_weight=lam, d_optimizer=decayed,
                 g_optimizer=decayed)
      state = _init_state(gan, jax.random.key(0))
      new, metrics = _jit_step(gan)(state, real, jax.random.key(2))
      w = np.asarray(state.d_params['Dense_0']['kernel'][:, 0], np.float64)
      b = float(state.d_params['Dense_0']['bias'][0])
      x = np.asarray(real[0], np.float64)
      np.testing.assert_allclose(new.d_params['Dense_0']['kernel'][:, 0],
                                 w - lr * (-x.mean(0) + 2 * lam * w + wd * w), rtol=1e-5)
      np.testing.assert_allclose(new.d_params['Dense_0']['bias'], [b - lr * wd * b], rtol=1e-6)
      chex.assert_trees_all_close(new.g_params, jax.tree.map(lambda g: g * (1 - lr * wd),
                                                             state.g_params), rtol=1e-6)
      np.testing.assert_allclose(metrics['penalty'], w @ w, rtol=1e-5)
      np.testing.assert_allclose(metrics['real_logits'], (x @ w).mean() + b, rtol=1e-5)
      np.testing.assert_allclose(metrics['fake_logits'], b, rtol=1e-6)

  def test_a_labelled_critic_sees_the_real_labels_in_the_penalty_and_generator_step(self):
    # D(x, y) = x . W[y], the reals all of class 0, the fakes (zeros) of drawn classes, the
    # critic frozen (SGD at rate 0). R1 at the real labels (Mescheder et al. eq. 9) is
    # ||W[0]||^2; RSGAN's generator compares D(fake, y_fake) = 0 with D(x_real, y_real).
    k = 3
    gan = _gan(generator=_Zeros(), discriminator=_Labelled(k), objective=losses.get('rsgan'),
               penalty=penalties.get('r1'), penalty_weight=1.0, d_optimizer=optax.sgd(0.0),
               latent=gan_lib.Latent(conditioning='labels', z_dim=Z, num_classes=k))
    state = _init_state(gan, jax.random.key(0))
    batch = {'x': _real(1), 'y': jnp.zeros((1, B), jnp.int32)}
    _, metrics = _jit_step(gan)(state, batch, jax.random.key(4))
    w = np.asarray(state.d_params['w'], np.float64)
    np.testing.assert_allclose(metrics['penalty'], w[0] @ w[0], rtol=1e-5)
    real_logits = np.asarray(batch['x'][0], np.float64) @ w[0]
    want = losses.get('rsgan').generator_loss(jnp.asarray(real_logits, jnp.float32),
                                              jnp.zeros(B))
    np.testing.assert_allclose(metrics['g_loss'], want, rtol=1e-5)

  def test_r1_and_r2_of_a_labelled_critic_take_their_sides_labels(self):
    # R1 (Mescheder et al. eq. 9) at the reals, R2 (eq. 10) at the fakes, of
    # D(x, y) = x . W[y]: mean_i ||W[y_i]||^2 at that side's own labels, with and without
    # DiffAugment (here the identity on 1x1 images of 2 channels); the other side's labels
    # (all 0) would give ||W[0]||^2 = 1.
    k = 3
    w = np.float32([[1, 0], [3, 4], [0, 2]])
    y, zeros = jnp.asarray([1, 2, 1, 1] * (B // 4), jnp.int32), jnp.zeros(B, jnp.int32)
    want = np.mean(np.sum(w[np.asarray(y)] ** 2, -1))
    for name, labels in (('r1', (y, zeros)), ('r2', (zeros, y))):
      for aug in (None, lambda x, key: x):
        labelled = _gan(discriminator=_Labelled(k), penalty=penalties.get(name),
                        augment=aug, latent=gan_lib.Latent(conditioning='labels', z_dim=Z,
                                                           num_classes=k))
        got = gan_lib._penalty(labelled, {'w': jnp.asarray(w)}, {},
                               _real(1)[0].reshape(B, 1, 1, 2), jnp.zeros((B, 1, 1, 2)),
                               *labels, jax.random.key(5))
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=f'{name} {aug}')

  def test_n_critic_runs_one_update_per_real_batch(self):
    gan2 = _gan(n_critic=2, objective=losses.get('wasserstein'))
    state = _init_state(gan2, jax.random.key(0))
    new2, _ = _jit_step(gan2)(state, _real(2), jax.random.key(3))
    adam = optax.tree_utils.tree_get(new2.d_opt_state, 'count')
    self.assertEqual(int(adam), 2)
    with self.assertRaisesRegex(ValueError, r'n_critic=2.*\(1, 8, 2\)'):
      gan_lib.train_step(gan2, state, _real(1), jax.random.key(3))
    # More batches than critic updates: the extra ones would go to the generator alone.
    with self.assertRaisesRegex(ValueError, r'n_critic=1.*\(2, 8, 2\)'):
      gan_lib.train_step(_gan(), _init_state(_gan(), jax.random.key(0)), _real(2),
                         jax.random.key(3))

  @chex.variants(with_jit=True, without_jit=True)
  def test_all_finite_needs_every_float_value_finite(self):
    fn = self.variant(gan_lib.all_finite)
    self.assertTrue(fn({'a': jnp.ones(3), 'i': jnp.arange(2)}))
    self.assertFalse(fn({'a': jnp.ones(3), 'b': jnp.array([1.0, jnp.nan])}))  # one NaN
    self.assertFalse(fn({'a': jnp.array([-jnp.inf]), 'b': jnp.ones(2)}))
    self.assertTrue(fn({'empty': {}, 'i': jnp.arange(3)}))  # nothing that can fail

  def test_ema_with_warmup(self):
    gan = _gan(ema_decay=0.9)
    state = _init_state(gan, jax.random.key(0))
    step = _jit_step(gan)  # compiled once, run at steps 0 and 1
    s1, _ = step(state, _real(), jax.random.key(1))
    # step 0: decay = min(0.9, 1/10) = 0.1
    want = jax.tree.map(lambda e, p: 0.1 * e + 0.9 * p, state.ema_params, s1.g_params)
    chex.assert_trees_all_close(s1.ema_params, want, rtol=1e-6)
    s2, _ = step(s1, _real(seed=1), jax.random.key(2))
    # step 1: decay = min(0.9, 2/11)
    d = 2 / 11
    want = jax.tree.map(lambda e, p: d * e + (1 - d) * p, s1.ema_params, s2.g_params)
    chex.assert_trees_all_close(s2.ema_params, want, rtol=1e-5)
    # step 100: the warm-up's 101/110 is past ema_decay, which caps it (the cap was never
    # reached above: a decay of (1 + t) / (10 + t) alone passed).
    late = s2.replace(step=jnp.asarray(100, s2.step.dtype))
    s3, _ = step(late, _real(seed=2), jax.random.key(3))
    want = jax.tree.map(lambda e, p: 0.9 * e + 0.1 * p, late.ema_params, s3.g_params)
    chex.assert_trees_all_close(s3.ema_params, want, rtol=1e-5)

  @parameterized.parameters('wgan_gp', 'r1')
  def test_lazy_regularization(self, name):
    pen = penalties.get(name)
    # SGD: Adam's first update is ~lr * sign(grad) and would hide the penalty's size.
    sgd = optax.sgd(0.1)
    lazy = _gan(penalty=pen, penalty_weight=3.0, penalty_every=4, d_optimizer=sgd)
    eager = _gan(penalty=pen, penalty_weight=12.0, d_optimizer=sgd)
    plain = _gan(penalty=pen, penalty_weight=0.0, d_optimizer=sgd)
    state = _init_state(lazy, jax.random.key(0))
    key, real = jax.random.key(5), _real()
    lazy_step = _jit_step(lazy)  # compiled once, run at steps 0 and 1
    on, _ = lazy_step(state, real, key)                          # step 0: penalized, 3 * 4
    eager_on = _jit_step(eager)(state, real, key)[0]
    chex.assert_trees_all_close(on.d_params, eager_on.d_params, rtol=1e-5, atol=1e-7)
    odd = state.replace(step=jnp.asarray(1, jnp.int32))       # step 1: not penalized
    off, _ = lazy_step(odd, real, key)
    chex.assert_trees_all_close(off.d_params, _jit_step(plain)(odd, real, key)[0].d_params,
                                rtol=1e-5, atol=1e-7)
    # (The first layer's bias gets no penalty gradient from a ReLU critic: compare all.)
    self.assertFalse(all(np.allclose(a, b) for a, b in zip(
        jax.tree.leaves(on.d_params), jax.tree.leaves(off.d_params), strict=True)))

  @parameterized.parameters(('rsgan', True), ('non_saturating', False))
  def test_relativistic_generator_sees_real_logits(self, name, sees_real):
    # With the critic frozen (SGD at rate 0), shifting the real batch changes G's update for
    # RSGAN, whose generator loss pairs fake with real logits, and not for NS-GAN. (The
    # critic trained on the batch first, so G's update changed for any objective, and a
    # generator loss that ignored the real logits passed.) SGD for G: Adam's first update
    # is ~lr * sign(grad) and would hide a change of magnitude.
    gan = _gan(objective=losses.get(name), g_optimizer=optax.sgd(0.1),
               d_optimizer=optax.sgd(0.0))
    state = _init_state(gan, jax.random.key(0))
    step = _jit_step(gan)  # compiled once, run on both batches
    a, _ = step(state, _real(seed=0), jax.random.key(1))
    real2 = _real(seed=0).at[-1].add(1.0)
    c, _ = step(state, real2, jax.random.key(1))
    chex.assert_trees_all_equal(a.d_params, c.d_params)
    moved = not np.allclose(jax.tree.leaves(a.g_params)[-1], jax.tree.leaves(c.g_params)[-1])
    self.assertEqual(moved, sees_real)

  def test_fused_steps_equal_single_steps(self):
    gan = _gan(generator=models.MLPGenerator(features=(16,), output_shape=(2,), batch_norm=True,
                                             output_activation='linear'))
    state = _init_state(gan, jax.random.key(0))
    batches = jnp.stack([_real(seed=i) for i in range(3)])
    base = jax.random.key(9)
    fused, m = jax.jit(lambda s, b: gan_lib.train_steps(gan, s, b, base))(state, batches)
    s, step = state, _jit_step(gan)  # single steps: one compiled step, run 3 times
    for i in range(3):
      s, _ = step(s, batches[i], jax.random.fold_in(base, i))
    chex.assert_trees_all_close(fused, s, rtol=1e-5, atol=1e-6)
    chex.assert_shape(m['g_loss'], (3,))

  def test_the_ema_starts_at_the_initial_generator_weights(self):
    # Kills: init_state's ema_params = zeros (or any other start): test_ema_with_warmup
    # builds its expectation from state.ema_params, so it follows whatever init gives.
    gan = _gan(ema_decay=0.9)
    state = _init_state(gan, jax.random.key(0))
    chex.assert_trees_all_equal(state.ema_params, state.g_params)
    s1, _ = _jit_step(gan)(state, _real(), jax.random.key(1))
    # step 0: decay min(0.9, 1/10) = 0.1 of the *initial weights*, 0.9 of the new ones.
    want = jax.tree.map(lambda p0, p1: 0.1 * p0 + 0.9 * p1, state.g_params, s1.g_params)
    chex.assert_trees_all_close(s1.ema_params, want, rtol=1e-6)

  @chex.variants(with_jit=True, without_jit=True)
  def test_relativistic_generator_augments_reals_and_fakes_with_their_own_draws(self):
    # RSGAN's generator loss reads the critic's real logits: with DiffAugment the real
    # batch is augmented with split(k_real)[0], the fakes with split(k_fake)[0], where
    # k_z, k_real, k_fake = split(k_g, 3). Kills: the reals augmented with the fakes'
    # key (the same translation/cutout on both sides).
    aug = lambda x, k: 2.0 * x + jax.random.uniform(k, x.shape)  # a stand-in T
    gan = _gan(objective=losses.get('rsgan'), g_optimizer=optax.sgd(0.1), augment=aug)
    state = _init_state(gan, jax.random.key(0))
    real, key = _real(), jax.random.key(1)
    new, metrics = self.variant(lambda s, b, k: gan_lib.train_step(gan, s, b, k))(
        state, real, key)

    G, D = gan.generator, gan.discriminator
    t_key = lambda k: jax.random.split(k)[0]  # each critic pass augments with split(k)[0]
    k_g = jax.random.split(key, 2)[1]
    g_kz, g_kreal, g_kfake = jax.random.split(k_g, 3)
    z = jax.random.normal(jax.random.split(g_kz, 3)[0], (B, Z))

    def g_loss(p):  # with the updated critic of the step (checked by the tests above)
      f = D.apply({'params': new.d_params}, aug(G.apply({'params': p}, z), t_key(g_kfake)))
      r = D.apply({'params': new.d_params}, aug(real[0], t_key(g_kreal)))
      return jnp.mean(jax.nn.softplus(-(f - r)))
    loss, grad = jax.value_and_grad(g_loss)(state.g_params)
    np.testing.assert_allclose(metrics['g_loss'], loss, rtol=1e-5)
    chex.assert_trees_all_close(new.g_params,
                                jax.tree.map(lambda p, g: p - 0.1 * g, state.g_params, grad),
                                rtol=1e-5, atol=1e-6)

  def test_a_lazy_penalty_is_computed_only_on_the_steps_it_is_due(self):
    # penalty_every 4: step 0 computes R1 = E||dD/dx(real)||^2 at the critic it updates
    # (computed here with plain jax.grad); step 1 does not compute it (logs 0), which is
    # what makes lazy regularization cheaper. Kills: the penalty computed on every step and
    # only multiplied by 0 off its steps (same parameters, but no saving, and NaN-prone).
    gan = _gan(penalty=penalties.get('r1'), penalty_weight=3.0, penalty_every=4)
    state = _init_state(gan, jax.random.key(0))
    real, key = _real(), jax.random.key(5)
    step = _jit_step(gan)  # one program for both steps: the cond picks the branch at run time
    _, on = step(state, real, key)
    _, off = step(state.replace(step=jnp.asarray(1, jnp.int32)), real, key)
    D = gan.discriminator
    d = lambda p, x: D.apply({'params': p}, x[None])[0]
    g = jax.jit(jax.vmap(jax.grad(d, argnums=1), (None, 0)))(state.d_params, real[0])
    np.testing.assert_allclose(on['penalty'], np.mean(np.sum(np.asarray(g) ** 2, -1)),
                               rtol=1e-5)
    self.assertGreater(float(on['penalty']), 0.0)
    self.assertEqual(float(off['penalty']), 0.0)

  def test_generator_and_critic_start_from_independent_draws(self):
    # Flax derives each parameter's draw from the init key and the layer's name, so a
    # generator and a critic with a same-named, same-shaped layer (here Dense_0, 2 -> 16,
    # z_dim 2 on 2-D data) would start identical if both were initialized with one key.
    # init_state splits the key: k_g, k_d = split(key). Kills: D initialized with k_g.
    gan = _gan(latent=gan_lib.Latent(z_dim=2))
    state = _init_state(gan, jax.random.key(0))
    g0, d0 = state.g_params['Dense_0']['kernel'], state.d_params['Dense_0']['kernel']
    chex.assert_equal_shape((g0, d0))
    self.assertFalse(np.allclose(g0, d0))
    self.assertLess(abs(np.corrcoef(np.ravel(g0), np.ravel(d0))[0, 1]), 0.7)


class EMAStatisticsTest(chex.TestCase):

  def test_batchnorm_statistics_belong_to_the_ema_weights(self):
    """G(z) = BN(W z + b): with z ~ N(0, I) the pre-BN activations have mean b and variance
    ||W[:, j]||^2 (closed form), here for the EMA weights, not the trained ones."""
    class LinearBN(nn.Module):
      @nn.compact
      def __call__(self, z, train=True):
        h = nn.Dense(3)(z)
        return nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
    gan = _gan(generator=LinearBN())
    state = _init_state(gan, jax.random.key(0), (3,))
    rng = np.random.default_rng(0)
    kernel, bias = rng.normal(size=(Z, 3)), rng.normal(size=3)
    ema = {'Dense_0': {'kernel': jnp.asarray(kernel, jnp.float32),
                       'bias': jnp.asarray(bias, jnp.float32)},
           'BatchNorm_0': state.ema_params['BatchNorm_0']}
    state = state.replace(ema_params=ema)  # trained weights and their stats differ
    stats = jax.jit(lambda s: gan_lib.ema_statistics(gan, s))(state)['BatchNorm_0']
    np.testing.assert_allclose(stats['mean'], bias, atol=0.05)
    np.testing.assert_allclose(stats['var'], (kernel ** 2).sum(0), rtol=0.05)
    self.assertFalse(np.allclose(state.g_stats['BatchNorm_0']['mean'], bias, atol=0.05))
    # generate(use_ema=True) normalizes with such statistics: samples of mean ~0 and
    # variance ~1 per feature (the state's running ones, mean 0 and variance 1, would
    # leave them at b and ||W[:, j]||^2). The trained weights keep their own.
    z = jnp.asarray(rng.normal(size=(4000, Z)), jnp.float32)
    x = np.asarray(jax.jit(lambda s, z: gan_lib.generate(gan, s, z, use_ema=True))(state, z))
    np.testing.assert_allclose(x.mean(0), 0.0, atol=0.1)
    np.testing.assert_allclose(x.var(0), 1.0, rtol=0.1)
    params, g_stats = gan_lib.sampling_weights(gan, state, use_ema=False)
    chex.assert_trees_all_equal((params, g_stats), (state.g_params, state.g_stats))
    # With truncated noise, z_i ~ N(0, 1) truncated to [-1, 1], of variance v (SciPy's
    # closed form, 0.291): the pre-BN variance is v ||W[:, j]||^2, recomputed so for the
    # EMA weights; the trained ones keep their statistics.
    v = scipy.stats.truncnorm.var(-1, 1)
    _, stats = jax.jit(lambda s: gan_lib.sampling_weights(gan, s, True, 1.0))(state)
    np.testing.assert_allclose(stats['BatchNorm_0']['mean'], bias, atol=0.05)
    np.testing.assert_allclose(stats['BatchNorm_0']['var'], v * (kernel ** 2).sum(0), rtol=0.05)
    chex.assert_trees_all_equal(gan_lib.sampling_weights(gan, state, False, 1.0),
                                (state.g_params, state.g_stats))

  def test_ema_statistics_record_exactly_num_batches_batches(self):
    # G(z) = BN(0 z + b): every batch of pre-BN activations has mean b and variance 0, so
    # from the state's running statistics (mean 0, variance 1) k recorded batches give a
    # running mean b (1 - 0.9^k) and variance 0.9^k (BatchNorm momentum 0.9).
    # A loop that recorded one batch fewer (or more) than num_batches fails.
    gan = _gan(generator=_ConstantBN())
    state = _init_state(gan, jax.random.key(0))
    for k in (1, 3):
      record = jax.jit(functools.partial(gan_lib.ema_statistics, gan, num_batches=k,
                                         batch_size=4))
      stats = record(state)['BatchNorm_0']
      np.testing.assert_allclose(stats['mean'], [1.5 * (1 - 0.9 ** k)] * 2, rtol=1e-5,
                                 err_msg=str(k))
      np.testing.assert_allclose(stats['var'], [0.9 ** k] * 2, rtol=1e-5, err_msg=str(k))

  def test_a_generator_of_low_resolution_images_keeps_its_statistics(self):
    # SRResNet's BatchNorm sees low-resolution inputs, not latents: its EMA samples keep
    # the state's running statistics (nothing to recompute them from), and sample.
    gan = _gan(generator=models.SRResNet(num_blocks=1, features=8, scale=2), n_critic=0,
               latent=gan_lib.Latent(conditioning='lowres'))
    state = jax.jit(lambda k: gan_lib.init_state(gan, k, (8, 8, 3), (4, 4, 3)))(
        jax.random.key(0))
    self.assertTrue(state.g_stats)
    self.assertFalse(gan_lib.recomputes_statistics(gan, state))
    self.assertIs(gan_lib.ema_statistics(gan, state), state.g_stats)
    lr = jnp.zeros((2, 4, 4, 3))
    chex.assert_shape(gan_lib.generate(gan, state, lr, None, use_ema=True), (2, 8, 8, 3))


class GeneratorStatisticsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  def test_only_the_generator_update_moves_g_running_statistics(self):
    """G(z) = BN(0 z + b): every batch of pre-BN activations has mean b and variance 0, so
    after k recorded batches BN's running mean is b (1 - 0.9^k) and its variance 0.9^k
    (from 0 and 1). One step with three critic updates records one batch (k = 1), not 4."""
    gan = _gan(generator=_ConstantBN(), g_optimizer=optax.sgd(0.0), n_critic=3)
    state = _init_state(gan, jax.random.key(0))
    step = self.variant(lambda s, b: gan_lib.train_step(gan, s, b, jax.random.key(1)))
    out, _ = step(state, _real(3))
    np.testing.assert_allclose(out.g_stats['BatchNorm_0']['mean'], [0.15, 0.15], rtol=1e-5)
    np.testing.assert_allclose(out.g_stats['BatchNorm_0']['var'], [0.9, 0.9], rtol=1e-5)
    moved = [not np.allclose(a, b) for a, b in zip(jax.tree.leaves(out.d_params),
                                                   jax.tree.leaves(state.d_params),
                                                   strict=True)]
    self.assertTrue(all(moved))  # the critic did train


class DiscriminatorStateTest(chex.TestCase):

  def test_penalty_with_batchnorm_and_dropout_critic(self):
    class Critic(nn.Module):
      @nn.compact
      def __call__(self, x, train=True):
        h = nn.Dense(8)(x)
        h = nn.BatchNorm(use_running_average=not train)(h)
        h = nn.Dropout(0.5, deterministic=not train)(nn.relu(h))
        return nn.Dense(1)(h)[:, 0]
    gan = _gan(discriminator=Critic(), penalty=penalties.get('wgan_gp'), penalty_weight=10.0)
    state = _init_state(gan, jax.random.key(0))
    new, metrics = jax.jit(lambda s, b: gan_lib.train_step(gan, s, b, jax.random.key(1)))(
        state, _real())
    chex.assert_tree_all_finite((new, metrics))
    self.assertGreater(float(metrics['penalty']), 0.0)
    self.assertFalse(np.allclose(new.d_stats['BatchNorm_0']['mean'],
                                 state.d_stats['BatchNorm_0']['mean']))


  def test_penalty_parameter_gradient_takes_the_batchnorm_statistics_as_constants(self):
    # The penalty runs the critic on the running statistics the loss's two train-mode
    # passes just updated; those are functions of the parameters, but the penalty's
    # gradient must not flow through them: it is the gradient of the penalty at fixed
    # statistics (computed here at concrete values, outside any grad).
    class Critic(nn.Module):
      @nn.compact
      def __call__(self, x, train=True):
        h = nn.BatchNorm(use_running_average=not train, momentum=0.5)(nn.Dense(8)(x))
        return nn.Dense(1)(nn.tanh(h))[:, 0]
    gan = _gan(discriminator=Critic(), penalty=penalties.get('r1'), penalty_weight=1.0)
    state = _init_state(gan, jax.random.key(0))
    real = {'x': _real()[0]}
    fake = _real(seed=1)[0] * 2.0 + 1.0
    key = jax.random.key(2)
    # compiled (the scale static: _d_loss leaves the penalty out at 0), not op by op
    grad_at = jax.jit(lambda p, stats, real, fake, key, scale: jax.grad(
        gan_lib._d_loss, argnums=1, has_aux=True)(gan, p, stats, real, fake, None, key,
                                                  scale)[0], static_argnums=5)
    grad = lambda scale: grad_at(state.d_params, state.d_stats, real, fake, key, scale)
    # By hand: the running statistics after the real then the fake train-mode pass
    # (momentum 0.5 from mean 0, var 1; biased batch variance), then R1 = E||dD/dx||^2 of
    # D(x) = tanh(BN(x W1 + b1)) W2 + b2 at those fixed statistics.
    p = jax.tree.map(np.asarray, state.d_params)
    w1, b1 = p['Dense_0']['kernel'].astype(np.float64), p['Dense_0']['bias']
    mean, var = np.zeros(8), np.ones(8)
    for x in (real['x'], fake):
      h = np.asarray(x, np.float64) @ w1 + b1
      mean, var = 0.5 * mean + 0.5 * h.mean(0), 0.5 * var + 0.5 * h.var(0)

    def r1(p):
      def d(x):
        h = x @ p['Dense_0']['kernel'] + p['Dense_0']['bias']
        bn = p['BatchNorm_0']
        h = (h - mean) / np.sqrt(var + 1e-5) * bn['scale'] + bn['bias']
        return jnp.tanh(h) @ p['Dense_1']['kernel'][:, 0] + p['Dense_1']['bias'][0]
      g = jax.vmap(jax.grad(d))(real['x'])
      return jnp.mean(jnp.sum(g ** 2, axis=-1))
    want = jax.jit(jax.grad(r1))(state.d_params)
    chex.assert_trees_all_close(jax.tree.map(jnp.subtract, grad(1.0), grad(0.0)), want,
                                rtol=1e-4, atol=1e-6)


class LinearCritic(nn.Module):
  """``D(x) = <w, x>``: its input gradient is ``w`` everywhere, through ``T`` it is
  ``J_T^T w``."""

  @nn.compact
  def __call__(self, x, train=True):
    w = self.param('w', nn.initializers.normal(1.0), x.shape[1:])
    return jnp.sum(x * w, axis=tuple(range(1, x.ndim)))


class QuadraticCritic(nn.Module):
  """``D(x) = sum(w x^2) / 2``: its input gradient is ``w * x``."""

  @nn.compact
  def __call__(self, x, train=True):
    w = self.param('w', nn.initializers.normal(1.0), x.shape[1:])
    return 0.5 * jnp.sum(w * x ** 2, axis=tuple(range(1, x.ndim)))


class AugmentedPenaltyTest(chex.TestCase):
  """With DiffAugment the penalty differentiates ``D(T(x))`` in the raw images."""

  POLICY = 'color,translation,cutout'

  def _setup(self, name, per_example):
    gan = _gan(discriminator=LinearCritic(), penalty_weight=1.0,
               penalty=penalties.get(name, per_example=per_example),
               augment=augment.make_augment(self.POLICY))
    rng = np.random.default_rng(3)
    real = jnp.asarray(rng.uniform(-1, 1, (4, 6, 6, 2)), jnp.float32)
    fake = jnp.asarray(rng.uniform(-1, 1, (4, 6, 6, 2)), jnp.float32)
    params = LinearCritic().init(jax.random.key(0), real)['params']
    return gan, params, real, fake

  def _jacobians(self, key, n, shape):
    """``J_i`` ``[size, size]`` of the policy for example ``i`` augmented alone with
    ``split(key, n)[i]``, from the NumPy transcription of the official transformations
    (for fixed draws the policy is affine in x)."""
    names = self.POLICY.split(',')
    shape = (1, *shape)
    jacs = []
    for k in jax.random.split(key, n):
      draws = _draws(k, names, shape, {})
      jacs.append(_np_jacobian(lambda v, d=draws: _apply_draws(v, names, d, {}), shape))
    return jacs

  def test_the_penalty_augment_study_columns(self):
    # studies/penalty_augment.r1_values: (R1 at T(x), R1 through T, no augmentation). For a
    # linear critic the first and last are ||w||^2 (its gradient is w everywhere); the
    # second is the mean of ||J_i^T w||^2 over the draws' keys 100, 101.
    import types

    from studies import penalty_augment
    gan, params, real, _ = self._setup('r1', False)
    state = types.SimpleNamespace(d_params=params, d_stats={})
    at, through, plain = penalty_augment.r1_values(gan, state, real, draws=2)
    w = np.asarray(params['w'], np.float64)
    np.testing.assert_allclose((at, plain), (np.sum(w ** 2),) * 2, rtol=1e-5)
    want = np.mean([np.mean([np.sum((j.T @ w.ravel()) ** 2) for j in self._jacobians(
        jax.random.split(jax.random.key(100 + s), 3)[0], 4, w.shape)]) for s in range(2)])
    np.testing.assert_allclose(through, want, rtol=1e-4)
    self.assertGreater(abs(through - at) / at, 0.05)

  def test_the_penalty_augment_study_averages_four_draws(self):
    # Its docstring: R1 through T averaged over 4 draws (keys 100..103) by default.
    import types

    from studies import penalty_augment
    gan, params, real, _ = self._setup('r1', False)
    state = types.SimpleNamespace(d_params=params, d_stats={})
    _, through, _ = penalty_augment.r1_values(gan, state, real)
    w = np.asarray(params['w'], np.float64)
    want = np.mean([np.mean([np.sum((j.T @ w.ravel()) ** 2) for j in self._jacobians(
        jax.random.split(jax.random.key(100 + s), 3)[0], 4, w.shape)]) for s in range(4)])
    np.testing.assert_allclose(through, want, rtol=1e-4)

  def test_the_penalty_augment_study_takes_r1_at_the_penaltys_own_draws(self):
    # A critic D(x) = sum(w x^2) / 2 has input gradient w * x, so R1 at T(x) is the mean of
    # ||w * T_i(x_i)||^2, T_i the draws the penalty takes for real example i
    # (split(split(key, 3)[0], n)[i]; NumPy transcription), and with no augmentation the
    # mean of ||w * x_i||^2.
    import types

    from studies import penalty_augment
    gan = _gan(discriminator=QuadraticCritic(), penalty_weight=1.0,
               penalty=penalties.get('r1'), augment=augment.make_augment(self.POLICY))
    real = jnp.asarray(np.random.default_rng(3).uniform(-1, 1, (4, 6, 6, 2)), jnp.float32)
    params = QuadraticCritic().init(jax.random.key(0), real)['params']
    state = types.SimpleNamespace(d_params=params, d_stats={})
    at, _, plain = penalty_augment.r1_values(gan, state, real, draws=2)
    names, w, x = self.POLICY.split(','), np.asarray(params['w'], np.float64), np.asarray(real)
    want = np.mean([[np.sum((w * _apply_draws(x[i:i + 1], names, _draws(
        k, names, (1, *x.shape[1:]), {}), {})[0]) ** 2) for i, k in enumerate(
            jax.random.split(jax.random.split(jax.random.key(100 + s), 3)[0], 4))]
        for s in range(2)])
    np.testing.assert_allclose(at, want, rtol=1e-4)
    np.testing.assert_allclose(plain, np.mean(np.sum((w * x) ** 2, axis=(1, 2, 3))), rtol=1e-5)

  def test_the_penalty_augment_study_trains_each_length_and_keeps_no_run(self):
    """``python -m studies.penalty_augment --steps=1``: one DiffAugment digits run with R1
    (weight 1, every step) and the full policy, one row per policy; the R1 columns are
    read on the trained critic, the last column is their ratio, and the temporary run is
    removed."""
    import contextlib
    import io
    import sys
    import tempfile
    from unittest import mock

    from jaxgan import train
    from studies import penalty_augment
    runs, real_train = [], train.train_and_evaluate

    def recorded(config, workdir):
      runs.append((config.augment, config.num_steps, config.penalty.name,
                   config.penalty.weight, config.penalty.every, workdir))
      return real_train(config, workdir)
    out = io.StringIO()
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(tempfile, 'tempdir', tmp), \
        mock.patch.object(train, 'train_and_evaluate', recorded), \
        mock.patch.object(sys, 'argv', ['penalty_augment', '--steps=1']), \
        contextlib.redirect_stdout(out):
      penalty_augment.main()
      self.assertEqual(os.listdir(tmp), [])
    self.assertEqual([r[:5] for r in runs], [('color,translation,cutout', 1, 'r1', 1.0, 1)])
    self.assertTrue(runs[0][5].startswith(tmp))
    rows = [line.strip('|').split('|') for line in out.getvalue().splitlines()
            if line.startswith('| 1 |')]
    self.assertEqual([r[1].strip() for r in rows], list(penalty_augment.POLICIES))
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    self.assertTrue(np.all(np.isfinite(values)) and np.all(values[:, :3] > 0))
    np.testing.assert_allclose(values[:, 2], values[0, 2])  # no augmentation: one value
    np.testing.assert_allclose(values[:, 3], values[:, 0] / values[:, 1], rtol=2e-3, atol=6e-3)

  def test_the_penalty_augment_study_refuses_bad_lengths(self):
    import contextlib
    import io
    import sys
    from unittest import mock

    from studies import penalty_augment
    for steps in ('1,x', '0', '2,-1', ''):
      err = io.StringIO()
      with mock.patch.object(sys, 'argv', ['penalty_augment', f'--steps={steps}']), \
          contextlib.redirect_stderr(err), self.assertRaises(SystemExit):
        penalty_augment.main()
      self.assertIn(f"--steps must be comma-separated integers >= 1; got '{steps}'",
                    err.getvalue())

  @parameterized.product(name=('r1', 'r2', 'wgan_gp'), per_example=(False, True))
  def test_gradient_through_the_augmentation_matches_numpy(self, name, per_example):
    gan, params, real, fake = self._setup(name, per_example)
    key = jax.random.key(5)
    got = jax.jit(lambda p: gan_lib._penalty(gan, p, {}, real, fake, None, None, key))(params)
    k_real, k_fake, _ = jax.random.split(key, 3)
    w = np.asarray(params['w'], np.float64)
    norms = np.asarray([np.linalg.norm(j.T @ w.ravel()) for j in
                        self._jacobians(k_fake if name == 'r2' else k_real, 4, w.shape)])
    want = np.mean((norms - 1.0) ** 2) if name == 'wgan_gp' else np.mean(norms ** 2)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    # Not the gradient at the augmented points, which is w for every example.
    plain = float(jnp.sum(params['w'] ** 2))
    plain = (np.sqrt(plain) - 1.0) ** 2 if name == 'wgan_gp' else plain
    self.assertGreater(abs(float(got) - plain) / plain, 0.05)

  def test_parameter_gradient_matches_numpy(self):
    gan, params, real, fake = self._setup('r1', False)
    key = jax.random.key(6)
    g = jax.jit(jax.grad(lambda p: gan_lib._penalty(gan, p, {}, real, fake, None, None,
                                                    key)))(params)
    # R1 = mean_i ||J_i^T w||^2, so its gradient in w is mean_i 2 J_i J_i^T w.
    w = np.asarray(params['w'], np.float64).ravel()
    jacs = self._jacobians(jax.random.split(key, 3)[0], 4, real.shape[1:])
    want = np.mean([2 * j @ (j.T @ w) for j in jacs], axis=0)
    np.testing.assert_allclose(np.asarray(g['w']).ravel(), want, rtol=1e-4, atol=1e-6)


class StepRulesTest(chex.TestCase):
  """Rules of the train step that the tests above leave open: which generator the critic
  plays, small EMA decays, float32 fakes of a bfloat16 generator, and the InfoGAN
  estimate's heads."""

  def test_an_ema_decay_of_0_keeps_the_ema_at_the_current_weights_and_small_ones_cap_at_once(self):
    # ema_decay = 0: decay min(0, (1 + t) / (10 + t)) = 0, so after each step the EMA is
    # the generator's new weights (the documented "0: the EMA equals the current weights";
    # generate() samples the EMA by default). Kills: an EMA left at its start when the
    # decay is 0.
    gan = _gan(ema_decay=0.0)
    state = _init_state(gan, jax.random.key(0))
    step = _jit_step(gan)
    for i in range(2):
      new, _ = step(state, _real(seed=i), jax.random.key(i))
      self.assertFalse(np.allclose(jax.tree.leaves(new.g_params)[0],
                                   jax.tree.leaves(state.g_params)[0]))
      chex.assert_trees_all_close(new.ema_params, new.g_params, rtol=1e-6, atol=1e-7)
      state = new
    # A small decay (0.05) is below the warm-up's 1/10 from step 0: it caps it at once.
    gan = _gan(ema_decay=0.05)
    state = _init_state(gan, jax.random.key(0))
    new, _ = _jit_step(gan)(state, _real(), jax.random.key(1))
    want = jax.tree.map(lambda e, p: 0.05 * e + 0.95 * p, state.ema_params, new.g_params)
    chex.assert_trees_all_close(new.ema_params, want, rtol=1e-6, atol=1e-7)

  def test_the_critic_and_its_penalty_see_float32_fakes_of_a_bfloat16_generator(self):
    # G's output is cast to float32 before anything else sees it: with a bfloat16
    # generator and a float32 linear critic D(x) = w . x + b, R2 = E||dD/dx(fake)||^2 is
    # ||w||^2 to float32 precision (by hand in float64). A gradient taken in bfloat16
    # fakes comes back in bfloat16: w rounded to its 8 significant bits (here 1.4e-4 off).
    # Kills: the training fakes left in the generator's dtype.
    class BF16(nn.Module):
      @nn.compact
      def __call__(self, z, train=True):
        return nn.Dense(2, dtype=jnp.bfloat16)(z)
    gan = _gan(generator=BF16(), discriminator=_Linear(), penalty=penalties.get('r2'),
               penalty_weight=1.0, d_optimizer=optax.sgd(0.0))
    state = _init_state(gan, jax.random.key(0))
    w = np.asarray(state.d_params['Dense_0']['kernel'][:, 0], np.float64)
    w_bf16 = np.asarray(jnp.asarray(w, jnp.bfloat16), np.float64)
    self.assertGreater(abs(w_bf16 @ w_bf16 - w @ w) / (w @ w), 1e-4)  # the test can tell
    _, metrics = _jit_step(gan)(state, _real(), jax.random.key(1))
    np.testing.assert_allclose(metrics['penalty'], w @ w, rtol=1e-6)

  def test_the_infogan_estimate_is_logged_on_the_fakes_q_heads(self):
    # The logged bound log K - CE(Q(G(z, c)), c) is Q's on the generated images. With a
    # generator of zeros and Q's categorical logits 5 (x_0, -x_0), the fakes' logits are 0:
    # a uniform Q, whose bound is 0 (log 2 - log 2). The reals (x_0 ~ N(0, 1)) would give
    # Q confident logits scored against the fakes' codes, far from 0.
    # Kills: the estimate computed on the real images' heads.
    class Q(nn.Module):
      @nn.compact
      def __call__(self, x, train=True):
        cat = 5.0 * jnp.stack([x[:, 0], -x[:, 0]], -1)
        return nn.Dense(1)(x)[:, 0], {'categorical_logits': cat,
                                      'continuous_mean': jnp.zeros((x.shape[0], 1))}
    gan = _gan(generator=_Zeros(), discriminator=Q(), auxiliary=auxiliary.get('infogan'),
               latent=gan_lib.Latent('codes', z_dim=Z, num_categorical=2, num_continuous=1))
    state = _init_state(gan, jax.random.key(0))
    _, metrics = _jit_step(gan)(state, _real(), jax.random.key(1))
    np.testing.assert_allclose(metrics['infogan_mi_categorical'], 0.0, atol=1e-6)

  def test_the_critic_trains_on_fakes_of_the_current_generator_not_its_ema(self):
    # G(z) = c (a learned constant), a linear critic w . x + b, the Wasserstein loss and
    # SGD: the critic's gradient is c - mean(x_real) in w, so by hand
    # w <- w - lr (c - mean(x_real)) and the logged fake logits are w . c + b, with c the
    # generator's current weights. The state's EMA (here far from them, as after a decay
    # from another start) must not make the fakes. Kills: the critic's fakes drawn from
    # the EMA weights.
    class Const(nn.Module):
      @nn.compact
      def __call__(self, z, train=True):
        c = self.param('c', nn.initializers.normal(1.0), (2,))
        return jnp.broadcast_to(c, (z.shape[0], 2))
    lr = 0.1
    gan = _gan(generator=Const(), discriminator=_Linear(bias=0.2), ema_decay=0.9,
               objective=losses.get('wasserstein'), d_optimizer=optax.sgd(lr))
    state = _init_state(gan, jax.random.key(0))
    state = state.replace(ema_params={'c': state.g_params['c'] + 5.0})
    real = _real()
    new, metrics = _jit_step(gan)(state, real, jax.random.key(1))
    c = np.asarray(state.g_params['c'], np.float64)
    w = np.asarray(state.d_params['Dense_0']['kernel'][:, 0], np.float64)
    x = np.asarray(real[0], np.float64)
    np.testing.assert_allclose(new.d_params['Dense_0']['kernel'][:, 0],
                               w - lr * (c - x.mean(0)), rtol=1e-5)
    np.testing.assert_allclose(metrics['fake_logits'], w @ c + 0.2, rtol=1e-5)


if __name__ == '__main__':
  absltest.main()
