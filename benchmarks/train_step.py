"""Train-step speed: jaxgan vs a straightforward JAX step vs PyTorch eager, side by side.

1. The classic MNIST MLP GAN (G 100->128->128->BN->784 tanh, D 784->256->256->drop 0.2->1,
   batch 128, one D + one G update, Adam, non-saturating loss): steps/s, the step's FLOP/s
   from XLA's cost analysis, and the ``jnp.dot`` peak measured in the same run.
2. The toy 2-D GAN (batch 256) with the default toy MLPs and with small ones (3 x 32),
   where per-step overhead dominates: jaxgan fuses ``--fuse`` steps into one call.
3. Compile time of each jaxgan step.

    python -m benchmarks.train_step [--steps 200 --rounds 5 --fuse 50]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.timing import compiled_flops, interleaved_rates, print_table
from configs import mlp_mnist, toy2d
from jaxgan import build, sharding


def dot_peak() -> float:
  """Best float32 matmul FLOP/s over a few square sizes."""
  best = 0.0
  for n in (256, 512, 1024, 2048):
    a = jnp.ones((n, n), jnp.float32)
    f = jax.jit(lambda x: x @ x)
    f(a).block_until_ready()
    reps = max(3, int(2e10 / (2 * n ** 3)))
    t = time.perf_counter()
    for _ in range(reps):
      out = f(a)
    out.block_until_ready()
    best = max(best, 2 * n ** 3 * reps / (time.perf_counter() - t))
  return best


def shape_peak(m: int = 128, k: int = 784, n: int = 256) -> float:
  """FLOP/s of the step's largest matmul shape, [128, 784] @ [784, 256], run alone."""
  a, b = jnp.ones((m, k), jnp.float32), jnp.ones((k, n), jnp.float32)
  f = jax.jit(lambda x, y: x @ y)
  f(a, b).block_until_ready()
  best = 0.0
  for _ in range(5):
    t = time.perf_counter()
    for _ in range(300):
      out = f(a, b)
    out.block_until_ready()
    best = max(best, 2 * m * k * n * 300 / (time.perf_counter() - t))
  return best


def jaxgan_runner(config, fuse: int):
  """(step closure, compile seconds, FLOPs per train step) of jaxgan's compiled step."""
  config.steps_per_call = fuse
  config.ema_decay = 0.0
  gan, pipeline = build.build(config)
  mesh = sharding.make_mesh(jax.devices()[:1])
  fn = sharding.compile_train_steps(gan, mesh)
  batches = sharding.put_batches(pipeline.batches(0, fuse), mesh)
  state = jax.jit(lambda k: build.init_state(gan, pipeline, k))(jax.random.key(0))
  key = jax.random.key(1)
  t = time.perf_counter()
  compiled = fn.lower(state, batches, key, {}).compile()
  compile_s = time.perf_counter() - t
  flops = compiled_flops(compiled) / fuse
  box = [state]

  def run():
    box[0], metrics = compiled(box[0], batches, key, {})
    return metrics
  return run, compile_s, flops


def straightforward_jax_mlp():
  """The same MLP GAN step written directly with Flax + optax, no library."""
  import flax.linen as nn

  class G(nn.Module):
    @nn.compact
    def __call__(self, z, train=True):
      h = nn.relu(nn.Dense(128)(z))
      h = nn.relu(nn.Dense(128)(h))
      h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
      return jnp.tanh(nn.Dense(784)(h))

  class D(nn.Module):
    @nn.compact
    def __call__(self, x, train=True):
      h = nn.relu(nn.Dense(256)(x))
      h = nn.relu(nn.Dense(256)(h))
      h = nn.Dropout(0.2, deterministic=not train)(h)
      return nn.Dense(1)(h)[:, 0]

  g, d = G(), D()
  gv = g.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)
  dv = d.init(jax.random.key(1), jnp.zeros((1, 784)), train=False)
  g_opt, d_opt = optax.adam(1e-3, b1=0.5), optax.adam(1e-4, b1=0.5)
  real = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (128, 784)), jnp.float32)

  def update(s, key):
    gp, gs, dp, go, do = s
    k1, k2, k3, k4, k5 = jax.random.split(key, 5)
    fake, _ = g.apply({'params': gp, 'batch_stats': gs}, jax.random.normal(k1, (128, 100)),
                      mutable=['batch_stats'])

    def d_loss(p):
      r = d.apply({'params': p}, real, rngs={'dropout': k2})
      f = d.apply({'params': p}, jax.lax.stop_gradient(fake), rngs={'dropout': k3})
      return jnp.mean(jax.nn.softplus(-r)) + jnp.mean(jax.nn.softplus(f))
    u, do = d_opt.update(jax.grad(d_loss)(dp), do, dp)
    dp = optax.apply_updates(dp, u)

    def g_loss(p):
      x, upd = g.apply({'params': p, 'batch_stats': gs}, jax.random.normal(k4, (128, 100)),
                       mutable=['batch_stats'])
      return jnp.mean(jax.nn.softplus(-d.apply({'params': dp}, x, rngs={'dropout': k5}))), upd
    grads, upd = jax.grad(g_loss, has_aux=True)(gp)
    u, go = g_opt.update(grads, go, gp)
    return (optax.apply_updates(gp, u), upd['batch_stats'], dp, go, do)

  fn = jax.jit(update, donate_argnums=0)
  box = [(gv['params'], gv['batch_stats'], dv['params'], g_opt.init(gv['params']),
          d_opt.init(dv['params'])), jax.random.key(2)]

  def run():
    box[1], k = jax.random.split(box[1])
    box[0] = fn(box[0], k)
    return box[0]
  return run


