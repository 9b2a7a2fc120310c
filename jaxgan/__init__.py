"""jaxgan: GAN objectives, penalties, models and training in JAX/Flax."""

from jaxgan import losses, penalties

__version__ = '0.1.0'
__all__ = ['losses', 'penalties']
