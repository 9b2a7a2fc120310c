"""Cost of one jit-compiled critic update with each penalty, relative to none.

Critics: the classic MNIST MLP critic (784 -> 256 -> 256 -> 1, batch 128, no dropout so
that both frameworks compute the same function) and a DCGAN critic on 32x32x3 (three
stride-2 4x4 convolutions 64/128/256 + Dense 1, no normalization, batch 64). One update is
the Wasserstein critic loss + weight * penalty, its gradient, and an Adam step. With the
``[bench]`` extra installed, the same update in PyTorch eager (``autograd.grad`` with
``create_graph=True``) runs beside it.

    python -m benchmarks.penalty_overhead [--steps 30 --rounds 5]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.timing import interleaved_rates, print_table
from jaxgan import losses, models, penalties, sharding

PENALTIES = penalties.names()  # 'none' first
SUMMED = 'wgan_gp via grad of summed logits'
LAZY = (4, 16)


def jax_critic(kind: str) -> tuple[nn.Module, tuple[int, ...], int]:
  if kind == 'mlp':
    return models.MLPDiscriminator(features=(256, 256), dropout=0.0), (28 * 28,), 128
  return models.DCGANDiscriminator(width=64, num_layers=3, norm='none'), (32, 32, 3), 64


def jax_update_step(kind: str, penalty: str, summed_gradient: bool = False,
                    every: int = 1) -> Callable:
  """A closure running one compiled critic update; state lives in the closure.

  ``every > 1`` is lazy regularization (Karras et al. 2020): the penalized update (weight
  times ``every``) runs on every ``every``-th call, the plain one otherwise.
  """
  critic, shape, batch = jax_critic(kind)
  rng = np.random.default_rng(0)
  real = jnp.asarray(rng.uniform(-1, 1, (batch, *shape)), jnp.float32)
  fake = jnp.asarray(rng.uniform(-1, 1, (batch, *shape)), jnp.float32)
  params = critic.init(jax.random.key(0), real[:1], train=False)
  opt = optax.adam(1e-4, b1=0.5, b2=0.9)
  d_loss = losses.get('wasserstein').discriminator_loss
  # The per-example form (vmap of grad), as recorded in docs/benchmarks.md; the summed
  # form is the hand-written `summed_gradient` variant below (penalties.get's default).
  pen = penalties.get(penalty, per_example=True)

  def loss_fn(p, key, penalized=True):
    critic_fn = lambda x: critic.apply(p, x, train=False)
    value = d_loss(critic_fn(real), critic_fn(fake))
    if summed_gradient:  # the textbook alternative: grad of the summed logits
      eps = jax.random.uniform(key, (batch,) + (1,) * len(shape))
      xhat = eps * real + (1 - eps) * fake
      g = jax.grad(lambda x: critic_fn(x).sum())(xhat).reshape(batch, -1)
      value += 10.0 * jnp.mean((jnp.sqrt(jnp.sum(g * g, -1) + 1e-12) - 1.0) ** 2)
    elif pen is not None and penalized:
      value += 10.0 * every * pen(critic_fn, real, fake, key)
    return value

  def update(p, s, key, penalized):
    g = jax.grad(loss_fn)(p, key, penalized)
    u, s = opt.update(g, s, p)
    return optax.apply_updates(p, u), s

  update = jax.jit(update, donate_argnums=(0, 1), static_argnums=3)
  state = [params, opt.init(params), jax.random.key(1), 0]

  def step():
    state[2], k = jax.random.split(state[2])
    state[0], state[1] = update(state[0], state[1], k, state[3] % every == 0)
    state[3] += 1
    return state[0]
  return step


def torch_update_step(kind: str, penalty: str) -> Callable | None:
  try:
    import torch
  except ImportError:
    return None
  torch.manual_seed(0)
  if kind == 'mlp':
    critic = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(),
                                 torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                 torch.nn.Linear(256, 1))
    shape, batch = (784,), 128
  else:
    lrelu = torch.nn.LeakyReLU(0.2)
    critic = torch.nn.Sequential(torch.nn.Conv2d(3, 64, 4, 2, 1), lrelu,
                                 torch.nn.Conv2d(64, 128, 4, 2, 1), lrelu,
                                 torch.nn.Conv2d(128, 256, 4, 2, 1), lrelu,
                                 torch.nn.Flatten(), torch.nn.Linear(256 * 16, 1))
    shape, batch = (3, 32, 32), 64
  real = torch.rand(batch, *shape) * 2 - 1
  fake = torch.rand(batch, *shape) * 2 - 1
  opt = torch.optim.Adam(critic.parameters(), lr=1e-4, betas=(0.5, 0.9))
  view = (batch,) + (1,) * len(shape)

  def grad_norms(x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return g.flatten(1).norm(dim=1)

  def step():
    opt.zero_grad(set_to_none=True)
    loss = critic(fake).mean() - critic(real).mean()
    if penalty in ('wgan_gp', 'wgan_lp'):
      eps = torch.rand(view)
      n = grad_norms(eps * real + (1 - eps) * fake)
      gap = (n - 1) if penalty == 'wgan_gp' else torch.relu(n - 1)
      loss = loss + 10.0 * (gap ** 2).mean()
    elif penalty == 'dragan':
      alpha = torch.rand(view) * 2 - 1
      pts = torch.clamp(real + alpha * 0.5 * real.std() * torch.rand_like(real), -1, 1)
      loss = loss + 10.0 * ((grad_norms(pts) - 1) ** 2).mean()
    elif penalty in ('r1', 'r2'):
      loss = loss + 10.0 * (grad_norms(real if penalty == 'r1' else fake) ** 2).mean()
    loss.backward()
    opt.step()
  return step


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=30)
  parser.add_argument('--rounds', type=int, default=5)
  args = parser.parse_args()
  print(f'jax {jax.__version__} on {jax.devices()[0].platform}; '
        f'{args.rounds} interleaved rounds of {args.steps} updates, median')
  rows = []
  for kind in ('mlp', 'dcgan'):
    variants = {}
    for pen in PENALTIES:
      variants[('jax', pen)] = (jax_update_step(kind, pen), jax.block_until_ready)
      step = torch_update_step(kind, pen)
      if step is not None:
        variants[('torch', pen)] = (step, lambda _: None)
    variants[('jax', SUMMED)] = (jax_update_step(kind, 'wgan_gp', summed_gradient=True),
                                 jax.block_until_ready)
    for every in LAZY:
      variants[('jax', f'r1 lazy, every {every}')] = (
          jax_update_step(kind, 'r1', every=every), jax.block_until_ready)
    rates = interleaved_rates(variants, args.steps, args.rounds)
    for pen in PENALTIES + [SUMMED] + [f'r1 lazy, every {e}' for e in LAZY]:
      j = rates[('jax', pen)]
      t = rates.get(('torch', pen))
      t0 = rates.get(('torch', 'none'))
      rows.append([kind, pen, j, rates[('jax', 'none')] / j,
                   t if t else 'n/a', t0 / t if t else 'n/a', j / t if t else 'n/a'])
  print_table(['critic', 'penalty', 'jaxgan updates/s', 'jaxgan cost (x none)',
               'PyTorch updates/s', 'PyTorch cost (x none)', 'jaxgan / PyTorch'], rows)


if __name__ == '__main__':
  main()
