"""Inception Score from class logits (NumPy, float64)."""

from __future__ import annotations

import numpy as np

from jaxgan.arrays import check_features


def inception_score(logits: np.ndarray, num_splits: int = 10,
                    shuffle_seed: int | None = None) -> tuple[float, float]:
  """IS = exp(E_x KL(p(y|x) || p(y))), mean and std over ``num_splits`` splits.

  Split ``i`` is ``logits[i * n // num_splits:(i + 1) * n // num_splits]``, as in the
  reference code of Salimans et al. (and pytorch-gan-metrics), so the score is theirs for
  any ``n``, not only for multiples of ``num_splits``. The splits follow the samples'
  order: samples grouped by class (features extracted class by class) give each split a
  few classes and a far lower score. jaxgan's evaluators draw class ``i mod K`` for sample
  ``i``, or the real images' classes in a shuffled order, so every split holds them all.
  ``shuffle_seed``: permute the samples first with
  ``np.random.RandomState(shuffle_seed)``, as torch-fidelity does
  (its default seed: 2020; from the same logits its score is then this one, though
  its own Inception resizes images as TensorFlow 1 did, so its logits of images that
  are not 299 px differ slightly from pytorch-fid's and jaxgan's).

  Raises:
    ValueError: fewer samples than splits (an empty split would make the score NaN).

  References:
    Salimans et al., Improved Techniques for Training GANs, NeurIPS 2016.
  """
  z = check_features(logits, 'logits')
  if num_splits < 1:
    raise ValueError(f'num_splits must be at least 1; got {num_splits}.')
  if len(z) < num_splits:
    raise ValueError(f'An Inception Score (or digit-IS) of {len(z)} samples in {num_splits} '
                     f'splits: give at least {num_splits} samples (thousands, for a '
                     'meaningful score).')
  if shuffle_seed is not None:
    z = z[np.random.RandomState(shuffle_seed).permutation(len(z))]
  z = z - z.max(1, keepdims=True)
  log_p = z - np.log(np.exp(z).sum(1, keepdims=True))
  n, scores = len(log_p), []
  for i in range(num_splits):
    part = log_p[i * n // num_splits:(i + 1) * n // num_splits]
    p = np.exp(part)
    log_marginal = np.log(p.mean(0) + 1e-300)
    scores.append(np.exp(np.mean(np.sum(p * (part - log_marginal), axis=1))))
  return float(np.mean(scores)), float(np.std(scores))
