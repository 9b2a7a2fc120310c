"""GAN objectives as pure functions of critic logits.

Every objective is a pair of plain functions of ``(real_logits, fake_logits)``:

* ``<name>_discriminator_loss`` -- minimized by the discriminator (critic);
* ``<name>_generator_loss`` -- minimized by the generator.

``real_logits = D(x_real)`` and ``fake_logits = D(G(z))`` have shape ``(batch,)``
or ``(batch, 1)``; every function returns a scalar in the dtype of its inputs, as JAX
promotes it: float32 for integer logits, and float32 for bfloat16 logits with a NumPy
float64 hyper-parameter, where a Python number keeps them bfloat16. ``E`` below is the
mean over the batch and ``softplus(t) = log(1 + e^t)``, so
``-log sigmoid(t) = softplus(-t)`` and ``-log(1 - sigmoid(t)) = softplus(t)``: logits of
+/-100 give finite losses and gradients.

Choose an objective by name with :func:`get`; :func:`names` lists them.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp

from jaxgan import registry

LossFn = Callable[[chex.Array, chex.Array], chex.Array]


def _as_vector(logits: chex.Array, which: str) -> chex.Array:
  """Returns logits of shape (batch,) or (batch, 1), batch >= 1, as (batch,); else
  ValueError (an empty batch has no mean: NaN)."""
  logits = jnp.asarray(logits)
  if logits.ndim in (1, 2) and logits.shape[0] == 0:
    raise ValueError(f'{which} is an empty batch (shape {logits.shape}); a loss needs at '
                     'least one logit.')
  if logits.ndim == 1:
    return logits
  if logits.ndim == 2 and logits.shape[1] == 1:
    return logits[:, 0]
  raise ValueError(
      f'{which} must have shape (batch,) or (batch, 1); got shape {logits.shape}.')


def _pair(real_logits: chex.Array, fake_logits: chex.Array,
          paired: bool = False) -> tuple[chex.Array, chex.Array]:
  r = _as_vector(real_logits, 'real_logits')
  f = _as_vector(fake_logits, 'fake_logits')
  if paired and r.shape != f.shape:
    raise ValueError('This objective pairs real_logits[i] with fake_logits[i]; got '
                     f'real_logits of shape {r.shape} and fake_logits of shape {f.shape}.')
  return r, f


def _check_labels(logits: chex.Array, **labels: Any) -> None:
  """Target labels are scalars (or, per example, of the flattened logits' shape): a
  ``[batch, 1]`` label against ``[batch]`` logits would broadcast to ``[batch, batch]``."""
  for name, value in labels.items():
    if jnp.shape(value) not in ((), logits.shape):
      raise ValueError(f'Label {name} must be a scalar or of shape {logits.shape} (the '
                       f'logits, flattened); got shape {jnp.shape(value)}.')


# ---------------------------------------------------------------------------
# Minimax and non-saturating (Goodfellow et al. 2014)


def minimax_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the minimax GAN and of the non-saturating GAN.

  ``L_D = E softplus(-r) + E softplus(f) = -E log sigmoid(r) - E log(1 - sigmoid(f))``,
  the binary cross-entropy with label 1 for real and 0 for fake samples.

  Args:
    real_logits: critic logits on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic logits on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, eq. (1) and section 3
    (the non-saturating GAN changes only the generator's loss).
  """
  r, f = _pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))


non_saturating_discriminator_loss = minimax_discriminator_loss


