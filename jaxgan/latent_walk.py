"""Walks in a generator's latent space: rows of noise from one sample's to another's,
the figure of Radford et al. 2016 (DCGAN, section 6.1: smooth transitions mean the model
has learnt features, not memorized images)."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from jaxgan import gan as gan_lib
from jaxgan import inference

PATHS = ('slerp', 'linear')


def lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
  """``(1 - t) a + t b`` for rows ``a``, ``b`` ``[n, d]`` and ``t`` ``[steps]``:
  ``[n, steps, d]``."""
  a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)
  return (1 - t)[None, :, None] * a[:, None] + t[None, :, None] * b[:, None]


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
  """Spherical interpolation of rows ``a``, ``b`` ``[n, d]`` at ``t`` ``[steps]``:
  ``[n, steps, d]``,

      slerp(a, b, t) = sin((1 - t) W) / sin(W) a + sin(t W) / sin(W) b,

  ``W`` the angle between ``a`` and ``b``: the path along the great circle, whose norm
  stays between theirs, where a straight line's middle falls to ~1/sqrt(2) of a Gaussian
  latent's typical norm (White 2016). Rows at an angle under 1e-6 take the straight line
  (the same path, where ``sin(W) / W`` is 1 to float precision).

  References:
    Shoemake, Animating rotation with quaternion curves, SIGGRAPH 1985.
    White, Sampling Generative Networks, arXiv:1609.04468, 2016.
  """
  a, b, t = np.asarray(a, np.float64), np.asarray(b, np.float64), np.asarray(t, np.float64)
  norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
  cos = np.clip((a * b).sum(1) / np.maximum(norms, np.finfo(np.float64).tiny), -1, 1)
  w = np.arccos(cos)[:, None]  # [n, 1]
  small = w[:, 0] < 1e-6
  sin = np.where(small[:, None], 1.0, np.sin(w))
  ca = np.sin((1 - t)[None, :] * w) / sin  # [n, steps]
  cb = np.sin(t[None, :] * w) / sin
  out = ca[..., None] * a[:, None] + cb[..., None] * b[:, None]
  return np.where(small[:, None, None], lerp(a, b, t), out)


def walk(gan: gan_lib.GAN, num_rows: int, steps: int, seed: int = 0,
         truncation: float | None = None, path: str = 'slerp') -> tuple[np.ndarray, Any]:
  """The generator inputs ``(z, y)`` of ``num_rows`` walks of ``steps`` each, row-major
  (``num_rows * steps`` rows): walk ``i`` goes from the noise of sample ``i`` to that of
  sample ``num_rows + i`` of ``seed`` (:func:`jaxgan.inference.noise`: the samples
  ``launch.sample --seed`` draws), ``steps`` points evenly spaced along ``path``; its
  labels or codes are those of sample ``i`` all along (only ``z`` moves).
  """
  if gan.latent.conditioning == 'lowres':
    raise ValueError('This is a super-resolution model: it has no latent space to walk.')
  if num_rows < 1 or steps < 2:
    raise ValueError(f'A walk needs num_rows >= 1 and steps >= 2 (its two ends); got '
                     f'num_rows={num_rows}, steps={steps}.')
  if path not in PATHS:
    raise ValueError(f'path must be one of {", ".join(PATHS)}; got {path!r}.')
  z, y = inference.noise(gan, 2 * num_rows, seed, truncation)
  t = np.linspace(0.0, 1.0, steps)
  moved = (slerp if path == 'slerp' else lerp)(z[:num_rows], z[num_rows:], t)
  held = jax.tree.map(lambda a: np.repeat(np.asarray(a)[:num_rows], steps, axis=0), y)
  return moved.reshape(num_rows * steps, -1).astype(z.dtype), held
