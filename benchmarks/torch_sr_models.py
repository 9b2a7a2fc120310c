"""The super-resolution models of ``jaxgan.models.sr`` in PyTorch, for speed comparisons.
Import only where torch is installed.

Same architectures, hyper-parameters, layer order, padding and initializers as the Flax
``SRResNet`` (Ledig et al. 2017, with BatchNorm), ``RRDBNet`` (Wang et al. 2018, ESRGAN) and
``SRGANDiscriminator`` (Ledig et al. 2017, Fig. 4); submodules carry the Flax modules' names
(``conv_first``, ``block_0.conv1``, ``rrdb_0.rdb1.conv5``, ``bn_1``, ...) so that weights map
one to one. Tensors are NCHW, as PyTorch convolutions expect: the discriminator flattens
``[C, H, W]`` where the Flax model flattens ``[H, W, C]``, so a ported ``dense_hidden``
weight needs its input axis permuted.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _kaiming(module: nn.Module, scale: float) -> nn.Module:
  """``kaiming_normal_(w, a=0, mode='fan_in') * scale``, zero bias (BasicSR's
  ``default_init_weights``)."""
  nn.init.kaiming_normal_(module.weight, a=0, mode='fan_in')
  with torch.no_grad():
    module.weight.mul_(scale)
  if module.bias is not None:
    nn.init.zeros_(module.bias)
  return module


def _conv(cin: int, cout: int, k: int, scale: float | None, bias: bool = True,
          stride: int = 1) -> nn.Conv2d:
  """A ``k x k`` conv padded by ``k // 2``; Kaiming x ``scale`` init, or PyTorch's default
  weight init with zero bias when ``scale`` is None (the Flax discriminator's)."""
  conv = nn.Conv2d(cin, cout, k, stride, k // 2, bias=bias)
  if scale is not None:
    return _kaiming(conv, scale)
  if bias:
    nn.init.zeros_(conv.bias)
  return conv


def _bn(c: int) -> nn.BatchNorm2d:
  return nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)   # Flax momentum 0.9


class ResidualBlock(nn.Module):

  def __init__(self, f: int):
    super().__init__()
    self.conv1, self.bn1 = _conv(f, f, 3, 1.0, bias=False), _bn(f)
    self.prelu = nn.PReLU(1, 0.25)
    self.conv2, self.bn2 = _conv(f, f, 3, 1.0, bias=False), _bn(f)

  def forward(self, x):
    return x + self.bn2(self.conv2(self.prelu(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
  """SRGAN's generator with BatchNorm; Kaiming normal init, PReLU slopes 0.25."""

  def __init__(self, num_blocks: int = 16, features: int = 64, scale: int = 4,
               channels: int = 3):
    super().__init__()
    f = features
    self.num_blocks, self.stages = num_blocks, int(math.log2(scale))
    self.conv_first, self.prelu_first = _conv(channels, f, 9, 1.0), nn.PReLU(1, 0.25)
    for i in range(num_blocks):
      setattr(self, f'block_{i}', ResidualBlock(f))
    self.conv_body, self.bn_body = _conv(f, f, 3, 1.0, bias=False), _bn(f)
    for i in range(self.stages):
      setattr(self, f'conv_up_{i}', _conv(f, 4 * f, 3, 1.0))
      setattr(self, f'prelu_up_{i}', nn.PReLU(1, 0.25))
    self.conv_last = _conv(f, channels, 9, 1.0)

  def forward(self, lr):
    f = h = self.prelu_first(self.conv_first(lr))
    for i in range(self.num_blocks):
      h = getattr(self, f'block_{i}')(h)
    h = f + self.bn_body(self.conv_body(h))
    for i in range(self.stages):
      h = getattr(self, f'prelu_up_{i}')(F.pixel_shuffle(getattr(self, f'conv_up_{i}')(h), 2))
    return self.conv_last(h)


class ResidualDenseBlock(nn.Module):

  def __init__(self, f: int, g: int, scale: float = 0.2):
    super().__init__()
    self.scale = scale
    for k in range(1, 5):
      setattr(self, f'conv{k}', _conv(f + (k - 1) * g, g, 3, 0.1))
    self.conv5 = _conv(f + 4 * g, f, 3, 0.1)

  def forward(self, x):
    feats = [x]
    for k in range(1, 5):
      feats.append(F.leaky_relu(getattr(self, f'conv{k}')(torch.cat(feats, 1)), 0.2))
    return self.scale * self.conv5(torch.cat(feats, 1)) + x


class RRDB(nn.Module):

  def __init__(self, f: int, g: int, scale: float = 0.2):
    super().__init__()
    self.scale = scale
    self.rdb1, self.rdb2, self.rdb3 = (ResidualDenseBlock(f, g, scale) for _ in range(3))

  def forward(self, x):
    return self.scale * self.rdb3(self.rdb2(self.rdb1(x))) + x


class RRDBNet(nn.Module):
  """ESRGAN's generator; every conv Kaiming normal x 0.1, zero biases."""

  def __init__(self, num_blocks: int = 23, features: int = 64, growth: int = 32,
               scale: int = 4, channels: int = 3):
    super().__init__()
    f = features
    self.num_blocks, self.stages = num_blocks, int(math.log2(scale))
    self.conv_first = _conv(channels, f, 3, 0.1)
    for i in range(num_blocks):
      setattr(self, f'rrdb_{i}', RRDB(f, growth))
    self.conv_body = _conv(f, f, 3, 0.1)
    for i in range(self.stages):
      setattr(self, f'conv_up_{i}', _conv(f, f, 3, 0.1))
    self.conv_hr = _conv(f, f, 3, 0.1)
    self.conv_last = _conv(f, channels, 3, 0.1)

  def forward(self, lr):
    f = h = self.conv_first(lr)
    for i in range(self.num_blocks):
      h = getattr(self, f'rrdb_{i}')(h)
    h = f + self.conv_body(h)
    for i in range(self.stages):
      up = F.interpolate(h, scale_factor=2, mode='nearest')
      h = F.leaky_relu(getattr(self, f'conv_up_{i}')(up), 0.2)
    return self.conv_last(F.leaky_relu(self.conv_hr(h), 0.2))


class SRGANDiscriminator(nn.Module):
  """SRGAN's discriminator (Fig. 4), BatchNorm or none; logits ``[B]``."""

  def __init__(self, image_size: int = 96, width: int = 64, hidden: int = 1024,
               norm: str = 'batch', channels: int = 3):
    super().__init__()
    if norm not in ('batch', 'none'):
      raise ValueError(f"norm must be 'batch' or 'none'; got {norm!r}.")
    w, self.bn = width, norm == 'batch'
    self.plan = [(w, w, 2), (w, 2 * w, 1), (2 * w, 2 * w, 2), (2 * w, 4 * w, 1),
                 (4 * w, 4 * w, 2), (4 * w, 8 * w, 1), (8 * w, 8 * w, 2)]
    self.conv_0 = _conv(channels, w, 3, None)
    for i, (cin, cout, stride) in enumerate(self.plan, start=1):
      setattr(self, f'conv_{i}', _conv(cin, cout, 3, None, bias=not self.bn, stride=stride))
      if self.bn:
        setattr(self, f'bn_{i}', _bn(cout))
    side = image_size
    for _ in range(4):
      side = -(-side // 2)   # ceil: four stride-2 convolutions padded by 1
    self.dense_hidden = nn.Linear(8 * w * side * side, hidden)
    self.dense_out = nn.Linear(hidden, 1)
    for lin in (self.dense_hidden, self.dense_out):
      nn.init.zeros_(lin.bias)

  def forward(self, x):
    h = F.leaky_relu(self.conv_0(x), 0.2)
    for i in range(1, len(self.plan) + 1):
      h = getattr(self, f'conv_{i}')(h)
      h = getattr(self, f'bn_{i}')(h) if self.bn else h
      h = F.leaky_relu(h, 0.2)
    h = F.leaky_relu(self.dense_hidden(h.flatten(1)), 0.2)
    return self.dense_out(h)[:, 0]