def minimax_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of the minimax GAN (the *saturating* form).

  ``L_G = E log(1 - sigmoid(f)) = -E softplus(f)``; its gradient vanishes when the
  discriminator confidently rejects the samples (f -> -inf).

  Args:
    real_logits: unused; kept for the common signature.
    fake_logits: critic logits on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, eq. (1).
  """
  _, f = _pair(real_logits, fake_logits)
  return -jnp.mean(jax.nn.softplus(f))


def non_saturating_generator_loss(real_logits: chex.Array,
                                  fake_logits: chex.Array) -> chex.Array:
  """Generator loss of the non-saturating GAN (NS-GAN).

  ``L_G = -E log sigmoid(f) = E softplus(-f)``.

  Args:
    real_logits: unused; kept for the common signature.
    fake_logits: critic logits on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Goodfellow et al., Generative Adversarial Nets, NeurIPS 2014, section 3;
    Karras et al., Analyzing and Improving the Image Quality of StyleGAN, CVPR 2020.
  """
  _, f = _pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.softplus(-f))


# ---------------------------------------------------------------------------
# Least squares (Mao et al. 2017)


def least_squares_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array,
                                     a: float = 0.0, b: float = 1.0, c: float = 1.0,
                                     scale: float = 0.5) -> chex.Array:
  """Discriminator loss of the least-squares GAN.

  ``L_D = scale * E (r - b)^2 + scale * E (f - a)^2`` with ``scale = 1/2`` in the paper.

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).
    a: target label of fake samples for the discriminator (a scalar, or one per example
      of the flattened logits' shape ``[batch]``; another shape is a ``ValueError``).
    b: target label of real samples (as ``a``).
    c: unused here (the generator's target); kept so one set of labels serves both.
    scale: factor of each squared term (1/2 in the paper, 1 for plain MSE).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017, eq. (2).
    ``a=-1, b=1, c=0`` gives the Pearson chi^2 divergence (b - c = 1, b - a = 2).
  """
  del c
  r, f = _pair(real_logits, fake_logits)
  _check_labels(r, b=b)
  _check_labels(f, a=a)
  return scale * jnp.mean(jnp.square(r - b)) + scale * jnp.mean(jnp.square(f - a))


def least_squares_generator_loss(real_logits: chex.Array, fake_logits: chex.Array,
                                 a: float = 0.0, b: float = 1.0, c: float = 1.0,
                                 scale: float = 0.5) -> chex.Array:
  """Generator loss of the least-squares GAN.

  ``L_G = scale * E (f - c)^2``.

  Args:
    real_logits: unused; kept for the common signature.
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).
    a: unused here (the discriminator's fake label).
    b: unused here (the discriminator's real label).
    c: the value the generator wants the critic to output on its samples (a scalar, or
      one per example of shape ``[batch]``; another shape is a ``ValueError``).
    scale: factor of the squared term (1/2 in the paper).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Mao et al., Least Squares Generative Adversarial Networks, ICCV 2017, eq. (2).
  """
  del a, b
  _, f = _pair(real_logits, fake_logits)
  _check_labels(f, c=c)
  return scale * jnp.mean(jnp.square(f - c))


# ---------------------------------------------------------------------------
# Wasserstein (Arjovsky et al. 2017) and hinge (Lim & Ye 2017)


def wasserstein_discriminator_loss(real_logits: chex.Array,
                                   fake_logits: chex.Array) -> chex.Array:
  """Critic loss of the Wasserstein GAN: ``L_D = E f - E r``.

  Needs a Lipschitz constraint on the critic (weight clipping, a gradient penalty or
  spectral normalization) to estimate the Wasserstein-1 distance.

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the critic.

  References:
    Arjovsky et al., Wasserstein Generative Adversarial Networks, ICML 2017, Algorithm 1.
  """
  r, f = _pair(real_logits, fake_logits)
  return jnp.mean(f) - jnp.mean(r)


def wasserstein_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of the Wasserstein GAN and of the hinge GAN: ``L_G = -E f``.

  Args:
    real_logits: unused; kept for the common signature.
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Arjovsky et al., Wasserstein Generative Adversarial Networks, ICML 2017, Algorithm 1;
    Lim & Ye, Geometric GAN, 2017, and Miyato et al., Spectral Normalization for GANs,
    ICLR 2018 (the hinge GAN's generator loss).
  """
  _, f = _pair(real_logits, fake_logits)
  return -jnp.mean(f)


def hinge_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the hinge GAN (both generator forms):
  ``L_D = E relu(1 - r) + E relu(1 + f)``.

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Lim & Ye, Geometric GAN, arXiv:1705.02894, 2017; used by SNGAN (Miyato et al. 2018),
    SAGAN (Zhang et al. 2019) and BigGAN (Brock et al. 2019).
  """
  r, f = _pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - r)) + jnp.mean(jax.nn.relu(1.0 + f))


hinge_generator_loss = wasserstein_generator_loss
hinge_v1_discriminator_loss = hinge_discriminator_loss


def hinge_v1_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of the "type 1" hinge GAN: ``L_G = E relu(1 - f)``.

  The symmetric form some code uses: the generator stops pushing once ``f >= 1``. The
  papers' hinge GAN (Lim & Ye; SNGAN, SAGAN, BigGAN) uses ``-E f`` (:data:`hinge`); this form
  and the name come from Lynn Ho's GAN code, whose ``hinge_v2`` is jaxgan's ``hinge``.

  Args:
    real_logits: unused; kept for the common signature.
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    L. Ho, DCGAN-LSGAN-WGAN-GP-DRAGAN-Tensorflow-2, ``tf2gan/loss.py``
    (``get_hinge_v1_losses_fn``),
    https://github.com/LynnHo/DCGAN-LSGAN-WGAN-GP-DRAGAN-Tensorflow-2.
  """
  _, f = _pair(real_logits, fake_logits)
  return jnp.mean(jax.nn.relu(1.0 - f))


# ---------------------------------------------------------------------------
# Relativistic objectives (Jolicoeur-Martineau 2018)
# The average-relativistic generator losses are the discriminator losses with the roles
# of real and fake swapped; the private cores below take already validated vectors.


def _rasgan(x: chex.Array, y: chex.Array) -> chex.Array:
  return (jnp.mean(jax.nn.softplus(-(x - jnp.mean(y))))
          + jnp.mean(jax.nn.softplus(y - jnp.mean(x))))


def _ralsgan(x: chex.Array, y: chex.Array) -> chex.Array:
  return (jnp.mean(jnp.square(x - jnp.mean(y) - 1.0))
          + jnp.mean(jnp.square(y - jnp.mean(x) + 1.0)))


def _rahinge(x: chex.Array, y: chex.Array) -> chex.Array:
  return (jnp.mean(jax.nn.relu(1.0 - (x - jnp.mean(y))))
          + jnp.mean(jax.nn.relu(1.0 + (y - jnp.mean(x)))))


def rsgan_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the relativistic standard GAN (RSGAN).

  ``L_D = E softplus(-(r_i - f_i))``: real samples should look more real than the fake
  sample they are paired with.

  Args:
    real_logits: critic logits on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic logits on generated samples, the same batch size.

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator: a key element missing from
    standard GAN, ICLR 2019 (arXiv:1807.00734), Algorithm 1.
  """
  r, f = _pair(real_logits, fake_logits, paired=True)
  return jnp.mean(jax.nn.softplus(-(r - f)))


def rsgan_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of RSGAN: ``L_G = E softplus(-(f_i - r_i))``.

  Args:
    real_logits: critic logits on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic logits on generated samples, the same batch size.

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, Algorithm 1.
  """
  r, f = _pair(real_logits, fake_logits, paired=True)
  return jnp.mean(jax.nn.softplus(-(f - r)))


def rasgan_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the relativistic average standard GAN (RaSGAN).

  ``L_D = E softplus(-(r - E f)) + E softplus(f - E r)``.

  The paper's sum of the two terms (and of the generator's); the author's code halves
  both losses, which scales the gradients by 1/2 (barely felt with Adam).

  Args:
    real_logits: critic logits on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic logits on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, Algorithm 2.
  """
  return _rasgan(*_pair(real_logits, fake_logits))


def rasgan_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of RaSGAN: ``L_G = E softplus(-(f - E r)) + E softplus(r - E f)``.

  Args:
    real_logits: critic logits on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic logits on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, Algorithm 2.
  """
  r, f = _pair(real_logits, fake_logits)
  return _rasgan(f, r)


def ralsgan_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the relativistic average least-squares GAN (RaLSGAN).

  ``L_D = E (r - E f - 1)^2 + E (f - E r + 1)^2``.

  The paper's sum of the two terms (and of the generator's); the author's code halves
  both losses, which scales the gradients by 1/2 (barely felt with Adam).

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, eq. (8)/(9).
  """
  return _ralsgan(*_pair(real_logits, fake_logits))


def ralsgan_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of RaLSGAN: ``L_G = E (f - E r - 1)^2 + E (r - E f + 1)^2``.

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, eq. (8)/(9).
  """
  r, f = _pair(real_logits, fake_logits)
  return _ralsgan(f, r)


def rahinge_discriminator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Discriminator loss of the relativistic average hinge GAN (RaHinge).

  ``L_D = E relu(1 - (r - E f)) + E relu(1 + (f - E r))``.

  The paper's sum of the two terms (and of the generator's); the author's code halves
  both losses, which scales the gradients by 1/2 (barely felt with Adam).

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the discriminator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, section 4.3.
  """
  return _rahinge(*_pair(real_logits, fake_logits))


def rahinge_generator_loss(real_logits: chex.Array, fake_logits: chex.Array) -> chex.Array:
  """Generator loss of RaHinge: ``L_G = E relu(1 - (f - E r)) + E relu(1 + (r - E f))``.

  Args:
    real_logits: critic outputs on real samples, shape (batch,) or (batch, 1).
    fake_logits: critic outputs on generated samples, shape (batch,) or (batch, 1).

  Returns:
    The scalar loss, minimized by the generator.

  References:
    Jolicoeur-Martineau, The relativistic discriminator, ICLR 2019, section 4.3.
  """
  r, f = _pair(real_logits, fake_logits)
  return _rahinge(f, r)


# ---------------------------------------------------------------------------
# Registry


@dataclasses.dataclass(frozen=True)
class Objective:
  """A GAN objective: the two losses, with any hyper-parameters already bound."""
  name: str
  discriminator_loss: LossFn
  generator_loss: LossFn


def _bind(objective: Objective, **hparams: float) -> Objective:
  if not hparams:
    return objective
  return dataclasses.replace(
      objective, discriminator_loss=functools.partial(objective.discriminator_loss, **hparams),
      generator_loss=functools.partial(objective.generator_loss, **hparams))


# The hyper-parameters of an objective are those of its discriminator loss after the two
# logits (both losses of a pair take the same ones).
_OBJECTIVES = registry.Registry('GAN objective', make=_bind,
                                signature=lambda o: o.discriminator_loss, skip=2)
for _name, _d, _g in (
    ('minimax', minimax_discriminator_loss, minimax_generator_loss),
    ('non_saturating', non_saturating_discriminator_loss, non_saturating_generator_loss),
    ('least_squares', least_squares_discriminator_loss, least_squares_generator_loss),
    ('wasserstein', wasserstein_discriminator_loss, wasserstein_generator_loss),
    ('hinge', hinge_discriminator_loss, hinge_generator_loss),
    ('hinge_v1', hinge_v1_discriminator_loss, hinge_v1_generator_loss),
    ('rsgan', rsgan_discriminator_loss, rsgan_generator_loss),
    ('rasgan', rasgan_discriminator_loss, rasgan_generator_loss),
    ('ralsgan', ralsgan_discriminator_loss, ralsgan_generator_loss),
    ('rahinge', rahinge_discriminator_loss, rahinge_generator_loss),
):
  _OBJECTIVES.register(_name, Objective(_name, _d, _g))
del _name, _d, _g


def names() -> list[str]:
  """The names :func:`get` accepts, in the order of the contract."""
  return _OBJECTIVES.names()


def hyperparameters(name: str) -> dict[str, float]:
  """The hyper-parameters of objective ``name`` with their defaults (may be empty)."""
  return _OBJECTIVES.parameters(name)


def get(name: str, **hparams: float) -> Objective:
  """Returns the objective ``name`` with hyper-parameters ``hparams`` bound.

  Args:
    name: one of :func:`names`, e.g. ``'hinge'``, optionally with hyper-parameters
      inline: ``'least_squares(a=-1.0, b=1.0, c=0.0)'``.
    **hparams: hyper-parameters of that objective (only ``least_squares`` has any:
      ``a``, ``b``, ``c``, ``scale``).

  Returns:
    An :class:`Objective` whose ``discriminator_loss`` and ``generator_loss`` take
    ``(real_logits, fake_logits)``.

  Raises:
    ValueError: ``name`` is unknown (the message lists the valid names).
    TypeError: a hyper-parameter the objective does not have (the message lists them).
  """
  return _OBJECTIVES.get(name, **hparams)
