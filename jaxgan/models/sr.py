"""Super-resolution GAN models: the SRResNet and RRDBNet generators, their discriminators.

* :class:`SRResNet`: the SRGAN generator (Ledig et al. 2017, Fig. 4), with BatchNorm.
* :class:`RRDBNet`: the ESRGAN generator (Wang et al. 2018), residual-in-residual dense
  blocks, no BatchNorm, Kaiming x0.1 initialisation as ESRGAN's code.
* :class:`SRGANDiscriminator`: the VGG-style discriminators of SRGAN (Ledig et al. 2017,
  Fig. 4) and ESRGAN (BasicSR's ``VGGStyleDiscriminator``), by ``layout``.

The generators map a low-resolution image ``lr [B, h, w, 3]`` in [-1, 1] to ``[B, h * scale,
w * scale, 3]``. Their output is linear, as in ESRGAN/BasicSR (no tanh): it lives in [-1, 1]
once trained, may overshoot it slightly, and inference clips it
(``jaxgan.evaluate.EvalRun.generate``, ``jaxgan.upscale.write_image``).

All convolutions pad ``k // 2`` on every side, as the PyTorch references (``padding=1`` for
3x3, 4 for 9x9): for the discriminator's stride-2 convolutions this differs from Flax's
``'SAME'`` (which pads 0 before, 1 after), so that PyTorch weights mean the same here.

Sizes, and times on this machine (2 CPU cores shared with other jobs, load average 4-6;
jitted, one batch of 16, LR 32x32 -> HR 128x128, median of 3 after compilation, measured
once: expect a spread of tens of percent; the RRDBNet rows measured again on an idle
machine after its dense blocks and upsampling convs were rewritten, 3.2 s / 0.20 s /
0.91 s before). The small variants train on 2 CPU cores.

==================================================  ==========  =========  ==============
model                                               parameters  forward    forward +
                                                                (infer.)   backward (train)
==================================================  ==========  =========  ==============
``SRResNet()``: the paper's, 16 blocks, 64 wide      1,547,350  0.60 s
``SRResNet(num_blocks=4, features=32)``                173,098  0.12 s     0.72 s
``RRDBNet()``: ESRGAN's, 23 RRDBs, 64, growth 32    16,697,987  2.3 s
``RRDBNet(num_blocks=2, features=32, growth=16)``      398,755  0.13 s     0.47 s
``SRGANDiscriminator()``: the paper's, 96 px        23,563,649
``SRGANDiscriminator(image_size=128)``              38,243,713  0.38 s
``SRGANDiscriminator(image_size=128, width=16,``     2,391,649  0.03 s
``hidden=256)``
``SRGANDiscriminator(layout='esrgan',``             14,499,401
``image_size=128, hidden=100)``: ESRGAN's
``SRGANDiscriminator(layout='esrgan',``                651,305
``image_size=64, width=16, hidden=100)``
==================================================  ==========  =========  ==============

References:
  Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a Generative
  Adversarial Network", CVPR 2017 (SRGAN, SRResNet).
  Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks",
  ECCV Workshops 2018 (RRDBNet); code: BasicSR ``basicsr/archs/rrdbnet_arch.py``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen import dtypes

from jaxgan.models import blocks, initializers, layers, mixed
from jaxgan.models.blocks import Initializer, check_labels, torch_default_init
from jaxgan.models.dcgan import NORMS

SCALES = (2, 4, 8)
SCANNED_RRDBS = 'rrdbs'  # RRDBNet(scan_blocks=True)'s stacked blocks


def kaiming_normal(scale: float = 1.0) -> Initializer:
  """PyTorch's ``kaiming_normal_(w, a=0, mode='fan_in')`` times ``scale``.

  ``w ~ N(0, sigma^2)``, ``sigma = scale * sqrt(2 / fan_in)``, ``fan_in = kh * kw * C_in``;
  untruncated, as PyTorch's. ``scale=0.1`` is BasicSR's ``default_init_weights(m, 0.1)``.

  References: He et al. 2015, "Delving Deep into Rectifiers", ICCV 2015.
  """
  return nn.initializers.variance_scaling(2.0 * scale ** 2, 'fan_in', 'normal')


upsample_nearest = layers.upsample_nearest  # ESRGAN's F.interpolate(mode='nearest')


def _num_stages(who: str, scale: int) -> int:
  """The number of x2 upsampling stages of ``scale`` (a ValueError unless in SCALES)."""
  if scale not in SCALES:
    raise ValueError(f'{who}: scale must be one of {", ".join(map(str, SCALES))}; got '
                     f'{scale!r}.')
  return int(math.log2(scale))


def _check_lowres(who: str, lr: chex.Array, y: Any) -> None:
  if getattr(lr, 'ndim', None) != 4:
    raise ValueError(f'{who} takes low-resolution images of shape [B, h, w, C]; got shape '
                     f'{getattr(lr, "shape", None)}.')
  check_labels(who, y, lr.shape[0], 0)


def _conv(features: int, size: int, init: Initializer, dtype: Any, name: str,
          use_bias: bool = True, stride: int = 1, cls: type = layers.Conv) -> nn.Module:
  """A ``size x size`` convolution (``cls``: ``layers.Conv`` or a fused variant such as
  ``layers.UpsampleConv``) padded by ``size // 2`` on every side (PyTorch's)."""
  return cls(features, (size, size), strides=stride, padding=size // 2, use_bias=use_bias,
             kernel_init=init, dtype=dtype, name=name)


