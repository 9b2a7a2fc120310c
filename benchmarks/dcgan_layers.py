"""The DCGAN train steps' convolutions one by one: jaxgan against PyTorch eager, one run.

For each convolution of the two DCGANs of ``benchmarks/conv_step.py`` (the generator's
4x4 stride-2 transposed convolutions and last 3x3 one, the critic's 4x4 stride-2 ones),
at the shape the train step runs it, it times (milliseconds):

* ``fwd``: the layer's output;
* ``fwd+bwd``: ``L = sum(y**2) / 2`` and its gradient in the layer's parameters and, for
  every layer but the critic's first (whose input is an image), in its input, as the
  train step needs them.

jaxgan's layers are ``jaxgan.models.layers`` (``impl='auto'``), each task one compiled
program with jaxgan's CPU options, run as the train step runs them (on the calling
thread, glibc keeping freed memory: ``jaxgan.sharding``); PyTorch's are
``nn.ConvTranspose2d(4, 2, 1)`` and ``nn.Conv2d``.

It also times, in both frameworks, 3x3 convolutions (``conv_step``'s reference ``[64, 32,
32, 128] -> 128``, and the papers' RRDBNet's widest dense-block convolution as jaxgan and
as ESRGAN compute the block) and a matrix product (``[16384, 1024] @ [1024, 128]``): each
framework's peak on this machine. When every layer runs near its framework's peak, a
convolutional step's ratio to PyTorch follows the peaks' ratio.

    python -m benchmarks.dcgan_layers [--rounds 5]   # needs .[bench] (PyTorch)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.conv_step import CASES
from benchmarks.timing import interleaved_rates, print_table, rounds_args, torch_device
from jaxgan import sharding
from jaxgan.models import layers
from jaxgan.models.dcgan import _start_size, generator_channels


def layer_shapes(case: dict) -> list[tuple]:
  """``(kind, batch, size, C_in, C_out, kernel, stride, input gradient)`` of each
  convolution of ``jaxgan.models.dcgan`` with ``case``'s sizes (generator, then critic)."""
  size, _ = _start_size(case['image_size'])
  b, width, shapes = case['batch'], case['width'], []
  ch, outs = generator_channels(case['image_size'], width)
  for out in outs:
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


# 3x3 stride-1 'SAME' convolutions (batch, size, C_in, C_out) timed for each framework's
# peak: conv_step's reference, and the papers' RRDBNet's dense-block convolutions (4 x 128 px
# crops): the widest as jaxgan computes the block (x's 64 channels to the 4 * 32 + 64
# pre-activation channels of the later convolutions, ``sr.ResidualDenseBlock``) and the
# widest as ESRGAN's code computes it (the 64 + 3 * 32 concatenated channels to 32).
PEAK_CONVS = [(64, 32, 128, 128), (4, 128, 64, 192), (4, 128, 160, 32)]


def _f32(*arrays) -> list[jax.Array]:
  return [jnp.asarray(a, jnp.float32) for a in arrays]


def peaks(device: str) -> dict:
  """(name, framework) -> (closure, FLOPs) of the reference convolutions and matrix
  product."""
  import torch
  rng = np.random.default_rng(0)
  jit = functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME',
                                                   dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
  out = {}
  for b, size, c_in, c_out in PEAK_CONVS:
    x, k = rng.normal(size=(b, size, size, c_in)), rng.normal(size=(3, 3, c_in, c_out))
    tx = torch.tensor(x.transpose(0, 3, 1, 2), dtype=torch.float32, device=device)
    tk = torch.tensor(k.transpose(3, 2, 0, 1), dtype=torch.float32, device=device)

    def torch_conv(tx=tx, tk=tk):
      with torch.no_grad():
        return torch.nn.functional.conv2d(tx, tk, padding=1)
    name = f'3x3 conv [{b},{size},{size},{c_in}] -> {c_out}'
    flops = 2 * b * size**2 * c_in * c_out * 9
    out[name, 'jax'] = functools.partial(jit(conv), *_f32(x, k)), flops
    out[name, 'torch'] = torch_conv, flops
  a, m = rng.normal(size=(16384, 1024)), rng.normal(size=(1024, 128))
  ta, tm = (torch.tensor(v, dtype=torch.float32, device=device) for v in (a, m))
  name, flops = 'matmul [16384,1024] @ [1024,128]', 2 * 16384 * 1024 * 128
  out[name, 'jax'] = functools.partial(jit(jnp.matmul), *_f32(a, m)), flops
  out[name, 'torch'] = (lambda: ta @ tm), flops
  return out


def main() -> None:
  # As the launchers and the train step run jaxgan's programs (the step applies the second).
  sharding.run_cpu_programs_inline()
  sharding.retain_host_memory()
  args = rounds_args(__doc__)
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
  print('\nEach framework on large convolutions and a matrix product (GFLOP/s):')
  peak_rows = []
  for op in dict.fromkeys(key[0] for key in reference):
    j, t = (rates[op, fw] * reference[op, fw][1] / 1e9 for fw in ('jax', 'torch'))
    peak_rows.append([op, j, t, j / t])
  print_table(['operation', 'jaxgan (XLA) GFLOP/s', 'PyTorch GFLOP/s', 'x PyTorch'], peak_rows)


if __name__ == '__main__':
  main()