def torch_runner(kind: str, width: int = 256):
  try:
    import torch
  except ImportError:
    return None
  torch.manual_seed(0)
  nn = torch.nn
  if kind == 'mlp':
    g = nn.Sequential(nn.Linear(100, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                      nn.BatchNorm1d(128, momentum=0.1), nn.Linear(128, 784), nn.Tanh())
    d = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                      nn.Dropout(0.2), nn.Linear(256, 1))
    z_dim, batch, dim, lrs = 100, 128, 784, (1e-3, 1e-4)
  else:
    lrelu = lambda: nn.LeakyReLU(0.2)
    w = width
    g = nn.Sequential(nn.Linear(16, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),
                      nn.Linear(w, w), nn.ReLU(), nn.Linear(w, 2))
    d = nn.Sequential(nn.Linear(2, w), lrelu(), nn.Linear(w, w), lrelu(),
                      nn.Linear(w, w), lrelu(), nn.Linear(w, 1))
    z_dim, batch, dim, lrs = 16, 256, 2, (1e-4, 1e-4)
  g_opt = torch.optim.Adam(g.parameters(), lr=lrs[0], betas=(0.5, 0.999))
  d_opt = torch.optim.Adam(d.parameters(), lr=lrs[1], betas=(0.5, 0.999))
  real = torch.rand(batch, dim) * 2 - 1
  sp = torch.nn.functional.softplus

  def run():
    with torch.no_grad():  # the critic update needs no generator graph
      fake = g(torch.randn(batch, z_dim))
    d_opt.zero_grad(set_to_none=True)
    (sp(-d(real)).mean() + sp(d(fake)).mean()).backward()
    d_opt.step()
    g_opt.zero_grad(set_to_none=True)
    d.requires_grad_(False)  # nor the generator update critic weight gradients
    sp(-d(g(torch.randn(batch, z_dim)))).mean().backward()  # fresh z, as jaxgan does
    d.requires_grad_(True)
    g_opt.step()
  return run


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--steps', type=int, default=200)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--fuse', type=int, default=50)
  args = parser.parse_args()
  sync = jax.block_until_ready
  nosync = lambda _: None
  peak, peak_128 = dot_peak(), shape_peak()
  print(f'jax {jax.__version__}, {jax.devices()[0].platform}; jnp.dot peak '
        f'{peak / 1e9:.1f} GFLOP/s (square up to 2048), {peak_128 / 1e9:.1f} GFLOP/s at the '
        f'step\'s largest matmul [128,784]@[784,256]; {args.rounds} interleaved rounds, median\n')

  # 1. classic MLP GAN
  mlp_run, mlp_compile, mlp_flops = jaxgan_runner(mlp_mnist.get_config(), 1)
  variants = {'jaxgan': (mlp_run, sync), 'straightforward JAX': (straightforward_jax_mlp(), sync)}
  torch_mlp = torch_runner('mlp')
  if torch_mlp:
    variants['PyTorch eager'] = (torch_mlp, nosync)
  rates = interleaved_rates(variants, args.steps, args.rounds)
  base = rates.get('PyTorch eager')
  rows = [[name, r, r / base if base else 'n/a', f'{r * mlp_flops / 1e9:.1f}',
           f'{100 * r * mlp_flops / peak:.0f}%', f'{100 * r * mlp_flops / peak_128:.0f}%']
          for name, r in rates.items()]
  print('Classic MNIST MLP GAN, batch 128, one D + one G update '
        f'({mlp_flops / 1e6:.1f} MFLOP/step by XLA cost analysis)')
  print_table(['implementation', 'steps/s', 'x PyTorch', 'GFLOP/s', 'of square dot peak',
               'of same-shape dot peak'], rows)

  # 2. toy 2-D GAN: the default toy config, and small MLPs where overhead dominates
  compile_rows = [['MLP GAN, 1 step', mlp_compile]]
  for width in (toy2d.get_config().model.generator.features[0], 32):
    config = toy2d.get_config()
    config.penalty.name = 'none'  # the same update as the PyTorch step
    config.model.generator.features = (width,) * 3
    config.model.discriminator.features = (width,) * 3
    fused_run, toy_compile, _ = jaxgan_runner(config, args.fuse)
    # XLA's cost analysis counts a scan body once: take FLOPs from the single step.
    single_run, toy1_compile, toy_flops = jaxgan_runner(config, 1)
    compile_rows += [[f'toy 2-D width {width}, {args.fuse} steps fused', toy_compile],
                     [f'toy 2-D width {width}, 1 step', toy1_compile]]
    fused_name = f'jaxgan, {args.fuse} steps per call'
    variants = {fused_name: (fused_run, sync), 'jaxgan, 1 step per call': (single_run, sync)}
    torch_toy = torch_runner('toy', width)
    if torch_toy:
      variants['PyTorch eager'] = (torch_toy, nosync)
    calls = {name: args.steps for name in variants}
    calls[fused_name] = max(1, args.steps // args.fuse)
    rates = interleaved_rates(variants, calls, args.rounds)
    rates[fused_name] *= args.fuse  # calls/s -> train steps/s
    base = rates.get('PyTorch eager')
    print(f'\nToy 2-D GAN (ring8), MLPs of 3 x {width}, batch 256, one D + one G update per '
          f'step ({toy_flops / 1e6:.1f} MFLOP/step)')
    print_table(['implementation', 'steps/s', 'x PyTorch'],
                [[n, r, r / base if base else 'n/a'] for n, r in rates.items()])

  print('\nCompile time')
  print_table(['step', 'seconds'], compile_rows)


if __name__ == '__main__':
  main()
