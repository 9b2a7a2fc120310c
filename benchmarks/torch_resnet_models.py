"""The SNGAN and SAGAN 32 px models of ``jaxgan.models.resnet`` in PyTorch, for speed
comparisons. Import only where torch is installed.

Same architecture, widths, initializers and layer order as the Flax models (Mimicry's
``sngan_32.py``/``sagan_32.py`` with the chainer code's nearest upsampling); spectral norm
is ``torch.nn.utils.spectral_norm`` (one power iteration per training forward pass).
Tensors are NCHW, as PyTorch convolutions expect.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _sn(module: nn.Module, enabled: bool) -> nn.Module:
  return nn.utils.spectral_norm(module) if enabled else module


def _conv(cin: int, cout: int, k: int, gain: float, sn: bool, bias: bool = True) -> nn.Module:
  conv = nn.Conv2d(cin, cout, k, 1, k // 2, bias=bias)
  nn.init.xavier_uniform_(conv.weight, gain)
  if bias:
    nn.init.zeros_(conv.bias)
  return _sn(conv, sn)


def _linear(cin: int, cout: int, sn: bool) -> nn.Module:
  lin = nn.Linear(cin, cout)
  nn.init.xavier_uniform_(lin.weight, 1.0)
  nn.init.zeros_(lin.bias)
  return _sn(lin, sn)


class ConditionalBatchNorm2d(nn.Module):
  """BN without affine, then per-class scale (init N(1, 0.02)) and shift (init 0)."""

  def __init__(self, channels: int, num_classes: int):
    super().__init__()
    self.bn = nn.BatchNorm2d(channels, affine=False)
    self.scale = nn.Embedding(num_classes, channels)
    self.bias = nn.Embedding(num_classes, channels)
    nn.init.normal_(self.scale.weight, 1.0, 0.02)
    nn.init.zeros_(self.bias.weight)

  def forward(self, x, y):
    return self.scale(y)[:, :, None, None] * self.bn(x) + self.bias(y)[:, :, None, None]


class SelfAttention(nn.Module):
  """SAGAN attention with 2x2 max-pooled keys/values (BigGAN-PyTorch / Mimicry)."""

  def __init__(self, c: int, sn: bool):
    super().__init__()
    self.f = _sn(nn.Conv2d(c, c // 8, 1, bias=False), sn)
    self.g = _sn(nn.Conv2d(c, c // 8, 1, bias=False), sn)
    self.h = _sn(nn.Conv2d(c, c // 2, 1, bias=False), sn)
    self.v = _sn(nn.Conv2d(c // 2, c, 1, bias=False), sn)
    self.gamma = nn.Parameter(torch.tensor(0.0))

  def forward(self, x):
    n, c, hgt, wid = x.shape
    q = self.f(x).flatten(2)                               # [N, C/8, HW]
    k = F.max_pool2d(self.g(x), 2).flatten(2)              # [N, C/8, HW/4]
    val = F.max_pool2d(self.h(x), 2).flatten(2)            # [N, C/2, HW/4]
    beta = torch.softmax(torch.bmm(q.transpose(1, 2), k), -1)  # [N, HW, HW/4]
    o = torch.bmm(val, beta.transpose(1, 2)).view(n, c // 2, hgt, wid)
    return x + self.gamma * self.v(o)


class GBlock(nn.Module):

  def __init__(self, c: int, num_classes: int, sn: bool):
    super().__init__()
    self.num_classes = num_classes
    norm = (lambda: ConditionalBatchNorm2d(c, num_classes)) if num_classes else (
        lambda: nn.BatchNorm2d(c))
    self.b1, self.b2 = norm(), norm()
    self.c1 = _conv(c, c, 3, math.sqrt(2.0), sn)
    self.c2 = _conv(c, c, 3, math.sqrt(2.0), sn)
    self.c_sc = _conv(c, c, 1, 1.0, sn)

  def _bn(self, bn, x, y):
    return bn(x, y) if self.num_classes else bn(x)

  def forward(self, x, y=None):
    up = F.interpolate(x, scale_factor=2, mode='nearest')
    h = F.relu(self._bn(self.b1, x, y))
    h = self.c1(F.interpolate(h, scale_factor=2, mode='nearest'))
    h = self.c2(F.relu(self._bn(self.b2, h, y)))
    return h + self.c_sc(up)


class DBlock(nn.Module):

  def __init__(self, cin: int, cout: int, downsample: bool, optimized: bool, sn: bool):
    super().__init__()
    self.downsample, self.optimized = downsample or optimized, optimized
    self.c1 = _conv(cin, cout if optimized else cin, 3, math.sqrt(2.0), sn)
    self.c2 = _conv(cout if optimized else cin, cout, 3, math.sqrt(2.0), sn)
    self.learnable_sc = optimized or downsample or cin != cout
    if self.learnable_sc:
      self.c_sc = _conv(cin, cout, 1, 1.0, sn)

  def forward(self, x):
    h = self.c2(F.relu(self.c1(x if self.optimized else F.relu(x))))
    if self.optimized:
      return F.avg_pool2d(h, 2) + self.c_sc(F.avg_pool2d(x, 2))
    sc = self.c_sc(x) if self.learnable_sc else x
    if self.downsample:
      h, sc = F.avg_pool2d(h, 2), F.avg_pool2d(sc, 2)
    return h + sc


class ResNetGenerator(nn.Module):
  """z -> Linear 4x4xngf -> 3 up-GBlocks (attention after the one at ``attention_at``)
  -> BN, ReLU, conv 3x3 -> 3, tanh."""

  def __init__(self, nz: int = 128, ngf: int = 256, num_classes: int = 0,
               attention_at: int | None = None, spectral_norm: bool = False):
    super().__init__()
    self.ngf, self.num_classes, self.attention_at = ngf, num_classes, attention_at
    self.l1 = _linear(nz, 16 * ngf, spectral_norm)
    self.blocks = nn.ModuleList(GBlock(ngf, num_classes, spectral_norm) for _ in range(3))
    self.attention = SelfAttention(ngf, spectral_norm) if attention_at else None
    self.b5 = nn.BatchNorm2d(ngf)
    self.c5 = _conv(ngf, 3, 3, 1.0, spectral_norm)

  def forward(self, z, y=None):
    h = self.l1(z).view(z.shape[0], 4, 4, self.ngf).permute(0, 3, 1, 2)  # NHWC order, as JAX
    for block in self.blocks:
      h = block(h, y)
      if self.attention is not None and h.shape[-1] == self.attention_at:
        h = self.attention(h)
    return torch.tanh(self.c5(F.relu(self.b5(h))))


class ResNetDiscriminator(nn.Module):
  """Optimized DBlock (down) -> DBlock (down) -> DBlock -> DBlock -> ReLU -> sum pooling
  -> Linear 1 (+ projection of the label embedding)."""

  def __init__(self, ndf: int = 128, num_classes: int = 0, attention_at: int | None = None,
               spectral_norm: bool = True):
    super().__init__()
    self.num_classes, self.attention_at = num_classes, attention_at
    self.blocks = nn.ModuleList([DBlock(3, ndf, True, True, spectral_norm),
                                 DBlock(ndf, ndf, True, False, spectral_norm),
                                 DBlock(ndf, ndf, False, False, spectral_norm),
                                 DBlock(ndf, ndf, False, False, spectral_norm)])
    self.attention = SelfAttention(ndf, spectral_norm) if attention_at else None
    self.psi = _linear(ndf, 1, spectral_norm)
    if num_classes:
      embed = nn.Embedding(num_classes, ndf)
      nn.init.xavier_uniform_(embed.weight, 1.0)
      self.embed = _sn(embed, spectral_norm)

  def forward(self, x, y=None):
    h, attended = x, False
    for block in self.blocks:
      h = block(h)
      if self.attention is not None and not attended and h.shape[-1] == self.attention_at:
        h, attended = self.attention(h), True
    phi = F.relu(h).sum(dim=(2, 3))
    out = self.psi(phi)[:, 0]
    if self.num_classes:
      out = out + (self.embed(y) * phi).sum(1)
    return out


def build(name: str, num_classes: int = 0) -> tuple[nn.Module, nn.Module]:
  """``(G, D)`` of ``'sngan'`` or ``'sagan'`` (attention at 16 px in G, 8 px in D, and
  spectral norm in G too), as ``jaxgan.models.resnet`` builds them."""
  if name == 'sngan':
    return ResNetGenerator(num_classes=num_classes), ResNetDiscriminator(num_classes=num_classes)
  if name == 'sagan':
    return (ResNetGenerator(num_classes=num_classes, attention_at=16, spectral_norm=True),
            ResNetDiscriminator(num_classes=num_classes, attention_at=8))
  raise ValueError(f"Unknown model {name!r}; valid names are: 'sngan', 'sagan'.")
