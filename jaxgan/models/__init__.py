"""GAN models as plain Flax Linen modules, chosen by name.

Every generator maps ``z[batch, z_dim]`` to samples; every discriminator maps samples to
logits ``[batch]``; both take ``train: bool``.
"""

from __future__ import annotations

import flax.linen as nn

from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator

_REGISTRY: dict[str, tuple[type[nn.Module], type[nn.Module]]] = {
    'mlp': (MLPGenerator, MLPDiscriminator),
    'dcgan': (DCGANGenerator, DCGANDiscriminator),
}


def names() -> list[str]:
  """The model names :func:`get` accepts."""
  return list(_REGISTRY)


def get(name: str, generator: dict | None = None,
        discriminator: dict | None = None) -> tuple[nn.Module, nn.Module]:
  """Returns ``(generator, discriminator)`` modules of model family ``name``.

  Args:
    name: one of :func:`names`.
    generator: keyword attributes of the generator module.
    discriminator: keyword attributes of the discriminator module.

  Raises:
    ValueError: an unknown name (the message lists the valid names).
    TypeError: an attribute the module does not have.
  """
  try:
    g_cls, d_cls = _REGISTRY[name]
  except KeyError:
    raise ValueError(f'Unknown model {name!r}; valid names are: {", ".join(names())}.'
                     ) from None
  return g_cls(**(generator or {})), d_cls(**(discriminator or {}))


__all__ = ['DCGANDiscriminator', 'DCGANGenerator', 'MLPDiscriminator', 'MLPGenerator',
           'get', 'names']
