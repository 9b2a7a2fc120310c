"""Evaluation of a training run's latest checkpoint, by the evaluator its data names.

Each evaluator is a function ``(run, inception_weights) -> metrics`` of an :class:`EvalRun`
(the restored generator, its data, and its samples drawn on demand), chosen by name from
the pipeline (big_vision style: no branching on dataset names here):

* ``'modes'`` (2-D mixtures): the VEEGAN/PacGAN mode metrics.
* ``'digits'`` (grayscale digits: the offline digits, MNIST): digit-FD, digit-KID and
  digit-IS with the project's digit classifier, against held-out real digits of the same
  data set (scikit-learn's split held out from the classifier; MNIST's test split, with a
  classifier trained on MNIST's train split), with two references: real vs real (the
  classifier's training digits against the held-out) and the run's own training data
  against the held-out (what copying the data would score; the offline digits' GAN trains
  on all 1,797 digits, the held-out ones included, so there it is the lower); plus
  FID/KID/IS when Inception weights are given.
* ``'inception'`` (RGB sets: CIFAR-10, CelebA, ...): FID, KID and IS with the FID
  InceptionV3 (:mod:`jaxgan.metrics.inception`) against real images of the training
  split. Without the weights file the error names it and where to put it; no number from
  another network is printed under the name FID.
* ``'sr'`` (super-resolution): PSNR and SSIM of the held-out images on the Y channel with
  a border crop equal to the scale (the papers' convention) and on RGB (BasicSR's
  model-zoo convention), each named, with bicubic upscaling as the baseline row.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import numpy as np
from absl import logging

from jaxgan import data, files, inference, metrics, registry, sharding
from jaxgan import gan as gan_lib
from jaxgan.arrays import check_finite
from jaxgan.data import bicubic, paired
from jaxgan.metrics import digit_classifier, inception, kid, prdc
from jaxgan.metrics import sr as sr_metrics
from jaxgan.models import layers
from jaxgan.models import sr as sr_models

EVALUATORS = registry.Registry('evaluator')
# SR inputs are padded to a multiple of this many pixels per axis (see EvalRun.generate):
# at most 31 extra rows and columns, one compiled program per bucket of sizes.
PAD_TO = 32
# The fewest samples each evaluator can score, checked before any is drawn: an Inception
# Score (digit-IS included) averages 10 splits; mode coverage counts the modes among the
# first 2,500 samples (VEEGAN's protocol).
MIN_SAMPLES = {'inception': 10, 'digits': 10, 'modes': 2500}


class EvaluationError(ValueError):
  """The run cannot be scored as asked: non-finite samples, image samples outside
  [-1, 1], or too few samples."""


class NumSamplesError(EvaluationError):
  """Too few samples for the run's evaluator (the message says how many it needs)."""


