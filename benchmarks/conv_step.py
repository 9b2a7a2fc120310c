"""Convolutional GAN train steps: jaxgan against the same DCGAN in PyTorch eager, one run.

Models: the digits DCGAN (28 px, width 32, batch 128, z 64; critic 2 stride-2 convs) and
the CIFAR-sized DCGAN (32 px, width 64, batch 64, z 100; critic 3 stride-2 convs). The
critic has no normalization (so that gradient penalties apply as they are and both
frameworks compute the same function). One train step = one critic update + one generator
update with Adam; variants: plain (non-saturating), WGAN-GP (lambda 10) and R1 (gamma 1).

Printed (medians of interleaved rounds, so drift hits every variant alike):

1. train steps/s, jaxgan (``sharding.compile_train_steps``, one step per call) vs PyTorch;
   jaxgan's GFLOP/s (XLA cost analysis) against a convolution peak measured in the same
   run (a 3x3 conv of [64, 32, 32, 128] -> 128);
2. one critic update with each penalty, relative to the plain one;
3. the generator's forward and parameter-gradient times, the gradient's FLOPs relative to
   the forward's (XLA cost analysis: the floor of the time ratio at equal FLOP rates) and
   the FLOP rate of each.

PyTorch runs on the GPU when one is available (``cudnn.benchmark`` on; with ``--dtype
bfloat16`` under ``torch.autocast`` to bf16), else on the CPU. ``--batch 64,128`` runs each
model at each batch instead of its own; ``--impl fast,flax`` times the train step with
each convolution implementation of ``jaxgan.models.layers`` (default: ``auto``, the
backend's choice; the critic updates and generator parts take the first); ``--variants``
and ``--parts steps`` (train steps only) shorten a run.

    python -m benchmarks.conv_step [--dtype bfloat16] [--rounds 5] [--batch 64,128]
        [--impl auto] [--variants plain,wgan_gp,r1] [--parts all] [--torch_threads 0]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import time
from unittest import mock

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks.timing import (
  comma_list,
  compiled_flops,
  compiled_train_step,
  interleaved_rates,
  print_table,
  torch_device,
)
from jaxgan import gan as gan_lib
from jaxgan import losses, models, penalties, sharding

CASES = {
    'digits DCGAN 28px w32 b128': dict(image_size=28, channels=1, width=32, num_layers=2,
                                       batch=128, z_dim=64),
    'CIFAR DCGAN 32px w64 b64': dict(image_size=32, channels=3, width=64, num_layers=3,
                                     batch=64, z_dim=100),
}
VARIANTS = {'plain': ('non_saturating', 'none', 0.0), 'wgan_gp': ('wasserstein', 'wgan_gp', 10.0),
            'r1': ('non_saturating', 'r1', 1.0)}


def conv_peak() -> float:
  """FLOP/s of a large 3x3 stride-1 conv on XLA (the same device, dtype and XLA options
  as the steps)."""
  x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32, 32, 128)), jnp.float32)
  k = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 128, 128)), jnp.float32)
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  fn = jax.jit(conv, compiler_options=sharding.default_compiler_options())
  jax.block_until_ready(fn(x, k))
  flops = 2 * 64 * 32 * 32 * 128 * 128 * 9
  best = 0.0
  for _ in range(5):
    t = time.perf_counter()
    for _ in range(10):
      out = fn(x, k)
    jax.block_until_ready(out)
    best = max(best, 10 * flops / (time.perf_counter() - t))
  return best


def jax_gan(case: dict, variant: str, dtype) -> gan_lib.GAN:
  objective, penalty, weight = VARIANTS[variant]
  g, d = models.get('dcgan', dict(image_size=case['image_size'], channels=case['channels'],
                                  width=case['width'], dtype=dtype),
                    dict(width=case['width'], num_layers=case['num_layers'], norm='none',
                         dtype=dtype))
  adam = optax.adam(2e-4, b1=0.5, b2=0.999)
  # The penalty as jaxgan.build makes it for the train step: the gradient of the summed
  # logits (the critic in inference mode couples no examples), as PyTorch's below.
  return gan_lib.GAN(generator=g, discriminator=d, objective=losses.get(objective),
                     g_optimizer=adam, d_optimizer=adam,
                     latent=gan_lib.Latent(z_dim=case['z_dim']),
                     penalty=penalties.get(penalty, per_example=False), penalty_weight=weight)


def conv_impl(impl: str):
  """A context in which ``jaxgan.models.layers`` convolutions trace with ``impl``
  ('auto': as outside it, i.e. ``layers.default_impl()``)."""
  return mock.patch.dict(os.environ, {} if impl == 'auto' else {'JAXGAN_CONV_IMPL': impl})


def jax_step(case: dict, variant: str, dtype, compiler_options: dict | None = None,
             impl: str = 'auto'):
  """(one-step closure, FLOPs per step) of jaxgan's compiled train step (compiled here,
  with the convolutions' ``impl``)."""
  gan = jax_gan(case, variant, dtype)
  shape = (case['image_size'], case['image_size'], case['channels'])
  mesh = sharding.make_mesh(jax.devices()[:1])
  real = np.random.default_rng(0).uniform(-1, 1, (1, 1, case['batch'], *shape))
  batches = sharding.put_batches({'x': real.astype(np.float32)}, mesh)
  state = jax.jit(lambda k: gan_lib.init_state(gan, k, shape))(jax.random.key(0))
  with conv_impl(impl):
    run, flops, _ = compiled_train_step(gan, state, batches, mesh, compiler_options)
  return run, flops


