"""Fully connected GAN models: the classic MNIST MLP GAN and the 2-D toy pair."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import chex
import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxgan.models import initializers, mixed


class MLPGenerator(nn.Module):
  """z -> [Dense, ReLU] * len(features) -> (BatchNorm) -> Dense -> output activation.

  With ``features=(128, 128)``, ``batch_norm=True``, ``output_shape=(28, 28, 1)`` and
  ``output_activation='tanh'`` this is the classic MNIST MLP generator. Its source is a
  Keras model, so the weights default to Keras' ``glorot_uniform`` and the biases to zero.

  Attributes:
    features: widths of the hidden layers.
    output_shape: shape of one sample, e.g. ``(2,)`` or ``(28, 28, 1)``.
    batch_norm: a BatchNorm after the last hidden layer.
    output_activation: ``'tanh'`` (images in [-1, 1]) or ``'linear'`` (2-D data).
    kernel_init: initializer of the Dense weights (a name of
      :mod:`jaxgan.models.initializers` or a callable).
    dtype: the computation dtype (parameters stay float32).
  """
  features: Sequence[int] = (128, 128)
  output_shape: Sequence[int] = (28, 28, 1)
  batch_norm: bool = True
  output_activation: str = 'tanh'
  kernel_init: Any = 'glorot_uniform'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, z: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps noise ``z[batch, z_dim]`` to samples ``[batch, *output_shape]``."""
    _unconditional(self, y)
    _check_input(self, 'noise z', z, '[B, z_dim]', lambda n: n == 2)
    init = initializers.resolve(self.kernel_init)
    x = z
    for width in self.features:
      x = nn.relu(mixed.Dense(width, kernel_init=init, dtype=self.dtype)(x))
    if self.batch_norm:
      x = nn.BatchNorm(use_running_average=not train, momentum=0.9, dtype=self.dtype)(x)
    x = mixed.Dense(int(np.prod(self.output_shape)), kernel_init=init, dtype=self.dtype)(x)
    if self.output_activation == 'tanh':
      x = jnp.tanh(x)
    elif self.output_activation != 'linear':
      raise ValueError(f"output_activation must be 'tanh' or 'linear'; got "
                       f'{self.output_activation!r}.')
    return x.reshape((z.shape[0], *self.output_shape))


class MLPDiscriminator(nn.Module):
  """x -> flatten -> [Dense, activation] * len(features) -> (Dropout) -> Dense 1.

  With ``features=(256, 256)`` and ``dropout=0.2`` this is the classic MNIST MLP
  discriminator (Keras source: ``glorot_uniform`` weights, zero biases). It has no batch
  statistics, so gradient penalties apply as they are.

  Attributes:
    features: widths of the hidden layers.
    dropout: dropout rate before the output layer (0 for none).
    activation: ``'relu'`` or ``'leaky_relu'`` (slope 0.2).
    kernel_init: initializer of the Dense weights.
    dtype: the computation dtype (parameters stay float32; logits are float32).
  """
  features: Sequence[int] = (256, 256)
  dropout: float = 0.2
  activation: str = 'relu'
  kernel_init: Any = 'glorot_uniform'
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: chex.Array, y: chex.Array | None = None,
               train: bool = True) -> chex.Array:
    """Maps samples ``x[batch, ...]`` to logits ``[batch]``."""
    _unconditional(self, y)
    _check_input(self, 'samples x', x, '[B, ...] (at least 2 axes)', lambda n: n >= 2)
    acts = {'relu': nn.relu, 'leaky_relu': lambda t: nn.leaky_relu(t, 0.2)}
    if self.activation not in acts:
      raise ValueError(f"activation must be one of {', '.join(acts)}; got {self.activation!r}.")
    init = initializers.resolve(self.kernel_init)
    h = x.reshape((x.shape[0], -1))
    for width in self.features:
      h = acts[self.activation](mixed.Dense(width, kernel_init=init, dtype=self.dtype)(h))
    if not 0 <= self.dropout < 1:  # 1.5 zeroed the critic's output: it trained nothing
      raise ValueError(f'dropout must be a rate in [0, 1); got {self.dropout!r}.')
    if self.dropout:
      h = nn.Dropout(self.dropout, deterministic=not train)(h)
    return mixed.Dense(1, kernel_init=init, dtype=self.dtype)(h)[:, 0].astype(jnp.float32)


def _unconditional(module: nn.Module, y: chex.Array | None) -> None:
  if y is not None:
    raise ValueError(f'{type(module).__name__} is unconditional; it got labels/codes y. '
                     'Use a conditional model (cgan, acgan, infogan) for labels.')


def _check_input(module: nn.Module, what: str, a: chex.Array, form: str,
                 ok: Callable[[int], bool]) -> None:
  """Raises ``ValueError`` naming ``form`` and the given shape unless ``ok(a.ndim)``."""
  if not ok(getattr(a, 'ndim', -1)):
    raise ValueError(f'{type(module).__name__} needs {what} of shape {form}; got shape '
                     f'{getattr(a, "shape", None)}.')
