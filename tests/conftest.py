"""Test-session settings: XLA:CPU compiles the tests' programs for compile speed, not run
speed: without LLVM's backend optimizations (``--xla_backend_optimization_level=0``) and,
on the jaxlib measured (0.10), with XLA's older fusion emitters
(``--xla_cpu_use_fusion_emitters=false``).

Nearly every test runs its programs once or for a few steps, so compiling dominates (half
of the suite's time at O0 alone). On 2 Intel cores the suite took 990-1090 s with XLA's
defaults and 710-860 s at O0; on 2 AMD EPYC cores (AVX2) 996 s at O0 and 702 s with both
options (a 2-step cGAN run's compile 12.5 s -> 7 s). The few tests that train for hundreds
of steps run slower. XLA's own graph optimizations (fusion, layout, the YNNPACK library
calls) still run; only the generated loops differ, and results differ from a default build
by float32 rounding, within every tolerance here. Benchmarks and the launchers keep XLA's
defaults. Set ``JAXGAN_TEST_XLA_OPT=default`` to test with them (or pass your own
``XLA_FLAGS``: an option it sets is left as it is).

The emitter option is only added for jaxlib 0.10.x: XLA aborts on an option it does not
know, and a later jaxlib may drop it.
"""

import importlib.metadata
import os

_OPT = os.environ.get('JAXGAN_TEST_XLA_OPT', 'o0')
if _OPT not in ('o0', 'default'):
  raise ValueError(f"JAXGAN_TEST_XLA_OPT must be 'o0' (the default) or 'default'; got {_OPT!r}.")


def _test_xla_options() -> list[str]:
  """The XLA_FLAGS options for a test session (see the module docstring)."""
  options = ['--xla_backend_optimization_level=0']
  if importlib.metadata.version('jaxlib').startswith('0.10.'):
    options.append('--xla_cpu_use_fusion_emitters=false')
  return options


if _OPT == 'o0':
  # Before jax is imported (a test module's import); inherited by launcher subprocesses.
  flags = os.environ.get('XLA_FLAGS', '')
  for option in _test_xla_options():
    if option.split('=')[0] not in flags:
      flags = f'{flags} {option}'.strip()
  os.environ['XLA_FLAGS'] = flags
