"""One validation pass over a training config, before anything is built or compiled.

A field jaxgan does not know is an error listing the valid fields at its level (a misspelt
field would otherwise be silently ignored); every numeric field is checked against what it
allows (and each content-loss choice against the valid ones), and the error names each
bad field, its value and what is allowed. Names (objective, penalty, model, dataset,
optimizer) are checked by their registries when the run is built, also before anything
compiles.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import ml_collections

from jaxgan import content, penalties, registry
from jaxgan.models import vgg


class ConfigError(ValueError):
  """A config field has a value that is not allowed (the message says which and why)."""


class DataError(ValueError):
  """The data a run points at cannot be used: a file that is not an image, an image
  smaller than the crop (the message names it)."""


def _is_int(v: Any) -> bool:
  return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
  return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


POSITIVE_INT = (lambda v: _is_int(v) and v >= 1, 'an integer >= 1')
NON_NEGATIVE_INT = (lambda v: _is_int(v) and v >= 0, 'an integer >= 0 (0 = unset/off)')
POSITIVE_REAL = (lambda v: _is_real(v) and v > 0, 'a finite number > 0')
NON_NEGATIVE_REAL = (lambda v: _is_real(v) and v >= 0, 'a finite number >= 0')
UNIT_INTERVAL = (lambda v: _is_real(v) and 0 <= v < 1, 'a number in [0, 1)')


def _one_of(values: tuple[str, ...]) -> tuple[Callable[[Any], bool], str]:
  return (lambda v: isinstance(v, str) and v in values), f'one of {", ".join(values)}'

RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    # jax.random.key keeps a seed's low 32 bits: 2**32 + 5 would silently be seed 5.
    'seed': (lambda v: _is_int(v) and 0 <= v < 2**32,
             'an integer in [0, 2**32) (0 is an ordinary seed)'),
    'data.batch_size': POSITIVE_INT,
    'n_critic': NON_NEGATIVE_INT,
    'adversarial_weight': NON_NEGATIVE_REAL,
    'content.pixel_weight': NON_NEGATIVE_REAL,
    'content.perceptual_weight': NON_NEGATIVE_REAL,
    'content.pixel': _one_of(content.PIXEL_CRITERIA),
    'content.perceptual_criterion': _one_of(content.PIXEL_CRITERIA),
    'content.perceptual_layer': _one_of(vgg.LAYERS),
    'content.perceptual_scale': POSITIVE_REAL,
    'model.z_dim': NON_NEGATIVE_INT,  # 0 for the SR models (no noise); >= 1 checked in build
    'num_steps': NON_NEGATIVE_INT,
    'num_epochs': NON_NEGATIVE_REAL,
    'g_optimizer.learning_rate': POSITIVE_REAL,
    'd_optimizer.learning_rate': POSITIVE_REAL,
    'g_optimizer.b1': UNIT_INTERVAL,
    'd_optimizer.b1': UNIT_INTERVAL,
    'g_optimizer.b2': UNIT_INTERVAL,
    'd_optimizer.b2': UNIT_INTERVAL,
    'penalty.weight': NON_NEGATIVE_REAL,
    'penalty.every': POSITIVE_INT,
    'weight_clip': NON_NEGATIVE_REAL,
    'ema_decay': UNIT_INTERVAL,
    'steps_per_call': POSITIVE_INT,
    'log_every': POSITIVE_INT,
    'eval_every': NON_NEGATIVE_INT,
    'checkpoint_every': POSITIVE_INT,
    'keep_checkpoints': POSITIVE_INT,
    'num_eval_samples': POSITIVE_INT,
}


# The fields of a training config (``configs/default.py``'s), by section. A section not
# listed here (``data``, ``model.generator``, ``model.discriminator``, the optimizers, the
# ``kwargs``) holds the arguments of what it names, checked when that is built.
FIELDS: dict[str, tuple[str, ...]] = {
    '': ('seed', 'data', 'model', 'dtype', 'loss', 'penalty', 'auxiliary', 'augment',
         'weight_clip', 'n_critic', 'adversarial_weight', 'content', 'init_from',
         'g_optimizer', 'd_optimizer', 'ema_decay', 'num_steps', 'num_epochs',
         'steps_per_call', 'log_every', 'eval_every', 'checkpoint_every', 'keep_checkpoints',
         'num_eval_samples', 'allow_config_change', 'distributed'),
    'model': ('name', 'z_dim', 'generator', 'discriminator'),
    'loss': ('name', 'kwargs'),
    'penalty': ('name', 'weight', 'every', 'kwargs'),
    'auxiliary': ('name', 'kwargs'),
    'content': ('pixel', 'pixel_weight', 'perceptual_weight', 'perceptual_layer',
                'perceptual_criterion', 'perceptual_scale', 'vgg_weights'),
}


def _unknown_fields(config: ml_collections.ConfigDict) -> list[str]:
  """A problem line for each field of a :data:`FIELDS` section that jaxgan does not know
  (a misspelt field would otherwise be ignored)."""
  problems = []
  for section, known in FIELDS.items():
    present, node = _lookup(config, section) if section else (True, config)
    if not present or not isinstance(node, (ml_collections.ConfigDict, dict)):
      continue
    where = f'config.{section}' if section else 'config'
    problems += [_no_field(where, key, known) for key in node.keys() if key not in known]
  return problems


def _no_field(where: str, key: str, fields: Any) -> str:
  """``'<where> has no field <key> (did you mean ...?); its fields are: ...'``."""
  close = difflib.get_close_matches(key, list(fields), n=1)
  hint = f' (did you mean {close[0]!r}?)' if close else ''
  return f'{where} has no field {key!r}{hint}; its fields are: {", ".join(sorted(fields))}.'


def _lookup(config: ml_collections.ConfigDict, path: str) -> tuple[bool, Any]:
  node: Any = config
  for part in path.split('.'):
    if not isinstance(node, (ml_collections.ConfigDict, dict)) or part not in node:
      return False, None
    node = node[part]
  return True, node


def value_problems(config: ml_collections.ConfigDict,
                   rules: dict[str, tuple[Callable[[Any], bool], str]] = RULES) -> list[str]:
  """A line for each field of ``rules`` (dotted path -> ``(ok, allowed)``) present in
  ``config`` whose value is not allowed: the field, its value and what is allowed."""
  problems = []
  for path, (ok, allowed) in rules.items():
    present, value = _lookup(config, path)
    if present and not ok(value):
      problems.append(f'config.{path} = {value!r}: must be {allowed}.')
  return problems


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks that every field of a training config is one jaxgan knows (:data:`FIELDS`),
  every numeric field's value and content-loss choice, the training length rule, and the
  rules between fields: ``n_critic = 0`` needs ``adversarial_weight = 0`` and a content
  loss, an auxiliary term needs ``adversarial_weight > 0``, and a penalty named (other than
  ``'none'``) needs a weight > 0.

  Raises:
    ConfigError: listing every unknown field with the valid ones at its level, and every
      field whose value is not allowed, with the value and what is allowed.
  """
  problems = _unknown_fields(config) + value_problems(config)
  steps, epochs = config.get('num_steps', 0), config.get('num_epochs', 0)
  if _is_real(steps) and _is_real(epochs) and (steps > 0) == (epochs > 0):
    problems.append(f'config.num_steps = {steps!r} and config.num_epochs = {epochs!r}: set '
                    'exactly one of them (> 0; 0 = unset), e.g. --config.num_steps=1000 '
                    '--config.num_epochs=0.')
  n_critic, adversarial = config.get('n_critic', 1), config.get('adversarial_weight', 1.0)
  if n_critic == 0 and adversarial != 0:
    problems.append(f'config.n_critic = 0 trains no discriminator: config.adversarial_weight '
                    f'must be 0 then; got {adversarial!r}.')
  aux = config.get('auxiliary', {}).get('name', 'none')
  if registry.spec_name(aux) != 'none' and adversarial == 0:
    problems.append(f'config.auxiliary.name = {aux!r} with config.adversarial_weight = 0: '
                    "the generator's auxiliary term is part of its adversarial step, so it "
                    'would train the discriminator\'s head alone. Set adversarial_weight > 0 '
                    "or config.auxiliary.name = 'none'.")
  penalty = config.get('penalty', {})
  name, weight = penalty.get('name', 'none'), penalty.get('weight', 0.0)
  # A misspelt name or spec is left to the penalty registry, which lists the valid ones.
  base = registry.spec_name(name)
  if base in penalties.names() and base != 'none' and _is_real(weight) and weight == 0:
    problems.append(f'config.penalty.name = {name!r} with config.penalty.weight = {weight!r}: '
                    'the penalty would be computed and add nothing. Set config.penalty.weight '
                    "(e.g. 10, WGAN-GP's lambda; R1/R2 take gamma / 2), or config.penalty.name "
                    "= 'none'. On the command line: --config.penalty.weight=10 or "
                    '--config.penalty.name=none (to resume a run saved with this config, add '
                    '--config.allow_config_change=True).')
  content = config.get('content', {})
  if n_critic == 0 and not (content.get('pixel_weight') or content.get('perceptual_weight')):
    problems.append('config.n_critic = 0 trains the generator on its content loss alone: set '
                    'config.content.pixel_weight or config.content.perceptual_weight > 0.')
  if problems:
    raise ConfigError('Invalid config:\n  ' + '\n  '.join(problems))


