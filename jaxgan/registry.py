"""One mechanism for every component chosen by name (objectives, penalties, models, ...).

A :class:`Registry` maps names to entries. ``get(spec, **kwargs)`` checks the keyword
arguments against the entry's signature and builds the component, and every failure is
one of two standard errors: an unknown name lists the valid names (``ValueError``), an
unknown or missing argument lists the arguments the entry takes (``TypeError``).

A spec is a name, optionally with keyword arguments in the big_vision style, so that a
hyper-parameter can be set from the command line without a config field for it::

    losses.get('least_squares(a=-1, b=1, c=0)')
    --config.loss.name='least_squares(a=-1, b=1, c=0)'

Aliases are plain entries: registering the same object under two names.
"""

from __future__ import annotations

import ast
import inspect
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

_FLAX_FIELDS = ('parent', 'name')  # attributes every flax.linen.Module has


class UnknownNameError(ValueError):
  """A name that is not registered (the message lists the valid names)."""


class ArgumentError(TypeError):
  """An argument an entry does not take, or a missing required one (the message lists
  the arguments it takes), or a value it cannot take (the message says what it takes)."""


def _unreadable(spec: str) -> str:
  return (f"Cannot read {spec!r}: write a name, or a name with literal keyword arguments "
          "such as 'least_squares(a=-1.0, b=1.0)'.")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
  """``'name(k=v, ...)'`` -> ``('name', {'k': v})``; a bare ``'name'`` has no kwargs.

  Raises:
    ValueError: the spec is not a name or a call with literal keyword arguments.
    TypeError: the spec gives a keyword more than once.
  """
  if not isinstance(spec, str):
    raise UnknownNameError(f"Cannot read {spec!r}: write a name as a string, or a name with "
                           "literal keyword arguments such as 'least_squares(a=-1.0, b=1.0)'.")
  spec = spec.strip()
  if '(' not in spec:
    return spec, {}
  try:
    node = ast.parse(spec, mode='eval').body
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args
            and all(k.arg is not None for k in node.keywords)):  # no name(**{...})
      raise SyntaxError
    keys = [k.arg for k in node.keywords]
  except (SyntaxError, RecursionError, MemoryError):  # the last two: nested too deeply
    raise UnknownNameError(_unreadable(spec)) from None
  repeated = sorted({k for k in keys if keys.count(k) > 1})
  if repeated:
    raise ArgumentError(f'{spec!r}: {", ".join(repeated)} given twice; give each keyword once.')
  try:
    return node.func.id, {k.arg: ast.literal_eval(k.value) for k in node.keywords}
  except (ValueError, TypeError):  # TypeError: {[1]: 2}, an unhashable key
    raise UnknownNameError(_unreadable(spec)) from None


def spec_name(spec: Any) -> str | None:
  """The name a spec gives (``'none'`` for ``'none'``, ``' none'`` and ``'none()'``), or
  ``None`` for what :func:`parse_spec` cannot read (left to the registry, which says why)."""
  try:
    return parse_spec(spec)[0] if isinstance(spec, str) else None
  except (ValueError, ArgumentError):  # ArgumentError: a keyword given twice
    return None


def parameters(fn: Callable, skip: int = 0) -> dict[str, Any]:
  """The keyword parameters of ``fn`` after its first ``skip`` ones, with their defaults
  (``inspect.Parameter.empty`` where required). For a Flax module class these are its
  attributes, without ``parent`` and ``name``."""
  params = list(inspect.signature(fn).parameters.values())[skip:]
  return {p.name: p.default for p in params
          if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in _FLAX_FIELDS}


def check_kwargs(what: str, fn: Callable, kwargs: Iterable[str], skip: int = 0) -> None:
  """Raises ``TypeError`` when ``kwargs`` name a parameter ``fn`` does not take, or leave
  out a required one; the message lists what ``fn`` takes."""
  valid = parameters(fn, skip)
  given = set(kwargs)
  takes = f'it takes: {", ".join(valid)}' if valid else 'it takes no arguments'
  unknown = sorted(given - set(valid))
  if unknown:
    raise ArgumentError(f'{what} has no argument(s) {", ".join(unknown)}; {takes}.')
  missing = [k for k, v in valid.items() if v is inspect.Parameter.empty and k not in given]
  if missing:
    raise ArgumentError(f'{what} needs argument(s) {", ".join(missing)}; {takes}.')


def _kind_of(default: Any) -> str | None:
  """What a parameter with this default takes: 'bool', 'number' or 'str'; None for
  anything else (no check)."""
  if isinstance(default, bool):
    return 'bool'
  if isinstance(default, (int, float)):
    return 'number'
  return 'str' if isinstance(default, str) else None


