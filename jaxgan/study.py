"""The objective study: every objective x penalty on 2-D mixtures, seeds vmapped.

For each dataset and each ``objective:penalty`` run, all seeds train together in one
compiled step (:mod:`jaxgan.seeds`); each seed's generator then draws 10,000 samples that
are scored with the VEEGAN/PacGAN mode metrics. Results go to ``WORKDIR/study.json``,
``WORKDIR/study.md`` and one scatter panel figure per dataset.
"""

from __future__ import annotations

import json
import math
import os
import time

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
from absl import logging  # noqa: E402

from jaxgan import metrics, seeds, train  # noqa: E402

METRIC_KEYS = ('modes', 'hq_percent', 'strict_modes', 'reverse_kl')


def run_config(base: ml_collections.ConfigDict, dataset: str, objective: str, penalty: str,
               penalty_weights: dict) -> ml_collections.ConfigDict:
  """The training config of one run of the study."""
  c = ml_collections.ConfigDict(base.to_dict())
  c.data.name = dataset
  c.loss.name = objective
  c.penalty.name = penalty
  c.penalty.weight = float(penalty_weights.get(penalty, 0.0))
  return c


def run_one(config: ml_collections.ConfigDict, seed_list: list[int],
            num_samples: int = 10000) -> tuple[list[dict], np.ndarray, float]:
  """Trains ``seed_list`` together; returns per-seed metrics, samples [S, n, 2], seconds."""
  gan, pipeline = train.build(config)
  pipelines = seeds.seed_pipelines(config.data.name, seed_list,
                                   batch_size=config.data.batch_size, n_critic=config.n_critic)
  start = time.perf_counter()
  states, diverged_at = seeds.train_seeds(gan, pipelines, seed_list, config.num_steps,
                                          config.steps_per_call)
  seconds = time.perf_counter() - start
  samples = seeds.generate(gan, states, num_samples, use_ema=float(config.ema_decay) > 0)
  results = []
  for i, x in enumerate(samples):
    if diverged_at[i] or not np.all(np.isfinite(x)):
      results.append({'diverged_at': int(diverged_at[i]) or -1})
      continue
    results.append(metrics.mode_metrics(x, pipeline.modes, pipeline.mode_std))
  return results, samples, seconds


def summarize(results: list[dict]) -> dict:
  """Mean and std over the seeds that did not diverge, and how many diverged."""
  ok = [r for r in results if 'diverged_at' not in r]
  out = {'seeds': len(results), 'diverged': len(results) - len(ok)}
  for k in METRIC_KEYS:
    vals = np.array([r[k] for r in ok]) if ok else np.array([np.nan])
    out[k] = (float(vals.mean()), float(vals.std()))
  return out


def _panel(samples_by_run: dict[str, np.ndarray], modes: np.ndarray, path: str, title: str):
  n = len(samples_by_run)
  cols = min(6, n)
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.3 * rows), dpi=90)
  axes = np.atleast_1d(axes).ravel()
  lim = float(np.abs(modes).max()) * 1.4
  for ax, (name, x) in zip(axes, samples_by_run.items(), strict=False):
    x = x[np.all(np.isfinite(x), axis=1)][:2500]
    ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3)
    ax.scatter(modes[:, 0], modes[:, 1], s=8, c='red', marker='x')
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(name, fontsize=7)
  for ax in axes[n:]:
    ax.axis('off')
  fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path)
  plt.close(fig)


def _fmt(mean_std: tuple[float, float], digits: int = 1) -> str:
  m, s = mean_std
  return 'n/a' if np.isnan(m) else f'{m:.{digits}f} ± {s:.{digits}f}'


def markdown_table(rows: list[dict]) -> str:
  """The results table of one dataset."""
  lines = ['| objective | penalty | modes | HQ % | strict modes | reverse KL | diverged | s |',
           '|---|---|---|---|---|---|---|---|']
  for r in rows:
    lines.append(f"| {r['objective']} | {r['penalty']} | {_fmt(r['modes'])} | "
                 f"{_fmt(r['hq_percent'])} | {_fmt(r['strict_modes'])} | "
                 f"{_fmt(r['reverse_kl'], 2)} | {r['diverged']}/{r['seeds']} | "
                 f"{r['seconds']:.0f} |")
  return '\n'.join(lines)


def _write_report(report: dict, config: ml_collections.ConfigDict, workdir: str) -> None:
  with open(os.path.join(workdir, 'study.json'), 'w') as f:
    json.dump(report, f, indent=1)
  with open(os.path.join(workdir, 'study.md'), 'w') as f:
    for dataset, rows in report.items():
      f.write(f'### {dataset} ({config.study.num_seeds} seeds, {config.num_steps} steps, '
              f'mean ± std over seeds)\n\n{markdown_table(rows)}\n\n')


def run_study(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Runs every (dataset, objective:penalty) of ``config.study``; writes the report.

  ``study.json``/``study.md`` are rewritten after every run, so a long study that is
  stopped keeps what it finished; seed 0's samples of each run go to
  ``samples_{dataset}.npz`` and the scatter panel is drawn at the end of each dataset.
  """
  os.makedirs(workdir, exist_ok=True)
  seed_list = list(range(config.study.num_seeds))
  report = {}
  for dataset in config.study.datasets:
    rows, panels = [], {}
    report[dataset] = rows
    for run in config.study.runs:
      objective, penalty = run.split(':')
      c = run_config(config, dataset, objective, penalty, config.study.penalty_weights)
      results, samples, seconds = run_one(c, seed_list)
      row = {'objective': objective, 'penalty': penalty, 'seconds': seconds,
             **summarize(results), 'per_seed': results}
      rows.append(row)
      panels[f'{objective}+{penalty}' if penalty != 'none' else objective] = samples[0]
      logging.info('%s %s: %s', dataset, run, {k: row[k] for k in METRIC_KEYS})
      print(f'{dataset} {run}: modes {_fmt(row["modes"])}, HQ {_fmt(row["hq_percent"])}, '
            f'{seconds:.0f}s', flush=True)
      _write_report(report, config, workdir)
      np.savez(os.path.join(workdir, f'samples_{dataset}.npz'), **panels)
    modes = train.build(run_config(config, dataset, 'non_saturating', 'none', {}))[1].modes
    _panel(panels, modes, os.path.join(workdir, f'study_{dataset}.png'),
           f'{dataset}: seed 0 of each run, {config.num_steps} steps')
  return report
