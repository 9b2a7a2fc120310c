"""Kernel Inception Distance (KID) from two feature sets (NumPy, float64)."""

from __future__ import annotations

import numpy as np

from jaxgan.arrays import check_features

# torch-fidelity's default ``rng_seed``, which seeds its KID subsets.
TORCH_FIDELITY_SEED = 2020


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000,
                              seed: int = TORCH_FIDELITY_SEED) -> tuple[float, float]:
  """KID: unbiased MMD^2 with kernel ``k(x, y) = (x.y / d + 1)^3``, mean and std over
  random subsets (as the reference implementation of Bińkowski et al. 2018).

  The subsets are drawn as torch-fidelity draws them: for each subset, ``m`` fake then
  ``m`` real indices without replacement from one ``np.random.RandomState(seed)``
  (``seed``: torch-fidelity's default, 2020). For the same features, sets of at least
  ``subset_size`` samples therefore give the ``kernel_inception_distance_mean`` and
  ``_std`` of torch-fidelity's ``calculate_metrics(input1=fake, input2=real, kid=True)``
  (its usual call: the generated samples first), computed here in float64.

  References:
    Bińkowski et al., Demystifying MMD GANs, ICLR 2018.

  Returns:
    ``(mean, std)`` over ``num_subsets`` subsets of ``min(subset_size, n_real, n_fake)``
    (torch-fidelity refuses sets smaller than ``subset_size``; the evaluators record the
    size used, :func:`kid_subset_size`).
    A set of at most that many samples is whole in every subset, so the std then shows
    only the other set's resampling (0 when both are whole): below ``subset_size``
    samples per set it understates the estimate's spread.
  """
  x, y = check_features(real, 'real features'), check_features(fake, 'fake features')
  if x.shape[1] != y.shape[1]:
    raise ValueError(f'Feature dimensions differ: {x.shape} vs {y.shape}.')
  if num_subsets < 1 or subset_size < 2:
    raise ValueError(f'KID needs num_subsets >= 1 and subset_size >= 2 (an unbiased MMD); '
                     f'got num_subsets={num_subsets}, subset_size={subset_size}.')
  m = kid_subset_size(len(x), len(y), subset_size)
  if m < 2:
    raise ValueError(f'KID needs at least 2 samples in each set; got {len(x)} real and '
                     f'{len(y)} fake.')
  d = x.shape[1]
  rng = np.random.RandomState(seed)  # torch-fidelity's generator, for its draws
  values = []
  for _ in range(num_subsets):
    b = y[rng.choice(len(y), m, replace=False)]  # its input1 (the generated samples) first
    a = x[rng.choice(len(x), m, replace=False)]
    kxx, kyy, kxy = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                  + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))


def kid_subset_size(num_real: int, num_fake: int, subset_size: int = 1000) -> int:
  """The subset size :func:`kernel_inception_distance` uses for sets of these sizes."""
  return min(subset_size, num_real, num_fake)
