"""Study kind ``'mixtures'``: objectives x penalties on 2-D mixtures, seeds vmapped.

Every run's seeds train together in one compiled step (:mod:`jaxgan.seeds`); each seed's
generator then draws 10,000 samples scored by the VEEGAN/PacGAN mode metrics. One scatter
panel figure per group: the first seed of each run.
"""

from __future__ import annotations

import math
import os
import time

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from jaxgan import build, files, inference, metrics, plots, seeds  # noqa: E402

METRIC_KEYS = ('modes', 'hq_percent', 'strict_modes', 'reverse_kl')
# What a resumed study keeps of the context of its finished runs: their panels.
RESUME_CONTEXT = ('panels', 'modes')
EVALUATOR = 'modes'  # the data it scores: 2-D mixtures
NUM_SAMPLES = 10000


def prepare(config: ml_collections.ConfigDict) -> dict:
  """The first seed's samples of each run, per group (the runner sets ``context['group']``), for
  the panels."""
  del config
  return {'panels': {}}


def summarize(results: list[dict]) -> dict:
  """Mean and std over the seeds that did not diverge, and how many diverged."""
  ok = [r for r in results if 'diverged_at' not in r]
  out = {'seeds': len(results), 'diverged': len(results) - len(ok)}
  for k in METRIC_KEYS:
    vals = np.array([r[k] for r in ok]) if ok else np.array([np.nan])
    finite = np.all(np.isfinite(vals))  # an infinite value's std is undefined
    out[k] = (float(vals.mean()), float(vals.std()) if finite else float('nan'))
  return out


def run_one(config: ml_collections.ConfigDict, seed_list: list[int],
            study: ml_collections.ConfigDict, context: dict, vmap_seeds: bool = True) -> dict:
  """Trains ``seed_list`` together; per-seed mode metrics and their summary."""
  del study, vmap_seeds  # 2-D toys always vmap their seeds
  gan, pipe = build.build(config)
  start = time.perf_counter()
  states, diverged_at = seeds.train_seeds(gan, seeds.pipelines(config, seed_list), seed_list,
                                          config.num_steps, config.steps_per_call)
  seconds = time.perf_counter() - start
  samples = seeds.generate(gan, states, NUM_SAMPLES, use_ema=inference.uses_ema(config))
  results = []
  for i, x in enumerate(samples):
    if diverged_at[i] or not np.all(np.isfinite(x)):
      results.append({'diverged_at': int(diverged_at[i]) or -1})
      continue
    results.append(metrics.mode_metrics(x, pipe.evaluator_args['modes'],
                                        pipe.evaluator_args['std']))
  label = config.loss.name + ('' if config.penalty.name == 'none' else f'+{config.penalty.name}')
  context['panels'].setdefault(context.get('group', config.data.name), {})[label] = samples[0]
  if not isinstance(context.get('modes'), dict):  # a resume file of one array for all groups
    context['modes'] = {}
  context['modes'][context.get('group', config.data.name)] = pipe.evaluator_args['modes']
  return {'seconds': seconds, **summarize(results), 'per_seed': results}


def summary(row: dict) -> str:
  """The console line of a run: modes and HQ %, mean ± std over the seeds."""
  return f'modes {_fmt(row["modes"])}, HQ {_fmt(row["hq_percent"])}'


def _num_steps(config: ml_collections.ConfigDict, group: str) -> int:
  """The steps of ``group``'s runs (a group may set its own ``num_steps``)."""
  return int(dict(config.study.groups[group]).get('num_steps', config.num_steps))


def title(config: ml_collections.ConfigDict) -> str:
  steps = {g: _num_steps(config, g) for g in config.study.groups}
  shown = (f'{next(iter(steps.values()))} steps' if len(set(steps.values())) == 1 else
           'steps ' + ', '.join(f'{n} ({g})' for g, n in steps.items()))
  return (f'{config.study.num_seeds} seeds, {shown}, mean ± std over seeds, std with '
          'ddof=0')


def report_extras(config: ml_collections.ConfigDict, context: dict) -> dict:
  del config, context
  return {}


def _fmt(mean_std: tuple[float, float], digits: int = 1) -> str:
  """``'m ± s'``; ``'n/a'`` when every seed diverged; ``'inf'`` when a seed's value is
  infinite (a reverse KL with no high-quality sample), whose std is undefined."""
  m, s = mean_std
  if np.isnan(m):
    return 'n/a'
  return 'inf' if np.isinf(m) else f'{m:.{digits}f} ± {s:.{digits}f}'


def table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
  header = ['group', 'objective', 'penalty', 'modes', 'HQ %', 'strict modes', 'reverse KL',
            'diverged', 's']
  body = [[r['group'], r['objective'], r['penalty'], _fmt(r['modes']), _fmt(r['hq_percent']),
           _fmt(r['strict_modes']), _fmt(r['reverse_kl'], 2),
           f"{r['diverged']}/{r['seeds']}", f"{r['seconds']:.0f}"] for r in rows]
  return header, body


def figures(config: ml_collections.ConfigDict, rows: list[dict], group: str, workdir: str,
            context: dict) -> None:
  """The scatter panel of ``group`` (``study_{group}.png``, its samples in
  ``samples_{group}.npz``): the first seed of each run over the true modes. Groups on one dataset
  (e.g. float32 and bfloat16) each get their own."""
  del rows
  dataset = dict(config.study.groups[group]).get('data', config.data)['name']
  panels = context['panels'].get(group, {})
  if not panels:
    return
  with files.replacing(os.path.join(workdir, f'samples_{group}.npz')) as tmp:
    np.savez(tmp, **panels)
  modes = context['modes'].get(group) if isinstance(context.get('modes'), dict) else None
  if modes is None:  # drawn when the group ran, by a process before a resume that kept no modes
    return
  n = len(panels)
  cols = min(6, n)
  nrows = math.ceil(n / cols)
  fig, axes = plt.subplots(nrows, cols, figsize=(2.2 * cols, 2.3 * nrows), dpi=90)
  axes = np.atleast_1d(axes).ravel()
  lim = float(np.abs(modes).max()) * 1.4
  for ax, (name, x) in zip(axes, panels.items(), strict=False):
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
  name = dataset if group == dataset else f'{group} ({dataset})'
  fig.suptitle(f'{name}: seed {context["seeds"][0]} of each run, {_num_steps(config, group)} steps',
               fontsize=9)
  fig.tight_layout()
  plots.save_figure(fig, os.path.join(workdir, f'study_{group}.png'))
