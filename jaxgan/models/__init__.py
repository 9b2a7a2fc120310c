"""GAN models as plain Flax Linen modules, chosen by name.

A model family is a generator and a discriminator class and what they are conditioned on:

* ``'none'``: ``G(z)``, ``D(x)``;
* ``'labels'``: class-conditional ``G(z, y)`` and ``D(x, y)`` (cGAN, projection D);
* ``'generator_labels'``: ``G(z, y)``, ``D(x) -> (logits, heads)`` (ACGAN);
* ``'codes'``: ``G(z, codes)``, ``D(x) -> (logits, heads)`` (InfoGAN);
* ``'lowres'``: ``G(low-resolution image)``, ``D(x)`` (super-resolution).

Every generator is called as ``G(z, y=None, train=...)`` and every discriminator as
``D(x, y=None, train=...)``, returning logits ``[batch]`` or ``(logits, heads)``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn

from jaxgan import registry
from jaxgan.models import initializers
from jaxgan.models.conditional import (
    ACGANDiscriminator,
    ConditionalDiscriminator,
    ConditionalGenerator,
    InfoGANDiscriminator,
    InfoGANGenerator,
)
from jaxgan.models.dcgan import DCGANDiscriminator, DCGANGenerator
from jaxgan.models.mlp import MLPDiscriminator, MLPGenerator
from jaxgan.models.resnet import ResNetDiscriminator, ResNetGenerator
from jaxgan.models.sr import RRDBNet, SRGANDiscriminator, SRResNet

CONDITIONINGS = ('none', 'labels', 'generator_labels', 'codes', 'lowres')


@dataclasses.dataclass(frozen=True)
class Family:
  """A registered model: its two module classes and what they are conditioned on."""
  name: str
  generator: type[nn.Module] | functools.partial
  discriminator: type[nn.Module] | functools.partial
  conditioning: str = 'none'


def _signature(generator: dict | None = None, discriminator: dict | None = None):
  """``get``'s keyword arguments: the attributes of each module."""


def _make(family: Family, generator: dict | None = None,
          discriminator: dict | None = None) -> tuple[nn.Module, nn.Module]:
  modules = []
  for part, cls, kwargs in (('generator', family.generator, generator),
                            ('discriminator', family.discriminator, discriminator)):
    what = f'The {part} of model {family.name!r}'
    kwargs = _named_inits(what, kwargs)
    registry.check_kwargs(what, cls, kwargs)
    # spectral_norm='False' is not true. Against the class's own defaults, not a partial's
    # (sagan's attention_at=16 may be None); an initializer may be a name or a function.
    registry.check_values(what, getattr(cls, 'func', cls),
                          {k: v for k, v in kwargs.items() if not k.endswith('_init')})
    modules.append(cls(**kwargs))
  return modules[0], modules[1]


def _named_inits(what: str, kwargs: Mapping | Any | None) -> dict:
  """``kwargs`` with every initializer given by name (an ``*_init`` attribute, e.g.
  ``kernel_init='orthogonal'``: a config can only hold a name) made the initializer."""
  if kwargs is not None and not callable(getattr(kwargs, 'items', None)):  # ConfigDict too
    raise registry.ArgumentError(f'{what} takes a dict of module attributes; got {kwargs!r}.')
  return {k: initializers.resolve(v) if k.endswith('_init') and isinstance(v, str) else v
          for k, v in (kwargs or {}).items()}


_MODELS = registry.Registry('model', make=_make, signature=lambda family: _signature)


def register(name: str, generator: type[nn.Module], discriminator: type[nn.Module],
             conditioning: str = 'none') -> None:
  """Registers a model family under ``name``."""
  if conditioning not in CONDITIONINGS:
    raise ValueError(f'conditioning must be one of {", ".join(CONDITIONINGS)}; got '
                     f'{conditioning!r}.')
  _MODELS.register(name, Family(name, generator, discriminator, conditioning))


register('mlp', MLPGenerator, MLPDiscriminator)
register('dcgan', DCGANGenerator, DCGANDiscriminator)
# Conditional models of the 28 px digits.
register('cgan', ConditionalGenerator, ConditionalDiscriminator, 'labels')
register('acgan', ConditionalGenerator, ACGANDiscriminator, 'generator_labels')
register('infogan', InfoGANGenerator, InfoGANDiscriminator, 'codes')
# ResNet GANs of 32 px images: SNGAN (Miyato et al. 2018), cGAN with a projection
# discriminator (Miyato & Koyama 2018), SAGAN (Zhang et al. 2019) and its class-conditional
# version (conditional BN in G, projection D).
register('sngan', ResNetGenerator, ResNetDiscriminator)
register('cgan_pd', functools.partial(ResNetGenerator, num_classes=10),
         functools.partial(ResNetDiscriminator, num_classes=10), 'labels')
register('sagan', functools.partial(ResNetGenerator, attention_at=16, spectral_norm=True),
         functools.partial(ResNetDiscriminator, attention_at=8))
register('sagan_cond', functools.partial(ResNetGenerator, num_classes=10, attention_at=16,
                                         spectral_norm=True),
         functools.partial(ResNetDiscriminator, num_classes=10, attention_at=8), 'labels')
# 4x super-resolution: SRResNet/SRGAN (Ledig et al. 2017) and RRDBNet/ESRGAN (Wang et al.
# 2018), both with a VGG-style discriminator: SRGAN's or ESRGAN's (its ``layout``;
# configs/esrgan.py sets ESRGAN's).
register('srgan', SRResNet, SRGANDiscriminator, 'lowres')
register('esrgan', RRDBNet, SRGANDiscriminator, 'lowres')


def names() -> list[str]:
  """The model names :func:`get` accepts."""
  return _MODELS.names()


def family(name: str) -> Family:
  """The registered :class:`Family` of ``name`` (``ValueError`` listing names if none)."""
  return _MODELS.entry(name)


def get(name: str, generator: dict | None = None,
        discriminator: dict | None = None) -> tuple[nn.Module, nn.Module]:
  """Returns ``(generator, discriminator)`` modules of model family ``name``.

  Args:
    name: one of :func:`names`.
    generator: keyword attributes of the generator module.
    discriminator: keyword attributes of the discriminator module.

  Raises:
    ValueError: an unknown name (the message lists the valid names).
    TypeError: an attribute the module does not have (the message lists those it has).
  """
  given = dict(generator=generator, discriminator=discriminator)  # or in name(...)
  return _MODELS.get(name, **{k: v for k, v in given.items() if v is not None})


__all__ = ['ACGANDiscriminator', 'ConditionalDiscriminator', 'ConditionalGenerator',
           'DCGANDiscriminator', 'DCGANGenerator', 'Family', 'InfoGANDiscriminator',
           'InfoGANGenerator', 'MLPDiscriminator', 'MLPGenerator', 'RRDBNet',
           'ResNetDiscriminator', 'ResNetGenerator', 'SRGANDiscriminator', 'SRResNet',
           'family', 'get', 'names', 'register']