def jax_critic_update(case: dict, variant: str, dtype):
  """One compiled critic update (loss + weighted penalty, its gradient, Adam)."""
  gan = jax_gan(case, variant, dtype)
  shape = (case['image_size'], case['image_size'], case['channels'])
  rng = np.random.default_rng(0)
  real = jnp.asarray(rng.uniform(-1, 1, (case['batch'], *shape)), jnp.float32)
  fake = jnp.asarray(rng.uniform(-1, 1, (case['batch'], *shape)), jnp.float32)
  params = gan.discriminator.init(jax.random.key(0), real[:1], train=False)
  opt = gan.d_optimizer

  def loss(p, key):
    critic = lambda x: gan.discriminator.apply(p, x, train=False)
    value = gan.objective.discriminator_loss(critic(real), critic(fake))
    if gan.penalty is not None:
      value += gan.penalty_weight * gan.penalty(critic, real, fake, key)
    return value

  @functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  def update(p, s, key):
    u, s = opt.update(jax.grad(loss)(p, key), s, p)
    return optax.apply_updates(p, u), s
  box = [params, opt.init(params)]

  def run():
    box[0], box[1] = update(box[0], box[1], jax.random.key(2))
    return box[0]
  return run


def jax_generator_parts(case: dict, dtype) -> tuple:
  """(forward closure, parameter-gradient closure, forward FLOPs, gradient FLOPs) of the
  generator in training mode, compiled here; FLOPs by XLA's cost analysis."""
  gan = jax_gan(case, 'plain', dtype)
  z = jax.random.normal(jax.random.key(0), (case['batch'], case['z_dim']))
  v = gan.generator.init(jax.random.key(1), z, train=False)

  def forward(params):
    x, _ = gan.generator.apply({**v, 'params': params}, z, train=True, mutable=['batch_stats'])
    return jnp.sum(x.astype(jnp.float32))
  options = sharding.default_compiler_options()
  fwd, grad = (jax.jit(f).lower(v['params']).compile(compiler_options=options)
               for f in (forward, jax.grad(forward)))
  return ((lambda: fwd(v['params'])), (lambda: grad(v['params'])), compiled_flops(fwd),
          compiled_flops(grad))


