"""Does bfloat16 pay on this CPU? XLA's and PyTorch's bf16 against their float32, one run.

The DCGAN steps in bf16 (``conv_step --dtype bfloat16``) run slower than in float32 with
jaxgan. This script shows where that comes from, operation by operation: a 3x3 stride-1
convolution and a matrix product (the two kinds of work in the models), each in float32
and bfloat16, under XLA's default, oneDNN and YNNPACK (``ynn+reduce``, jaxgan's CPU
default; see ``benchmarks/xla_cpu_options.py``), and in PyTorch eager (oneDNN; bf16 is
native on CPUs with ``avx512_bf16`` or AMX). Forward only, no gradients: the question is
only whether the library has bf16 kernels faster than its float32 ones.

Printed: GFLOP/s (medians of interleaved rounds) and bf16 / float32 per library, and
whether the CPU reports ``avx512_bf16`` / ``amx_bf16``.

    python -m benchmarks.cpu_bf16 [--rounds 5]   # PyTorch rows when torch is installed
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import interleaved_rates, print_table
from benchmarks.xla_cpu_options import OPTIONS, _conv

# name -> (input shape, weight shape, FLOPs); convolutions are NHWC / HWIO, 'SAME'.
OPS = {
    'conv 3x3 [64,32,32,128] -> 128': ((64, 32, 32, 128), (3, 3, 128, 128),
                                       2 * 64 * 32 * 32 * 128 * 128 * 9),
    'matmul [16384,1024] @ [1024,128]': ((16384, 1024), (1024, 128), 2 * 16384 * 1024 * 128),
}
XLA_OPTIONS = ('default', 'onednn', 'ynn+reduce')


def _xla_op(name: str):
  return _conv if name.startswith('conv') else (lambda a, b: a @ b)


def _torch_op(torch, name: str, a: np.ndarray, b: np.ndarray, dtype):
  if name.startswith('conv'):
    x = torch.from_numpy(a).permute(0, 3, 1, 2).contiguous().to(dtype)
    w = torch.from_numpy(b).permute(3, 2, 0, 1).contiguous().to(dtype)
    return lambda: torch.nn.functional.conv2d(x, w, padding=1)
  x, w = torch.from_numpy(a).to(dtype), torch.from_numpy(b).to(dtype)
  return lambda: x @ w


def cpu_bf16_flags() -> str:
  try:
    flags = open('/proc/cpuinfo').read().split()
  except OSError:
    return 'unknown'
  found = sorted({f for f in flags if f in ('avx512_bf16', 'amx_bf16', 'avx512f')})
  return ', '.join(found) or 'none of avx512f, avx512_bf16, amx_bf16'


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=3)
  args = parser.parse_args()
  try:
    import torch
    torch_info = f'PyTorch {torch.__version__} eager on cpu, {torch.get_num_threads()} threads'
  except ImportError:
    torch, torch_info = None, 'PyTorch not installed (pip install -e ".[bench]")'
  print(f'jax {jax.__version__} on {jax.devices()[0].platform}; {torch_info}; '
        f'CPU flags: {cpu_bf16_flags()}\n')
  rng = np.random.default_rng(0)
  rows = []
  for name, (shape_a, shape_b, flops) in OPS.items():
    a, b = rng.standard_normal(shape_a, np.float32), rng.standard_normal(shape_b, np.float32)
    variants = {}
    for opt in XLA_OPTIONS:
      fn = jax.jit(_xla_op(name), compiler_options=OPTIONS[opt])
      for dt in ('float32', 'bfloat16'):
        x, k = jnp.asarray(a, dt), jnp.asarray(b, dt)
        variants[f'XLA {opt}|{dt}'] = ((lambda fn=fn, x=x, k=k: fn(x, k)),
                                       jax.block_until_ready)
    if torch is not None:
      for dt in ('float32', 'bfloat16'):
        step = torch.no_grad()(_torch_op(torch, name, a, b, getattr(torch, dt)))
        variants[f'PyTorch {torch.__version__}|{dt}'] = (step, lambda _: None)
    rates = interleaved_rates(variants, args.steps, rounds=args.rounds)
    for lib in dict.fromkeys(v.split('|')[0] for v in variants):
      f32, bf16 = rates[f'{lib}|float32'] * flops / 1e9, rates[f'{lib}|bfloat16'] * flops / 1e9
      rows.append([name, lib, f'{f32:.0f}', f'{bf16:.0f}', f'{bf16 / f32:.2f}'])
  print_table(['operation', 'library', 'float32 GFLOP/s', 'bfloat16 GFLOP/s',
               'bf16 / f32'], rows)


if __name__ == '__main__':
  main()
