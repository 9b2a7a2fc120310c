"""Forward passes of the DCGAN and conditional models against float64 NumPy written by hand.

Every variable is redrawn (biases, BN scales and running statistics included) so that no
layer is the identity; the reference rebuilds each network from its documented architecture
(layer order, activations, 'SAME' paddings, where the labels enter) with its own
convolutions, and compares with ``jax.jit(model.apply)`` in inference mode (``train=False``).
"""

import functools

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from flax import traverse_util

from jaxgan import models
from jaxgan.models import blocks

BN_EPS = nn.BatchNorm.epsilon  # DCGAN's, the trunk's and InfoGAN's BatchNorm
CBN_EPS = blocks.ConditionalBatchNorm.epsilon  # the cGAN generator's
SAME_4X4_S2 = ((1, 1), (1, 1))  # conv 4x4 stride 2, 'SAME', even input
SAME_3X3 = ((1, 1), (1, 1))
SAME_T_4X4_S2 = ((2, 2), (2, 2))  # lax.conv_transpose 'SAME', k=4, s=2: pads ceil(4/2), 2
K = 3  # classes / categories


def _conv(x, w, stride, pads):
  """Correlation (no flip) of NHWC ``x`` with HWIO ``w``, zero padding ``pads``."""
  kh, kw = w.shape[:2]
  x = np.pad(x, ((0, 0), *pads, (0, 0)))
  oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
  return sum(x[:, u:u + stride * (oh - 1) + 1:stride, v:v + stride * (ow - 1) + 1:stride]
             @ w[u, v] for u in range(kh) for v in range(kw))


def _conv_transpose(x, w, stride, pads):
  """``lax.conv_transpose`` (no kernel flip): ``x`` dilated by ``stride``, padded, correlated."""
  n, h, wd, c = x.shape
  dilated = np.zeros((n, (h - 1) * stride + 1, (wd - 1) * stride + 1, c))
  dilated[:, ::stride, ::stride] = x
  return _conv(dilated, w, 1, pads)


def _relu(x):
  return np.maximum(x, 0.0)


def _lrelu(x, slope):
  return np.where(x >= 0, x, slope * x)


def _dense(h, p, kernel=None):
  return h @ (p['kernel'] if kernel is None else kernel) + p['bias']


def _bn(h, p, s, eps=BN_EPS):
  return (h - s['mean']) / np.sqrt(s['var'] + eps) * p['scale'] + p['bias']


def _spectral(w, u):
  """``w / sigma``, sigma from one power iteration from ``u`` on ``w`` as ``[-1, out]``."""
  m = w.reshape(-1, w.shape[-1])
  v = u @ m.T
  v = v / np.sqrt(np.sum(v * v) + 1e-12)
  u = v @ m
  u = u / np.sqrt(np.sum(u * u) + 1e-12)
  return w / (v @ m @ u.T)[0, 0]


_DRAWS = {'embedding': lambda rng, shape: rng.normal(size=shape),
          'bias': lambda rng, shape: 0.3 * rng.normal(size=shape),
          'mean': lambda rng, shape: 0.3 * rng.normal(size=shape),
          'var': lambda rng, shape: 10.0 ** rng.uniform(-4, 0.3, size=shape),
          'scale': lambda rng, shape: rng.uniform(0.5, 1.5, size=shape)}


