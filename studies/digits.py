"""Study kind ``'digits'``: objectives x models on 28x28 digits, digit-FD over training.

For each run the seeds train together in one vmapped compiled step (:mod:`jaxgan.seeds`),
or one after another where the group sets ``vmap_seeds=False``; every
``study.eval_every`` steps (at the end of the compiled call that reaches the multiple) and
at the end, each seed's generator (EMA when the run keeps one) draws
``study.num_samples`` samples scored by digit-FD against the held-out digits
(:func:`jaxgan.evaluate.digit_reference`). The figure: the curves of each group, mean ±
std over seeds, with the real-vs-real reference.
"""

from __future__ import annotations

import os
import time
import warnings

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import build, evaluate, inference, metrics, plots, seeds  # noqa: E402
from studies import tables  # noqa: E402

# What a resumed study keeps of the context of its finished runs: nothing (the reference
# is made again).
RESUME_CONTEXT = ()
EVALUATOR = 'digits'  # the data it scores: digits (digit-FD)


def image_size(config: ml_collections.ConfigDict) -> int:
  """The study's image size: its data's ``image_size``, or the data set's own where the
  config leaves the field out."""
  return build.pipeline(config).element_shape[0]


def prepare(config: ml_collections.ConfigDict) -> dict:
  """The digit-FD reference at the study's image size."""
  return {'reference': evaluate.digit_reference(image_size(config))}


def run_one(config: ml_collections.ConfigDict, seed_list: list[int],
            study: ml_collections.ConfigDict, context: dict, vmap_seeds: bool = True) -> dict:
  """Trains the seeds (together when ``vmap_seeds``); digit-FD/IS every ``eval_every``.

  ``vmap_seeds=False`` trains one seed after another: ``vmap`` over conv weights becomes a
  grouped convolution, which XLA:CPU runs far slower than S separate convolutions.
  """
  if not vmap_seeds and len(seed_list) > 1:
    runs = [run_one(config, [s], study, context) for s in seed_list]
    merged = {k: [sum((r[k][i] for r in runs), []) for i in range(len(runs[0]['steps']))]
              for k in ('digit_fd', 'digit_is')}
    return {'steps': runs[0]['steps'], **merged,
            'diverged_at': sum((r['diverged_at'] for r in runs), []),
            'seconds': sum(r['seconds'] for r in runs)}
  ref = context['reference']
  gan, _ = build.build(config)
  curve_steps, curve_fd, curve_is = [], [], []
  last = [0]  # the step of the previous call: calls end at multiples of steps_per_call

  def score(s, states):
    crossed = s // study.eval_every > last[0] // study.eval_every
    last[0] = s
    if not crossed and s != config.num_steps:
      return
    x = seeds.generate(gan, states, study.num_samples, use_ema=inference.uses_ema(config))
    fds, iss = [], []
    for xs in x:
      if not np.all(np.isfinite(xs)):
        fds.append(float('nan'))
        iss.append(float('nan'))
        continue
      f, logits = ref(np.clip(xs, -1, 1))
      fds.append(metrics.frechet_distance_from_features(ref.held, f))
      iss.append(metrics.inception_score(logits)[0])
    curve_steps.append(s)
    curve_fd.append(fds)
    curve_is.append(iss)

  start = time.perf_counter()
  _, diverged_at = seeds.train_seeds(gan, seeds.pipelines(config, seed_list), seed_list,
                                     config.num_steps, config.steps_per_call, callback=score)
  return {'steps': curve_steps, 'digit_fd': curve_fd, 'digit_is': curve_is,
          'diverged_at': [int(d) for d in diverged_at],
          'seconds': time.perf_counter() - start}


def summary(row: dict) -> str:
  return f'digit-FD {tables.mean_std(row["digit_fd"][-1])}'


def _sampler(config: ml_collections.ConfigDict) -> str:
  """Which generator the study's samples come from (a group may set its own EMA)."""
  ema = {float(dict(g).get('ema_decay', config.ema_decay)) > 0
         for g in config.study.groups.values()}
  return {frozenset({True}): 'EMA generator',
          frozenset({False}): 'trained generator (no EMA)'}.get(
              frozenset(ema), 'EMA generator where the run keeps one')


def title(config: ml_collections.ConfigDict) -> str:
  size = image_size(config)
  return (f'digits {size}x{size} '
          f'({config.study.num_seeds} seeds, {_sampler(config)}, {config.study.num_samples} '
          'samples; mean ± std over seeds, std with ddof=0)')


def report_extras(config: ml_collections.ConfigDict, context: dict) -> dict:
  del config
  return {'floor_real_vs_real': context['reference'].floor}


def table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
  header = ['group', 'objective', 'penalty', 'steps', 'digit-FD', 'best digit-FD (step)',
            'digit-IS', 'diverged', 's']
  body = []
  for r in rows:
    with warnings.catch_warnings():  # a step where every seed had diverged: NaN, as meant
      warnings.simplefilter('ignore', RuntimeWarning)
      mean_curve = np.nanmean(np.asarray(r['digit_fd'], np.float64), axis=1)
    scored = np.isfinite(mean_curve).any()  # else every seed diverged before any score
    best = int(np.nanargmin(mean_curve)) if scored else 0
    body.append([r['group'], r['objective'], r['penalty'], r['steps'][-1],
                 tables.mean_std(r['digit_fd'][-1]),
                 f'{mean_curve[best]:.1f} ({r["steps"][best]})' if scored else 'diverged',
                 tables.mean_std(r['digit_is'][-1]),
                 f'{sum(d > 0 for d in r["diverged_at"])}/{len(r["diverged_at"])}',
                 f'{r["seconds"]:.0f}'])
  return header, body


def figures(config: ml_collections.ConfigDict, rows: list[dict], group: str, workdir: str,
            context: dict) -> None:
  """``digits_fd_{group}.png``: the digit-FD curves of the group's runs."""
  floor = context['reference'].floor
  fig, ax = plt.subplots(figsize=(5, 3.6), dpi=100)
  for r in rows:
    fd = np.asarray(r['digit_fd'], np.float64)
    mean, std = np.nanmean(fd, 1), np.nanstd(fd, 1)
    ax.plot(r['steps'], mean, label=r['objective'] + (
        '' if r['penalty'] == 'none' else f'+{r["penalty"]}'))
    ax.fill_between(r['steps'], mean - std, mean + std, alpha=0.2)
  ax.axhline(floor, color='k', ls='--', lw=1, label='real vs real')
  ax.set_yscale('log')
  ax.set_title(f'{group}: digit-FD (mean ± std over seeds)')
  ax.set_xlabel('step')
  ax.legend(fontsize=7)
  fig.tight_layout()
  plots.save_figure(fig, os.path.join(workdir, f'digits_fd_{group}.png'))
