"""The one study runner: every (group, objective:penalty) run of ``config.study``.

A study config is a training config plus a ``study`` section:

* ``kind``: how runs are scored (``'mixtures'`` or ``'digits'``; required);
* ``groups``: name -> top-level config fields that the group replaces (a dataset, a
  model family, ...); a group of a digits study may set ``vmap_seeds=False`` to train its
  seeds one after another (a mixtures study always vmaps them: its models are small);
* ``runs``: ``'objective:penalty'`` strings, each trained in every group;
* ``penalty_weights``: penalty name -> weight; ``num_seeds`` (seeds ``config.seed`` to
  ``config.seed + num_seeds - 1``); kind-specific fields.

A group's field replaces the config's whole field (``data``, ``model``, ``num_steps``...):
a command-line flag on a field the group sets (``--config.num_steps``) does not reach that
group; set it on the group (``--config.study.groups.dcgan.num_steps=200``). The study prints
what each group sets before it starts. A study counts steps: ``config.num_epochs`` is refused.

``study.json`` and ``study.md`` are rewritten after every run, so a long study that is
stopped keeps what it finished; the kind's figures are drawn after each group. The same
command resumes a stopped study: ``study_resume.pkl`` (rewritten with the reports) holds
the finished runs and the config, and a study given the same config skips them (a run is
deterministic in its seeds, so the rows are those of an unbroken study but for the
seconds; the run that was stopped starts over). A workdir holding a study with another
config, or one written before resuming existed, is refused rather than overwritten.
"""

from __future__ import annotations

import os
import pickle
from typing import Any

import ml_collections

from jaxgan import build, files, losses, penalties, registry, validation
from jaxgan import workdir as workdir_lib
from studies import digits, mixtures, tables

# The study's counts, where its kind has them: each an integer >= 1.
STUDY_COUNTS = ('num_seeds', 'eval_every', 'num_samples')

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
  objective, penalty = _split(run)
  c.loss.name, c.penalty.name = objective, penalty
  c.penalty.weight = float(config.study.get('penalty_weights', {}).get(penalty, 0.0))
  return c, vmap_seeds


def _split(run: str) -> tuple[str, str]:
  parts = run.split(':')
  if len(parts) != 2 or not all(p.strip() for p in parts):
    raise validation.ConfigError(f"config.study.runs has {run!r}: write each run as "
                                 "'objective:penalty', e.g. 'hinge:none' or 'wasserstein:wgan_gp'.")
  return parts[0].strip(), parts[1].strip()


# What a study does not read, in a group or at all: refused rather than ignored.
_NOT_READ = {
    'seed': "the study's seeds are config.seed to config.seed + num_seeds - 1 in every "
            'group: set config.seed, or run the group as a study of its own',
    'init_from': 'a study trains every seed from scratch; train from another run with '
                 'python -m launch.train'}


def check(config: ml_collections.ConfigDict) -> None:
  """Every run of every group, before the first starts: its config's fields and values
  (:func:`jaxgan.validation.validate`), its objective, penalty and optimizer names and
  arguments, its learning-rate schedules, and each group's model and data (built as
  shapes, as training builds them).

  Raises:
    validation.ConfigError: no group or no run, a run not written ``'objective:penalty'``
      or given twice, a group name that is not a file name, a group setting what a study
      does not read (``seed``, ``init_from``), a group's section without fields the run
      needs, or a run config that is not valid.
    registry.UnknownNameError / registry.ArgumentError: an unknown objective, penalty,
      optimizer, schedule, model or dataset name (listing the valid ones) or argument.
  """
  for field in ('groups', 'runs'):
    if not config.study.get(field):
      raise validation.ConfigError(f'config.study.{field} is empty: the study would run '
                                   'nothing.')
  problems = validation.value_problems(config, {f'study.{field}': validation.POSITIVE_INT
                                                for field in STUDY_COUNTS})
  if problems:
    raise validation.ConfigError('Invalid config:\n  ' + '\n  '.join(problems))
  if config.get('init_from'):
    raise validation.ConfigError(f'config.init_from is set: {_NOT_READ["init_from"]}.')
  pairs = [_split(run) for run in config.study.runs]
  twice = sorted({f'{o}:{p}' for o, p in pairs if pairs.count((o, p)) > 1})
  if twice:
    raise validation.ConfigError(f'config.study.runs has {", ".join(twice)} more than once: '
                                 'each run once (a resume would skip the second).')
  weights = config.study.get('penalty_weights', {})
  # The digit-FD reference's image size, from the study's own data (not a group's).
  study_size = digits.image_size(config) if config.study.get('kind') == 'digits' else None
  for group, fields in config.study.groups.items():
    if group in ('', '.', '..') or '/' in group or os.sep in group:
      raise validation.ConfigError(f'Group name {group!r} names its files (samples_{group}, '
                                   '...): give one without a path separator.')
    for key in sorted(set(fields) & set(_NOT_READ)):  # the first, named
      raise validation.ConfigError(f'Group {group!r} sets {key}: {_NOT_READ[key]}.')
    sections = sorted(k for k, v in fields.items() if hasattr(v, 'items'))
    try:
      _check_group(config, group, weights, study_size)
    except (KeyError, AttributeError) as e:  # a section given in part
      if not sections:
        raise
      missing = str(e).strip('"\'')
      raise validation.ConfigError(
          f'Group {group!r} replaces config.{", config.".join(sections)} whole (a group\'s '
          f"field replaces the config's field), and its runs then have no field "
          f'{missing!r}: give each section with all the fields a run needs, as the config '
          'has them.') from None


