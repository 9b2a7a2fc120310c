"""Several seeds of one GAN trained at once: ``jax.vmap`` of the pure train step.

The state gets a leading seed axis ``[S, ...]``; each seed has its own initialization,
noise keys and data stream. One compiled call advances all seeds by ``K`` steps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import numpy as np

from jaxgan import data, step


def init_states(gan: step.GAN, seeds: list[int], element_shape: tuple[int, ...]) -> step.GANState:
  """States of ``seeds`` stacked on a leading axis (seed ``s`` initialized from key ``s``)."""
  keys = jax.vmap(jax.random.key)(np.asarray(seeds, np.uint32))
  init = functools.partial(step.init_state, gan, element_shape=element_shape)
  return jax.jit(jax.vmap(init))(keys)


def compile_seed_steps(gan: step.GAN):
  """``fn(states[S], batches[S, K, n_critic, B, ...], base_keys[S]) -> (states, metrics[S, K])``
  with the states donated."""
  vmapped = jax.vmap(functools.partial(step.train_steps, gan))
  return jax.jit(vmapped, donate_argnums=0)


def base_keys(seeds: list[int]) -> jax.Array:
  """The per-seed base keys that ``launch.train`` would use for each seed."""
  return jax.vmap(lambda s: jax.random.fold_in(jax.random.key(s), 1))(
      np.asarray(seeds, np.uint32))


def seed_pipelines(name: str, seeds: list[int], **kwargs) -> list[data.Pipeline]:
  """One input pipeline per seed (``data.get(name, seed=s, **kwargs)``)."""
  return [data.get(name, seed=s, **kwargs) for s in seeds]


def stacked_batches(pipelines: list[data.Pipeline], start: int, count: int) -> np.ndarray:
  """``[S, count, n_critic, B, ...]``: each seed's batches of steps ``start..start+count-1``."""
  return np.stack([p.batches(start, count) for p in pipelines])


def train_seeds(gan: step.GAN, pipelines: list[data.Pipeline], seeds: list[int],
                num_steps: int, steps_per_call: int,
                callback: Callable[[int, step.GANState], None] | None = None,
                ) -> tuple[step.GANState, np.ndarray]:
  """Trains all seeds for ``num_steps`` steps.

  ``callback(steps_done, states)``, if given, runs after every compiled call (an
  evaluation hook: the study of digits scores samples with it).

  Returns:
    The stacked final states, and for each seed the first step whose losses were not
    finite (0 where the seed trained to the end without one). A diverged seed does not
    stop the others: a study reports it.
  """
  states = init_states(gan, seeds, pipelines[0].element_shape)
  fn = compile_seed_steps(gan)
  keys = base_keys(seeds)
  diverged_at = np.zeros(len(seeds), np.int64)
  s = 0
  while s < num_steps:
    k = min(steps_per_call, num_steps - s)
    states, metrics = fn(states, stacked_batches(pipelines, s, k), keys)
    finite = np.all([np.isfinite(np.asarray(v)) for v in metrics.values()], axis=0)  # [S, K]
    for i in np.flatnonzero((~finite).any(1) & (diverged_at == 0)):
      diverged_at[i] = s + 1 + int(np.argmax(~finite[i]))
    s += k
    if callback is not None:
      callback(s, states)
  return states, diverged_at


def generate(gan: step.GAN, states: step.GANState, num_samples: int, use_ema: bool = False,
             key: int = 1234) -> np.ndarray:
  """``[S, num_samples, ...]`` samples of every seed (the same noise for all seeds)."""
  z = jax.random.normal(jax.random.key(key), (num_samples, gan.z_dim))
  fn = jax.jit(jax.vmap(lambda st: step.generate(gan, st, z, use_ema)))
  return np.asarray(fn(states))