def _randomize(variables, seed=0):
  """``variables`` (float32) redrawn: kernels N(0, 1 / fan_in) (a 4x4/2 transposed conv: 4
  taps per output), embeddings N(0, 1), biases and
  running means 0.3 N(0, 1) (BN biases + 0.5: fewer dead ReLUs), running variances
  log-uniform in [1e-4, 2] and BN scales U(0.5, 1.5) * sqrt(var), so that outputs stay O(1)
  while ``eps`` matters (up to 5%). Spectral norm's stored ``u`` is kept."""
  rng = np.random.default_rng(seed)
  flat = traverse_util.flatten_dict(jax.device_get(variables))
  for key, x in flat.items():
    if key[-1] == 'kernel':
      fan_in = np.prod(x.shape[:-1]) // (4 if 'ConvTranspose' in key[-2] else 1)
      flat[key] = (rng.normal(size=x.shape) / np.sqrt(fan_in)).astype(np.float32)
    elif key[-1] in _DRAWS:
      shift = 0.5 if key[-1] == 'bias' and 'BatchNorm' in key[-2] + key[-3] else 0.0
      flat[key] = (_DRAWS[key[-1]](rng, np.shape(x)) + shift).astype(np.float32)
  for key in [k for k in flat if k[0] == 'batch_stats' and k[-1] == 'var']:
    path = key[1:-1]  # nn.BatchNorm's scope; ConditionalBatchNorm's tables one level up
    scale = ('params', *path, 'scale')
    scale = scale if scale in flat else ('params', *path[:-1], 'scale')
    flat[scale] = (flat[scale] * np.sqrt(flat[key])).astype(np.float32)
  return traverse_util.unflatten_dict(flat)


def _float64(variables):
  return jax.tree.map(lambda t: np.asarray(t, np.float64), variables)


def _forward(model, variables, *inputs):
  return jax.jit(functools.partial(model.apply, train=False))(variables, *inputs)


def _init(model, *inputs):
  """``model.init(key(0), *inputs, train=False)`` as one compiled program (eagerly each op
  compiles on its own)."""
  return jax.jit(functools.partial(model.init, train=False))(jax.random.key(0), *inputs)


def _np_dcgan_generator(v, z):
  """Dense -> BN, ReLU -> 4x4 -> 3 x [ConvT 4x4/2, BN, ReLU] -> Conv 3x3 -> tanh (32 px)."""
  p, s = v['params'], v['batch_stats']
  h = _relu(_bn(_dense(z, p['Dense_0']), p['BatchNorm_0'], s['BatchNorm_0']))
  h = h.reshape(z.shape[0], 4, 4, -1)
  for i in range(3):
    conv = p[f'ConvTranspose_{i}']
    h = _conv_transpose(h, conv['kernel'], 2, SAME_T_4X4_S2) + conv['bias']
    h = _relu(_bn(h, p[f'BatchNorm_{i + 1}'], s[f'BatchNorm_{i + 1}']))
  return np.tanh(_conv(h, p['Conv_0']['kernel'], 1, SAME_3X3) + p['Conv_0']['bias'])


def _ln(h, p, axes, eps=1e-6):
  """LayerNorm over ``axes`` (Flax's epsilon), a scale and bias per channel."""
  mean = h.mean(axis=axes, keepdims=True)
  var = ((h - mean) ** 2).mean(axis=axes, keepdims=True)
  return (h - mean) / np.sqrt(var + eps) * p['scale'] + p['bias']


def _np_dcgan_discriminator(v, x, num_layers, norm='batch'):
  """[Conv 4x4/2, norm (not the first), LeakyReLU 0.2] * num_layers -> flatten -> Dense 1;
  ``norm`` 'batch', 'layer' (over C), 'layer_chw' (over H, W and C) or 'none'."""
  p, s = v['params'], v.get('batch_stats')
  h = x
  for i in range(num_layers):
    h = _conv(h, p[f'Conv_{i}']['kernel'], 2, SAME_4X4_S2) + p[f'Conv_{i}']['bias']
    if i > 0 and norm == 'batch':
      h = _bn(h, p[f'BatchNorm_{i - 1}'], s[f'BatchNorm_{i - 1}'])
    elif i > 0 and norm in ('layer', 'layer_chw'):
      h = _ln(h, p[f'LayerNorm_{i - 1}'], -1 if norm == 'layer' else (1, 2, 3))
    h = _lrelu(h, 0.2)
  return _dense(h.reshape(x.shape[0], -1), p['Dense_0'])[:, 0]


def _np_kernel(p, s, name, i, norm):
  """``p[name]``'s kernel; with ``norm == 'spectral'`` divided by its sigma (the power
  iteration's ``u`` of the module's i-th SpectralNorm)."""
  w = p[name]['kernel']
  return _spectral(w, s[f'SpectralNorm_{i}'][f'{name}/kernel/u']) if norm == 'spectral' else w


