"""Gradient penalties and Lipschitz control for GAN critics, as pure functions.

Every penalty has the signature ``penalty(critic_fn, real, fake, key) -> scalar`` where
``critic_fn`` maps a batch ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``
(close over the critic's parameters: ``lambda x: model.apply(params, x)``). A penalty
ignores the arguments it does not use. The input gradient ``g_i = grad_x D(x_i)`` is taken
per example over all non-batch axes with ``jax.vmap(jax.grad(...))``; the value returned is
the *unweighted* batch mean (the weight, lambda or gamma, comes from the config). Every
penalty is differentiable with respect to the critic's parameters (double backprop).

Choose a penalty by name with :func:`get`; :func:`names` lists them. Weight clipping
(:func:`clip_weights`) and spectral normalization (``flax.linen.SpectralNorm``, used by
``jaxgan.models``) are the other two Lipschitz controls.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import optax

CriticFn = Callable[[chex.Array], chex.Array]
PenaltyFn = Callable[[CriticFn, chex.Array, chex.Array, chex.PRNGKey], chex.Array]


def _check_pair(real: chex.Array, fake: chex.Array) -> None:
  if real.shape != fake.shape:
    raise ValueError('real and fake must have the same shape; got real of shape '
                     f'{real.shape} and fake of shape {fake.shape}.')


def input_gradients(critic_fn: CriticFn, x: chex.Array) -> chex.Array:
  """Per-example input gradients ``g_i = grad_x D(x_i)`` of a batched critic.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    x: points ``[batch, ...]``.

  Returns:
    ``g`` with the shape of ``x``; ``g[i]`` is the gradient of ``D`` at ``x[i]`` alone,
    so critics that couple examples (e.g. batch statistics) are evaluated per example.
  """
  def single(xi: chex.Array) -> chex.Array:
    out = critic_fn(xi[None])
    if out.shape not in ((1,), (1, 1)):
      raise ValueError('critic_fn must map x[batch, ...] to logits [batch] or [batch, 1]; '
                       f'for a batch of 1 it returned shape {out.shape}.')
    return out.reshape(())
  return jax.vmap(jax.grad(single))(x)


def gradient_norms(critic_fn: CriticFn, x: chex.Array) -> chex.Array:
  """``||grad_x D(x_i)||_2`` over all non-batch axes, shape ``[batch]``.

  Uses ``optax.safe_norm`` so that a zero gradient has a finite derivative.
  """
  g = input_gradients(critic_fn, x)
  return optax.safe_norm(g.reshape(g.shape[0], -1), 0.0, axis=-1)


def interpolates(real: chex.Array, fake: chex.Array, key: chex.PRNGKey) -> chex.Array:
  """``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` per example."""
  _check_pair(real, fake)
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype)
  return eps * real + (1.0 - eps) * fake


def gradient_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                     key: chex.PRNGKey) -> chex.Array:
  """WGAN-GP two-sided gradient penalty at random interpolates.

  ``E_xhat (||grad D(xhat)|| - 1)^2`` with ``xhat = eps x_real + (1 - eps) x_fake``,
  ``eps ~ U[0, 1]`` per example. The paper weights it lambda = 10.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: generated samples, the same shape as ``real``.
    key: PRNG key for the interpolation coefficients.

  Returns:
    The unweighted scalar penalty.

  References:
    Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017, Algorithm 1.
  """
  norms = gradient_norms(critic_fn, interpolates(real, fake, key))
  return jnp.mean(jnp.square(norms - 1.0))


def lipschitz_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                      key: chex.PRNGKey) -> chex.Array:
  """WGAN-LP one-sided Lipschitz penalty at random interpolates.

  ``E_xhat max(0, ||grad D(xhat)|| - 1)^2``, the same points as :func:`gradient_penalty`;
  gradients of norm below 1 are not penalized.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: generated samples, the same shape as ``real``.
    key: PRNG key for the interpolation coefficients.

  Returns:
    The unweighted scalar penalty.

  References:
    Petzka et al., On the regularization of Wasserstein GANs, ICLR 2018, eq. (8).
  """
  norms = gradient_norms(critic_fn, interpolates(real, fake, key))
  return jnp.mean(jnp.square(jax.nn.relu(norms - 1.0)))


def dragan_points(real: chex.Array, key: chex.PRNGKey, scale: float = 0.5,
                  data_range: tuple[float, float] | None = None) -> chex.Array:
  """DRAGAN's perturbed real points ``clip(x + alpha * scale * std(x) * u)``.

  ``u ~ U[0, 1]`` per element and ``alpha ~ U[-1, 1]`` per example (two-sided: the
  one-sided U[0, 1] of the first paper version was acknowledged as a bug by its author);
  ``std`` is the standard deviation of the whole real batch.

  Args:
    real: real samples ``[batch, ...]``.
    key: PRNG key.
    scale: the perturbation scale (0.5 in the paper).
    data_range: ``(low, high)`` to clip the points to, e.g. ``(-1, 1)`` for images;
      ``None`` leaves them unclipped (2-D mixtures have no bounded range).

  Returns:
    The perturbed points, the shape of ``real``.
  """
  k_u, k_alpha = jax.random.split(key)
  u = jax.random.uniform(k_u, real.shape, real.dtype)
  alpha = jax.random.uniform(k_alpha, (real.shape[0],) + (1,) * (real.ndim - 1), real.dtype,
                             minval=-1.0, maxval=1.0)
  points = real + alpha * (scale * jnp.std(real) * u)
  if data_range is not None:
    points = jnp.clip(points, data_range[0], data_range[1])
  return points


def dragan_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                   key: chex.PRNGKey, scale: float = 0.5,
                   data_range: tuple[float, float] | None = None) -> chex.Array:
  """DRAGAN gradient penalty around the real data.

  ``E (||grad D(xhat)|| - 1)^2`` at the points of :func:`dragan_points`. Weight lambda = 10.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: unused except for the shape check.
    key: PRNG key for the perturbations.
    scale: the perturbation scale (0.5 in the paper).
    data_range: ``(low, high)`` to clip the points to, or ``None``.

  Returns:
    The unweighted scalar penalty.

  References:
    Kodali et al., On Convergence and Stability of GANs, arXiv:1705.07215, 2017.
  """
  _check_pair(real, fake)
  norms = gradient_norms(critic_fn, dragan_points(real, key, scale, data_range))
  return jnp.mean(jnp.square(norms - 1.0))


def _mean_squared_gradient_norm(critic_fn: CriticFn, x: chex.Array) -> chex.Array:
  g = input_gradients(critic_fn, x)
  return jnp.mean(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=-1))


def r1_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
               key: chex.PRNGKey | None = None) -> chex.Array:
  """R1 regularizer: ``E_real ||grad D(x_real)||^2``.

  StyleGAN2 weights it gamma / 2 and may apply it lazily (every k steps, weight times k).

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: unused except for the shape check.
    key: unused.

  Returns:
    The unweighted scalar penalty.

  References:
    Mescheder et al., Which Training Methods for GANs do actually Converge?, ICML 2018,
    eq. (9).
  """
  del key
  _check_pair(real, fake)
  return _mean_squared_gradient_norm(critic_fn, real)


def r2_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
               key: chex.PRNGKey | None = None) -> chex.Array:
  """R2 regularizer: ``E_fake ||grad D(x_fake)||^2``.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: unused except for the shape check.
    fake: generated samples ``[batch, ...]``.
    key: unused.

  Returns:
    The unweighted scalar penalty.

  References:
    Mescheder et al., Which Training Methods for GANs do actually Converge?, ICML 2018,
    eq. (10).
  """
  del key
  _check_pair(real, fake)
  return _mean_squared_gradient_norm(critic_fn, fake)


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


_REGISTRY: dict[str, Callable[..., chex.Array]] = {
    'wgan_gp': gradient_penalty,
    'wgan_lp': lipschitz_penalty,
    'dragan': dragan_penalty,
    'r1': r1_penalty,
    'r2': r2_penalty,
}


def names() -> list[str]:
  """The names :func:`get` accepts."""
  return list(_REGISTRY)


def get(name: str, **hparams) -> PenaltyFn:
  """Returns penalty ``name`` as ``fn(critic_fn, real, fake, key) -> scalar``.

  Args:
    name: one of :func:`names`.
    **hparams: the penalty's keyword hyper-parameters (only ``dragan`` has any:
      ``scale`` and ``data_range``).

  Raises:
    ValueError: an unknown name (the message lists the valid names).
    TypeError: a hyper-parameter the penalty does not have.
  """
  try:
    fn = _REGISTRY[name]
  except KeyError:
    raise ValueError(f'Unknown penalty {name!r}; valid names are: {", ".join(names())}.'
                     ) from None
  valid = list(inspect.signature(fn).parameters)[4:]
  unknown = sorted(set(hparams) - set(valid))
  if unknown:
    raise TypeError(f'Penalty {name!r} has no hyper-parameter(s) {", ".join(unknown)}; '
                    f'it takes: {", ".join(valid) or "none"}.')
  return functools.partial(fn, **hparams) if hparams else fn