def _fits(kind: str, value: Any) -> bool:
  if kind == 'bool':
    return isinstance(value, (bool, np.bool_))
  if kind == 'str':
    return isinstance(value, str)
  if isinstance(value, bool):
    return False
  # Python and NumPy numbers, and numeric arrays (a traced hyper-parameter).
  return isinstance(value, numbers.Real) or getattr(getattr(value, 'dtype', None), 'kind',
                                                    '') in ('f', 'i', 'u')


def _finite(value: numbers.Real) -> bool:
  """Whether ``value`` is a finite float (an integer too large for one is not)."""
  try:
    return math.isfinite(value)
  except OverflowError:
    return False


def check_values(what: str, fn: Callable, kwargs: dict[str, Any], skip: int = 0) -> None:
  """Raises ``TypeError`` when a value does not have the type of its parameter's default
  (a bool for a bool, a number for a number, a string for a string), or is not finite
  where its default is: a hyper-parameter written as a string (``'least_squares(a="0")'``)
  or as ``1e999`` fails here, not inside the traced step, and ``one_sided='False'`` is not
  taken as true."""
  defaults = parameters(fn, skip)
  for k, v in kwargs.items():
    kind = _kind_of(defaults.get(k))
    if kind is not None and not _fits(kind, v):
      raise ArgumentError(f'{what}: {k} must be a {kind} (like its default '
                          f'{defaults[k]!r}); got {v!r}.')
    if (kind == 'number' and isinstance(v, numbers.Real) and not _finite(v)
        and _finite(defaults[k])):  # 'least_squares(a=1e999)' would train on inf
      raise ArgumentError(f'{what}: {k} must be a finite number (like its default '
                          f'{defaults[k]!r}); got {v!r}.')


class Registry:
  """Named entries of one kind of component.

  Args:
    kind: what the entries are, for messages ('GAN objective', 'penalty', ...).
    make: ``make(entry, **kwargs) -> component``; default ``entry(**kwargs)``.
    signature: ``signature(entry)`` is the callable whose parameters are the valid
      keyword arguments; default the entry itself.
    skip: leading parameters of that callable that are not keyword arguments of ``get``
      (e.g. the two logits of a loss).
    check_values: also check each value against its default's type
      (:func:`check_values`).
  """

  def __init__(self, kind: str, make: Callable[..., Any] | None = None,
               signature: Callable[[Any], Callable] | None = None, skip: int = 0,
               check_values: bool = True):
    self.kind = kind
    self._check_values = check_values
    self._make = make or (lambda entry, **kwargs: entry(**kwargs))
    self._signature = signature or (lambda entry: entry)
    self._skip = skip
    self._entries: dict[str, Any] = {}

  def register(self, name: str, entry: Any = None):
    """Registers ``entry`` under ``name``; without ``entry``, a decorator."""
    if entry is None:
      return lambda e: self.register(name, e)
    if name in self._entries:
      raise ValueError(f'{self.kind} {name!r} is already registered.')
    self._entries[name] = entry
    return entry

  def names(self) -> list[str]:
    """The registered names, in registration order."""
    return list(self._entries)

  def __contains__(self, name: str) -> bool:
    return name in self._entries

  def entry(self, name: str) -> Any:
    """The registered entry of ``name``; ``ValueError`` listing the valid names if none."""
    try:
      return self._entries[name]
    except KeyError:
      raise UnknownNameError(f'Unknown {self.kind} {name!r}; valid names are: '
                             f'{", ".join(self._entries)}.') from None

  def parameters(self, name: str) -> dict[str, Any]:
    """The keyword arguments ``get(name, ...)`` accepts, with their defaults."""
    return parameters(self._signature(self.entry(name)), self._skip)

  def get(self, spec: str, **kwargs) -> Any:
    """Builds the component of ``spec`` (a name, or ``'name(k=v, ...)'``) with ``kwargs``.

    Raises:
      ValueError: an unknown name (listing the valid ones), or a malformed spec.
      TypeError: an argument the entry does not take, or a missing required one
        (listing the arguments it takes); a value of another type than its default's.
    """
    name, inline = parse_spec(spec)
    both = sorted(set(inline) & set(kwargs))
    if both:
      raise ArgumentError(f'{self.kind} {name!r}: {", ".join(both)} given twice ({spec!r} and '
                          'keyword arguments).')
    kwargs = {**inline, **kwargs}
    entry = self.entry(name)
    signature = self._signature(entry)
    check_kwargs(f'{self.kind} {name!r}', signature, kwargs, self._skip)
    if self._check_values:
      check_values(f'{self.kind} {name!r}', signature, kwargs, self._skip)
    return self._make(entry, **kwargs)