@dataclasses.dataclass
class EvalRun:
  """What an evaluator sees of a run: its generator and data, samples on demand."""
  gan: gan_lib.GAN
  state: gan_lib.GANState
  pipe: data.Pipeline
  use_ema: bool
  num_samples: int
  seed: int = 0
  truncation: float | None = None  # the noise's (inference.sample)

  @functools.cached_property
  def assigned(self) -> np.ndarray | None:
    """What sample ``i`` was asked for: categorical code ``i mod K`` (InfoGAN), class
    ``i mod K`` (class-conditional models), ``None`` for unconditional models.

    A class-conditional model scored by FID/KID/IS (the ``'inception'`` evaluator) on a
    labelled set instead draws the classes of the real images it is compared with
    (:attr:`data.Pipeline.real_labels`; where there are fewer, each as often, and a random
    few once more), in a seeded order: both sides then have one class mix, which on a set
    with unequal classes ``i mod K`` would not (a folder of 160 and 18 digits against its
    own images drawn class by class: a Fréchet distance on pixels of 8.2 as ``i mod K``,
    0.03 in its mix).
    """
    k = self.gan.latent.assigned_classes
    if not k:
      return None
    if not self.classes_of_real or not self.num_samples:
      return np.arange(self.num_samples) % k
    y = np.asarray(self.pipe.real_labels(self.num_samples))
    rng = np.random.default_rng(self.seed)
    # More samples than real images (all of them, then): each real image's class as many
    # times, the rest a random few of them (not the first classes, a folder's come in
    # order); then shuffled, as the IS splits follow the order.
    repeats, rest = divmod(self.num_samples, len(y))
    y = np.concatenate([np.tile(y, repeats), rng.choice(y, rest, replace=False)])
    return y[rng.permutation(len(y))]

  @property
  def classes_of_real(self) -> bool:
    """Whether the samples' classes are those of the real images (:attr:`assigned`)."""
    return (self.gan.latent.conditioning in ('labels', 'generator_labels')
            and self.pipe.evaluator == 'inception' and self.pipe.real_labels is not None)

  @functools.cached_property
  def samples(self) -> np.ndarray:
    """``num_samples`` samples, each of its :attr:`assigned` class or code;
    :class:`EvaluationError` on any non-finite value."""
    codes = labels = None
    if self.gan.latent.conditioning == 'codes' and self.assigned is not None:
      codes = {'categorical': self.assigned}
    elif self.assigned is not None:
      labels = self.assigned
    x = inference.sample(self.gan, self.state, self.num_samples, self.use_ema, self.seed,
                         labels=labels, codes=codes, truncation=self.truncation)
    check_finite(x, f'The samples of step {int(self.state.step)}', error=EvaluationError)
    return x

  @functools.cached_property
  def padded_generator(self):
    """The jitted ``(state, lr, rows, cols) -> sr`` of an image zero-padded at the bottom
    and right, exact on its top-left ``rows x cols`` (``layers.valid_region``)."""
    def fn(state, lr, rows, cols):
      with layers.valid_region(rows, cols, lr.shape[1], lr.shape[2]):
        return gan_lib.generate(self.gan, state, lr, None, self.use_ema)
    return jax.jit(fn, compiler_options=sharding.default_compiler_options())

  @functools.cached_property
  def generate(self):
    """``lr [1, h, w, 3] -> sr`` with the run's generator (jitted, clipped to [-1, 1]).

    An SR generator's input is zero-padded at the bottom and right to a multiple of
    :data:`PAD_TO` pixels per axis and computed exactly on its valid region
    (``layers.valid_region``), so one program is compiled per bucket of image sizes rather
    than one per size (the papers' RRDBNet takes ~11 s to compile on 2 CPU cores; a test
    set's images come in many sizes). Other generators run at the input's own size.
    """
    if not isinstance(self.gan.generator, sr_models.PADDABLE):
      fn = jax.jit(lambda s, lr: gan_lib.generate(self.gan, s, lr, None, self.use_ema),
                   compiler_options=sharding.default_compiler_options())
      return lambda lr: np.clip(np.asarray(fn(self.state, lr)), -1.0, 1.0)

    def run(lr: np.ndarray) -> np.ndarray:
      lr = np.asarray(lr, np.float32)
      h, w = lr.shape[1:3]
      padded = np.pad(lr, ((0, 0), (0, -h % PAD_TO), (0, -w % PAD_TO), (0, 0)))
      out = np.asarray(self.padded_generator(self.state, padded, h, w))
      s = out.shape[1] // padded.shape[1]
      return np.clip(out[:, :h * s, :w * s], -1.0, 1.0)
    return run

  def upscale_whole(self, lr: np.ndarray) -> np.ndarray:
    """``lr [h, w, 3] -> [h * scale, w * scale, 3]``: the generator on the whole image at
    once (exact; what the held-out metrics score)."""
    return self.generate(np.asarray(lr, np.float32)[None])[0]


def _check_images(samples: np.ndarray) -> None:
  """:class:`EvaluationError` unless image samples lie in [-1, 1] (a generator without
  its tanh), before any scoring."""
  if samples.min() < -1.001 or samples.max() > 1.001:
    raise EvaluationError(f'Image samples must lie in [-1, 1]; got [{samples.min():.3f}, '
                          f'{samples.max():.3f}].')