def _check_group(config: ml_collections.ConfigDict, group: str, weights: Any,
                 study_size: int | None) -> None:
  """:func:`check` of one group's runs (``study_size``: a digits study's image size)."""
  for i, run in enumerate(config.study.runs):
    c = run_config(config, group, run)[0]
    if c.get('num_epochs'):
      raise validation.ConfigError(
          f'Group {group!r} has num_epochs={c.num_epochs}: a study counts steps. Set '
          'config.num_steps (or the group\'s num_steps) and leave config.num_epochs 0.')
    losses.get(c.loss.name, **c.loss.kwargs)
    penalties.get(c.penalty.name, **c.penalty.kwargs)
    if c.penalty.name != 'none' and c.penalty.name not in weights:
      raise validation.ConfigError(
          f'config.study.runs has {run!r} but config.study.penalty_weights '
          f'({dict(weights)}) gives {c.penalty.name!r} no weight: the penalty would add '
          f'nothing. Add one, e.g. penalty_weights={{{c.penalty.name!r}: 1.0}}.')
    validation.validate(c)
    if c.get('content') and c.content.get('perceptual_weight'):
      raise validation.ConfigError(
          f'Group {group!r} has content.perceptual_weight={c.content.perceptual_weight}: a '
          'study loads no VGG19 weights for a perceptual loss; train it with python -m '
          'launch.train.')
    build.optimizer(c.g_optimizer)  # names, arguments and schedules
    build.optimizer(c.d_optimizer)
    if i == 0:  # the model and data are the group's, whatever the run's objective
      pipe = build.pipeline(c)
      want = KINDS.entry(config.study.kind).EVALUATOR
      if pipe.evaluator != want:
        raise validation.ConfigError(
            f'Group {group!r} trains on {c.data.name!r}, which a {config.study.kind} study '
            f'cannot score (it scores {want!r} data, this is {pipe.evaluator!r} data): run '
            'it in a study of its kind.')
      # The sizes the data make, a data set's own where a config leaves image_size out (a
      # group's data replaces the config's whole).
      size = pipe.element_shape[0]
      if study_size is not None and size != study_size:
        raise validation.ConfigError(
            f'Group {group!r} trains on {size}x{size} images; the digits study scores every '
            'group against one digit-FD reference, made at the study\'s image size, '
            f'{study_size}x{study_size}. Set that one instead (--config.data.image_size), '
            'or run the group as a study of its own.')
      build.build(c, pipe, warn=False)  # shapes only: no weights are made


RESUME_FILE = 'study_resume.pkl'


def _flat(tree: Any, prefix: str = '') -> dict[str, Any]:
  if not isinstance(tree, dict):
    return {prefix: tree}
  return {k: v for key, sub in tree.items() for k, v in _flat(sub, f'{prefix}{key}.').items()}


def _resumed(config: ml_collections.ConfigDict, workdir: str) -> dict | None:
  """The finished runs and kept context of the study stopped in ``workdir`` with this
  ``config`` (``None`` for a new study).

  Raises:
    FileExistsError: ``workdir`` holds a study with another config, or one that cannot be
      resumed.
  """
  report = os.path.join(workdir, 'study.json')
  advice = 'choose another --workdir, or move that one aside.'
  path = os.path.join(workdir, RESUME_FILE)  # the record: a report may be missing
  if not os.path.exists(path):
    if not os.path.exists(report):
      return None
    raise FileExistsError(f'{report} holds the results of an earlier study, which this one '
                          f'would overwrite (it has no {RESUME_FILE} to resume from): '
                          + advice)
  try:
    with open(path, 'rb') as f:
      saved = pickle.load(f)
  except Exception as e:  # any unreadable file is reported, not replaced
    raise FileExistsError(f'{path} cannot be read ({type(e).__name__}: {e}), so the study '
                          f'in {workdir} cannot be resumed: ' + advice) from e
  was, now = _flat(saved['config']), _flat(config.to_dict())
  changed = sorted(k[:-1] for k in set(was) | set(now) if was.get(k) != now.get(k))
  if changed:
    more = f' and {len(changed) - 5} more' if len(changed) > 5 else ''
    raise FileExistsError(
        f'{report} holds the results of an earlier study with another config (it differs in '
        f'{", ".join(changed[:5])}{more}), which this one would overwrite: run the same '
        'config to resume it, or ' + advice)
  return saved


