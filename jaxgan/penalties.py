"""Gradient penalties and Lipschitz control for GAN critics, as pure functions.

Every penalty has the signature ``penalty(critic_fn, real, fake, key, real_cond=None,
fake_cond=None) -> scalar`` where ``critic_fn`` maps a batch ``x[batch, ...]`` to logits
``[batch]`` or ``[batch, 1]`` (close over the critic's parameters: ``lambda x:
model.apply(params, x)``). A penalty ignores the arguments it does not use: only WGAN-GP and
WGAN-LP, which pair real ``i`` with fake ``i``, need ``real`` and ``fake`` of one shape.
Random points are drawn and built, and the penalty reduced, in float32 (float64 for float64
inputs) whatever the data's dtype. The input gradient ``g_i = grad_x D(x_i)`` is taken over
all non-batch axes, as ``jax.grad`` of the summed logits (``per_example=False``, the
default, and the convention of the papers' code: ``autograd.grad(D(x).sum(), x)``), or on
each example alone with ``jax.vmap(jax.grad(...))`` (``per_example=True``). The two agree
when the critic couples no examples (no batch statistics: inference mode, layer or instance
norm, spectral norm), which the penalties assume (WGAN-GP's critic has no batch norm). A
critic with batch statistics in training mode has no per-example gradient: summed, example
``i`` gets ``sum_j dD_j/dx_i``; alone, it is a batch of one with its own statistics (a batch
norm over the batch axis alone, as after a dense layer, then maps every input to the same
value: gradient 0, an R1 of 0, a WGAN-GP of 1). The value returned is the *unweighted* batch
mean (the weight, lambda or gamma, comes from the config). Every penalty is differentiable
with respect to the critic's parameters (double backprop).

Conditional critics: when ``real_cond`` (a pytree of per-example conditions, e.g. class
labels ``[batch]``) is given, the critic is called as ``critic_fn(x, cond)`` and the
gradient is taken in ``x`` at fixed ``cond``: real points and interpolates between real
``i`` and fake ``i`` use ``real_cond[i]`` (the convention of PyTorch-StudioGAN), fake
points (R2) use ``fake_cond``.

Choose a penalty by name with :func:`get` (``'none'`` gives ``None``); :func:`names` lists
them. Weight clipping (:func:`jaxgan.optimizers.clip_weights`) and spectral normalization
(``jaxgan.models.blocks.SpectralNorm``, used by ``jaxgan.models``) are the other two Lipschitz
controls.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax

from jaxgan import arrays, registry

CriticFn = Callable[..., chex.Array]
PenaltyFn = Callable[..., chex.Array]
Cond = Any  # a pytree of per-example conditions with a leading batch axis, or None


def _reduction_dtype(dtype: Any) -> Any:
  """float32, or float64 for float64 inputs: what penalties reduce and draw in."""
  return jnp.promote_types(dtype, jnp.float32)


def _check_pair(real: chex.Array, fake: chex.Array) -> None:
  if real.shape != fake.shape:
    raise ValueError('real and fake must have the same shape; got real of shape '
                     f'{real.shape} and fake of shape {fake.shape}.')


def input_gradients(critic_fn: CriticFn, x: chex.Array, cond: Cond = None,
                    per_example: bool = False) -> chex.Array:
  """Per-example input gradients ``g_i = grad_x D(x_i)`` of a batched critic.

  Args:
    critic_fn: maps ``x[batch, ...]`` (and ``cond`` when given) to logits ``[batch]`` or
      ``[batch, 1]``.
    x: points ``[batch, ...]``.
    cond: ``None``, or per-example conditions (a pytree with leading axis ``batch``) held
      fixed: ``g_i`` is the gradient of ``D(., cond_i)`` at ``x_i``.
    per_example: ``False`` (default) takes ``grad`` of the summed logits; ``True``
      evaluates the critic on each example alone (``vmap`` of ``grad``, a batch of one
      each). Equal when the critic couples no examples; the summed form is cheaper. For
      a critic with batch statistics neither is an example's own gradient (see the
      module docstring).

  Returns:
    ``g`` with the shape of ``x`` (float32 for integer ``x``, which is taken as float32).

  Raises:
    ValueError: ``x`` has no batch axis or an empty batch.
  """
  if jnp.ndim(x) == 0 or x.shape[0] == 0:
    raise ValueError('A penalty needs a batch of at least one example x[batch, ...]; got x '
                     f'of shape {jnp.shape(x)}.')
  if not jnp.issubdtype(x.dtype, jnp.inexact):  # uint8 images: jax.grad needs floats
    x = x.astype(jnp.float32)
  if not per_example:
    def summed(xs: chex.Array) -> chex.Array:
      out = critic_fn(xs) if cond is None else critic_fn(xs, cond)
      if out.shape not in ((xs.shape[0],), (xs.shape[0], 1)):
        raise ValueError('critic_fn must map x[batch, ...] to logits [batch] or [batch, 1]; '
                         f'for a batch of {xs.shape[0]} it returned shape {out.shape}.')
      return jnp.sum(out.astype(_reduction_dtype(out.dtype)))
    return jax.grad(summed)(x)

  def single(xi: chex.Array, ci: Cond) -> chex.Array:
    args = (xi[None],) if cond is None else (xi[None], jax.tree.map(lambda c: c[None], ci))
    out = critic_fn(*args)
    if out.shape not in ((1,), (1, 1)):
      raise ValueError('critic_fn must map x[batch, ...] to logits [batch] or [batch, 1]; '
                       f'for a batch of 1 it returned shape {out.shape}.')
    return out.reshape(()).astype(_reduction_dtype(out.dtype))
  return jax.vmap(jax.grad(single))(x, cond)


def gradient_norms(critic_fn: CriticFn, x: chex.Array, cond: Cond = None,
                   per_example: bool = False) -> chex.Array:
  """``||grad_x D(x_i)||_2`` over all non-batch axes, shape ``[batch]`` (float32, or
  float64 for a float64 ``x``).

  Uses ``optax.safe_norm`` so that a zero gradient has a finite derivative.
  """
  g = input_gradients(critic_fn, x, cond, per_example)
  g = g.reshape(g.shape[0], -1).astype(_reduction_dtype(g.dtype))
  return optax.safe_norm(g, 0.0, axis=-1)


def interpolates(real: chex.Array, fake: chex.Array, key: chex.PRNGKey) -> chex.Array:
  """``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` per example.

  ``eps`` is drawn, and ``x_hat`` built, in float32 (float64 for float64 inputs) whatever
  the inputs' dtype: a key gives the same ``eps`` for bfloat16 data as for float32, and
  ``eps`` is not rounded to bfloat16's 128 values in [0, 1).
  """
  _check_pair(real, fake)
  dtype = _reduction_dtype(jnp.result_type(real, fake))
  eps = jax.random.uniform(key, (real.shape[0],) + (1,) * (real.ndim - 1), dtype)
  return eps * real.astype(dtype) + (1.0 - eps) * fake.astype(dtype)


def gradient_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                     key: chex.PRNGKey, real_cond: Cond = None, fake_cond: Cond = None,
                     per_example: bool = False) -> chex.Array:
  """WGAN-GP two-sided gradient penalty at random interpolates.

  ``E_xhat (||grad D(xhat)|| - 1)^2`` with ``xhat = eps x_real + (1 - eps) x_fake``,
  ``eps ~ U[0, 1]`` per example. The paper weights it lambda = 10.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: generated samples, the same shape as ``real``.
    key: PRNG key for the interpolation coefficients.
    real_cond: conditions of the real samples (also used for the interpolates), or None.
    fake_cond: unused.
    per_example: see :func:`input_gradients`.

  Returns:
    The unweighted scalar penalty.

  References:
    Gulrajani et al., Improved Training of Wasserstein GANs, NeurIPS 2017, Algorithm 1.
  """
  del fake_cond
  norms = gradient_norms(critic_fn, interpolates(real, fake, key), real_cond, per_example)
  return jnp.mean(jnp.square(norms - 1.0))


def lipschitz_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                      key: chex.PRNGKey, real_cond: Cond = None, fake_cond: Cond = None,
                      per_example: bool = False) -> chex.Array:
  """WGAN-LP one-sided Lipschitz penalty at random interpolates.

  ``E_xhat max(0, ||grad D(xhat)|| - 1)^2``, the same points as :func:`gradient_penalty`;
  gradients of norm below 1 are not penalized.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: generated samples, the same shape as ``real``.
    key: PRNG key for the interpolation coefficients.
    real_cond: conditions of the real samples (also used for the interpolates), or None.
    fake_cond: unused.
    per_example: see :func:`input_gradients`.

  Returns:
    The unweighted scalar penalty.

  References:
    Petzka et al., On the regularization of Wasserstein GANs, ICLR 2018, eq. (8).
  """
  del fake_cond
  norms = gradient_norms(critic_fn, interpolates(real, fake, key), real_cond, per_example)
  return jnp.mean(jnp.square(jax.nn.relu(norms - 1.0)))


def _check_data_range(data_range: Any) -> None:
  if data_range is not None and not (
      isinstance(data_range, (tuple, list)) and len(data_range) == 2
      and all(arrays.is_real_number(v) for v in data_range)
      and data_range[0] < data_range[1]):
    raise registry.ArgumentError('data_range must be None or (low, high) with low < high, '
                                 f'e.g. (-1.0, 1.0); got {data_range!r}.')


def dragan_points(real: chex.Array, key: chex.PRNGKey, scale: float = 0.5,
                  data_range: tuple[float, float] | None = None,
                  one_sided: bool = False) -> chex.Array:
  """DRAGAN's perturbed real points ``clip(x + alpha * scale * std(x) * u)``.

  ``u ~ U[0, 1]`` per element, ``alpha`` per example, ``std`` the standard deviation of
  the whole real batch. The authors' code (``x + alpha * (x_p - x)`` with ``x_p = x + 0.5
  std(x) u``) draws ``alpha ~ U[0, 1]``: every point lies on the positive side of its real
  sample (``one_sided=True``; StudioGAN's form too). Its final paper version adds Gaussian
  noise ``N(0, cI)`` instead, and the author calls the code's form an early one (DRAGAN
  issues #5 and #6). jaxgan's default draws ``alpha ~ U[-1, 1]``, perturbing both ways, as
  khanrc's tf.gans-comparison does and as compare_gan's ``x + std (u - 1/2)`` does without
  the per-example factor.

  Args:
    real: real samples ``[batch, ...]``.
    key: PRNG key.
    scale: the perturbation scale (0.5 in the code).
    data_range: ``(low, high)`` to clip the points to, e.g. ``(-1, 1)`` for images;
      ``None`` leaves them unclipped (2-D mixtures have no bounded range).
    one_sided: ``alpha ~ U[0, 1]`` (the authors' code) instead of ``U[-1, 1]``.

  Returns:
    The perturbed points, the shape of ``real``, in float32 (float64 for float64 ``real``):
    the draws are made in that dtype whatever ``real``'s, as in :func:`interpolates`.
  """
  _check_data_range(data_range)
  dtype = _reduction_dtype(real.dtype)
  real = real.astype(dtype)
  k_u, k_alpha = jax.random.split(key)
  u = jax.random.uniform(k_u, real.shape, dtype)
  alpha = jax.random.uniform(k_alpha, (real.shape[0],) + (1,) * (real.ndim - 1), dtype,
                             minval=0.0 if one_sided else -1.0, maxval=1.0)
  points = real + alpha * (scale * jnp.std(real) * u)
  if data_range is not None:
    points = jnp.clip(points, data_range[0], data_range[1])
  return points


def dragan_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
                   key: chex.PRNGKey, real_cond: Cond = None, fake_cond: Cond = None,
                   per_example: bool = False, scale: float = 0.5,
                   data_range: tuple[float, float] | None = None,
                   one_sided: bool = False) -> chex.Array:
  """DRAGAN gradient penalty around the real data.

  ``E (||grad D(xhat)|| - 1)^2`` at the points of :func:`dragan_points`. Weight lambda = 10.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: unused (any shape).
    key: PRNG key for the perturbations.
    real_cond: conditions of the real samples, or None.
    fake_cond: unused.
    per_example: see :func:`input_gradients`.
    scale: the perturbation scale (0.5 in the code).
    data_range: ``(low, high)`` to clip the points to; ``None`` (default) leaves them
      unclipped, as the paper's code does.
    one_sided: perturb on the positive side only, as the authors' code
      (:func:`dragan_points`).

  Returns:
    The unweighted scalar penalty.

  References:
    Kodali et al., On Convergence and Stability of GANs, arXiv:1705.07215, 2017.
  """
  del fake, fake_cond
  points = dragan_points(real, key, scale, data_range, one_sided)
  norms = gradient_norms(critic_fn, points, real_cond, per_example)
  return jnp.mean(jnp.square(norms - 1.0))


def _mean_squared_gradient_norm(critic_fn: CriticFn, x: chex.Array, cond: Cond,
                                per_example: bool) -> chex.Array:
  g = input_gradients(critic_fn, x, cond, per_example)
  g = g.astype(_reduction_dtype(g.dtype))
  return jnp.mean(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), axis=-1))


def r1_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
               key: chex.PRNGKey | None = None, real_cond: Cond = None,
               fake_cond: Cond = None, per_example: bool = False) -> chex.Array:
  """R1 regularizer: ``E_real ||grad D(x_real)||^2``.

  Mescheder et al. and StyleGAN2 weight it ``gamma / 2``: a config's ``penalty.weight`` is
  that product, so a paper's gamma 10 is weight 5. StyleGAN2 may apply it lazily (every k
  steps, weight times k).

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: real samples ``[batch, ...]``.
    fake: unused (any shape).
    key: unused.
    real_cond: conditions of the real samples, or None.
    fake_cond: unused.
    per_example: see :func:`input_gradients`.

  Returns:
    The unweighted scalar penalty.

  References:
    Mescheder et al., Which Training Methods for GANs do actually Converge?, ICML 2018,
    eq. (9).
  """
  del fake, key, fake_cond
  return _mean_squared_gradient_norm(critic_fn, real, real_cond, per_example)


def r2_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
               key: chex.PRNGKey | None = None, real_cond: Cond = None,
               fake_cond: Cond = None, per_example: bool = False) -> chex.Array:
  """R2 regularizer: ``E_fake ||grad D(x_fake)||^2``.

  Args:
    critic_fn: maps ``x[batch, ...]`` to logits ``[batch]`` or ``[batch, 1]``.
    real: unused (any shape).
    fake: generated samples ``[batch, ...]``.
    key: unused.
    real_cond: unused, except that a conditional critic's (not None) requires
      ``fake_cond``.
    fake_cond: conditions of the generated samples, or None.
    per_example: see :func:`input_gradients`.

  Returns:
    The unweighted scalar penalty.

  References:
    Mescheder et al., Which Training Methods for GANs do actually Converge?, ICML 2018,
    eq. (10).
  """
  del real, key
  if real_cond is not None and fake_cond is None:
    raise ValueError('r2_penalty of a conditional critic (real_cond given) needs fake_cond, '
                     'the conditions of the generated samples.')
  return _mean_squared_gradient_norm(critic_fn, fake, fake_cond, per_example)


def no_penalty(critic_fn: CriticFn, real: chex.Array, fake: chex.Array,
               key: chex.PRNGKey | None = None, real_cond: Cond = None,
               fake_cond: Cond = None, per_example: bool = False) -> chex.Array:
  """The ``'none'`` entry: no penalty (``get('none')`` returns ``None``)."""
  del critic_fn, real, fake, key, real_cond, fake_cond, per_example
  raise NotImplementedError('no_penalty is a registry placeholder; get("none") is None.')


def _make(fn: PenaltyFn, **hparams) -> PenaltyFn | None:
  if fn is no_penalty:
    return None
  return functools.partial(fn, **hparams) if hparams else fn


# Hyper-parameters are the keyword arguments after (critic_fn, real, fake, key, real_cond,
# fake_cond).
_PENALTIES = registry.Registry('penalty', make=_make, skip=6)
for _name, _fn in (('none', no_penalty), ('wgan_gp', gradient_penalty),
                   ('wgan_lp', lipschitz_penalty), ('dragan', dragan_penalty),
                   ('r1', r1_penalty), ('r2', r2_penalty)):
  _PENALTIES.register(_name, _fn)
del _name, _fn


def names() -> list[str]:
  """The names :func:`get` accepts (``'none'`` first)."""
  return _PENALTIES.names()


def get(name: str, **hparams) -> PenaltyFn | None:
  """Returns penalty ``name`` as ``fn(critic_fn, real, fake, key, real_cond=None,
  fake_cond=None) -> scalar``, or ``None`` for ``'none'``.

  Args:
    name: one of :func:`names`, optionally with hyper-parameters inline
      (``'dragan(scale=0.5)'``).
    **hparams: the penalty's keyword hyper-parameters: every penalty takes
      ``per_example`` (:func:`input_gradients`); ``dragan`` also ``scale``, ``data_range``
      and ``one_sided``.

  Raises:
    ValueError: an unknown name (the message lists the valid names).
    TypeError: a hyper-parameter the penalty does not have (the message lists them), one
      of another type than its default (``one_sided='False'``), or a ``data_range`` that
      is not ``(low, high)``.
  """
  fn = _PENALTIES.get(name, **hparams)
  _check_data_range(getattr(fn, 'keywords', {}).get('data_range'))  # now, not when traced
  return fn