@EVALUATORS.register('inception')
def inception_metrics(run: EvalRun, inception_weights: str | None = None) -> dict[str, Any]:
  """FID/KID/IS of the samples against as many real images, with the FID Inception."""
  samples, pipe = run.samples, run.pipe
  _check_images(samples)
  variables = inception.load(inception_weights)
  real = pipe.real_samples(len(samples))
  out = inception.fid_kid_is(variables, real, samples)
  split = pipe.evaluator_args.get('split')
  subset = 'all' if len(real) == pipe.num_examples else 'a fixed random subset'
  if split:
    source = f'the {split} split, {subset}'
  else:  # a finite set with no split (the offline digits): the run's own training images
    source = f"the run's training images, {subset}"
  what = 'images of the folder' if pipe.name == 'images' else f'{pipe.name} images'
  out['fid_reference'] = (f'{len(real)} real {what} ({source}); pytorch-fid '
                          f'InceptionV3 ({inception.WEIGHTS_FILE}), bilinear resize to 299, '
                          '8-bit quantized samples')
  if run.classes_of_real:
    out['fid_reference'] += "; the samples' classes those of the real images"
  return out


def _unused_inception(inception_weights: str | None, what: str) -> None:
  if inception_weights:
    logging.warning('Inception weights %s not used: this run is scored by %s, no FID, KID '
                    'or IS.', inception_weights, what)


@EVALUATORS.register('modes')
def mode_metrics(run: EvalRun, inception_weights: str | None = None) -> dict[str, Any]:
  """The VEEGAN/PacGAN mode metrics of 2-D samples."""
  _unused_inception(inception_weights, 'mode metrics of 2-D samples')
  return metrics.mode_metrics(run.samples, run.pipe.evaluator_args['modes'],
                              run.pipe.evaluator_args['std'])


def digit_reference(image_size: int) -> digit_classifier.Reference:
  """The digit classifier with the held-out digits at ``image_size`` (digit-FD's
  reference, shared by evaluation and the digits study)."""
  return digit_classifier.Reference(*data.sklearn_digit_reference(image_size))


def _held_from_the_run(pipe: data.Pipeline, held_x: np.ndarray) -> str:
  """Whether the run trained on digit-FD's held-out digits: a TFDS set's are its test
  split (held out unless the run's split takes from it); the offline digits' are counted
  among the run's training images."""
  split = pipe.evaluator_args.get('split')
  if split is not None:
    return (f"; the run trains on the {split!r} split, which holds test digits: they are "
            'not held out from the GAN' if 'test' in split else
            f"; the run trains on the {split!r} split, without them")
  training = {x.tobytes() for x in np.asarray(pipe.real_samples(pipe.num_examples))}
  shared = sum(x.tobytes() in training for x in np.asarray(held_x, np.float32))
  return f"; {shared} of them are among the run's {pipe.num_examples} training images"


@EVALUATORS.register('digits')
def digit_metrics(run: EvalRun, inception_weights: str | None = None) -> dict[str, Any]:
  """digit-FD/KID/IS and digit precision/recall/density/coverage against the held-out
  digits, in the classifier's features (and FID/KID/IS/... if weights are given)."""
  samples = run.samples
  _check_images(samples)
  # The data set's own reference (scikit-learn's split; MNIST's train and test splits).
  ref = digit_classifier.Reference(*run.pipe.evaluator_args['digit_reference']())
  f_fake, logits = ref(samples)
  # What a generator that copied its training images would score: those images (a fixed
  # subset as large as the samples) against the same held-out digits. The offline digits'
  # GAN trains on all 1,797, the 597 held out from the classifier included, so from 1,797
  # samples on (all of them) this lies below the real-vs-real value (3.3 against 7.3 at
  # 28 px); for MNIST (test split held out) it is close to it.
  f_train = ref(run.pipe.real_samples(len(samples)))[0]
  out = {'digit_fd': metrics.frechet_distance_from_features(ref.held, f_fake),
         'digit_fd_floor_real_vs_real': ref.floor,
         'digit_fd_training_data': metrics.frechet_distance_from_features(ref.held, f_train),
         'digit_kid': metrics.kernel_inception_distance(ref.held, f_fake)[0],
         'digit_kid_subset_size': kid.kid_subset_size(len(ref.held), len(f_fake)),
         'digit_is': metrics.inception_score(logits)[0],
         **{f'digit_{k}': v for k, v in metrics.precision_recall_density_coverage(
             ref.held, f_fake).items()},
         'digit_prdc_nearest_k': prdc.NEAREST_K,
         'reference': ref.description + _held_from_the_run(run.pipe, ref.held_x)}
  if run.assigned is not None:
    predicted = logits.argmax(1)
    if run.gan.latent.conditioning == 'codes':
      out.update(code_class_matching(run.assigned, predicted, run.gan.latent.num_categorical))
    else:
      out.update(class_fidelity(run.assigned, predicted, run.gan.latent.num_classes))
  if inception_weights:
    out.update(inception_metrics(run, inception_weights))
  return out