def _batch_norm(train: bool, dtype: Any, name: str) -> nn.Module:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=dtype,
                      name=name)


class ResidualBlock(nn.Module):
  """SRResNet block: ``x + BN(conv(PReLU(BN(conv(x)))))``, 3x3 convolutions without biases
  (each is followed by BatchNorm), one learned PReLU slope.

  Attributes:
    features: channels of input, hidden and output.
    kernel_init: initializer of the two convolutions.
    dtype: computation dtype.

  References: Ledig et al. 2017 (SRGAN), Fig. 4.
  """
  features: int = 64
  kernel_init: Initializer = kaiming_normal(1.0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:
    h = _conv(self.features, 3, self.kernel_init, self.dtype, 'conv1', use_bias=False)(x)
    h = _batch_norm(train, self.dtype, 'bn1')(h)
    h = mixed.PReLU(negative_slope_init=0.25, name='prelu')(h)
    h = _conv(self.features, 3, self.kernel_init, self.dtype, 'conv2', use_bias=False)(h)
    return x + _batch_norm(train, self.dtype, 'bn2')(h)


class SRResNet(nn.Module):
  """The SRGAN generator (SRResNet), Ledig et al. 2017, Fig. 4.

  ``f = PReLU(conv9x9(lr))``; ``h = f + BN(conv3x3(blocks(f)))`` with ``num_blocks``
  :class:`ResidualBlock`; ``log2(scale)`` stages of ``PReLU(pixel_shuffle(conv3x3(h), 2))``
  (``4 * features`` channels before the shuffle); ``sr = conv9x9(h)`` to ``channels``.

  This is the paper's variant with BatchNorm. BasicSR's ``MSRResNet`` drops BN, uses
  LeakyReLU 0.1, 3x3 outer convolutions, adds a bilinear upsampling of the input and scales
  its Kaiming init by 0.1 to keep the BN-free residual sum stable at init; with BN each
  residual branch is renormalized, so that scaling is not needed. The paper states no
  initialisation: this follows SRGAN-PyTorch (Lornatang, ``model.py``), Kaiming normal
  (``a=0``, fan_in, gain sqrt(2)) for every convolution, zero biases, BN scale 1 and bias 0,
  and PyTorch's ``nn.PReLU()``: one learned slope per PReLU layer, initialised at 0.25
  (He et al. 2015). Convolutions followed by BN have no bias (redundant with BN's).

  Attributes:
    num_blocks: residual blocks (16 in the paper; 4 trains on 2 CPU cores).
    features: channels of the trunk (64 in the paper; 32 for the small variant).
    scale: upscaling factor, one of ``SCALES`` (4 in the paper).
    channels: channels of the output image.
    kernel_init: initializer of every convolution (a callable or an
      ``jaxgan.models.initializers`` spec).
    dtype: computation dtype (parameters stay float32).

  References: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
  Generative Adversarial Network", CVPR 2017; Shi et al. 2016 (sub-pixel convolution).
  """
  num_blocks: int = 16
  features: int = 64
  scale: int = 4
  channels: int = 3
  kernel_init: Any = kaiming_normal(1.0)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, lr: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps ``lr [B, h, w, C]`` in [-1, 1] to ``[B, h * scale, w * scale, channels]``
    (linear output; ``dtype``)."""
    _check_lowres('SRResNet', lr, y)
    stages = _num_stages('SRResNet', self.scale)
    num_blocks = blocks.check_count('SRResNet', 'num_blocks', self.num_blocks)
    init = initializers.resolve(self.kernel_init)
    f = _conv(self.features, 9, init, self.dtype, 'conv_first')(lr)
    f = mixed.PReLU(negative_slope_init=0.25, name='prelu_first')(f)
    h = f
    for i in range(num_blocks):
      h = ResidualBlock(self.features, init, self.dtype, name=f'block_{i}')(h, train)
    h = _conv(self.features, 3, init, self.dtype, 'conv_body', use_bias=False)(h)
    h = f + _batch_norm(train, self.dtype, 'bn_body')(h)
    for i in range(stages):
      h = _conv(4 * self.features, 3, init, self.dtype, f'conv_up_{i}')(h)
      h = mixed.PReLU(negative_slope_init=0.25, name=f'prelu_up_{i}')(layers.pixel_shuffle(h, 2))
    return _conv(self.channels, 9, init, self.dtype, 'conv_last')(h)


class _ConvParams(nn.Module):
  """The ``kernel`` and ``bias`` of a :func:`_conv` of this ``kernel_shape``, without the
  convolution (the same names, shapes and initial values as ``layers.Conv``'s)."""
  kernel_shape: tuple[int, int, int, int]
  kernel_init: Initializer

  @nn.compact
  def __call__(self) -> tuple[jax.Array, jax.Array]:
    return (self.param('kernel', self.kernel_init, self.kernel_shape, jnp.float32),
            self.param('bias', nn.initializers.zeros_init(), self.kernel_shape[-1:],
                       jnp.float32))


class ResidualDenseBlock(nn.Module):
  """ESRGAN residual dense block: five 3x3 convolutions with dense connections.

  ``x_k = LReLU(conv_k([x, x_1, ..., x_{k-1}]))`` for ``k = 1..4`` (``growth`` channels
  each, concatenated on the channel axis in this order, LeakyReLU slope 0.2),
  ``x_5 = conv_5([x, x_1, ..., x_4])`` (``features`` channels, no activation), and
  ``out = residual_scale * x_5 + x``.

  Computed without the concatenations: a convolution of ``[x, x_1, ..., x_{k-1}]`` is the
  sum over its parts of convolutions with the matching input rows of the kernel, so each
  of ``x, x_1, ..., x_4`` is convolved once, with the rows of every later convolution's
  kernel side by side, and its output is split among them. Five convolutions with
  ``features`` or ``growth`` inputs and up to ``4 growth + features`` outputs instead of up
  to ``features + 4 growth`` inputs and ``growth`` outputs: the same products, faster on
  XLA:CPU (``benchmarks/sr_step.py``). Each convolution's pre-activation is the sum of its
  parts in one pass, not a zero-padded accumulator of all five outputs updated after each
  part: the papers' RRDBNet's PSNR step runs 7-16 % faster this way (side by side, 2 CPU
  cores; ``docs/cpu_avx2/sr_rrdb_dense_split_ab.txt``). Parameters are ``conv1`` ...
  ``conv5``, as in ESRGAN.

  Attributes:
    features: channels of input and output.
    growth: channels of each of the four inner convolutions.
    residual_scale: the residual scaling (0.2 in ESRGAN).
    kernel_init: initializer of the convolutions (biases start at 0).
    dtype: computation dtype.

  References: Wang et al. 2018 (ESRGAN), Fig. 4; Zhang et al. 2018, "Residual Dense
  Network for Image Super-Resolution", CVPR 2018.
  """
  features: int = 64
  growth: int = 32
  residual_scale: float = 0.2
  kernel_init: Initializer = kaiming_normal(0.1)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array) -> chex.Array:
    f, g = self.features, self.growth
    widths = [g] * 4 + [f]  # the outputs of conv1 ... conv5
    params = [_ConvParams((3, 3, f + g * (k - 1), widths[k - 1]), self.kernel_init,
                          name=f'conv{k}')() for k in range(1, 6)]
    kernels = [kernel for kernel, _ in params]
    biases = [b for _, b in params]
    # pre[k]: the pre-activation of conv k+1: its bias plus its parts, summed in that order
    # (mixed.add_bias: the bias's gradient summed in float32 when computing in bfloat16).
    h, pre = x, [None] * 5
    for j in range(5):  # the input part j: x (j = 0) or x_j, rows [lo, lo + width) of the
      lo, width = (0, f) if j == 0 else (f + g * (j - 1), g)  # kernels of conv j+1 ... conv5
      kernel = jnp.concatenate([k[:, :, lo:lo + width] for k in kernels[j:]], axis=-1)
      h, kernel = dtypes.promote_dtype(h, kernel, dtype=self.dtype)
      y = layers.conv(h, kernel, padding=((1, 1), (1, 1)))
      # Split (not sliced, nor padded into one accumulator): each output is summed from its
      # parts in one pass, and the cotangent of y is one concatenation.
      parts = jnp.split(y, list(itertools.accumulate(widths[j:-1])), axis=-1)
      for k, part in enumerate(parts, start=j):
        pre[k] = mixed.add_bias(part, biases[k]) if pre[k] is None else pre[k] + part
      if j < 4:
        h = nn.leaky_relu(pre[j], 0.2)
    return self.residual_scale * pre[4] + x


class RRDB(nn.Module):
  """Residual-in-residual dense block: ``out = residual_scale * rdb3(rdb2(rdb1(x))) + x``,
  three :class:`ResidualDenseBlock`.

  Attributes:
    features: channels of input and output.
    growth: growth channels of the dense blocks.
    residual_scale: the residual scaling of the dense blocks and of this block (0.2).
    kernel_init: initializer of the convolutions.
    dtype: computation dtype.

  References: Wang et al. 2018 (ESRGAN), Fig. 4.
  """
  features: int = 64
  growth: int = 32
  residual_scale: float = 0.2
  kernel_init: Initializer = kaiming_normal(0.1)
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array) -> chex.Array:
    h = x
    for i in range(1, 4):
      h = ResidualDenseBlock(self.features, self.growth, self.residual_scale,
                             self.kernel_init, self.dtype, name=f'rdb{i}')(h)
    return self.residual_scale * h + x


