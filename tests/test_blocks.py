"""Tests of jaxgan.models.blocks against NumPy written from the papers' formulas."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan.models import blocks
from jaxgan.models.resnet import ResNetDiscriminator


def assert_running_statistics_move_a_tenth(apply_train) -> int:
  """Calls ``apply_train()`` (a module's ``apply`` in training mode, ``mutable=
  ['batch_stats']``, returning ``(out, updates)``) with every BatchNorm's input recorded,
  and asserts momentum 0.1 (PyTorch's; chainer's and TensorFlow's decay 0.9) from the
  initial (0, 1): each running mean is 0.1 * the batch mean of its norm's input and each
  running variance 0.9 + 0.1 * its biased batch variance (Flax's). Returns the number of
  norms."""
  seen = {}

  def spy(next_fun, args, kwargs, context):
    if isinstance(context.module, nn.BatchNorm):
      seen[context.module.scope.path] = np.asarray(args[0], np.float64)
    return next_fun(*args, **kwargs)

  with nn.intercept_methods(spy):
    _, updates = apply_train()
  for path, h in seen.items():
    stats = updates['batch_stats']
    for k in path:
      stats = stats[k]
    axes = tuple(range(h.ndim - 1))
    np.testing.assert_allclose(stats['mean'], 0.1 * h.mean(axes), rtol=1e-4, atol=1e-6,
                               err_msg=str(path))
    np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * h.var(axes), rtol=1e-4, atol=1e-6,
                               err_msg=str(path))
  return len(seen)


def jit_init(module, key, *args, **kwargs):
  """``module.init(key, *args, **kwargs)`` as one compiled program (eagerly each op
  compiles on its own)."""
  return jax.jit(lambda k, *a: module.init(k, *a, **kwargs))(key, *args)


def sigma_paths(variables) -> list[str]:
  """The paths of the spectral-norm sigmas in ``variables``' batch statistics: one per
  normalized weight."""
  return [p for p in (jax.tree_util.keystr(k) for k, _ in
                      jax.tree_util.tree_leaves_with_path(variables.get('batch_stats', {})))
          if p.endswith("sigma']")]


def _np_batch_norm(x, mean, var, gamma, beta, eps=1e-5):
  """``gamma * (x - mean) / sqrt(var + eps) + beta``, statistics per channel (last axis)."""
  return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _np_max_pool2(t):
  b, h, w, c = t.shape
  return t.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def _np_softmax(s):
  e = np.exp(s - s.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def _np_attention(x, wf, wg, wh, wv, gamma):
  """SAGAN: s_ij = f(x)_i . g(x)_j over 2x2-pooled j, o_i = v(sum_j softmax_j(s)_ij h(x)_j),
  out = x + gamma * o; f, g, h, v 1x1 convs (matrices here)."""
  b, hgt, wid, c = x.shape
  f = (x @ wf).reshape(b, hgt * wid, -1)
  g = _np_max_pool2(x @ wg).reshape(b, hgt * wid // 4, -1)
  h = _np_max_pool2(x @ wh).reshape(b, hgt * wid // 4, -1)
  beta = _np_softmax(np.einsum('bic,bjc->bij', f, g))
  o = np.einsum('bij,bjc->bic', beta, h) @ wv
  return x + gamma * o.reshape(b, hgt, wid, c)


def _sigma_max(w):
  return np.linalg.svd(np.asarray(w, np.float64).reshape(-1, w.shape[-1]), compute_uv=False)[0]


class ConditionalBatchNormTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(0)
    self.x = rng.normal(2.0, 3.0, (6, 4, 4, 5)).astype(np.float32)
    self.y = np.array([0, 2, 2, 1, 0, 2], np.int32)
    self.scale = rng.normal(1.0, 0.5, (3, 5)).astype(np.float32)
    self.bias = rng.normal(0.0, 0.5, (3, 5)).astype(np.float32)

  @chex.variants(with_jit=True, without_jit=True)
  def test_train_mode_uses_batch_statistics_and_per_class_affine(self):
    cbn = blocks.ConditionalBatchNorm(num_classes=3)
    v = cbn.init(jax.random.key(0), self.x, self.y, train=False)
    v = {'params': {'scale': self.scale, 'bias': self.bias}, 'batch_stats': v['batch_stats']}
    out, upd = self.variant(lambda v, x, y: cbn.apply(v, x, y, train=True,
                                                      mutable=['batch_stats']))(v, self.x, self.y)
    mean, var = self.x.mean((0, 1, 2)), self.x.var((0, 1, 2))
    want = _np_batch_norm(self.x, mean, var, self.scale[self.y][:, None, None],
                          self.bias[self.y][:, None, None])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    # Running averages: ra = 0.9 * ra + 0.1 * batch (from mean 0, var 1).
    np.testing.assert_allclose(upd['batch_stats']['bn']['mean'], 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(upd['batch_stats']['bn']['var'], 0.9 + 0.1 * var, rtol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  def test_eval_mode_uses_running_statistics(self):
    cbn = blocks.ConditionalBatchNorm(num_classes=3)
    rng = np.random.default_rng(1)
    ra_mean = rng.normal(size=5).astype(np.float32)
    ra_var = rng.uniform(0.5, 2.0, 5).astype(np.float32)
    v = {'params': {'scale': self.scale, 'bias': self.bias},
         'batch_stats': {'bn': {'mean': ra_mean, 'var': ra_var}}}
    out = self.variant(lambda v, x, y: cbn.apply(v, x, y, train=False))(v, self.x, self.y)
    want = _np_batch_norm(self.x, ra_mean, ra_var, self.scale[self.y][:, None, None],
                          self.bias[self.y][:, None, None])
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)

  def test_initial_scale_is_near_one_and_shift_zero(self):
    v = blocks.ConditionalBatchNorm(num_classes=10).init(
        jax.random.key(0), jnp.zeros((2, 64)), jnp.zeros((2,), jnp.int32))
    scale = np.asarray(v['params']['scale'])
    chex.assert_shape(scale, (10, 64))
    self.assertAlmostEqual(scale.mean(), 1.0, delta=0.01)
    self.assertAlmostEqual(scale.std(), 0.02, delta=0.005)
    np.testing.assert_array_equal(v['params']['bias'], 0.0)

  def test_zero_classes_is_plain_batch_norm(self):
    cbn = blocks.ConditionalBatchNorm(num_classes=0)
    v = cbn.init(jax.random.key(0), self.x, train=False)
    gamma, beta = self.scale[0], self.bias[0]
    v = {'params': {'bn': {'scale': gamma, 'bias': beta}}, 'batch_stats': v['batch_stats']}
    out, _ = cbn.apply(v, self.x, train=True, mutable=['batch_stats'])
    want = _np_batch_norm(self.x, self.x.mean((0, 1, 2)), self.x.var((0, 1, 2)), gamma, beta)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)

  def test_bad_labels(self):
    x = jnp.zeros((4, 8))
    with self.assertRaisesRegex(ValueError, 'unconditional.*num_classes=0'):
      blocks.ConditionalBatchNorm(0).init(jax.random.key(0), x, jnp.zeros(4, jnp.int32))
    with self.assertRaisesRegex(ValueError, r'needs integer labels y of shape \[4\]; got y=None'):
      blocks.ConditionalBatchNorm(3).init(jax.random.key(0), x)
    with self.assertRaisesRegex(ValueError, r'shape \[4\]; got .*\(4, 1\)'):
      blocks.ConditionalBatchNorm(3).init(jax.random.key(0), x, jnp.zeros((4, 1), jnp.int32))
    with self.assertRaisesRegex(ValueError, 'integer labels'):
      blocks.ConditionalBatchNorm(3).init(jax.random.key(0), x, jnp.zeros(4))


class LayerNormTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters('layer', 'layer_chw')
  def test_matches_numpy(self, kind):
    # 'layer': each position over C; 'layer_chw': each example over H, W and C. Flax's
    # epsilon is 1e-6; the scale and bias are per channel either way.
    x = np.random.default_rng(0).normal(3.0, 2.0, (3, 4, 5, 6)).astype(np.float32)
    v = _Norm(kind).init(jax.random.key(0), x)
    chex.assert_trees_all_equal_shapes(v['params'], {'LayerNorm_0': {
        'scale': np.zeros(6), 'bias': np.zeros(6)}})
    rng = np.random.default_rng(1)
    scale, bias = rng.normal(size=6).astype(np.float32), rng.normal(size=6).astype(np.float32)
    v = {'params': {'LayerNorm_0': {'scale': scale, 'bias': bias}}}
    axes = (3,) if kind == 'layer' else (1, 2, 3)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-6) * scale + bias
    got = self.variant(_Norm(kind).apply)(v, x)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # The two differ on images, and agree on [B, C] features.
    other = 'layer_chw' if kind == 'layer' else 'layer'
    self.assertGreater(float(np.abs(got - _norm_apply(other, v, x)).max()), 0.1)
    flat = x[:, 0, 0, :]
    np.testing.assert_allclose(_norm_apply(kind, v, flat), _norm_apply(other, v, flat),
                               rtol=1e-5, atol=1e-5)

  def test_critics_take_it_and_keep_examples_independent(self):
    from jaxgan.models import conditional, dcgan, sr
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    for make in (lambda n: dcgan.DCGANDiscriminator(width=8, num_layers=3, norm=n),
                 lambda n: sr.SRGANDiscriminator(image_size=32, width=4, hidden=8, norm=n)):
      d_chw, d_layer = make('layer_chw'), make('layer')
      # Compiled whole: op by op, these small critics compiled hundreds of programs.
      v = jax.jit(lambda k, d=d_chw: d.init(k, x, train=False))(jax.random.key(1))
      chex.assert_trees_all_equal_shapes(
          v, jax.eval_shape(lambda k, d=d_layer: d.init(k, x, train=False), jax.random.key(1)))
      run = jax.jit(lambda v, x, d=d_chw: d.apply(v, x, train=True,
                                                  mutable=['batch_stats'])[0])
      out = run(v, x)
      changed = x.at[2:].set(5.0)
      np.testing.assert_allclose(run(v, changed)[:2], out[:2], rtol=1e-5, atol=1e-5)
      layer_out = jax.jit(lambda v, x, d=d_layer: d.apply(v, x, train=False))(v, x)
      self.assertFalse(np.allclose(out, layer_out, atol=1e-4))
    d = conditional.InfoGANDiscriminator(width=4, hidden=8, q_hidden=8, norm='layer_chw')
    x28 = jax.random.normal(jax.random.key(2), (2, 28, 28, 1))
    logits, _ = jax.jit(lambda k: d.apply(d.init(k, x28, train=False), x28, train=False))(
        jax.random.key(3))
    chex.assert_shape(logits, (2,))
    with self.assertRaisesRegex(ValueError, "kind must be one of .*'layer_chw'.*got 'group'"):
      blocks.layer_norm(x, 'group', jnp.float32)


class _Norm(nn.Module):
  kind: str

  @nn.compact
  def __call__(self, h):
    return blocks.layer_norm(h, self.kind, jnp.float32)


def _norm_apply(kind, v, x):
  return np.asarray(_Norm(kind).apply(v, x))


class SelfAttentionTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    self.x = np.random.default_rng(0).normal(size=(2, 4, 6, 16)).astype(np.float32)

  @chex.variants(with_jit=True, without_jit=True)
  def test_matches_numpy_attention(self):
    att = blocks.SelfAttention(spectral_norm=False)
    v = att.init(jax.random.key(0), self.x)
    p = dict(v['params'], gamma=jnp.float32(0.7))
    chex.assert_shape([p['f']['kernel'], p['g']['kernel'], p['h']['kernel'], p['v']['kernel']],
                      [(1, 1, 16, 2), (1, 1, 16, 2), (1, 1, 16, 8), (1, 1, 8, 16)])
    out = self.variant(lambda p, x: att.apply({'params': p}, x))(p, self.x)
    w = {k: np.asarray(p[k]['kernel'])[0, 0] for k in 'fghv'}
    want = _np_attention(self.x, w['f'], w['g'], w['h'], w['v'], 0.7)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    self.assertGreater(np.abs(want - self.x).max(), 0.1)  # the attention term matters

  def test_gamma_starts_at_zero_so_the_layer_starts_as_identity(self):
    att = blocks.SelfAttention()
    v = att.init(jax.random.key(0), self.x)
    self.assertEqual(float(v['params']['gamma']), 0.0)
    np.testing.assert_array_equal(att.apply(v, self.x, train=False), self.x)

  def test_spectral_norm_divides_each_kernel_by_its_largest_singular_value(self):
    att = blocks.SelfAttention(spectral_norm=True)
    v = att.init(jax.random.key(0), self.x)
    p = dict(v['params'], gamma=jnp.float32(0.7))
    stats = v['batch_stats']
    step = jax.jit(lambda s: att.apply({'params': p, 'batch_stats': s}, self.x, train=True,
                                       mutable=['batch_stats'])[1]['batch_stats'])
    for _ in range(40):  # one power iteration per training step
      stats = step(stats)
    out = att.apply({'params': p, 'batch_stats': stats}, self.x, train=False)
    w = {k: np.asarray(p[k]['kernel'])[0, 0] / _sigma_max(p[k]['kernel']) for k in 'fghv'}
    want = _np_attention(self.x, w['f'], w['g'], w['h'], w['v'], 0.7)
    np.testing.assert_allclose(out, want, rtol=1e-2, atol=1e-3)

  def test_convolutions_start_at_pytorch_s_default_conv_init(self):
    # Mimicry's SelfAttention keeps nn.Conv2d's default init, kaiming_uniform_(a=sqrt(5)):
    # U[-b, b] with b = 1 / sqrt(fan_in), the 1x1 kernels' fan_in their input channels.
    p = blocks.SelfAttention().init(jax.random.key(0), jnp.zeros((1, 2, 2, 256)))['params']
    for name, fan_in in (('f', 256), ('g', 256), ('h', 256), ('v', 128)):
      k, bound = np.asarray(p[name]['kernel']), 1.0 / np.sqrt(fan_in)
      self.assertLessEqual(np.abs(k).max(), bound, name)
      self.assertGreater(np.abs(k).max(), 0.95 * bound, name)
      np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.05, err_msg=name)

  def test_bad_shapes(self):
    with self.assertRaisesRegex(ValueError, r'divisible by 8 .*\(1, 4, 4, 12\)'):
      blocks.SelfAttention().init(jax.random.key(0), jnp.zeros((1, 4, 4, 12)))
    with self.assertRaisesRegex(ValueError, r'even height and width.*\(1, 3, 4, 16\)'):
      blocks.SelfAttention().init(jax.random.key(0), jnp.zeros((1, 3, 4, 16)))


class ProjectionHeadTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(0, 4)
  def test_matches_numpy_projection(self, num_classes):
    rng = np.random.default_rng(0)
    phi = rng.normal(size=(5, 7)).astype(np.float32)
    y = np.array([0, 3, 1, 3, 2], np.int32) if num_classes else None
    head = blocks.ProjectionHead(num_classes, spectral_norm=False)
    v = head.init(jax.random.key(0), phi, y)
    p = jax.tree.map(lambda t: rng.normal(size=t.shape).astype(np.float32), v['params'])
    out = self.variant(lambda p, phi, y: head.apply({'params': p}, phi, y))(p, phi, y)
    want = phi @ p['psi']['kernel'][:, 0] + p['psi']['bias'][0]
    if num_classes:
      want = want + np.sum(p['embed']['embedding'][y] * phi, axis=1)
    chex.assert_shape(out, (5,))
    self.assertEqual(out.dtype, jnp.float32)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)

  def test_psi_and_embedding_start_xavier_uniform(self):
    # Mimicry's SNLinear / SNEmbedding and the authors' code: Glorot (xavier) uniform, gain 1,
    # U[-a, a] with a = sqrt(6 / (fan_in + fan_out)): psi [D, 1], the embedding [K, D].
    v = blocks.ProjectionHead(10).init(jax.random.key(0), jnp.zeros((2, 256)),
                                       jnp.zeros((2,), jnp.int32))['params']
    for k, fans in ((v['psi']['kernel'], 256 + 1), (v['embed']['embedding'], 10 + 256)):
      k, bound = np.asarray(k), np.sqrt(6.0 / fans)
      self.assertLessEqual(np.abs(k).max(), bound)
      self.assertGreater(np.abs(k).max(), 0.9 * bound)
      np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.1)

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, r'\[B, D\]; got \(2, 3, 4\)'):
      blocks.ProjectionHead(2).init(jax.random.key(0), jnp.zeros((2, 3, 4)))
    with self.assertRaisesRegex(ValueError, 'unconditional'):
      blocks.ProjectionHead(0).init(jax.random.key(0), jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32))
    with self.assertRaisesRegex(ValueError, 'got y=None'):
      blocks.ProjectionHead(2).init(jax.random.key(0), jnp.zeros((2, 3)))

  def test_a_single_example_is_projected_too(self):
    rng = np.random.default_rng(1)
    phi, y = rng.normal(size=(1, 7)).astype(np.float32), np.array([2], np.int32)
    head = blocks.ProjectionHead(4, spectral_norm=False)
    v = head.init(jax.random.key(0), phi, y)
    p = jax.tree.map(lambda t: rng.normal(size=t.shape).astype(np.float32), v['params'])
    want = phi @ p['psi']['kernel'][:, 0] + p['psi']['bias'][0] + np.sum(
        p['embed']['embedding'][y] * phi, axis=1)
    np.testing.assert_allclose(head.apply({'params': p}, phi, y), want, rtol=1e-5, atol=1e-5)


class CountAndLabelChecksTest(chex.TestCase):
  """``check_count`` and the label checks on their own: types and an empty batch."""

  def test_a_count_must_be_a_non_negative_int_not_a_bool(self):
    self.assertEqual(blocks.check_count('M', 'num_blocks', 0), 0)
    for bad in (True, False, -1, 2.0):
      with self.assertRaisesRegex(ValueError, 'M: num_blocks must be an integer >= 0; got'):
        blocks.check_count('M', 'num_blocks', bad)

  def test_an_empty_batch_of_labels_has_no_range_to_check(self):
    # No values: nothing lies outside [0, K) (min() of an empty array raised NumPy's error).
    blocks.check_range('M', np.zeros(0, np.int32), 10, 'labels y')
    blocks.check_labels('M', np.zeros(0, np.int32), 0, 10)
    with self.assertRaisesRegex(ValueError, r'must lie in \[0, 10\); got values from 3 to 10'):
      blocks.check_range('M', np.array([3, 10]), 10, 'labels y')


class SpectralNormTest(chex.TestCase):

  def test_helper_normalizes_only_when_enabled(self):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6)).astype(np.float32)

    class Layer(nn.Module):
      enabled: bool

      @nn.compact
      def __call__(self, x, train=True):
        return blocks.spectral(nn.Dense(4), x, enabled=self.enabled, train=train)

    plain = Layer(False)
    v = plain.init(jax.random.key(0), x)
    self.assertNotIn('batch_stats', v)
    w, b = np.asarray(v['params']['Dense_0']['kernel']), np.asarray(v['params']['Dense_0']['bias'])
    np.testing.assert_allclose(plain.apply(v, x), x @ w + b, rtol=1e-5, atol=1e-6)
    sn = Layer(True)
    v = sn.init(jax.random.key(0), x)
    for _ in range(30):
      _, upd = sn.apply(v, x, train=True, mutable=['batch_stats'])
      v = {'params': v['params'], **upd}
    w = np.asarray(v['params']['Dense_0']['kernel'])
    np.testing.assert_allclose(sn.apply(v, x, train=False), x @ (w / _sigma_max(w)) + b,
                               rtol=1e-2, atol=1e-3)

  def test_gradient_treats_the_power_iteration_vectors_as_constants(self):
    # Miyato et al. 2018 (Algorithm 1), as PyTorch's and chainer's spectral norm: u and v of
    # the power iteration are constants of the backward pass, so sigma = v W u^T is linear in
    # W and the gradient of <R, x W / sigma> is G / sigma - <G, W> / sigma^2 v^T u, G = x^T R.
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 6)).astype(np.float32)
    r = rng.normal(size=(3, 4)).astype(np.float32)

    class Layer(nn.Module):
      @nn.compact
      def __call__(self, x, train=True):
        return blocks.spectral(nn.Dense(4, use_bias=False), x, enabled=True, train=train)

    v = Layer().init(jax.random.key(0), x)
    grad = jax.grad(lambda p: jnp.sum(r * Layer().apply(
        {**v, 'params': p}, x, train=True, mutable=['batch_stats'])[0]))(v['params'])
    w = np.asarray(v['params']['Dense_0']['kernel'], np.float64)
    u = np.asarray(v['batch_stats']['SpectralNorm_0']['Dense_0/kernel/u'], np.float64)
    left = u @ w.T
    left /= np.linalg.norm(left)
    right = left @ w
    right /= np.linalg.norm(right)
    sigma = (left @ w @ right.T).item()
    g = x.T.astype(np.float64) @ r
    want = g / sigma - np.sum(g * w) / sigma ** 2 * (left.T @ right)
    np.testing.assert_allclose(grad['Dense_0']['kernel'], want, rtol=1e-4, atol=1e-5)

  def test_sngan_discriminator_layers_reach_unit_spectral_norm(self):
    # Every spectrally normalized weight of a (conditional, self-attention) SNGAN D: after
    # one power iteration per training step for 150 steps, W / sigma has top singular
    # value 1 within 1e-2. (Fewer steps do not suffice for every layer: at initialization
    # a 3x3 conv's [144, 16] kernel can have sigma_2 / sigma_1 = 0.975, and with this draw
    # block2/c2 is still 2.6% off after 40 steps and 1.0% after 100, as in PyTorch's or
    # chainer's spectral norm, which also run one iteration per step.)
    d = ResNetDiscriminator(ndf=16, num_classes=10, attention_at=8)
    x = jax.random.normal(jax.random.key(0), (4, 32, 32, 3))
    y = jnp.array([1, 2, 3, 4])
    v = d.init(jax.random.key(1), x, y, train=False)
    step = jax.jit(lambda s: d.apply({'params': v['params'], 'batch_stats': s}, x, y,
                                     train=True, mutable=['batch_stats'])[1]['batch_stats'])
    stats = v['batch_stats']
    for _ in range(150):
      stats = step(stats)
    params = v['params']
    checked = []
    for path, sigma in jax.tree_util.tree_leaves_with_path(stats):
      keys = [k.key for k in path]
      *scope, name = keys
      layer, weight, kind = name.split('/')
      if kind != 'sigma':
        continue
      node = params
      for k in [k for k in scope if not k.startswith('SpectralNorm_')] + [layer, weight]:
        node = node[k]
      top = _sigma_max(np.asarray(node)) / float(sigma)
      checked.append('/'.join([*scope, layer]))
      self.assertAlmostEqual(top, 1.0, delta=1e-2, msg=checked[-1])
    # 4 blocks (3 + 3 + 2 + 2 convs), 4 attention convs, the Dense and the embedding.
    self.assertLen(checked, 16)


class SpectralNormInitTest(chex.TestCase):
  """Spectral normalization stores the initializer's draw, not ``W / sigma_hat`` (the
  reference code's ``weight_orig``): the same parameters as the layers without it."""

  def _assert_same_params(self, with_sn, without_sn):
    flat = dict(jax.tree_util.tree_leaves_with_path(without_sn['params']))
    got = dict(jax.tree_util.tree_leaves_with_path(with_sn['params']))
    self.assertEqual(set(got), set(flat))
    for path, value in flat.items():
      self.assertEqual(got[path].dtype, jnp.float32, msg=jax.tree_util.keystr(path))
      np.testing.assert_array_equal(got[path], value, err_msg=jax.tree_util.keystr(path))

  def test_dense_keeps_a_unit_normal_draw(self):
    # N(0, 1) kernel [256, 256]: its std is 1 (within 2 %), where W / sigma_hat has std
    # about 1 / (2 sqrt(256)) (sigma_max of a square Gaussian matrix is about 2 sqrt(n)).
    x = jnp.ones((2, 256))

    class Layer(nn.Module):
      @nn.compact
      def __call__(self, x, train=False):
        return blocks.spectral(nn.Dense(256, kernel_init=nn.initializers.normal(1.0)), x,
                               enabled=True, train=train)

    v = Layer().init(jax.random.key(0), x)
    self.assertAlmostEqual(float(jnp.std(v['params']['Dense_0']['kernel'])), 1.0, delta=0.02)
    self.assertIn('Dense_0/kernel/u', v['batch_stats']['SpectralNorm_0'])

  def test_sngan_discriminator_params_equal_those_without_it(self):
    x = jax.random.normal(jax.random.key(0), (2, 32, 32, 3))
    y = jnp.array([1, 2])
    kw = dict(ndf=16, num_classes=10, attention_at=8)
    with_sn = jit_init(ResNetDiscriminator(**kw), jax.random.key(1), x, y, train=False)
    without = jit_init(ResNetDiscriminator(spectral_norm=False, **kw), jax.random.key(1), x, y,
                       train=False)
    self._assert_same_params(with_sn, without)

  @parameterized.parameters('float32', 'bfloat16')
  def test_dcgan_and_srgan_critics_keep_their_draw_in_float32(self, dtype):
    from jaxgan.models.dcgan import DCGANDiscriminator
    from jaxgan.models.sr import SRGANDiscriminator
    dtype = jnp.dtype(dtype)
    x = jnp.ones((2, 32, 32, 3))
    for make in (lambda norm: DCGANDiscriminator(width=8, num_layers=3, norm=norm, dtype=dtype),
                 lambda norm: SRGANDiscriminator(image_size=32, width=4, hidden=16, norm=norm,
                                                 dtype=dtype)):
      with_sn = jit_init(make('spectral'), jax.random.key(2), x, train=False)
      without = jit_init(make('none'), jax.random.key(2), x, train=False)
      self._assert_same_params(with_sn, without)
    # DCGAN's N(0, 0.02) draw is stored as drawn (W / sigma_hat had std about 0.06).
    k = jit_init(DCGANDiscriminator(width=32, num_layers=2, norm='spectral'),
                 jax.random.key(3), x, train=False)['params']['Conv_1']['kernel']
    self.assertAlmostEqual(float(jnp.std(k)), 0.02, delta=0.001)


if __name__ == '__main__':
  absltest.main()
