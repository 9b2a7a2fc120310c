"""Test-session settings: XLA:CPU compiles the tests' programs without LLVM's backend
optimizations (``--xla_backend_optimization_level=0``).

Nearly every test runs its programs once or for a few steps, so compiling dominates: O0 cut
the suite from 990-1090 s to 710-860 s on 2 cores (``tests/test_sr_training.py`` 171 s -> 89 s);
the few tests that train for hundreds of steps run slower. XLA's own graph
optimizations (fusion, layout, the YNNPACK library calls) still run; only the generated
loops are less optimized, and results differ from an O2 build by float32 rounding, within
every tolerance here. Benchmarks and the launchers keep XLA's defaults. Set
``JAXGAN_TEST_XLA_OPT=default`` to test with them (or pass your own ``XLA_FLAGS``).
"""

import os

_OPT = os.environ.get('JAXGAN_TEST_XLA_OPT', 'o0')
if _OPT not in ('o0', 'default'):
  raise ValueError(f"JAXGAN_TEST_XLA_OPT must be 'o0' (the default) or 'default'; got {_OPT!r}.")
if (_OPT == 'o0'
    and 'xla_backend_optimization_level' not in os.environ.get('XLA_FLAGS', '')):
  # Before jax is imported (a test module's import); inherited by launcher subprocesses.
  os.environ['XLA_FLAGS'] = (os.environ.get('XLA_FLAGS', '') +
                             ' --xla_backend_optimization_level=0').strip()
