"""The digits study: main objectives x models on 28x28 digits, digit-FD over training.

For each ``model/objective:penalty`` run, the seeds train together in one vmapped compiled
step (:mod:`jaxgan.seeds`); every ``study.eval_every`` steps each seed's EMA generator
draws samples that are scored by digit-FD (:mod:`jaxgan.metrics.digit_classifier`)
against the held-out digits. Writes ``digits.json``, ``digits.md`` (final digit-FD and
digit-IS, mean +/- std over seeds, with the real-vs-real floor) and ``digits_fd.png``
(the curves).
"""

from __future__ import annotations

import json
import os
import time

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import metrics, seeds, train  # noqa: E402
from jaxgan.metrics import digit_classifier  # noqa: E402


def run_config(config: ml_collections.ConfigDict, model: str, run: str):
  """The training config of one run: ``config.study.models[model]`` + the objective."""
  c = ml_collections.ConfigDict(config.to_dict())
  objective, penalty = run.split(':')
  spec = config.study.models[model]
  for key, value in spec.items():
    if key != 'vmap_seeds':
      c[key] = value
  c.loss.name, c.penalty.name = objective, penalty
  c.penalty.weight = float(config.study.penalty_weights.get(penalty, 0.0))
  return c


def run_one(config: ml_collections.ConfigDict, seed_list: list[int], eval_every: int,
            num_samples: int, features: digit_classifier.Reference,
            vmap_seeds: bool = True) -> dict:
  """Trains the seeds (together when ``vmap_seeds``); digit-FD/IS every ``eval_every`` steps.

  ``vmap_seeds=False`` trains one seed after another: ``vmap`` over conv weights becomes a
  grouped convolution, which XLA:CPU runs far slower than S separate convolutions.
  """
  if not vmap_seeds and len(seed_list) > 1:
    runs = [run_one(config, [s], eval_every, num_samples, features) for s in seed_list]
    merged = {k: [sum((r[k][i] for r in runs), []) for i in range(len(runs[0]['steps']))]
              for k in ('digit_fd', 'digit_is')}
    return {'steps': runs[0]['steps'], **merged,
            'diverged_at': sum((r['diverged_at'] for r in runs), []),
            'seconds': sum(r['seconds'] for r in runs)}
  gan, _ = train.build(config)
  pipes = seeds.seed_pipelines(config.data.name, seed_list, batch_size=config.data.batch_size,
                               n_critic=config.n_critic, image_size=config.data.image_size)
  curve_steps, curve_fd, curve_is = [], [], []

  def score(s, states):
    if s % eval_every and s != config.num_steps:
      return
    x = seeds.generate(gan, states, num_samples, use_ema=float(config.ema_decay) > 0)
    fds, iss = [], []
    for xs in x:
      if not np.all(np.isfinite(xs)):
        fds.append(float('nan'))
        iss.append(float('nan'))
        continue
      f, logits = features(np.clip(xs, -1, 1))
      fds.append(metrics.frechet_distance_from_features(features.held, f))
      iss.append(metrics.inception_score(logits)[0])
    curve_steps.append(s)
    curve_fd.append(fds)
    curve_is.append(iss)

  start = time.perf_counter()
  _, diverged_at = seeds.train_seeds(gan, pipes, seed_list, config.num_steps,
                                     config.steps_per_call, callback=score)
  return {'steps': curve_steps, 'digit_fd': curve_fd, 'digit_is': curve_is,
          'diverged_at': [int(d) for d in diverged_at],
          'seconds': time.perf_counter() - start}


def _mean_std(values: list[float]) -> str:
  v = np.asarray(values, np.float64)
  v = v[np.isfinite(v)]
  return f'{v.mean():.1f} ± {v.std():.1f}' if len(v) else 'diverged'


def _write(report: dict, config: ml_collections.ConfigDict, floor: float, workdir: str):
  with open(os.path.join(workdir, 'digits.json'), 'w') as f:
    json.dump({'floor_real_vs_real': floor, 'runs': report}, f, indent=1)
  lines = [f'### digits 28x28 ({config.study.num_seeds} seeds, {config.num_steps} steps, '
           f'EMA generator, {config.study.num_samples} samples; digit-FD floor real vs real '
           f'{floor:.1f})', '',
           '| model | objective | penalty | digit-FD | best digit-FD (step) | digit-IS | '
           'diverged | s |', '|---|---|---|---|---|---|---|---|']
  for name, r in report.items():
    model, run = name.split('/')
    objective, penalty = run.split(':')
    mean_curve = np.nanmean(np.asarray(r['digit_fd'], np.float64), axis=1)
    best = int(np.nanargmin(mean_curve)) if np.isfinite(mean_curve).any() else 0
    lines.append(f'| {model} | {objective} | {penalty} | {_mean_std(r["digit_fd"][-1])} | '
                 f'{mean_curve[best]:.1f} ({r["steps"][best]}) | '
                 f'{_mean_std(r["digit_is"][-1])} | '
                 f'{sum(d > 0 for d in r["diverged_at"])}/{len(r["diverged_at"])} | '
                 f'{r["seconds"]:.0f} |')
  with open(os.path.join(workdir, 'digits.md'), 'w') as f:
    f.write('\n'.join(lines) + '\n')


def _plot(report: dict, floor: float, path: str):
  models = sorted({name.split('/')[0] for name in report})
  fig, axes = plt.subplots(1, len(models), figsize=(5 * len(models), 3.6), dpi=100,
                           squeeze=False)
  for ax, model in zip(axes[0], models, strict=True):
    for name, r in report.items():
      if name.startswith(model + '/'):
        fd = np.asarray(r['digit_fd'], np.float64)
        mean, std = np.nanmean(fd, 1), np.nanstd(fd, 1)
        ax.plot(r['steps'], mean, label=name.split('/')[1].replace(':none', ''))
        ax.fill_between(r['steps'], mean - std, mean + std, alpha=0.2)
    ax.axhline(floor, color='k', ls='--', lw=1, label='real vs real')
    ax.set_yscale('log')
    ax.set_title(f'{model}: digit-FD (mean ± std over seeds)')
    ax.set_xlabel('step')
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def run_study(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs every (model, objective:penalty) of ``config.study``; writes the report."""
  os.makedirs(workdir, exist_ok=True)
  features = digit_classifier.Reference(config.data.image_size)
  seed_list = list(range(config.study.num_seeds))
  report = {}
  for model in config.study.models:
    for run in config.study.runs:
      c = run_config(config, model, run)
      vmap_seeds = config.study.models[model].get('vmap_seeds', True)
      report[f'{model}/{run}'] = r = run_one(c, seed_list, config.study.eval_every,
                                             config.study.num_samples, features, vmap_seeds)
      print(f'{model}/{run}: digit-FD {_mean_std(r["digit_fd"][-1])}, '
            f'{r["seconds"]:.0f}s', flush=True)
      _write(report, config, features.floor, workdir)
  _plot(report, features.floor, os.path.join(workdir, 'digits_fd.png'))
  return report