def class_fidelity(asked: np.ndarray, predicted: np.ndarray,
                   num_classes: int) -> dict[str, Any]:
  """The share of samples asked for class ``c`` that the classifier labels ``c``: per class
  and its mean over classes."""
  empty = [c for c in range(num_classes) if not np.any(asked == c)]
  if empty:
    raise ValueError(f'Class fidelity needs samples of every class; classes {empty} have '
                     f'none: draw at least {num_classes} samples (sample i has class i mod '
                     f'{num_classes}).')
  per_class = [float(np.mean(predicted[asked == c] == c)) for c in range(num_classes)]
  return {'class_fidelity': float(np.mean(per_class)), 'class_fidelity_per_class': per_class}


def code_class_matching(codes: np.ndarray, predicted: np.ndarray,
                        num_codes: int) -> dict[str, Any]:
  """How well an unsupervised categorical code recovers the classes: the accuracy of the
  best one-to-one matching of codes to classes (Hungarian algorithm on the confusion
  matrix), and the matching."""
  from scipy.optimize import linear_sum_assignment
  num_classes = max(num_codes, int(predicted.max()) + 1)
  confusion = np.zeros((num_codes, num_classes), np.int64)
  np.add.at(confusion, (codes, predicted), 1)
  rows, cols = linear_sum_assignment(-confusion)
  return {'code_accuracy': float(confusion[rows, cols].sum() / len(codes)),
          'code_to_class': {int(r): int(c) for r, c in zip(rows, cols, strict=True)}}


def sr_table(pairs: list[tuple[np.ndarray, np.ndarray]], upscalers: dict,
             scale: int) -> dict[str, dict[str, Any]]:
  """PSNR/SSIM of each upscaler ``name -> fn(lr) -> sr`` on ``(lr, hr)`` pairs, in both
  conventions (Y channel and RGB, border crop = ``scale``), with the images' mean."""
  out = {}
  for name, fn in upscalers.items():
    srs = [fn(lr) for lr, _ in pairs]
    row = {}
    for convention in sr_metrics.CONVENTIONS:
      values = [sr_metrics.sr_metrics(sr, hr, crop_border=scale, convention=convention)
                for sr, (_, hr) in zip(srs, pairs, strict=True)]
      row[convention] = {'psnr': float(np.mean([v['psnr'] for v in values])),
                         'ssim': float(np.mean([v['ssim'] for v in values])),
                         'convention': values[0]['convention']}
    out[name] = row
  return out


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
  """The baseline: MATLAB bicubic upscaling, clipped to [-1, 1]."""
  return np.clip(bicubic.imresize(lr, scale), -1.0, 1.0)


@EVALUATORS.register('sr')
def sr_evaluation(run: EvalRun, inception_weights: str | None = None) -> dict[str, Any]:
  """PSNR/SSIM of the generator and of bicubic upscaling on the held-out images."""
  _unused_inception(inception_weights, 'PSNR and SSIM')
  scale = run.pipe.evaluator_args['scale']
  pairs = run.pipe.evaluator_args['eval_pairs']()
  need = paired.eval_min_size(scale)
  for i, (_, hr) in enumerate(pairs):  # a TFDS set's, read only now
    if min(hr.shape[:2]) < need:
      raise EvaluationError(
          f'Held-out image {i} is {hr.shape[0]}x{hr.shape[1]} (cut to a multiple of '
          f'{scale}): too small to score at x{scale}, whose PSNR and SSIM crop {scale} '
          f'pixels off each edge and need {need} on a side. Evaluate on larger images '
          '(the data name\'s eval_split).')
  table = sr_table(pairs, {  # the baseline first, as every report lists it
      'bicubic': lambda lr: bicubic_upscale(lr, scale),
      'model': run.upscale_whole}, scale)
  return {'num_images': len(pairs), 'scale': scale, **table}


