"""Tests of jaxgan.models.layers: Conv / ConvTranspose against Flax and direct NumPy loops."""

import functools
import itertools
import math
import os
from unittest import mock

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from jax import lax
from jax import test_util as jtu

from jaxgan import sharding
from jaxgan.models import im2col, layers, polyphase

# jaxgan's layers with the sub-pixel implementation ('auto' takes it only on CPUs), and Flax's.
# 'Conv/patch' and 'Conv/shift' are the convolution with few input or few output channels
# (layers.conv_path), each tested with the CHANNELS (input, output) that select it.
_FAST_CONV = (functools.partial(layers.Conv, impl='fast'), nn.Conv)
LAYERS = {'Conv': _FAST_CONV, 'Conv/patch': _FAST_CONV, 'Conv/shift': _FAST_CONV,
          'ConvTranspose': (functools.partial(layers.ConvTranspose, impl='fast'),
                            nn.ConvTranspose)}
CHANNELS = {'Conv': (6, 5), 'Conv/patch': (2, 5), 'Conv/shift': (6, 2), 'ConvTranspose': (3, 5)}
# The kernels, strides and paddings the jaxgan models use, and a few corner cases
# (a stride above the kernel size switches lax's transposed 'SAME' padding rule).
CONFIGS = list(itertools.product([3, 4], [1, 2], ['SAME', 'VALID', ((1, 1), (1, 1))])) + [
    (1, 2, 'SAME'), (2, 3, 'SAME'), (5, 3, 'VALID'), (4, (2, 1), ((0, 2), (3, 1))),
    (3, 2, 1), (4, 1, (1, 2))]  # an int, and two ints (one per axis), as Flax takes them


