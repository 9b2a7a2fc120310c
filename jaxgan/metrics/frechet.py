"""Fréchet distance, KID and Inception Score from features or class logits (NumPy, float64).

The feature extractor is separate (an Inception network for FID/KID/IS, a digit
classifier for digit-FD); these functions take its outputs.
"""

from __future__ import annotations

import warnings

import numpy as np


def _check_features(x: np.ndarray, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 2:
    raise ValueError(f'{name} must have shape [n, d]; got {x.shape}.')
  if not np.all(np.isfinite(x)):
    raise ValueError(f'{name} contain {int((~np.isfinite(x)).sum())} non-finite values.')
  return x


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean ``[d]`` and covariance ``[d, d]`` (unbiased) of ``features[n, d]``.

  Warns when ``n < d``: the covariance is then singular and the distance unstable.
  """
  f = _check_features(features, 'features')
  n, d = f.shape
  if n < 2:
    raise ValueError(f'At least 2 samples are needed for a covariance; got {n}.')
  if n < d:
    warnings.warn(f'Only {n} samples for {d}-dimensional features: the covariance is '
                  'singular and the Fréchet distance is biased and unstable; use at least '
                  f'{d} (FID convention: 10,000 or 50,000).', stacklevel=2)
  return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray, eps: float = 1e-6) -> float:
  """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})`` between two Gaussians.

  ``tr (S1 S2)^{1/2}`` is computed as the sum of square roots of the eigenvalues of the
  symmetric PSD matrix ``S1^{1/2} S2 S1^{1/2}`` (same spectrum as ``S1 S2``), which stays
  real and stable where ``scipy.linalg.sqrtm(S1 @ S2)`` can return complex noise. If that
  is not finite, ``eps`` is added to both diagonals as in the reference implementation.

  References:
    Dowson & Landau, The Fréchet distance between multivariate normal distributions, 1982;
    Heusel et al., GANs Trained by a Two Time-Scale Update Rule..., NeurIPS 2017.
  """
  mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
  s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
  if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
    raise ValueError(f'Mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma '
                     f'{s1.shape} vs {s2.shape}.')

  def trace_sqrt(a, b):
    root_a = _psd_sqrt(a)
    m = root_a @ b @ root_a
    return np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))

  tr = trace_sqrt(s1, s2)
  if not np.isfinite(tr):
    offset = eps * np.eye(s1.shape[0])
    tr = trace_sqrt(s1 + offset, s2 + offset)
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((a + a.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_features(real: np.ndarray, fake: np.ndarray) -> float:
  """Fréchet distance between the Gaussians fitted to two feature sets ``[n, d]``."""
  return frechet_distance(*feature_statistics(real), *feature_statistics(fake))


def kernel_inception_distance(real: np.ndarray, fake: np.ndarray, num_subsets: int = 100,
                              subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """KID: unbiased MMD^2 with kernel ``k(x, y) = (x.y / d + 1)^3``, mean and std over
  random subsets (as the reference implementation of Bińkowski et al. 2018).

  Returns:
    ``(mean, std)`` over ``num_subsets`` subsets of ``min(subset_size, n_real, n_fake)``.
  """
  x, y = _check_features(real, 'real features'), _check_features(fake, 'fake features')
  if x.shape[1] != y.shape[1]:
    raise ValueError(f'Feature dimensions differ: {x.shape} vs {y.shape}.')
  m = min(subset_size, len(x), len(y))
  if m < 2:
    raise ValueError('KID needs at least 2 samples in each set.')
  d = x.shape[1]
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    a = x[rng.choice(len(x), m, replace=False)]
    b = y[rng.choice(len(y), m, replace=False)]
    kxx, kyy, kxy = ((a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3)
    values.append((kxx.sum() - np.trace(kxx)) / (m * (m - 1))
                  + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())
  return float(np.mean(values)), float(np.std(values))


def inception_score(logits: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
  """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over ``num_splits`` splits.

  References:
    Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016.
  """
  z = _check_features(logits, 'logits')
  z = z - z.max(1, keepdims=True)
  log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
  scores = []
  for part in np.array_split(log_p, num_splits):
    p = np.exp(part)
    log_marginal = np.log(p.mean(0) + 1e-300)
    scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
  return float(np.mean(scores)), float(np.std(scores))
