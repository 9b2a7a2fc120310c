"""Checks of the arrays a user hands to jaxgan: images, samples, features, statistics.

One wording for every caller, so a NaN from a diverged generator reads the same wherever it
is caught: ``"<what>: <n> non-finite values (NaN or Inf)"``.
"""

from __future__ import annotations

import numbers

import numpy as np


def is_real_number(value: object) -> bool:
  """Whether ``value`` is a real number, Python's or NumPy's, and not a bool (a number to
  Python) or a string."""
  return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def count_nonfinite(x: np.ndarray) -> int:
  """The number of NaN and infinite values in ``x``."""
  x = np.asarray(x)
  return int(x.size - np.count_nonzero(np.isfinite(x)))


def check_finite(x: np.ndarray, what: str, hint: str = '',
                 error: type[Exception] = ValueError) -> None:
  """Raises ``error`` naming ``what`` and its count of NaN and infinite values, if any.

  Args:
    x: a concrete (not traced) array.
    what: what ``x`` is, the subject of the message (e.g. ``'The samples of step 5'``).
    hint: text appended to the message (a likely cause, what was not done).
    error: the exception type to raise.
  """
  bad = count_nonfinite(x)
  if bad:
    raise error(f'{what}: {bad} non-finite value{"" if bad == 1 else "s"} (NaN or Inf){hint}.')


def check_features(x: np.ndarray, name: str) -> np.ndarray:
  """``x`` as float64 ``[n, d]``; ``ValueError`` naming the shape or the non-finite count."""
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f'{name} must have shape [n, d]; got {x.shape}.')
  check_finite(x, name)
  return x
