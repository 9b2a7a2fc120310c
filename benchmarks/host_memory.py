"""glibc malloc with and without ``sharding.retain_host_memory``: page faults and speed.

XLA:CPU allocates a program's buffers at every call; glibc maps each large block afresh
and unmaps it when freed, so every call page-faults its intermediates in again.
``jaxgan.sharding.retain_host_memory`` (applied by the compiled train steps) keeps freed
memory in the process instead. The setting is process-wide and the heap it keeps would
serve the other variant too, so each variant runs in processes of its own, alternating
(``--rounds`` processes per variant, medians reported). Measured in each process, on the
DCGANs of ``benchmarks/conv_step.py``: the generator's forward and parameter gradient
(ms and minor page faults per call), jaxgan's plain train step, PyTorch eager's same step
when PyTorch is installed (it runs in the same process, with the same malloc), and the
process's peak resident memory. The retain_host_memory processes also run programs on the
calling thread (``sharding.run_cpu_programs_inline``), as the launchers do; the glibc
default ones (``JAXGAN_RETAIN_HOST_MEMORY=0``) do not.

    python -m benchmarks.host_memory [--rounds 2] [--calls 10]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

VARIANTS = {'glibc default': '0', 'retain_host_memory': '1'}


def _per_call(fn, calls: int) -> tuple[float, float]:
  """(median ms, minor page faults) per call of ``fn`` over 3 timed groups."""
  import jax
  for _ in range(3):
    jax.block_until_ready(fn())
  faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
  times = []
  for _ in range(3):
    start = time.perf_counter()
    for _ in range(calls):
      jax.block_until_ready(fn())
    times.append((time.perf_counter() - start) / calls * 1e3)
  faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults) / (3 * calls)
  return statistics.median(times), faults


def child(calls: int) -> dict:
  """Measurements of this process (the variant is chosen by the environment)."""
  import jax
  import numpy as np

  from benchmarks import conv_step, timing
  from jaxgan import sharding
  sharding.run_cpu_programs_inline()  # as the launchers run (not with the default's =0)
  out = {'applied': sharding.retain_host_memory()}
  device, sync = timing.torch_device()
  for name, case in conv_step.CASES.items():
    fwd, grad, *_ = conv_step.jax_generator_parts(case, np.float32)
    out[f'{name}|G forward ms'], out[f'{name}|G forward faults'] = _per_call(fwd, calls)
    out[f'{name}|G gradient ms'], out[f'{name}|G gradient faults'] = _per_call(grad, calls)
    step, _ = conv_step.jax_step(case, 'plain', np.float32)
    variants = {'jaxgan': (step, jax.block_until_ready)}
    parts = conv_step.torch_parts(case, 'plain', device) if sync else None
    if parts:
      variants['PyTorch'] = (parts[0], sync)
    for who, rate in timing.interleaved_rates(variants, calls, rounds=3).items():
      out[f'{name}|{who} steps/s'] = rate
  out['peak RSS MiB'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
  return out


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=2)
  parser.add_argument('--calls', type=int, default=10)
  parser.add_argument('--child', action='store_true', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.child:
    print(json.dumps(child(args.calls)))
    return
  results = {v: [] for v in VARIANTS}
  for _ in range(args.rounds):
    for variant, flag in VARIANTS.items():
      env = {**os.environ, 'JAXGAN_RETAIN_HOST_MEMORY': flag}
      proc = subprocess.run([sys.executable, '-m', 'benchmarks.host_memory', '--child',
                             f'--calls={args.calls}'], env=env, capture_output=True,
                            text=True, check=True)
      results[variant].append(json.loads(proc.stdout.strip().splitlines()[-1]))
  first = results['retain_host_memory'][0]
  print(f'{args.rounds} processes per variant, medians; retain_host_memory applied: '
        f'{[r["applied"] for r in results["retain_host_memory"]]}')
  rows = []
  for key in first:
    if key == 'applied':
      continue
    a, b = (statistics.median(r[key] for r in results[v]) for v in VARIANTS)
    model, _, what = key.rpartition('|')
    faster = ('' if 'faults' in what or 'RSS' in what
              else f'{a / b:.2f}x' if 'ms' in what else f'{b / a:.2f}x')
    rows.append([model or '-', what, round(a, 3 if a < 10 else 1), round(b, 3 if b < 10 else 1),
                 faster])
  from benchmarks.timing import print_table
  print_table(['model', 'figure', 'glibc default', 'retain_host_memory', 'speed-up'], rows)


if __name__ == '__main__':
  main()
