"""Update rules of the two players: optax optimizers chosen by name, and weight clipping.

``get('adam', learning_rate=2e-4, b1=0.5, b2=0.999)`` is ``optax.adam`` with those
arguments; the valid keyword arguments are the optax function's own. Weight clipping
(WGAN) is a projection applied after each critic update, not a penalty.
"""

from __future__ import annotations

import chex
import jax
import optax

from jaxgan import registry

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


def clip_weights(params: chex.ArrayTree, clip_value: float = 0.01) -> chex.ArrayTree:
  """WGAN weight clipping: projects every critic parameter onto ``[-c, c]``.

  Apply after each critic update (``optax.projections.projection_box``).

  Args:
    params: the critic's parameter pytree.
    clip_value: ``c`` (0.01 in the paper, with RMSprop at lr 5e-5).

  Returns:
    The clipped parameters.

  References:
    Arjovsky et al., Wasserstein Generative Adversarial Networks, ICML 2017, Algorithm 1.
  """
  # projection_box documents scalar bounds but tree-maps them (optax 0.2.8): pass trees.
  lower = jax.tree.map(lambda _: -clip_value, params)
  upper = jax.tree.map(lambda _: clip_value, params)
  return optax.projections.projection_box(params, lower, upper)
