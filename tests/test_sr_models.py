"""Tests of jaxgan.models.sr: SRResNet, RRDBNet and the SRGAN discriminator."""

import dataclasses
import functools
import math
from unittest import mock

import chex
import flax
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import test_util as jtu

from jaxgan.models import polyphase, sr
from jaxgan.models.dcgan import NORMS

# Tiny variants: the tests check structure, not capacity; the paper sizes only via eval_shape.
SMALL_SRRESNET = dict(num_blocks=2, features=8)
SMALL_RRDBNET = dict(num_blocks=1, features=8, growth=4)
SMALL_D = dict(image_size=20, width=4, hidden=16)


def _key(seed: int) -> jax.Array:
  """A PRNG key of the 'rbg' generator: XLA:CPU compiles threefry's bits per array shape
  (about 1 s each on 2 busy cores, and these models have dozens of kernel shapes); neither
  the models nor the statistics tested depend on which generator draws the numbers."""
  return jax.random.key(seed, impl='rbg')


_VARIABLES = {}


def _images(shape, seed: int = 0) -> jax.Array:
  return jnp.asarray(np.random.default_rng(seed).uniform(-1, 1, shape), jnp.float32)


LR = (3, 6, 5, 3)     # low-resolution inputs of the small generators
HR = (3, 20, 20, 3)   # inputs of the small discriminator


def _init(model, x, seed: int = 0):
  """``model.init(key, x, train=False)``, jitted and cached by the model's attributes but its
  ``dtype`` (parameters are float32 whatever the computation dtype) and by ``x.shape``."""
  attrs = tuple((f.name, getattr(model, f.name)) for f in dataclasses.fields(model)
                if f.name not in ('parent', 'name', 'dtype'))
  k = (type(model), attrs, tuple(x.shape), seed)
  if k not in _VARIABLES:
    init = functools.partial(model.clone(dtype=jnp.float32).init, train=False)
    _VARIABLES[k] = jax.jit(init)(_key(seed), x)
  return _VARIABLES[k]


# ``model.apply(v, x, **kwargs)`` compiled whole, not op by op (the model and keywords static).
_apply = jax.jit(lambda model, v, x, **kwargs: model.apply(v, x, **kwargs), static_argnums=0,
                 static_argnames=('train',))


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _shapes(module, *args):
  """Variables of ``module.init(key, *args)`` as ShapeDtypeStructs (nothing materialized)."""
  return jax.eval_shape(lambda: module.init(_key(0), *args, train=False))


def _randomize(variables, seed):
  """Every leaf drawn afresh: N(0, 0.3^2) parameters, BN variances in [0.5, 1.5]."""
  flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables))
  rng = np.random.default_rng(seed)
  out = {}
  for path, leaf in flat.items():
    if path[-1] == 'var':
      out[path] = rng.uniform(0.5, 1.5, leaf.shape).astype(np.float32)
    else:
      out[path] = (0.3 * rng.standard_normal(leaf.shape)).astype(np.float32)
  return flax.traverse_util.unflatten_dict(out)


# ------------------------------------------------------------------------------------------
# NumPy references, written from the papers' layer lists (Ledig et al. 2017 Fig. 4; Wang et
# al. 2018 Fig. 4) and PyTorch's conv / pixel-shuffle / nearest-upsampling definitions.

def np_conv(x, kernel, bias=None, stride=1, pad=None):
  """PyTorch ``Conv2d(padding=pad, stride)`` in NHWC (``pad`` default ``k // 2``): kernel
  ``[k, k, C_in, C_out]``."""
  x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
  k = kernel.shape[0]
  p = k // 2 if pad is None else pad
  xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
  ho = (x.shape[1] + 2 * p - k) // stride + 1
  wo = (x.shape[2] + 2 * p - k) // stride + 1
  out = np.zeros((x.shape[0], ho, wo, kernel.shape[-1]), np.float64)
  for i in range(k):
    for j in range(k):
      patch = xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
      out += patch @ kernel[i, j]
  return out if bias is None else out + bias