def _np_norm(h, p, s, i, norm):
  """The module's i-th BatchNorm, or LayerNorm (each position over its channels); h as it
  is for the other norms."""
  if norm == 'layer':
    return _ln(h, p[f'LayerNorm_{i}'], -1)
  return _bn(h, p[f'BatchNorm_{i}'], s[f'BatchNorm_{i}']) if norm == 'batch' else h


def _np_trunk(p, s, x, slope, norm):
  """conv 4x4/2 -> lReLU -> conv 4x4/2 -> norm -> lReLU -> flatten -> Dense -> norm -> lReLU."""
  kernel = lambda name, i: _np_kernel(p, s, name, i, norm)
  h = _lrelu(_conv(x, kernel('Conv_0', 0), 2, SAME_4X4_S2) + p['Conv_0']['bias'], slope)
  h = _conv(h, kernel('Conv_1', 1), 2, SAME_4X4_S2) + p['Conv_1']['bias']
  h = _lrelu(_np_norm(h, p, s, 0, norm), slope).reshape(x.shape[0], -1)
  return _lrelu(_np_norm(_dense(h, p['Dense_0'], kernel('Dense_0', 2)), p, s, 1, norm), slope)


def _np_upsample(h, p, norm, width):
  """``norm`` (flat), ReLU -> 7x7x(2 width) -> ConvT 4x4/2 -> ``norm``, ReLU -> ConvT 4x4/2
  -> tanh; ``norm(h, i)`` is the i-th norm of the stack."""
  h = _relu(norm(h, 0)).reshape(h.shape[0], 7, 7, 2 * width)
  c0, c1 = p['ConvTranspose_0'], p['ConvTranspose_1']
  h = _relu(norm(_conv_transpose(h, c0['kernel'], 2, SAME_T_4X4_S2) + c0['bias'], 1))
  return np.tanh(_conv_transpose(h, c1['kernel'], 2, SAME_T_4X4_S2) + c1['bias'])


def _np_cgan_generator(v, z, y, width, conditional_bn):
  """[z, embed(y)] -> Dense -> the up-sampling stack, conditional BN gamma[y], beta[y]."""
  p, s = v['params'], v['batch_stats']

  def norm(h, i):
    scope, stats = p[f'ConditionalBatchNorm_{i}'], s[f'ConditionalBatchNorm_{i}']['bn']
    if not conditional_bn:
      return _bn(h, scope['bn'], stats, CBN_EPS)
    shape = (h.shape[0],) + (1,) * (h.ndim - 2) + (-1,)
    table = {'scale': scope['scale'][y].reshape(shape), 'bias': scope['bias'][y].reshape(shape)}
    return _bn(h, table, stats, CBN_EPS)

  h = _dense(np.concatenate([z, p['embed']['embedding'][y]], -1), p['Dense_0'])
  return _np_upsample(h, p, norm, width)


def _np_infogan_generator(v, z, codes, width):
  """[z, one_hot(c), c_cont] -> Dense -> BN, ReLU -> Dense -> the up-sampling stack (BN)."""
  p, s = v['params'], v['batch_stats']
  h = np.concatenate([z, np.eye(K)[codes['categorical']], codes['continuous']], -1)
  h = _dense(_relu(_bn(_dense(h, p['Dense_0']), p['BatchNorm_0'], s['BatchNorm_0'])),
             p['Dense_1'])
  return _np_upsample(h, p, lambda t, i: _bn(t, p[f'BatchNorm_{i + 1}'],
                                             s[f'BatchNorm_{i + 1}']), width)


def _close(got, want):
  chex.assert_trees_all_close(jax.tree.map(np.asarray, got), want, rtol=1e-4, atol=1e-4)


