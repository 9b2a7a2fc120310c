"""Several seeds of one GAN trained at once: ``jax.vmap`` of the pure train step.

The state gets a leading seed axis ``[S, ...]``; each seed has its own initialization,
step keys and data stream — the same ones ``launch.train`` gives that seed (the key
schedule and pipelines come from :mod:`jaxgan.build`). One compiled call advances all
seeds by ``K`` steps, the seeds split over this process's devices (:func:`seed_mesh`:
on 8 GPUs, 8 seeds train one per GPU; the seeds are independent, so the split's only
communication is their shared step, one scalar per call; 5 seeds on 4 GPUs train two per
GPU on 3 of them, the last seed computed twice and the copy dropped).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgan import build, data, sharding, train
from jaxgan import gan as gan_lib


def seed_mesh(num_seeds: int, devices: list | None = None) -> jax.sharding.Mesh:
  """A ``'data'`` mesh for the seed axis: over the fewest of ``devices`` (default: this
  process's) that hold the fewest seeds each. 8 seeds on 8 GPUs: 8, one each; 5 on 4: 3,
  two each (the seeds padded to 6: :func:`train_seeds`)."""
  devices = jax.local_devices() if devices is None else devices
  each = -(-num_seeds // len(devices))
  return sharding.make_mesh(devices[:-(-num_seeds // each)])


def per_seed(mesh: jax.sharding.Mesh) -> NamedSharding:
  """The sharding of arrays with a leading seed axis: split over ``mesh``'s devices."""
  return NamedSharding(mesh, P('data'))


def init_states(gan: gan_lib.GAN, pipe: data.Pipeline, seeds: list[int],
                mesh: jax.sharding.Mesh | None = None) -> gan_lib.GANState:
  """States of ``seeds`` stacked on a leading axis (seed ``s`` from ``build.init_key(s)``),
  split over ``mesh`` when given."""
  keys = jax.vmap(build.init_key)(np.asarray(seeds, np.uint32))
  out = None if mesh is None else per_seed(mesh)
  return jax.jit(jax.vmap(lambda k: build.init_state(gan, pipe, k)), out_shardings=out)(keys)


def compile_seed_steps(gan: gan_lib.GAN, mesh: jax.sharding.Mesh | None = None):
  """``fn(states[S], batches[S, K, n_critic, B, ...], base_keys[S], frozen) -> (states,
  metrics[S, K])`` with the states donated (``frozen`` shared by all seeds); with ``mesh``,
  the states and metrics split over its devices by seed.

  Every seed is at the same step, so the step is mapped as one scalar: what depends on it
  alone (a lazy penalty's ``lax.cond``) stays a branch rather than becoming a select that
  computes the penalty at every step."""
  sharding.retain_host_memory()

  def steps(states, batches, keys, frozen):
    one = states.replace(step=states.step[0])
    axes = jax.tree.map(lambda _: 0, one).replace(step=None)
    out, metrics = jax.vmap(lambda s, b, k: gan_lib.train_steps(gan, s, b, k, frozen=frozen),
                            in_axes=(axes, 0, 0), out_axes=(axes, 0))(one, batches, keys)
    return out.replace(step=jnp.broadcast_to(out.step, states.step.shape)), metrics
  out = None if mesh is None else (per_seed(mesh), per_seed(mesh))
  return jax.jit(steps, donate_argnums=0, out_shardings=out,
                 compiler_options=sharding.default_compiler_options())


def pipelines(config: ml_collections.ConfigDict, seeds: list[int]) -> list[data.Pipeline]:
  """One input pipeline per seed: the one ``launch.train`` builds with that seed."""
  return [build.pipeline(config, seed=s) for s in seeds]


def stacked_batches(pipes: list[data.Pipeline], start: int, count: int) -> data.Batch:
  """Each seed's batches of steps ``start..start+count-1``: ``[S, count, n_critic, B, ...]``."""
  per_seed = [p.batches(start, count) for p in pipes]
  return {k: np.stack([b[k] for b in per_seed]) for k in per_seed[0]}


def train_seeds(gan: gan_lib.GAN, pipes: list[data.Pipeline], seeds: list[int],
                num_steps: int, steps_per_call: int,
                callback: Callable[[int, gan_lib.GANState], None] | None = None,
                frozen: Any = None) -> tuple[gan_lib.GANState, np.ndarray]:
  """Trains all seeds for ``num_steps`` steps.

  ``callback(steps_done, states)``, if given, runs after every compiled call (an
  evaluation hook: the digits study scores samples with it). ``states`` are valid during
  the callback only: the next call donates their buffers, so a hook that keeps a state
  (a best-so-far copy) keeps ``jax.tree.map(jnp.copy, states)``.

  Returns:
    The stacked final states, and for each seed the first step whose losses were not
    finite, or the last step of the call after which its state was not (losses can stay
    finite over non-finite weights); 0 where the seed trained to the end without either.
    A diverged seed does not stop the others: a study reports it.

  Raises:
    ValueError: no seeds, not one pipeline per seed, or a count below 1.
  """
  n = len(seeds)
  if not n or len(pipes) != n:
    raise ValueError(f'train_seeds needs one pipeline per seed, at least one: got {n} seeds '
                     f'and {len(pipes)} pipelines.')
  for name, value in (('num_steps', num_steps), ('steps_per_call', steps_per_call)):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
      raise ValueError(f'train_seeds: {name} must be an integer >= 1; got {value!r}.')
  mesh = seed_mesh(n)
  pad = -n % mesh.size  # the last seed again, so that every device holds as many
  seeds, pipes = list(seeds) + [seeds[-1]] * pad, list(pipes) + [pipes[-1]] * pad
  states = init_states(gan, pipes[0], seeds, mesh)
  fn = compile_seed_steps(gan, mesh)
  keys = jax.device_put(jax.vmap(build.step_base_key)(np.asarray(seeds, np.uint32)),
                        per_seed(mesh))
  frozen = jax.device_put({} if frozen is None else frozen, sharding.replicated(mesh))
  diverged_at = np.zeros(n, np.int64)
  unpadded = (lambda t: t) if not pad else (lambda t: jax.tree.map(lambda x: x[:n], t))
  s = 0
  while s < num_steps:
    k = min(steps_per_call, num_steps - s)
    batches = jax.device_put(stacked_batches(pipes, s, k), per_seed(mesh))
    states, metrics = fn(states, batches, keys, frozen)
    bad = train.first_nonfinite(jax.device_get(metrics))[:n]  # [S]
    new = (bad >= 0) & (diverged_at == 0)
    diverged_at[new] = s + 1 + bad[new]
    # Finite losses from a non-finite state: XLA:CPU's dot fusion (CPU_COMPILER_OPTIONS)
    # turns a NaN into 0 in relu(x @ w). Such a seed diverged in this call at the latest.
    broken = ~np.asarray(jax.device_get(_finite_per_seed(states)))[:n] & (diverged_at == 0)
    diverged_at[broken] = s + k
    s += k
    if callback is not None:
      callback(s, unpadded(states))
  return unpadded(states), diverged_at


@jax.jit
def _finite_per_seed(states: gan_lib.GANState) -> jax.Array:
  return jax.vmap(gan_lib.all_finite)(states)


@functools.partial(jax.jit, static_argnames=('gan', 'use_ema'))
def _generate_seeds(gan: gan_lib.GAN, states: gan_lib.GANState, z: jax.Array, y: Any,
                    use_ema: bool) -> jax.Array:
  return jax.vmap(lambda st: gan_lib.generate(gan, st, z, y, use_ema))(states)


def generate(gan: gan_lib.GAN, states: gan_lib.GANState, num_samples: int,
             use_ema: bool = False, key: int = 1234) -> np.ndarray:
  """``[S, num_samples, ...]`` samples of every seed (the same noise for all seeds); one
  program per GAN, sample count and ``use_ema``, so a study's evaluations compile once."""
  z, y = gan_lib.sample_latent(gan.latent, jax.random.key(key), num_samples)
  return np.asarray(_generate_seeds(gan, states, z, y, use_ema=use_ema))