def _np_conv(x, w, strides, pads):
  """Direct loop: ``y[n, i, j] = sum_{u, v} xpad[n, s i + u, s j + v] @ w[u, v]``."""
  n, h, wd, _ = x.shape
  kh, kw, _, c_out = w.shape
  oh = max((h + pads[0][0] + pads[0][1] - kh) // strides[0] + 1, 0)
  ow = max((wd + pads[1][0] + pads[1][1] - kw) // strides[1] + 1, 0)
  y = np.zeros((n, oh, ow, c_out))
  for i, j, u, v in itertools.product(range(oh), range(ow), range(kh), range(kw)):
    r, c = strides[0] * i + u - pads[0][0], strides[1] * j + v - pads[1][0]
    if 0 <= r < h and 0 <= c < wd:
      y[:, i, j] += x[:, r, c] @ w[u, v]
  return y


def _np_conv_transpose(x, w, strides, pads):
  """Direct scatter: input pixel ``(i, j)`` adds ``x[i, j] @ w[u, v]`` at output pixel
  ``(s_h i - u + p_low, s_w j - v + p_low)``: ``lax.conv_transpose`` (no kernel flip)
  correlates the ``s``-dilated input, padded by ``pads``, with ``w``."""
  n, h, wd, _ = x.shape
  kh, kw, _, c_out = w.shape
  oh = (h - 1) * strides[0] + 1 + pads[0][0] + pads[0][1] - kh + 1
  ow = (wd - 1) * strides[1] + 1 + pads[1][0] + pads[1][1] - kw + 1
  y = np.zeros((n, oh, ow, c_out))
  for i, j, u, v in itertools.product(range(h), range(wd), range(kh), range(kw)):
    r, c = strides[0] * i - u + pads[0][0], strides[1] * j - v + pads[1][0]
    if 0 <= r < oh and 0 <= c < ow:
      y[:, r, c] += x[:, i, j] @ w[u, v]
  return y


def _np_conv_kernel_grad(x, g, kernel_size, strides, pads):
  """``d sum(g * conv(x, w)) / dw`` by direct loop: ``sum_{n, i, j} xpad[n, s i + u, s j + v]
  outer g[n, i, j]``."""
  n, h, wd, c_in = x.shape
  (kh, kw), (_, oh, ow, c_out) = kernel_size, g.shape
  dw = np.zeros((kh, kw, c_in, c_out))
  for i, j, u, v in itertools.product(range(oh), range(ow), range(kh), range(kw)):
    r, c = strides[0] * i + u - pads[0][0], strides[1] * j + v - pads[1][0]
    if 0 <= r < h and 0 <= c < wd:
      dw[u, v] += x[:, r, c].T @ g[:, i, j]
  return dw


def _np_conv_transpose_kernel_grad(x, g, kernel_size, strides, pads):
  """``d sum(g * conv_transpose(x, w)) / dw`` by direct loop over the scatter of
  :func:`_np_conv_transpose`."""
  n, h, wd, c_in = x.shape
  (kh, kw), (_, oh, ow, c_out) = kernel_size, g.shape
  dw = np.zeros((kh, kw, c_in, c_out))
  for i, j, u, v in itertools.product(range(h), range(wd), range(kh), range(kw)):
    r, c = strides[0] * i - u + pads[0][0], strides[1] * j - v + pads[1][0]
    if 0 <= r < oh and 0 <= c < ow:
      dw[u, v] += x[:, i, j].T @ g[:, r, c]
  return dw


def _inputs(shape, seed=0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float32)


def _slow_convolutions(compiled) -> int:
  """Convolutions in XLA's optimized HLO that miss XLA:CPU's fast path: a reversed window
  or non-canonical (not NHWC/HWIO/NHWC) dimensions."""
  convs = [line for line in compiled.as_text().splitlines() if ' convolution(' in line]
  return sum('reversal' in line or 'b01f_01io->b01f' not in line for line in convs)


def _conv_equations(jaxpr) -> list:
  """The ``conv_general_dilated`` and ``dot_general`` equations of a jaxpr, sub-jaxprs
  included."""
  found = []
  for eqn in jaxpr.eqns:
    if eqn.primitive.name in ('conv_general_dilated', 'dot_general'):
      found.append(eqn)
    for param in eqn.params.values():
      sub = getattr(param, 'jaxpr', param)
      if hasattr(sub, 'eqns'):
        found += _conv_equations(sub)
  return found


def _loss_fns(layer):
  """Kernel gradient, input gradient and gradient-penalty second derivative of a layer."""

  def loss(params, x):
    y = layer.apply(params, x)
    return jnp.sum(jnp.sin(y))

  def penalty(params, x):
    g = jax.grad(loss, argnums=1)(params, x)
    return jnp.sum(g * g)

  return {'grad_params': jax.grad(loss), 'grad_x': jax.grad(loss, argnums=1),
          'penalty': jax.grad(penalty)}


class MatchesFlaxTest(chex.TestCase):

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(config=CONFIGS, kind=list(LAYERS))
  def test_outputs_and_parameters(self, config, kind):
    k, s, padding = config
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x = _inputs((2, 15, 8, c_in))  # an odd and an even size (the axes are planned apart)
    want, variables = theirs(c_out, (k, k), strides=s, padding=padding).init_with_output(
        jax.random.key(0), x)
    layer = ours(c_out, (k, k), strides=s, padding=padding)
    if '/' in kind:  # every config takes the path the kind names
      strides = (s, s) if isinstance(s, int) else s
      self.assertEqual(layers.conv_path(c_in, c_out, (k, k), strides), kind.split('/')[1])
    got = self.variant(layer.apply)(variables, x)
    chex.assert_trees_all_close(got, want, atol=1e-5, rtol=1e-5)
    # Same parameter names, shapes and initial values.
    chex.assert_trees_all_equal(layer.init(jax.random.key(0), x), variables)
    # A bias that is not zero (Flax initializes it to 0) is added as Flax adds it.
    biased = jax.tree_util.tree_map_with_path(
        lambda path, v: v + 0.3 * (1 + jnp.arange(v.shape[0]))
        if path[-1].key == 'bias' else v, variables)
    chex.assert_trees_all_close(self.variant(layer.apply)(biased, x),
                                theirs(c_out, (k, k), strides=s, padding=padding).apply(
                                    biased, x), atol=1e-5, rtol=1e-5)

  @parameterized.product(config=[(3, 2, 'SAME', 7), (4, 2, 'SAME', 8), (4, 2, 'VALID', 9),
                                 (3, 2, ((1, 1), (1, 1)), 8), (3, 1, 'VALID', 7)],
                         kind=list(LAYERS))
  def test_gradients_and_penalty_without_the_slow_path(self, config, kind):
    k, s, padding, size = config
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x = _inputs((2, size, size + 1, c_in))
    flax_layer = theirs(c_out, (k, k), strides=s, padding=padding)
    params = jax.jit(flax_layer.init)(jax.random.key(1), x)
    want = {name: jax.jit(fn)(params, x) for name, fn in _loss_fns(flax_layer).items()}
    compiled = {name: jax.jit(fn).lower(params, x).compile() for name, fn in
                _loss_fns(ours(c_out, (k, k), strides=s, padding=padding)).items()}
    got = {name: fn(params, x) for name, fn in compiled.items()}
    chex.assert_trees_all_close(got, want, atol=2e-5, rtol=2e-5)
    # Ours compile to canonical convolutions only, in every derivative; Flax's transposed
    # conv's kernel gradient does not (which shows that the check sees the slow path).
    for name, fn in compiled.items():
      self.assertEqual(_slow_convolutions(fn), 0, msg=name)
    if kind == 'ConvTranspose' and s == 2:
      flax_grad = jax.jit(_loss_fns(flax_layer)['grad_params']).lower(params, x).compile()
      self.assertGreater(_slow_convolutions(flax_grad), 0)

  @parameterized.parameters(*LAYERS)
  def test_forward_mode(self, kind):
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x, dx = _inputs((2, 9, 8, c_in)), _inputs((2, 9, 8, c_in), seed=1)
    params = jax.jit(theirs(c_out, (4, 4), strides=2).init)(jax.random.key(0), x)
    dparams = jax.tree.map(lambda p: jnp.ones_like(p) * 0.1, params)
    jvp = jax.jit(lambda layer, *a: jax.jvp(layer.apply, *a), static_argnums=0)
    got = jvp(ours(c_out, (4, 4), strides=2), (params, x), (dparams, dx))
    want = jvp(theirs(c_out, (4, 4), strides=2), (params, x), (dparams, dx))
    chex.assert_trees_all_close(got, want, atol=1e-5, rtol=1e-5)

  @parameterized.parameters(*LAYERS)
  def test_vmap_over_seeds_and_per_example_penalty(self, kind):
    # jaxgan vmaps whole train steps over seeds (batched kernels) and penalties take
    # per-example input gradients with vmap (unbatched inputs).
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x = _inputs((3, 2, 7, 8, c_in))
    keys = jax.random.split(jax.random.key(0), 3)
    params = jax.vmap(theirs(c_out, (4, 4), strides=2).init)(keys, x)

    def per_example_penalty(layer, p, x):
      grad_x = jax.vmap(jax.grad(lambda xi: jnp.sum(jnp.sin(layer.apply(p, xi)))))(x)
      return jnp.sum(grad_x**2)

    def run(layer):  # the penalty and its gradient in the parameters, per seed
      penalty = functools.partial(per_example_penalty, layer)
      return jax.jit(jax.vmap(jax.value_and_grad(penalty)))(params, x)

    chex.assert_trees_all_close(run(ours(c_out, (4, 4), strides=2)),
                                run(theirs(c_out, (4, 4), strides=2)), atol=2e-5, rtol=2e-5)

  def test_channels_select_each_conv_path(self):
    for kind, path in [('Conv', 'strided'), ('Conv/patch', 'patch'), ('Conv/shift', 'shift')]:
      self.assertEqual(layers.conv_path(*CHANNELS[kind], (4, 4), (2, 2)), path)
    # The models' layers: critics' first, generators' last, SRResNet's 9x9 ends, the rest.
    cases = {(1, 32, (4, 4), (2, 2)): 'patch', (3, 64, (3, 3), (1, 1)): 'patch',
             (16, 1, (3, 3), (1, 1)): 'shift', (64, 3, (3, 3), (1, 1)): 'shift',
             (3, 64, (9, 9), (1, 1)): 'stride1', (64, 3, (9, 9), (1, 1)): 'shift',
             (64, 4, (9, 9), (1, 1)): 'stride1',
             (32, 64, (4, 4), (2, 2)): 'strided', (64, 64, (3, 3), (1, 1)): 'stride1',
             # The limits are inclusive: at most FEW_CHANNELS (4) channels, PATCH_LIMIT (64)
             # patch values and SHIFT_LIMIT (256) plane channels.
             (4, 32, (4, 4), (2, 2)): 'patch', (5, 32, (4, 4), (2, 2)): 'strided',
             (4, 32, (4, 5), (1, 1)): 'stride1', (32, 4, (8, 8), (1, 1)): 'shift',
             (32, 5, (3, 3), (1, 1)): 'stride1', (32, 4, (8, 9), (1, 1)): 'stride1'}
    for args, path in cases.items():
      self.assertEqual(layers.conv_path(*args), path, msg=str(args))
    # Planes over SHIFT_MAX_VALUES values (a whole large image): XLA's op.
    most = layers.SHIFT_MAX_VALUES // 243
    self.assertEqual(layers.conv_path(64, 3, (9, 9), (1, 1), most), 'shift')
    self.assertEqual(layers.conv_path(64, 3, (9, 9), (1, 1), most + 1), 'stride1')

  @parameterized.parameters('Conv', 'ConvTranspose')
  def test_impl_flax_is_the_flax_op(self, kind):
    ours, theirs = LAYERS[kind]
    x = _inputs((2, 7, 7, 3))
    want, variables = theirs(4, (4, 4), strides=2).init_with_output(jax.random.key(0), x)
    got = ours(4, (4, 4), strides=2, impl='flax').apply(variables, x)
    np.testing.assert_array_equal(got, want)

  @parameterized.parameters('Conv', 'ConvTranspose')
  def test_impl_auto_follows_the_backend_and_the_environment(self, kind):
    ours, _ = LAYERS[kind]
    x = _inputs((2, 7, 7, 3))
    variables = ours(4, (4, 4), strides=2).init(jax.random.key(0), x)
    jaxpr = lambda impl: str(jax.make_jaxpr(
        ours(4, (4, 4), strides=2, impl=impl).apply)(variables, x))
    self.assertNotEqual(jaxpr('fast'), jaxpr('flax'))  # else the checks below prove nothing
    with mock.patch.dict(os.environ, {'JAXGAN_CONV_IMPL': ''}):
      self.assertEqual(layers.default_impl(), layers.AUTO_IMPL.get(jax.default_backend(),
                                                                   'flax'))
      self.assertEqual(layers.AUTO_IMPL['cpu'], 'fast')  # what the CPU measurements chose
      self.assertEqual(jaxpr('auto'), jaxpr(layers.default_impl()))
    for impl in ('fast', 'flax'):
      with mock.patch.dict(os.environ, {'JAXGAN_CONV_IMPL': impl}):
        self.assertEqual(jaxpr('auto'), jaxpr(impl))
    with mock.patch.dict(os.environ, {'JAXGAN_CONV_IMPL': 'cudnn'}):
      with self.assertRaisesRegex(ValueError, "JAXGAN_CONV_IMPL.*'fast', 'flax'.*'cudnn'"):
        jaxpr('auto')

  def test_default_impl_on_unmeasured_backends_and_a_bad_environment(self):
    # Backends AUTO_IMPL has not measured (a TPU) get the plain op; the environment names
    # an implementation, not 'auto'.
    with mock.patch.dict(os.environ, {'JAXGAN_CONV_IMPL': ''}):
      with mock.patch.object(jax, 'default_backend', return_value='tpu'):
        self.assertEqual(layers.default_impl(), 'flax')
    with mock.patch.dict(os.environ, {'JAXGAN_CONV_IMPL': 'auto'}):
      with self.assertRaisesRegex(ValueError, "JAXGAN_CONV_IMPL.*'fast', 'flax'.*'auto'"):
        layers.default_impl()

  def test_strides_none_is_stride_one(self):
    # Flax reads strides=None as 1 on every axis.
    x = _inputs((2, 7, 6, 3))
    pads = ((1, 1), (1, 1))  # 'SAME' for a 3x3 kernel at stride 1, both layers
    for kind, reference in (('Conv', _np_conv), ('ConvTranspose', _np_conv_transpose)):
      layer = LAYERS[kind][0](4, (3, 3), strides=None, use_bias=False)
      variables = layer.init(jax.random.key(0), x)
      want = reference(np.float64(x), np.float64(variables['params']['kernel']), (1, 1), pads)
      np.testing.assert_allclose(layer.apply(variables, x), want, atol=1e-5, err_msg=kind)

  @parameterized.parameters(*LAYERS)
  def test_batch_dimensions_and_no_bias(self, kind):
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    for shape in [(7, 9, c_in), (2, 3, 7, 9, c_in)]:
      x = _inputs(shape)
      want, variables = theirs(c_out, (3, 3), strides=2, use_bias=False).init_with_output(
          jax.random.key(0), x)
      self.assertNotIn('bias', variables['params'])
      got = ours(c_out, (3, 3), strides=2, use_bias=False).apply(variables, x)
      chex.assert_trees_all_close(got, want, atol=1e-5, rtol=1e-5)

  @parameterized.parameters(*LAYERS)
  def test_bfloat16_computes_in_bfloat16_with_float32_params(self, kind):
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x = _inputs((2, 8, 8, c_in))
    layer = ours(c_out, (4, 4), strides=2, dtype=jnp.bfloat16)
    variables = layer.init(jax.random.key(0), x)
    chex.assert_trees_all_equal_dtypes(variables, jax.tree.map(jnp.float32, variables))
    got = jax.jit(layer.apply)(variables, x)
    want = theirs(c_out, (4, 4), strides=2, dtype=jnp.bfloat16).apply(variables, x)
    self.assertEqual(got.dtype, jnp.bfloat16)
    exact = theirs(c_out, (4, 4), strides=2).apply(variables, x)
    scale = float(jnp.max(jnp.abs(exact)))
    # Both bf16 results are within bf16 rounding of the float32 one (and of each other).
    for y in (got, want):
      np.testing.assert_allclose(np.asarray(y, np.float32), exact, atol=0.02 * scale)
    # Every convolution and matrix product of the data runs on bf16 operands (the shift
    # path's exact layout product with the identity, at HIGHEST, takes its float32 sums),
    # but the few-input-channel path's: it multiplies the bf16 values in float32 (exact
    # products, and its derivatives' col2im and chunk sums in float32; on XLA:CPU faster).
    convs = _conv_equations(jax.make_jaxpr(layer.apply)(variables, x).jaxpr)
    self.assertNotEmpty(convs)
    data = [e for e in convs if e.params.get('precision') != (lax.Precision.HIGHEST,) * 2]
    self.assertNotEmpty(data)
    operands = jnp.float32 if kind == 'Conv/patch' else jnp.bfloat16
    for eqn in data:
      self.assertEqual([v.aval.dtype for v in eqn.invars], [operands] * 2)
    loss = lambda v: jnp.sum(layer.apply(v, x).astype(jnp.float32) ** 2)
    chex.assert_trees_all_equal_dtypes(jax.jit(jax.grad(loss))(variables), variables)

  def test_bfloat16_few_input_channels_give_bfloat16_at_any_stride(self):
    # patch_conv multiplies in float32 and rounds once, on its space-to-depth form (4x4,
    # stride 2) and on its plain im2col one (3x3, stride 1 or 2), as XLA's op.
    x = _inputs((2, 8, 8, 3))
    for k, s in ((3, 1), (3, 2), (4, 2)):
      self.assertEqual(layers.conv_path(3, 8, (k, k), (s, s)), 'patch')
      layer = layers.Conv(8, (k, k), strides=s, use_bias=False, dtype=jnp.bfloat16, impl='fast')
      variables = layer.init(jax.random.key(0), x)
      got = layer.apply(variables, x)
      self.assertEqual(got.dtype, jnp.bfloat16, (k, s))
      pads = lax.padtype_to_pads((8, 8), (k, k), (s, s), 'SAME')
      want = _np_conv(np.float64(x.astype(jnp.bfloat16)),
                      np.float64(variables['params']['kernel'].astype(jnp.bfloat16)), (s, s),
                      pads)
      np.testing.assert_allclose(np.float32(got), want, atol=0.01 * np.abs(want).max())

  def test_functional_strides_may_be_a_list(self):
    # A list missed the stride-1 test (strides == (1, 1)) and, on the few-output-channel
    # path, failed as a non-hashable static argument.
    x = _inputs((2, 8, 8, 16))
    kernel = _inputs((3, 3, 16, 3), seed=1)
    want = lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                    dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    np.testing.assert_allclose(layers.conv(x, kernel, [1, 1], 'SAME', impl='fast'), want,
                               atol=1e-5)
    self.assertEqual(im2col.conv_path(16, 32, (3, 3), [1, 1]), 'stride1')

  def test_bfloat16_input_gradients_are_as_accurate_as_flaxs(self):
    # The few-input-channel path summed its taps' bf16 cotangents in bf16 (col2im) and its
    # kernel gradient's chunks in bf16: 1.3-1.7x and 2.6-2.8x Flax's error on the critics'
    # first layers. Now the input gradient's error is Flax's, and the kernel gradient's
    # that of one bf16 rounding, as on the other paths.
    for c_in, c_out, k, s in ((3, 64, 4, 2), (1, 32, 4, 2), (3, 64, 3, 1), (64, 3, 9, 1)):
      x = _inputs((8, 16, 16, c_in)).astype(jnp.bfloat16)
      cot = _inputs((8, 16 // s, 16 // s, c_out), seed=2)
      variables = nn.Conv(c_out, (k, k), strides=s).init(jax.random.key(0), x)

      def grads(layer, v=variables, cot=cot, x=x):
        loss = lambda v, x: jnp.sum(layer.apply(v, x).astype(jnp.float32) * cot)
        gv, gx = jax.jit(jax.grad(loss, argnums=(0, 1)))(v, x.astype(layer.dtype))
        return gv['params']['kernel'], gx.astype(jnp.float32)
      exact = grads(nn.Conv(c_out, (k, k), strides=s, precision='highest',
                            dtype=jnp.float32))
      ours = grads(layers.Conv(c_out, (k, k), strides=s, dtype=jnp.bfloat16, impl='fast'))
      theirs = grads(nn.Conv(c_out, (k, k), strides=s, dtype=jnp.bfloat16))
      error = lambda y, e: float(jnp.sqrt(jnp.mean((y - e) ** 2) / jnp.mean(e ** 2)))
      self.assertLessEqual(error(ours[1], exact[1]), 1.05 * error(theirs[1], exact[1]),
                           (c_in, c_out, k, s))
      # One rounding of each value to bf16: relative rms 2^-8 / sqrt(3).
      self.assertLessEqual(error(ours[0], exact[0]), 1.1 * 2**-8 / np.sqrt(3),
                           (c_in, c_out, k, s))

  def test_bfloat16_outputs_are_as_accurate_as_flaxs(self):
    # The few-output-channel path rounded each of its 81 taps to bf16 before summing them:
    # 3.6x Flax's bf16 error on SRResNet's last layer. Now both accumulate in float32.
    for c_in, c_out, k in ((64, 3, 9), (16, 3, 3), (3, 64, 3)):  # shift, shift, patch
      x = _inputs((4, 16, 16, c_in))
      variables = nn.Conv(c_out, (k, k)).init(jax.random.key(0), x)
      exact = nn.Conv(c_out, (k, k), precision='highest').apply(variables, x)
      error = lambda y, e=exact: float(jnp.sqrt(jnp.mean((y.astype(jnp.float32) - e) ** 2)))
      self.assertEqual(im2col.conv_path(c_in, c_out, (k, k), (1, 1)),
                       'shift' if c_out == 3 else 'patch')
      ours = jax.jit(layers.Conv(c_out, (k, k), dtype=jnp.bfloat16, impl='fast').apply)
      theirs = jax.jit(nn.Conv(c_out, (k, k), dtype=jnp.bfloat16).apply)
      self.assertLessEqual(error(ours(variables, x)), 1.2 * error(theirs(variables, x)),
                           (c_in, c_out, k))

  @parameterized.parameters(*LAYERS)
  def test_spectral_norm_wrapping(self, kind):
    ours, theirs = LAYERS[kind]
    c_in, c_out = CHANNELS[kind]
    x = _inputs((2, 8, 8, c_in))

    def run(layer_cls):
      sn = nn.SpectralNorm(layer_cls(c_out, (4, 4), strides=2))
      variables = sn.init(jax.random.key(0), x, update_stats=False)
      y, updated = sn.apply(variables, x, update_stats=True, mutable=['batch_stats'])
      return variables, y, updated

    want = run(theirs)
    got = run(ours)
    chex.assert_trees_all_equal(got[0], want[0])  # same parameters and power-iteration state
    chex.assert_trees_all_close(got[1:], want[1:], atol=1e-5, rtol=1e-5)

  def test_drop_in_inside_a_model(self):
    # Same auto-names ('Conv_0', 'ConvTranspose_0'), so checkpoints load unchanged.

    class Model(nn.Module):
      conv: type
      conv_t: type

      @nn.compact
      def __call__(self, x):
        x = nn.relu(self.conv(8, (4, 4), strides=(2, 2))(x))
        return self.conv_t(3, (4, 4), strides=(2, 2))(x)

    x = _inputs((2, 16, 16, 3))
    want, variables = Model(nn.Conv, nn.ConvTranspose).init_with_output(jax.random.key(0), x)
    model = Model(layers.Conv, layers.ConvTranspose)
    chex.assert_trees_all_equal(model.init(jax.random.key(0), x), variables)
    chex.assert_trees_all_close(jax.jit(model.apply)(variables, x), want, atol=1e-5, rtol=1e-5)


class NumpyReferenceTest(chex.TestCase):

  @parameterized.product(
      k=[2, 3, 4], strides=[(2, 1), (3, 2)],
      pads=[((1, 1), (1, 1)), ((2, 1), (0, 3)), ((-1, 2), (1, -1))])
  def test_phase_functions(self, k, strides, pads):
    x = _inputs((2, 7, 6, 3))
    w = _inputs((k, k, 3, 2), seed=1)
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    got = jax.jit(layers.phase_conv_transpose, static_argnums=(2, 3))(x, w, strides, pads)
    np.testing.assert_allclose(got, _np_conv_transpose(x64, w64, strides, pads), atol=1e-5)
    want = _np_conv(x64, w64, strides, pads)
    for fn in (layers.phase_conv, layers.strided_conv, layers.patch_conv, layers.shift_conv):
      got = jax.jit(fn, static_argnums=(2, 3))(x, w, strides, pads)
      np.testing.assert_allclose(got, want, atol=1e-5)

  @parameterized.parameters(
      ((2, 3, 8, 3), (2, 2), (1, 1), ((6, -5), (0, 0))),
      ((2, 3, 8, 3), (2, 2), (2, 2), ((6, -5), (0, 0))),
      ((1, 2, 3, 3), (3, 3), (1, 2), ((-3, 4), (3, 0))),
      ((1, 3, 1, 3), (5, 4), (3, 1), ((4, -2), (5, -2))),
      ((2, 4, 5, 3), (2, 3), (1, 1), ((-5, 6), (2, -4))))
  def test_a_crop_past_the_other_side_s_padding(self, shape, k, strides, pads):
    # lax lets a negative pad reach into the other side's padding (3 rows padded (6, -5)
    # are 4); the crop-first path asked lax.pad for a negative size (3 - 5) and raised.
    x = _inputs(shape)
    w = _inputs((*k, 3, 2), seed=1)
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    for fn in (layers.phase_conv, layers.strided_conv):
      got = jax.jit(fn, static_argnums=(2, 3))(x, w, strides, pads)
      np.testing.assert_allclose(got, _np_conv(x64, w64, strides, pads), atol=1e-5)
      # Its input gradient is a stride-1 convolution of the cotangent with such pads too.
      loss = lambda x, fn=fn: jnp.sum(jnp.sin(fn(x, w, strides, pads)))
      want = jax.grad(lambda x: jnp.sum(jnp.sin(lax.conv_general_dilated(
          x, w, strides, pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC')))))(x)
      np.testing.assert_allclose(jax.jit(jax.grad(loss))(x), want, atol=1e-5)
    if all((n - 1) * st + lo + hi - kk + 2 >= 1  # the transposed output is not empty
           for n, st, (lo, hi), kk in zip(shape[1:3], strides, pads, k, strict=True)):
      got = jax.jit(layers.phase_conv_transpose, static_argnums=(2, 3))(x, w, strides, pads)
      np.testing.assert_allclose(got, _np_conv_transpose(x64, w64, strides, pads), atol=1e-5)

  @parameterized.parameters(
      ((1, 6, 6, 8), (4, 4), ((-1, 1), (0, -1))),
      ((1, 5, 9, 8), (3, 3), ((-2, 3), (-1, 0))),
      ((2, 7, 4, 8), (3, 3), ((-1, 1), (0, -1))))
  def test_a_strided_conv_with_negative_padding_and_many_channels(self, shape, k, pads):
    # XLA:CPU's strided convolution returns uninitialized memory (values up to 1e37) for
    # some negative paddings with more than a few channels; strided_conv, Conv's path for
    # 8 channels, passed them on (the 3-channel cases above happen to come out right).
    x = _inputs(shape)
    w = _inputs((*k, 8, 8), seed=1)
    self.assertEqual(im2col.conv_path(8, 8, k, (2, 2), shape[0] * shape[1] * shape[2]),
                     'strided')
    want = _np_conv(np.asarray(x, np.float64), np.asarray(w, np.float64), (2, 2), pads)
    for fn in (layers.strided_conv,
               functools.partial(layers.conv, impl='fast')):
      np.testing.assert_allclose(jax.jit(fn, static_argnums=(2, 3))(x, w, (2, 2), pads), want,
                                 atol=1e-5)
    # Both gradients, against those of the same convolution padded first by lax.pad.
    def loss(conv, x, w):
      return jnp.sum(jnp.sin(conv(x, w)))
    cropped = lambda x, w: lax.conv_general_dilated(
        lax.pad(x, 0.0, [(0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)]), w, (2, 2),
        'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    got = jax.jit(jax.grad(functools.partial(
        loss, lambda x, w: layers.strided_conv(x, w, (2, 2), pads)), argnums=(0, 1)))(x, w)
    chex.assert_trees_all_close(got, jax.grad(functools.partial(loss, cropped),
                                              argnums=(0, 1))(x, w), atol=1e-4)

  @parameterized.parameters(
      ((2, 2, 3, 8), (1, 1), ((0, 3), (1, 4))),
      ((1, 3, 2, 8), (3, 2), ((0, 5), (4, 1))),
      ((1, 4, 4, 8), (3, 3), ((3, 0), (0, 0))))
  def test_a_stride_1_conv_whose_output_outgrows_its_input(self, shape, k, pads):
    # Conv's 'stride1' path pads a larger output into the input (its low side first, the
    # rest high): padding beyond the input on one side, by more than the other side's.
    x = _inputs(shape)
    w = _inputs((*k, 8, 8), seed=1)
    self.assertEqual(im2col.conv_path(8, 8, k, (1, 1), math.prod(shape[:3])), 'stride1')
    x64, w64 = np.asarray(x, np.float64), np.asarray(w, np.float64)
    conv = jax.jit(functools.partial(layers.conv, strides=(1, 1), padding=pads, impl='fast'))
    want = _np_conv(x64, w64, (1, 1), pads)
    np.testing.assert_allclose(conv(x, w), want, atol=1e-5)
    g = _inputs(want.shape, seed=2)
    dx, dw = jax.vjp(conv, x, w)[1](g)
    np.testing.assert_allclose(dw, _np_conv_kernel_grad(x64, np.float64(g), k, (1, 1), pads),
                               atol=1e-4)
    padded = lambda x: lax.conv_general_dilated(  # the input gradient through lax.pad
        lax.pad(x, 0.0, [(0, 0, 0), (*pads[0], 0), (*pads[1], 0), (0, 0, 0)]), w, (1, 1),
        'VALID', dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    np.testing.assert_allclose(dx, jax.vjp(padded, x)[1](g)[0], atol=1e-4)

  def test_layers_on_a_hand_checked_case(self):
    # One channel, 2x2 input, 2x2 kernel K, stride 2, 'VALID' (lax pads the dilated input
    # by 1 on each side): the transposed convolution tiles x[i, j] * flip(K) into disjoint
    # 2x2 blocks, and the stride-2 convolution of that with K gives back
    # x[i, j] * sum(flip(K) * K) = 3 x[i, j] for K = [[1, -1], [0.5, 2]].
    x = jnp.asarray([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    kernel = jnp.asarray([[1.0, -1.0], [0.5, 2.0]]).reshape(2, 2, 1, 1)
    params = {'params': {'kernel': kernel}}
    up = layers.ConvTranspose(1, (2, 2), strides=2, padding='VALID', use_bias=False)
    y = up.apply(params, x)
    blocks = np.kron(np.asarray(x[0, :, :, 0]), [[2.0, 0.5], [-1.0, 1.0]])
    np.testing.assert_allclose(y[0, :, :, 0], blocks)
    down = layers.Conv(1, (2, 2), strides=2, padding='VALID', use_bias=False)
    np.testing.assert_allclose(down.apply(params, y), 3.0 * x)

  @parameterized.parameters(*itertools.product([layers.patch_conv, layers.shift_conv],
                                                [(3, 2, 4, 1), (4, 3, 3, 4), (5, 2, 3, 2)]))
  def test_few_channel_paths_at_edge_sizes(self, fn, shape):
    # An empty output, outputs of size 1, a stride above the kernel size, and batches that
    # patch_conv's matrix product cuts into 1, 2, 4 and 8 chunks.
    for n, pads, strides in [(1, ((0, 0), (0, 0)), (1, 1)), (8, ((-1, 0), (0, 1)), (2, 3)),
                             (12, ((2, 1), (0, -1)), (4, 1)), (6, ((0, 0), (-1, 0)), (1, 1))]:
      x = _inputs((n,) + shape[:2] + (shape[3],))
      w = _inputs((3, 3, shape[3], shape[2]), seed=1)
      want = _np_conv(np.float64(x), np.float64(w), strides, pads)
      got = jax.jit(fn, static_argnums=(2, 3))(x, w, strides, pads)
      self.assertEqual(got.shape, want.shape)
      np.testing.assert_allclose(got, want, atol=1e-5)

  def test_shift_conv_with_a_kernel_larger_than_the_input(self):
    # SRResNet's last layer (9x9 to 3 channels, padding 4) on inputs smaller than the
    # kernel, where most taps fall partly or wholly outside the input.
    x = _inputs((2, 6, 5, 4))
    w = _inputs((9, 9, 4, 3), seed=1)
    for strides, pads in [((1, 1), ((4, 4), (4, 4))), ((2, 3), ((4, 2), (0, 5)))]:
      want = _np_conv(np.float64(x), np.float64(w), strides, pads)
      got = jax.jit(layers.shift_conv, static_argnums=(2, 3))(x, w, strides, pads)
      self.assertEqual(got.shape, want.shape)
      np.testing.assert_allclose(got, want, atol=1e-5)
    with jax.enable_x64(True):  # and its derivatives, to second order, in both modes
      x, w = np.float64(x[:1, :4, :, :2]), np.float64(w[:, :, :2, :2])
      jtu.check_grads(jax.jit(lambda x, w: jnp.sin(layers.shift_conv(
          x, w, (2, 1), ((4, -1), (3, 4))))), (x, w), order=2, modes=['fwd', 'rev'])

  def test_shift_conv_with_nothing_to_sum(self):
    # An empty batch, and an output every tap of which falls outside the input (zeros).
    x, w = _inputs((0, 5, 4, 6)), _inputs((3, 3, 6, 2), seed=1)
    self.assertEqual(layers.shift_conv(x, w, (1, 1), ((1, 1), (1, 1))).shape, (0, 5, 4, 2))
    x = _inputs((2, 1, 1, 3))
    got = layers.shift_conv(x, _inputs((3, 3, 3, 2), seed=1), (4, 4), ((3, 0), (3, 0)))
    np.testing.assert_array_equal(got, np.zeros((2, 1, 1, 2)))

  def test_operands_are_checked_where_no_convolution_runs(self):
    # An empty output, and an output whose every tap is on padding, gave zeros for a kernel
    # of the wrong channels, and of another dtype where lax refuses one.
    x = _inputs((2, 4, 4, 3))
    cases = [((2, 2), ((0, -4), (0, 0))), ((4, 4), ((3, 0), (3, 0))), ((2, 2), ((0, 0),) * 2)]
    for fn, (strides, pads) in itertools.product(
        [layers.strided_conv, layers.phase_conv, layers.phase_conv_transpose,
         layers.patch_conv, layers.shift_conv], cases):
      with self.subTest(fn=fn.__name__, pads=pads):
        with self.assertRaisesRegex(ValueError, r'got x \(2, 4, 4, 3\) and kernel \(3, 3, 2, 5\)'):
          fn(x, _inputs((3, 3, 2, 5)), strides, pads)
        bf16 = _inputs((3, 3, 3, 5)).astype(jnp.bfloat16)
        if fn in (layers.patch_conv, layers.shift_conv):  # they promote, as jnp.einsum
          self.assertEqual(fn(x, bf16, strides, pads).dtype, jnp.float32)
        else:
          with self.assertRaisesRegex(TypeError, 'same dtypes, got float32, bfloat16'):
            fn(x, bf16, strides, pads)

  def test_phase_conv_with_every_tap_on_padding_keeps_the_dtype(self):
    # A 1x1 input, a 3x3 kernel, stride 4 and low padding 3: the one output's window
    # covers only padding, so it is zero, in the operands' dtype, also as strided_conv's
    # input derivative (a custom_jvp's tangent must have its primal's dtype).
    pads = ((3, 0), (3, 0))
    x = _inputs((2, 1, 1, 3)).astype(jnp.bfloat16)
    w = _inputs((3, 3, 3, 2), seed=1).astype(jnp.bfloat16)
    got = layers.phase_conv(x, w, (4, 4), pads)
    self.assertEqual((got.shape, got.dtype), ((2, 1, 1, 2), jnp.bfloat16))
    np.testing.assert_array_equal(np.float32(got), 0.0)
    dx = jax.grad(lambda x: jnp.sum(layers.strided_conv(x, w, (4, 4), pads)
                                    .astype(jnp.float32)))(x)
    self.assertEqual(dx.dtype, jnp.bfloat16)
    np.testing.assert_array_equal(np.float32(dx), 0.0)
    # A bfloat16 transposed convolution whose kernel is smaller than its stride (the
    # phases without a tap are zeros): bfloat16, as Flax's, and the same values.
    x = _inputs((2, 3, 3, 8)).astype(jnp.bfloat16)
    ours, flax_op = (cls(8, (1, 1), strides=(2, 2), dtype=jnp.bfloat16, **kw) for cls, kw in
                     ((layers.ConvTranspose, {'impl': 'fast'}), (nn.ConvTranspose, {})))
    params = flax_op.init(jax.random.key(0), x)
    got, want = ours.apply(params, x), flax_op.apply(params, x)
    self.assertEqual((got.shape, got.dtype), (want.shape, jnp.bfloat16))
    np.testing.assert_allclose(np.float32(got), np.float32(want), atol=0.02, rtol=0.02)

  def test_an_empty_output_has_the_promoted_dtype_of_a_full_one(self):
    # patch_conv and shift_conv promote mixed operands (jnp.einsum's rule); an empty output
    # has the dtype a non-empty one has.
    x = _inputs((1, 2, 2, 3)).astype(jnp.bfloat16)
    for fn, c_out in ((layers.patch_conv, 8), (layers.shift_conv, 2)):
      w = _inputs((3, 3, 3, c_out))
      full = fn(x, w, (1, 1), ((1, 1), (1, 1)))
      empty = fn(x, w, (1, 1), ((0, 0), (0, 0)))  # 'VALID': a 3x3 kernel on 2x2
      self.assertEqual((full.dtype, empty.dtype, empty.shape),
                       (jnp.float32, jnp.float32, (1, 0, 0, c_out)), fn.__name__)
      self.assertEqual(layers.conv(x, w, (1, 1), 'VALID', impl='fast').dtype, jnp.float32)

  def test_large_planes_take_the_xla_op(self):
    # The layer passes N * H * W of its input (leading batch axes included) to conv_path.
    layer = layers.Conv(3, (3, 3), impl='fast')
    x = _inputs((2, 3, 4, 5, 8))  # 2 * 3 * 4 * 5 positions, 9 * 3 planes each
    params = layer.init(jax.random.key(0), x)
    want = nn.Conv(3, (3, 3)).apply(params, x)
    for limit, calls in [(27 * 120, 1), (27 * 120 - 1, 0)]:
      with (mock.patch.object(im2col, 'SHIFT_MAX_VALUES', limit),
            mock.patch.object(layers, 'shift_conv', wraps=layers.shift_conv) as spy):
        np.testing.assert_allclose(layer.apply(params, x), want, atol=1e-5)
      self.assertEqual(spy.call_count, calls, msg=str(limit))

  @parameterized.parameters(
      (layers.strided_conv, (2, 2), ((0, 1), (1, 0)), 1),
      (layers.strided_conv, (2, 2), ((-1, 1), (0, -1)), 1),  # a crop first
      (layers.phase_conv_transpose, (2, 2), ((2, 2), (1, 2)), 1),
      (layers.patch_conv, (2, 1), ((0, 1), (2, -1)), 2),
      # space-to-depth patches: each stride divides the kernel size
      (layers.patch_conv, (2, 1), ((1, 2), (-1, 1)), 2, 4),
      (layers.shift_conv, (1, 2), ((1, 2), (-1, 1)), 2))
  def test_check_grads_second_order(self, fn, strides, pads, batch, k=3):
    with jax.enable_x64(True):
      x = jnp.asarray(np.random.default_rng(0).normal(size=(batch, 5, 4, 2)))
      w = jnp.asarray(np.random.default_rng(1).normal(size=(k, k, 2, 2)))
      jtu.check_grads(jax.jit(lambda x, w: jnp.sin(fn(x, w, strides, pads))), (x, w),
                      order=2, modes=['rev'])


class LoopSafeConvTest(chex.TestCase):
  """``polyphase.loop_safe_conv``, the stride-1 convolution of jaxgan's layers: XLA's value,
  and derivatives that compile to canonical convolutions inside a ``lax.scan`` too."""

  PADS = (((1, 1), (1, 1)), ((2, 0), (0, 3)), ((0, 0), (0, 0)))

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.parameters(*[(p,) for p in PADS])
  def test_value_and_gradients_match_numpy(self, pads):
    x, w = _inputs((2, 6, 5, 3)), _inputs((3, 2, 3, 4), seed=1)
    conv = lambda x, w: polyphase.loop_safe_conv(x, w, pads)
    want_y = _np_conv(np.float64(x), np.float64(w), (1, 1), pads)
    g = _inputs(want_y.shape, seed=2)
    got_y, (got_dx, got_dw) = self.variant(
        lambda x, w, g: (conv(x, w), jax.vjp(conv, x, w)[1](g)))(x, w, g)
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        got_dw, _np_conv_kernel_grad(np.float64(x), np.float64(g), (3, 2), (1, 1), pads),
        rtol=1e-5, atol=1e-5)
    # The input gradient: the transpose of the (linear) map x -> conv(x, w), by hand.
    want_dx = np.zeros(x.shape)
    for idx in np.ndindex(*x.shape):
      e = np.zeros(x.shape)
      e[idx] = 1.0
      want_dx[idx] = np.sum(_np_conv(e, np.float64(w), (1, 1), pads) * np.float64(g))
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-5, atol=1e-5)

  @parameterized.parameters(*[(p,) for p in PADS])
  def test_check_grads_second_order_both_modes(self, pads):
    with jax.enable_x64(True):
      x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 4, 2)))
      w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 2, 2, 3)))
      jtu.check_grads(lambda x, w: jnp.sin(polyphase.loop_safe_conv(x, w, pads)), (x, w),
                      order=2, modes=['fwd', 'rev'])

  @parameterized.parameters(((0, 0),), ((0, None),), ((None, 0),))
  def test_vmapped_gradients_and_bfloat16_equal_xla_s_op(self, in_axes):
    # Per-seed inputs and/or kernels (jax.vmap over seeds); bfloat16 values and gradients.
    pads = ((1, 1), (2, 0))
    xla_op = lambda x, w: lax.conv_general_dilated(x, w, (1, 1), pads,
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    ours = lambda x, w: polyphase.loop_safe_conv(x, w, pads)
    x, w = _inputs((3, 2, 6, 5, 3)), _inputs((3, 3, 3, 3, 4), seed=1)
    x, w = (x if in_axes[0] == 0 else x[0]), (w if in_axes[1] == 0 else w[0])
    grads = lambda f: jax.jit(jax.vmap(jax.grad(lambda x, w: jnp.sum(jnp.sin(f(x, w))),
                                                argnums=(0, 1)), in_axes=in_axes))
    got, want = grads(ours)(x, w), grads(xla_op)(x, w)
    # Unmapped operands get one gradient per mapped instance.
    chex.assert_trees_all_close(got, want, rtol=1e-5, atol=1e-5)
    xb, wb = x.astype(jnp.bfloat16), w.astype(jnp.bfloat16)
    got, want = grads(ours)(xb, wb), grads(xla_op)(xb, wb)
    self.assertEqual([g.dtype for g in got], [jnp.bfloat16] * 2)
    chex.assert_trees_all_close(jax.tree.map(lambda a: a.astype(jnp.float32), got),
                                jax.tree.map(lambda a: a.astype(jnp.float32), want),
                                rtol=2e-2, atol=2e-2)

  def test_canonical_convolutions_in_a_scan(self):
    # Five residual layers as one lax.scan: the gradients in the kernels and the input
    # compile to canonical convolutions, with the values of XLA's own op. XLA's op itself
    # does not (which shows that the check sees the slow path): its kernel gradient in the
    # loop stays f01b_i01o->01bf. A gradient penalty's second derivative through the loop
    # has the values but not the layouts (no jaxgan critic is scanned; see loop_safe_conv).
    x, ks = _inputs((2, 6, 6, 8)), 0.2 * _inputs((5, 3, 3, 8, 8), seed=3)
    xla_op = lambda h, k, pads: lax.conv_general_dilated(
        h, k, (1, 1), pads, dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

    def fns(conv):
      def loss(ks, x):
        layer = lambda h, k: (h + 0.5 * jnp.tanh(conv(h, k, ((1, 1), (1, 1)))), None)
        return jnp.sum(jnp.sin(lax.scan(layer, x, ks)[0]))

      def penalty(ks, x):
        return jnp.sum(jax.grad(loss, argnums=1)(ks, x) ** 2)
      return {'grads': jax.grad(loss, argnums=(0, 1)), 'penalty': jax.grad(penalty)}
    ours = {n: jax.jit(f).lower(ks, x).compile() for n, f in
            fns(polyphase.loop_safe_conv).items()}
    xla = {n: jax.jit(f).lower(ks, x).compile() for n, f in fns(xla_op).items()}
    for name in ours:
      # Within float32 rounding of the values' scale (the penalty's reach 20: one of 2,880
      # was 1.9e-5 off on an AMD EPYC).
      want = xla[name](ks, x)
      scale = max(1.0, max(float(jnp.max(jnp.abs(w))) for w in jax.tree.leaves(want)))
      chex.assert_trees_all_close(ours[name](ks, x), want, rtol=1e-5, atol=1e-5 * scale)
    if jax.default_backend() == 'cpu':
      self.assertEqual(_slow_convolutions(ours['grads']), 0)
      self.assertGreater(_slow_convolutions(xla['grads']), 0)


class CpuCompilerOptionsTest(parameterized.TestCase):
  """Under jaxgan's XLA:CPU default (``sharding.CPU_COMPILER_OPTIONS``: YNNPACK for dots and
  reductions, which then runs the convolutions), values and kernel gradients of both
  layers and both implementations equal the direct NumPy loops (float64)."""

  @parameterized.product(kind=('Conv', 'ConvTranspose'), kernel=(3, 4), stride=(1, 2),
                         impl=('fast', 'flax'), channels=((5, 8), (5, 4), (2, 8)))
  def test_value_and_kernel_gradient(self, kind, kernel, stride, impl, channels):
    if jax.default_backend() != 'cpu':
      self.skipTest('XLA:CPU options')
    pads, strides = ((1, 2), (2, 1)), (stride, stride)
    c_in, c_out = channels  # (5, 4) and (2, 8): Conv's few-channel paths
    layer = getattr(layers, kind)(c_out, (kernel, kernel), strides=strides, padding=pads,
                                  use_bias=False, impl=impl)
    x = _inputs((3, 9, 8, c_in))
    params = layer.init(jax.random.key(0), x)
    x64, w64 = np.float64(x), np.float64(params['params']['kernel'])
    reference, kernel_grad = ((_np_conv, _np_conv_kernel_grad) if kind == 'Conv' else
                              (_np_conv_transpose, _np_conv_transpose_kernel_grad))
    want_y = reference(x64, w64, strides, pads)
    g = np.random.default_rng(1).normal(size=want_y.shape)
    want_dw = kernel_grad(x64, g, (kernel, kernel), strides, pads)

    def value_and_kernel_grad(p, x, g):
      y, vjp = jax.vjp(lambda p: layer.apply(p, x), p)
      return y, vjp(g)[0]['params']['kernel']
    fn = jax.jit(value_and_kernel_grad, compiler_options=sharding.CPU_COMPILER_OPTIONS)
    got_y, got_dw = fn(params, x, jnp.asarray(g, jnp.float32))
    np.testing.assert_allclose(got_y, want_y, rtol=1e-5, atol=1e-5 * np.abs(want_y).max())
    np.testing.assert_allclose(got_dw, want_dw, rtol=1e-5, atol=1e-5 * np.abs(want_dw).max())


class FunctionalConvTest(chex.TestCase):
  """``layers.conv``, the function behind ``Conv`` (what the dense blocks call), on each
  path ``conv_path`` chooses, against the direct NumPy loop."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(
      case=[((2, 5), (1, 1), 'patch'), ((6, 2), (1, 1), 'shift'), ((6, 5), (2, 2), 'strided'),
            ((6, 5), (1, 1), 'stride1')],
      impl=['fast', 'flax'])
  def test_every_path_matches_numpy(self, case, impl):
    (c_in, c_out), strides, path = case
    self.assertEqual(layers.conv_path(c_in, c_out, (3, 3), strides), path)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, c_in)).astype(np.float32)
    w = rng.standard_normal((3, 3, c_in, c_out)).astype(np.float32)
    pads = ((1, 2), (0, 1))
    got = self.variant(functools.partial(layers.conv, strides=strides, padding=pads,
                                         impl=impl))(x, w)
    want = _np_conv(x.astype(np.float64), w.astype(np.float64), strides, pads)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

  @parameterized.product(kernel=[(2, 3), (3, 2), (1, 4)],
                         case=[((2, 5), (1, 1), 'patch'), ((6, 2), (1, 1), 'shift'),
                               ((6, 2), (2, 1), 'shift'), ((6, 5), (2, 3), 'strided'),
                               ((6, 5), (1, 1), 'stride1')])
  def test_non_square_kernels_on_every_path(self, kernel, case):
    (c_in, c_out), strides, path = case
    self.assertEqual(layers.conv_path(c_in, c_out, kernel, strides), path)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 7, 6, c_in)).astype(np.float32)
    w = rng.standard_normal((*kernel, c_in, c_out)).astype(np.float32)
    pads = ((1, 0), (2, 1))
    got = jax.jit(functools.partial(layers.conv, strides=strides, padding=pads,
                                    impl='fast'))(x, w)
    want = _np_conv(x.astype(np.float64), w.astype(np.float64), strides, pads)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())

  def test_same_padding_and_bad_impl(self):
    x = jnp.asarray(np.random.default_rng(1).standard_normal((1, 5, 5, 3)), jnp.float32)
    w = jnp.ones((3, 3, 3, 4))
    want = _np_conv(np.asarray(x, np.float64), np.ones((3, 3, 3, 4)), (2, 2), ((1, 1), (1, 1)))
    np.testing.assert_allclose(layers.conv(x, w, (2, 2), 'SAME', impl='fast'), want,
                               rtol=1e-5, atol=1e-5)
    with self.assertRaisesRegex(ValueError, "'fast', 'flax'"):
      layers.conv(x, w, impl='cuda')

  @parameterized.parameters('fast', 'flax')
  def test_transposed_string_padding_with_a_non_square_kernel(self, impl):
    # lax's rule per axis: 'SAME' pads k + s - 2, low k - 1 if s > k - 1 else half of it
    # rounded up; 'VALID' pads k + s - 2 + max(k - s, 0), low k - 1. Kernel 4 x 1, stride 2.
    x, w = _inputs((1, 3, 4, 2)), _inputs((4, 1, 2, 3), seed=1)
    for padding, pads in (('SAME', ((2, 2), (0, 1))), ('VALID', ((3, 3), (0, 1)))):
      got = layers.conv_transpose(x, w, (2, 2), padding, impl=impl)
      want = _np_conv_transpose(np.float64(x), np.float64(w), (2, 2), pads)
      self.assertEqual(got.shape, want.shape, msg=padding)
      np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=padding)


class ValidRegionTransposeTest(chex.TestCase):

  @parameterized.parameters('fast', 'flax')
  def test_valid_region_masks_a_transposed_convolution_s_input(self, impl):
    # Inside valid_region(2, 3, 6, 6) the input is zero outside its top-left 2 x 3.
    x = _inputs((1, 6, 6, 4))
    w = _inputs((4, 4, 4, 2), seed=1)
    pads = ((2, 2), (2, 2))  # lax.conv_transpose's 'SAME' for k = 4, s = 2
    with layers.valid_region(2, 3, 6, 6):
      got = layers.conv_transpose(x, w, (2, 2), 'SAME', impl=impl)
    masked = np.zeros((1, 6, 6, 4))
    masked[:, :2, :3] = np.float64(x[:, :2, :3])
    np.testing.assert_allclose(got, _np_conv_transpose(masked, np.float64(w), (2, 2), pads),
                               atol=1e-5)


class UpsampleConvTest(chex.TestCase):
  """``UpsampleConv`` / ``upsample_conv``: a convolution of the nearest-upsampled input,
  against the direct NumPy loop over an upsampling done by ``np.repeat``."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(
      kernel_padding=[(3, 'SAME'), (3, ((1, 1), (1, 1))), (3, 'VALID'), (1, 'SAME'),
                      (4, 'SAME'), (5, ((0, 3), (2, 1)))],
      impl=['fast', 'flax'])
  def test_matches_numpy_on_the_upsampled_input(self, kernel_padding, impl):
    k, padding = kernel_padding
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    w = rng.standard_normal((k, k, 3, 5)).astype(np.float32)
    up = np.repeat(np.repeat(x, 2, axis=1), 2, axis=2).astype(np.float64)
    pads = (lax.padtype_to_pads(up.shape[1:3], (k, k), (1, 1), padding)
            if isinstance(padding, str) else padding)
    want = _np_conv(up, w.astype(np.float64), (1, 1), pads)
    got = self.variant(functools.partial(layers.upsample_conv, padding=padding,
                                         impl=impl))(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


class UpsampleNearestTest(chex.TestCase):

  @parameterized.parameters(1, 2, 3)
  def test_each_pixel_becomes_a_factor_by_factor_block(self, factor):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    want = np.kron(x, np.ones((1, factor, factor, 1), np.float32))
    np.testing.assert_array_equal(layers.upsample_nearest(jnp.asarray(x), factor), want)


def _np_avg_pool(z):
  """2x2 average pooling, stride 2, 'VALID' (an odd last row or column dropped)."""
  n, h, w, c = z.shape
  z = z[:, :h // 2 * 2, :w // 2 * 2]
  return z.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


class ConvAvgPoolTest(chex.TestCase):
  """``ConvAvgPool`` / ``conv_avg_pool``: a convolution then 2x2 average pooling, against
  the direct NumPy loop and a NumPy pooling."""

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(
      case=[(3, 'SAME', (6, 8)), (3, 'SAME', (7, 5)), (3, 'VALID', (7, 5)),
            (1, 'SAME', (7, 5)), (4, 'SAME', (6, 8)), (5, ((0, 3), (2, 1)), (7, 5))],
      impl=['fast', 'flax'])
  def test_matches_numpy(self, case, impl):
    k, padding, size = case  # (7, 5): odd sizes, whose last row and column pooling drops
    rng = np.random.default_rng(k)
    x = rng.standard_normal((2, *size, 6)).astype(np.float32)
    w = rng.standard_normal((k, k, 6, 5)).astype(np.float32)
    pads = (lax.padtype_to_pads(size, (k, k), (1, 1), padding)
            if isinstance(padding, str) else padding)
    want = _np_avg_pool(_np_conv(x.astype(np.float64), w.astype(np.float64), (1, 1), pads))
    got = self.variant(functools.partial(layers.conv_avg_pool, padding=padding,
                                         impl=impl))(x, w)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())


# (module, function, the unfused layers with the same variables)
_FUSED = {
    'upsample_conv': (layers.UpsampleConv, layers.upsample_conv,
                      lambda conv, v, x: conv.apply(v, layers.upsample_nearest(x))),
    'conv_avg_pool': (layers.ConvAvgPool, layers.conv_avg_pool,
                      lambda conv, v, x: nn.avg_pool(conv.apply(v, x), (2, 2), (2, 2))),
}


class FusedModulesTest(chex.TestCase):
  """``UpsampleConv`` and ``ConvAvgPool`` hold ``Conv``'s parameters and equal Flax's
  unfused layers with them; their derivatives pass ``check_grads`` to order 2."""

  @parameterized.parameters(*_FUSED)
  def test_module_equals_the_unfused_layers_with_its_derivatives(self, name):
    module_cls, fn, unfused = _FUSED[name]
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 6, 8, 6)), jnp.float32)
    module = module_cls(7, (3, 3), padding='SAME', impl='fast')
    variables = jax.jit(module.init)(jax.random.key(0), x)
    self.assertEqual(variables['params']['kernel'].shape, (3, 3, 6, 7))  # Conv's parameters
    np.testing.assert_allclose(jax.jit(module.apply)(variables, x),
                               unfused(nn.Conv(7, (3, 3)), variables, x), rtol=1e-5,
                               atol=1e-5)
    with jax.enable_x64(True):  # derivatives, to second order (a penalty's), both modes
      x64 = np.asarray(x, np.float64)[:1]
      w64 = np.asarray(variables['params']['kernel'], np.float64)
      # Compiled: op by op, its derivatives compiled hundreds of small programs.
      jtu.check_grads(jax.jit(lambda x, w: jnp.sin(fn(x, w, 'SAME', impl='fast'))),
                      (x64, w64), order=2, modes=['fwd', 'rev'])
    with self.assertRaisesRegex(ValueError, 'stride 1'):
      module_cls(7, (3, 3), strides=2).init(jax.random.key(0), x)