def check_num_samples(num_samples: int, evaluator: str, latent: gan_lib.Latent) -> None:
  """:class:`NumSamplesError` unless ``num_samples`` is enough for ``evaluator``
  (:data:`MIN_SAMPLES`) and, for a class-conditional model, gives every class (or
  categorical code) a sample. Super-resolution scores its held-out images and draws no
  samples."""
  if evaluator == 'sr':
    return
  need, why = MIN_SAMPLES.get(evaluator, 2), f'the {evaluator!r} evaluator'
  classes = latent.assigned_classes
  if classes > need:
    need, why = classes, f'one sample of each of the {classes} classes or codes'
  if num_samples < need:
    raise NumSamplesError(f'num_samples = {num_samples} is too few: {why} needs at least '
                          f'{need} (thousands, for meaningful scores).')


def evaluate(workdir: str, num_samples: int = 10000, seed: int = 0,
             inception_weights: str | None = None, step: int | None = None,
             truncation: float | None = None) -> dict:
  """Metrics of the latest checkpoint in ``workdir`` (or of the kept one of ``step``),
  with the step, the sample count and the seed; written to ``eval.json`` (replacing an
  earlier evaluation's) and appended to ``evals.jsonl``, which keeps every evaluation.

  Args:
    workdir: a run of ``launch.train``.
    num_samples: generated samples (and real ones for FID). Class-conditional models
      scored by FID/KID/IS draw the classes of those real images (:attr:`EvalRun.assigned`);
      by digit-FD, every class equally (sample ``i`` has class ``i mod K``).
    seed: the noise seed.
    inception_weights: the FID Inception weights (``.pth`` or ``.npz``); default the
      jaxgan cache. Used for RGB sets always, for grayscale digits when given.
    step: a checkpoint the run keeps, restored with the config that trained it
      (:func:`jaxgan.inference.restore`); default the latest.
    truncation: the truncation trick (:func:`jaxgan.inference.sample`), recorded in the
      result; default none.

  Raises:
    NumSamplesError: ``num_samples`` below what the evaluator needs, before any sample is
      drawn (:func:`check_num_samples`).
    FileNotFoundError, torch_weights.WeightsError: Inception weights that are needed and
      missing or unusable, also before any sample is drawn.
    EvaluationError: non-finite samples, or image samples outside [-1, 1].
    DataError: a folder of super-resolution images that holds out other files than the
      run's training did (:func:`data.check_held_out`).
  """
  inference.check_truncation(truncation)  # before the work
  gan, pipe, state, config = inference.restore(workdir, step=step)
  data.check_held_out(pipe, workdir)
  check_num_samples(num_samples, pipe.evaluator, gan.latent)
  if pipe.evaluator == 'inception' or (pipe.evaluator == 'digits' and inception_weights):
    inception.load(inception_weights)  # a missing or bad file fails now, before the work
  if truncation is not None and pipe.evaluator == 'sr':
    raise EvaluationError('A super-resolution model draws no noise: truncation does not '
                          'apply to it.')
  run = EvalRun(gan, state, pipe, inference.uses_ema(config), num_samples, seed, truncation)
  result = {'workdir': os.path.abspath(workdir), 'step': int(state.step), 'dataset': pipe.name,
            'ema': run.use_ema, 'evaluator': pipe.evaluator}
  if pipe.evaluator != 'sr':  # super-resolution scores its held-out images instead
    result.update(num_samples=num_samples, seed=seed)
  if truncation is not None:
    result['truncation'] = truncation
  evaluator = EVALUATORS.entry(pipe.evaluator)
  result.update(evaluator(run, inception_weights=inception_weights))
  files.write_json(os.path.join(workdir, 'eval.json'), result)
  files.append_json_line(os.path.join(workdir, 'evals.jsonl'), result)
  return result


def evaluate_kept(workdir: str, num_samples: int = 10000, seed: int = 0,
                  inception_weights: str | None = None,
                  truncation: float | None = None) -> list[dict]:
  """:func:`evaluate` of every checkpoint the run keeps, the oldest first: the scores along
  its training (FID by step), each restored with the config that trained it and appended
  to ``evals.jsonl`` as it is made; ``eval.json`` ends as the latest step's. The
  arguments are :func:`evaluate`'s; a run with no checkpoint raises its
  ``FileNotFoundError``."""
  steps, results = inference.kept_steps(workdir), []
  for i, step in enumerate(steps or [None]):
    if steps:  # each may take minutes: which one, of how many
      logging.info('Evaluating the checkpoint of step %d (%d of %d) in %s.', step, i + 1,
                   len(steps), workdir)
    results.append(evaluate(workdir, num_samples, seed, inception_weights, step, truncation))
  return results
