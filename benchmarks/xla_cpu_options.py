"""XLA:CPU's library options, side by side in one run: which convolutions they speed up.

XLA:CPU runs convolutions with Eigen by default; ``jax.jit(..., compiler_options=...)``
can route them elsewhere for one program. Options compared (XLA's own names):

* ``default``: no option (XLA's own defaults);
* ``onednn``: ``xla_cpu_use_onednn`` (oneDNN thunks for matmul and convolution fusions);
* ``ynn``: ``xla_cpu_experimental_ynn_fusion_type = dot`` (YNNPACK for dot fusions,
  which takes the convolutions too). The same as
  ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=dot`` for a whole process;
* ``ynn+reduce``, ``ynn+reduce+eltwise``: YNNPACK for reductions (and elementwise
  fusions) too: with ``dot`` alone, reductions (BatchNorm's statistics, loss means) run
  10-30x slower than XLA's own. ``ynn+reduce`` is jaxgan's default on CPU
  (``sharding.default_compiler_options``);
* ``ynn+reduce+conv``: and YNNPACK's own convolution kernels
  (``LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION``) for each convolution.

Printed (medians of interleaved rounds, so drift hits every option alike):

1. single 3x3 stride-1 convolutions (the SR and ResNet models' layer): forward, kernel
   gradient, input gradient in ms, and each option's largest relative difference from
   a float64 NumPy kernel gradient;
2. full train steps (one D + one G update, Adam): DCGAN (digits, CIFAR size), SNGAN and
   SAGAN (32 px, ngf 64, n_critic 1), SRResNet and RRDBNet (small, both stages), in steps/s.

    python -m benchmarks.xla_cpu_options [--rounds 3] [--skip-steps]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import conv_step, resnet_step, sr_step
from benchmarks.timing import interleaved_rates, print_table
from jaxgan import sharding

OPTIONS: dict[str, dict] = {
    'default': {},
    'onednn': {'xla_cpu_use_onednn': True},
    'ynn': {'xla_cpu_experimental_ynn_fusion_type': 'LIBRARY_FUSION_TYPE_DOT'},
    'ynn+reduce': sharding.CPU_COMPILER_OPTIONS,  # jaxgan's CPU default
    'ynn+reduce+eltwise': {'xla_cpu_experimental_ynn_fusion_type':
                           'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE,'
                           'LIBRARY_FUSION_TYPE_ELTWISE'},
    'ynn+reduce+conv': {'xla_cpu_experimental_ynn_fusion_type':
                        'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE,'
                        'LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION'},
}
# (batch, size, channels in, channels out): 3x3 stride-1 'SAME'.
CONVS = [(64, 32, 64, 64), (16, 64, 32, 32), (16, 16, 32, 32), (4, 96, 64, 64)]


def _conv(x: jax.Array, k: jax.Array) -> jax.Array:
  return jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME',
                                      dimension_numbers=('NHWC', 'HWIO', 'NHWC'))


def numpy_kernel_gradient(x: np.ndarray, dy: np.ndarray) -> np.ndarray:
  """dL/dk of a 3x3 'SAME' conv for the output cotangent ``dy``, in float64, by hand:
  ``dk[i, j] = sum_{n,h,w} x_pad[n, h+i, w+j, :]^T dy[n, h, w, :]``."""
  n, h, w, _ = x.shape
  xp = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
  return np.stack([[np.einsum('nhwc,nhwo->co', xp[:, i:i + h, j:j + w], dy.astype(np.float64))
                    for j in range(3)] for i in range(3)])


def conv_rows(rounds: int) -> list[list[object]]:
  rows = []
  for batch, size, c_in, c_out in CONVS:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, c_in)).astype(np.float32)
    k = (rng.normal(size=(3, 3, c_in, c_out)) / np.sqrt(9 * c_in)).astype(np.float32)
    dy = rng.normal(size=(batch, size, size, c_out)).astype(np.float32)
    reference = numpy_kernel_gradient(x, dy)
    kernel_grad = lambda x, k, dy: jax.vjp(lambda k: _conv(x, k), k)[1](dy)[0]
    input_grad = lambda x, k, dy: jax.vjp(lambda x: _conv(x, k), x)[1](dy)[0]
    variants: dict[str, tuple[Callable[[], object], Callable[[object], None]]] = {}
    errors = {}
    for name, options in OPTIONS.items():
      fns = {'fwd': jax.jit(lambda x, k, dy: _conv(x, k), compiler_options=options),
             'grad k': jax.jit(kernel_grad, compiler_options=options),
             'grad x': jax.jit(input_grad, compiler_options=options)}
      for task, fn in fns.items():
        variants[f'{name} {task}'] = (lambda fn=fn, a=(x, k, dy): fn(*a), jax.block_until_ready)
      got = np.asarray(fns['grad k'](x, k, dy), np.float64)
      errors[name] = np.abs(got - reference).max() / np.abs(reference).max()
    rates = interleaved_rates(variants, 3, rounds, warmup=1)
    for name in OPTIONS:
      rows.append([f'[{batch}, {size}, {size}, {c_in}] -> {c_out}', name,
                   *(1e3 / rates[f'{name} {t}'] for t in ('fwd', 'grad k', 'grad x')),
                   f'{errors[name]:.1e}'])
  return rows


def step_builders() -> dict[str, Callable[[dict | None], Callable[[], object]]]:
  """Model name -> (compiler options -> a compiled one-step closure with its own state)."""
  builders = {}
  for case_name, case in conv_step.CASES.items():
    builders[case_name.split(' ')[0] + ' DCGAN, plain'] = (
        lambda o, case=case: conv_step.jax_step(case, 'plain', jnp.float32, o)[0])
  for model in ('sngan', 'sagan'):
    builders[f'{model.upper()} ngf 64'] = (
        lambda o, model=model: resnet_step.jax_step(resnet_step.config(model, 64, 64), o)[0])
  for model in ('srresnet_small', 'rrdb_small'):
    for kind in sr_step.KINDS:
      c = sr_step.config(model, kind, None, None)
      builders[f'{sr_step.MODELS[model][2]}, {kind}'] = (
          lambda o, c=c: sr_step.jax_step(c, sr_step.initial_state(c), o)[0])
  return builders


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rounds', type=int, default=3)
  parser.add_argument('--skip-steps', action='store_true', help='only the single convolutions')
  args = parser.parse_args()
  print(f'jax {jax.__version__} on {jax.devices()[0].device_kind}')
  print('\n3x3 stride-1 convolution, ms (grad k error: against float64 NumPy):')
  print_table(['input -> channels', 'option', 'fwd ms', 'grad k ms', 'grad x ms',
               'grad k rel. error'], conv_rows(args.rounds))
  if args.skip_steps:
    return
  rows = []
  for name, build in step_builders().items():
    variants = {o: (build(options), jax.block_until_ready) for o, options in OPTIONS.items()}
    rates = interleaved_rates(variants, 2, args.rounds, warmup=2)
    rows.append([name, *(rates[o] for o in OPTIONS),
                 *(f'{rates[o] / rates["default"]:.2f}x' for o in OPTIONS if o != 'default')])
  print('\nTrain steps/s (one D + one G update):')
  print_table(['model', *OPTIONS, *(f'{o} / default' for o in OPTIONS if o != 'default')],
              rows)


if __name__ == '__main__':
  main()