class DCGANReferenceTest(chex.TestCase):

  def test_generator(self):
    """The 32 px generator: Dense, three ConvT 4x4/2 with BN (running stats), Conv, tanh."""
    g, _ = models.get('dcgan', {'image_size': 32, 'channels': 3, 'width': 8})
    z = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    v = _randomize(_init(g, z))
    out = _forward(g, v, z)
    want = _np_dcgan_generator(_float64(v), z.astype(np.float64))
    chex.assert_shape(out, (4, 32, 32, 3))
    self.assertLess(np.mean(np.abs(want) > 0.99), 0.2)  # tanh mostly unsaturated
    _close(out, want)

  def test_discriminator(self):
    """Three Conv 4x4/2 (BN after the 2nd and 3rd), LeakyReLU 0.2, Dense 1 on 16 px."""
    _, d = models.get('dcgan', discriminator={'width': 4, 'num_layers': 3, 'norm': 'batch'})
    x = np.random.default_rng(1).uniform(-1, 1, size=(3, 16, 16, 3)).astype(np.float32)
    v = _randomize(_init(d, x))
    _close(_forward(d, v, x), _np_dcgan_discriminator(_float64(v), x.astype(np.float64), 3))

  @parameterized.parameters('layer', 'layer_chw', 'none')
  def test_critic_without_batch_statistics(self, norm):
    """The gradient-penalty critics: LayerNorm after the 2nd and 3rd Conv only, or none."""
    _, d = models.get('dcgan', discriminator={'width': 4, 'num_layers': 3, 'norm': norm})
    x = np.random.default_rng(2).uniform(-1, 1, size=(3, 16, 16, 3)).astype(np.float32)
    v = _randomize(_init(d, x))
    self.assertNotIn('batch_stats', v)
    want = _np_dcgan_discriminator(_float64(v), x.astype(np.float64), 3, norm)
    _close(_forward(d, v, x), want)

  def test_defaults_are_the_cifar_dcgan(self):
    """Radford et al.'s 32 px RGB pair: generator width 64 (Dense to 4 x 4 x 256, three
    ConvT 4x4/2 to 128, 64, 32 channels, Conv 3x3 to 3); critic width 64, three Conv 4x4/2
    (64, 128, 256) with BatchNorm after the 2nd and 3rd."""
    shapes = lambda model, *inputs: jax.tree.map(lambda a: a.shape, jax.eval_shape(
        functools.partial(model.init, train=False), jax.random.key(0), *inputs))
    g = shapes(models.DCGANGenerator(), np.zeros((1, 100), np.float32))
    self.assertEqual(g['params']['Dense_0']['kernel'], (100, 4 * 4 * 256))
    self.assertEqual([g['params'][f'ConvTranspose_{i}']['kernel'] for i in range(3)],
                     [(4, 4, 256, 128), (4, 4, 128, 64), (4, 4, 64, 32)])
    self.assertEqual(g['params']['Conv_0']['kernel'], (3, 3, 32, 3))
    self.assertNotIn('ConvTranspose_3', g['params'])
    d = shapes(models.DCGANDiscriminator(), np.zeros((1, 32, 32, 3), np.float32))
    self.assertEqual([d['params'][f'Conv_{i}']['kernel'] for i in range(3)],
                     [(4, 4, 3, 64), (4, 4, 64, 128), (4, 4, 128, 256)])
    self.assertNotIn('Conv_3', d['params'])
    self.assertEqual(sorted(d['batch_stats']), ['BatchNorm_0', 'BatchNorm_1'])
    self.assertEqual(d['params']['Dense_0']['kernel'], (4 * 4 * 256, 1))


