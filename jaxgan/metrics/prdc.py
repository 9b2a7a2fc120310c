"""Precision, recall, density and coverage of generated samples in a feature space
(NumPy, float64): fidelity and diversity measured apart, where FID and KID mix them."""

from __future__ import annotations

import numpy as np

from jaxgan.arrays import check_features

# The neighbourhood size of Naeem et al. (and of the ``prdc`` package's example, and of
# StudioGAN's evaluation): each sample's ball reaches its 5th nearest neighbour.
NEAREST_K = 5


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Euclidean distances ``[len(a), len(b)]`` (``|a|^2 + |b|^2 - 2 a.b``, as scikit-learn's
  ``pairwise_distances``, which the ``prdc`` package calls)."""
  sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
  return np.sqrt(np.maximum(sq, 0.0))


def _radii(x: np.ndarray, k: int, block: int) -> np.ndarray:
  """Each row's distance to its ``k``-th nearest other row (itself, at distance 0, left
  out: the ``k + 1``-th smallest of its distances to all rows)."""
  out = []
  for i in range(0, len(x), block):
    d = _distances(x[i:i + block], x)
    out.append(np.partition(d, k, axis=1)[:, k])
  return np.concatenate(out)


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray,
                                      nearest_k: int = NEAREST_K,
                                      block: int = 1000) -> dict[str, float]:
  """The k-nearest-neighbour fidelity and diversity metrics of ``fake`` against ``real``.

  Each real sample ``X_i`` has the ball ``B(X_i, r_i)``, ``r_i`` its distance to its k-th
  nearest other real sample; each fake ``Y_j`` has ``B(Y_j, s_j)`` likewise among the
  fakes. With ``N`` real and ``M`` fake samples and ``1[.]`` strict (``d < r``):

  * precision = (1/M) sum_j 1[Y_j in some B(X_i, r_i)] (Kynkäänniemi et al.);
  * recall = (1/N) sum_i 1[X_i in some B(Y_j, s_j)] (Kynkäänniemi et al.);
  * density = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, r_i)] (Naeem et al.: about 1 for
    samples of the real distribution, above 1 where they crowd its dense parts);
  * coverage = (1/N) sum_i 1[some Y_j in B(X_i, r_i)] (Naeem et al.).

  The values of the ``prdc`` package's ``compute_prdc`` (Naeem et al.'s code), computed
  in blocks of ``block`` rows so that memory grows with ``block * max(N, M)``, not
  ``N * M``.

  Args:
    real: ``[N, d]`` features of real samples (N > nearest_k).
    fake: ``[M, d]`` features of generated samples (M > nearest_k).
    nearest_k: the neighbour that sets each ball's radius.
    block: rows of distances computed at once.

  Returns:
    ``{'precision', 'recall', 'density', 'coverage'}``, floats.

  References:
    Kynkäänniemi et al., Improved Precision and Recall Metric for Assessing Generative
    Models, NeurIPS 2019.
    Naeem et al., Reliable Fidelity and Diversity Metrics for Generative Models, ICML
    2020.
  """
  x = check_features(real, 'real features')
  y = check_features(fake, 'fake features')
  if x.shape[1] != y.shape[1]:
    raise ValueError(f'Feature dimensions differ: {x.shape} vs {y.shape}.')
  if nearest_k < 1 or block < 1:
    raise ValueError(f'nearest_k and block must be at least 1; got nearest_k={nearest_k}, '
                     f'block={block}.')
  if min(len(x), len(y)) <= nearest_k:
    raise ValueError(f'Each set needs more than nearest_k = {nearest_k} samples (a '
                     f'k-th nearest other sample); got {len(x)} real and {len(y)} fake.')
  r, s = _radii(x, nearest_k, block), _radii(y, nearest_k, block)
  in_real_balls = np.zeros(len(y), np.int64)  # per fake: the real balls holding it
  in_fake_ball = np.zeros(len(x), bool)  # per real: inside some fake's ball
  nearest_fake = np.full(len(x), np.inf)  # per real: its distance to the nearest fake
  for j in range(0, len(y), block):
    d = _distances(y[j:j + block], x)  # [fakes of the block, N]
    in_real_balls[j:j + block] = (d < r[None, :]).sum(1)
    in_fake_ball |= (d < s[j:j + block, None]).any(0)
    nearest_fake = np.minimum(nearest_fake, d.min(0))
  return {'precision': float(np.mean(in_real_balls > 0)),
          'recall': float(np.mean(in_fake_ball)),
          'density': float(in_real_balls.sum() / (nearest_k * len(y))),
          'coverage': float(np.mean(nearest_fake < r))}
