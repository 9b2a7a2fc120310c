"""Fully connected GAN models: the classic MNIST MLP GAN and the 2-D toy pair."""

from __future__ import annotations

from collections.abc import Sequence

import chex
import flax.linen as nn
import jax.numpy as jnp
import numpy as np


class MLPGenerator(nn.Module):
  """z -> [Dense, ReLU] * len(features) -> (BatchNorm) -> Dense -> output activation.

  With ``features=(128, 128)``, ``batch_norm=True``, ``output_shape=(28, 28, 1)`` and
  ``output_activation='tanh'`` this is the classic MNIST MLP generator.

  Attributes:
    features: widths of the hidden layers.
    output_shape: shape of one sample, e.g. ``(2,)`` or ``(28, 28, 1)``.
    batch_norm: a BatchNorm after the last hidden layer.
    output_activation: ``'tanh'`` (images in [-1, 1]) or ``'linear'`` (2-D data).
  """
  features: Sequence[int] = (128, 128)
  output_shape: Sequence[int] = (28, 28, 1)
  batch_norm: bool = True
  output_activation: str = 'tanh'

  @nn.compact
  def __call__(self, z: chex.Array, train: bool = True) -> chex.Array:
    """Maps noise ``z[batch, z_dim]`` to samples ``[batch, *output_shape]``."""
    x = z
    for width in self.features:
      x = nn.relu(nn.Dense(width)(x))
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
    x = nn.Dense(int(np.prod(self.output_shape)))(x)
    if self.output_activation == 'tanh':
      x = jnp.tanh(x)
    elif self.output_activation != 'linear':
      raise ValueError(f"output_activation must be 'tanh' or 'linear'; got "
                       f'{self.output_activation!r}.')
    return x.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """x -> flatten -> [Dense, activation] * len(features) -> (Dropout) -> Dense 1.

  With ``features=(256, 256)`` and ``dropout=0.2`` this is the classic MNIST MLP
  discriminator. It has no batch statistics, so gradient penalties apply as they are.

  Attributes:
    features: widths of the hidden layers.
    dropout: dropout rate before the output layer (0 for none).
    activation: ``'relu'`` or ``'leaky_relu'`` (slope 0.2).
  """
  features: Sequence[int] = (256, 256)
  dropout: float = 0.2
  activation: str = 'relu'

  @nn.compact
  def __call__(self, x: chex.Array, train: bool = True) -> chex.Array:
    """Maps samples ``x[batch, ...]`` to logits ``[batch]``."""
    act = {'relu': nn.relu, 'leaky_relu': lambda t: nn.leaky_relu(t, 0.2)}[self.activation]
    h = x.reshape((x.shape[0], -1))
    for width in self.features:
      h = act(nn.Dense(width)(h))
    if self.dropout:
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return nn.Dense(1)(h)[:, 0]
