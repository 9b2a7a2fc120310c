"""Tests of the 28 px cGAN / ACGAN / InfoGAN models (jaxgan.models.conditional)."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan.models import conditional as cond
from tests.test_blocks import assert_running_statistics_move_a_tenth, sigma_paths

B, K, N_CONT, Z = 4, 3, 2, 16


def _key(seed: int):
  # RBG keys: initializing with threefry keys compiles one hash per parameter (slow on
  # CPU); the initial values are random either way.
  return jax.random.key(seed, impl='rbg')


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _codes(cat, cont):
  return {'categorical': jnp.asarray(cat, jnp.int32), 'continuous': jnp.asarray(cont)}


Z_IN = jax.random.normal(jax.random.key(0), (B, Z))
X_IN = jax.random.uniform(jax.random.key(1), (B, 28, 28, 1), minval=-1.0, maxval=1.0)
Y_IN = jnp.array([0, 1, 2, 1], jnp.int32)
CODES = _codes([0, 2, 1, 1], jax.random.uniform(jax.random.key(2), (B, N_CONT), minval=-1.0,
                                                maxval=1.0))

# name -> (module, inputs); small widths.
MODELS = {
    'cgan_g': (cond.ConditionalGenerator(K, width=8, embed_dim=4), (Z_IN, Y_IN)),
    'cgan_g_cbn': (cond.ConditionalGenerator(K, width=8, embed_dim=4, conditional_bn=True),
                   (Z_IN, Y_IN)),
    'projection_spectral_d': (cond.ConditionalDiscriminator(K, width=8, hidden=32),
                              (X_IN, Y_IN)),
    'projection_none_d': (cond.ConditionalDiscriminator(K, norm='none', width=8, hidden=32),
                          (X_IN, Y_IN)),
    'concat_layer_d': (cond.ConditionalDiscriminator(K, conditioning='concat', norm='layer',
                                                     width=8, hidden=32), (X_IN, Y_IN)),
    'acgan_d': (cond.ACGANDiscriminator(K, width=8, hidden=32), (X_IN,)),
    'infogan_g': (cond.InfoGANGenerator(K, N_CONT, width=8, hidden=32), (Z_IN, CODES)),
    'infogan_d': (cond.InfoGANDiscriminator(K, N_CONT, width=8, hidden=32, q_hidden=16),
                  (X_IN,)),
}
GENERATORS = ('cgan_g', 'cgan_g_cbn', 'infogan_g')


@functools.cache
def _variables(name: str):
  module, inputs = MODELS[name]
  return module.init(_key(3), *inputs)


@functools.cache
def _apply(name: str, train: bool):
  """Jitted ``apply`` of model ``name`` (cached, so each compiles once per file); in
  training mode it returns ``(outputs, batch_stats updates)``."""
  module, _ = MODELS[name]
  if train:
    return jax.jit(lambda v, *a: module.apply(v, *a, train=True, mutable=['batch_stats']))
  return jax.jit(lambda v, *a: module.apply(v, *a, train=False))


def _replace_last_two(inputs):
  """The batch with its last two examples replaced by copies of its first two."""
  return jax.tree.map(lambda t: jnp.concatenate([t[:2], t[:2]], 0), inputs)


def _trunk_params(cin, w, h, norm_params):
  """conv 4x4 cin->w, conv 4x4 w->2w, Dense 7*7*2w -> h, plus the norms' parameters."""
  return 16 * cin * w + w + 16 * w * 2 * w + 2 * w + 49 * 2 * w * h + h + norm_params


class ConditionalModelsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*MODELS)
  def test_shapes(self, name):
    module, inputs = MODELS[name]
    out = self.variant(lambda v, *a: module.apply(v, *a, train=False))(_variables(name),
                                                                        *inputs)
    if name in GENERATORS:
      chex.assert_shape(out, (B, 28, 28, 1))
      self.assertTrue(bool(jnp.all(jnp.abs(out) <= 1.0)))
      return
    logits, heads = out if isinstance(out, tuple) else (out, {})
    chex.assert_shape(logits, (B,))
    self.assertEqual(logits.dtype, jnp.float32)
    want = {'acgan_d': {'class_logits': (B, K)},
            'infogan_d': {'categorical_logits': (B, K), 'continuous_mean': (B, N_CONT)}
            }.get(name, {})
    self.assertEqual(jax.tree.map(jnp.shape, heads), want)
    for h in heads.values():
      self.assertEqual(h.dtype, jnp.float32)

  def test_parameter_counts(self):
    w, e, h, q = 8, 4, 32, 16
    f = 49 * 2 * w  # units of G's first Dense
    counts = {name: _count(_variables(name)['params']) for name in MODELS}
    # embed; Dense [z, e] -> f; BN(f); ConvT 4x4 2w -> w; BN(w); ConvT 4x4 w -> 1.
    g_body = (Z + e) * f + f + 16 * 2 * w * w + w + 16 * w + 1
    self.assertEqual(counts['cgan_g'], K * e + g_body + 2 * f + 2 * w)
    self.assertEqual(counts['cgan_g_cbn'], K * e + g_body + K * (2 * f + 2 * w))
    head = h + 1
    self.assertEqual(counts['projection_spectral_d'], _trunk_params(1, w, h, 0) + head + K * h)
    self.assertEqual(counts['projection_none_d'], _trunk_params(1, w, h, 0) + head + K * h)
    # concat: the image's 1 channel plus K one-hot channels; LayerNorm after conv2 and Dense.
    self.assertEqual(counts['concat_layer_d'],
                     _trunk_params(1 + K, w, h, 2 * 2 * w + 2 * h) + head)
    self.assertEqual(counts['acgan_d'],
                     _trunk_params(1, w, h, 2 * 2 * w + 2 * h) + head + h * K + K)
    # InfoGAN G: Dense [z, one-hot, cont] -> h; BN(h); Dense h -> f; BN(f); then as above.
    self.assertEqual(counts['infogan_g'],
                     (Z + K + N_CONT) * h + h + 2 * h + h * f + f + 2 * f
                     + 16 * 2 * w * w + w + 2 * w + 16 * w + 1)
    # InfoGAN D: trunk (BN), adversarial Dense, Q: Dense h -> q, BN(q), Dense q -> K, q -> n.
    self.assertEqual(counts['infogan_d'],
                     _trunk_params(1, w, h, 2 * 2 * w + 2 * h) + head
                     + h * q + q + 2 * q + q * K + K + q * N_CONT + N_CONT)

  def test_paper_sized_infogan(self):
    # Chen et al. 2016, Table 1 (MNIST), with z 62, 10 categories and 2 continuous codes.
    g = jax.eval_shape(lambda: cond.InfoGANGenerator().init(
        _key(0), jnp.zeros((2, 62)), _codes([0, 1], jnp.zeros((2, 2)))))
    d = jax.eval_shape(lambda: cond.InfoGANDiscriminator().init(_key(0),
                                                                jnp.zeros((2, 28, 28, 1))))
    want_g = (74 * 1024 + 1024 + 2 * 1024 + 1024 * 6272 + 6272 + 2 * 6272
              + 16 * 128 * 64 + 64 + 2 * 64 + 16 * 64 + 1)
    want_d = (16 * 64 + 64 + 16 * 64 * 128 + 128 + 2 * 128 + 6272 * 1024 + 1024 + 2 * 1024
              + 1024 + 1 + 1024 * 128 + 128 + 2 * 128 + 128 * 10 + 10 + 128 * 2 + 2)
    self.assertEqual((_count(g['params']), _count(d['params'])), (want_g, want_d))
    # Leaky ReLUs of slope 0.1 in D and Q (Appendix C.1), as the infogan config builds it.
    from jaxgan import models
    self.assertEqual(models.get('infogan')[1].negative_slope, 0.1)

  def test_a_conditional_generator_of_no_classes_is_refused_with_or_without_labels(self):
    for y in (Y_IN, None):
      with self.assertRaisesRegex(ValueError, r'ConditionalGenerator needs num_classes > 0; '
                                  r'got 0\.'):
        cond.ConditionalGenerator(0).init(_key(0), Z_IN, y)

  def test_the_trunk_s_leaky_relus_have_slope_0_2_by_default(self):
    # DCGAN's 0.2: with the Dense's kernel zeroed and its bias -1, phi = leaky_relu(-1).
    trunk = cond.DigitTrunk(width=2, hidden=3, norm='none')
    v = trunk.init(_key(0), X_IN)
    dense = [k for k in v['params'] if k.startswith('Dense')][0]
    params = {**v['params'], dense: {'kernel': jnp.zeros_like(v['params'][dense]['kernel']),
                                     'bias': -jnp.ones((3,))}}
    np.testing.assert_allclose(trunk.apply({**v, 'params': params}, X_IN), -0.2 * np.ones((B, 3)),
                               rtol=1e-6)

  def test_codes_with_another_key_are_refused(self):
    # A misspelt or extra code ('continous', 'style') would be silently ignored.
    info = cond.InfoGANGenerator(K, N_CONT, width=8, hidden=32)
    for extra in ('continous', 'style'):
      with self.assertRaisesRegex(ValueError, rf"needs codes .*got dict \[.*'{extra}'"):
        info.init(_key(0), Z_IN, {**CODES, extra: jnp.zeros((B, N_CONT))})

  def test_an_infogan_discriminator_of_no_categories_is_refused(self):
    # Its Q head would predict 0 categories: an InfoGAN MI term of nothing.
    for k, n in ((0, 2), (3, -1)):
      with self.assertRaisesRegex(ValueError, 'InfoGANDiscriminator needs num_categories >= 1 '
                                  'and num_continuous >= 0'):
        cond.InfoGANDiscriminator(k, n, width=8, hidden=32, q_hidden=16).init(_key(0), X_IN)

  def test_default_sized_cgan(self):
    # The defaults: 10 classes, a 32-d label embedding, width 64 (7x7x128 after the Dense),
    # and D's 1024-unit trunk with the projection head; z of 100.
    f = 49 * 128
    g = jax.eval_shape(lambda: cond.ConditionalGenerator().init(
        _key(0), jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32)))
    d = jax.eval_shape(lambda: cond.ConditionalDiscriminator().init(
        _key(0), jnp.zeros((2, 28, 28, 1)), jnp.zeros((2,), jnp.int32)))
    want_g = 10 * 32 + 132 * f + f + 2 * f + 16 * 128 * 64 + 64 + 2 * 64 + 16 * 64 + 1
    want_d = _trunk_params(1, 64, 1024, 0) + 1024 + 1 + 10 * 1024
    self.assertEqual((_count(g['params']), _count(d['params'])), (want_g, want_d))

  @parameterized.parameters('cgan_g', 'cgan_g_cbn', 'projection_spectral_d', 'concat_layer_d')
  def test_labels_change_the_output(self, name):
    module, (a, y) = MODELS[name]
    run = _apply(name, name in GENERATORS)  # G in training mode: BN rescales the N(0, 0.02)
    # init's small activations, which running averages at their initial values do not
    v = _variables(name)
    out0, out1 = run(v, a, y), run(v, a, (y + 1) % K)
    if name in GENERATORS:
      out0, out1 = out0[0], out1[0]
    self.assertGreater(float(jnp.max(jnp.abs(out0 - out1))), 1e-4)
    if name.endswith('_d'):  # every logit depends on its label
      self.assertGreater(float(jnp.min(jnp.abs(out0 - out1))), 1e-6)

  def test_infogan_codes_change_the_output(self):
    run, v = _apply('infogan_g', True), _variables('infogan_g')
    base = run(v, Z_IN, CODES)[0]
    other_cat = _codes((CODES['categorical'] + 1) % K, CODES['continuous'])
    # (New values per sample: a shift common to the batch is removed by training-mode BN.)
    other_cont = _codes(CODES['categorical'], jax.random.uniform(jax.random.key(5), (B, N_CONT),
                                                                 minval=-1.0, maxval=1.0))
    for codes in (other_cat, other_cont):
      diff = jnp.abs(run(v, Z_IN, codes)[0] - base).reshape(B, -1).max(axis=1)
      self.assertGreater(float(diff.min()), 1e-4)

  def test_bad_labels_and_codes(self):
    key = _key(0)
    g, d = cond.ConditionalGenerator(K, width=8), cond.ConditionalDiscriminator(K, width=8)
    with self.assertRaisesRegex(ValueError, r'ConditionalGenerator is class-conditional'):
      g.init(key, Z_IN)
    with self.assertRaisesRegex(ValueError, r'integer labels y of shape \[4\]'):
      g.init(key, Z_IN, Y_IN[:2])
    with self.assertRaisesRegex(ValueError, 'integer labels'):
      d.init(key, X_IN, Y_IN.astype(jnp.float32))
    with self.assertRaisesRegex(ValueError, r'ConditionalDiscriminator is class-conditional'):
      d.init(key, X_IN)
    with self.assertRaisesRegex(ValueError, r'ACGANDiscriminator takes no labels'):
      cond.ACGANDiscriminator(K).init(key, X_IN, Y_IN)
    with self.assertRaisesRegex(ValueError, r'InfoGANDiscriminator takes no codes'):
      cond.InfoGANDiscriminator(K).init(key, X_IN, CODES)
    info = cond.InfoGANGenerator(K, N_CONT, width=8, hidden=32)
    with self.assertRaisesRegex(ValueError, r"needs codes y = \{'categorical'"):
      info.init(key, Z_IN)
    with self.assertRaisesRegex(ValueError, r"needs codes .*\['categorical'\]"):
      info.init(key, Z_IN, {'categorical': Y_IN})
    with self.assertRaisesRegex(ValueError, r"codes\['continuous'\] must have shape \[4, 2\]"):
      info.init(key, Z_IN, _codes(Y_IN, jnp.zeros((B, 3))))
    with self.assertRaisesRegex(ValueError, r"codes\['categorical'\] must be integers"):
      info.init(key, Z_IN, {'categorical': jnp.zeros(B), 'continuous': jnp.zeros((B, 2))})

  def test_labels_out_of_range_are_refused(self):
    # Labels >= K gave NaN through an embedding, negative ones wrapped to K - 1, and the
    # concatenating critic read them as an all-zero one-hot: now a clear error, outside jit.
    key = _key(0)
    g, d = cond.ConditionalGenerator(K, width=8), cond.ConditionalDiscriminator(K, width=8)
    info = cond.InfoGANGenerator(K, N_CONT, width=8, hidden=32)
    for bad, lo, hi in ((Y_IN.at[0].set(K), 1, K), (Y_IN.at[1].set(-1), -1, K - 1)):
      with self.assertRaisesRegex(ValueError, rf'ConditionalGenerator has {K} classes: labels '
                                  rf'y must lie in \[0, {K}\); got values from {lo} to {hi}'):
        g.init(key, Z_IN, bad)
      with self.assertRaisesRegex(ValueError, r'labels y must lie in'):
        d.init(key, X_IN, bad)
      with self.assertRaisesRegex(ValueError, r"codes\['categorical'\] must lie in"):
        info.init(key, Z_IN, _codes(bad, jnp.zeros((B, N_CONT))))
    variables = g.init(key, Z_IN, Y_IN)  # in range: fine, and under jit nothing is checked
    out = jax.jit(lambda v, y: g.apply(v, Z_IN, y, train=False))(variables, Y_IN)
    chex.assert_shape(out, (B, 28, 28, 1))

  def test_bad_options_and_shapes(self):
    key = _key(0)
    with self.assertRaisesRegex(ValueError, r"conditioning must be one of 'projection', "
                                r"'concat'; got 'hidden'"):
      cond.ConditionalDiscriminator(K, conditioning='hidden').init(key, X_IN, Y_IN)
    with self.assertRaisesRegex(ValueError, r"norm must be one of 'spectral', 'layer', "
                                r"'layer_chw', 'none'; got 'batch'"):
      cond.ConditionalDiscriminator(K, norm='batch').init(key, X_IN, Y_IN)
    with self.assertRaisesRegex(ValueError, r"norm must be one of 'batch', 'layer', "
                                r"'layer_chw', 'none', 'spectral'; got 'group'"):
      cond.ACGANDiscriminator(K, norm='group').init(key, X_IN)
    with self.assertRaisesRegex(ValueError, r'\[B, 28, 28, C\]; got \(4, 32, 32, 1\)'):
      cond.InfoGANDiscriminator(K).init(key, jnp.zeros((B, 32, 32, 1)))
    with self.assertRaisesRegex(ValueError, 'num_classes > 0'):
      cond.ConditionalGenerator(0).init(key, Z_IN, Y_IN)
    with self.assertRaisesRegex(ValueError, r'ACGANDiscriminator needs num_classes > 0; got 0'):
      cond.ACGANDiscriminator(0).init(key, X_IN)
    # No continuous code (num_continuous=0): a generator of categorical codes alone, and
    # a Q head of no means.
    codes = {'categorical': Y_IN, 'continuous': jnp.zeros((B, 0))}
    g = cond.InfoGANGenerator(K, num_continuous=0, width=4, hidden=8)
    chex.assert_shape(g.apply(g.init(key, Z_IN, codes), Z_IN, codes, train=False,
                              mutable=False), (B, 28, 28, 1))
    d = cond.InfoGANDiscriminator(K, num_continuous=0, width=4, hidden=8, q_hidden=6)
    _, heads = d.apply(d.init(key, X_IN), X_IN, train=False)
    chex.assert_shape(heads['continuous_mean'], (B, 0))

  @parameterized.parameters('cgan_g_cbn', 'concat_layer_d', 'acgan_d', 'infogan_g', 'infogan_d')
  def test_bfloat16_computation(self, name):
    module, inputs = MODELS[name]
    out = jax.jit(lambda v, *a: module.clone(dtype=jnp.bfloat16).apply(
        v, *a, train=True, mutable=['batch_stats'])[0])(_variables(name), *inputs)
    ref = _apply(name, True)(_variables(name), *inputs)[0]
    if name in GENERATORS:
      self.assertEqual(out.dtype, jnp.bfloat16)
    for o, r in zip(jax.tree.leaves(out), jax.tree.leaves(ref), strict=True):
      if name not in GENERATORS:
        self.assertEqual(o.dtype, jnp.float32)
      self.assertTrue(bool(jnp.all(jnp.isfinite(o))))
      scale = float(jnp.max(jnp.abs(r))) + 1e-3
      self.assertLess(float(jnp.max(jnp.abs(o.astype(jnp.float32) - r))), 0.1 * scale)

  @parameterized.parameters('cgan_g_cbn', 'acgan_d', 'infogan_g', 'infogan_d')
  def test_batch_norm_train_and_eval(self, name):
    _, inputs = MODELS[name]
    v = _variables(name)
    run_eval, run_train = _apply(name, False), _apply(name, True)
    out, upd = run_train(v, *inputs)
    moved = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), v['batch_stats'],
                         upd['batch_stats'])
    self.assertTrue(all(jax.tree.leaves(moved)))
    # Eval: each sample depends only on its own input; train: on the whole batch.
    other = _replace_last_two(inputs)
    first_two = lambda tree: jax.tree.map(lambda t: t[:2], tree)
    chex.assert_trees_all_close(first_two(run_eval(v, *other)),
                                first_two(run_eval(v, *inputs)), atol=1e-5)
    diff = jax.tree.map(lambda a, b: float(jnp.max(jnp.abs(a - b))),
                        first_two(run_train(v, *other)[0]), first_two(out))
    self.assertGreater(max(jax.tree.leaves(diff)), 1e-4)

  @parameterized.parameters('cgan_g_cbn', 'acgan_d', 'infogan_g', 'infogan_d')
  def test_batch_norm_running_statistics_move_a_tenth_of_the_way(self, name):
    # The official InfoGAN code's and DCGAN's momentum 0.9 (PyTorch's 0.1).
    module, inputs = MODELS[name]
    count = assert_running_statistics_move_a_tenth(lambda: module.apply(
        _variables(name), *inputs, train=True, mutable=['batch_stats']))
    self.assertEqual(count, 3 if name == 'infogan_d' else 2 + (name == 'infogan_g'))

  @parameterized.parameters('projection_spectral_d', 'projection_none_d', 'concat_layer_d')
  def test_gradient_penalty_ready_discriminators_treat_examples_independently(self, name):
    # No cross-example statistics, even in training mode: D's logits for the first two
    # examples do not depend on the rest of the batch.
    _, inputs = MODELS[name]
    v, run = _variables(name), _apply(name, True)
    np.testing.assert_allclose(run(v, *_replace_last_two(inputs))[0][:2],
                               run(v, *inputs)[0][:2], atol=1e-5)

  @parameterized.parameters(*MODELS)
  def test_gradients_finite_and_nonzero_for_all_params(self, name):
    module, inputs = MODELS[name]
    v = _variables(name)

    def loss(params):
      out = module.apply({**v, 'params': params}, *inputs, train=True,
                         mutable=['batch_stats'])[0]
      leaves = jax.tree.leaves(out)
      return sum(jnp.sum(t * jnp.sin(jnp.arange(t.size).reshape(t.shape) + 1.0))
                 for t in leaves)

    grads = jax.jit(jax.grad(loss))(v['params'])
    for path, leaf in jax.tree_util.tree_leaves_with_path(grads):
      where = jax.tree_util.keystr(path)
      self.assertTrue(bool(jnp.all(jnp.isfinite(leaf))), where)
      self.assertGreater(float(jnp.max(jnp.abs(leaf))), 0.0, where)

  def test_the_conditional_discriminator_is_spectrally_normalized_by_default(self):
    # As the projection discriminator: one sigma per layer (2 convs, the Dense, psi, the
    # label embedding), and no other normalization.
    v = _variables('projection_spectral_d')
    self.assertLen(sigma_paths(v), 5)
    self.assertNotIn('BatchNorm', str(jax.tree_util.tree_structure(v)))

  @parameterized.parameters('acgan_d', 'infogan_d')
  def test_the_auxiliary_heads_alone_train_the_shared_trunk(self, name):
    # ACGAN's class head and InfoGAN's Q share D's trunk and train it: a loss of the heads
    # alone (not the adversarial logit) has a nonzero gradient on every trunk parameter.
    module, inputs = MODELS[name]
    v = _variables(name)

    def loss(params):
      heads = module.apply({**v, 'params': params}, *inputs, train=True,
                           mutable=['batch_stats'])[0][1]
      return sum(jnp.sum(t * jnp.sin(jnp.arange(t.size).reshape(t.shape) + 1.0))
                 for t in jax.tree.leaves(heads))

    grads = jax.jit(jax.grad(loss))(v['params'])
    for path, leaf in jax.tree_util.tree_leaves_with_path(grads['trunk']):
      self.assertGreater(float(jnp.max(jnp.abs(leaf))), 0.0, jax.tree_util.keystr(path))


if __name__ == '__main__':
  absltest.main()