def describe_unknown_field(config: ml_collections.ConfigDict, path: str) -> str | None:
  """For a dotted ``path`` that does not exist in ``config``: a message naming the first
  missing part and the valid fields at that level; ``None`` if the path exists."""
  node: Any = config
  parts = path.split('.')
  for i, part in enumerate(parts):
    if not isinstance(node, (ml_collections.ConfigDict, dict)):
      return (f'config.{".".join(parts[:i])} is a value ({node!r}), it has no field '
              f'{part!r}.')
    if part not in node:
      where = 'config' + ''.join(f'.{p}' for p in parts[:i])
      message = (_no_field(where, part, node.keys()) if node.keys()
                 else f'{where} has no field {part!r}; it has no fields.')
      owner = _lookup(config, '.'.join(parts[:i - 1]))[1] if i >= 2 else None
      if parts[i - 1] == 'kwargs' and isinstance(owner, (ml_collections.ConfigDict, dict)):
        spec = str(owner.get('name', 'none')).strip()
        name, _, given = spec.partition('(')
        name = 'NAME' if name.strip() == 'none' else name.strip()
        given = given.rstrip().removesuffix(')').strip()  # its arguments, kept
        message += (f' The command line adds no field to a config file\'s kwargs: give the '
                    f"arguments with the name, --{where[:-len('.kwargs')]}.name="
                    f"'{name}({given + ', ' if given else ''}{part}=VALUE)'.")
      return message
    node = node[part]
  return None
