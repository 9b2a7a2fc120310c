"""Weight initializers chosen by name, so that configs (JSON) can say which one a model uses.

``get('normal(stddev=0.02)')`` is ``flax.linen.initializers.normal(stddev=0.02)``;
:func:`resolve` also passes a callable through, so a module attribute may be either.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn

from jaxgan import registry

Initializer = Callable  # (key, shape, dtype) -> array

# JAX's initializers take an int or a sequence for their axes (in_axis=-2 or (0, 1)): their
# defaults' types do not bound their values, so only names and keywords are checked.
_INITIALIZERS = registry.Registry('initializer', check_values=False)
for _name, _factory in (
    ('glorot_uniform', nn.initializers.glorot_uniform),   # = Xavier uniform, Keras' default
    # The *_normal ones draw from a truncated normal (rescaled to the variance), unlike
    # PyTorch's kaiming_normal_ / xavier_normal_ (jaxgan.models.sr.kaiming_normal is not).
    ('glorot_normal', nn.initializers.glorot_normal),
    ('lecun_normal', nn.initializers.lecun_normal),       # Flax's default
    ('he_normal', nn.initializers.he_normal),             # Kaiming's variance, fan_in
    ('he_uniform', nn.initializers.he_uniform),
    ('orthogonal', nn.initializers.orthogonal),
    ('normal', nn.initializers.normal),                   # N(0, stddev^2)
    ('uniform', nn.initializers.uniform),                 # U[0, scale)
    ('variance_scaling', nn.initializers.variance_scaling),
):
  _INITIALIZERS.register(_name, _factory)
_INITIALIZERS.register('zeros', lambda: nn.initializers.zeros)
_INITIALIZERS.register('ones', lambda: nn.initializers.ones)
del _name, _factory


def names() -> list[str]:
  """The initializer names :func:`get` accepts."""
  return _INITIALIZERS.names()


def get(spec: str, **kwargs) -> Initializer:
  """The initializer of ``spec``, e.g. ``'glorot_uniform'`` or ``'normal(stddev=0.02)'``."""
  return _INITIALIZERS.get(spec, **kwargs)


def resolve(init: str | Initializer) -> Initializer:
  """``init`` itself if callable, else :func:`get` of the spec string."""
  return init if callable(init) else get(init)
