"""Flax's strided convolution layers against jaxgan's phase-decomposed ones.

For each shape (the DCGAN generators' 4x4 stride-2 transposed convolutions, the
critics' 4x4 stride-2 convolutions, digits- and CIFAR-sized, the generators' last 3x3
stride-1 convolution to the image's channels, SRResNet's last 9x9 one, small and the
paper's, and the fused layers: SNGAN's and ESRGAN's ``UpsampleConv`` against Flax's
upsampling then ``nn.Conv``, SNGAN's ``ConvAvgPool`` against ``nn.Conv`` then
``nn.avg_pool``) it times, jit-compiled:

* ``fwd``: the layer's output;
* ``grad k``: the gradient of ``L = sum(y**2) / 2`` in the parameters;
* ``grad x``: the gradient of ``L`` in the input;
* ``penalty``: the gradient in the parameters of ``sum(grad_x L ** 2)``, the double
  backprop of a gradient penalty (Gulrajani et al. 2017).

Variants are timed in interleaved rounds and each reports its median (milliseconds).

Both sides compile with XLA's own default options, or with jaxgan's CPU default
(``sharding.default_compiler_options()``, YNNPACK) with ``--jaxgan-options``.

    python -m benchmarks.conv_layers [--rounds 5 --round-seconds 0.04] [--jaxgan-options]
        [--kinds UpsampleConv,ConvAvgPool]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import interleaved_rates, print_table
from jaxgan import sharding
from jaxgan.models import layers

# (kind, batch, spatial size, input channels, output channels, kernel, stride), 'SAME'.
SHAPES = [
    ('ConvTranspose', 128, 7, 64, 32, 4, 2),
    ('ConvTranspose', 128, 14, 32, 16, 4, 2),
    ('ConvTranspose', 64, 4, 256, 128, 4, 2),
    ('ConvTranspose', 64, 8, 128, 64, 4, 2),
    ('ConvTranspose', 64, 16, 64, 32, 4, 2),
    ('Conv', 128, 28, 1, 32, 4, 2),
    ('Conv', 128, 14, 32, 64, 4, 2),
    ('Conv', 64, 32, 3, 64, 4, 2),
    ('Conv', 64, 16, 64, 128, 4, 2),
    ('Conv', 64, 8, 128, 256, 4, 2),
    ('Conv', 128, 28, 16, 1, 3, 1),
    ('Conv', 64, 32, 32, 3, 3, 1),
    ('Conv', 16, 64, 32, 3, 9, 1),
    ('Conv', 4, 96, 64, 3, 9, 1),
    ('UpsampleConv', 64, 8, 128, 128, 3, 1),   # SNGAN G, ngf 128, 8 -> 16 px
    ('UpsampleConv', 64, 16, 64, 64, 3, 1),    # SNGAN G, ngf 64, 16 -> 32 px
    ('UpsampleConv', 4, 64, 64, 64, 3, 1),     # ESRGAN's conv_up_1 (paper, 128 px crops)
    ('ConvAvgPool', 64, 32, 64, 64, 3, 1),     # SNGAN D, ndf 64, 32 -> 16 px
    ('ConvAvgPool', 64, 16, 128, 128, 3, 1),   # SNGAN D, ndf 128, 16 -> 8 px
]
TASKS = ['fwd', 'grad k', 'grad x', 'penalty']


class _FlaxUpsampleConv(nn.Conv):
  """Flax's unfused layers for ``layers.UpsampleConv``: nearest 2x upsampling, ``nn.Conv``."""

  def __call__(self, inputs):
    return super().__call__(layers.upsample_nearest(inputs))


class _FlaxConvAvgPool(nn.Conv):
  """Flax's unfused layers for ``layers.ConvAvgPool``: ``nn.Conv``, 2x2 average pooling."""

  def __call__(self, inputs):
    return nn.avg_pool(super().__call__(inputs), (2, 2), (2, 2))


FLAX = {'UpsampleConv': _FlaxUpsampleConv, 'ConvAvgPool': _FlaxConvAvgPool}


