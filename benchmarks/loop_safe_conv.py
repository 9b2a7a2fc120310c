"""jaxgan's stride-1 convolution (``polyphase.loop_safe_conv``) against XLA's plain op, on
XLA:CPU, side by side in one run.

Two tables:

* ``loop``: the gradient of 12 residual 3x3 convolution layers (64 channels, batch 4,
  16x16), unrolled and as one ``lax.scan``, with XLA's op and with ``loop_safe_conv``. XLA:CPU
  leaves its own op's kernel gradient in a slow layout inside the loop.
* ``steps``: whole train steps with every stride-1 convolution of jaxgan's layers (
  ``polyphase.conv_stride1``, also the phases of the sub-pixel layers) as
  ``loop_safe_conv`` (the library) or as XLA's op (before it): the DCGANs of
  ``conv_step.py`` (plain and WGAN-GP) and the SR models of ``sr_step.py`` (small ones at
  batch 16, the papers' RRDBNet unrolled and scanned at batch 1 and 32 px HR crops).

    python -m benchmarks.loop_safe_conv [--parts loop,steps] [--rounds 5] [--steps 3]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from unittest import mock

import jax
import jax.numpy as jnp
from jax import lax

from benchmarks import conv_step, sr_step
from benchmarks.timing import comma_list, interleaved_rates, print_table
from jaxgan import sharding
from jaxgan.models import polyphase

PAD = ((1, 1), (1, 1))


def xla_conv(x, kernel, padding, precision=None):
  """XLA's own stride-1 op: what ``polyphase.conv_stride1`` computed before."""
  return lax.conv_general_dilated(x, kernel, (1, 1), padding, precision=precision,
                                  dimension_numbers=polyphase.DIMENSION_NUMBERS)


def loop_rows(rounds: int, steps: int) -> list[list[object]]:
  key_x, key_k = jax.random.split(jax.random.key(0))
  x = jax.random.normal(key_x, (4, 16, 16, 64))
  kernels = 0.05 * jax.random.normal(key_k, (12, 3, 3, 64, 64))
  variants = {}
  for name, conv in (('XLA op', xla_conv), ('loop_safe_conv', polyphase.loop_safe_conv)):
    def layer(h, k, conv=conv):
      return h + 0.2 * jax.nn.leaky_relu(conv(h, k, PAD), 0.2), None

    def scanned(ks, x, layer=layer):  # bound now: jit traces at the first call
      return jnp.mean(lax.scan(layer, x, ks)[0] ** 2)

    def unrolled(ks, x, layer=layer):
      h = x
      for i in range(ks.shape[0]):
        h, _ = layer(h, ks[i])
      return jnp.mean(h ** 2)
    for form, fn in (('unrolled', unrolled), ('scan', scanned)):
      grad = jax.jit(jax.grad(fn, argnums=(0, 1)))
      variants[(name, form)] = (lambda grad=grad: grad(kernels, x), jax.block_until_ready)
  rates = interleaved_rates(variants, steps * 10, rounds)
  return [[name, form, 1e3 / rates[(name, form)],
           rates[(name, 'unrolled')] / rates[(name, form)]] for name, form in variants]


def step_variants() -> dict[str, Callable[[], tuple[Callable[[], object], int]]]:
  """name -> a function that compiles the step, with whatever ``polyphase.loop_safe_conv``
  is when called (the caller patches it), and returns (one-step closure, images per
  step)."""
  out = {}
  for case_name, case in conv_step.CASES.items():
    for variant in ('plain', 'wgan_gp'):
      out[f'{case_name} {variant}'] = (
          lambda case=case, variant=variant: (conv_step.jax_step(case, variant,
                                                                 jnp.float32)[0],
                                              case['batch']))
  for model, batch, hr, scan in (('srresnet_small', 16, None, False),
                                 ('rrdb_small', 16, None, False), ('rrdb', 1, 32, False),
                                 ('rrdb', 1, 32, True)):
    def sr(model=model, batch=batch, hr=hr, scan=scan):
      c = sr_step.config(model, 'gan', batch, hr, scan)
      return sr_step.jax_step(c, sr_step.initial_state(c))[0], c.data.batch_size
    out[f'{model}{" scanned" if scan else ""} gan b{batch}'] = sr
  return out


def main() -> None:
  sharding.run_cpu_programs_inline()  # as the launchers run jaxgan's programs
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--parts', default='loop,steps')
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--steps', type=int, default=3)
  args = parser.parse_args()
  parts = comma_list(args.parts, ('loop', 'steps'), 'parts')
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}; medians of '
        f'{args.rounds} interleaved rounds')
  if 'loop' in parts:
    print('\nGradient of 12 residual 3x3 conv layers, 64 channels, batch 4, 16x16:')
    print_table(['convolution', 'form', 'ms', 'x unrolled time'],
                loop_rows(args.rounds, args.steps))
  if 'steps' in parts:
    rows = []
    for name, make in step_variants().items():
      with mock.patch.object(polyphase, 'loop_safe_conv', xla_conv):
        before, images = make()
      after, _ = make()
      rates = interleaved_rates({'before': (before, jax.block_until_ready),
                                 'after': (after, jax.block_until_ready)},
                                args.steps, args.rounds)
      rows.append([name, images * rates['before'], images * rates['after'],
                   rates['after'] / rates['before']])
    print('\nTrain steps, images/s: conv_stride1 through XLA\'s op (before) and through '
          'loop_safe_conv (after):')
    print_table(['step', 'before', 'after', 'after / before'], rows)


if __name__ == '__main__':
  main()
