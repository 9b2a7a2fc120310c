"""The DCGAN train steps' convolutions one by one: jaxgan against PyTorch eager, one run.

For each convolution of the two DCGANs of ``benchmarks/conv_step.py`` (the generator's
4x4 stride-2 transposed convolutions and last 3x3 one, the critic's 4x4 stride-2 ones),
at the shape the train step runs it, it times (milliseconds):

* ``fwd``: the layer's output;
* ``fwd+bwd``: ``L = sum(y**2) / 2`` and its gradient in the layer's parameters and, for
  every layer but the critic's first (whose input is an image), in its input, as the
  train step needs them.

jaxgan's layers are ``jaxgan.models.layers`` (``impl='auto'``), each task one compiled
program with jaxgan's CPU options; PyTorch's are ``nn.ConvTranspose2d(4, 2, 1)`` and
``nn.Conv2d``. It also times the same 3x3 convolution (``[64, 32, 32, 128] -> 128``) and
matrix product (``[16384, 1024] @ [1024, 128]``) in both, each framework's peak on this
machine. The sums over the layers bound what a whole step can gain from its convolutions:
when each layer runs near its framework's peak, the step's ratio follows the peaks'.

    python -m benchmarks.dcgan_layers [--rounds 5]   # needs .[bench] (PyTorch)
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.conv_step import CASES
from benchmarks.timing import interleaved_rates, print_table, torch_device
from jaxgan import sharding
from jaxgan.models import layers
from jaxgan.models.dcgan import _start_size


def layer_shapes(case: dict) -> list[tuple]:
  """``(kind, batch, size, C_in, C_out, kernel, stride, input gradient)`` of each
  convolution of ``jaxgan.models.dcgan`` with ``case``'s sizes (generator, then critic)."""
  start, ups = _start_size(case['image_size'])
  b, width, size = case['batch'], case['width'], start
  ch, shapes = width * 2 ** (ups - 1), []
  for i in range(ups):
    out = max(width * 2 ** (ups - 2 - i) if i < ups - 1 else width // 2, 8)
    shapes.append(('ConvTranspose', b, size, ch, out, 4, 2, True))
    size, ch = 2 * size, out
  shapes.append(('Conv', b, size, ch, case['channels'], 3, 1, True))
  size, ch = case['image_size'], case['channels']
  for i in range(case['num_layers']):
    shapes.append(('Conv', b, size, ch, width * 2 ** i, 4, 2, i > 0))
    size, ch = -(-size // 2), width * 2 ** i
  return shapes


def jax_tasks(kind: str, b: int, size: int, c_in: int, c_out: int, k: int, s: int,
              grad_x: bool) -> dict:
  x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (b, size, size, c_in)), jnp.float32)
  layer = getattr(layers, kind)(c_out, (k, k), strides=(s, s), padding='SAME')
  params = layer.init(jax.random.key(0), x)
  loss = lambda p, x: 0.5 * jnp.sum(layer.apply(p, x) ** 2)
  jit = functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  fwd, grad = jit(layer.apply), jit(jax.grad(loss, argnums=(0, 1) if grad_x else 0))
  return {'fwd': functools.partial(fwd, params, x), 'fwd+bwd': functools.partial(grad, params, x)}


def torch_tasks(kind: str, b: int, size: int, c_in: int, c_out: int, k: int, s: int,
                grad_x: bool, device: str) -> dict:
  import torch
  x = (torch.rand(b, c_in, size, size) * 2 - 1).to(device)
  layer = (torch.nn.ConvTranspose2d(c_in, c_out, k, s, 1) if kind == 'ConvTranspose'
           else torch.nn.Conv2d(c_in, c_out, k, s, 1)).to(device)
  xg = x.clone().requires_grad_(grad_x)

  def fwd():
    with torch.no_grad():
      return layer(x)

  def fwd_bwd():
    layer.zero_grad(set_to_none=True)
    xg.grad = None
    (0.5 * layer(xg).pow(2).sum()).backward()
  return {'fwd': fwd, 'fwd+bwd': fwd_bwd}


