"""ResNet GAN train steps at 32 px: jaxgan against the same SNGAN and SAGAN in PyTorch
eager, one run.

Models (``configs/sngan_cifar10.py``, ``configs/sagan_cifar10.py``): the ResNet generator
and discriminator of ``jaxgan.models.resnet`` (SNGAN: spectral norm in D; SAGAN: also in G,
self-attention at 16 px in G and 8 px in D), z 128, batch 64, hinge loss; Adam (0, 0.9),
SNGAN lr 2e-4 for both, SAGAN G 1e-4, D 4e-4. The PyTorch twins are
``benchmarks/torch_resnet_models.py``. One train step = one discriminator update + one
generator update (``n_critic = 1`` in both frameworks, for a like-for-like step; SNGAN's
config trains with 5). Both frameworks run every module in training mode, so each spectral
norm does its power iteration on every forward pass (jaxgan: ``update_stats=True``;
PyTorch: ``nn.utils.spectral_norm`` while ``training``) and BatchNorm uses batch statistics;
PyTorch freezes D's parameters during the generator update (jaxgan differentiates G's
parameters only).

Widths (``--width``, comma-separated): the generator's ``ngf``, with ``ndf = ngf / 2`` as in
the configs (ngf 256, ndf 128). The default, ``64,128``, takes an estimated 4-5 minutes on
2 CPU cores; the configs' size, ``--width 256`` (about 1 TFLOP per step, 10-30 s per step
on 2 cores), adds about 10 minutes. Inputs are random images. Printed: train steps/s,
medians of interleaved rounds, and jaxgan's compile time. PyTorch runs on the GPU when
one is available.

On a CPU shared with other jobs, PyTorch's OpenMP threads can stall at every parallel
region (seen here: 2 threads 100x slower than 1 at load average 5 on 2 cores): time on an
idle machine, or compare with ``--torch_threads 1``.

    python -m benchmarks.resnet_step [--width 64,128] [--models sngan,sagan] [--batch 64]
        [--rounds 3] [--steps 2] [--torch_threads 0]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import ml_collections
import numpy as np

from benchmarks.timing import (
  comma_list,
  compiled_train_step,
  interleaved_rates,
  print_table,
  torch_with_threads,
)
from configs import sagan_cifar10, sngan_cifar10
from jaxgan import build, losses, models, sharding
from jaxgan import gan as gan_lib

CONFIGS = {'sngan': sngan_cifar10, 'sagan': sagan_cifar10}


def config(model: str, ngf: int, batch: int) -> ml_collections.ConfigDict:
  """The config of ``model`` at width ``ngf`` (``ndf = ngf / 2``), batch ``batch``,
  ``n_critic = 1`` and constant learning rates."""
  c = CONFIGS[model].get_config()
  c.n_critic = 1
  c.g_optimizer.schedule = c.d_optimizer.schedule = 'constant'  # as the twins' Adam
  c.data.batch_size = batch
  c.model.generator.ngf, c.model.discriminator.ndf = ngf, ngf // 2
  return c


def jax_gan(c: ml_collections.ConfigDict) -> gan_lib.GAN:
  """The GAN of config ``c``, as ``build.build`` makes it (without CIFAR-10's pipeline)."""
  g, d = models.get(c.model.name, dict(c.model.generator), dict(c.model.discriminator))
  return gan_lib.GAN(generator=g, discriminator=d, objective=losses.get(c.loss.name),
                     g_optimizer=build.optimizer(c.g_optimizer),
                     d_optimizer=build.optimizer(c.d_optimizer),
                     latent=gan_lib.Latent(z_dim=c.model.z_dim), n_critic=c.n_critic,
                     ema_decay=c.ema_decay)


def jax_step(c: ml_collections.ConfigDict, compiler_options: dict | None = None
             ) -> tuple[Callable[[], object], float]:
  """(one-step closure, compile seconds) of jaxgan's compiled train step."""
  gan, shape = jax_gan(c), (32, 32, 3)
  mesh = sharding.make_mesh(jax.devices()[:1])
  real = np.random.default_rng(0).uniform(-1, 1, (1, 1, c.data.batch_size, *shape))
  batches = sharding.put_batches({'x': real.astype(np.float32)}, mesh)
  state = jax.jit(lambda k: gan_lib.init_state(gan, k, shape))(jax.random.key(0))
  run, _, seconds = compiled_train_step(gan, state, batches, mesh, compiler_options)
  return run, seconds


def torch_step(c: ml_collections.ConfigDict, device: str) -> Callable[[], None] | None:
  """One train step of the same models in PyTorch eager, or ``None`` without PyTorch."""
  try:
    import torch
    import torch.nn.functional as F

    from benchmarks import torch_resnet_models
  except ImportError:
    return None
  torch.manual_seed(0)
  # The family's fixed keywords (SAGAN: attention_at, spectral_norm) name the twins' too.
  family = models.family(c.model.name)
  g = torch_resnet_models.ResNetGenerator(c.model.z_dim, c.model.generator.ngf,
                                          **getattr(family.generator, 'keywords', {}))
  d = torch_resnet_models.ResNetDiscriminator(c.model.discriminator.ndf,
                                              **getattr(family.discriminator, 'keywords', {}))
  g, d = g.to(device).train(), d.to(device).train()
  adam = lambda module, o: torch.optim.Adam(module.parameters(), o.learning_rate,
                                            betas=(o.b1, o.b2))
  opt_g, opt_d = adam(g, c.g_optimizer), adam(d, c.d_optimizer)
  b, z_dim = c.data.batch_size, c.model.z_dim
  real = (torch.rand(b, 3, 32, 32) * 2 - 1).to(device)

  def step():
    with torch.no_grad():
      fake = g(torch.randn(b, z_dim, device=device))
    opt_d.zero_grad(set_to_none=True)
    (F.relu(1 - d(real)).mean() + F.relu(1 + d(fake)).mean()).backward()
    opt_d.step()
    for p in d.parameters():
      p.requires_grad_(False)
    opt_g.zero_grad(set_to_none=True)
    (-d(g(torch.randn(b, z_dim, device=device))).mean()).backward()
    opt_g.step()
    for p in d.parameters():
      p.requires_grad_(True)
  return step


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--models', default='sngan,sagan', help='comma-separated: sngan, sagan')
  parser.add_argument('--width', default='64,128',
                      help="comma-separated generator widths ngf (ndf = ngf / 2); the "
                      "configs': 256")
  parser.add_argument('--batch', type=int, default=64)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--torch_threads', type=int, default=0,
                      help="PyTorch's intra-op threads (default 0: PyTorch's own default)")
  args = parser.parse_args()
  names = comma_list(args.models, tuple(CONFIGS), 'models')
  widths = [int(w) for w in args.width.split(',') if w]
  if any(w % 16 or w <= 0 for w in widths):
    parser.error(f'--width: multiples of 16 (attention needs ndf / 8 channels); got {widths}')
  device, torch_sync, torch_note = torch_with_threads(args.torch_threads)
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}; {torch_note}')
  rows = []
  for ngf in widths:
    variants, compile_s = {}, {}
    for name in names:
      c = config(name, ngf, args.batch)
      run, compile_s[name] = jax_step(c)
      variants[f'jax {name}'] = (run, jax.block_until_ready)
      step = torch_step(c, device)
      if step:
        variants[f'torch {name}'] = (step, torch_sync)
    rates = interleaved_rates(variants, args.steps, args.rounds, warmup=3)
    for name in names:
      jr, tr = rates[f'jax {name}'], rates.get(f'torch {name}', float('nan'))
      rows.append([name.upper(), f'ngf {ngf} / ndf {ngf // 2}', args.batch, jr, tr, jr / tr,
                   compile_s[name]])
  print('\nTrain step at 32 px (one D + one G update, hinge, Adam, n_critic 1):')
  print_table(['model', 'width', 'batch', 'jaxgan steps/s', 'PyTorch steps/s', 'x PyTorch',
               'jaxgan compile s'], rows)


if __name__ == '__main__':
  main()
