"""Layers shared by the convolutional models.

* :func:`pixel_shuffle` / :func:`pixel_unshuffle`: sub-pixel rearrangement (depth-to-space
  and space-to-depth) in NHWC with PyTorch's channel order, so that a PyTorch
  ``nn.PixelShuffle`` model's weights mean the same thing here.
"""

from __future__ import annotations

import chex
import jax.numpy as jnp


def pixel_shuffle(x: chex.Array, factor: int) -> chex.Array:
  """Depth-to-space: ``[N, H, W, C * r * r] -> [N, H * r, W * r, C]``.

  ``out[n, h * r + i, w * r + j, c] = x[n, h, w, c * r * r + i * r + j]``, the channel order
  of PyTorch's ``nn.PixelShuffle`` (Shi et al. 2016, sub-pixel convolution).

  Args:
    x: feature maps ``[N, H, W, C * factor**2]``.
    factor: the upscaling factor ``r``.

  Returns:
    ``[N, H * factor, W * factor, C]``.
  """
  n, h, w, cr2 = x.shape
  if cr2 % (factor * factor):
    raise ValueError(f'pixel_shuffle by {factor} needs channels divisible by {factor**2}; '
                     f'got input of shape {x.shape}.')
  c = cr2 // (factor * factor)
  x = x.reshape(n, h, w, c, factor, factor)
  x = jnp.transpose(x, (0, 1, 4, 2, 5, 3))
  return x.reshape(n, h * factor, w * factor, c)


def pixel_unshuffle(x: chex.Array, factor: int) -> chex.Array:
  """Space-to-depth, the inverse of :func:`pixel_shuffle`:
  ``[N, H * r, W * r, C] -> [N, H, W, C * r * r]`` (PyTorch's ``nn.PixelUnshuffle``)."""
  n, hr, wr, c = x.shape
  if hr % factor or wr % factor:
    raise ValueError(f'pixel_unshuffle by {factor} needs height and width divisible by '
                     f'{factor}; got input of shape {x.shape}.')
  x = x.reshape(n, hr // factor, factor, wr // factor, factor, c)
  x = jnp.transpose(x, (0, 1, 3, 5, 2, 4))
  return x.reshape(n, hr // factor, wr // factor, c * factor * factor)
