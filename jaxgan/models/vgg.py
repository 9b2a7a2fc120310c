"""torchvision's VGG19 feature extractor in Flax, for the perceptual losses of SRGAN/ESRGAN.

The network is ``torchvision.models.vgg19().features`` (Simonyan & Zisserman 2015,
configuration E): five blocks of 2, 2, 4, 4, 4 convolutions 3x3 (stride 1, padding 1) with
64, 128, 256, 512, 512 channels, each followed by a ReLU, and a 2x2 max pool (stride 2)
between blocks. Layers are chosen by name: ``convB_I`` is the I-th convolution of block B
before its activation, ``reluB_I`` the same after it. SRGAN's perceptual loss compares
``relu5_4`` features ("VGG54", Ledig et al. 2017); ESRGAN's compares ``conv5_4``, before
the activation (Wang et al. 2018). The module computes only up to the deepest layer asked.

Inputs are jaxgan images in [-1, 1]; they are mapped to [0, 1] and normalized with the
ImageNet mean and standard deviation the torchvision weights were trained with, as BasicSR's
``VGGFeatureExtractor(use_input_norm=True, range_norm=True)``::

    x01 = (x + 1) / 2;   x_in = (x01 - mean) / std
    mean = (0.485, 0.456, 0.406), std = (0.229, 0.224, 0.225)  (RGB)

The ImageNet weights, torchvision's state dict, load key for key (``features.N.weight`` /
``.bias``; the ``classifier.*`` keys of the full file are accepted and not used):

  https://download.pytorch.org/models/vgg19-dcbb9e9d.pth

References:
  Simonyan & Zisserman, 2015, Very Deep Convolutional Networks for Large-Scale Image
  Recognition (https://arxiv.org/abs/1409.1556); Ledig et al., 2017, Photo-Realistic
  Single Image Super-Resolution Using a GAN (https://arxiv.org/abs/1609.04802); Wang et al.,
  2018, ESRGAN (https://arxiv.org/abs/1809.00219); BasicSR's VGGFeatureExtractor
  (https://github.com/XPixelGroup/BasicSR/blob/master/basicsr/archs/vgg_arch.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import torch_weights

WEIGHTS_FILE = 'vgg19-dcbb9e9d.pth'
WEIGHTS_URL = 'https://download.pytorch.org/models/' + WEIGHTS_FILE
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CONVS_PER_BLOCK = (2, 2, 4, 4, 4)
_CHANNELS = (64, 128, 256, 512, 512)


def _conv_names() -> list[str]:
  return [f'conv{b}_{i}' for b, n in enumerate(_CONVS_PER_BLOCK, 1) for i in range(1, n + 1)]


# Every selectable layer, in network order: conv1_1, relu1_1, conv1_2, ..., relu5_4.
LAYERS: tuple[str, ...] = tuple(n for c in _conv_names() for n in (c, 'relu' + c[4:]))


def _torch_modules() -> dict[str, str]:
  """Flax conv name -> torchvision module path, e.g. ``conv2_1`` -> ``features.5``."""
  names, index = {}, 0
  for b, n in enumerate(_CONVS_PER_BLOCK, 1):
    for i in range(1, n + 1):
      names[f'conv{b}_{i}'] = f'features.{index}'
      index += 2  # Conv2d, ReLU
    index += 1  # MaxPool2d
  return names


TORCH_MODULES: dict[str, str] = _torch_modules()


def check_layers(layers: Sequence[str]) -> tuple[str, ...]:
  """``layers`` as a tuple; ``ValueError`` listing the valid names if one is unknown."""
  layers = (layers,) if isinstance(layers, str) else tuple(layers)
  unknown = [n for n in layers if n not in LAYERS]
  if unknown or not layers:
    raise ValueError(f'Unknown VGG19 layer(s) {unknown or "(none given)"}; valid names are: '
                     f'{", ".join(LAYERS)}.')
  return layers


def block_of(layer: str) -> int:
  """The block (1-5) of a layer of :data:`LAYERS`: 5 for ``'conv5_4'`` and ``'relu5_4'``."""
  return int(check_layers(layer)[0][4])


def min_side(layers: Sequence[str]) -> int:
  """The smallest image side whose features at the deepest of ``layers`` are not empty:
  ``2**(B-1)`` in block ``B`` (its input has passed ``B - 1`` max pools, which floor)."""
  return 2 ** (block_of(max(check_layers(layers), key=LAYERS.index)) - 1)


class VGG19Features(nn.Module):
  """Features of torchvision's VGG19 at named layers, from jaxgan images in [-1, 1].

  Attributes:
    layers: names from :data:`LAYERS` (``'conv5_4'``: before the ReLU, ``'relu5_4'``:
      after); the network stops at the deepest one.
    dtype: the computation dtype (parameters stay float32).
    kernel_init: torchvision's VGG initialization, ``kaiming_normal_(mode='fan_out',
      nonlinearity='relu')``: ``N(0, 2 / (out_channels * 9))``. Only used by ``init``;
      the perceptual losses load the ImageNet weights (:func:`load`).
    bias_init: torchvision's: zeros.
  """
  layers: Sequence[str] = ('relu5_4',)
  dtype: Any = jnp.float32
  kernel_init: Callable = nn.initializers.variance_scaling(2.0, 'fan_out', 'normal')
  bias_init: Callable = nn.initializers.zeros

  @nn.compact
  def __call__(self, x: chex.Array) -> dict[str, jax.Array]:
    """Maps images ``[N, H, W, 3]`` in [-1, 1] to ``{layer: features [N, h, w, C]}``.

    Features are in ``dtype``; block ``B`` has ``h = H // 2**(B-1)`` (max pools floor).
    """
    layers = check_layers(self.layers)
    if x.ndim != 4 or x.shape[-1] != 3:
      raise ValueError(f'VGG19Features takes RGB images [N, H, W, 3]; got shape {x.shape}.')
    deepest = max(layers, key=LAYERS.index)
    need = min_side(layers)
    if min(x.shape[1:3]) < need:  # else empty features: a perceptual loss of NaN
      raise ValueError(f'VGG19Features at {deepest} needs images of at least {need}x{need} '
                       f'pixels (block {block_of(deepest)} follows {block_of(deepest) - 1} max '
                       f'pools of 2); got shape {x.shape}.')
    mean = jnp.asarray(IMAGENET_MEAN, jnp.float32)
    std = jnp.asarray(IMAGENET_STD, jnp.float32)
    x = (((x.astype(jnp.float32) + 1) / 2 - mean) / std).astype(self.dtype)
    out = {}

    def keep(name: str, h: jax.Array) -> bool:  # True once the deepest layer is reached
      if name in layers:
        out[name] = h
      return name == deepest

    for block, (num_convs, channels) in enumerate(zip(_CONVS_PER_BLOCK, _CHANNELS, strict=True), 1):
      if block > 1:
        x = nn.max_pool(x, (2, 2), strides=(2, 2))
      for i in range(1, num_convs + 1):
        x = nn.Conv(channels, (3, 3), padding=((1, 1), (1, 1)), dtype=self.dtype,
                    kernel_init=self.kernel_init, bias_init=self.bias_init,
                    name=f'conv{block}_{i}')(x)
        if keep(f'conv{block}_{i}', x):
          return out
        x = nn.relu(x)
        if keep(f'relu{block}_{i}', x):
          return out
    raise AssertionError('unreachable: every layer name is in the network')


def variables_from_state_dict(state_dict: Mapping[str, np.ndarray]) -> dict:
  """Flax variables ``{'params'}`` of :class:`VGG19Features` from torchvision's state dict.

  ``classifier.*`` keys may be present and are not used.

  Raises:
    ValueError: naming missing ``features.*`` keys, unexpected keys and keys of the wrong
      shape.
  """
  target = jax.eval_shape(VGG19Features(layers=('conv5_4',)).init, jax.random.key(0),
                          jnp.zeros((1, 16, 16, 3)))
  return torch_weights.variables_from_state_dict(
      state_dict, target, 'torchvision VGG19', module_names=TORCH_MODULES,
      ignore=lambda key: key.startswith('classifier.'))


@functools.lru_cache(maxsize=2)
def load(path: str | None = None) -> dict:
  """:class:`VGG19Features`' variables from torchvision's ImageNet weights.

  Args:
    path: ``vgg19-dcbb9e9d.pth`` (needs PyTorch) or an ``.npz`` of the same keys; default
      ``$JAXGAN_CACHE`` or ``~/.cache/jaxgan/`` + :data:`WEIGHTS_FILE`, or where that is
      missing ``vgg19-dcbb9e9d.npz`` beside it.

  Raises:
    FileNotFoundError: no file; the message names it, its URL, where to put it and the
      config field ``content.vgg_weights``.
  """
  return variables_from_state_dict(torch_weights.load_state_dict(
      path, file_name=WEIGHTS_FILE, url=WEIGHTS_URL, needed_by='The VGG perceptual loss',
      how_to_pass='set the config field content.vgg_weights to its path'))