def _write(config: ml_collections.ConfigDict, kind: Any, rows: list[dict], workdir: str,
           context: dict) -> None:
  kept = {k: context[k] for k in kind.RESUME_CONTEXT}
  with files.replacing(os.path.join(workdir, RESUME_FILE)) as tmp, open(tmp, 'wb') as f:
    pickle.dump({'config': config.to_dict(), 'rows': rows, 'context': kept}, f)
  files.write_json(os.path.join(workdir, 'study.json'),
                   {'kind': config.study.kind, 'seeds': context['seeds'],
                    **kind.report_extras(config, context), 'runs': rows})
  header, body = kind.table(rows)
  files.write_text(os.path.join(workdir, 'study.md'),
                   f'### {kind.title(config)}\n\n{tables.markdown(header, body)}\n')


def run_study(config: ml_collections.ConfigDict, workdir: str) -> list[dict]:
  """Runs every run of every group of ``config.study``; writes the report to ``workdir``.

  Returns:
    One row per run: ``{'group', 'objective', 'penalty', 'seconds', ...}`` plus the
    kind's scores (per seed and summarized).

  Raises:
    validation.ConfigError / registry.UnknownNameError / registry.ArgumentError: a run's
      config or names are not valid (:func:`check`: every run, before the first starts;
      nothing is written).
    FileExistsError: ``workdir`` holds the results of a study with another config, or
      of one that cannot be resumed (nothing is written).
    jaxgan.workdir.WorkdirBusy: another study runs in ``workdir`` (its lock, as a
      training run's).
  """
  if 'study' not in config:
    raise validation.ConfigError('This config has no config.study: it is a training config, '
                                 'not a study; train it with python -m launch.train, or give '
                                 'a study config (configs/study_*.py).')
  if 'kind' not in config.study:
    raise validation.ConfigError('config.study.kind is required; valid kinds: '
                                 f'{", ".join(KINDS.names())}.')
  kind = KINDS.entry(config.study.kind)
  check(config)
  _resumed(config, workdir)  # refused before any folder or lock is made
  os.makedirs(workdir, exist_ok=True)
  with workdir_lib.Lock(workdir):  # one study at a time: each rewrites the report
    return _run_study(config, kind, workdir, _resumed(config, workdir))


def _run_study(config: ml_collections.ConfigDict, kind: Any, workdir: str,
               saved: dict | None) -> list[dict]:
  seeds = list(range(config.seed, config.seed + config.study.num_seeds))
  for group, fields in config.study.groups.items():
    print(f'group {group} sets: ' + ', '.join(f'{k}={v!r}' for k, v in fields.items()),
          flush=True)
  context = {'seeds': seeds, **kind.prepare(config)}
  rows: list[dict] = []
  if saved is not None:
    rows, done = saved['rows'], {(r['group'], r['objective'], r['penalty'])
                                 for r in saved['rows']}
    context.update(saved['context'])
    print(f'Resuming the study in {workdir}: {len(rows)} of '
          f'{len(config.study.groups) * len(config.study.runs)} runs finished.', flush=True)
    # Written again now: a study stopped between its resume file and its report (or
    # whose report was deleted: the resume file is the record) may have nothing left to
    # run to write them.
    _write(config, kind, rows, workdir, context)
  for group in config.study.groups:
    for run in config.study.runs:
      run_cfg, vmap_seeds = run_config(config, group, run)
      objective, penalty = _split(run)
      if saved is not None and (group, objective, penalty) in done:
        continue
      context['group'] = group
      row = {'group': group, 'objective': objective, 'penalty': penalty,
             **kind.run_one(run_cfg, seeds, config.study, context, vmap_seeds)}
      rows.append(row)
      print(f'{group} {run}: {kind.summary(row)}, {row["seconds"]:.0f}s', flush=True)
      _write(config, kind, rows, workdir, context)
    kind.figures(config, [r for r in rows if r['group'] == group], group, workdir, context)
  return rows
