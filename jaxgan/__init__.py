"""jaxgan: GAN objectives, penalties, models and training in JAX/Flax.

``jaxgan.losses`` and ``jaxgan.penalties`` are imported with the package; every other
submodule on first use (``jaxgan.models.names()`` after a plain ``import jaxgan``), so that
importing the pure functions does not load the data, model and training code.
"""

from jaxgan import lazy, losses, penalties

__version__ = '0.1.0'
__all__ = ['losses', 'penalties']

_LAZY = ('arrays', 'augment', 'auxiliary', 'build', 'checkpoints', 'content', 'data', 'evaluate',
         'files', 'gan', 'inference', 'latent_walk', 'metrics', 'models', 'optimizers',
         'plots', 'progress', 'registry', 'seeds', 'sharding', 'torch_weights', 'train',
         'upscale', 'validation', 'workdir', 'writers')


__getattr__, __dir__ = lazy.submodules(__name__, _LAZY, [*__all__, '__version__'])
