"""2-D Gaussian mixtures used to measure mode coverage (VEEGAN, PacGAN)."""

from __future__ import annotations

import numpy as np


def ring8_modes(radius: float = 2.0) -> np.ndarray:
  """The 8 means on a circle of radius 2, shape [8, 2]."""
  angles = 2 * np.pi * np.arange(8) / 8
  return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def grid25_modes() -> np.ndarray:
  """The 25 means on {-4, -2, 0, 2, 4}^2, shape [25, 2]."""
  axis = np.arange(-4.0, 5.0, 2.0)
  return np.stack(np.meshgrid(axis, axis, indexing='ij'), -1).reshape(-1, 2).astype(np.float32)


# name -> (means [K, 2], per-coordinate std). ring8 keeps PacGAN's std/radius ratio at
# radius 2 (std 0.02); grid25 is PacGAN's grid (std 0.05).
MIXTURES = {
    'ring8': (ring8_modes(), 0.02),
    'grid25': (grid25_modes(), 0.05),
}


def sample(name: str, rng: np.random.Generator, n: int) -> np.ndarray:
  """``n`` samples of mixture ``name`` with equal weights, shape [n, 2] float32."""
  means, std = MIXTURES[name]
  idx = rng.integers(0, len(means), n)
  return (means[idx] + std * rng.standard_normal((n, 2))).astype(np.float32)
