"""Side-by-side timing helpers shared by the benchmark scripts.

Variants are timed in interleaved rounds (A, B, C, A, B, C, ...) and each reports its
median, so that the machine's drift hits all of them alike and ratios are fair.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

Step = Callable[[], object]


def comma_list(text: str, valid: Any, what: str) -> list[str]:
  """The items of a comma-separated ``--what`` flag, each one of ``valid``; exits with a
  message naming the valid ones otherwise (or when there are none)."""
  items = [t for t in text.split(',') if t]
  bad = [t for t in items if t not in valid]
  if bad or not items:
    raise SystemExit(f'--{what}: comma-separated, of {", ".join(valid)}; got {text!r}')
  return items


def compiled_flops(compiled: Any) -> float:
  """FLOPs of one call of a compiled JAX program by XLA's cost analysis (NaN where the
  backend gives none)."""
  cost = compiled.cost_analysis()
  return (cost[0] if isinstance(cost, list) else cost).get('flops', float('nan'))


def compiled_train_step(gan: Any, state: Any, batches: dict, mesh: Any,
                        compiler_options: dict | None = None) -> tuple[Step, float, float]:
  """jaxgan's compiled train step (``sharding.compile_train_steps``, with XLA's
  ``compiler_options`` when given) on fixed batches.

  Returns ``(step, flops, compile_seconds)``: ``step()`` runs one call from the state
  the previous call left (the state is donated) and returns its metrics; ``flops`` is
  XLA's cost analysis of one call.
  """
  import jax

  from jaxgan import sharding
  start = time.perf_counter()
  compiled = sharding.compile_train_steps(gan, mesh, compiler_options).lower(
      state, batches, jax.random.key(1), {}).compile()
  seconds = time.perf_counter() - start
  flops = compiled_flops(compiled)
  box = [state]

  def step():
    box[0], metrics = compiled(box[0], batches, jax.random.key(1), {})
    return metrics
  return step, flops, seconds


def torch_device(cudnn_benchmark: bool = False) -> tuple[str, Callable[[object], None] | None]:
  """(PyTorch's device, a sync function for ``interleaved_rates``): ``'cuda'`` when a GPU
  is available (turning ``torch.backends.cudnn.benchmark`` on if ``cudnn_benchmark``),
  else ``'cpu'``; ``('', None)`` when PyTorch is not installed."""
  try:
    import torch
  except ImportError:
    return '', None
  if torch.cuda.is_available():
    if cudnn_benchmark:
      torch.backends.cudnn.benchmark = True
    return 'cuda', lambda _: torch.cuda.synchronize()
  return 'cpu', lambda _: None


def torch_with_threads(threads: int = 0) -> tuple[str, Callable[[object], None] | None, str]:
  """:func:`torch_device` with PyTorch's intra-op threads set (``threads`` > 0; 0 keeps
  PyTorch's default), and a one-line note of the version, device and threads (or that
  PyTorch is not installed)."""
  device, sync = torch_device()
  if not device:
    return device, sync, 'PyTorch not installed (pip install -e ".[bench]")'
  import torch
  if threads:
    torch.set_num_threads(threads)
  return device, sync, (f'PyTorch {torch.__version__} eager on {device}, '
                        f'{torch.get_num_threads()} threads')


def interleaved_rates(variants: dict[str, tuple[Step, Callable[[object], None]]],
                      steps: int | dict[str, int], rounds: int = 5,
                      warmup: int = 3) -> dict[str, float]:
  """Median calls/second of each variant.

  Args:
    variants: name -> (step, sync): ``step()`` runs one call and returns something that
      ``sync`` waits on (``jax.block_until_ready`` for JAX, a no-op for PyTorch).
    steps: calls per timed round (one count for all, or one per variant).
    rounds: interleaved rounds; the median is reported.
    warmup: untimed calls first (compilation, allocator warm-up).
  """
  for step, sync in variants.values():
    for _ in range(warmup):
      sync(step())
  calls = steps if isinstance(steps, dict) else {name: steps for name in variants}
  samples: dict[str, list[float]] = {name: [] for name in variants}
  for _ in range(rounds):
    for name, (step, sync) in variants.items():
      start = time.perf_counter()
      out = None
      for _ in range(calls[name]):
        out = step()
      sync(out)
      samples[name].append(calls[name] / (time.perf_counter() - start))
  return {name: statistics.median(v) for name, v in samples.items()}


def rounds_args(doc: str, rounds: int = 5, steps: int = 10) -> argparse.Namespace:
  """Parses ``--rounds`` (interleaved rounds) and ``--steps`` (calls per round), the flags
  of the per-layer scripts, with ``doc``'s first line as the description."""
  parser = argparse.ArgumentParser(description=doc.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=rounds)
  parser.add_argument('--steps', type=int, default=steps)
  return parser.parse_args()


def print_table(header: list[str], rows: list[list[object]]) -> None:
  """Prints a Markdown table."""
  print('| ' + ' | '.join(header) + ' |')
  print('|' + '---|' * len(header))
  for row in rows:
    print('| ' + ' | '.join(f'{c:.3g}' if isinstance(c, float) else str(c) for c in row) + ' |')