class _ScannedRRDB(RRDB):
  """An :class:`RRDB` as the body of ``nn.scan``: ``(h, None) -> (RRDB(h), None)``."""

  def __call__(self, h: chex.Array, _: None) -> tuple[chex.Array, None]:  # type: ignore[override]
    return super().__call__(h), None


class RRDBNet(nn.Module):
  """The ESRGAN generator (RRDBNet), Wang et al. 2018.

  ``f = conv_first(lr)``; ``h = f + conv_body(RRDBs(f))`` with ``num_blocks``
  :class:`RRDB`; ``log2(scale)`` stages of ``LReLU(conv(nearest_up_x2(h)))``;
  ``sr = conv_last(LReLU(conv_hr(h)))``. All convolutions 3x3, LeakyReLU slope 0.2, no
  BatchNorm. For x2 this is the original ESRGAN code's one upsampling stage (BasicSR's
  current ``RRDBNet`` instead pixel-unshuffles the input by 2 and keeps two stages).

  Initialised as the original ESRGAN code (``init_weights(netG, 'kaiming', scale=0.1)``):
  every kernel from Kaiming normal (``a=0``, fan_in, gain sqrt(2)) times 0.1, i.e.
  ``N(0, (0.1 sqrt(2 / fan_in))^2)``, biases zero. (Current BasicSR scales only the dense
  blocks' convs by 0.1, ``default_init_weights(..., 0.1)``, and leaves ``conv_first``,
  ``conv_body``, the upsampling convs and ``conv_hr``/``conv_last`` at PyTorch's default.)

  Attributes:
    num_blocks: RRDBs (23 in the paper; 2 trains on 2 CPU cores).
    features: channels of the trunk (64; 32 for the small variant).
    growth: growth channels of the dense blocks (32; 16 for the small variant).
    scale: upscaling factor, one of ``SCALES`` (4 in the paper).
    channels: channels of the output image.
    residual_scale: residual scaling in the dense blocks and RRDBs (0.2).
    kernel_init: initializer of every convolution (a callable or an
      ``jaxgan.models.initializers`` spec).
    dtype: computation dtype (parameters stay float32).
    scan_blocks: compute the RRDBs as one ``nn.scan`` (a loop over one compiled block)
      instead of ``num_blocks`` copies: the same function, compiled once. The papers' 23
      RRDBs on an H200 (``benchmarks/sr_step.py --scan``, ``docs/gpu/h200_run5.log``,
      ``h200_run6.log``): the train state's jitted init 14 s instead of 205 s, the PSNR
      step's compilation 6 s instead of 47 s. A different parameter layout: ``rrdbs``,
      its leaves stacked on a leading axis of ``num_blocks``, instead of ``rrdb_0`` ...
      (:func:`stack_rrdbs` and :func:`unstack_rrdbs` convert). One seed draws other
      initial weights in the two layouts (the scan splits the key per block). On 2 CPU
      cores the papers' GAN step (batch 1, 32 px) ran scanned at 0.95x its unrolled
      speed (``benchmarks/loop_safe_conv.py``), since jaxgan's stride-1 convolution keeps
      its gradients on XLA:CPU's fast path inside loops (``polyphase.loop_safe_conv``;
      with XLA's op it ran at 0.39x); on the H200 only the scanned step was timed (2.6-2.7x
      PyTorch eager). Off by default, so that a model's layout does not change under it;
      ``configs/esrgan.py`` scans the papers' model and not the small one.

  References: Wang et al. 2018, "ESRGAN: Enhanced Super-Resolution Generative Adversarial
  Networks", ECCV Workshops 2018; BasicSR ``basicsr/archs/rrdbnet_arch.py``,
  ``arch_util.default_init_weights``.
  """
  num_blocks: int = 23
  features: int = 64
  growth: int = 32
  scale: int = 4
  channels: int = 3
  residual_scale: float = 0.2
  kernel_init: Any = kaiming_normal(0.1)
  dtype: Any = jnp.float32
  scan_blocks: bool = False

  @nn.compact
  def __call__(self, lr: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps ``lr [B, h, w, C]`` in [-1, 1] to ``[B, h * scale, w * scale, channels]``
    (linear output; ``dtype``). ``train`` is unused (no BatchNorm)."""
    del train
    _check_lowres('RRDBNet', lr, y)
    stages = _num_stages('RRDBNet', self.scale)
    num_blocks = blocks.check_count('RRDBNet', 'num_blocks', self.num_blocks)
    init = initializers.resolve(self.kernel_init)
    conv = lambda features, name: _conv(features, 3, init, self.dtype, name)
    f = conv(self.features, 'conv_first')(lr)
    block = (self.features, self.growth, self.residual_scale, init, self.dtype)
    if self.scan_blocks:
      blocks_ = nn.scan(_ScannedRRDB, variable_axes={'params': 0},
                        split_rngs={'params': True}, length=num_blocks)
      h, _ = blocks_(*block, name=SCANNED_RRDBS)(f, None)
    else:
      h = f
      for i in range(num_blocks):
        h = RRDB(*block, name=f'rrdb_{i}')(h)
    h = f + conv(self.features, 'conv_body')(h)
    for i in range(stages):  # conv_up(upsample_nearest(h)) as one layer
      h = nn.leaky_relu(_conv(self.features, 3, init, self.dtype, f'conv_up_{i}',
                              cls=layers.UpsampleConv)(h), 0.2)
    h = nn.leaky_relu(conv(self.features, 'conv_hr')(h), 0.2)
    return conv(self.channels, 'conv_last')(h)


def stack_rrdbs(params: dict[str, Any]) -> dict[str, Any]:
  """An :class:`RRDBNet`'s parameters (its ``params`` collection) with blocks ``rrdb_0``
  ... ``rrdb_{n-1}`` as the layout of ``scan_blocks=True``: one subtree ``rrdbs`` whose
  leaves stack the blocks' on a leading axis. The other entries are kept.

  Raises:
    ValueError: no ``rrdb_{i}`` blocks, or numbers missing among them.
  """
  names = sorted((k for k in params if k.startswith('rrdb_')), key=lambda k: int(k[5:]))
  if not names or names != [f'rrdb_{i}' for i in range(len(names))]:
    raise ValueError(f'Expected RRDBNet blocks rrdb_0 ... rrdb_{{n-1}}; got {names}.')
  rest = {k: v for k, v in params.items() if k not in names}
  return {**rest, SCANNED_RRDBS: jax.tree.map(lambda *a: jnp.stack(a),
                                              *[params[k] for k in names])}


def unstack_rrdbs(params: dict[str, Any]) -> dict[str, Any]:
  """The inverse of :func:`stack_rrdbs`: the layout of ``scan_blocks=False``.

  Raises:
    ValueError: no ``rrdbs`` subtree.
  """
  if SCANNED_RRDBS not in params:
    raise ValueError(f'Expected the scanned RRDBNet subtree {SCANNED_RRDBS!r}; got '
                     f'{sorted(params)}.')
  stacked = params[SCANNED_RRDBS]
  n = jax.tree.leaves(stacked)[0].shape[0]
  rest = {k: v for k, v in params.items() if k != SCANNED_RRDBS}
  return {**rest, **{f'rrdb_{i}': jax.tree.map(lambda a, i=i: a[i], stacked)
                     for i in range(n)}}


def in_block_layout_of(params: Any, like: Any) -> Any:
  """An RRDBNet's ``params`` in the block layout of ``like``: stacked (``scan_blocks=True``,
  ``rrdbs``) or unrolled (``rrdb_0`` ...), by :func:`stack_rrdbs` or :func:`unstack_rrdbs`;
  any other tree unchanged. A run saved before ``scan_blocks`` existed (unrolled) then
  starts (``init_from``) or mixes (:func:`jaxgan.inference.interpolate`) with a scanned
  one."""
  if not (isinstance(params, dict) and isinstance(like, dict)):
    return params
  if SCANNED_RRDBS in like and 'rrdb_0' in params:
    return stack_rrdbs(params)
  if SCANNED_RRDBS in params and 'rrdb_0' in like:
    return unstack_rrdbs(params)
  return params


# The generators made of stride-1 and upsampling convolutions and per-pixel maps only:
# computed exactly on zero-padded inputs under ``layers.valid_region`` (SR evaluation
# pads images to buckets of sizes). A new generator joins once a test shows it exact.
PADDABLE = (SRResNet, RRDBNet)


def _layer_plan(generator: nn.Module) -> list[tuple[str, int]]:
  """The generator's layers from input to output as ``('conv', k // 2)`` (a ``k x k``
  convolution at the current resolution) and ``('up', 2)`` (a x2 upsampling); residual
  and dense connections only add shorter paths."""
  if isinstance(generator, SRResNet):
    n = blocks.check_count('SRResNet', 'num_blocks', generator.num_blocks)
    plan = [('conv', 4)] + [('conv', 1)] * (2 * n + 1)
    for _ in range(_num_stages('SRResNet', generator.scale)):
      plan += [('conv', 1), ('up', 2)]  # conv, then pixel shuffle
    return plan + [('conv', 4)]
  if isinstance(generator, RRDBNet):
    n = blocks.check_count('RRDBNet', 'num_blocks', generator.num_blocks)
    plan = [('conv', 1)] + [('conv', 1)] * (15 * n + 1)  # 3 RDBs x 5
    for _ in range(_num_stages('RRDBNet', generator.scale)):
      plan += [('up', 2), ('conv', 1)]  # nearest upsampling, then conv
    return plan + [('conv', 1)] * 2
  raise ValueError(f'No receptive field known for {type(generator).__name__}; pass the '
                   'margin explicitly.')


def receptive_radius(generator: nn.Module) -> int:
  """The receptive-field radius of an SR generator in low-resolution pixels: output pixels
  inside LR pixel ``(i, j)`` depend only on LR pixels within ``radius`` of ``(i, j)`` (in
  inference mode, where BatchNorm is a per-pixel affine map). Tiles run with at least this
  margin give exactly the whole-image result (:mod:`jaxgan.upscale`).

  Computed by carrying the interval of inputs an output pixel reads back through the
  layers (a ``k x k`` conv widens it by ``k // 2``; a x2 upsampling maps ``[lo, hi]`` to
  ``[lo // 2, hi // 2]``), for every output phase; e.g. 16 for ``SRResNet(num_blocks=4)``,
  40 for the paper's SRResNet, 349 for ESRGAN's RRDBNet (x4).

  Raises:
    ValueError: a generator other than :class:`SRResNet` and :class:`RRDBNet`.
  """
  plan = _layer_plan(generator)
  radius = 0
  for phase in range(generator.scale):
    lo = hi = phase
    for kind, size in reversed(plan):
      lo, hi = (lo - size, hi + size) if kind == 'conv' else (lo // size, hi // size)
    radius = max(radius, -lo, hi)  # the output pixel lies in LR pixel 0
  return radius


LAYOUTS = ('srgan', 'esrgan')


class SRGANDiscriminator(nn.Module):
  """The VGG-style discriminators of SRGAN (Ledig et al. 2017, Fig. 4) and ESRGAN.

  ``layout='srgan'``: ``LReLU(conv3x3(x, width))``; seven blocks ``LReLU(norm(conv3x3))``
  with (channels, stride) = ``(w, 2), (2w, 1), (2w, 2), (4w, 1), (4w, 2), (8w, 1), (8w,
  2)``, ``w = width``; flatten; ``LReLU(Dense(hidden))``; ``Dense(1)``: logits (the paper's
  final sigmoid is in the loss). The flattened size is ``8w * ceil(s / 16)^2`` for ``s =
  image_size``: the input size is fixed (96 in the paper: 18,432 features).

  ``layout='esrgan'``: ESRGAN's, BasicSR's ``VGGStyleDiscriminator``:
  ``LReLU(conv3x3(x, w))``, then stages ``i = 0 .. n-1`` of ``LReLU(norm(conv3x3, stride
  1))`` (not in stage 0) and ``LReLU(norm(conv4x4, stride 2, padding 1))`` with ``c_i = w *
  min(2^i, 8)`` channels, down to 4x4 (``n = log2(s / 4)``: 5 stages at the code's 128 px,
  6 at 256); flatten; ``LReLU(Dense(hidden))`` (100 in the code); ``Dense(1)``. The
  parameters keep BasicSR's names (``conv0_0``, ``conv0_1``, ``bn0_1``, ..., ``linear1``,
  ``linear2``); the flattened features are in HWC order where PyTorch's are CHW, so a
  ported ``linear1`` needs its rows permuted.

  LeakyReLU slope 0.2. Initialisation: neither paper states one; as SRGAN-PyTorch
  (Lornatang) and BasicSR, PyTorch's default kernel init, ``U(-1/sqrt(fan_in),
  1/sqrt(fan_in))``; biases start at 0 (PyTorch draws them from the same uniform, which a
  Flax bias initializer cannot do: it does not see ``fan_in``). Convolutions followed by
  BatchNorm have no bias.

  Attributes:
    image_size: the side of the (square) input crops (``'esrgan'``: ``4 * 2^k``, k >= 1).
    width: channels of the first convolutions (64 in both papers).
    hidden: units of the hidden Dense layer (1024 in SRGAN's paper, 100 in ESRGAN's code).
    norm: ``'batch'`` (the papers), ``'layer'``, ``'layer_chw'``, ``'none'`` or
      ``'spectral'`` (:class:`~jaxgan.models.blocks.SpectralNorm` on every conv and Dense
      layer, no other norm; Miyato et al. 2018), as :class:`jaxgan.models.dcgan.DCGANDiscriminator`.
    layout: ``'srgan'`` or ``'esrgan'`` (above).
    kernel_init: initializer of the conv and Dense kernels.
    dtype: computation dtype (parameters stay float32; logits are float32).

  References: Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
  Generative Adversarial Network", CVPR 2017, Fig. 4 and Section 2.2. Wang et al. 2018,
  "ESRGAN", ECCV Workshops 2018; code: BasicSR ``basicsr/archs/discriminator_arch.py``.
  """
  image_size: int = 96
  width: int = 64
  hidden: int = 1024
  norm: str = 'batch'
  layout: str = 'srgan'
  kernel_init: Any = torch_default_init()
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps images ``x [B, image_size, image_size, C]`` to logits ``[B]`` (float32)."""
    if self.norm not in NORMS:
      raise ValueError(f"norm must be one of {', '.join(NORMS)}; got {self.norm!r}.")
    if self.layout not in LAYOUTS:
      raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}; got {self.layout!r}.")
    stages = math.log2(self.image_size / 4) if self.image_size >= 8 else 0
    if self.layout == 'esrgan' and not (stages >= 1 and stages == int(stages)):
      raise ValueError(f"SRGANDiscriminator(layout='esrgan') downsamples to 4x4: image_size "
                       f'(the HR crop, data.crop_size) must be 4 * 2^k (8, 16, ..., 128, '
                       f"256); got {self.image_size}. layout='srgan' takes any crop: "
                       '--config.model.discriminator.layout=srgan.')
    if getattr(x, 'ndim', None) != 4 or x.shape[1:3] != (self.image_size, self.image_size):
      raise ValueError(f'SRGANDiscriminator(image_size={self.image_size}) takes images of '
                       f'shape [B, {self.image_size}, {self.image_size}, C]; got shape '
                       f'{getattr(x, "shape", None)}.')
    check_labels('SRGANDiscriminator', y, x.shape[0], 0)
    init = initializers.resolve(self.kernel_init)

    def layer(module, h):
      return blocks.spectral(module, h, enabled=self.norm == 'spectral', train=train)

    def block(h, features, size, stride, conv_name, norm_name):
      """``LReLU(norm(conv(h)))``; PyTorch's padding (``k // 2``; 1 for 4x4 stride 2)."""
      pad = 1 if size == 4 else size // 2
      h = layer(layers.Conv(features, (size, size), strides=stride, padding=pad,
                            use_bias=self.norm != 'batch', kernel_init=init, dtype=self.dtype,
                            name=conv_name), h)
      if self.norm == 'batch':
        h = _batch_norm(train, self.dtype, norm_name)(h)
      elif self.norm in blocks.LAYER_NORMS:
        h = blocks.layer_norm(h, self.norm, self.dtype, name=norm_name)
      return nn.leaky_relu(h, 0.2)

    w = self.width
    dense = lambda features, name: mixed.Dense(features, kernel_init=init, dtype=self.dtype,
                                               name=name)
    if self.layout == 'srgan':
      h = nn.leaky_relu(layer(_conv(w, 3, init, self.dtype, 'conv_0'), x), 0.2)
      plan = ((w, 2), (2 * w, 1), (2 * w, 2), (4 * w, 1), (4 * w, 2), (8 * w, 1), (8 * w, 2))
      for i, (features, stride) in enumerate(plan, start=1):
        h = block(h, features, 3, stride, f'conv_{i}',
                  f'bn_{i}' if self.norm == 'batch' else f'ln_{i}')
      names = ('dense_hidden', 'dense_out')
    else:
      h = nn.leaky_relu(layer(_conv(w, 3, init, self.dtype, 'conv0_0'), x), 0.2)
      norm = 'bn' if self.norm == 'batch' else 'ln'
      for i in range(int(stages)):
        features = w * min(2 ** i, 8)
        if i > 0:
          h = block(h, features, 3, 1, f'conv{i}_0', f'{norm}{i}_0')
        h = block(h, features, 4, 2, f'conv{i}_1', f'{norm}{i}_1')
      names = ('linear1', 'linear2')
    h = h.reshape((h.shape[0], -1))
    h = nn.leaky_relu(layer(dense(self.hidden, names[0]), h), 0.2)
    return layer(dense(1, names[1]), h)[:, 0].astype(jnp.float32)
