"""Throughput of S seeds trained at once (``jax.vmap`` in one compiled step) versus the
same S seeds trained one after another, for the toy 2-D GAN; side by side in one run.
Two sequential baselines: K steps fused per compiled call (as ``configs/toy2d.py`` does),
and one compiled call per step (``steps_per_call=1``).

    python -m benchmarks.vmap_seeds [--seeds 8 --fuse 50 --rounds 3 --widths 128,64,32]
"""

from __future__ import annotations

import argparse
import time

import jax

from benchmarks.timing import interleaved_rates, print_table
from configs import toy2d
from jaxgan import build, seeds, sharding
from jaxgan import gan as gan_lib


def compare(width: int, seed_list: list[int], args) -> list[float]:
  """[vmapped seed-steps/s, sequential seed-steps/s, speed-up, vmapped compile s]."""
  config = toy2d.get_config()
  config.model.generator.features = (width,) * 3
  config.model.discriminator.features = (width,) * 3
  gan, pipeline = build.build(config)
  pipes = seeds.pipelines(config, seed_list)
  batches = jax.device_put(seeds.stacked_batches(pipes, 0, args.fuse))
  keys = jax.vmap(build.step_base_key)(jax.numpy.asarray(seed_list, jax.numpy.uint32))

  vmapped_fn = seeds.compile_seed_steps(gan)
  box = [seeds.init_states(gan, pipeline, seed_list)]
  t = time.perf_counter()
  jax.block_until_ready(vmapped_fn(box[0], batches, keys, {}))
  box[0] = seeds.init_states(gan, pipeline, seed_list)
  vmap_compile = time.perf_counter() - t

  def vmapped():
    box[0], m = vmapped_fn(box[0], batches, keys, {})
    return m

  # The same XLA options as the vmapped step's (jaxgan's CPU defaults; none on a GPU).
  single_fn = jax.jit(lambda s, b, k: gan_lib.train_steps(gan, s, b, k), donate_argnums=0,
                      compiler_options=sharding.default_compiler_options())
  stacked = seeds.init_states(gan, pipeline, seed_list)
  singles = [jax.tree.map(lambda x, i=i: x[i], stacked) for i in range(len(seed_list))]

  def sequential():
    out = None
    for i in range(len(seed_list)):
      singles[i], out = single_fn(singles[i], {'x': batches['x'][i]}, keys[i])
    return out

  unfused = [[{'x': batches['x'][i][j:j + 1]} for j in range(args.fuse)]
             for i in range(len(seed_list))]

  def sequential_unfused():  # one compiled call per step (steps_per_call=1)
    out = None
    for i in range(len(seed_list)):
      for b in unfused[i]:
        singles[i], out = single_fn(singles[i], b, keys[i])
    return out

  rates = interleaved_rates({'vmap': (vmapped, jax.block_until_ready),
                             'sequential': (sequential, jax.block_until_ready),
                             'unfused': (sequential_unfused, jax.block_until_ready)},
                            args.calls, args.rounds, warmup=1)
  per_call = len(seed_list) * args.fuse  # seed-steps per call
  v, s, u = (rates[k] * per_call for k in ('vmap', 'sequential', 'unfused'))
  return [v, s, v / s, u, v / u, vmap_compile]


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--seeds', type=int, default=8)
  parser.add_argument('--fuse', type=int, default=50)
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--calls', type=int, default=4)
  parser.add_argument('--widths', default='128,64,32', help='comma-separated MLP widths')
  args = parser.parse_args()
  seed_list = list(range(args.seeds))
  widths = [int(w) for w in args.widths.split(',') if w]
  rows = [[f'toy 2-D, width {w}', *compare(w, seed_list, args)] for w in widths]
  print(f'{args.seeds} seeds, {args.fuse} steps fused per call, batch 256, median of '
        f'{args.rounds} interleaved rounds')
  print_table(['model', 'vmapped seed-steps/s', 'sequential (fused) seed-steps/s',
               'speed-up', 'sequential (1 step/call) seed-steps/s', 'speed-up',
               'vmapped compile s'], rows)


if __name__ == '__main__':
  main()
