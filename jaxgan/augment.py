"""DiffAugment: differentiable augmentations applied to real and fake images before D.

The transformations of Zhao et al. (2020) as pure JAX functions of ``(images, key)`` with
``images`` NHWC in [-1, 1]. Every random quantity is drawn per example, and every
transformation is differentiable with respect to the images, so that the generator is
trained through the augmentation: D sees ``T(x_real)`` and ``T(G(z))`` in both the D and
the G update.

A policy is a comma-separated list of transformation names applied in the order given,
as in the official code: ``'color,translation,cutout'``; ``''`` is the identity. An entry
may set its ratio with a spec such as ``'translation(ratio=0.25)'``. The official code
draws fresh randomness on every call, so real and fake batches get independent draws:
give them different keys.

Each transformation is split into a sampler of its random draws (``sample_*``) and a
deterministic function of those draws, so that both can be checked separately.

Reference code: github.com/mit-han-lab/data-efficient-gans, ``DiffAugment_pytorch.py``
(NCHW; ``x.size(2)`` is the height, ``x.size(3)`` the width) and ``DiffAugment_tf.py``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp

from jaxgan.registry import ArgumentError, Registry

Augmentation = Callable[[chex.Array, chex.PRNGKey], chex.Array]


def _check_images(images: chex.Array) -> chex.Array:
  images = jnp.asarray(images)
  if images.ndim != 4:
    raise ValueError(f'images must have shape [batch, height, width, channels]; got shape '
                     f'{images.shape}.')
  if not jnp.issubdtype(images.dtype, jnp.floating):  # an int brightness shift would be 0
    raise ValueError(f'images must be floating point (in [-1, 1]); got {images.dtype}.')
  return images


def _per_example(values: chex.Array, images: chex.Array, name: str) -> chex.Array:
  """``values[batch]`` as ``[batch, 1, 1, 1]`` in the images' dtype."""
  values = jnp.asarray(values)
  if values.shape != images.shape[:1]:
    raise ValueError(f'{name} must have shape (batch,) = {images.shape[:1]} for images of '
                     f'shape {images.shape}; got shape {values.shape}.')
  return values.astype(images.dtype)[:, None, None, None]


def _check_pairs(values: chex.Array, images: chex.Array, name: str) -> chex.Array:
  values = jnp.asarray(values)
  if values.shape != (images.shape[0], 2):
    raise ValueError(f'{name} must have shape (batch, 2) = {(images.shape[0], 2)} for images '
                     f'of shape {images.shape}; got shape {values.shape}.')
  if not jnp.issubdtype(values.dtype, jnp.integer):  # a cast would truncate 1.7 to 1
    raise ValueError(f'{name} must be integers (whole pixels); got dtype {values.dtype}.')
  return values.astype(jnp.int32)


# ---------------------------------------------------------------------------
# Color: brightness, saturation, contrast


def adjust_brightness(images: chex.Array, shift: chex.Array) -> chex.Array:
  """Adds one value per example: ``x'[b] = x[b] + shift[b]``.

  Args:
    images: ``[batch, height, width, channels]``.
    shift: ``[batch]``; DiffAugment draws ``U[-0.5, 0.5)``.

  Returns:
    The shifted images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020
    (``rand_brightness``).
  """
  images = _check_images(images)
  return images + _per_example(shift, images, 'shift')


def adjust_saturation(images: chex.Array, factor: chex.Array) -> chex.Array:
  """Scales each pixel's deviation from its channel mean.

  ``x'[b,h,w,c] = (x[b,h,w,c] - m[b,h,w]) * factor[b] + m[b,h,w]`` with
  ``m[b,h,w] = mean_c x[b,h,w,c]``: factor 0 gives the gray image, 1 the identity.

  Args:
    images: ``[batch, height, width, channels]``.
    factor: ``[batch]``; DiffAugment draws ``U[0, 2)``.

  Returns:
    The adjusted images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020
    (``rand_saturation``, ``rand_color`` in early versions).
  """
  images = _check_images(images)
  mean = jnp.mean(images, axis=3, keepdims=True)
  return (images - mean) * _per_example(factor, images, 'factor') + mean