def peaks(device: str) -> dict:
  """(name, framework) -> (closure, FLOPs) of the reference conv and matrix product."""
  import torch
  rng = np.random.default_rng(0)
  x, k = rng.normal(size=(64, 32, 32, 128)), rng.normal(size=(3, 3, 128, 128))
  a, m = rng.normal(size=(16384, 1024)), rng.normal(size=(1024, 128))
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  jit = functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  jx, jk, ja, jm = (jnp.asarray(v, jnp.float32) for v in (x, k, a, m))
  tx = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float32, device=device)
  tk = torch.tensor(k.transpose(3, 2, 0, 1), dtype=torch.float32, device=device)
  ta, tm = (torch.tensor(v, dtype=torch.float32, device=device) for v in (a, m))

  def torch_conv():
    with torch.no_grad():
      return torch.nn.functional.conv2d(tx, tk, padding=1)
  conv_flops, mm_flops = 2 * 64 * 32 * 32 * 128 * 128 * 9, 2 * 16384 * 1024 * 128
  return {('3x3 conv [64,32,32,128] -> 128', 'jax'): (functools.partial(jit(conv), jx, jk),
                                                      conv_flops),
          ('3x3 conv [64,32,32,128] -> 128', 'torch'): (torch_conv, conv_flops),
          ('matmul [16384,1024] @ [1024,128]', 'jax'): (functools.partial(jit(jnp.matmul), ja, jm),
                                                        mm_flops),
          ('matmul [16384,1024] @ [1024,128]', 'torch'): (lambda: ta @ tm, mm_flops)}


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=10)
  args = parser.parse_args()
  device, torch_sync = torch_device(cudnn_benchmark=True)
  if not device:
    raise SystemExit('PyTorch is not installed: pip install -e ".[bench]"')
  import torch
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}; PyTorch {torch.__version__} '
        f'eager on {device}' + (f', {torch.get_num_threads()} threads' if device == 'cpu' else '')
        + f'; medians of {args.rounds} interleaved rounds\n')
  sync = jax.block_until_ready
  rows = []
  for name, case in CASES.items():
    variants = {}
    shapes = layer_shapes(case)
    for shape in shapes:
      for task, fn in jax_tasks(*shape).items():
        variants[shape, 'jax', task] = (fn, sync)
      for task, fn in torch_tasks(*shape, device).items():
        variants[shape, 'torch', task] = (fn, torch_sync)
    ms = {key: 1e3 / rate for key, rate in
          interleaved_rates(variants, args.steps, args.rounds, warmup=3).items()}
    totals = dict.fromkeys(('jax fwd', 'torch fwd', 'jax fwd+bwd', 'torch fwd+bwd'), 0.0)
    for shape in shapes:
      kind, b, size, c_in, c_out, k, s, _ = shape
      cells = {f'{fw} {t}': ms[shape, fw, t] for fw in ('jax', 'torch') for t in ('fwd', 'fwd+bwd')}
      for key, value in cells.items():
        totals[key] += value
      rows.append([name, kind, f'[{b},{size},{size},{c_in}] -> {c_out}', f'{k} / {s}',
                   cells['jax fwd'], cells['torch fwd'], cells['torch fwd'] / cells['jax fwd'],
                   cells['jax fwd+bwd'], cells['torch fwd+bwd'],
                   cells['torch fwd+bwd'] / cells['jax fwd+bwd']])
    rows.append([name, '**all**', '', '', totals['jax fwd'], totals['torch fwd'],
                 totals['torch fwd'] / totals['jax fwd'], totals['jax fwd+bwd'],
                 totals['torch fwd+bwd'], totals['torch fwd+bwd'] / totals['jax fwd+bwd']])
  print_table(['model', 'layer', 'input -> C_out', 'kernel / stride', 'jaxgan fwd ms',
               'PyTorch fwd ms', 'x PyTorch', 'jaxgan fwd+bwd ms', 'PyTorch fwd+bwd ms',
               'x PyTorch'], rows)
  reference = peaks(device)
  rates = interleaved_rates({key: (fn, sync if key[1] == 'jax' else torch_sync)
                             for key, (fn, _) in reference.items()}, args.steps, args.rounds,
                            warmup=3)
  print('\nEach framework on one large convolution and matrix product (GFLOP/s):')
  peak_rows = []
  for op in dict.fromkeys(key[0] for key in reference):
    j, t = (rates[op, fw] * reference[op, fw][1] / 1e9 for fw in ('jax', 'torch'))
    peak_rows.append([op, j, t, j / t])
  print_table(['operation', 'jaxgan (XLA) GFLOP/s', 'PyTorch GFLOP/s', 'x PyTorch'], peak_rows)


if __name__ == '__main__':
  main()
