"""The FID InceptionV3 in Flax: pool3 features (2,048-d) and 1,008-way logits.

The architecture is pytorch-fid's ``fid_inception_v3`` (torchvision's Inception3 with the
blocks of the TensorFlow 2015-12-05 graph: average pools that do not count padding in
``Mixed_5*``, ``Mixed_6b-e`` and ``Mixed_7b``, and a max pool in ``Mixed_7c``). Module
names follow the PyTorch state dict, so its weights file loads key for key:

  https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth

Preprocessing follows pytorch-fid: images in [0, 1] are resized to 299x299 (bilinear,
half-pixel centres, no antialiasing) and scaled to [-1, 1]. jaxgan's images lie in
[-1, 1]; :func:`features_and_logits` maps them to [0, 1] and, by default, quantizes them
to 8 bits as saving them to PNG would, which is how FIDs in papers are computed.

The network runs at full float32 precision on every backend (:data:`PRECISION`): XLA's
default float32 convolutions are one bfloat16 pass on TPUs and TF32 on recent GPUs, which
would make the features, and so FID/KID/IS, depend on the accelerator.

References:
  Heusel et al., 2017, GANs Trained by a Two Time-Scale Update Rule Converge to a Local
  Nash Equilibrium (https://arxiv.org/abs/1706.08500); Seitzer, pytorch-fid
  (https://github.com/mseitzer/pytorch-fid); Szegedy et al., 2016, Rethinking the
  Inception Architecture (https://arxiv.org/abs/1512.00567).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from jaxgan import sharding, torch_weights
from jaxgan.arrays import check_finite
from jaxgan.metrics import frechet, prdc
from jaxgan.metrics.inception_score import inception_score
from jaxgan.metrics.kid import kernel_inception_distance, kid_subset_size

WEIGHTS_FILE = 'pt_inception-2015-12-05-6726825d.pth'
WEIGHTS_URL = ('https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/'
               + WEIGHTS_FILE)
FEATURE_DIM = 2048
NUM_CLASSES = 1008
IntPair = int | tuple[int, int]  # an int n means (n, n)
# The matmul precision of the metric networks (``jax.default_matmul_precision``): float32
# products on every backend, so that a metric does not depend on the accelerator.
PRECISION = 'highest'


class BasicConv2d(nn.Module):
  """Conv (no bias) + BatchNorm (eps 1e-3, running statistics) + ReLU."""
  features: int
  kernel: IntPair
  stride: int = 1
  padding: IntPair = 0

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = (self.kernel, self.kernel) if isinstance(self.kernel, int) else self.kernel
    ph, pw = (self.padding, self.padding) if isinstance(self.padding, int) else self.padding
    x = nn.Conv(self.features, (kh, kw), (self.stride, self.stride),
                padding=((ph, ph), (pw, pw)), use_bias=False, name='conv')(x)
    x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name='bn')(x)
    return nn.relu(x)


def _avg_pool(x: jax.Array) -> jax.Array:
  """3x3, stride 1, padding 1, padding not counted (TensorFlow's 'SAME' average)."""
  return nn.avg_pool(x, (3, 3), (1, 1), ((1, 1), (1, 1)), count_include_pad=False)


def _max_pool(x: jax.Array, stride: int = 2, padding: int = 0) -> jax.Array:
  return nn.max_pool(x, (3, 3), (stride, stride), ((padding, padding), (padding, padding)))


class InceptionA(nn.Module):
  pool_features: int

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(64, 1, name='branch1x1')(x)
    b5 = BasicConv2d(48, 1, name='branch5x5_1')(x)
    b5 = BasicConv2d(64, 5, padding=2, name='branch5x5_2')(b5)
    b3 = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(b3)
    b3 = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_3')(b3)
    bp = BasicConv2d(self.pool_features, 1, name='branch_pool')(_avg_pool(x))
    return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(384, 3, stride=2, name='branch3x3')(x)
    bd = BasicConv2d(64, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(96, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = BasicConv2d(96, 3, stride=2, name='branch3x3dbl_3')(bd)
    return jnp.concatenate([b3, bd, _max_pool(x)], axis=-1)


class InceptionC(nn.Module):
  channels_7x7: int

  @nn.compact
  def __call__(self, x):
    c7 = self.channels_7x7
    b1 = BasicConv2d(192, 1, name='branch1x1')(x)
    b7 = BasicConv2d(c7, 1, name='branch7x7_1')(x)
    b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7_3')(b7)
    bd = BasicConv2d(c7, 1, name='branch7x7dbl_1')(x)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_2')(bd)
    bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name='branch7x7dbl_3')(bd)
    bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name='branch7x7dbl_4')(bd)
    bd = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7dbl_5')(bd)
    bp = BasicConv2d(192, 1, name='branch_pool')(_avg_pool(x))
    return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):

  @nn.compact
  def __call__(self, x):
    b3 = BasicConv2d(192, 1, name='branch3x3_1')(x)
    b3 = BasicConv2d(320, 3, stride=2, name='branch3x3_2')(b3)
    b7 = BasicConv2d(192, 1, name='branch7x7x3_1')(x)
    b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name='branch7x7x3_2')(b7)
    b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name='branch7x7x3_3')(b7)
    b7 = BasicConv2d(192, 3, stride=2, name='branch7x7x3_4')(b7)
    return jnp.concatenate([b3, b7, _max_pool(x)], axis=-1)


