"""Content losses of super-resolution generators: pixel and perceptual.

Pure functions of the generated image ``sr`` and the target ``hr`` (``[B, H, W, C]`` in
[-1, 1]); :func:`make` binds the papers' weights into the ``content(fake, real, frozen)``
term of :class:`jaxgan.gan.GAN`, where ``frozen`` holds the VGG19 variables.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

PIXEL_CRITERIA = ('l1', 'mse')
FeaturesFn = Callable[[Any, jax.Array], dict[str, jax.Array]]


def _check(sr: chex.Array, hr: chex.Array) -> None:
  if sr.shape != hr.shape:
    raise ValueError(f'sr and hr must have the same shape; got sr {sr.shape} and hr '
                     f'{hr.shape}.')


def _distance(a: chex.Array, b: chex.Array, criterion: str) -> chex.Array:
  diff = a.astype(jnp.float32) - b.astype(jnp.float32)
  if criterion == 'l1':
    return jnp.mean(jnp.abs(diff))
  if criterion == 'mse':
    return jnp.mean(jnp.square(diff))
  raise ValueError(f"criterion must be one of {', '.join(PIXEL_CRITERIA)}; got {criterion!r}.")


def pixel_loss(sr: chex.Array, hr: chex.Array, criterion: str = 'l1') -> chex.Array:
  """``E |sr - hr|`` (``'l1'``) or ``E (sr - hr)^2`` (``'mse'``), the mean over every
  pixel and channel (images in [-1, 1]).

  Args:
    sr: generated images ``[B, H, W, C]``.
    hr: target images, the same shape.
    criterion: ``'l1'`` (ESRGAN, RRDB-PSNR) or ``'mse'`` (SRResNet).

  Returns:
    The scalar loss (float32).

  References:
    Ledig et al., Photo-Realistic Single Image Super-Resolution Using a GAN, CVPR 2017
    (MSE); Wang et al., ESRGAN, ECCV Workshops 2018 (L1).
  """
  _check(sr, hr)
  return _distance(sr, hr, criterion)


def perceptual_loss(features_fn: FeaturesFn, variables: Any, sr: chex.Array, hr: chex.Array,
                    layer: str, criterion: str = 'l1', scale: float = 1.0) -> chex.Array:
  """The distance between VGG19 feature maps of ``sr`` and ``hr`` at ``layer``.

  ``E |phi(sr) - phi(hr)|`` (``'l1'``, ESRGAN: ``layer='conv5_4'``, before the activation)
  or ``E (phi(sr) - phi(hr))^2`` (``'mse'``, SRGAN's VGG54: ``layer='relu5_4'``, after it),
  with the features multiplied by ``scale`` (SRGAN rescales them by 1/12.75). The target's
  features carry no gradient.

  Args:
    features_fn: ``features_fn(variables, images) -> {layer: features}``.
    variables: the (fixed) network variables.
    sr: generated images ``[B, H, W, C]`` in [-1, 1].
    hr: target images, the same shape.
    layer: the feature layer's name.
    criterion: ``'l1'`` or ``'mse'``.
    scale: a factor on the features.

  Returns:
    The scalar loss (float32).

  References:
    Johnson et al., Perceptual Losses for Real-Time Style Transfer and Super-Resolution,
    ECCV 2016; Ledig et al. 2017, eq. (5); Wang et al. 2018, section 3.3.
  """
  _check(sr, hr)
  features = features_fn(variables, sr)
  if layer not in features:
    raise ValueError(f'No feature layer {layer!r}: the network gives '
                     f"{', '.join(map(str, features))}.")
  f_hr = jax.lax.stop_gradient(features_fn(variables, hr)[layer])
  return _distance(scale * features[layer], scale * f_hr, criterion)


def content_loss(sr: chex.Array, hr: chex.Array, frozen: Any, *, pixel: str = 'l1',
                 pixel_weight: float = 0.0, perceptual_weight: float = 0.0,
                 perceptual_layer: str = 'conv5_4', perceptual_criterion: str = 'l1',
                 perceptual_scale: float = 1.0,
                 features_fn: FeaturesFn | None = None) -> tuple[chex.Array, dict]:
  """``pixel_weight * pixel_loss + perceptual_weight * perceptual_loss`` and its parts
  (``frozen['vgg']`` holds the VGG19 variables when ``perceptual_weight > 0``). Both
  weights are finite and >= 0 (0 leaves the term out); any other is a ``ValueError``."""
  _check_weights(pixel_weight=pixel_weight, perceptual_weight=perceptual_weight)
  total, metrics = jnp.zeros((), jnp.float32), {}
  if pixel_weight:
    metrics['pixel_loss'] = pixel_loss(sr, hr, pixel)
    total += pixel_weight * metrics['pixel_loss']
  if perceptual_weight:
    if features_fn is None:
      raise ValueError('A perceptual content loss needs features_fn (the VGG19 feature '
                       'map: jaxgan.build gives it, or pass your own to content.make); '
                       f'got None with perceptual_weight={perceptual_weight}.')
    if not isinstance(frozen, dict) or 'vgg' not in frozen:
      raise ValueError('A perceptual content loss needs the VGG19 variables as '
                       "frozen['vgg'] (jaxgan.build.frozen_variables gives them); got "
                       f'frozen={type(frozen).__name__}'
                       + (f' with keys {sorted(frozen)}.' if isinstance(frozen, dict) else '.'))
    metrics['perceptual_loss'] = perceptual_loss(features_fn, frozen['vgg'], sr, hr,
                                                 perceptual_layer, perceptual_criterion,
                                                 perceptual_scale)
    total += perceptual_weight * metrics['perceptual_loss']
  return total, metrics


def _check_weights(**weights: float) -> None:
  """A negative weight would train the generator away from the target, a NaN or infinite
  one makes the loss NaN: each is refused, as the config's rule (``NON_NEGATIVE_REAL``)."""
  for name, w in weights.items():
    if not (math.isfinite(w) and w >= 0):
      raise ValueError(f'content loss: {name} must be a finite number >= 0 (0 leaves the '
                       f'term out); got {w!r}.')


def make(features_fn: FeaturesFn | None = None, **weights) -> Callable:
  """The ``content(fake, real, frozen)`` term of :class:`jaxgan.gan.GAN` with ``weights``
  (the keyword arguments of :func:`content_loss`) bound; negative or non-finite weights are
  refused here, before any training."""
  _check_weights(**{k: w for k, w in weights.items() if k.endswith('_weight')})
  return functools.partial(content_loss, features_fn=features_fn, **weights)
