"""The GAN train state and one pure, compiled train step.

``train_step(gan, state, batch, key) -> (state, metrics)`` runs ``n_critic``
discriminator updates (one per real batch in ``batch[n_critic, B, ...]``) and one
generator update, with the objective and penalty from the registries, optional weight
clipping, lazy regularization and an EMA of the generator's weights. It is a pure
function of pytrees: :func:`compile_train_steps` jits it over a device mesh (batch sharded,
state replicated and donated), and ``jax.vmap`` runs several seeds in one step.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgan import losses, penalties

Metrics = dict[str, jax.Array]


@flax.struct.dataclass
class GANState:
  """Everything that changes during training (a pytree; checkpointed whole)."""
  step: jax.Array          # int32 scalar: generator updates done
  g_params: Any
  g_stats: Any             # the generator's BatchNorm statistics ({} if none)
  d_params: Any
  d_stats: Any             # the discriminator's BatchNorm / SpectralNorm state ({} if none)
  g_opt_state: Any
  d_opt_state: Any
  ema_params: Any          # exponential moving average of g_params


@dataclasses.dataclass(frozen=True)
class GAN:
  """What stays fixed during training: the modules, the objective and the update rules.

  Attributes:
    generator: Flax module ``G(z[batch, z_dim], train) -> x[batch, ...]``.
    discriminator: Flax module ``D(x[batch, ...], train) -> logits[batch]``.
    objective: from ``jaxgan.losses.get``.
    g_optimizer: optax transformation of the generator.
    d_optimizer: optax transformation of the discriminator.
    z_dim: noise dimension; ``z ~ N(0, I)``.
    penalty: from ``jaxgan.penalties.get``, or ``None``.
    penalty_weight: lambda (or gamma) multiplying the penalty.
    penalty_every: lazy regularization: the penalty (weighted ``penalty_weight *
      penalty_every``) is added on critic updates of generator steps that are multiples
      of this (Karras et al. 2020); 1 applies it at every update.
    n_critic: discriminator updates per generator update.
    weight_clip: WGAN weight clipping of the critic to [-c, c] after each update (0: off).
    ema_decay: decay of the generator EMA, warmed up as ``min(decay, (1+t)/(10+t))``
      at step t (0: the EMA equals the current weights).
  """
  generator: nn.Module
  discriminator: nn.Module
  objective: losses.Objective
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  z_dim: int
  penalty: penalties.PenaltyFn | None = None
  penalty_weight: float = 0.0
  penalty_every: int = 1
  n_critic: int = 1
  weight_clip: float = 0.0
  ema_decay: float = 0.0


def _split_variables(variables: dict) -> tuple[Any, Any]:
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables.get('batch_stats', {})


def init_state(gan: GAN, key: chex.PRNGKey, element_shape: tuple[int, ...]) -> GANState:
  """Initializes parameters and optimizer states (wrap in ``jax.eval_shape`` for shapes)."""
  k_g, k_d = jax.random.split(key)
  z = jnp.zeros((1, gan.z_dim), jnp.float32)
  g_params, g_stats = _split_variables(gan.generator.init(k_g, z, train=False))
  x = jnp.zeros((1, *element_shape), jnp.float32)
  d_params, d_stats = _split_variables(gan.discriminator.init(k_d, x, train=False))
  return GANState(step=jnp.zeros((), jnp.int32), g_params=g_params, g_stats=g_stats,
                  d_params=d_params, d_stats=d_stats,
                  g_opt_state=gan.g_optimizer.init(g_params),
                  d_opt_state=gan.d_optimizer.init(d_params),
                  # a copy: the state is donated, and one buffer cannot be donated twice
                  ema_params=jax.tree.map(jnp.copy, g_params))


def _variables(params: Any, stats: Any) -> dict:
  return {'params': params, 'batch_stats': stats} if stats else {'params': params}


def _noise(gan: GAN, key: chex.PRNGKey, batch: int, mesh: Mesh | None) -> jax.Array:
  z = jax.random.normal(key, (batch, gan.z_dim), jnp.float32)
  if mesh is not None:
    z = jax.lax.with_sharding_constraint(z, NamedSharding(mesh, P('data')))
  return z


def _generate_train(gan: GAN, g_params: Any, g_stats: Any, z: jax.Array) -> tuple[jax.Array, Any]:
  x, updates = gan.generator.apply(_variables(g_params, g_stats), z, train=True,
                                   mutable=['batch_stats'])
  return x, updates.get('batch_stats', g_stats)


def _critic_train(gan: GAN, d_params: Any, d_stats: Any, x: jax.Array,
                  key: chex.PRNGKey) -> tuple[jax.Array, Any]:
  logits, updates = gan.discriminator.apply(_variables(d_params, d_stats), x, train=True,
                                            rngs={'dropout': key}, mutable=['batch_stats'])
  return logits, updates.get('batch_stats', d_stats)


def _d_loss(gan: GAN, d_params: Any, d_stats: Any, real: jax.Array, fake: jax.Array,
            key: chex.PRNGKey, penalty_scale: float) -> tuple[jax.Array, tuple[Any, Metrics]]:
  k_real, k_fake, k_pen = jax.random.split(key, 3)
  real_logits, stats = _critic_train(gan, d_params, d_stats, real, k_real)
  fake_logits, stats = _critic_train(gan, d_params, stats, fake, k_fake)
  d_loss = gan.objective.discriminator_loss(real_logits, fake_logits)
  metrics = {'d_loss': d_loss, 'real_logits': jnp.mean(real_logits),
             'fake_logits': jnp.mean(fake_logits)}
  total = d_loss
  if gan.penalty is not None:
    # The penalty sees the critic in inference mode (no dropout, running statistics), a
    # pure per-example function of x as the penalty definitions assume.
    critic_fn = lambda x: gan.discriminator.apply(_variables(d_params, stats), x, train=False)
    pen = gan.penalty(critic_fn, real, fake, k_pen) if penalty_scale else jnp.zeros(())
    metrics['penalty'] = pen
    total = d_loss + penalty_scale * pen
  return total, (stats, metrics)


def _d_update(gan: GAN, state: GANState, real: jax.Array, key: chex.PRNGKey,
              mesh: Mesh | None) -> tuple[GANState, Metrics]:
  k_z, k_d = jax.random.split(key)
  fake, _ = _generate_train(gan, state.g_params, state.g_stats,
                            _noise(gan, k_z, real.shape[0], mesh))
  fake = jax.lax.stop_gradient(fake)

  def grads(penalty_scale):
    grad_fn = jax.grad(_d_loss, argnums=1, has_aux=True)
    return grad_fn(gan, state.d_params, state.d_stats, real, fake, k_d, penalty_scale)

  if gan.penalty is None or gan.penalty_every == 1:
    g, (stats, metrics) = grads(gan.penalty_weight)
  else:
    g, (stats, metrics) = jax.lax.cond(
        state.step % gan.penalty_every == 0,
        lambda: grads(gan.penalty_weight * gan.penalty_every), lambda: grads(0.0))
  updates, opt_state = gan.d_optimizer.update(g, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  if gan.weight_clip:
    params = penalties.clip_weights(params, gan.weight_clip)
  return state.replace(d_params=params, d_stats=stats, d_opt_state=opt_state), metrics


def _g_update(gan: GAN, state: GANState, real: jax.Array, key: chex.PRNGKey,
              mesh: Mesh | None) -> tuple[GANState, Metrics]:
  k_z, k_real, k_fake = jax.random.split(key, 3)
  z = _noise(gan, k_z, real.shape[0], mesh)

  def loss(g_params):
    fake, g_stats = _generate_train(gan, g_params, state.g_stats, z)
    fake_logits, _ = _critic_train(gan, state.d_params, state.d_stats, fake, k_fake)
    # Relativistic objectives compare with real logits; for the others XLA drops this.
    real_logits, _ = _critic_train(gan, state.d_params, state.d_stats, real, k_real)
    return gan.objective.generator_loss(real_logits, fake_logits), g_stats

  (g_loss, g_stats), g = jax.value_and_grad(loss, has_aux=True)(state.g_params)
  updates, opt_state = gan.g_optimizer.update(g, state.g_opt_state, state.g_params)
  params = optax.apply_updates(state.g_params, updates)
  # EMA with warm-up (as tf.train.ExponentialMovingAverage with num_updates): early
  # averages do not remember the random initialization.
  t = state.step.astype(jnp.float32)
  decay = jnp.minimum(gan.ema_decay, (1.0 + t) / (10.0 + t))
  ema = optax.incremental_update(params, state.ema_params, 1.0 - decay)
  state = state.replace(g_params=params, g_stats=g_stats, g_opt_state=opt_state,
                        ema_params=ema, step=state.step + 1)
  return state, {'g_loss': g_loss}


def train_step(gan: GAN, state: GANState, batch: jax.Array, key: chex.PRNGKey,
               mesh: Mesh | None = None) -> tuple[GANState, Metrics]:
  """One generator step: ``n_critic`` critic updates, then one generator update.

  Args:
    gan: the static description of the GAN.
    state: the current state.
    batch: real samples ``[n_critic, batch, ...]``, one batch per critic update.
    key: PRNG key of this step.
    mesh: when given, the noise is sharded over its ``'data'`` axis like the batch.

  Returns:
    The new state and scalar metrics (``d_loss``, ``g_loss``, ``penalty`` when one is
    configured, mean ``real_logits`` and ``fake_logits``) of the last critic update.
  """
  if batch.shape[0] != gan.n_critic:
    raise ValueError(f'batch must have shape [n_critic={gan.n_critic}, batch, ...]; got '
                     f'{batch.shape}.')
  keys = jax.random.split(key, gan.n_critic + 1)
  if gan.n_critic == 1:
    state, d_metrics = _d_update(gan, state, batch[0], keys[0], mesh)
  else:
    def body(s, inputs):
      return _d_update(gan, s, inputs[0], inputs[1], mesh)
    state, d_metrics = jax.lax.scan(body, state, (batch, keys[:-1]))
    d_metrics = jax.tree.map(lambda m: m[-1], d_metrics)
  state, g_metrics = _g_update(gan, state, batch[-1], keys[-1], mesh)
  return state, {**d_metrics, **g_metrics}


def train_steps(gan: GAN, state: GANState, batches: jax.Array, base_key: chex.PRNGKey,
                mesh: Mesh | None = None) -> tuple[GANState, Metrics]:
  """``batches.shape[0]`` train steps fused in one call; step ``s`` uses key
  ``fold_in(base_key, s)``. Metrics are stacked ``[steps]``."""
  def body(s, batch):
    return train_step(gan, s, batch, jax.random.fold_in(base_key, s.step), mesh)
  if batches.shape[0] == 1:
    state, metrics = body(state, batches[0])
    return state, jax.tree.map(lambda m: m[None], metrics)
  return jax.lax.scan(body, state, batches)


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D ``'data'`` mesh over ``devices`` (default: all devices of all hosts), with
  Auto axes so the compiler partitions the step from the input shardings."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ('data',), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def compile_train_steps(gan: GAN, mesh: Mesh):
  """Jits :func:`train_steps` over ``mesh``: batch sharded on ``'data'``, state replicated
  and donated. Call it as ``fn(state, batches[K, n_critic, B, ...], base_key)``."""
  replicated = NamedSharding(mesh, P())
  data = NamedSharding(mesh, P(None, None, 'data'))
  return jax.jit(lambda s, b, k: train_steps(gan, s, b, k, mesh),
                 in_shardings=(replicated, data, replicated),
                 out_shardings=(replicated, replicated), donate_argnums=0)


def generate(gan: GAN, state: GANState, z: jax.Array, use_ema: bool = True) -> jax.Array:
  """Samples ``G(z)`` in inference mode (running BatchNorm statistics), EMA weights if
  ``use_ema``."""
  params = state.ema_params if use_ema else state.g_params
  return gan.generator.apply(_variables(params, state.g_stats), z, train=False)
