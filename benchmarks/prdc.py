"""Time of ``jaxgan.metrics.precision_recall_density_coverage`` on random features the size
of Inception's pool3 (2,048-d), for a few set sizes and block sizes; the best of a few
rounds each (the README's figure is the 10,000 x 10,000 row at the default block).

    python -m benchmarks.prdc [--sizes 2000,10000 --blocks 250,1000,4000 --rounds 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.timing import print_table
from jaxgan.metrics import prdc


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--sizes', default='2000,10000')
  parser.add_argument('--blocks', default='250,1000,4000')
  parser.add_argument('--dim', type=int, default=2048)
  parser.add_argument('--rounds', type=int, default=2)
  args = parser.parse_args()
  rng = np.random.default_rng(0)
  rows = []
  for n in (int(s) for s in args.sizes.split(',')):
    real = rng.normal(size=(n, args.dim)).astype(np.float32)
    fake = rng.normal(size=(n, args.dim)).astype(np.float32) + 0.1
    for block in (int(b) for b in args.blocks.split(',')):
      times = []
      for _ in range(args.rounds):
        t = time.perf_counter()
        prdc.precision_recall_density_coverage(real, fake, block=block)
        times.append(time.perf_counter() - t)
      # The distances held at once: about 3 float64 arrays of block x n (an estimate).
      rows.append([n, block, min(times), 3 * 8 * block * n / 2**20])
  print_table(['N = M', 'block', 'best s', 'distances, MiB (estimate)'], rows)


if __name__ == '__main__':
  main()
