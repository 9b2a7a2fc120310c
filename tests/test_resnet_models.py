"""Tests of the SNGAN / cGAN-PD / SAGAN ResNet models (jaxgan.models.resnet)."""

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized

from jaxgan.models.resnet import DBlock, GBlock, ResNetDiscriminator, ResNetGenerator
from tests.test_blocks import assert_running_statistics_move_a_tenth, sigma_paths


def _key(seed: int):
  # RBG keys: initializing with threefry keys compiles one hash per parameter, which
  # dominated this file's run time; the initial values are random either way.
  return jax.random.key(seed, impl='rbg')


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _conv(k, cin, cout, bias=True):
  return k * k * cin * cout + (cout if bias else 0)


def _attention(c):
  # f, g: C -> C/8; h: C -> C/2; v: C/2 -> C; all 1x1 without bias; plus gamma.
  return (2 * _conv(1, c, c // 8, False) + _conv(1, c, c // 2, False)
          + _conv(1, c // 2, c, False) + 1)


def _g_params(nz, ngf, num_classes, attention):
  """By hand: Dense nz -> 4*4*ngf; 3 x [BN/cBN, conv3, BN/cBN, conv3, conv1 shortcut];
  BN; conv3 -> 3."""
  bn = 2 * ngf * (num_classes or 1)  # scale and shift, per class when conditional
  block = 2 * bn + 2 * _conv(3, ngf, ngf) + _conv(1, ngf, ngf)
  total = nz * 16 * ngf + 16 * ngf + 3 * block + 2 * ngf + _conv(3, ngf, 3)
  return total + (_attention(ngf) if attention else 0)


def _d_params(ndf, num_classes, attention):
  """By hand: optimized block (conv3 3->ndf, conv3, conv1 shortcut), down block (2 conv3,
  conv1 shortcut), 2 blocks of 2 conv3; Dense ndf -> 1; embedding [K, ndf]."""
  total = (_conv(3, 3, ndf) + _conv(3, ndf, ndf) + _conv(1, 3, ndf)
           + 2 * _conv(3, ndf, ndf) + _conv(1, ndf, ndf) + 4 * _conv(3, ndf, ndf)
           + ndf + 1 + num_classes * ndf)
  return total + (_attention(ndf) if attention else 0)


def _labels(num_classes, batch):
  return jnp.arange(batch, dtype=jnp.int32) % num_classes if num_classes else None


def _set_gammas(params, value):
  return jax.tree_util.tree_map_with_path(
      lambda p, t: jnp.full_like(t, value) if jax.tree_util.keystr(p).endswith("['gamma']")
      else t, params)


def _np_conv(x, w, b=None):
  """'SAME' convolution, stride 1, odd kernel ``w[k, k, cin, cout]``, NHWC."""
  k = w.shape[0]
  p = k // 2
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  hgt, wid = x.shape[1:3]
  out = sum(xp[:, i:i + hgt, j:j + wid, :] @ w[i, j] for i in range(k) for j in range(k))
  return out if b is None else out + b


def _np_up(x):
  return x.repeat(2, axis=1).repeat(2, axis=2)


def _np_down(x):
  b, h, w, c = x.shape
  return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _np_bn(x, scale, bias):
  """Training-mode BN: batch statistics over all axes but the channels."""
  axes = tuple(range(x.ndim - 1))
  return (x - x.mean(axes)) / np.sqrt(x.var(axes) + 1e-5) * scale + bias


def _np_attention(x, p, gamma):
  """SAGAN attention (f, g, h 1x1 convs, keys/values 2x2 max-pooled, v back to C)."""
  b, hgt, wid, c = x.shape

  def pool(t):
    return t.reshape(b, hgt // 2, 2, wid // 2, 2, -1).max(axis=(2, 4)).reshape(b, -1, t.shape[-1])

  f = (x @ p['f']['kernel'][0, 0]).reshape(b, hgt * wid, -1)
  g, h = pool(x @ p['g']['kernel'][0, 0]), pool(x @ p['h']['kernel'][0, 0])
  s = np.einsum('bic,bjc->bij', f, g)
  beta = np.exp(s - s.max(-1, keepdims=True))
  beta /= beta.sum(-1, keepdims=True)
  o = (np.einsum('bij,bjc->bic', beta, h) @ p['v']['kernel'][0, 0]).reshape(b, hgt, wid, c)
  return x + gamma * o


def _np_spectral_normalize(variables):
  """Float64 NumPy copy of ``variables['params']`` with every spectrally normalized weight
  replaced by ``W / sigma``: one power iteration from the stored ``u`` on ``W`` reshaped to
  ``[-1, out]``, ``v = u W^T / |u W^T|``, ``u' = v W / |v W|``, ``sigma = v W u'^T``
  (Miyato et al. 2018, Algorithm 1)."""
  params = jax.tree.map(lambda t: np.asarray(t, np.float64), variables['params'])
  for path, u in jax.tree_util.tree_leaves_with_path(variables['batch_stats']):
    *scope, name = [k.key for k in path]
    if not name.endswith('/u'):
      continue
    layer, weight, _ = name.split('/')
    node = params
    for k in [k for k in scope if not k.startswith('SpectralNorm_')] + [layer]:
      node = node[k]
    w = node[weight].reshape(-1, node[weight].shape[-1])
    v = np.asarray(u, np.float64) @ w.T
    v /= np.linalg.norm(v)
    u_new = v @ w
    u_new /= np.linalg.norm(u_new)
    node[weight] = node[weight] / (v @ w @ u_new.T).item()
  return params


def _np_generator(p, z, y):
  """SNGAN/cGAN-PD/SAGAN 32 px G written from Miyato et al. 2018 (App. B) and Mimicry."""
  relu = lambda t: np.maximum(t, 0.0)
  ngf = p['block2']['c1']['kernel'].shape[-1]
  h = (z @ p['l1']['kernel'] + p['l1']['bias']).reshape(len(z), 4, 4, ngf)
  for i in (2, 3, 4):
    q = p[f'block{i}']
    conv = lambda name, t, q=q: _np_conv(t, q[name]['kernel'], q[name]['bias'])
    cbn = lambda name, t, q=q: _np_bn(t, q[name]['scale'][y][:, None, None],
                                      q[name]['bias'][y][:, None, None])
    r = conv('c2', relu(cbn('b2', conv('c1', _np_up(relu(cbn('b1', h)))))))
    h = r + conv('c_sc', _np_up(h))
    if h.shape[1] == 16:
      h = _np_attention(h, p['attention'], p['attention']['gamma'])
  h = relu(_np_bn(h, p['b5']['scale'], p['b5']['bias']))
  return np.tanh(_np_conv(h, p['c5']['kernel'], p['c5']['bias']))


def _np_discriminator(p, x, y):
  """SNGAN/projection/SAGAN 32 px D from the same sources."""
  relu = lambda t: np.maximum(t, 0.0)

  def conv(q, name, t):
    return _np_conv(t, q[name]['kernel'], q[name]['bias'])

  q = p['block1']
  h = _np_down(conv(q, 'c2', relu(conv(q, 'c1', x)))) + conv(q, 'c_sc', _np_down(x))
  q = p['block2']
  h = _np_down(conv(q, 'c2', relu(conv(q, 'c1', relu(h))))) + _np_down(conv(q, 'c_sc', h))
  h = _np_attention(h, p['attention'], p['attention']['gamma'])
  for i in (3, 4):
    q = p[f'block{i}']
    h = h + conv(q, 'c2', relu(conv(q, 'c1', relu(h))))
  phi = relu(h).sum(axis=(1, 2))
  head = p['head']
  return (phi @ head['psi']['kernel'][:, 0] + head['psi']['bias'][0]
          + (head['embed']['embedding'][y] * phi).sum(1))


CONFIGS = {
    # SNGAN: unconditional, no attention, no spectral norm in G.
    'sngan': dict(num_classes=0, g=dict(), d=dict()),
    # SAGAN with the projection head: conditional BN, attention at 16 px in G and 8 px in
    # D, spectral norm in G too.
    'sagan': dict(num_classes=3, g=dict(attention_at=16, spectral_norm=True),
                  d=dict(attention_at=8)),
}


@functools.cache
def _setup(name: str):
  """Small models of config ``name`` (width 16, batch 4), initialized once for the file,
  and their jitted train/eval functions."""
  cfg = CONFIGS[name]
  k = cfg['num_classes']
  g = ResNetGenerator(ngf=16, num_classes=k, **cfg['g'])
  d = ResNetDiscriminator(ndf=16, num_classes=k, **cfg['d'])
  z = jax.random.normal(_key(0), (4, 16))
  y = _labels(k, 4)
  gv = jax.jit(g.init)(_key(1), z, y)  # one compiled init, not hundreds of eager ops
  g_eval = jax.jit(lambda v, z, y: g.apply(v, z, y, train=False))
  g_train = jax.jit(lambda v, z, y: g.apply(v, z, y, train=True, mutable=['batch_stats']))
  x = g_eval(gv, z, y)
  dv = jax.jit(d.init)(_key(2), x, y)
  d_eval = jax.jit(lambda v, x, y: d.apply(v, x, y, train=False))
  return dict(g=g, d=d, z=z, y=y, x=x, gv=gv, dv=dv, g_eval=g_eval, g_train=g_train,
              d_eval=d_eval)


class ResNetModelsTest(chex.TestCase):

  @parameterized.named_parameters(
      ('sngan', 0, None, None, False),
      ('sngan_projection', 10, None, None, False),
      ('sagan_projection', 10, 16, 8, True))
  def test_full_size_parameter_counts(self, num_classes, att_g, att_d, sn_g):
    g = ResNetGenerator(num_classes=num_classes, attention_at=att_g, spectral_norm=sn_g)
    d = ResNetDiscriminator(num_classes=num_classes, attention_at=att_d)
    y = _labels(num_classes, 2)
    gv = jax.eval_shape(lambda: g.init(_key(0), jnp.zeros((2, 128)), y))
    dv = jax.eval_shape(lambda: d.init(_key(0), jnp.zeros((2, 32, 32, 3)), y))
    self.assertEqual(_count(gv['params']), _g_params(128, 256, num_classes, att_g))
    self.assertEqual(_count(dv['params']), _d_params(128, num_classes, att_d))
    if not num_classes and not att_g:
      # SNGAN 32 (Mimicry's sngan_32.py): G 4,276,739 ~ 4.3 M and D 1,053,825 ~ 1.1 M.
      self.assertEqual((_count(gv['params']), _count(dv['params'])), (4276739, 1053825))
    # Spectral norm: one (u, sigma) pair per normalized weight.
    n_sn_d = 3 + 3 + 2 + 2 + 1 + (1 if num_classes else 0) + (4 if att_d else 0)
    self.assertLen(sigma_paths(dv), n_sn_d)
    self.assertLen(sigma_paths(gv), 1 + 3 * 3 + 1 + 4 if sn_g else 0)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters('sngan', 'sagan')
  def test_shapes_and_range(self, name):
    s = _setup(name)
    g, d = s['g'], s['d']
    x = self.variant(lambda v, z, y: g.apply(v, z, y, train=False))(s['gv'], s['z'], s['y'])
    chex.assert_shape(x, (4, 32, 32, 3))
    self.assertTrue(bool(jnp.all(jnp.abs(x) <= 1.0)))
    logits = self.variant(lambda v, x, y: d.apply(v, x, y, train=False))(s['dv'], x, s['y'])
    chex.assert_shape(logits, (4,))
    self.assertEqual(logits.dtype, jnp.float32)

  def test_matches_numpy_reference(self):
    # The SAGAN-conditional models (attention, conditional BN, projection, spectral norm
    # in G and D) against NumPy forward passes written from the papers and Mimicry.
    s = _setup('sagan')
    gv = {**s['gv'], 'params': _set_gammas(s['gv']['params'], 0.5)}
    dv = {**s['dv'], 'params': _set_gammas(s['dv']['params'], -0.7)}
    x, _ = s['g_train'](gv, s['z'], s['y'])
    want_x = _np_generator(_np_spectral_normalize(gv), np.asarray(s['z'], np.float64),
                           np.asarray(s['y']))
    np.testing.assert_allclose(x, want_x, atol=1e-4)
    logits = s['d_eval'](dv, x, s['y'])
    want = _np_discriminator(_np_spectral_normalize(dv), np.asarray(x, np.float64),
                             np.asarray(s['y']))
    np.testing.assert_allclose(logits, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())

  def test_labels_change_outputs(self):
    s = _setup('sagan')
    y0, y1 = s['y'], (s['y'] + 1) % 3
    x0, x1 = s['g_eval'](s['gv'], s['z'], y0), s['g_eval'](s['gv'], s['z'], y1)
    self.assertGreater(float(jnp.max(jnp.abs(x0 - x1))), 1e-4)
    l0, l1 = s['d_eval'](s['dv'], x0, y0), s['d_eval'](s['dv'], x0, y1)
    self.assertGreater(float(jnp.min(jnp.abs(l0 - l1))), 1e-4)

  def test_labels_required_exactly_for_conditional_models(self):
    z, x, y = jnp.zeros((2, 8)), jnp.zeros((2, 32, 32, 3)), jnp.array([0, 1])
    key = _key(0)
    with self.assertRaisesRegex(ValueError, 'ResNetGenerator is unconditional'):
      ResNetGenerator(ngf=16).init(key, z, y)
    with self.assertRaisesRegex(ValueError, 'ResNetDiscriminator is unconditional'):
      ResNetDiscriminator(ndf=16).init(key, x, y)
    with self.assertRaisesRegex(ValueError, r'ResNetGenerator is class-conditional.*y=None'):
      ResNetGenerator(ngf=16, num_classes=3).init(key, z)
    with self.assertRaisesRegex(ValueError, r'ResNetDiscriminator is class-conditional'):
      ResNetDiscriminator(ndf=16, num_classes=3).init(key, x)
    with self.assertRaisesRegex(ValueError, r'integer labels y of shape \[2\]'):
      ResNetGenerator(ngf=16, num_classes=3).init(key, z, jnp.array([0, 1, 2]))

  def test_bad_shapes_and_attention_at(self):
    key = _key(0)
    with self.assertRaisesRegex(ValueError, r'one of .*\[8, 16, 32\]; got 4'):
      ResNetGenerator(ngf=16, attention_at=4).init(key, jnp.zeros((1, 8)))
    with self.assertRaisesRegex(ValueError, r'one of .*\[8, 16\]; got 32'):
      ResNetDiscriminator(ndf=16, attention_at=32).init(key, jnp.zeros((1, 32, 32, 3)))
    with self.assertRaisesRegex(ValueError, r'\[B, z_dim\]; got \(1, 2, 8\)'):
      ResNetGenerator(ngf=16).init(key, jnp.zeros((1, 2, 8)))
    with self.assertRaisesRegex(ValueError, r'divisible by 4; got \(1, 30, 30, 3\)'):
      ResNetDiscriminator(ndf=16).init(key, jnp.zeros((1, 30, 30, 3)))
    with self.assertRaisesRegex(ValueError, r'divisible by 4; got \(1, 32, 30, 3\)'):
      ResNetDiscriminator(ndf=16).init(key, jnp.zeros((1, 32, 30, 3)))  # the width alone

  def test_a_dblock_on_its_own_keeps_mimicry_s_widths(self):
    # Used directly (not inside ResNetDiscriminator, whose blocks keep their width): c1 maps
    # to the input's width, c2 to out_channels, and a width change takes the 1x1 shortcut
    # even without downsampling.
    x = jax.random.normal(_key(1), (1, 8, 8, 8))
    for downsample in (False, True):
      block = DBlock(16, downsample=downsample, spectral_norm=False)
      v = block.init(_key(0), x)
      shapes = {k: p['kernel'].shape for k, p in v['params'].items()}
      self.assertEqual(shapes, {'c1': (3, 3, 8, 8), 'c2': (3, 3, 8, 16), 'c_sc': (1, 1, 8, 16)})
      chex.assert_shape(block.apply(v, x), (1, 4 if downsample else 8, 4 if downsample else 8,
                                            16))

  def test_an_optimized_dblock_always_downsamples(self):
    # The first block's form pools at the end whatever downsample says (Mimicry's DBlockOptimized):
    # with c2 zeroed it is c_sc(avg_pool_2x2(x)).
    x = jax.random.normal(_key(1), (1, 8, 8, 3))
    block = DBlock(16, downsample=False, optimized=True, spectral_norm=False)
    v = block.init(_key(0), x)
    params = {**v['params'], 'c2': jax.tree.map(jnp.zeros_like, v['params']['c2'])}
    out = np.asarray(block.apply({**v, 'params': params}, x))
    pooled = np.asarray(x, np.float64).reshape(1, 4, 2, 4, 2, 3).mean(axis=(2, 4))
    sc = v['params']['c_sc']
    want = pooled @ np.asarray(sc['kernel'][0, 0], np.float64) + np.asarray(sc['bias'])
    np.testing.assert_allclose(out, want, atol=1e-5)

  def test_a_dblock_s_defaults_are_spectral_norm_and_mimicry_s_shortcut_init(self):
    # Used on its own, a DBlock normalizes its convs spectrally (one sigma per conv) and
    # draws its 1x1 shortcut from xavier uniform with gain 1: U[-a, a] with
    # a = sqrt(6 / (fan_in + fan_out)), here 256 channels in and out.
    x = jnp.zeros((1, 8, 8, 8))
    v = DBlock(16).init(_key(0), x)
    self.assertLen(sigma_paths(v), 3)
    v = DBlock(256, spectral_norm=False).init(_key(0), jnp.zeros((1, 8, 8, 256)))
    k = np.asarray(v['params']['c_sc']['kernel'])
    bound = np.sqrt(6.0 / (256 + 256))
    self.assertLessEqual(np.abs(k).max(), bound)
    np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.05)

  @parameterized.parameters((8, False), (16, False), (8, True), (16, True))
  def test_a_gblock_on_its_own_and_its_shortcut(self, out_channels, upsample):
    # With c2 zeroed the block is its shortcut: x itself when it neither upsamples nor
    # changes the width, else the 1x1 conv c_sc of x, repeated 2x2 when it upsamples.
    x = jax.random.normal(_key(1), (2, 4, 4, 8))
    block = GBlock(out_channels, upsample=upsample)
    v = block.init(_key(0), x, train=False)
    shapes = {k: p['kernel'].shape for k, p in v['params'].items() if 'kernel' in p}
    want = {'c1': (3, 3, 8, out_channels), 'c2': (3, 3, out_channels, out_channels)}
    if upsample or out_channels != 8:
      want['c_sc'] = (1, 1, 8, out_channels)
    self.assertEqual(shapes, want)
    params = {**v['params'], 'c2': jax.tree.map(jnp.zeros_like, v['params']['c2'])}
    out = np.asarray(block.apply({**v, 'params': params}, x, train=False))
    want_x = np.asarray(x, np.float64)
    if 'c_sc' in want:
      sc = v['params']['c_sc']
      want_x = want_x @ np.asarray(sc['kernel'][0, 0], np.float64) + np.asarray(sc['bias'])
    if upsample:
      want_x = want_x.repeat(2, axis=1).repeat(2, axis=2)
    np.testing.assert_allclose(out, want_x, atol=1e-5)

  def test_attention_gamma_starts_at_zero(self):
    s = _setup('sagan')
    self.assertEqual(float(s['gv']['params']['attention']['gamma']), 0.0)
    self.assertEqual(float(s['dv']['params']['attention']['gamma']), 0.0)

  @parameterized.parameters(('sagan', None), ('sagan_cond', 3))
  def test_the_registered_sagans_attend_at_16_px_in_g_and_8_px_in_d(self, name, label):
    # Zhang et al.'s 32 px placement (Mimicry's model), spectral norm in G as in D.
    import flax.linen as nn

    from jaxgan import models
    from jaxgan.models import blocks
    g, d = models.get(name, {'ngf': 16}, {'ndf': 16})
    seen = []

    def spy(next_fun, args, kwargs, context):
      if isinstance(context.module, blocks.SelfAttention) and context.method_name == '__call__':
        seen.append(args[0].shape[1:3])
      return next_fun(*args, **kwargs)
    y = None if label is None else jnp.array([label])
    # Traced once for shapes (eval_shape), not run op by op: the spy reads only shapes.
    with nn.intercept_methods(spy):
      gv = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((1, 128)),
                                         *([] if y is None else [y]), train=False))
      self.assertEqual(seen, [(16, 16)])
      jax.eval_shape(lambda: d.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)),
                                    *([] if y is None else [y]), train=False))
    self.assertEqual(seen, [(16, 16), (8, 8)])
    self.assertTrue(g.spectral_norm and d.spectral_norm)
    from flax import traverse_util
    stats = traverse_util.flatten_dict(gv['batch_stats'])
    self.assertIn(('SpectralNorm_0', 'l1/kernel/u'), stats)  # G's linear layer normalized

  def test_initializers_are_mimicry_s(self):
    # Mimicry's SNGAN/SAGAN D: xavier_uniform_ with gain sqrt(2) on the blocks' 3x3 convs and
    # gain 1 on the shortcuts, the last linear layer and the embedding, U[-a, a] with a = gain
    # sqrt(6 / (fan_in + fan_out)), fans counting the receptive field (an embedding [K, D]:
    # K + D); both attention layers keep PyTorch's conv default, a = 1 / sqrt(fan_in).
    d = ResNetDiscriminator(ndf=64, num_classes=10, attention_at=8)
    g = ResNetGenerator(ngf=64, attention_at=16)
    dp = jax.jit(d.init)(_key(0), jnp.zeros((1, 32, 32, 3)),
                         jnp.zeros((1,), jnp.int32))['params']
    gp = jax.jit(g.init)(_key(1), jnp.zeros((1, 128)))['params']
    xavier = lambda gain, fans: gain * np.sqrt(6.0 / fans)
    cases = {'D block1/c1': (dp['block1']['c1']['kernel'], xavier(np.sqrt(2.0), 9 * 3 + 9 * 64)),
             'D block2/c2': (dp['block2']['c2']['kernel'], xavier(np.sqrt(2.0), 2 * 9 * 64)),
             'D block4/c1': (dp['block4']['c1']['kernel'], xavier(np.sqrt(2.0), 2 * 9 * 64)),
             'D block1/c_sc': (dp['block1']['c_sc']['kernel'], xavier(1.0, 3 + 64)),
             'D block2/c_sc': (dp['block2']['c_sc']['kernel'], xavier(1.0, 2 * 64)),
             'D head/psi': (dp['head']['psi']['kernel'], xavier(1.0, 64 + 1)),
             'D head/embed': (dp['head']['embed']['embedding'], xavier(1.0, 10 + 64)),
             # G, Mimicry's SNGAN generator: sqrt(2) on the blocks' 3x3 convs, 1 on the
             # shortcuts, the first linear layer and the last conv.
             'G block2/c1': (gp['block2']['c1']['kernel'], xavier(np.sqrt(2.0), 2 * 9 * 64)),
             'G block4/c2': (gp['block4']['c2']['kernel'], xavier(np.sqrt(2.0), 2 * 9 * 64)),
             'G block3/c_sc': (gp['block3']['c_sc']['kernel'], xavier(1.0, 2 * 64)),
             'G l1': (gp['l1']['kernel'], xavier(1.0, 128 + 16 * 64)),
             'G c5': (gp['c5']['kernel'], xavier(1.0, 9 * 64 + 9 * 3))}
    for who, p in (('D', dp), ('G', gp)):
      for name, fan_in in (('f', 64), ('g', 64), ('h', 64), ('v', 32)):
        cases[f'{who} attention/{name}'] = (p['attention'][name]['kernel'], 1 / np.sqrt(fan_in))
    for where, (k, bound) in cases.items():
      k = np.asarray(k)
      self.assertLessEqual(np.abs(k).max(), bound, where)
      np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.15 if k.size < 100 else 0.06,
                                 err_msg=where)

  def test_batch_norm_running_statistics_move_a_tenth_of_the_way(self):
    # chainer's BatchNormalization (decay 0.9) and PyTorch's (momentum 0.1, Mimicry).
    s = _setup('sagan')
    count = assert_running_statistics_move_a_tenth(lambda: s['g'].apply(
        s['gv'], s['z'], s['y'], train=True, mutable=['batch_stats']))
    self.assertEqual(count, 7)  # 2 per block, and b5

  def test_bfloat16_computation(self):
    # The same float32 parameters, bfloat16 computation.
    s = _setup('sagan')
    cfg = CONFIGS['sagan']
    g = ResNetGenerator(ngf=16, num_classes=3, dtype=jnp.bfloat16, **cfg['g'])
    d = ResNetDiscriminator(ndf=16, num_classes=3, dtype=jnp.bfloat16, **cfg['d'])
    gv = {**s['gv'], 'params': _set_gammas(s['gv']['params'], 0.5)}
    dv = {**s['dv'], 'params': _set_gammas(s['dv']['params'], 0.5)}

    @jax.jit
    def run(gv, dv, z, y):
      x, _ = g.apply(gv, z, y, train=True, mutable=['batch_stats'])
      logits, _ = d.apply(dv, x, y, train=True, mutable=['batch_stats'])
      return x, logits

    x, logits = run(gv, dv, s['z'], s['y'])
    self.assertEqual(x.dtype, jnp.bfloat16)
    self.assertEqual(logits.dtype, jnp.float32)
    self.assertTrue(bool(jnp.all(jnp.isfinite(x))))
    self.assertTrue(bool(jnp.all(jnp.isfinite(logits))))
    # Within bfloat16 rounding of the float32 computation.
    x32, _ = s['g_train'](gv, s['z'], s['y'])
    self.assertLess(float(jnp.max(jnp.abs(x.astype(jnp.float32) - x32))), 0.1)

  def test_batch_norm_train_and_eval(self):
    s = _setup('sagan')
    v, z, y = s['gv'], s['z'], s['y']
    x_train, upd = s['g_train'](v, z, y)
    changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)), v['batch_stats'],
                           upd['batch_stats'])
    self.assertTrue(all(jax.tree.leaves(changed)))  # every running statistic and u moves
    # Eval: each sample depends only on its own input; train: on the whole batch.
    x_eval = s['g_eval'](v, z, y)
    np.testing.assert_allclose(s['g_eval'](v, z[:2], y[:2]), x_eval[:2], atol=1e-5)
    x_train2, _ = s['g_train'](v, z[:2], y[:2])
    self.assertGreater(float(jnp.max(jnp.abs(x_train2 - x_train[:2]))), 1e-3)

  def test_gradients_finite_and_nonzero_for_all_params(self):
    # SAGAN-conditional has every kind of parameter: conditional and plain BN, attention,
    # spectrally normalized convs and Dense, the projection embedding.
    s = _setup('sagan')
    g, d, gv, dv, z, y, x = (s[k] for k in ('g', 'd', 'gv', 'dv', 'z', 'y', 'x'))
    # gamma = 0 would zero the attention convs' gradients, so start from gamma = 0.5.
    gp, dp = _set_gammas(gv['params'], 0.5), _set_gammas(dv['params'], 0.5)
    r = jax.random.normal(_key(3), x.shape)

    def g_loss(p):
      out, _ = g.apply({**gv, 'params': p}, z, y, train=True, mutable=['batch_stats'])
      return jnp.sum(out * r)

    def d_loss(p):
      out, _ = d.apply({**dv, 'params': p}, x, y, train=True, mutable=['batch_stats'])
      return jnp.sum(out * jnp.arange(1.0, 5.0))

    grads = jax.jit(lambda gp, dp: (jax.grad(g_loss)(gp), jax.grad(d_loss)(dp)))(gp, dp)
    for name, tree in zip('GD', grads, strict=True):
      for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        where = f'{name}{jax.tree_util.keystr(path)}'
        self.assertTrue(bool(jnp.all(jnp.isfinite(leaf))), where)
        self.assertGreater(float(jnp.max(jnp.abs(leaf))), 0.0, where)


if __name__ == '__main__':
  absltest.main()
