"""Super-resolution train steps: jaxgan against the same SRResNet and RRDBNet in PyTorch
eager, one run.

Models (``--models``, comma-separated; sizes from ``configs/srgan.py`` and
``configs/esrgan.py``, 4x: LR = HR / 4):

* ``srresnet_small``: SRResNet, 4 blocks, 32 features; 64 px HR crops (``:small``);
* ``rrdb_small``: RRDBNet, 2 RRDBs, 32 features, growth 16; 64 px (``:small``);
* ``srresnet``: the paper's SRResNet, 16 blocks, 64 features; 96 px;
* ``rrdb``: ESRGAN's RRDBNet, 23 RRDBs, 64 features, growth 32; 128 px.

``--scan on`` (or ``off,on``: a row each) runs the RRDBNets with ``scan_blocks=True``, their
blocks as one ``nn.scan`` (``configs/esrgan.py`` scans the papers' model); ``off``, the
default, unrolls them, as the small config does.

The discriminator is SRGAN's with BatchNorm (width 16, 256 hidden units for the small
variants; 64 and 1024 for the papers'), also for RRDBNet, whose config now takes ESRGAN's
VGG-style one: the table's numbers were measured so. Two steps per model, both with the
configs' Adam:

* ``psnr``: the pre-training step, the generator alone (``n_critic = 0``) on the pixel loss
  (MSE for SRResNet, L1 for RRDBNet);
* ``gan``: one discriminator update and one generator update on the pixel content loss plus
  the adversarial term (SRGAN: non-saturating, weight 1e-3, MSE weight 1; ESRGAN:
  relativistic average, 2.5e-3, L1 weight 1.005: the halved weights of jaxgan's [-1, 1] and
  summed-RaGAN conventions): the configs' ``offline`` GAN stage. There
  is no VGG19 perceptual term: its weights are not available offline (it would add one
  VGG19 forward and backward pass to both frameworks alike).

jaxgan runs the library's step (``build.build`` of the config, then
``sharding.compile_train_steps``, one step per call); PyTorch runs the twins of
``benchmarks/torch_sr_models.py`` in training mode, with the discriminator's parameters
frozen during the generator update (as BasicSR does; jaxgan differentiates the generator's
parameters only). Inputs are random images of the crop size. Batch: the configs' 16; on a
CPU the papers' models run at batch 4 by default (the table states it). A full default run
takes an estimated 7-10 minutes on 2 CPU cores, half of it the papers' RRDBNet. Printed:
images/s (HR crops per second; one step consumes one batch), medians of interleaved
rounds, and jaxgan's compile time. PyTorch runs on the GPU when one is available.

On a CPU shared with other jobs, PyTorch's OpenMP threads can stall at every parallel
region (seen here: 2 threads 100x slower than 1 at load average 5 on 2 cores): time on an
idle machine, or compare with ``--torch_threads 1``.

    python -m benchmarks.sr_step [--models srresnet_small,rrdb_small,srresnet,rrdb]
        [--batch 16] [--hr 64] [--rounds 3] [--steps 2] [--scan off] [--torch_threads 0]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from benchmarks.timing import (
  comma_list,
  compiled_train_step,
  interleaved_rates,
  print_table,
  torch_with_threads,
)
from configs import esrgan, srgan
from jaxgan import build, sharding
from jaxgan import gan as gan_lib

# name -> (config module, options, label, batch on a CPU)
MODELS = {
    'srresnet_small': (srgan, 'small', 'SRResNet 4 x 32 (small)', 16),
    'rrdb_small': (esrgan, 'small', 'RRDBNet 2 x 32, growth 16 (small)', 16),
    'srresnet': (srgan, '', 'SRResNet 16 x 64 (paper)', 4),
    'rrdb': (esrgan, '', 'RRDBNet 23 x 64, growth 32 (paper)', 4),
}
KINDS = ('psnr', 'gan')


def config(model: str, kind: str, batch: int | None, hr: int | None,
           scan: bool = False) -> ml_collections.ConfigDict:
  """The config of ``model``'s ``kind`` step, at ``batch`` and ``hr`` when given; ``scan``:
  RRDBNet's blocks as one ``nn.scan`` (``scan_blocks``)."""
  module, options, _, cpu_batch = MODELS[model]
  options = ','.join(o for o in (options, 'psnr' if kind == 'psnr' else 'offline') if o)
  c = module.get_config(options)
  if 'scan_blocks' in c.model.generator:  # RRDBNet: as asked, whatever the config says
    c.model.generator.scan_blocks = scan
  if c.model.discriminator.get('layout') == 'esrgan':  # the table's D is SRGAN's, as its twin
    c.model.discriminator.update(layout='srgan', hidden=256 if 'small' in options else 1024)
  for opt in (c.g_optimizer, c.d_optimizer):  # as the twin's Adam; one state for both steps
    opt.schedule = 'constant'
  if batch is None and jax.default_backend() == 'cpu':
    batch = cpu_batch
  if batch:
    c.data.batch_size = batch
  if hr:
    if hr % 16:
      raise ValueError(f'--hr must be a multiple of 16 (LR = HR / 4); got {hr}.')
    c.data.crop_size = c.model.discriminator.image_size = hr
  return c