class InceptionE(nn.Module):
  """``pool='avg'``: FIDInceptionE_1 (Mixed_7b); ``pool='max'``: FIDInceptionE_2."""
  pool: str

  @nn.compact
  def __call__(self, x):
    b1 = BasicConv2d(320, 1, name='branch1x1')(x)
    b3 = BasicConv2d(384, 1, name='branch3x3_1')(x)
    b3 = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3_2a')(b3),
        BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3_2b')(b3)], axis=-1)
    bd = BasicConv2d(448, 1, name='branch3x3dbl_1')(x)
    bd = BasicConv2d(384, 3, padding=1, name='branch3x3dbl_2')(bd)
    bd = jnp.concatenate([
        BasicConv2d(384, (1, 3), padding=(0, 1), name='branch3x3dbl_3a')(bd),
        BasicConv2d(384, (3, 1), padding=(1, 0), name='branch3x3dbl_3b')(bd)], axis=-1)
    pooled = _avg_pool(x) if self.pool == 'avg' else _max_pool(x, stride=1, padding=1)
    bp = BasicConv2d(192, 1, name='branch_pool')(pooled)
    return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
  """Maps images in [0, 1], NHWC with 3 channels, to (pool3 [N, 2048], logits [N, 1008])."""
  resize: bool = True

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    if self.resize:
      x = jax.image.resize(x, (x.shape[0], 299, 299, x.shape[3]), 'bilinear', antialias=False)
    x = 2 * x - 1
    x = BasicConv2d(32, 3, stride=2, name='Conv2d_1a_3x3')(x)
    x = BasicConv2d(32, 3, name='Conv2d_2a_3x3')(x)
    x = BasicConv2d(64, 3, padding=1, name='Conv2d_2b_3x3')(x)
    x = _max_pool(x)
    x = BasicConv2d(80, 1, name='Conv2d_3b_1x1')(x)
    x = BasicConv2d(192, 3, name='Conv2d_4a_3x3')(x)
    x = _max_pool(x)
    x = InceptionA(32, name='Mixed_5b')(x)
    x = InceptionA(64, name='Mixed_5c')(x)
    x = InceptionA(64, name='Mixed_5d')(x)
    x = InceptionB(name='Mixed_6a')(x)
    for name, c7 in (('Mixed_6b', 128), ('Mixed_6c', 160), ('Mixed_6d', 160), ('Mixed_6e', 192)):
      x = InceptionC(c7, name=name)(x)
    x = InceptionD(name='Mixed_7a')(x)
    x = InceptionE('avg', name='Mixed_7b')(x)
    x = InceptionE('max', name='Mixed_7c')(x)
    pool3 = jnp.mean(x, axis=(1, 2))
    return pool3, nn.Dense(NUM_CLASSES, name='fc')(pool3)


def variables_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
  """Flax variables ``{'params', 'batch_stats'}`` from pytorch-fid's state dict.

  Raises:
    ValueError: naming missing or unexpected keys, and tensors of the wrong shape.
  """
  target = jax.eval_shape(FIDInceptionV3().init, jax.random.key(0),
                          jnp.zeros((1, 75, 75, 3)))
  return torch_weights.variables_from_state_dict(state_dict, target, 'FID Inception')


@functools.lru_cache(maxsize=2)
def load(path: str | None = None) -> dict:
  """The FID Inception's Flax variables from ``path`` (``.pth`` or ``.npz``; default
  ``$JAXGAN_CACHE`` or ``~/.cache/jaxgan/`` + :data:`WEIGHTS_FILE`, or where that is
  missing the ``.npz`` of its name).

  Raises:
    FileNotFoundError: no file; the message says where to download it and where to put it.
    torch_weights.WeightsError: a file that cannot be read, or not the FID Inception's
      state dict (the message names the keys).
  """
  return variables_from_state_dict(torch_weights.load_state_dict(
      path, file_name=WEIGHTS_FILE, url=WEIGHTS_URL, needed_by='FID',
      how_to_pass='pass --inception_weights=PATH'))


@functools.partial(jax.jit, static_argnames='resize')
def _apply(variables: dict, x: jax.Array, resize: bool = True):
  with jax.default_matmul_precision(PRECISION):
    return FIDInceptionV3(resize=resize).apply(variables, x)


