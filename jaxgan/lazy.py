"""Submodules of a package imported on first use (PEP 562), so that importing the package
does not load them: ``import jaxgan`` gives the pure losses and penalties at once, and
``jaxgan.models`` loads the models when first named."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from types import ModuleType


def submodules(package: str, lazy: Iterable[str],
               public: Iterable[str]) -> tuple[Callable[[str], ModuleType],
                                               Callable[[], list[str]]]:
  """``(__getattr__, __dir__)`` for ``package``'s ``__init__``: ``__getattr__`` imports
  the submodules named in ``lazy`` on first use and raises ``AttributeError`` for any
  other missing name; ``__dir__`` lists ``public`` and ``lazy``."""
  lazy = tuple(lazy)
  names = sorted({*public, *lazy})

  def getattr_(name: str) -> ModuleType:
    if name in lazy:
      return importlib.import_module(f'{package}.{name}')
    raise AttributeError(f'module {package!r} has no attribute {name!r}')

  def dir_() -> list[str]:
    return list(names)

  return getattr_, dir_
