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

Compiled programs are also kept for the session in JAX's persistent compilation cache (a
temporary folder shared by the xdist workers and the launcher subprocesses, removed at the
end; its key covers the program, the XLA options and the jaxlib): many tests compile the
same small train step, and a launcher subprocess the step its parent test compiled. On 2
AMD EPYC cores the suite took 1049 s without it and 911 s with it. A cached program is the
one XLA compiled for that key, so no test checks anything else; set
``JAX_COMPILATION_CACHE_DIR`` yourself to use (and keep) your own folder.

Every temporary file of a session (the tests' ``tempfile.mkdtemp`` and absl's
``create_tempdir``, in the xdist workers and, through ``TMPDIR``, the launcher
subprocesses) lands in one ``jaxgan-tests-*`` folder, removed at the end: the tests had
left theirs in the system's temporary folder (5,255 folders, 5.5 GB, had piled up on one
machine). Set ``JAXGAN_TEST_TMPDIR`` to a folder of your own to keep them there (e.g. a
failed test's workdir).
"""

import atexit
import importlib.metadata
import os
import shutil
import tempfile

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


# Set by the first process that loads this file (pytest, or xdist's controller) before any
# worker or subprocess starts, so they all inherit it.
if os.environ.get('JAXGAN_TEST_TMPDIR'):  # the user's folder (kept), or the session's
  _tmp = os.path.abspath(os.environ['JAXGAN_TEST_TMPDIR'])
  os.makedirs(_tmp, exist_ok=True)
else:
  _tmp = tempfile.mkdtemp(prefix='jaxgan-tests-')
  atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
os.environ['JAXGAN_TEST_TMPDIR'] = os.environ['TMPDIR'] = tempfile.tempdir = _tmp
if 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
  _cache = tempfile.mkdtemp(prefix='jaxgan-test-compilation-cache-')
  os.environ['JAX_COMPILATION_CACHE_DIR'] = _cache
  os.environ.setdefault('JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS', '0.1')
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
