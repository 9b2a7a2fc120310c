"""The Fréchet distance between Gaussians fitted to two feature sets (NumPy, float64).

The feature extractor is separate (an Inception network for FID, a digit classifier for
digit-FD); these functions take its outputs.
"""

from __future__ import annotations

import warnings

import numpy as np

from jaxgan.arrays import check_features, check_finite


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean ``[d]`` and covariance ``[d, d]`` (unbiased) of ``features[n, d]``.

  Warns when ``n <= d``: the covariance (of rank at most ``n - 1``) is then singular and
  the distance unstable.
  """
  f = check_features(features, 'features')
  n, d = f.shape
  if n < 2:
    raise ValueError(f'At least 2 samples are needed for a covariance; got {n}.')
  if n <= d:  # rank(cov) <= n - 1 < d
    warnings.warn(f'Only {n} samples for {d}-dimensional features: the covariance is '
                  'singular and the Fréchet distance is biased and unstable; use at least '
                  f'{d + 1} (FID convention: 10,000 or 50,000).', stacklevel=2)
  return f.mean(0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray, eps: float = 1e-6) -> float:
  """``||mu1 - mu2||^2 + tr(S1 + S2 - 2 (S1 S2)^{1/2})`` between two Gaussians.

  ``tr (S1 S2)^{1/2}`` is computed as the sum of square roots of the eigenvalues of the
  symmetric PSD matrix ``S1^{1/2} S2 S1^{1/2}`` (same spectrum as ``S1 S2``), which stays
  real and stable where ``scipy.linalg.sqrtm(S1 @ S2)`` can return complex noise, and
  finite for any valid statistics (round-off's tiny negative eigenvalues are clipped at
  0), so pytorch-fid's fallback (``eps`` added to both diagonals when ``sqrtm`` is not
  finite) is never needed; ``eps`` is accepted for that signature and unused.

  Raises:
    ValueError: mismatched shapes; a non-finite mean or covariance; a covariance that is
      not symmetric, or not positive semi-definite, beyond float32 round-off (relative
      1e-5): not a covariance, e.g. statistics loaded from the wrong file or transposed.

  References:
    Dowson & Landau, The Fréchet distance between multivariate normal distributions, 1982;
    Heusel et al., GANs Trained by a Two Time-Scale Update Rule..., NeurIPS 2017.
  """
  mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
  s1, s2 = (np.atleast_2d(np.asarray(s, np.float64)) for s in (sigma1, sigma2))
  if (mu1.ndim != 1 or mu1.shape != mu2.shape or s1.shape != s2.shape
      or s1.shape != (mu1.size, mu1.size)):
    raise ValueError(f'Mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma '
                     f'{s1.shape} vs {s2.shape} (want mu [d] and sigma [d, d]).')
  for i, (m, s) in enumerate(((mu1, s1), (mu2, s2)), 1):
    _check_statistics(m, s, i)

  def trace_sqrt(a, b):
    root_a = _psd_sqrt(a)
    m = root_a @ b @ root_a
    return np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)))

  del eps
  tr = trace_sqrt(s1, s2)
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr)


def _check_statistics(mu: np.ndarray, sigma: np.ndarray, i: int, tol: float = 1e-5) -> None:
  """``ValueError`` unless ``mu{i}``/``sigma{i}`` are finite and ``sigma{i}`` is symmetric
  positive semi-definite up to ``tol`` relative to its largest entry or eigenvalue."""
  for name, a in ((f'mu{i}', mu), (f'sigma{i}', sigma)):
    check_finite(a, name)
  scale = np.abs(sigma).max()
  asym = np.abs(sigma - sigma.T).max()
  if asym > tol * scale:
    raise ValueError(f'sigma{i} is not symmetric (largest |S - S^T| {asym:.3g} against '
                     f'largest |S| {scale:.3g}): not a covariance.')
  w = np.linalg.eigvalsh((sigma + sigma.T) / 2)
  if w[0] < -tol * max(w[-1], 0.0):
    raise ValueError(f'sigma{i} is not positive semi-definite (eigenvalues from {w[0]:.3g} '
                     f'to {w[-1]:.3g}): not a covariance, or one computed in float32 (e.g. '
                     'as E[x x^T] - mu mu^T, whose round-off goes negative): recompute it '
                     'in float64 from the features (feature_statistics does).')


def _psd_sqrt(a: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh((a + a.T) / 2)
  return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance_from_features(real: np.ndarray, fake: np.ndarray) -> float:
  """Fréchet distance between the Gaussians fitted to two feature sets ``[n, d]``."""
  return frechet_distance(*feature_statistics(real), *feature_statistics(fake))