def task_fns(layer: nn.Module, params, x, options: dict | None = None
             ) -> dict[str, Callable[[], jax.Array]]:
  """Jit-compiled closures, one per task, over fixed ``params`` and ``x``."""

  def loss(p, x):
    y = layer.apply(p, x)
    return 0.5 * jnp.sum(y * y)

  def penalty(p, x):
    g = jax.grad(loss, argnums=1)(p, x)
    return jnp.sum(g * g)

  jit = functools.partial(jax.jit, compiler_options=options)
  fns = {'fwd': jit(layer.apply), 'grad k': jit(jax.grad(loss)),
         'grad x': jit(jax.grad(loss, argnums=1)), 'penalty': jit(jax.grad(penalty))}
  return {name: (lambda f=f: f(params, x)) for name, f in fns.items()}


def max_relative_error(a, b) -> float:
  diffs = jax.tree.leaves(jax.tree.map(lambda u, v: float(jnp.max(jnp.abs(u - v))
                                                          / (jnp.max(jnp.abs(v)) + 1e-30)),
                                       a, b))
  return max(diffs)


def bench_shape(kind: str, batch: int, size: int, c_in: int, c_out: int, kernel: int,
                stride: int, rounds: int, round_seconds: float,
                options: dict | None = None) -> tuple[list[object], float]:
  """One table row: per task, Flax ms, jaxgan ms, speed-up; and the worst relative error."""
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.uniform(-1, 1, (batch, size, size, c_in)), jnp.float32)
  args = dict(kernel_size=(kernel, kernel), strides=(stride, stride), padding='SAME')
  flax_layer = FLAX.get(kind, getattr(nn, kind, None))(c_out, **args)
  ours = getattr(layers, kind)(c_out, **args)
  params = flax_layer.init(jax.random.key(0), x)
  fns = {'flax': task_fns(flax_layer, params, x, options),
         'jaxgan': task_fns(ours, params, x, options)}
  row: list[object] = []
  error = 0.0
  for task in TASKS:
    want = jax.block_until_ready(fns['flax'][task]())
    error = max(error, max_relative_error(jax.block_until_ready(fns['jaxgan'][task]()), want))
    steps = {}
    for name in fns:  # calls per round: about round_seconds each
      start = time.perf_counter()
      jax.block_until_ready(fns[name][task]())
      steps[name] = int(np.clip(round_seconds / (time.perf_counter() - start), 1, 20))
    rates = interleaved_rates({name: (fns[name][task], jax.block_until_ready) for name in fns},
                              steps, rounds=rounds, warmup=1)
    row += [1e3 / rates['flax'], 1e3 / rates['jaxgan'], rates['jaxgan'] / rates['flax']]
  return row, error


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--round-seconds', type=float, default=0.04)
  parser.add_argument('--jaxgan-options', action='store_true',
                      help="compile with jaxgan's CPU default options (YNNPACK)")
  parser.add_argument('--kinds', default='',
                      help='comma-separated layer kinds to time (default: all)')
  args = parser.parse_args()
  kinds = set(args.kinds.split(',')) if args.kinds else None
  options = sharding.default_compiler_options() if args.jaxgan_options else None
  print(f'jax {jax.__version__}, {jax.devices()[0].platform}, SAME padding, times in ms '
        f'(median of {args.rounds} interleaved rounds); x = Flax / jaxgan; compiler options '
        f'{options or "XLA default"}.\n')
  header = ['layer', 'input -> C_out', 'kernel / stride']
  for task in TASKS:
    header += [f'{task} Flax', f'{task} jaxgan', 'x']
  rows = []
  worst = 0.0
  for kind, batch, size, c_in, c_out, kernel, stride in SHAPES:
    if kinds and kind not in kinds:
      continue
    row, error = bench_shape(kind, batch, size, c_in, c_out, kernel, stride, args.rounds,
                             args.round_seconds, options)
    worst = max(worst, error)
    rows.append([kind, f'[{batch},{size},{size},{c_in}] -> {c_out}', f'{kernel} / {stride}']
                + row)
  print_table(header, rows)
  print(f'\nlargest relative difference jaxgan vs Flax over all outputs: {worst:.2g}')


if __name__ == '__main__':
  main()