def np_pixel_shuffle(x, r):
  """``out[n, h r + i, w r + j, c] = x[n, h, w, c r^2 + i r + j]`` (PyTorch's order)."""
  n, h, w, crr = x.shape
  out = np.zeros((n, h * r, w * r, crr // (r * r)))
  for i in range(r):
    for j in range(r):
      out[:, i::r, j::r, :] = x[:, :, :, i * r + j::r * r]
  return out


def np_nearest_x2(x):
  out = np.zeros((x.shape[0], 2 * x.shape[1], 2 * x.shape[2], x.shape[3]))
  for i in range(2):
    for j in range(2):
      out[:, i::2, j::2] = x
  return out


def np_prelu(x, a):
  return np.where(x >= 0, x, a * x)


def np_lrelu(x):
  return np.where(x >= 0, x, 0.2 * x)


def np_bn_eval(x, params, stats):
  return (x - stats['mean']) / np.sqrt(stats['var'] + 1e-5) * params['scale'] + params['bias']


def np_srresnet(v, lr, num_blocks, scale):
  p, s = v['params'], v['batch_stats']
  f = np_prelu(np_conv(lr, p['conv_first']['kernel'], p['conv_first']['bias']),
               p['prelu_first']['negative_slope'])
  h = f
  for b in range(num_blocks):
    pb, sb = p[f'block_{b}'], s[f'block_{b}']
    t = np_bn_eval(np_conv(h, pb['conv1']['kernel']), pb['bn1'], sb['bn1'])
    t = np_prelu(t, pb['prelu']['negative_slope'])
    h = h + np_bn_eval(np_conv(t, pb['conv2']['kernel']), pb['bn2'], sb['bn2'])
  h = f + np_bn_eval(np_conv(h, p['conv_body']['kernel']), p['bn_body'], s['bn_body'])
  for i in range(int(math.log2(scale))):
    h = np_conv(h, p[f'conv_up_{i}']['kernel'], p[f'conv_up_{i}']['bias'])
    h = np_prelu(np_pixel_shuffle(h, 2), p[f'prelu_up_{i}']['negative_slope'])
  return np_conv(h, p['conv_last']['kernel'], p['conv_last']['bias'])


def np_rdb(p, x):
  feats = [x]
  for k in range(1, 5):
    c = p[f'conv{k}']
    feats.append(np_lrelu(np_conv(np.concatenate(feats, -1), c['kernel'], c['bias'])))
  c = p['conv5']
  return 0.2 * np_conv(np.concatenate(feats, -1), c['kernel'], c['bias']) + x


def np_rrdb(p, x):
  return 0.2 * np_rdb(p['rdb3'], np_rdb(p['rdb2'], np_rdb(p['rdb1'], x))) + x


def np_rrdbnet(v, lr, num_blocks, scale):
  p = v['params']
  conv = lambda name, t: np_conv(t, p[name]['kernel'], p[name]['bias'])
  f = conv('conv_first', lr)
  h = f
  for b in range(num_blocks):
    h = np_rrdb(p[f'rrdb_{b}'], h)
  h = f + conv('conv_body', h)
  for i in range(int(math.log2(scale))):
    h = np_lrelu(conv(f'conv_up_{i}', np_nearest_x2(h)))
  return conv('conv_last', np_lrelu(conv('conv_hr', h)))


def np_discriminator(v, x, width, norm):
  p = v['params']
  h = np_lrelu(np_conv(x, p['conv_0']['kernel'], p['conv_0']['bias']))
  plan = [(width, 2), (2 * width, 1), (2 * width, 2), (4 * width, 1), (4 * width, 2),
          (8 * width, 1), (8 * width, 2)]
  for i, (features, stride) in enumerate(plan, start=1):
    c = p[f'conv_{i}']
    assert c['kernel'].shape[-1] == features
    h = np_conv(h, c['kernel'], c.get('bias'), stride)
    if norm == 'batch':
      h = np_bn_eval(h, p[f'bn_{i}'], v['batch_stats'][f'bn_{i}'])
    h = np_lrelu(h)
  h = h.reshape(h.shape[0], -1)
  h = np_lrelu(h @ p['dense_hidden']['kernel'] + p['dense_hidden']['bias'])
  return (h @ p['dense_out']['kernel'] + p['dense_out']['bias'])[:, 0]


def np_esrgan_discriminator(v, x, width, norm):
  """BasicSR's ``VGGStyleDiscriminator.forward``, stage by stage, down to 4x4."""
  p = v['params']

  def block(h, conv, bn, stride, pad):
    c = p[conv]
    h = np_conv(h, c['kernel'], c.get('bias'), stride, pad)
    if norm == 'batch':
      h = np_bn_eval(h, p[bn], v['batch_stats'][bn])
    return np_lrelu(h)

  h = np_lrelu(np_conv(x, p['conv0_0']['kernel'], p['conv0_0']['bias']))
  i = 0
  while h.shape[1] > 4:
    if i > 0:
      h = block(h, f'conv{i}_0', f'bn{i}_0', 1, 1)
    h = block(h, f'conv{i}_1', f'bn{i}_1', 2, 1)
    assert h.shape[-1] == width * min(2 ** i, 8)
    i += 1
  assert h.shape[1:3] == (4, 4)
  h = h.reshape(h.shape[0], -1)
  h = np_lrelu(h @ p['linear1']['kernel'] + p['linear1']['bias'])
  return (h @ p['linear2']['kernel'] + p['linear2']['bias'])[:, 0]


# ------------------------------------------------------------------------------------------
# Parameter counts from the layer lists.

def conv_params(k, cin, cout, bias=True):
  return k * k * cin * cout + (cout if bias else 0)


def srresnet_count(num_blocks, f, scale, c=3):
  """(params, batch_stats) of the paper's SRResNet; one PReLU slope per PReLU layer."""
  bn = 2 * f
  block = 2 * conv_params(3, f, f, bias=False) + 2 * bn + 1
  stages = int(math.log2(scale))
  params = (conv_params(9, c, f) + 1 + num_blocks * block + conv_params(3, f, f, bias=False)
            + bn + stages * (conv_params(3, f, 4 * f) + 1) + conv_params(9, f, c))
  return params, (2 * num_blocks + 1) * 2 * f


def rrdbnet_count(num_blocks, f, g, scale, c=3):
  rdb = sum(conv_params(3, f + k * g, g) for k in range(4)) + conv_params(3, f + 4 * g, f)
  stages = int(math.log2(scale))
  return (conv_params(3, c, f) + num_blocks * 3 * rdb + conv_params(3, f, f)
          + stages * conv_params(3, f, f) + conv_params(3, f, f) + conv_params(3, f, c))


def discriminator_count(size, w, hidden, c=3):
  pairs = [(w, w), (w, 2 * w), (2 * w, 2 * w), (2 * w, 4 * w), (4 * w, 4 * w), (4 * w, 8 * w),
           (8 * w, 8 * w)]   # (C_in, C_out) of the seven conv + BN blocks
  params = conv_params(3, c, w) + sum(conv_params(3, a, b, bias=False) + 2 * b
                                      for a, b in pairs)
  side = size
  for _ in range(4):
    side = -(-side // 2)   # four stride-2 convolutions, padding 1: ceil(side / 2)
  params += (8 * w * side * side) * hidden + hidden + hidden + 1
  return params


def esrgan_discriminator_count(size, w, hidden, c=3):
  """BasicSR's VGGStyleDiscriminator, written out from its layer list at 128 px (its
  conv0_0 .. conv4_1, linear1 into 8w x 4 x 4), with conv5_0/conv5_1 at 256 px."""
  layers = [(3, c, w, True), (4, w, w, False),
            (3, w, 2 * w, False), (4, 2 * w, 2 * w, False),
            (3, 2 * w, 4 * w, False), (4, 4 * w, 4 * w, False),
            (3, 4 * w, 8 * w, False), (4, 8 * w, 8 * w, False),
            (3, 8 * w, 8 * w, False), (4, 8 * w, 8 * w, False)]
  if size == 256:
    layers += [(3, 8 * w, 8 * w, False), (4, 8 * w, 8 * w, False)]
  assert size in (128, 256)
  convs = sum(conv_params(k, a, b, bias) + (0 if bias else 2 * b) for k, a, b, bias in layers)
  return convs + (8 * w * 4 * 4) * hidden + hidden + hidden + 1


class SRModelsTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(model=['srresnet', 'rrdbnet'], scale=[2, 4])
  def test_generator_output_shapes(self, model, scale):
    g = (sr.SRResNet(scale=scale, **SMALL_SRRESNET) if model == 'srresnet'
         else sr.RRDBNet(scale=scale, **SMALL_RRDBNET))
    lr = _images(LR)
    v = _init(g, lr)
    out = self.variant(lambda v, lr: g.apply(v, lr, train=False))(v, lr)
    chex.assert_shape(out, (3, 6 * scale, 5 * scale, 3))
    self.assertEqual(out.dtype, jnp.float32)
    chex.assert_tree_all_finite(out)

  def test_x8_is_three_x2_stages(self):
    lr = jax.ShapeDtypeStruct((1, 6, 5, 3), jnp.float32)
    for g in (sr.SRResNet(scale=8, **SMALL_SRRESNET), sr.RRDBNet(scale=8, **SMALL_RRDBNET)):
      out, v = jax.eval_shape(lambda x, g=g: g.init_with_output(_key(0), x, train=False), lr)
      self.assertEqual(out.shape, (1, 48, 40, 3))
      self.assertEqual(sorted(k for k in v['params'] if k.startswith('conv_up_')),
                       ['conv_up_0', 'conv_up_1', 'conv_up_2'])

  @parameterized.parameters(2, 4)
  def test_srresnet_matches_numpy_reference(self, scale):
    g = sr.SRResNet(scale=scale, **SMALL_SRRESNET)
    lr = _images(LR, seed=1)
    v = _randomize(_init(g, lr), seed=scale)
    got = g.apply(v, lr, train=False)
    want = np_srresnet(v, lr, SMALL_SRRESNET['num_blocks'], scale)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4)

  @parameterized.product(scale=[2, 4], scan=[False, True])
  def test_rrdbnet_matches_numpy_reference(self, scale, scan):
    # Two blocks: the scanned layout's second block is its stacked parameters' row 1.
    g = sr.RRDBNet(scale=scale, scan_blocks=scan, **dict(SMALL_RRDBNET, num_blocks=2))
    lr = _images(LR, seed=2)
    v = _randomize(_init(g, lr), seed=scale)
    got = g.apply(v, lr, train=False)
    params = v['params']
    if scan:  # the reference reads block b's parameters at rrdb_{b}: row b of rrdbs
      self.assertNotIn('rrdb_0', params)
      params = {k: x for k, x in params.items() if k != 'rrdbs'}
      params.update({f'rrdb_{b}': jax.tree.map(lambda a, b=b: a[b], v['params']['rrdbs'])
                     for b in range(2)})
    want = np_rrdbnet({'params': params}, lr, 2, scale)
    # Outputs grow to ~100 through two blocks of N(0, 0.3^2) weights: float32 rounding.
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4,
                               atol=2e-5 * np.abs(want).max())

  @parameterized.parameters('batch', 'none')
  def test_discriminator_matches_numpy_reference(self, norm):
    d = sr.SRGANDiscriminator(norm=norm, **SMALL_D)
    x = _images(HR, seed=3)
    v = _randomize(_init(d, x), seed=7)
    got = _apply(d, v, x, train=False)
    self.assertEqual(got.dtype, jnp.float32)
    np.testing.assert_allclose(np.asarray(got), np_discriminator(v, x, SMALL_D['width'], norm),
                               rtol=2e-4, atol=2e-4)

  @parameterized.parameters(('batch', 16), ('none', 16), ('batch', 8), ('spectral', 32))
  def test_esrgan_discriminator_matches_numpy_reference(self, norm, size):
    d = sr.SRGANDiscriminator(layout='esrgan', image_size=size, width=4, hidden=10, norm=norm)
    x = _images((2, size, size, 3), seed=3)
    v = _randomize(_init(d, x), seed=7)
    if norm == 'spectral':  # the reference sees the normalized weights: check the layout
      out, _ = jax.jit(lambda v, x: d.apply(v, x, train=False, mutable=['batch_stats']))(v, x)
      chex.assert_shape(out, (2,))
      self.assertEqual(sorted(v['params']), ['conv0_0', 'conv0_1', 'conv1_0', 'conv1_1',
                                             'conv2_0', 'conv2_1', 'linear1', 'linear2'])
      return
    got = _apply(d, v, x, train=False)
    self.assertEqual(got.dtype, jnp.float32)
    np.testing.assert_allclose(np.asarray(got), np_esrgan_discriminator(v, x, 4, norm),
                               rtol=2e-4, atol=2e-4)

  def test_esrgan_discriminator_is_basicsr_s(self):
    """At BasicSR's sizes: its parameter count from its layer list, and 8w x 4 x 4
    features into linear1 (100 units)."""
    for size, w in ((128, 64), (256, 64), (128, 16)):
      v = _shapes(sr.SRGANDiscriminator(layout='esrgan', image_size=size, width=w, hidden=100),
                  jnp.zeros((1, size, size, 3)))
      self.assertEqual(_count(v['params']), esrgan_discriminator_count(size, w, 100))
      chex.assert_shape(v['params']['linear1']['kernel'], (8 * w * 16, 100))
    # ESRGAN's D at 128 px, 64 features: 14.5 M parameters.
    self.assertEqual(round(esrgan_discriminator_count(128, 64, 100) / 1e5), 145)
    for size in (4, 96, 100):
      with self.assertRaisesRegex(ValueError, f'image_size .* must be 4 \\* 2\\^k.*got {size}'):
        _shapes(sr.SRGANDiscriminator(layout='esrgan', image_size=size),
                jnp.zeros((1, size, size, 3)))
    with self.assertRaisesRegex(ValueError, "layout must be one of srgan, esrgan; got 'vgg'"):
      _shapes(sr.SRGANDiscriminator(layout='vgg'), jnp.zeros((1, 96, 96, 3)))

  def test_parameter_counts(self):
    lr = jnp.zeros((1, 8, 8, 3))
    for kwargs, scale in [({}, 4), ({}, 2), (dict(num_blocks=4, features=32), 4)]:
      v = _shapes(sr.SRResNet(scale=scale, **kwargs), lr)
      want_params, want_stats = srresnet_count(kwargs.get('num_blocks', 16),
                                               kwargs.get('features', 64), scale)
      self.assertEqual(_count(v['params']), want_params)
      self.assertEqual(_count(v['batch_stats']), want_stats)
    # The paper's SRResNet: about 1.55 M parameters.
    self.assertEqual(round(srresnet_count(16, 64, 4)[0] / 1e4), 155)
    for kwargs, scale in [({}, 4), ({}, 2), (dict(num_blocks=2, features=32, growth=16), 4)]:
      v = _shapes(sr.RRDBNet(scale=scale, **kwargs), lr)
      self.assertEqual(set(v), {'params'})
      self.assertEqual(_count(v['params']),
                       rrdbnet_count(kwargs.get('num_blocks', 23), kwargs.get('features', 64),
                                     kwargs.get('growth', 32), scale))
    # ESRGAN's RRDBNet (23 blocks, 64 features, growth 32, x4): 16.7 M, as BasicSR reports.
    self.assertEqual(round(rrdbnet_count(23, 64, 32, 4) / 1e5), 167)
    for size, w, hidden in [(96, 64, 1024), (20, 4, 16), (32, 16, 256)]:
      v = _shapes(sr.SRGANDiscriminator(image_size=size, width=w, hidden=hidden),
                  jnp.zeros((1, size, size, 3)))
      self.assertEqual(_count(v['params']), discriminator_count(size, w, hidden))
    # The paper's D at 96 px: 512 x 6 x 6 = 18,432 features into the Dense 1024.
    v = _shapes(sr.SRGANDiscriminator(), jnp.zeros((1, 96, 96, 3)))
    chex.assert_shape(v['params']['dense_hidden']['kernel'], (18432, 1024))

  @parameterized.parameters(False, True)
  def test_rrdbnet_kaiming_init_scaled_by_a_tenth(self, scan):
    g = sr.RRDBNet(num_blocks=1, features=64, growth=32, scan_blocks=scan)
    params = _init(g, jnp.zeros((1, 4, 4, 3)), seed=3)['params']
    flat = flax.traverse_util.flatten_dict(params)
    kernels = {k: np.asarray(x, np.float64) for k, x in flat.items() if k[-1] == 'kernel'}
    self.assertLen(kernels, 15 + 6)
    z = []
    for path, w in kernels.items():
      fan_in = int(np.prod(w.shape[-4:-1]))  # [(blocks,) kh, kw, c_in, c_out]
      sigma = 0.1 * math.sqrt(2.0 / fan_in)
      n = w.size
      # The sample std's standard error is ~ sigma / sqrt(2 n); the mean's sigma / sqrt(n).
      self.assertLess(abs(w.std() / sigma - 1.0), 5.0 / math.sqrt(2 * n), msg=str(path))
      self.assertLess(abs(w.mean()), 5.0 * sigma / math.sqrt(n), msg=str(path))
      z.append(w.ravel() / sigma)
    # Untruncated normal (PyTorch's kaiming_normal_): P(|z| > 2) = 0.0455.
    z = np.concatenate(z)
    self.assertAlmostEqual(np.mean(np.abs(z) > 2.0), 0.0455, delta=0.003)
    for path, b in flat.items():
      if path[-1] == 'bias':
        np.testing.assert_array_equal(b, 0.0)

  def test_srresnet_init(self):
    g = sr.SRResNet(num_blocks=2, features=64)
    v = _init(g, jnp.zeros((1, 4, 4, 3)), seed=4)
    flat = flax.traverse_util.flatten_dict(v['params'])
    for path, w in flat.items():
      w = np.asarray(w, np.float64)
      if path[-1] == 'kernel':
        sigma = math.sqrt(2.0 / np.prod(w.shape[:-1]))   # Kaiming normal, gain sqrt(2)
        self.assertLess(abs(w.std() / sigma - 1.0), 5.0 / math.sqrt(2 * w.size), msg=str(path))
      elif path[-1] == 'negative_slope':
        self.assertEqual(float(w), 0.25)
      elif path[-1] == 'scale':
        np.testing.assert_array_equal(w, 1.0)
      else:
        self.assertEqual(path[-1], 'bias')
        np.testing.assert_array_equal(w, 0.0)
    # Convolutions followed by BatchNorm have no bias.
    self.assertNotIn(('block_0', 'conv1', 'bias'), flat)
    self.assertNotIn(('conv_body', 'bias'), flat)

  def test_dense_block_matches_the_concatenated_form_and_its_derivatives(self):
    # The block sums per-part convolutions instead of convolving concatenations; the NumPy
    # reference concatenates. Growth unequal to features checks each part's kernel rows.
    for features, growth in ((8, 4), (6, 5)):
      x = jax.random.normal(_key(3), (2, 5, 4, features))
      rdb = sr.ResidualDenseBlock(features=features, growth=growth)
      v = _randomize(jax.jit(rdb.init)(_key(1), x), seed=2)
      self.assertEqual([v['params'][f'conv{k}']['kernel'].shape for k in range(1, 6)],
                       [(3, 3, features + growth * (k - 1), growth if k < 5 else features)
                        for k in range(1, 6)])
      np.testing.assert_allclose(_apply(rdb, v, x), np_rdb(v['params'], np.asarray(x)),
                                 rtol=1e-5, atol=1e-5)
    with jax.enable_x64(True):  # against finite differences, both modes
      rdb64 = dataclasses.replace(rdb, dtype=jnp.float64)
      p64 = jax.tree.map(lambda a: np.asarray(a, np.float64), v['params'])
      x64 = np.asarray(x[:1], np.float64)
      # (compiled whole: its derivatives and finite differences, not op by op)
      jtu.check_grads(jax.jit(lambda p, x: rdb64.apply({'params': p}, x)), (p64, x64), order=1,
                      modes=['fwd', 'rev'])

  def test_residual_scaling(self):
    x = jax.random.normal(_key(0), (2, 5, 4, 8))
    rdb = sr.ResidualDenseBlock(features=8, growth=4)
    v = _randomize(jax.jit(rdb.init)(_key(1), x), seed=0)
    b = np.random.default_rng(1).standard_normal(8).astype(np.float32)
    v['params']['conv5'] = {'kernel': np.zeros_like(v['params']['conv5']['kernel']), 'bias': b}
    # Last conv zeroed: the dense block is x + 0.2 * (its bias).
    np.testing.assert_allclose(rdb.apply(v, x), x + 0.2 * b, rtol=1e-6, atol=1e-6)
    v['params']['conv5']['bias'] = np.zeros_like(b)
    np.testing.assert_allclose(rdb.apply(v, x), x, rtol=1e-6, atol=1e-6)

    rrdb = sr.RRDB(features=8, growth=4)
    v = _randomize(jax.jit(rrdb.init)(_key(2), x), seed=1)
    for name in ('rdb1', 'rdb2', 'rdb3'):
      v['params'][name]['conv5'] = jax.tree.map(np.zeros_like, v['params'][name]['conv5'])
    # Each dense block is then the identity and the RRDB is 0.2 * x + x.
    np.testing.assert_allclose(rrdb.apply(v, x), 1.2 * x, rtol=1e-6, atol=1e-6)
    v['params']['rdb3']['conv5']['bias'] = b
    # rdb3 gives x + 0.2 b, the RRDB 0.2 (x + 0.2 b) + x.
    np.testing.assert_allclose(rrdb.apply(v, x), 1.2 * x + 0.04 * b, rtol=1e-5, atol=1e-5)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*NORMS)
  def test_discriminator_output_shape(self, norm):
    d = sr.SRGANDiscriminator(norm=norm, **SMALL_D)
    x = _images(HR)
    v = _init(d, x)
    logits = self.variant(lambda v, x: d.apply(v, x, train=False))(v, x)
    chex.assert_shape(logits, (3,))
    self.assertEqual(logits.dtype, jnp.float32)
    chex.assert_tree_all_finite(logits)

  def test_paper_discriminator_output_shape_at_96px(self):
    d = sr.SRGANDiscriminator()
    x = jax.ShapeDtypeStruct((4, 96, 96, 3), jnp.float32)
    out = jax.eval_shape(lambda x: d.init_with_output(_key(0), x, train=False)[0], x)
    self.assertEqual((out.shape, out.dtype), ((4,), jnp.float32))

  def test_batch_norm_train_eval_switch(self):
    lr, hr = _images(LR), _images(HR)
    cases = [(sr.SRResNet(**SMALL_SRRESNET), lr, True),
             (sr.SRGANDiscriminator(**SMALL_D), hr, True),
             (sr.SRGANDiscriminator(norm='none', **SMALL_D), hr, False)]
    for model, x, has_bn in cases:
      v = _init(model, x)
      other = x.at[1:].set(-x[1:])   # the same first example, other batch-mates

      @functools.partial(jax.jit, static_argnums=1)
      def first(inp, train, model=model, v=v):
        if train:
          out, upd = model.apply(v, inp, train=True, mutable=['batch_stats'])
          return out[0], upd
        return model.apply(v, inp, train=False)[0], None

      # Inference: no batch statistics, so example 0 ignores its batch-mates.
      np.testing.assert_allclose(first(x, False)[0], first(other, False)[0], rtol=1e-6)
      # Training: batch statistics couple the examples (BN) and are updated.
      out_a, upd = first(x, True)
      out_b, _ = first(other, True)
      self.assertEqual(not np.allclose(out_a, out_b, rtol=1e-4, atol=1e-5), has_bn)
      if has_bn:
        changed = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))),
                               v['batch_stats'], upd['batch_stats'])
        self.assertTrue(all(jax.tree.leaves(changed)))
        if isinstance(model, sr.SRGANDiscriminator):
          # Running averages with momentum 0.9 from (0, 1): 0.1 * the batch's mean and
          # 0.9 + 0.1 * its (biased) variance of the first BN's input, conv_1(LReLU(conv_0 x)).
          p = v['params']
          t = np_conv(np_lrelu(np_conv(np.asarray(x), p['conv_0']['kernel'],
                                       p['conv_0']['bias'])), p['conv_1']['kernel'], stride=2)
          got = upd['batch_stats']['bn_1']
          np.testing.assert_allclose(got['mean'], 0.1 * t.mean((0, 1, 2)), rtol=1e-4,
                                     atol=1e-6)
          np.testing.assert_allclose(got['var'], 0.9 + 0.1 * t.var((0, 1, 2)), rtol=1e-4)
      else:
        self.assertNotIn('batch_stats', v)

  def test_bfloat16(self):
    lr = _images(LR)
    for g in (sr.SRResNet(dtype=jnp.bfloat16, **SMALL_SRRESNET),
              sr.RRDBNet(dtype=jnp.bfloat16, **SMALL_RRDBNET)):
      self.assertTrue(all(p.dtype == jnp.float32 for p in jax.tree.leaves(_shapes(g, lr))))
      v = _init(g, lr)
      out = jax.jit(lambda v, x, g=g: g.apply(v, x, train=True, mutable=['batch_stats'])[0])(
          v, lr)
      self.assertEqual(out.dtype, jnp.bfloat16)
      chex.assert_shape(out, (3, 24, 20, 3))
      chex.assert_tree_all_finite(out)
    hr = _images(HR)
    for norm in ('batch', 'spectral'):
      d = sr.SRGANDiscriminator(norm=norm, dtype=jnp.bfloat16, **SMALL_D)
      v = _init(d, hr)
      logits = jax.jit(lambda v, x, d=d: d.apply(v, x, train=True, mutable=['batch_stats'])[0])(
          v, hr)
      self.assertEqual(logits.dtype, jnp.float32)
      chex.assert_tree_all_finite(logits)

  def test_gradients_finite_and_nonzero_for_every_parameter(self):
    lr = _images(LR)
    hr = _images(HR)
    cases = [(sr.SRResNet(**SMALL_SRRESNET), lr), (sr.RRDBNet(**SMALL_RRDBNET), lr)]
    cases += [(sr.SRGANDiscriminator(**SMALL_D), hr)]
    for model, x in cases:
      v = _init(model, x)
      params, state = v['params'], {k: t for k, t in v.items() if k != 'params'}
      out_shape = jax.eval_shape(lambda p, s=state, x=x, m=model: m.apply(
          {'params': p, **s}, x, train=True, mutable=['batch_stats'])[0], params).shape
      # A random projection: the plain sum of BN outputs has zero gradient.
      proj = jax.random.normal(_key(3), out_shape)

      def loss(p, s=state, x=x, m=model, proj=proj):
        out, _ = m.apply({'params': p, **s}, x, train=True, mutable=['batch_stats'])
        return jnp.sum(out * proj)

      grads = jax.jit(jax.grad(loss))(params)
      for path, g in jax.tree_util.tree_leaves_with_path(grads):
        name = f'{type(model).__name__}{jax.tree_util.keystr(path)}'
        self.assertTrue(np.all(np.isfinite(g)), msg=name)
        self.assertTrue(np.any(np.asarray(g) != 0), msg=name)

  @parameterized.product(model=['srresnet', 'rrdbnet'], scale=[2, 4])
  def test_receptive_radius_is_where_the_gradient_of_an_output_pixel_ends(self, model, scale):
    # Independent of the interval arithmetic: the LR pixels an output pixel's value depends
    # on are where its gradient is nonzero (random weights: no cancellation, and PReLU /
    # LeakyReLU pass every gradient).
    g = (sr.SRResNet(scale=scale, **SMALL_SRRESNET) if model == 'srresnet'
         else sr.RRDBNet(scale=scale, **SMALL_RRDBNET))
    radius = sr.receptive_radius(g)
    c = radius + 2
    lr = _images((1, 2 * c + 1, 2 * c + 1, 3), seed=4)
    v = _randomize(_init(g, lr), seed=5)
    reach = 0
    pixel_grad = jax.jit(jax.grad(lambda x, q: g.apply(v, x, train=False)[0, q, q].sum()))
    for phase in range(scale):
      q = c * scale + phase   # an output pixel inside LR pixel (c, c)
      grad = pixel_grad(lr, q)
      rows, cols = np.nonzero(np.abs(np.asarray(grad[0])).sum(-1))
      self.assertTrue(0 < rows.min() and rows.max() < 2 * c)  # the image holds the field
      reach = max(reach, c - rows.min(), rows.max() - c, c - cols.min(), cols.max() - c)
    self.assertEqual(radius, reach)

  def test_bad_inputs(self):
    lr = jnp.zeros((1, 4, 4, 3))
    for cls in (sr.SRResNet, sr.RRDBNet):
      with self.assertRaisesRegex(ValueError, 'scale must be one of 2, 4, 8; got 3'):
        cls(scale=3, num_blocks=1, features=8).init(_key(0), lr)
      with self.assertRaisesRegex(ValueError, r'shape \[B, h, w, C\]; got shape \(4, 4, 3\)'):
        cls(num_blocks=1, features=8).init(_key(0), lr[0])
      with self.assertRaisesRegex(ValueError, 'unconditional'):
        cls(num_blocks=1, features=8).init(_key(0), lr, jnp.zeros((1,), jnp.int32))
    d = sr.SRGANDiscriminator(**SMALL_D)
    with self.assertRaisesRegex(ValueError, r'\[B, 20, 20, C\]; got shape \(1, 24, 24, 3\)'):
      d.init(_key(0), jnp.zeros((1, 24, 24, 3)))
    with self.assertRaisesRegex(ValueError, 'norm must be one of batch, layer, layer_chw, '
                                'none, spectral; got .group.'):
      sr.SRGANDiscriminator(norm='group', **SMALL_D).init(_key(0),
                                                          jnp.zeros((1, 20, 20, 3)))


