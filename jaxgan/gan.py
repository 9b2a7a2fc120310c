"""The GAN train state and one pure train step.

``train_step(gan, state, batch, key) -> (state, metrics)`` runs ``n_critic``
discriminator updates (one per real batch in ``batch['x'][n_critic, B, ...]``) and one
generator update, with the objective and penalty from the registries, optional weight
clipping, lazy regularization, DiffAugment, auxiliary loss terms (ACGAN, InfoGAN), a
content loss (super-resolution: pixel and perceptual) and an EMA of the generator's
weights. ``n_critic = 0`` trains the generator alone (PSNR-oriented pretraining). It is a
pure function of pytrees: ``jaxgan.sharding`` jits it over a device mesh, and ``jax.vmap``
runs several seeds in one step.

What the generator is given, and what the discriminator is conditioned on, is the model
family's ``conditioning`` (see ``jaxgan.models``): noise ``z``; plus class labels ``y``
drawn uniformly for the fakes (real labels come with the batch), or InfoGAN codes; or the
batch's low-resolution images (super-resolution).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import chex
import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgan import augment, losses, optimizers, penalties

if TYPE_CHECKING:
  from jaxgan import auxiliary

Metrics = dict[str, jax.Array]
Batch = dict[str, jax.Array]
# A generator loss term beside the adversarial one: ``content(fake, real_x, frozen) ->
# (loss, metrics)``, where ``frozen`` are fixed variables (a VGG19's) passed to the train
# step as an argument, so that they are not baked into the compiled program.
ContentLoss = Callable[[jax.Array, jax.Array, Any], tuple[jax.Array, Metrics]]


@flax.struct.dataclass
class GANState:
  """Everything that changes during training (a pytree; checkpointed whole)."""
  step: jax.Array          # int32 scalar: generator updates done
  g_params: Any
  g_stats: Any             # the generator's BatchNorm statistics ({} if none)
  d_params: Any            # {} when the generator trains alone (n_critic = 0)
  d_stats: Any             # the discriminator's BatchNorm / SpectralNorm state ({} if none)
  g_opt_state: Any
  d_opt_state: Any
  ema_params: Any          # exponential moving average of g_params


@dataclasses.dataclass(frozen=True)
class Latent:
  """What the generator is given.

  Attributes:
    conditioning: the model family's (``jaxgan.models.CONDITIONINGS``).
    z_dim: noise dimension; ``z ~ N(0, I)``.
    num_classes: classes of the labels ``y ~ U{0, ..., K-1}`` drawn for the fakes
      (``'labels'``, ``'generator_labels'``).
    num_categorical: InfoGAN: categories of the categorical code (uniform).
    num_continuous: InfoGAN: continuous codes, each ``U[-1, 1]``.
  """
  conditioning: str = 'none'
  z_dim: int = 0
  num_classes: int = 0
  num_categorical: int = 0
  num_continuous: int = 0

  @property
  def discriminator_labels(self) -> bool:
    """Whether ``D`` is called as ``D(x, y)``."""
    return self.conditioning == 'labels'

  @property
  def assigned_classes(self) -> int:
    """The classes (class-conditional models) or categorical codes (InfoGAN) that the
    sample grids and evaluations spread their samples over (sample ``i``: ``i mod K``);
    0 for an unconditional model."""
    if self.conditioning in ('labels', 'generator_labels'):
      return self.num_classes
    return self.num_categorical if self.conditioning == 'codes' else 0


@dataclasses.dataclass(frozen=True)
class GAN:
  """What stays fixed during training: the modules, the objective and the update rules.

  Attributes:
    generator: Flax module ``G(z, y=None, train) -> x[batch, ...]``.
    discriminator: Flax module ``D(x, y=None, train) -> logits[batch]`` or
      ``(logits, heads)``.
    objective: from ``jaxgan.losses.get``.
    g_optimizer: optax transformation of the generator.
    d_optimizer: optax transformation of the discriminator.
    latent: what the generator is given (:class:`Latent`).
    penalty: from ``jaxgan.penalties.get``, or ``None``.
    penalty_weight: lambda (or gamma) multiplying the penalty.
    penalty_every: lazy regularization: the penalty (weighted ``penalty_weight *
      penalty_every``) is added on critic updates of generator steps that are multiples
      of this (Karras et al. 2020); 1 applies it at every update. The penalty joins the
      ordinary update (as StudioGAN's), not an extra optimizer step, so StyleGAN2's Adam
      correction (lr and betas to the power k / (k + 1)) has nothing to correct and is
      not applied.
    n_critic: discriminator updates per generator update (0: the generator trains alone,
      on its content loss).
    weight_clip: WGAN weight clipping of the critic to [-c, c] at initialization and after
      each update (0: off).
    ema_decay: decay of the generator EMA, warmed up as ``min(decay, (1+t)/(10+t))``
      at step t (0: the EMA equals the current weights).
    auxiliary: an extra loss term on the discriminator's heads (``jaxgan.auxiliary``).
    augment: DiffAugment ``fn(images, key) -> images`` applied to every image the
      discriminator sees, real and fake, in both updates, and inside the penalty (the
      gradient is taken in the raw images through it); the auxiliary heads see the
      augmented images too. ``None`` for none.
    content: a content loss of the generator (:data:`ContentLoss`), or ``None``.
    adversarial_weight: the weight of the objective's generator loss (1 for most GANs;
      SRGAN 1e-3, ESRGAN 5e-3; 0 with ``n_critic = 0``).
  """
  generator: nn.Module
  discriminator: nn.Module
  objective: losses.Objective
  g_optimizer: optax.GradientTransformation
  d_optimizer: optax.GradientTransformation
  latent: Latent
  penalty: penalties.PenaltyFn | None = None
  penalty_weight: float = 0.0
  penalty_every: int = 1
  n_critic: int = 1
  weight_clip: float = 0.0
  ema_decay: float = 0.0
  auxiliary: auxiliary.AuxiliaryLoss | None = None
  augment: Callable[[jax.Array, chex.PRNGKey], jax.Array] | None = None
  content: ContentLoss | None = None
  adversarial_weight: float = 1.0

  @property
  def z_dim(self) -> int:
    return self.latent.z_dim


def _args(first: Any, y: Any) -> tuple:
  """A module's positional inputs: ``y`` is passed only when there is one, so that
  unconditional modules need not take it."""
  return (first,) if y is None else (first, y)


def _split_variables(variables: dict) -> tuple[Any, Any]:
  variables = dict(variables)
  params = variables.pop('params')
  return params, variables.get('batch_stats', {})


def _variables(params: Any, stats: Any) -> dict:
  return {'params': params, 'batch_stats': stats} if stats else {'params': params}


def _shard_batch_axis(tree: Any, mesh: Mesh | None) -> Any:
  """Constrains the leading axis of every leaf to the mesh's ``'data'`` axis, so that the
  generator runs data-parallel like the real batch."""
  if mesh is None:
    return tree
  return jax.tree.map(
      lambda a: jax.lax.with_sharding_constraint(a, NamedSharding(mesh, P('data'))), tree)


def sample_latent(latent: Latent, key: chex.PRNGKey, batch_size: int,
                  real: Batch | None = None,
                  truncation: float | None = None) -> tuple[Any, Any]:
  """The generator's inputs ``(z, y)`` for ``batch_size`` fakes (``y`` may be ``None``).

  ``'lowres'`` takes ``real['lr']`` as ``z``; the others draw ``z ~ N(0, I)`` and, by
  conditioning, labels ``y ~ U{0..K-1}`` or InfoGAN codes ``{'categorical',
  'continuous'}``. ``truncation`` (the truncation trick of Brock et al. 2019, BigGAN, for
  sampling): ``z`` from ``N(0, I)`` truncated to ``[-truncation, truncation]`` in each
  coordinate (``jax.random.truncated_normal``: as if the values outside were redrawn),
  meant to trade variety for fidelity as it shrinks (what it buys depends on the
  generator: the README's table).
  """
  if latent.conditioning == 'lowres':
    return real['lr'], None
  k_z, k_y, k_c = jax.random.split(key, 3)
  if truncation is None:
    z = jax.random.normal(k_z, (batch_size, latent.z_dim), jnp.float32)
  else:
    z = jax.random.truncated_normal(k_z, -truncation, truncation, (batch_size, latent.z_dim),
                                    jnp.float32)
  if latent.conditioning in ('labels', 'generator_labels'):
    return z, jax.random.randint(k_y, (batch_size,), 0, latent.num_classes, jnp.int32)
  if latent.conditioning == 'codes':
    return z, {'categorical': jax.random.randint(k_y, (batch_size,), 0,
                                                 latent.num_categorical, jnp.int32),
               'continuous': jax.random.uniform(k_c, (batch_size, latent.num_continuous),
                                                jnp.float32, -1.0, 1.0)}
  return z, None


def example_inputs(gan: GAN, element_shape: tuple[int, ...],
                   lowres_shape: tuple[int, ...] | None = None) -> tuple[tuple, tuple]:
  """Arguments of one example for ``init``: ``((z, y), (x, y_d))``."""
  real = None if lowres_shape is None else {'lr': jnp.zeros((1, *lowres_shape), jnp.float32)}
  z, y = sample_latent(gan.latent, jax.random.key(0), 1, real)
  x = jnp.zeros((1, *element_shape), jnp.float32)
  return (z, y), (x, y if gan.latent.discriminator_labels else None)


def init_state(gan: GAN, key: chex.PRNGKey, element_shape: tuple[int, ...],
               lowres_shape: tuple[int, ...] | None = None,
               discriminator: bool | None = None) -> GANState:
  """Initializes parameters and optimizer states (wrap in ``jax.eval_shape`` for shapes).

  A GAN whose generator trains alone (``n_critic = 0``, e.g. the PSNR stage of SRGAN and
  ESRGAN) has no discriminator state: ``d_params`` and ``d_stats`` are ``{}`` and
  ``d_opt_state`` is the optimizer's state of no parameters. ``discriminator=True``
  initializes it anyway: the layout of such runs' checkpoints saved before it was left out
  (SRGAN's untrained discriminator and its Adam moments were 92 % of its PSNR state).
  """
  k_g, k_d = jax.random.split(key)
  g_args, d_args = example_inputs(gan, element_shape, lowres_shape)
  g_params, g_stats = _split_variables(gan.generator.init(k_g, *_args(*g_args), train=False))
  if discriminator is None:
    discriminator = gan.n_critic > 0
  d_params, d_stats = {}, {}
  if discriminator:
    d_params, d_stats = _split_variables(gan.discriminator.init(k_d, *_args(*d_args),
                                                                train=False))
  if gan.weight_clip:  # the critic lives in the box from its first update on
    d_params = optimizers.clip_weights(d_params, gan.weight_clip)
  return GANState(step=jnp.zeros((), jnp.int32), g_params=g_params, g_stats=g_stats,
                  d_params=d_params, d_stats=d_stats,
                  g_opt_state=gan.g_optimizer.init(g_params),
                  d_opt_state=gan.d_optimizer.init(d_params),
                  # a copy: the state is donated, and one buffer cannot be donated twice
                  ema_params=jax.tree.map(jnp.copy, g_params))


def _generate_train(gan: GAN, g_params: Any, g_stats: Any, z: Any,
                    y: Any) -> tuple[jax.Array, Any]:
  x, updates = gan.generator.apply(_variables(g_params, g_stats), *_args(z, y), train=True,
                                   mutable=['batch_stats'])
  return x.astype(jnp.float32), updates.get('batch_stats', g_stats)


def split_output(out: Any) -> tuple[jax.Array, dict]:
  """A discriminator's output as ``(logits, heads)``; ``heads`` is ``{}`` when it has none."""
  return out if isinstance(out, tuple) else (out, {})


def _critic_train(gan: GAN, d_params: Any, d_stats: Any, x: jax.Array, y: Any,
                  key: chex.PRNGKey) -> tuple[jax.Array, dict, Any]:
  """``(logits, heads, new stats)`` of the critic in training mode on ``x`` (augmented
  with DiffAugment when configured)."""
  k_aug, k_drop = jax.random.split(key)
  if gan.augment is not None:
    x = gan.augment(x, k_aug)
  out, updates = gan.discriminator.apply(
      _variables(d_params, d_stats), *_args(x, y if gan.latent.discriminator_labels else None),
      train=True, rngs={'dropout': k_drop}, mutable=['batch_stats'])
  logits, heads = split_output(out)
  return logits, heads, updates.get('batch_stats', d_stats)


def _penalty(gan: GAN, d_params: Any, d_stats: Any, real: jax.Array, fake: jax.Array,
             real_y: Any, fake_y: Any, key: chex.PRNGKey) -> jax.Array:
  """The penalty, with the critic in inference mode (no dropout, running statistics): a
  pure per-example function of ``x`` (at fixed labels), as the definitions assume.

  With DiffAugment the critic regularized is the one the losses train, ``x -> D(T(x))``:
  the penalty's points (real, fake, interpolates, perturbed reals) are made from the raw
  images and the gradient is taken in them through ``T``, as the R1 of StyleGAN2-ADA and of
  DiffAugment's low-shot and PyTorch StyleGAN2 code does (its CIFAR and FFHQ TensorFlow
  scripts take R1 at ``T(x)``), with draws of its own, not the loss's. Each example keeps
  its own draw (carried as the critic's condition, so per-example and batched gradients
  agree): with ``k_real, k_fake, k_pen = split(key, 3)``, real-side example ``i`` (real
  points and interpolates) is augmented with ``split(k_real, batch)[i]``, fake-side example
  ``i`` with ``split(k_fake, batch)[i]``; ``k_pen`` is the penalty's own key.
  """
  k_real, k_fake, k_pen = jax.random.split(key, 3)
  labels = gan.latent.discriminator_labels

  def apply(x: jax.Array, y: Any) -> jax.Array:
    out = gan.discriminator.apply(_variables(d_params, d_stats), *_args(x, y), train=False)
    return split_output(out)[0]

  if gan.augment is None:
    if labels:
      return gan.penalty(apply, real, fake, k_pen, real_y, fake_y)
    return gan.penalty(lambda x: apply(x, None), real, fake, k_pen)

  def augmented(x: jax.Array, cond: dict) -> jax.Array:
    return apply(augment.apply_each(gan.augment, x, cond['keys']), cond['y'])
  n = real.shape[0]
  real_cond = {'keys': jax.random.split(k_real, n), 'y': real_y if labels else None}
  fake_cond = {'keys': jax.random.split(k_fake, n), 'y': fake_y if labels else None}
  return gan.penalty(augmented, real, fake, k_pen, real_cond, fake_cond)


def _d_loss(gan: GAN, d_params: Any, d_stats: Any, real: Batch, fake: jax.Array,
            fake_y: Any, key: chex.PRNGKey,
            penalty_scale: float) -> tuple[jax.Array, tuple[Any, Metrics]]:
  k_real, k_fake, k_pen = jax.random.split(key, 3)
  real_y = real.get('y')
  real_logits, real_heads, stats = _critic_train(gan, d_params, d_stats, real['x'], real_y,
                                                 k_real)
  fake_logits, fake_heads, stats = _critic_train(gan, d_params, stats, fake, fake_y, k_fake)
  d_loss = gan.objective.discriminator_loss(real_logits, fake_logits)
  metrics = {'d_loss': d_loss, 'real_logits': jnp.mean(real_logits),
             'fake_logits': jnp.mean(fake_logits)}
  total = d_loss
  if gan.auxiliary is not None:
    aux = gan.auxiliary.discriminator_term(real_heads, fake_heads, real_y, fake_y)
    metrics[f'd_{gan.auxiliary.name}'] = aux
    if gan.auxiliary.metrics is not None:
      metrics.update(gan.auxiliary.metrics(fake_heads, fake_y))
    total += aux
  if gan.penalty is not None:
    # The statistics the two passes above just updated are functions of d_params; the
    # penalty takes them as constants (its gradient is the penalty's at fixed statistics).
    pen = (_penalty(gan, d_params, jax.lax.stop_gradient(stats), real['x'], fake, real_y,
                    fake_y, k_pen) if penalty_scale else jnp.zeros(()))
    metrics['penalty'] = pen
    total += penalty_scale * pen
  return total, (stats, metrics)


def penalty_due(gan: GAN, step: Any) -> Any:
  """Whether the critic updates of train step ``step`` (0-based: the state's step before
  the update) compute the penalty: every ``penalty_every`` steps (lazy regularization,
  Karras et al. 2020, StyleGAN2), from step 0. An int or a traced array."""
  return step % gan.penalty_every == 0


def _d_update(gan: GAN, state: GANState, real: Batch, key: chex.PRNGKey,
              mesh: Mesh | None) -> tuple[GANState, Metrics]:
  k_z, k_d = jax.random.split(key)
  z, fake_y = _shard_batch_axis(sample_latent(gan.latent, k_z, real['x'].shape[0], real), mesh)
  fake, _ = _generate_train(gan, state.g_params, state.g_stats, z, fake_y)
  fake = jax.lax.stop_gradient(fake)

  def grads(penalty_scale):
    grad_fn = jax.grad(_d_loss, argnums=1, has_aux=True)
    return grad_fn(gan, state.d_params, state.d_stats, real, fake, fake_y, k_d, penalty_scale)

  if gan.penalty is None or gan.penalty_every == 1:
    g, (stats, metrics) = grads(gan.penalty_weight)
  else:
    g, (stats, metrics) = jax.lax.cond(
        penalty_due(gan, state.step),
        lambda: grads(gan.penalty_weight * gan.penalty_every), lambda: grads(0.0))
  updates, opt_state = gan.d_optimizer.update(g, state.d_opt_state, state.d_params)
  params = optax.apply_updates(state.d_params, updates)
  if gan.weight_clip:
    params = optimizers.clip_weights(params, gan.weight_clip)
  return state.replace(d_params=params, d_stats=stats, d_opt_state=opt_state), metrics


def _g_update(gan: GAN, state: GANState, real: Batch, key: chex.PRNGKey,
              mesh: Mesh | None, frozen: Any) -> tuple[GANState, Metrics]:
  k_z, k_real, k_fake = jax.random.split(key, 3)
  z, fake_y = _shard_batch_axis(sample_latent(gan.latent, k_z, real['x'].shape[0], real), mesh)

  def loss(g_params):
    fake, g_stats = _generate_train(gan, g_params, state.g_stats, z, fake_y)
    metrics, total = {}, jnp.zeros((), jnp.float32)
    if gan.adversarial_weight:
      fake_logits, fake_heads, _ = _critic_train(gan, state.d_params, state.d_stats, fake,
                                                 fake_y, k_fake)
      # Relativistic objectives compare with real logits; for the others XLA drops this.
      real_logits, _, _ = _critic_train(gan, state.d_params, state.d_stats, real['x'],
                                        real.get('y'), k_real)
      g_loss = gan.objective.generator_loss(real_logits, fake_logits)
      metrics['g_loss'] = g_loss
      total += gan.adversarial_weight * g_loss
      if gan.auxiliary is not None:
        aux = gan.auxiliary.generator_term(fake_heads, fake_y)
        metrics[f'g_{gan.auxiliary.name}'] = aux
        total += aux
    if gan.content is not None:
      content, content_metrics = gan.content(fake, real['x'], frozen)
      metrics.update(content_metrics)
      total += content
    metrics['g_total'] = total
    return total, (g_stats, metrics)

  (_, (g_stats, metrics)), g = jax.value_and_grad(loss, has_aux=True)(state.g_params)
  updates, opt_state = gan.g_optimizer.update(g, state.g_opt_state, state.g_params)
  params = optax.apply_updates(state.g_params, updates)
  # EMA with warm-up (as tf.train.ExponentialMovingAverage with num_updates): early
  # averages do not remember the random initialization.
  t = state.step.astype(jnp.float32)
  decay = jnp.minimum(gan.ema_decay, (1.0 + t) / (10.0 + t))
  ema = optax.incremental_update(params, state.ema_params, 1.0 - decay)
  state = state.replace(g_params=params, g_stats=g_stats, g_opt_state=opt_state,
                        ema_params=ema, step=state.step + 1)
  return state, metrics


def _jaxprs(value: Any):
  """The jaxprs nested in an equation parameter (closed or open, or a sequence of them)."""
  if hasattr(value, 'eqns'):
    yield value
  elif hasattr(value, 'jaxpr') and hasattr(value.jaxpr, 'eqns'):
    yield value.jaxpr
  elif isinstance(value, (tuple, list)):
    for v in value:
      yield from _jaxprs(v)


def _has_conv(jaxpr: Any) -> bool:
  for eqn in jaxpr.eqns:
    if eqn.primitive.name == 'conv_general_dilated':
      return True
    if any(_has_conv(sub) for v in eqn.params.values() for sub in _jaxprs(v)):
      return True
  return False


def _loop(body: Callable, init: Any, xs: Any) -> tuple[Any, Any]:
  """``jax.lax.scan(body, init, xs)``, unrolled when ``body`` convolves on a CPU: XLA:CPU
  runs convolution gradients inside a while loop about 100x slower than outside one
  (measured: a 3x3 conv's update 2,047 ms in a scan vs 21 ms unrolled)."""
  unroll = False
  if jax.default_backend() == 'cpu':
    x0 = jax.tree.map(lambda x: x[0], xs)
    unroll = _has_conv(jax.make_jaxpr(body)(init, x0).jaxpr)
  return jax.lax.scan(body, init, xs, unroll=unroll)


def as_batch(batch: Batch | jax.Array) -> Batch:
  """A batch dict; a bare array is taken as the samples ``{'x': array}``."""
  return dict(batch) if isinstance(batch, dict) else {'x': batch}


def train_step(gan: GAN, state: GANState, batch: Batch | jax.Array, key: chex.PRNGKey,
               mesh: Mesh | None = None, frozen: Any = None) -> tuple[GANState, Metrics]:
  """One generator step: ``n_critic`` critic updates, then one generator update.

  Args:
    gan: the static description of the GAN.
    state: the current state.
    batch: real batches ``{'x': [n_critic, B, ...], 'y': [n_critic, B] (labelled data),
      'lr': [n_critic, B, ...] (super-resolution)}``, one per critic update (one batch
      when ``n_critic = 0``; a bare array is taken as ``'x'``).
    key: PRNG key of this step.
    mesh: when given, the generator's inputs are sharded over its ``'data'`` axis like the
      batch.
    frozen: fixed variables of the content loss (e.g. ``{'vgg': ...}``), or ``None``.

  Returns:
    The new state and scalar metrics (``d_loss``, ``g_loss``, ``penalty`` when one is
    configured, auxiliary and content terms, mean ``real_logits`` and ``fake_logits``) of
    the last critic update, and ``g_total``, the generator's whole loss.
  """
  batch = as_batch(batch)
  if batch['x'].shape[0] != max(gan.n_critic, 1):
    raise ValueError(f"batch['x'] must have shape [n_critic={gan.n_critic}, batch, ...] "
                     f"(one batch for n_critic=0); got {batch['x'].shape}.")
  keys = jax.random.split(key, gan.n_critic + 1)
  if gan.n_critic == 0:
    d_metrics = {}
  elif gan.n_critic == 1:
    state, d_metrics = _d_update(gan, state, jax.tree.map(lambda b: b[0], batch), keys[0],
                                 mesh)
  else:
    state, d_metrics = _loop(lambda s, inputs: _d_update(gan, s, *inputs, mesh), state,
                             (batch, keys[:-1]))
    d_metrics = jax.tree.map(lambda m: m[-1], d_metrics)
  state, g_metrics = _g_update(gan, state, jax.tree.map(lambda b: b[-1], batch), keys[-1],
                               mesh, frozen)
  return state, {**d_metrics, **g_metrics}


def train_steps(gan: GAN, state: GANState, batches: Batch | jax.Array,
                base_key: chex.PRNGKey, mesh: Mesh | None = None,
                frozen: Any = None) -> tuple[GANState, Metrics]:
  """``K`` train steps fused in one call (``batches['x']`` is ``[K, n_critic, B, ...]``);
  the step numbered ``s`` uses key ``fold_in(base_key, s)``, ``s`` the state's global step
  (``state.step`` at that step, not its index in this call), so a run resumed or split into
  other calls draws the same keys. Metrics are stacked ``[K]``."""
  batches = as_batch(batches)

  def body(s, batch):
    return train_step(gan, s, batch, jax.random.fold_in(base_key, s.step), mesh, frozen)
  if batches['x'].shape[0] == 1:
    state, metrics = body(state, jax.tree.map(lambda b: b[0], batches))
    return state, jax.tree.map(lambda m: m[None], metrics)
  return _loop(body, state, batches)


def recomputes_statistics(gan: GAN, state: GANState) -> bool:
  """Whether :func:`ema_statistics` recomputes the state's BatchNorm statistics (it keeps
  them for generators without BatchNorm and those that take low-resolution images)."""
  return bool(state.g_stats) and gan.latent.conditioning != 'lowres'


def ema_statistics(gan: GAN, state: GANState, num_batches: int = 50,
                   batch_size: int = 256, truncation: float | None = None) -> Any:
  """BatchNorm running statistics that belong to the EMA weights (and to the noise of
  ``truncation``, :func:`sample_latent`'s, as BigGAN's code recomputes them for each).

  The running statistics in the state come from the trained weights; the averaged weights
  produce activations of other statistics, so normalizing them with the trained ones shifts
  every sample (Brock et al. 2019 recompute "standing statistics" for this reason). These
  are the generator's own running statistics after ``num_batches`` forward passes of the
  EMA weights in training mode on fresh latents (a fixed key: reproducible), starting from
  the state's. Generators without BatchNorm, and those that take low-resolution images,
  keep the state's statistics.
  """
  if not recomputes_statistics(gan, state):
    return state.g_stats

  def update(i, stats):
    z, y = sample_latent(gan.latent, jax.random.fold_in(jax.random.key(0), i), batch_size,
                         truncation=truncation)
    return _generate_train(gan, state.ema_params, stats, z, y)[1]
  return jax.lax.fori_loop(0, num_batches, update, state.g_stats)


def sampling_weights(gan: GAN, state: GANState, use_ema: bool = True,
                     truncation: float | None = None) -> tuple[Any, Any]:
  """``(params, batch_stats)`` that samples come from: the trained weights with their
  running BatchNorm statistics, or (``use_ema``) the EMA weights with statistics
  recomputed for them (:func:`ema_statistics`), on noise of ``truncation`` where it is
  given (the trained weights keep the statistics of their training noise)."""
  if use_ema:
    return state.ema_params, ema_statistics(gan, state, truncation=truncation)
  return state.g_params, state.g_stats


def apply_generator(gan: GAN, params: Any, stats: Any, z: Any, y: Any = None) -> jax.Array:
  """``G(z, y)`` in inference mode with the given weights and statistics, float32."""
  x = gan.generator.apply(_variables(params, stats), *_args(z, y), train=False)
  return x.astype(jnp.float32)


def generate(gan: GAN, state: GANState, z: Any, y: Any = None,
             use_ema: bool = True) -> jax.Array:
  """Samples ``G(z, y)`` in inference mode, float32, from :func:`sampling_weights` (to
  sample many batches, compute those once and call :func:`apply_generator`)."""
  return apply_generator(gan, *sampling_weights(gan, state, use_ema), z, y)


def all_finite(tree: Any) -> jax.Array:
  """Whether every floating-point leaf of ``tree`` is finite (a bool scalar)."""
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)
            if jnp.issubdtype(jnp.asarray(x).dtype, jnp.inexact)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.asarray(True)