class ErrorsTest(chex.TestCase):

  def test_bad_attributes(self):
    x = jnp.zeros((1, 8, 8, 3))
    for layer_cls in (layers.Conv, layers.ConvTranspose):
      with self.assertRaisesRegex(ValueError, "'fast', 'flax'"):
        layer_cls(4, (3, 3), impl='cuda').init(jax.random.key(0), x)
      with self.assertRaisesRegex(ValueError, "'SAME', 'VALID'"):
        layer_cls(4, (3, 3), padding='CIRCULAR').init(jax.random.key(0), x)
      with self.assertRaisesRegex(ValueError, 'kernel_size'):
        layer_cls(4, (3, 3, 3)).init(jax.random.key(0), x)
      with self.assertRaisesRegex(ValueError, r'\(2, 8\)'):
        layer_cls(4, (3, 3)).init(jax.random.key(0), jnp.zeros((2, 8)))
      with self.assertRaisesRegex(ValueError, r'strides must be an int or a pair'):
        layer_cls(4, (3, 3), strides=(1, 1, 1)).init(jax.random.key(0), x)
      with self.assertRaisesRegex(ValueError, 'two ints or'):  # not one pair per axis
        layer_cls(4, (3, 3), padding=((1, 1),) * 3).init(jax.random.key(0), x)
      with self.assertRaisesRegex(ValueError, 'two ints or'):
        layer_cls(4, (3, 3), padding=((1, 1, 1), (1, 1))).init(jax.random.key(0), x)

  def test_the_stride_one_layers_refuse_other_strides(self):
    x = jnp.zeros((1, 8, 8, 3))
    for layer_cls in (layers.UpsampleConv, layers.ConvAvgPool):
      with self.assertRaisesRegex(ValueError, f'{layer_cls.__name__} has stride 1; got '
                                  r'strides \(2, 1\)'):
        layer_cls(4, (3, 3), strides=(2, 1)).init(jax.random.key(0), x)
      variables = layer_cls(4, (3, 3), strides=None).init(jax.random.key(0), x)
      self.assertEqual(variables['params']['kernel'].shape, (3, 3, 3, 4))


if __name__ == '__main__':
  absltest.main()