class MLPReferenceTest(chex.TestCase):

  def test_generator(self):
    """[Dense, ReLU] x 2 -> BN (running stats) -> Dense -> tanh, reshaped."""
    g = models.MLPGenerator(features=(8, 6), output_shape=(2, 3))
    z = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    v = _randomize(_init(g, z))
    p, s = _float64(v)['params'], _float64(v)['batch_stats']
    h = _relu(_dense(_relu(_dense(z.astype(np.float64), p['Dense_0'])), p['Dense_1']))
    want = np.tanh(_dense(_bn(h, p['BatchNorm_0'], s['BatchNorm_0']), p['Dense_2']))
    _close(_forward(g, v, z), want.reshape(4, 2, 3))

  def test_generator_without_batch_norm(self):
    """``batch_norm=False`` (the 2-D toy generator): [Dense, ReLU] -> Dense, linear."""
    g = models.MLPGenerator(features=(8,), output_shape=(2,), batch_norm=False,
                            output_activation='linear')
    z = np.random.default_rng(1).normal(size=(4, 5)).astype(np.float32)
    v = _randomize(_init(g, z))
    self.assertEqual(sorted(v), ['params'])
    self.assertEqual(sorted(v['params']), ['Dense_0', 'Dense_1'])
    p = _float64(v)['params']
    want = _dense(_relu(_dense(z.astype(np.float64), p['Dense_0'])), p['Dense_1'])
    _close(_forward(g, v, z), want)

  def test_classic_discriminator_drops_a_fifth_of_its_units_in_training(self):
    """The classic critic's defaults: ReLU, then dropout 0.2 before the output layer, in
    training only: each unit zeroed with probability 0.2, the others scaled by 1 / 0.8."""
    _, d = models.get('mlp')
    x = np.random.default_rng(4).normal(size=(64, 28, 28, 1)).astype(np.float32)
    v = d.init(jax.random.key(0), x, train=False)
    logits, state = d.apply(v, x, train=True, rngs={'dropout': jax.random.key(1)},
                            capture_intermediates=True)
    found = state['intermediates']
    pre = np.asarray(found['Dense_1']['__call__'][0], np.float64)  # before the ReLU
    out = np.asarray(found['Dropout_0']['__call__'][0], np.float64)
    np.testing.assert_array_equal(out[pre <= 0], 0.0)  # ReLU
    kept = out[pre > 0] != 0
    np.testing.assert_allclose(1 - kept.mean(), 0.2, atol=0.02)  # 8000+ units
    np.testing.assert_allclose(out[pre > 0][kept], pre[pre > 0][kept] / 0.8, rtol=1e-5)
    p = _float64(v)['params']
    _close(logits, _dense(out, p['Dense_2'])[:, 0])
    self.assertFalse(np.allclose(logits, _forward(d, v, x), atol=1e-3))  # inference: none

  @parameterized.parameters(('relu', 0.0), ('leaky_relu', 0.2))
  def test_discriminator(self, activation, slope):
    """Flatten -> [Dense, ReLU or LeakyReLU 0.2] x 2 -> Dense 1 (dropout off in inference)."""
    d = models.MLPDiscriminator(features=(8, 6), activation=activation, dropout=0.2)
    x = np.random.default_rng(2).normal(size=(4, 2, 3)).astype(np.float32)
    v = _randomize(_init(d, x))
    p = _float64(v)['params']
    h = x.reshape(4, 6).astype(np.float64)
    for i in range(2):
      h = _lrelu(_dense(h, p[f'Dense_{i}']), slope)
    _close(_forward(d, v, x), _dense(h, p['Dense_2'])[:, 0])

  def test_batchnorm_running_statistics_move_a_tenth_of_the_way(self):
    """Keras' and DCGAN's momentum 0.9: after one training batch from (0, 1), the running
    mean is 0.1 * the batch mean and the variance 0.9 + 0.1 * the batch variance."""
    z = np.random.default_rng(3).normal(size=(16, 6)).astype(np.float32)
    mlp = models.MLPGenerator(features=(8,), output_shape=(2,), output_activation='linear')
    v = _init(mlp, z)
    h = _relu(_dense(z.astype(np.float64), _float64(v)['params']['Dense_0']))
    dcgan, _ = models.get('dcgan', {'image_size': 32, 'channels': 3, 'width': 8})
    w = _init(dcgan, z)
    first = _dense(z.astype(np.float64), _float64(w)['params']['Dense_0'])  # before BN_0
    _, critic = models.get('dcgan', discriminator={'width': 4, 'num_layers': 2})
    x = np.random.default_rng(4).uniform(-1, 1, size=(8, 8, 8, 3)).astype(np.float32)
    u = _init(critic, x)
    p = _float64(u)['params']  # the critic's BatchNorm_0 follows its second Conv
    h0 = _lrelu(_conv(x.astype(np.float64), p['Conv_0']['kernel'], 2, SAME_4X4_S2)
                + p['Conv_0']['bias'], 0.2)
    second = (_conv(h0, p['Conv_1']['kernel'], 2, SAME_4X4_S2) + p['Conv_1']['bias']
              ).reshape(-1, 8)
    for model, variables, pre, inputs in ((mlp, v, h, z), (dcgan, w, first, z),
                                          (critic, u, second, x)):
      _, new = jax.jit(functools.partial(model.apply, train=True, mutable=['batch_stats']))(
          variables, inputs)
      stats = new['batch_stats']['BatchNorm_0']
      np.testing.assert_allclose(stats['mean'], 0.1 * pre.mean(0), rtol=1e-4, atol=1e-7)
      np.testing.assert_allclose(stats['var'], 0.9 + 0.1 * pre.var(0), rtol=1e-4, atol=1e-7)