def describe(c: ml_collections.ConfigDict) -> str:
  """The step's losses, e.g. 'MSE' or 'L1 x 1.005 + 0.0025 rasgan'."""
  pixel = f'{c.content.pixel.upper()}'
  if c.content.pixel_weight != 1:
    pixel += f' x {c.content.pixel_weight:g}'
  if not c.n_critic:
    return pixel
  return f'{pixel} + {c.adversarial_weight:g} {c.loss.name}'


def random_batch(c: ml_collections.ConfigDict) -> dict[str, np.ndarray]:
  """Random HR crops and LR images, ``[1 step, 1, batch, ...]``, in [-1, 1]."""
  b, hr, scale = c.data.batch_size, c.data.crop_size, c.data.scale
  rng = np.random.default_rng(0)
  return {'x': rng.uniform(-1, 1, (1, 1, b, hr, hr, 3)).astype(np.float32),
          'lr': rng.uniform(-1, 1, (1, 1, b, hr // scale, hr // scale, 3)).astype(np.float32)}


def initial_state(c: ml_collections.ConfigDict) -> gan_lib.GANState:
  """The initial state of ``c``'s GAN, initialized op by op: jit-compiling the init of the
  papers' RRDBNet and discriminator takes ~40 s on 2 cores, three times as long (on a GPU
  it is jit-compiled: there each op of an op-by-op init is compiled). The psnr
  and gan steps of a model share it (the same modules; Adam's state does not depend on
  its hyper-parameters, and :func:`config` keeps both stages' rates constant): give the
  gan stage's config; :func:`psnr_state` leaves its discriminator out."""
  gan, pipe = build.build(c)
  if jax.default_backend() != 'cpu':  # op by op, each op would be compiled for the device
    return jax.jit(lambda k: build.init_state(gan, pipe, k))(build.init_key(0))
  return build.init_state(gan, pipe, build.init_key(0))


def psnr_state(c: ml_collections.ConfigDict, state: gan_lib.GANState) -> gan_lib.GANState:
  """``state`` of the gan stage without its discriminator, as the psnr stage ``c``
  (``n_critic = 0``) keeps it (:func:`jaxgan.gan.init_state`)."""
  gan, _ = build.build(c)
  return state.replace(d_params={}, d_stats={}, d_opt_state=gan.d_optimizer.init({}))


def jax_step(c: ml_collections.ConfigDict, state: gan_lib.GANState,
             compiler_options: dict | None = None) -> tuple[Callable[[], object], float]:
  """(one-step closure from a copy of ``state``, compile seconds) of jaxgan's compiled
  train step."""
  gan, _ = build.build(c)
  mesh = sharding.make_mesh(jax.devices()[:1])
  batches = sharding.put_batches(random_batch(c), mesh)
  state = jax.device_put(jax.tree.map(jnp.copy, state), sharding.replicated(mesh))
  run, _, seconds = compiled_train_step(gan, state, batches, mesh, compiler_options)
  return run, seconds


def torch_step(c: ml_collections.ConfigDict, device: str) -> Callable[[], None] | None:
  """One train step of the same models in PyTorch eager, or ``None`` without PyTorch."""
  try:
    import torch
    import torch.nn.functional as F

    from benchmarks import torch_sr_models
  except ImportError:
    return None
  torch.manual_seed(0)
  cls = torch_sr_models.SRResNet if c.model.name == 'srgan' else torch_sr_models.RRDBNet
  g_kwargs = {k: v for k, v in dict(c.model.generator).items() if k != 'scan_blocks'}
  g = cls(**g_kwargs).to(device).train()
  d_kwargs = {k: v for k, v in dict(c.model.discriminator).items() if k != 'layout'}
  d = torch_sr_models.SRGANDiscriminator(**d_kwargs).to(device).train()
  adam = lambda module, o: torch.optim.Adam(module.parameters(), o.learning_rate,
                                            betas=(o.b1, o.b2))
  opt_g, opt_d = adam(g, c.g_optimizer), adam(d, c.d_optimizer)
  batch = {k: torch.from_numpy(v[0, 0]).permute(0, 3, 1, 2).contiguous().to(device)
           for k, v in random_batch(c).items()}
  hr, lr = batch['x'], batch['lr']
  pixel = {'l1': F.l1_loss, 'mse': F.mse_loss}[c.content.pixel]
  softplus = F.softplus
  relativistic = c.loss.name == 'rasgan'
  if c.loss.name not in ('rasgan', 'non_saturating'):
    raise ValueError(f'No PyTorch twin of the {c.loss.name!r} objective.')

  def rasgan(x, y):
    return softplus(-(x - y.mean())).mean() + softplus(y - x.mean()).mean()

  def d_update():
    with torch.no_grad():
      fake = g(lr)
    opt_d.zero_grad(set_to_none=True)
    r, f = d(hr), d(fake)
    (rasgan(r, f) if relativistic else softplus(-r).mean() + softplus(f).mean()).backward()
    opt_d.step()

  def g_update():
    opt_g.zero_grad(set_to_none=True)
    fake = g(lr)
    loss = c.content.pixel_weight * pixel(fake, hr)
    if c.n_critic:
      for p in d.parameters():
        p.requires_grad_(False)
      f = d(fake)
      if relativistic:
        with torch.no_grad():
          r = d(hr)
        adversarial = rasgan(f, r)
      else:
        adversarial = softplus(-f).mean()
      loss = loss + c.adversarial_weight * adversarial
    loss.backward()
    opt_g.step()
    for p in d.parameters():
      p.requires_grad_(True)

  def step():
    if c.n_critic:
      d_update()
    g_update()
  return step


def progress(line: str) -> None:
  """One progress line on stderr, at once (a run cut short by a time limit still says where
  its time went: the papers' RRDBNet printed nothing in 195 s on an H200)."""
  print(line, file=sys.stderr, flush=True)


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--models', default=','.join(MODELS),
                      help=f'comma-separated, of {", ".join(MODELS)}')
  parser.add_argument('--batch', type=int, default=None,
                      help="every model's batch (default 16; the papers' models 4 on a CPU)")
  parser.add_argument('--hr', type=int, default=None,
                      help="every model's HR crop size (default the configs': 64, 96, 128)")
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--steps', type=int, default=2)
  parser.add_argument('--scan', default='off',
                      help="RRDBNet's blocks (scan_blocks): 'off' (unrolled), 'on' (one "
                           "nn.scan, compiled once) or 'off,on' (a row each)")
  parser.add_argument('--torch_threads', type=int, default=0,
                      help="PyTorch's intra-op threads (default 0: PyTorch's own default)")
  args = parser.parse_args()
  names = comma_list(args.models, tuple(MODELS), 'models')
  scans = [s == 'on' for s in comma_list(args.scan, ('off', 'on'), 'scan')]
  runs = [(name, scan) for name in names for scan in scans
          if not scan or MODELS[name][0] is esrgan]
  if not runs:
    raise SystemExit('--scan on applies to the RRDBNets (rrdb_small, rrdb); --models names '
                     'none of them.')
  device, torch_sync, torch_note = torch_with_threads(args.torch_threads)
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}; {torch_note}')
  sync = jax.block_until_ready
  rows = []
  torch_steps = {}  # (model, kind) -> PyTorch's step: the same twin for scan off and on
  for name, scan in runs:
    variants, compile_s = {}, {}
    configs = {kind: config(name, kind, args.batch, args.hr, scan) for kind in KINDS}
    model = name
    label = MODELS[name][2] + (', scanned' if scan else '')
    name += ' scanned' if scan else ''
    start = time.perf_counter()
    state = jax.block_until_ready(initial_state(configs['gan']))
    progress(f'{name}: jaxgan init {time.perf_counter() - start:.1f} s')
    for kind in KINDS:
      c = configs[kind]
      run, compile_s[kind] = jax_step(c, state if kind == 'gan' else psnr_state(c, state))
      progress(f'{name} {kind}: jaxgan compile {compile_s[kind]:.1f} s')
      variants[f'jax {kind}'] = (run, sync)
      if (model, kind) not in torch_steps:
        start = time.perf_counter()
        torch_steps[model, kind] = torch_step(c, device)
        if torch_steps[model, kind]:
          progress(f'{name} {kind}: PyTorch set-up {time.perf_counter() - start:.1f} s')
      if torch_steps[model, kind]:  # timed again beside each row's jaxgan step
        variants[f'torch {kind}'] = (torch_steps[model, kind], torch_sync)
    start = time.perf_counter()
    rates = interleaved_rates(variants, args.steps, args.rounds, warmup=3)
    progress(f'{name}: timed in {time.perf_counter() - start:.1f} s')
    for kind in KINDS:
      c = configs[kind]
      b = c.data.batch_size
      jr, tr = b * rates[f'jax {kind}'], b * rates.get(f'torch {kind}', float('nan'))
      rows.append([label, f'{kind}: {describe(c)}',
                   f'{b} x {c.data.crop_size}px', jr, tr, jr / tr, compile_s[kind]])
  print('\nSuper-resolution train steps (psnr: G alone; gan: one D + one G update), Adam:')
  print_table(['model', 'step', 'batch x HR', 'jaxgan images/s', 'PyTorch images/s',
               'x PyTorch', 'jaxgan compile s'], rows)


if __name__ == '__main__':
  main()
