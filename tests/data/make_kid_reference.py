"""Re-creates ``kid_reference.json``: torch-fidelity's KID of seeded feature sets.

Needs torch and torch-fidelity (``pip install torch-fidelity``; the ``[parity]`` extra);
runs in seconds and writes, deterministically, for each case: the seed, shapes and shift
of the features (float64, ``np.random.default_rng(seed)``; the fakes shifted by
``shift``), the float64 sum of each set (to detect a change of NumPy's random streams),
the arguments and torch-fidelity's ``kernel_inception_distance_mean`` and ``_std`` from
``kid_features_to_metric(fake, real, ...)``: its ``calculate_metrics(input1=fake,
input2=real, kid=True)`` on those features.

    python tests/data/make_kid_reference.py
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch_fidelity
from torch_fidelity import metric_kid

HERE = os.path.dirname(os.path.abspath(__file__))

# (seed, real [n, d], fake [n, d], shift, torch-fidelity kwargs): its defaults (100 subsets
# of 1,000, rng_seed 2020) on sets larger than a subset, and other sizes and seeds.
CASES = [
    (0, (1100, 16), (1200, 16), 0.1, {}),
    (1, (300, 8), (250, 8), 0.0, {'kid_subsets': 10, 'kid_subset_size': 50, 'rng_seed': 7}),
    (2, (60, 4), (80, 4), 0.5, {'kid_subsets': 5, 'kid_subset_size': 60}),
]


def features(seed: int, real_shape: tuple[int, int], fake_shape: tuple[int, int],
             shift: float) -> tuple[np.ndarray, np.ndarray]:
  """The real and fake features of a case (what the test draws too)."""
  rng = np.random.default_rng(seed)
  return rng.normal(size=real_shape), rng.normal(size=fake_shape) + shift


def main() -> None:
  out = {'torch_fidelity': torch_fidelity.__version__, 'cases': []}
  for seed, real_shape, fake_shape, shift, kwargs in CASES:
    real, fake = features(seed, real_shape, fake_shape, shift)
    got = metric_kid.kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real),
                                            verbose=False, **kwargs)
    out['cases'].append({
        'seed': seed, 'real_shape': real_shape, 'fake_shape': fake_shape, 'shift': shift,
        'real_sum': float(real.sum()), 'fake_sum': float(fake.sum()), 'kwargs': kwargs,
        'mean': got[metric_kid.KEY_METRIC_KID_MEAN], 'std': got[metric_kid.KEY_METRIC_KID_STD]})
  with open(os.path.join(HERE, 'kid_reference.json'), 'w') as f:
    json.dump(out, f, indent=1)
    f.write('\n')


if __name__ == '__main__':
  main()
