"""Update rules of the two players: optax optimizers chosen by name, learning-rate
schedules, and weight clipping.

``get('adam', learning_rate=2e-4, b1=0.5, b2=0.999)`` is ``optax.adam`` with those
arguments; the valid keyword arguments are the optax function's own. A schedule scales
that learning rate over training (:func:`schedule`, e.g. SRGAN's ``'multistep(milestones=
(100000,), gamma=0.1)'``); its steps are train steps (generator steps) for both players.
Weight clipping (WGAN) is a projection applied after each critic update, not a penalty.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax

from jaxgan import registry
from jaxgan.validation import ConfigError

_OPTIMIZERS = registry.Registry('optimizer')
for _name, _fn in (('adam', optax.adam), ('adamw', optax.adamw), ('rmsprop', optax.rmsprop),
                   ('sgd', optax.sgd)):
  _OPTIMIZERS.register(_name, _fn)
del _name, _fn


def names() -> list[str]:
  """The optimizer names :func:`get` accepts."""
  return _OPTIMIZERS.names()


def get(name: str, **kwargs) -> optax.GradientTransformation:
  """The optax optimizer ``name`` built with ``kwargs`` (e.g. ``learning_rate``, ``b1``).

  Raises:
    ValueError: an unknown name (listing the valid ones).
    TypeError: an argument the optax function does not take (listing those it takes).
  """
  return _OPTIMIZERS.get(name, **kwargs)


def _steps(name: str, value: Any, minimum: int) -> int:
  """``value`` as a step count ``>= minimum``, or a :class:`ConfigError` naming it."""
  if not (isinstance(value, int) and not isinstance(value, bool) and value >= minimum):
    raise ConfigError(f'schedule argument {name} = {value!r}: must be an integer >= {minimum} '
                      '(train steps).')
  return value


def _constant(learning_rate: float) -> float:
  """The learning rate throughout (optax then keeps no step count)."""
  return learning_rate


def _non_negative(name: str, value: float) -> None:
  """A factor or end value of a schedule's rate: below 0 the player would climb its own
  loss."""
  if not (math.isfinite(value) and value >= 0):
    raise ConfigError(f'schedule argument {name} = {value!r}: must be a finite number >= 0 '
                      '(a negative learning rate ascends the loss).')


def _multistep(learning_rate: float, milestones: tuple[int, ...],
               gamma: float = 0.1) -> optax.Schedule:
  """The rate times ``gamma`` from each milestone on (PyTorch's ``MultiStepLR``, the SR
  papers' step decay): ``lr * gamma ** (number of milestones <= step)``; a milestone
  given twice decays twice, as in PyTorch."""
  if not isinstance(milestones, (tuple, list)):
    raise ConfigError(f'schedule argument milestones = {milestones!r}: must be a tuple of '
                      'train steps, e.g. milestones=(100000,) (mind the comma).')
  bounds = jnp.asarray([_steps('milestones', m, 0) for m in milestones], jnp.int32)
  _non_negative('gamma', gamma)
  return lambda count: learning_rate * gamma ** jnp.sum(count >= bounds)


def _linear(learning_rate: float, decay_steps: int, end_value: float = 0.0) -> optax.Schedule:
  """From the rate to ``end_value`` linearly over ``decay_steps``, then constant (the
  WGAN-GP CIFAR code's decay to 0 over training)."""
  _non_negative('end_value', end_value)
  return optax.linear_schedule(learning_rate, end_value, _steps('decay_steps', decay_steps, 1))


def _cosine(learning_rate: float, decay_steps: int, alpha: float = 0.0) -> optax.Schedule:
  """Cosine decay from the rate to ``alpha`` times it over ``decay_steps``."""
  _non_negative('alpha', alpha)
  return optax.cosine_decay_schedule(learning_rate, _steps('decay_steps', decay_steps, 1), alpha)


def _warmup_cosine(learning_rate: float, warmup_steps: int, decay_steps: int,
                   end_value: float = 0.0) -> optax.Schedule:
  """Linear warm-up from 0 to the rate over ``warmup_steps``, then cosine decay to
  ``end_value`` at ``decay_steps`` (counted from step 0, warm-up included)."""
  warmup = _steps('warmup_steps', warmup_steps, 0)
  _non_negative('end_value', end_value)
  return optax.warmup_cosine_decay_schedule(
      0.0, learning_rate, warmup, _steps('decay_steps', decay_steps, warmup + 1), end_value)


# ``get(spec)`` checks the spec's arguments and returns ``fn(learning_rate)``.
_SCHEDULES = registry.Registry('learning-rate schedule', skip=1,
                               make=lambda entry, **kwargs: functools.partial(entry, **kwargs))
for _name, _fn in (('constant', _constant), ('multistep', _multistep), ('linear', _linear),
                   ('cosine', _cosine), ('warmup_cosine', _warmup_cosine)):
  _SCHEDULES.register(_name, _fn)
del _name, _fn


def schedule_names() -> list[str]:
  """The schedule names :func:`schedule` accepts."""
  return _SCHEDULES.names()


def schedule_end(spec: str) -> int:
  """The train step from which schedule ``spec`` keeps its rate: its last milestone, or
  where its decay ends (0 for ``'constant'``). The spec is checked as :func:`schedule`
  checks it."""
  _SCHEDULES.get(spec)(1.0)  # names, arguments and their values
  name, kwargs = registry.parse_spec(spec)
  if name == 'multistep':
    return max(kwargs['milestones'], default=0)
  return int(kwargs.get('decay_steps', 0))


def schedule_outlasts(spec: str, steps: int) -> str | None:
  """Why schedule ``spec`` is still changing when a run of ``steps`` train steps ends, and
  which arguments to set; ``None`` when it is not.

  Train step ``s`` reads the schedule at ``s``, for ``s = 0 .. steps - 1``. So a milestone
  at ``steps`` or later never applies, while a decay over exactly ``steps`` (the WGAN-GP
  code's ``lr * (1 - step / steps)``) ends within the run, its last step at ``lr / steps``.
  """
  end = schedule_end(spec)
  name, kwargs = registry.parse_spec(spec)
  if name == 'multistep':
    late = sorted({m for m in kwargs['milestones'] if m >= steps})
    if not late:
      return None
    return (f'its milestone(s) {", ".join(map(str, late))} fall at or after the last train '
            f'step ({steps - 1}), so the rate never drops there (set milestones below '
            f'{steps}).')
  if end <= steps:
    return None
  if name == 'warmup_cosine' and kwargs['warmup_steps'] >= steps:
    fix = f'warmup_steps below {steps} and decay_steps={steps}'
  else:
    fix = f'decay_steps={steps}'
  return (f'it changes the rate until train step {end}, past the run\'s end (set {fix} to '
          'decay over the run).')


def schedule(spec: str, learning_rate: float,
             updates_per_step: int = 1) -> float | optax.Schedule:
  """The learning rate, or its schedule, of an optimizer that updates ``updates_per_step``
  times per train step.

  Args:
    spec: a schedule name with its arguments, e.g. ``'multistep(milestones=(50000,
      100000), gamma=0.5)'`` (:func:`schedule_names`); step arguments count train steps.
    learning_rate: the rate the schedule starts from (its peak for ``warmup_cosine``).
    updates_per_step: the optimizer's updates per train step (``n_critic`` for the
      critic): optax counts updates, so the schedule is read at ``updates //
      updates_per_step``, the train step, for both players alike.

  Returns:
    ``learning_rate`` itself for ``'constant'``, else an ``optax.Schedule`` of the
    optimizer's update count.

  Raises:
    ValueError / TypeError: an unknown name or argument (listing the valid ones);
      ``ConfigError`` (a ``ValueError``) for an argument's value.
  """
  fn = _SCHEDULES.get(spec)(learning_rate)
  if not callable(fn) or updates_per_step == 1:
    return fn
  return lambda count: fn(count // updates_per_step)


def clip_weights(params: chex.ArrayTree, clip_value: float = 0.01) -> chex.ArrayTree:
  """WGAN weight clipping: projects every critic parameter onto ``[-c, c]``.

  Apply to the initial critic and after each critic update
  (``optax.projections.projection_box``).

  Args:
    params: the critic's parameter pytree.
    clip_value: ``c`` (0.01 in the paper, with RMSprop at lr 5e-5).

  Returns:
    The clipped parameters.

  Raises:
    ValueError: a ``clip_value`` (a number, not a traced array) that is not finite and
      positive: a negative one would map every parameter to ``-c``.

  References:
    Arjovsky et al., Wasserstein Generative Adversarial Networks, ICML 2017, Algorithm 1.
  """
  if isinstance(clip_value, numbers.Real) and not 0 < clip_value < math.inf:
    raise ValueError(f'clip_value must be a finite number > 0, e.g. 0.01; got {clip_value!r}.')
  # projection_box documents scalar bounds but tree-maps them (optax 0.2.8): pass trees.
  lower = jax.tree.map(lambda _: -clip_value, params)
  upper = jax.tree.map(lambda _: clip_value, params)
  return optax.projections.projection_box(params, lower, upper)