class DCGANShapesTest(chex.TestCase):

  def test_layer_shapes_of_the_two_dcgans(self):
    """The digits DCGAN (28 px, width 32) and the CIFAR one (32 px, width 64), as their
    PyTorch twins in benchmarks/ have them: the transposed convolutions halve the channels
    towards the image, the last one to width / 2, then a 3x3 convolution to the image."""
    for size, width, channels, dense, convs in (
        (28, 32, 1, 7 * 7 * 64, [(64, 32), (32, 16)]),
        (32, 64, 3, 4 * 4 * 256, [(256, 128), (128, 64), (64, 32)])):
      g, _ = models.get('dcgan', {'image_size': size, 'channels': channels, 'width': width})
      p = jax.eval_shape(functools.partial(g.init, train=False), jax.random.key(0),
                         np.zeros((1, 100), np.float32))['params']  # shapes only
      self.assertEqual(p['Dense_0']['kernel'].shape, (100, dense))
      self.assertEqual([p[f'ConvTranspose_{i}']['kernel'].shape for i in range(len(convs))],
                       [(4, 4, c_in, c_out) for c_in, c_out in convs])
      self.assertEqual(p['Conv_0']['kernel'].shape, (3, 3, convs[-1][1], channels))


class ConditionalReferenceTest(chex.TestCase):

  def setUp(self):
    super().setUp()
    rng = np.random.default_rng(1)
    self.z = rng.normal(size=(4, 5)).astype(np.float32)
    self.x = rng.uniform(-1, 1, size=(4, 28, 28, 1)).astype(np.float32)
    self.y = np.array([0, 2, 1, 2], np.int32)

  @parameterized.parameters(False, True)
  def test_cgan_generator(self, conditional_bn):
    """The label's embedding concatenated to z (and, with conditional BN, gamma[y], beta[y])."""
    g, _ = models.get('cgan', {'num_classes': K, 'width': 4, 'embed_dim': 3,
                               'conditional_bn': conditional_bn})
    v = _randomize(_init(g, self.z, self.y))
    out = _forward(g, v, self.z, self.y)
    want = _np_cgan_generator(_float64(v), self.z.astype(np.float64), self.y, 4, conditional_bn)
    _close(out, want)
    # Same noise, other labels: another image, as the reference says.
    other = _forward(g, v, self.z, (self.y + 1) % K)
    self.assertGreater(float(jnp.max(jnp.abs(other - out))), 1e-2)
    _close(other, _np_cgan_generator(_float64(v), self.z.astype(np.float64), (self.y + 1) % K,
                                     4, conditional_bn))

  @parameterized.parameters(('projection', 'none'), ('projection', 'spectral'),
                            ('concat', 'none'))
  def test_cgan_critic(self, conditioning, norm):
    """Projection: psi(phi(x)) + <embed(y), phi(x)>; concat: psi(phi([x, one_hot(y)]))."""
    _, d = models.get('cgan', discriminator={'num_classes': K, 'conditioning': conditioning,
                                             'norm': norm, 'width': 4, 'hidden': 8})
    v = _randomize(_init(d, self.x, self.y))
    out = _forward(d, v, self.x, self.y)
    p, s = _float64(v)['params'], _float64(v).get('batch_stats', {})
    x = self.x.astype(np.float64)
    if conditioning == 'concat':
      x = np.concatenate([x, np.broadcast_to(np.eye(K)[self.y][:, None, None],
                                             (4, 28, 28, K))], -1)
    phi = _np_trunk(p['trunk'], s.get('trunk'), x, 0.2, norm)
    head, stats = p['head'], s.get('head')
    psi, embed = head['psi']['kernel'], head.get('embed', {}).get('embedding')
    if norm == 'spectral':
      psi = _spectral(psi, stats['SpectralNorm_0']['psi/kernel/u'])
      embed = _spectral(embed, stats['SpectralNorm_1']['embed/embedding/u'])
    want = _dense(phi, head['psi'], psi)[:, 0]
    if conditioning == 'projection':
      want = want + np.sum(embed[self.y] * phi, -1)
      # The projection term is not negligible next to psi.
      self.assertGreater(np.max(np.abs(np.sum(embed[self.y] * phi, -1))), 0.1)
    _close(out, want)

  @parameterized.parameters('batch', 'spectral')
  def test_acgan_discriminator(self, norm):
    """The trunk (lReLU 0.2), then Dense 1 (adversarial logit) and Dense K (class logits);
    with spectral normalization every layer's kernel divided by its sigma, the heads' too."""
    _, d = models.get('acgan', discriminator={'num_classes': K, 'width': 4, 'hidden': 8,
                                              'norm': norm})
    v = _randomize(_init(d, self.x))
    p, s = _float64(v)['params'], _float64(v)['batch_stats']
    phi = _np_trunk(p['trunk'], s['trunk'], self.x.astype(np.float64), 0.2, norm)
    kernels = {name: _np_kernel(p, s, name, i, norm) for i, name in enumerate(('adv', 'cls'))}
    want = (_dense(phi, p['adv'], kernels['adv'])[:, 0],
            {'class_logits': _dense(phi, p['cls'], kernels['cls'])})
    _close(_forward(d, v, self.x), want)

  @parameterized.parameters('batch', 'spectral', 'layer')
  def test_infogan_discriminator(self, norm):
    """The trunk (lReLU 0.1); logit Dense 1 (phi); Q: Dense, the norm (BN or LayerNorm;
    spectral: every kernel over its sigma), lReLU, then both heads."""
    _, d = models.get('infogan', discriminator={'num_categories': K, 'num_continuous': 2,
                                                'width': 4, 'hidden': 8, 'q_hidden': 6,
                                                'norm': norm})
    v = _randomize(_init(d, self.x))
    p, s = _float64(v)['params'], _float64(v).get('batch_stats', {})
    phi = _np_trunk(p['trunk'], s.get('trunk'), self.x.astype(np.float64), 0.1, norm)
    names = ('q_hidden', 'q_categorical', 'q_continuous', 'adv')  # in the order of use
    kernels = {name: _np_kernel(p, s, name, i, norm) for i, name in enumerate(names)}
    q = _lrelu(_np_norm(_dense(phi, p['q_hidden'], kernels['q_hidden']), p, s, 0, norm), 0.1)
    want = (_dense(phi, p['adv'], kernels['adv'])[:, 0],
            {'categorical_logits': _dense(q, p['q_categorical'], kernels['q_categorical']),
             'continuous_mean': _dense(q, p['q_continuous'], kernels['q_continuous'])})
    _close(_forward(d, v, self.x), want)

  def test_infogan_generator(self):
    """[z, one_hot(c_cat), c_cont] -> Dense, BN, ReLU -> the cGAN up-sampling stack."""
    g, _ = models.get('infogan', {'num_categories': K, 'num_continuous': 2, 'width': 4,
                                  'hidden': 8})
    cont = np.float32([[0.5, -1], [0, 1], [-0.3, 0.2], [1, 0.7]])
    codes = {'categorical': self.y, 'continuous': cont}
    v = _randomize(_init(g, self.z, codes))
    codes64 = {'categorical': self.y, 'continuous': cont.astype(np.float64)}
    want = _np_infogan_generator(_float64(v), self.z.astype(np.float64), codes64, 4)
    _close(_forward(g, v, self.z, codes), want)


if __name__ == '__main__':
  absltest.main()
