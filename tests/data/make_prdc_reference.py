"""Re-creates ``prdc_reference.json``: the ``prdc`` package's precision, recall, density
and coverage (Naeem et al.'s code) of seeded feature sets.

Needs the ``prdc`` package (``pip install prdc``; the ``[parity]`` extra); runs in seconds
and writes, deterministically, for each case: the seed, shapes and shift of the features
(float64, ``np.random.default_rng(seed)``; the fakes shifted by ``shift``), the float64
sum of each set (to detect a change of NumPy's random streams), ``nearest_k`` and
``prdc.compute_prdc(real, fake, nearest_k)``.

    python tests/data/make_prdc_reference.py
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import json
import os

import numpy as np
import prdc

HERE = os.path.dirname(os.path.abspath(__file__))

# (seed, real [n, d], fake [n, d], shift, nearest_k): the default k = 5, other sizes and ks.
CASES = [
    (0, (600, 32), (500, 32), 0.2, 5),
    (1, (300, 8), (350, 8), 0.0, 3),
    (2, (80, 4), (60, 4), 1.0, 1),
]


def features(seed: int, real_shape: tuple[int, int], fake_shape: tuple[int, int],
             shift: float) -> tuple[np.ndarray, np.ndarray]:
  """The real and fake features of a case (what the test draws too)."""
  rng = np.random.default_rng(seed)
  return rng.normal(size=real_shape), rng.normal(size=fake_shape) + shift


def main() -> None:
  out = {'prdc': importlib.metadata.version('prdc'), 'cases': []}
  for seed, real_shape, fake_shape, shift, k in CASES:
    real, fake = features(seed, real_shape, fake_shape, shift)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the set sizes
      got = prdc.compute_prdc(real, fake, k)
    out['cases'].append({
        'seed': seed, 'real_shape': real_shape, 'fake_shape': fake_shape, 'shift': shift,
        'real_sum': float(real.sum()), 'fake_sum': float(fake.sum()), 'nearest_k': k,
        **{name: float(value) for name, value in got.items()}})
  with open(os.path.join(HERE, 'prdc_reference.json'), 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')


if __name__ == '__main__':
  main()
