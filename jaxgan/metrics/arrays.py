"""Validation of the feature and logit arrays the sample-quality metrics take."""

from __future__ import annotations

import numpy as np


def check_features(x: np.ndarray, name: str) -> np.ndarray:
  """``x`` as float64 ``[n, d]``; ``ValueError`` naming the shape or the non-finite count."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f'{name} must have shape [n, d]; got {x.shape}.')
  if not np.all(np.isfinite(x)):
    raise ValueError(f'{name} contain {int((~np.isfinite(x)).sum())} non-finite values.')
  return x
