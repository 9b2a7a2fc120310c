"""Evaluation of a training run's latest checkpoint, by the evaluator its data names.

Each evaluator is a function ``(samples, pipeline, workdir, options) -> metrics`` chosen
by name from the pipeline (big_vision style: no branching on dataset names here):

* ``'modes'`` (2-D mixtures): the VEEGAN/PacGAN mode metrics.
* ``'digits'`` (grayscale digits: the offline digits, MNIST): digit-FD, digit-KID and
  digit-IS with the project's digit classifier, against held-out real digits, with the
  real-vs-real floor; plus FID/KID/IS when Inception weights are given.
* ``'inception'`` (RGB sets: CIFAR-10, CelebA, ...): FID, KID and IS with the FID
  InceptionV3 (:mod:`jaxgan.metrics.inception`) against real images of the training
  split. Without the weights file the error names it and where to put it; no number from
  another network is printed under the name FID.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from jaxgan import data, inference, metrics, registry
from jaxgan.data import images
from jaxgan.metrics import digit_classifier, inception

EVALUATORS = registry.Registry('evaluator')


def _check_images(samples: np.ndarray) -> None:
  if samples.min() < -1.001 or samples.max() > 1.001:
    raise ValueError(f'Image samples must lie in [-1, 1]; got [{samples.min():.3f}, '
                     f'{samples.max():.3f}].')


@EVALUATORS.register('inception')
def inception_metrics(samples: np.ndarray, pipe: data.Pipeline,
                      inception_weights: str | None = None) -> dict[str, Any]:
  """FID/KID/IS of ``samples`` against as many real images, with the FID Inception."""
  _check_images(samples)
  variables = inception.load(inception_weights)
  real = pipe.real_samples(len(samples))
  out = inception.fid_kid_is(variables, real, samples)
  split = pipe.evaluator_args.get('split', 'train')
  out['fid_reference'] = (f'{len(real)} real {pipe.name} images (a fixed random subset of '
                          f'the {split} split); pytorch-fid InceptionV3 '
                          f'({inception.WEIGHTS_FILE}), bilinear resize to 299, 8-bit '
                          'quantized samples')
  return out


@EVALUATORS.register('modes')
def mode_metrics(samples: np.ndarray, pipe: data.Pipeline,
                 inception_weights: str | None = None) -> dict[str, Any]:
  """The VEEGAN/PacGAN mode metrics of 2-D samples."""
  del inception_weights
  return metrics.mode_metrics(samples, pipe.evaluator_args['modes'],
                              pipe.evaluator_args['std'])


def digit_reference(image_size: int) -> digit_classifier.Reference:
  """The digit classifier with the held-out digits at ``image_size`` (digit-FD's
  reference, shared by evaluation and the digits study)."""
  train, (held_x, _) = images.digits_split(image_size)
  return digit_classifier.Reference(train, held_x)


@EVALUATORS.register('digits')
def digit_metrics(samples: np.ndarray, pipe: data.Pipeline,
                  inception_weights: str | None = None) -> dict[str, Any]:
  """digit-FD/KID/IS against the held-out digits (and FID/KID/IS if weights are given)."""
  _check_images(samples)
  ref = digit_reference(pipe.element_shape[0])
  f_fake, logits = ref(samples)
  out = {'digit_fd': metrics.frechet_distance_from_features(ref.held, f_fake),
         'digit_fd_floor_real_vs_real': ref.floor,
         'digit_kid': metrics.kernel_inception_distance(ref.held, f_fake)[0],
         'digit_is': metrics.inception_score(logits)[0],
         'reference': ref.description}
  if inception_weights:
    out.update(inception_metrics(samples, pipe, inception_weights))
  return out


def evaluate(workdir: str, num_samples: int = 10000, seed: int = 0,
             inception_weights: str | None = None) -> dict:
  """Metrics of the latest checkpoint in ``workdir``; also written to ``eval.json``.

  Args:
    workdir: a run of ``launch.train``.
    num_samples: generated samples (and real ones for FID). Class-conditional models
      sample every class equally (sample ``i`` has class ``i mod K``).
    seed: the noise seed.
    inception_weights: the FID Inception weights (``.pth`` or ``.npz``); default the
      jaxgan cache. Used for RGB sets always, for grayscale digits when given.
  """
  gan, pipe, state, config = inference.restore(workdir)
  labels = None
  if gan.latent.conditioning in ('labels', 'generator_labels'):
    labels = np.arange(num_samples) % gan.latent.num_classes
  use_ema = inference.uses_ema(config)
  samples = inference.sample(gan, state, num_samples, use_ema, seed, labels=labels)
  step_no = int(state.step)
  if not np.all(np.isfinite(samples)):
    raise ValueError(f'{int((~np.isfinite(samples)).sum())} non-finite values in the samples '
                     f'of step {step_no}.')
  result = {'workdir': os.path.abspath(workdir), 'step': step_no, 'dataset': pipe.name,
            'num_samples': num_samples, 'ema': use_ema, 'evaluator': pipe.evaluator}
  evaluator = EVALUATORS.entry(pipe.evaluator)
  result.update(evaluator(samples, pipe, inception_weights=inception_weights))
  with open(os.path.join(workdir, 'eval.json'), 'w') as f:
    json.dump(result, f, indent=1)
  return result