def to_unit_range(images: np.ndarray, quantize: bool = True) -> np.ndarray:
  """jaxgan images ([-1, 1], NHWC, 1 or 3 channels) to 3-channel [0, 1] Inception inputs.

  Logs a warning when every value of several images is >= 0: images in [0, 1], most
  likely, which would be read as lighter than they are.

  Raises:
    ValueError: on non-finite values, values outside [-1, 1], or a shape that is not
      [N, H, W, 1 or 3] with N >= 1.
  """
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3) or not len(images):
    raise ValueError(f'Inception inputs must be [N, H, W, 1 or 3] with N >= 1; got '
                     f'{images.shape}.')
  check_finite(images, 'Inception inputs')
  lo, hi = float(images.min()), float(images.max())
  if lo < -1.001 or hi > 1.001:
    raise ValueError(f'Images must lie in [-1, 1]; got [{lo:.3f}, {hi:.3f}].')
  if lo >= 0 and len(images) > 1:  # a whole set with no dark half: [0, 1] images, likely
    logging.warning('%d images with every value in [%.3f, %.3f]: jaxgan images lie in '
                    '[-1, 1] (black is -1). If these are [0, 1] images, pass 2 * x - 1; '
                    'as they are, they are read as twice as bright as they are.',
                    len(images), lo, hi)
  x = np.clip((images + 1) / 2, 0, 1)
  if quantize:
    x = np.round(x * 255) / 255
  return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def features_and_logits(variables: dict, images: np.ndarray, batch_size: int = 100,
                        quantize: bool = True) -> tuple[np.ndarray, np.ndarray]:
  """pool3 features [N, 2048] and logits [N, 1008] of jaxgan images in [-1, 1].

  The logits are ``pool3 @ fc.kernel`` without the bias, as in the original TensorFlow
  Inception Score code (and torch-fidelity's ``logits_unbiased``). Each batch is split over
  this process's devices, ``batch_size`` rounded up to a multiple of their number.
  """
  x = to_unit_range(images, quantize)
  mesh = sharding.local_mesh()  # each batch split over this process's devices
  batch_size = -(-min(batch_size, len(x)) // mesh.size) * mesh.size
  feats, logits = [], []
  kernel = np.asarray(variables['params']['fc']['kernel'], np.float32)
  for start in range(0, len(x), batch_size):
    chunk = x[start:start + batch_size]
    n = len(chunk)
    if n < batch_size:  # one compiled shape for every batch
      chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), chunk.dtype)])
    pool3, _ = _apply(variables, sharding.put_rows(chunk, mesh)[0])
    pool3 = np.asarray(pool3[:n])
    feats.append(pool3)
    logits.append(pool3 @ kernel)  # NumPy: float32 on the host, whatever the backend
  return np.concatenate(feats), np.concatenate(logits)


# The real images' pool features of the last fid_kid_is: the checkpoints of one run
# (launch.evaluate --all_steps) and a study's runs of one data set compare with the same
# real images, which then pass through the network once. One set is kept (10,000 x 2048
# float32: 80 MB), with the variables it was made with (held, so compared by identity).
_last_real: dict = {}


def _real_features(variables: dict, real: np.ndarray, batch_size: int) -> np.ndarray:
  """``features_and_logits(variables, real)[0]``, reused while the variables and the
  images (their bytes) stay those of the last call."""
  real = np.ascontiguousarray(real)
  key = (real.shape, real.dtype.str, hashlib.sha256(real.data).hexdigest(), batch_size)
  if _last_real.get('variables') is not variables or _last_real.get('key') != key:
    _last_real.clear()
    features = np.asarray(features_and_logits(variables, real, batch_size)[0])
    features.setflags(write=False)  # shared by the calls that reuse it
    _last_real.update(variables=variables, key=key, features=features)
  return _last_real['features']


def fid_kid_is(variables: dict, real: np.ndarray, fake: np.ndarray,
               batch_size: int = 100) -> dict:
  """FID, KID (mean, std over subsets), IS (mean, std over splits) and precision, recall,
  density and coverage (:func:`jaxgan.metrics.prdc.precision_recall_density_coverage`, on
  the same pool features as FID) of ``fake``. The real images' features are computed once
  for a run of calls with the same variables and real images."""
  f_real = _real_features(variables, real, batch_size)
  f_fake, logits = features_and_logits(variables, fake, batch_size)
  kid_mean, kid_std = kernel_inception_distance(f_real, f_fake)
  is_mean, is_std = inception_score(logits)
  return {'fid': frechet.frechet_distance_from_features(f_real, f_fake),
          'kid': kid_mean, 'kid_std': kid_std,
          'kid_subset_size': kid_subset_size(len(f_real), len(f_fake)),
          'is': is_mean, 'is_std': is_std,
          **prdc.precision_recall_density_coverage(f_real, f_fake),
          'prdc_nearest_k': prdc.NEAREST_K,
          'num_real': len(real), 'num_fake': len(fake)}

