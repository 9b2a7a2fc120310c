"""The one table formatter of the studies: Markdown tables of mean ± std over seeds.

The std is NumPy's default, the seeds' own spread (ddof=0), in every table and figure of
the studies; with n seeds the sample std (ddof=1) is sqrt(n / (n - 1)) times it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_std(values: Sequence[float], digits: int = 1) -> str:
  """``'m ± s'`` over the finite values; ``'diverged'`` when none is finite."""
  v = np.asarray(values, np.float64)
  v = v[np.isfinite(v)]
  return f'{v.mean():.{digits}f} ± {v.std():.{digits}f}' if len(v) else 'diverged'


def markdown(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
  """A Markdown table."""
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  lines += ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
  return '\n'.join(lines)