def adjust_contrast(images: chex.Array, factor: chex.Array) -> chex.Array:
  """Scales each image's deviation from its mean over height, width and channels.

  ``x'[b] = (x[b] - m[b]) * factor[b] + m[b]`` with ``m[b] = mean_{h,w,c} x[b,h,w,c]``.

  Args:
    images: ``[batch, height, width, channels]``.
    factor: ``[batch]``; DiffAugment draws ``U[0.5, 1.5)``.

  Returns:
    The adjusted images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020
    (``rand_contrast``).
  """
  images = _check_images(images)
  mean = jnp.mean(images, axis=(1, 2, 3), keepdims=True)
  return (images - mean) * _per_example(factor, images, 'factor') + mean


def sample_color(key: chex.PRNGKey, batch: int) -> dict[str, chex.Array]:
  """The draws of :func:`rand_color`: float32 ``[batch]`` each.

  ``brightness ~ U[-0.5, 0.5)``, ``saturation ~ U[0, 2)``, ``contrast ~ U[0.5, 1.5)``,
  from three independent subkeys of ``key``.
  """
  k_brightness, k_saturation, k_contrast = jax.random.split(key, 3)
  return {
      'brightness': jax.random.uniform(k_brightness, (batch,), minval=-0.5, maxval=0.5),
      'saturation': jax.random.uniform(k_saturation, (batch,), minval=0.0, maxval=2.0),
      'contrast': jax.random.uniform(k_contrast, (batch,), minval=0.5, maxval=1.5),
  }


def rand_color(images: chex.Array, key: chex.PRNGKey) -> chex.Array:
  """DiffAugment ``color``: random brightness, then saturation, then contrast.

  Args:
    images: ``[batch, height, width, channels]``.
    key: PRNG key; the draws are ``sample_color(key, batch)``.

  Returns:
    The augmented images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020.
  """
  images = _check_images(images)
  draws = sample_color(key, images.shape[0])
  images = adjust_brightness(images, draws['brightness'])
  images = adjust_saturation(images, draws['saturation'])
  return adjust_contrast(images, draws['contrast'])


# ---------------------------------------------------------------------------
# Translation


def _shift_axis(x: chex.Array, offset: chex.Array, axis: int) -> chex.Array:
  """``out[i] = x[i + offset]`` along ``axis`` where ``0 <= i + offset < n``, else 0."""
  n = x.shape[axis]
  offset = jnp.clip(offset, -n, n)
  rolled = jnp.roll(x, -offset, axis=axis)  # rolled[i] = x[(i + offset) mod n]
  source = jax.lax.broadcasted_iota(jnp.int32, x.shape, axis) + offset
  return jnp.where((source >= 0) & (source < n), rolled, jnp.zeros((), x.dtype))


def translate(images: chex.Array, offsets: chex.Array) -> chex.Array:
  """Integer translation with zero fill, one offset pair per example.

  ``x'[b, i, j] = x[b, i + offsets[b, 0], j + offsets[b, 1]]``, and 0 where that pixel is
  outside the image: the content moves by ``-offsets[b]`` (the official code's grid
  convention). A per-example roll and mask, no per-pixel gather.

  Args:
    images: ``[batch, height, width, channels]``.
    offsets: integer ``[batch, 2]``, (row, column) offsets.

  Returns:
    The translated images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020
    (``rand_translation``).
  """
  images = _check_images(images)
  offsets = _check_pairs(offsets, images, 'offsets')
  one = lambda x, o: _shift_axis(_shift_axis(x, o[0], 0), o[1], 1)
  return jax.vmap(one)(images, offsets)


def translation_bounds(height: int, width: int, ratio: float = 0.125) -> tuple[int, int]:
  """The largest offsets ``(int(height * ratio + 0.5), int(width * ratio + 0.5))``."""
  return int(height * ratio + 0.5), int(width * ratio + 0.5)


def sample_translation(key: chex.PRNGKey, batch: int, height: int, width: int,
                       ratio: float = 0.125) -> chex.Array:
  """The draws of :func:`rand_translation`: int32 ``[batch, 2]``.

  ``offsets[:, 0] ~ U{-s_h, ..., s_h}`` and ``offsets[:, 1] ~ U{-s_w, ..., s_w}``,
  independent, with ``(s_h, s_w) = translation_bounds(height, width, ratio)``.
  """
  bound = jnp.asarray(translation_bounds(height, width, ratio), jnp.int32)
  return jax.random.randint(key, (batch, 2), -bound, bound + 1, jnp.int32)


