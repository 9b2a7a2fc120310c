"""Evaluation of a training run's latest checkpoint.

* 2-D mixtures: the VEEGAN/PacGAN mode metrics of 10,000 samples.
* Grayscale digit images (``digits``, ``mnist``): digit-FD, digit-KID and digit-IS with the
  project's digit classifier, against held-out real digits, with the real-vs-real floor.
* FID, KID and IS with the FID InceptionV3 (:mod:`jaxgan.metrics.inception`) for RGB sets
  (CIFAR-10, CelebA), and for the digit sets when ``inception_weights`` is given, against
  real images of the training split. Without the weights file the error names it and
  where to put it; no number from another network is printed under the name FID.
"""

from __future__ import annotations

import json
import os

import numpy as np

from jaxgan import data, metrics, train
from jaxgan.data import images
from jaxgan.metrics import digit_classifier, inception


def real_images(workdir: str, num: int) -> tuple[np.ndarray, str]:
  """``num`` real images of the run's dataset (a fixed random subset of its split)."""
  config = train.load_config(workdir)
  name, size = config.data.name, config.data.get('image_size') or None
  if name == 'digits':
    split, source = 'all', images.load_digits(size or 8)[0]
    take = lambda idx: source[idx]
  else:
    split = config.data.get('split', 'train')
    source = images.TFDSSource(name, split, config.data.get('data_dir') or None, size)
    take = lambda idx: source[idx][0]
  x = take(np.sort(np.random.default_rng(0).permutation(len(source))[:num]))
  return x, f'{len(x)} real {name} images ({split} split)'


def inception_metrics(workdir: str, samples: np.ndarray, weights: str | None) -> dict:
  """FID/KID/IS of ``samples`` against the run's real images, with the FID Inception."""
  variables = inception.load(weights)
  real, what = real_images(workdir, len(samples))
  out = inception.fid_kid_is(variables, real, samples)
  out['fid_reference'] = (f'{what}; pytorch-fid InceptionV3 ({inception.WEIGHTS_FILE}), '
                          'bilinear resize to 299, 8-bit quantized samples')
  return out


def evaluate(workdir: str, num_samples: int = 10000, seed: int = 0,
             inception_weights: str | None = None) -> dict:
  """Metrics of the latest checkpoint in ``workdir``; also written to ``eval.json``.

  Args:
    workdir: a run of ``launch.train``.
    num_samples: generated samples (and real ones for FID).
    seed: the noise seed.
    inception_weights: the FID Inception weights (``.pth`` or ``.npz``); default the
      jaxgan cache. Used for RGB sets always, for grayscale digits when given.
  """
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
    ref = digit_classifier.Reference(pipeline.element_shape[0])
    f_fake, logits = ref(samples)
    result['digit_fd'] = metrics.frechet_distance_from_features(ref.held, f_fake)
    result['digit_fd_floor_real_vs_real'] = ref.floor
    result['digit_kid'] = metrics.kernel_inception_distance(ref.held, f_fake)[0]
    result['digit_is'] = metrics.inception_score(logits)[0]
    result['reference'] = ref.description
    if inception_weights:
      result.update(inception_metrics(workdir, samples, inception_weights))
  elif pipeline.name in data.names():
    result.update(inception_metrics(workdir, samples, inception_weights))
  with open(os.path.join(workdir, 'eval.json'), 'w') as f:
    json.dump(result, f, indent=1)
  return result