def torch_parts(case: dict, variant: str, device: str = 'cpu', bf16: bool = False):
  """(train-step closure, critic-update closure, G forward, G gradient) in PyTorch eager
  on ``device`` (under bf16 autocast when ``bf16``), or ``None`` when PyTorch is not
  installed."""
  try:
    import torch

    from benchmarks import torch_dcgan
  except ImportError:
    return None
  torch.manual_seed(0)
  autocast = (functools.partial(torch.autocast, device, dtype=torch.bfloat16) if bf16
              else contextlib.nullcontext)
  objective, penalty, weight = VARIANTS[variant]
  g = torch_dcgan.Generator(case['z_dim'], case['image_size'], case['channels'], case['width'])
  d = torch_dcgan.Discriminator(case['image_size'], case['channels'], case['width'],
                                case['num_layers'])
  g, d = g.to(device), d.to(device)
  opt_g = torch.optim.Adam(g.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(d.parameters(), 2e-4, betas=(0.5, 0.999))
  b = case['batch']
  real = (torch.rand(b, case['channels'], case['image_size'], case['image_size']) * 2
          - 1).to(device)
  softplus = torch.nn.functional.softplus

  def d_loss(r, f):
    if objective == 'wasserstein':
      return f.mean() - r.mean()
    return softplus(-r).mean() + softplus(f).mean()

  def penalty_term(fake):
    if penalty == 'none':
      return 0.0
    if penalty == 'wgan_gp':
      eps = torch.rand(b, 1, 1, 1, device=device)
      x = (eps * real + (1 - eps) * fake).requires_grad_(True)
    else:
      x = real.detach().requires_grad_(True)
    with autocast():
      out = d(x).float().sum()
    (grad,) = torch.autograd.grad(out, x, create_graph=True)
    norm2 = grad.float().flatten(1).pow(2).sum(1)
    return weight * ((norm2.sqrt() - 1) ** 2 if penalty == 'wgan_gp' else norm2).mean()

  def critic_update(fake):
    opt_d.zero_grad(set_to_none=True)
    with autocast():
      loss = d_loss(d(real).float(), d(fake).float())
    (loss + penalty_term(fake)).backward()
    opt_d.step()

  def step():
    with torch.no_grad(), autocast():
      fake = g(torch.randn(b, case['z_dim'], device=device)).float()
    critic_update(fake)
    opt_g.zero_grad(set_to_none=True)
    d.requires_grad_(False)  # the generator update needs no critic weight gradients
    with autocast():
      f = d(g(torch.randn(b, case['z_dim'], device=device))).float()
    (-f.mean() if objective == 'wasserstein' else softplus(-f).mean()).backward()
    d.requires_grad_(True)
    opt_g.step()

  fixed_fake = torch.rand_like(real) * 2 - 1
  z = torch.randn(b, case['z_dim'], device=device)

  def g_forward():
    with torch.no_grad(), autocast():
      return g(z)

  def g_gradient():
    g.zero_grad(set_to_none=True)
    with autocast():
      out = g(z).float().sum()
    out.backward()
  return step, (lambda: critic_update(fixed_fake)), g_forward, g_gradient


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dtype', default='float32', choices=['float32', 'bfloat16'])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=5)
  parser.add_argument('--batch', default='',
                      help="comma-separated batches, each model at each (default: the model's)")
  parser.add_argument('--impl', default='auto',
                      help='comma-separated convolution impls for the train steps: auto, fast, '
                      'flax (jaxgan.models.layers)')
  parser.add_argument('--variants', default=','.join(VARIANTS),
                      help=f'comma-separated, of {", ".join(VARIANTS)}')
  parser.add_argument('--parts', default='all', choices=['all', 'steps'])
  parser.add_argument('--torch_threads', type=int, default=0,
                      help="PyTorch's intra-op threads on CPU (default 0: PyTorch's own)")
  args = parser.parse_args()
  dtype = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}[args.dtype]
  impls = comma_list(args.impl, ('auto', 'fast', 'flax'), 'impl')
  variants_wanted = comma_list(args.variants, tuple(VARIANTS), 'variants')
  batches = [int(b) for b in args.batch.split(',') if b]
  cases = {}
  for name, case in CASES.items():
    for b in batches or [case['batch']]:
      label = name if not batches else name.replace(f'b{case["batch"]}', f'b{b}')
      cases[label] = {**case, 'batch': b}
  device, torch_sync = torch_device(cudnn_benchmark=True)
  if device:
    import torch
    if args.torch_threads and device == 'cpu':
      torch.set_num_threads(args.torch_threads)
    torch_note = (f'PyTorch {torch.__version__} eager on {device}'
                  + (f', {torch.get_num_threads()} threads' if device == 'cpu' else '')
                  + (', bf16 autocast' if args.dtype == 'bfloat16' else ''))
  else:
    torch_note = 'PyTorch not installed (pip install -e ".[bench]")'
  from jaxgan.models import layers
  peak = conv_peak()
  impl_note = ', '.join(i if i != 'auto' else f'auto ({layers.default_impl()})' for i in impls)
  parts_impl = impl_note.split(', ')[0]
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}, activations {args.dtype}, '
        f'convolutions {impl_note} (critic updates and generator parts: {parts_impl}); '
        f'{torch_note}; conv peak {peak / 1e9:.1f} GFLOP/s')
  sync = jax.block_until_ready
  bf16 = args.dtype == 'bfloat16'
  step_rows, critic_rows, g_rows, g_flops = [], [], [], {}
  for name, case in cases.items():
    variants, flops = {}, {}
    for variant in variants_wanted:
      for impl in impls:
        run, flops[variant, impl] = jax_step(case, variant, dtype, impl=impl)
        variants[f'jax {variant} {impl}'] = (run, sync)
      parts = torch_parts(case, variant, device, bf16) if device else None
      if parts:
        variants[f'torch {variant}'] = (parts[0], torch_sync)
      if args.parts == 'all':
        with conv_impl(impls[0]):  # traced and compiled here, with the first impl
          critic = jax_critic_update(case, variant, dtype)
          critic()
        variants[f'jax critic {variant}'] = (critic, sync)
        if parts:
          variants[f'torch critic {variant}'] = (parts[1], torch_sync)
    if args.parts == 'all':
      with conv_impl(impls[0]):
        fwd, grad, fwd_flops, grad_flops = jax_generator_parts(case, dtype)
      g_flops[name] = fwd_flops, grad_flops
      variants['jax G forward'], variants['jax G gradient'] = (fwd, sync), (grad, sync)
      parts = torch_parts(case, 'plain', device, bf16) if device else None
      if parts:
        variants['torch G forward'] = (parts[2], torch_sync)
        variants['torch G gradient'] = (parts[3], torch_sync)
    rates = interleaved_rates(variants, args.steps, args.rounds, warmup=2)
    nan = float('nan')
    for variant in variants_wanted:
      tr = rates.get(f'torch {variant}', nan)
      for impl in impls:
        jr, f = rates[f'jax {variant} {impl}'], flops[variant, impl]
        row = [name, variant] + ([impl] if len(impls) > 1 else [])
        step_rows.append(row + [jr, tr, jr / tr, f * jr / 1e9, f'{100 * f * jr / peak:.0f} %'])
      if args.parts == 'all' and 'plain' in variants_wanted:
        base, base_t = rates['jax critic plain'], rates.get('torch critic plain', nan)
        critic_rows.append([name, variant, rates[f'jax critic {variant}'],
                            f'{base / rates[f"jax critic {variant}"]:.2f}x',
                            rates.get(f'torch critic {variant}', nan),
                            f'{base_t / rates.get(f"torch critic {variant}", nan):.2f}x'])
    if args.parts == 'all':
      fwd_f, grad_f = g_flops[name]
      g_rows.append([name, 1e3 / rates['jax G forward'], 1e3 / rates['jax G gradient'],
                     f'{rates["jax G forward"] / rates["jax G gradient"]:.2f}x',
                     f'{grad_f / fwd_f:.2f}x', fwd_f * rates['jax G forward'] / 1e9,
                     grad_f * rates['jax G gradient'] / 1e9,
                     1e3 / rates.get('torch G forward', nan),
                     1e3 / rates.get('torch G gradient', nan)])
  print('\nTrain step (one critic + one generator update, Adam):')
  print_table(['model', 'variant'] + (['convolutions'] if len(impls) > 1 else [])
              + ['jaxgan steps/s', 'PyTorch steps/s', 'x PyTorch', 'jaxgan GFLOP/s',
                 'of conv peak'], step_rows)
  if args.parts == 'steps':
    return
  if critic_rows:
    print('\nOne critic update, cost relative to the plain one:')
    print_table(['model', 'penalty', 'jaxgan updates/s', 'jaxgan cost', 'PyTorch updates/s',
                 'PyTorch cost'], critic_rows)
  print('\nGenerator, batch as above:')
  print_table(['model', 'jaxgan forward ms', 'jaxgan parameter gradient ms',
               'gradient / forward', 'its FLOPs / forward FLOPs', 'forward GFLOP/s',
               'gradient GFLOP/s', 'PyTorch forward ms', 'PyTorch forward+backward ms'],
              g_rows)


if __name__ == '__main__':
  main()
