"""Evaluation of a training run's latest checkpoint.

* 2-D mixtures: the VEEGAN/PacGAN mode metrics of 10,000 samples.
* Grayscale digit images (``digits``, ``mnist``): digit-FD, digit-KID and digit-IS with the
  project's digit classifier, against held-out real digits, with the real-vs-real floor.
* Other image sets need the FID Inception network, which is not yet in jaxgan (see the
  README): the error says so instead of printing a number from another network.
"""

from __future__ import annotations

import json
import os

import numpy as np

from jaxgan import metrics, train
from jaxgan.metrics import digit_classifier


def evaluate(workdir: str, num_samples: int = 10000, seed: int = 0) -> dict:
  """Metrics of the latest checkpoint in ``workdir``; also written to ``eval.json``."""
  samples, pipeline, step_no, use_ema = train.sample_latest(workdir, num_samples, seed)
  if not np.all(np.isfinite(samples)):
    raise ValueError(f'{int((~np.isfinite(samples)).sum())} non-finite values in the samples '
                     f'of step {step_no}.')
  result = {'workdir': os.path.abspath(workdir), 'step': step_no,
            'dataset': pipeline.name, 'num_samples': num_samples, 'ema': use_ema}
  if pipeline.modes is not None:
    result.update(metrics.mode_metrics(samples, pipeline.modes, pipeline.mode_std))
  elif pipeline.name in ('digits', 'mnist') and pipeline.element_shape[-1] == 1:
    if samples.min() < -1.001 or samples.max() > 1.001:
      raise ValueError(f'Image samples must lie in [-1, 1]; got [{samples.min():.3f}, '
                       f'{samples.max():.3f}].')
    size = pipeline.element_shape[0]
    params = digit_classifier.load_or_train(size)
    (train_x, _), (held_x, _) = digit_classifier.split_digits(size)
    f_fake, logits = digit_classifier.features_and_logits(params, samples)
    f_held, _ = digit_classifier.features_and_logits(params, held_x)
    f_train, _ = digit_classifier.features_and_logits(params, train_x)
    result['digit_fd'] = metrics.frechet_distance_from_features(f_held, f_fake)
    result['digit_fd_floor_real_vs_real'] = metrics.frechet_distance_from_features(
        f_held, f_train)
    result['digit_kid'] = metrics.kernel_inception_distance(f_held, f_fake)[0]
    result['digit_is'] = metrics.inception_score(logits)[0]
    result['reference'] = (f'{len(held_x)} held-out scikit-learn digits at {size}px; '
                           'features: jaxgan digit classifier (64-d)')
  else:
    raise NotImplementedError(
        f'FID/KID/IS for {pipeline.name!r} need the FID InceptionV3 network '
        '(pt_inception-2015-12-05 weights), which jaxgan does not ship yet.')
  with open(os.path.join(workdir, 'eval.json'), 'w') as f:
    json.dump(result, f, indent=1)
  return result
