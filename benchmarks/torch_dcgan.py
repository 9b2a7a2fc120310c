"""jaxgan's DCGAN generator and discriminator in PyTorch (NCHW), for the speed comparison
of benchmarks/conv_step.py: the same layers, widths and parameter counts as
``jaxgan.models.dcgan`` (``ConvTranspose2d(4, 2, 1)`` and ``Conv2d(4, 2, 1)`` give the same
output sizes as Flax's 'SAME' padding, shifted by a pixel, at the same cost)."""

from __future__ import annotations

import torch
from torch import nn

from jaxgan.models.dcgan import _start_size, generator_channels


class Generator(nn.Module):
  """z -> Linear -> BN -> ReLU -> [ConvT 4x4/2, BN, ReLU]* -> Conv 3x3 -> tanh."""

  def __init__(self, z_dim: int, image_size: int, channels: int, width: int):
    super().__init__()
    start, _ = _start_size(image_size)
    ch, outs = generator_channels(image_size, width)
    self.start, self.ch = start, ch
    self.fc = nn.Sequential(nn.Linear(z_dim, start * start * ch), nn.BatchNorm1d(start * start * ch,
                                                                                  momentum=0.1),
                            nn.ReLU())
    layers = []
    for out in outs:
      layers += [nn.ConvTranspose2d(ch, out, 4, 2, 1), nn.BatchNorm2d(out), nn.ReLU()]
      ch = out
    layers += [nn.Conv2d(ch, channels, 3, 1, 1), nn.Tanh()]
    self.net = nn.Sequential(*layers)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    return self.net(self.fc(z).view(z.shape[0], self.ch, self.start, self.start))


class Discriminator(nn.Module):
  """[Conv 4x4/2, LeakyReLU 0.2]* -> Linear 1 (jaxgan's DCGAN critic with norm='none')."""

  def __init__(self, image_size: int, channels: int, width: int, num_layers: int):
    super().__init__()
    layers, ch = [], channels
    for i in range(num_layers):
      layers += [nn.Conv2d(ch, width * 2 ** i, 4, 2, 1), nn.LeakyReLU(0.2)]
      ch = width * 2 ** i
    self.net = nn.Sequential(*layers, nn.Flatten())
    side = image_size // 2 ** num_layers
    self.fc = nn.Linear(ch * side * side, 1)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    return self.fc(self.net(x))[:, 0]
