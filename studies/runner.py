"""The one study runner: every (group, objective:penalty) run of ``config.study``.

A study config is a training config plus a ``study`` section:

* ``kind``: how runs are scored (``'mixtures'`` or ``'digits'``; required);
* ``groups``: name -> top-level config fields that the group replaces (a dataset, a
  model family, ...); a group may set ``vmap_seeds=False`` to train its seeds one after
  another;
* ``runs``: ``'objective:penalty'`` strings, each trained in every group;
* ``penalty_weights``: penalty name -> weight; ``num_seeds``; kind-specific fields.

``study.json`` and ``study.md`` are rewritten after every run, so a long study that is
stopped keeps what it finished; the kind's figures are drawn after each group.
"""

from __future__ import annotations

import json
import os
from typing import Any

import ml_collections

from jaxgan import registry, validation
from studies import digits, mixtures, tables

KINDS = registry.Registry('study kind')
KINDS.register('mixtures', mixtures)
KINDS.register('digits', digits)


def run_config(config: ml_collections.ConfigDict, group: str,
               run: str) -> tuple[ml_collections.ConfigDict, bool]:
  """The training config of one run, and whether its seeds are vmapped.

  ``run`` is ``'objective:penalty'``; the group's fields replace the config's.
  """
  c = ml_collections.ConfigDict(config.to_dict())
  del c['study']
  overrides = dict(config.study.groups[group])
  vmap_seeds = overrides.pop('vmap_seeds', True)
  for key, value in overrides.items():
    c[key] = value
  objective, penalty = run.split(':')
  c.loss.name, c.penalty.name = objective, penalty
  c.penalty.weight = float(config.study.penalty_weights.get(penalty, 0.0))
  return c, vmap_seeds


def _write(config: ml_collections.ConfigDict, kind: Any, rows: list[dict], workdir: str,
           context: dict) -> None:
  with open(os.path.join(workdir, 'study.json'), 'w') as f:
    json.dump({'kind': config.study.kind, **kind.report_extras(config, context), 'runs': rows}, f,
              indent=1)
  header, body = kind.table(rows)
  with open(os.path.join(workdir, 'study.md'), 'w') as f:
    f.write(f'### {kind.title(config)}\n\n{tables.markdown(header, body)}\n')


def run_study(config: ml_collections.ConfigDict, workdir: str) -> list[dict]:
  """Runs every run of every group of ``config.study``; writes the report to ``workdir``.

  Returns:
    One row per run: ``{'group', 'objective', 'penalty', 'seconds', ...}`` plus the
    kind's scores (per seed and summarized).

  Raises:
    validation.ConfigError: a run's config is not valid (checked for every run before the
      first starts; nothing is written).
  """
  if 'kind' not in config.study:
    raise ValueError(f'config.study.kind is required; valid kinds: {", ".join(KINDS.names())}.')
  kind = KINDS.entry(config.study.kind)
  for group in config.study.groups:  # every run's config, before the first run starts
    for run in config.study.runs:
      validation.validate(run_config(config, group, run)[0])
  os.makedirs(workdir, exist_ok=True)
  seeds = list(range(config.study.num_seeds))
  context = kind.prepare(config)
  rows: list[dict] = []
  for group in config.study.groups:
    for run in config.study.runs:
      run_cfg, vmap_seeds = run_config(config, group, run)
      objective, penalty = run.split(':')
      row = {'group': group, 'objective': objective, 'penalty': penalty,
             **kind.run_one(run_cfg, seeds, config.study, context, vmap_seeds)}
      rows.append(row)
      print(f'{group} {run}: {kind.summary(row)}, {row["seconds"]:.0f}s', flush=True)
      _write(config, kind, rows, workdir, context)
    kind.figures(config, [r for r in rows if r['group'] == group], group, workdir, context)
  return rows