def rand_translation(images: chex.Array, key: chex.PRNGKey, ratio: float = 0.125) -> chex.Array:
  """DiffAugment ``translation``: a random integer shift of up to ``ratio`` of each side.

  Args:
    images: ``[batch, height, width, channels]``.
    key: PRNG key; the offsets are ``sample_translation(key, batch, height, width, ratio)``.
    ratio: the largest shift as a fraction of the side (1/8 in the paper).

  Returns:
    ``translate(images, offsets)``: pixels shifted in from outside are 0.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020.
  """
  images = _check_images(images)
  b, h, w, _ = images.shape
  return translate(images, sample_translation(key, b, h, w, ratio))


# ---------------------------------------------------------------------------
# Cutout


def cutout_size(height: int, width: int, ratio: float = 0.5) -> tuple[int, int]:
  """The hole's size ``(int(height * ratio + 0.5), int(width * ratio + 0.5))``."""
  return int(height * ratio + 0.5), int(width * ratio + 0.5)


def cut_out(images: chex.Array, centres: chex.Array, size: tuple[int, int]) -> chex.Array:
  """Zeroes one rectangle per example, clipped to the image.

  The hole of example ``b`` covers rows ``[r0, r0 + size[0])`` and columns
  ``[c0, c0 + size[1])`` with ``(r0, c0) = centres[b] - size // 2``, intersected with the
  image. The official code clamps the hole's indices to the image instead, which is the
  same for every centre its sampler draws (:func:`sample_cutout`): such a hole always
  overlaps the image.

  Args:
    images: ``[batch, height, width, channels]``.
    centres: integer ``[batch, 2]``, the (row, column) the official code calls ``offset``.
    size: the hole's (height, width), static.

  Returns:
    The images with the holes set to 0, same shape and dtype.

  References:
    DeVries & Taylor, Improved Regularization of Convolutional Neural Networks with Cutout,
    2017; Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training,
    NeurIPS 2020 (``rand_cutout``).
  """
  images = _check_images(images)
  centres = _check_pairs(centres, images, 'centres')
  _, h, w, _ = images.shape
  start = centres - jnp.asarray([size[0] // 2, size[1] // 2], jnp.int32)
  rows = jnp.arange(h, dtype=jnp.int32)[None, :]
  cols = jnp.arange(w, dtype=jnp.int32)[None, :]
  in_rows = (rows >= start[:, :1]) & (rows < start[:, :1] + size[0])  # [batch, h]
  in_cols = (cols >= start[:, 1:]) & (cols < start[:, 1:] + size[1])  # [batch, w]
  hole = (in_rows[:, :, None] & in_cols[:, None, :])[..., None]
  return jnp.where(hole, jnp.zeros((), images.dtype), images)


def sample_cutout(key: chex.PRNGKey, batch: int, height: int, width: int,
                  ratio: float = 0.5) -> chex.Array:
  """The draws of :func:`rand_cutout`: int32 centres ``[batch, 2]``.

  As the official code's ``randint(0, size + (1 - cutout_size % 2))``: the centre row is
  uniform on ``{0, ..., height - (k_h mod 2)}`` and the column on
  ``{0, ..., width - (k_w mod 2)}``, ``(k_h, k_w) = cutout_size(height, width, ratio)``.
  """
  k = cutout_size(height, width, ratio)
  high = jnp.asarray([height + 1 - k[0] % 2, width + 1 - k[1] % 2], jnp.int32)
  return jax.random.randint(key, (batch, 2), 0, high, jnp.int32)


def rand_cutout(images: chex.Array, key: chex.PRNGKey, ratio: float = 0.5) -> chex.Array:
  """DiffAugment ``cutout``: one zeroed hole of ``ratio`` of each side per example.

  Args:
    images: ``[batch, height, width, channels]``.
    key: PRNG key; the centres are ``sample_cutout(key, batch, height, width, ratio)``.
    ratio: the hole's side as a fraction of the image's (1/2 in the paper).

  Returns:
    ``cut_out(images, centres, cutout_size(height, width, ratio))``.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020.
  """
  images = _check_images(images)
  b, h, w, _ = images.shape
  return cut_out(images, sample_cutout(key, b, h, w, ratio), cutout_size(h, w, ratio))


# ---------------------------------------------------------------------------
# Policies

TRANSFORMATIONS = Registry('DiffAugment transformation', make=functools.partial, skip=2)
TRANSFORMATIONS.register('color', rand_color)
TRANSFORMATIONS.register('translation', rand_translation)
TRANSFORMATIONS.register('cutout', rand_cutout)


def names() -> list[str]:
  """The transformation names a policy may use: color, translation, cutout."""
  return TRANSFORMATIONS.names()


def split_policy(policy: str) -> list[str]:
  """Splits at the commas outside parentheses; drops empty entries."""
  parts, depth, current = [], 0, ''
  for char in policy:
    depth += {'(': 1, ')': -1}.get(char, 0)
    if char == ',' and depth == 0:
      parts.append(current)
      current = ''
    else:
      current += char
  parts.append(current)
  return [p.strip() for p in parts if p.strip()]


def make_augment(policy: str) -> Augmentation:
  """The augmentation ``fn(images, key)`` of a policy string.

  Transformation ``i`` of ``n`` gets the key ``jax.random.split(key, n)[i]``.

  Args:
    policy: comma-separated names from :func:`names`, applied in the order given, each
      optionally with its ratio, e.g. ``'color,translation(ratio=0.25),cutout'``; ``''``
      is the identity.

  Returns:
    A pure, jit-able, vmap-able function ``(images [B, H, W, C], key) -> images``,
    differentiable with respect to the images.

  Raises:
    ValueError: an unknown name (the message lists the valid ones).
    TypeError: a policy that is not a string, an argument the transformation does not
      take, or a ratio outside [0, 1].
  """
  if not isinstance(policy, str):
    raise TypeError("A DiffAugment policy is a string such as 'color,translation,cutout' "
                    f"('' for none); got {policy!r}.")
  specs = split_policy(policy)
  fns = [TRANSFORMATIONS.get(spec) for spec in specs]
  for spec, f in zip(specs, fns, strict=True):
    ratio = f.keywords.get('ratio')
    if ratio is not None and not 0 <= ratio <= 1:  # a number: the registry checked
      raise ArgumentError(f'DiffAugment {spec!r}: ratio must lie in [0, 1] (a fraction of '
                          f'the side); got {ratio!r}.')

  def fn(images: chex.Array, key: chex.PRNGKey) -> chex.Array:
    images = _check_images(images)
    if not fns:
      return images
    for transform, subkey in zip(fns, jax.random.split(key, len(fns)), strict=True):
      images = transform(images, subkey)
    return images

  return fn


def apply_each(fn: Augmentation, images: chex.Array, keys: chex.PRNGKey) -> chex.Array:
  """Augments example ``i`` alone with its own key: ``out[i] = fn(images[i:i+1], keys[i])[0]``.

  The per-example form of an augmentation, for a function that must take one example at a
  time (a gradient penalty's per-example ``critic_fn(x, cond)`` carries the keys as the
  condition, so that ``x[i]`` keeps its draw whether the critic sees the batch or ``x[i]``
  alone).

  Args:
    fn: an augmentation ``(images, key) -> images``, e.g. from :func:`make_augment`.
    images: ``[batch, height, width, channels]``.
    keys: ``batch`` PRNG keys, e.g. ``jax.random.split(key, batch)``.

  Returns:
    The augmented images, same shape and dtype.
  """
  images = _check_images(images)
  typed = jax.dtypes.issubdtype(keys.dtype, jax.dtypes.prng_key)
  if (keys.shape if typed else keys.shape[:-1]) != images.shape[:1]:  # raw: [batch, 2]
    raise ValueError(f'apply_each needs one key per example: got keys of shape {keys.shape} '
                     f'for images of shape {images.shape}.')
  return jax.vmap(lambda x, k: fn(x[None], k)[0])(images, keys)


def augment(images: chex.Array, key: chex.PRNGKey, policy: str) -> chex.Array:
  """Applies the DiffAugment ``policy`` to ``images``; see :func:`make_augment`.

  Args:
    images: ``[batch, height, width, channels]`` in [-1, 1].
    key: PRNG key.
    policy: e.g. ``'color,translation,cutout'``; ``''`` is the identity.

  Returns:
    The augmented images, same shape and dtype.

  References:
    Zhao et al., Differentiable Augmentation for Data-Efficient GAN Training, NeurIPS 2020.
  """
  return make_augment(policy)(images, key)