class ScannedRRDBNetTest(chex.TestCase):
  """``RRDBNet(scan_blocks=True)``: the same function as the unrolled blocks, with their
  parameters stacked (:func:`sr.stack_rrdbs`)."""

  def test_the_layout_is_the_unrolled_one_stacked(self):
    lr = jnp.zeros((1, 8, 8, 3))
    for kwargs in (dict(num_blocks=3, features=8, growth=4), {}):  # {}: the paper's
      unrolled = _shapes(sr.RRDBNet(**kwargs), lr)['params']
      scanned = _shapes(sr.RRDBNet(scan_blocks=True, **kwargs), lr)['params']
      n = kwargs.get('num_blocks', 23)
      self.assertEqual(sorted(scanned), sorted(
          [k for k in unrolled if not k.startswith('rrdb_')] + ['rrdbs']))
      for path, leaf in flax.traverse_util.flatten_dict(scanned['rrdbs']).items():
        one = flax.traverse_util.flatten_dict(unrolled['rrdb_0'])[path]
        self.assertEqual(leaf.shape, (n, *one.shape), msg=str(path))
      self.assertEqual(_count(scanned), _count(unrolled))

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(2, 4)
  def test_same_output_and_gradients_as_the_unrolled_blocks(self, scale):
    kwargs = dict(num_blocks=3, features=8, growth=4, scale=scale)
    unrolled, scanned = sr.RRDBNet(**kwargs), sr.RRDBNet(scan_blocks=True, **kwargs)
    lr = _images(LR, seed=5)
    # 0.3-scale weights (not the init's 0.03): every block changes the trunk.
    params = _randomize(_init(unrolled, lr), seed=6)['params']
    stacked = sr.stack_rrdbs(params)
    loss = lambda g: lambda p, x: jnp.sum(jnp.sin(g.apply({'params': p}, x)))
    want_y = unrolled.apply({'params': params}, lr)
    got_y = self.variant(lambda p, x: scanned.apply({'params': p}, x))(stacked, lr)
    # Relative to each leaf's largest value: outputs reach ~10, gradients ~3000.
    close = lambda got, want: jax.tree.map(lambda a, b: np.testing.assert_allclose(
        a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max()), got, want)
    close(got_y, want_y)
    # Without the blocks the output differs (the check can fail).
    self.assertGreater(float(jnp.abs(want_y - unrolled.clone(num_blocks=1).apply(
        {'params': params}, lr)).max()), 0.1)
    want_g = jax.grad(loss(unrolled), argnums=(0, 1))(params, lr)
    got_g = self.variant(jax.grad(loss(scanned), argnums=(0, 1)))(stacked, lr)
    chex.assert_trees_all_equal_structs(got_g[0], stacked)
    close(got_g[0], sr.stack_rrdbs(want_g[0]))
    close(got_g[1], want_g[1])

  def test_the_scanned_gradient_stays_on_xla_cpus_fast_path(self):
    # Every convolution of the compiled parameter gradient is canonical (b01f_01io->b01f,
    # no reversal), the blocks' inside the loop too (polyphase.loop_safe_conv). With XLA's
    # own op in its place the blocks' kernel gradients are not (the check can fail).
    if jax.default_backend() != 'cpu':
      self.skipTest('XLA:CPU layouts')
    g = sr.RRDBNet(num_blocks=2, features=8, growth=4, scan_blocks=True)
    lr = _images(LR, seed=7)
    params = _init(g, lr)['params']

    def slow_convolutions() -> int:
      grad = jax.jit(jax.grad(lambda p: jnp.sum(g.apply({'params': p}, lr) ** 2)))
      convs = [line for line in grad.lower(params).compile().as_text().splitlines()
               if ' convolution(' in line]
      self.assertNotEmpty(convs)
      return sum('reversal' in line or 'b01f_01io->b01f' not in line for line in convs)
    self.assertEqual(slow_convolutions(), 0)
    xla_op = lambda x, k, padding, precision=None: jax.lax.conv_general_dilated(
        x, k, (1, 1), padding, precision=precision,
        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    with mock.patch.object(polyphase, 'loop_safe_conv', xla_op):
      self.assertGreater(slow_convolutions(), 0)

  def test_blocks_are_initialized_independently(self):
    g = sr.RRDBNet(num_blocks=2, features=8, growth=4, scan_blocks=True)
    kernels = _init(g, jnp.zeros((1, 4, 4, 3)))['params']['rrdbs']['rdb1']['conv1']['kernel']
    chex.assert_shape(kernels, (2, 3, 3, 8, 4))
    self.assertGreater(float(jnp.abs(kernels[0] - kernels[1]).min()), 0.0)

  def test_unstack_inverts_stack(self):
    rng = np.random.default_rng(0)
    normal = lambda *shape: rng.normal(size=shape).astype(np.float32)
    params = {'conv_first': {'kernel': normal(3, 3, 3, 4)},
              **{f'rrdb_{i}': {'rdb1': {'w': normal(2, 5)}} for i in range(12)}}
    stacked = sr.stack_rrdbs(params)
    # rrdb_10 and rrdb_11 come after rrdb_9 (numeric order, not the strings').
    np.testing.assert_array_equal(stacked['rrdbs']['rdb1']['w'],
                                  np.stack([params[f'rrdb_{i}']['rdb1']['w']
                                            for i in range(12)]))
    np.testing.assert_array_equal(stacked['conv_first']['kernel'],
                                  params['conv_first']['kernel'])
    back = sr.unstack_rrdbs(stacked)
    self.assertEqual(sorted(back), sorted(params))
    chex.assert_trees_all_equal(back, params)

  def test_bad_layouts_are_named(self):
    with self.assertRaisesRegex(ValueError, r"rrdb_0 \.\.\. rrdb_\{n-1\}; got \['rrdb_0', "
                                r"'rrdb_2'\]"):
      sr.stack_rrdbs({'rrdb_0': {'w': np.zeros(1)}, 'rrdb_2': {'w': np.zeros(1)}})
    with self.assertRaisesRegex(ValueError, r'rrdb_0 \.\.\. rrdb_\{n-1\}; got \[\]'):
      sr.stack_rrdbs({'conv_first': {}})
    with self.assertRaisesRegex(ValueError, r"subtree 'rrdbs'; got \['conv_first', 'rrdb_0'\]"):
      sr.unstack_rrdbs({'rrdb_0': {}, 'conv_first': {}})


if __name__ == '__main__':
  absltest.main()
