"""Device mesh and shardings, built in one place: the batch is split over a 1-D
``('data',)`` mesh of every device of every host, the train state is replicated.

The train step's batches are ``[K steps, n_critic, batch, ...]``: their third axis is the
one split over the mesh. On the CPU backend the compiled programs also get jaxgan's XLA
options (:func:`default_compiler_options`) and glibc keeps freed memory
(:func:`retain_host_memory`).
"""

from __future__ import annotations

import ctypes
import functools
import os
from typing import Any

import jax
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxgan import gan as gan_lib
from jaxgan.validation import ConfigError

# XLA:CPU's YNNPACK for dot fusions (convolutions included) and reductions: stride-1 conv
# kernel gradients ~3x faster, train steps 1.05-1.8x (benchmarks/xla_cpu_options.py). With
# ``dot`` alone reductions (BatchNorm statistics, loss means) run 10-30x slower: both or none.
# Its dot fusion turns a NaN input of relu(x @ w) into 0 (64x100 @ 100x128 and up; XLA's
# defaults keep the NaN): losses can stay finite over a NaN, so the state is checked too
# (train: at each save; seeds: after each call) and sampling refuses non-finite codes.
CPU_COMPILER_OPTIONS = {'xla_cpu_experimental_ynn_fusion_type':
                        'LIBRARY_FUSION_TYPE_DOT,LIBRARY_FUSION_TYPE_REDUCE'}


@functools.cache
def default_compiler_options() -> dict:
  """The XLA options of jaxgan's compiled programs: :data:`CPU_COMPILER_OPTIONS` on the CPU
  backend when this jaxlib accepts them, ``{}`` (XLA's defaults) otherwise: on GPU/TPU,
  on a jaxlib without the option, or when ``XLA_FLAGS`` already sets it (the user's
  choice wins; ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=`` turns it off)."""
  if (jax.default_backend() != 'cpu'
      or 'xla_cpu_experimental_ynn_fusion_type' in os.environ.get('XLA_FLAGS', '')):
    return {}
  try:
    jax.jit(lambda x: x + 1, compiler_options=CPU_COMPILER_OPTIONS).lower(1.0).compile()
  except Exception as e:  # noqa: BLE001 -- an older or newer jaxlib without this option
    logging.info('XLA:CPU options %s not available (%s); using XLA defaults.',
                 CPU_COMPILER_OPTIONS, str(e).splitlines()[0])
    return {}
  return dict(CPU_COMPILER_OPTIONS)


# glibc's malloc gives each block above its mmap threshold (128 KiB, rising to at most 32
# MiB) a mapping of its own and unmaps it when freed. XLA:CPU allocates a program's buffers
# at every call, so every call page-faulted its intermediates in again: the digits DCGAN
# generator's parameter gradient took 10,900 page faults and 84 ms per call, 250 faults
# and 50 ms with the settings below (2 AMD EPYC cores; benchmarks/host_memory.py).
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt's parameter numbers (malloc.h)
_MALLOC_ENV = ('MALLOC_MMAP_MAX_', 'MALLOC_MMAP_THRESHOLD_', 'MALLOC_TRIM_THRESHOLD_',
               'MALLOC_TOP_PAD_')


@functools.cache
def retain_host_memory() -> bool:
  """Makes glibc's malloc keep freed memory in the process (``mallopt``: no ``mmap`` for
  large blocks, no trimming of the heap), so that XLA:CPU's per-call buffers reuse pages
  already mapped instead of faulting fresh ones in. Once per process; returns whether the
  settings were applied.

  The process then holds on to its peak memory instead of handing it back between calls.
  It does not reach blocks larger than 64 MiB that XLA's runtime threads allocate: glibc
  ``mmap``s those in the threads' own arenas whatever ``M_MMAP_MAX`` says, so such a
  buffer is faulted in at every call (the CIFAR DCGAN step's 89 MB, about a tenth of its
  CPU time in the kernel). :func:`run_cpu_programs_inline` has the calling thread, whose
  heap this keeps, allocate them instead.
  Applied by :func:`compile_train_steps` and the multi-seed step
  (:func:`jaxgan.seeds.compile_seed_steps`) on the CPU backend. Not applied
  on other backends, with another C library, when a ``MALLOC_*_`` environment variable
  tunes these settings already (the user's choice wins), or with
  ``JAXGAN_RETAIN_HOST_MEMORY=0``.
  """
  if (jax.default_backend() != 'cpu' or os.environ.get('JAXGAN_RETAIN_HOST_MEMORY') == '0'
      or any(name in os.environ for name in _MALLOC_ENV)):
    return False
  try:
    libc = ctypes.CDLL(None)
    libc.gnu_get_libc_version  # noqa: B018 -- glibc only: mallopt's numbers are glibc's
    applied = (libc.mallopt(_M_MMAP_MAX, 0) == 1
               and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1)
  except (OSError, AttributeError):
    return False
  logging.info('glibc malloc: large blocks from the heap, no trimming (%s).',
               'applied' if applied else 'refused')
  return applied


def run_cpu_programs_inline() -> bool:
  """Makes the CPU backend run single-device programs on the calling thread
  (``jax_cpu_enable_async_dispatch=False``) instead of handing them to a runtime thread.

  A program's largest buffer is then allocated by the main thread, from the heap that
  :func:`retain_host_memory` keeps, instead of being ``mmap``ped and faulted in again at
  every call (see there): the CIFAR DCGAN step's 21,700 page faults per call go to about
  20, and its steps run faster (docs/benchmarks.md, "Host memory"). Python then waits for
  each call instead of preparing the next meanwhile; the MLP main job, one step per call,
  trained as fast either way. Programs over several devices stay asynchronous (JAX's rule).

  It must run before JAX starts its backends; the launchers (``launch.common.run``) and
  the benchmark scripts call it first. Returns whether it was applied: not when the
  backends are already running, nor when ``JAX_CPU_ENABLE_ASYNC_DISPATCH`` is set (the
  user's choice wins), nor with ``JAXGAN_RETAIN_HOST_MEMORY=0``.
  """
  from jax._src import xla_bridge  # backends_are_initialized has no public name
  if ('JAX_CPU_ENABLE_ASYNC_DISPATCH' in os.environ
      or os.environ.get('JAXGAN_RETAIN_HOST_MEMORY') == '0'
      or xla_bridge.backends_are_initialized()):
    return False
  jax.config.update('jax_cpu_enable_async_dispatch', False)
  logging.info('CPU programs run on the calling thread (jax_cpu_enable_async_dispatch=False).')
  return True


def make_mesh(devices: list | None = None) -> Mesh:
  """A 1-D ``'data'`` mesh over ``devices`` (default: all devices of all hosts), with
  Auto axes so the compiler partitions the step from the input shardings."""
  devices = jax.devices() if devices is None else devices
  return jax.make_mesh((len(devices),), ('data',), axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def local_mesh() -> Mesh:
  """A ``'data'`` mesh over this process's devices, for work each process does on its own:
  sampling and evaluation features, split over its GPUs (XLA:CPU gives a host one device
  unless told otherwise)."""
  return make_mesh(jax.local_devices())


def put_rows(tree: Any, mesh: Mesh) -> tuple[Any, int]:
  """``tree``'s arrays (a common leading axis of ``n`` rows) padded to a multiple of the
  mesh's devices (the last row repeated) and split over its ``'data'`` axis, and ``n``.
  The mesh must hold this process's devices only (:func:`local_mesh`)."""
  n = jax.tree.leaves(tree)[0].shape[0]
  pad = -n % mesh.size
  rows = NamedSharding(mesh, P('data'))

  def put(a):
    a = np.asarray(a)
    if pad:
      a = np.concatenate([a, np.repeat(a[-1:], pad, axis=0)])
    return jax.device_put(a, rows)
  return jax.tree.map(put, tree), n


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding of the train state and keys: a full copy on every device."""
  return NamedSharding(mesh, P())


def batches_sharding(mesh: Mesh) -> NamedSharding:
  """The sharding of ``[K, n_critic, batch, ...]`` batches: ``batch`` split on ``'data'``."""
  return NamedSharding(mesh, P(None, None, 'data'))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """``ConfigError`` (a ``ValueError``) unless the global batch splits evenly over the
  mesh's devices."""
  if batch_size % mesh.size:
    raise ConfigError(f'data.batch_size {batch_size} is not divisible by the {mesh.size} '
                     'devices; use a multiple of the device count.')


def put_batches(local_batches: dict[str, np.ndarray], mesh: Mesh) -> dict[str, jax.Array]:
  """This host's slice of ``[K, n_critic, batch, ...]`` batches as global arrays."""
  sharding = batches_sharding(mesh)
  return {k: jax.make_array_from_process_local_data(sharding, v)
          for k, v in local_batches.items()}


def compile_train_steps(gan: gan_lib.GAN, mesh: Mesh, compiler_options: dict | None = None):
  """Jits :func:`jaxgan.gan.train_steps` over ``mesh``: batches sharded on ``'data'``, state
  replicated and donated. Call it as ``fn(state, batches, base_key, frozen)`` with
  ``batches['x']`` of shape ``[K, n_critic, B, ...]`` and ``frozen`` the content loss's
  fixed variables (``{}`` for none), replicated. ``compiler_options``: XLA options for this
  program only; None: :func:`default_compiler_options`, ``{}``: XLA's defaults. On the CPU
  backend it also calls :func:`retain_host_memory`."""
  retain_host_memory()
  rep = replicated(mesh)
  return jax.jit(lambda s, b, k, f: gan_lib.train_steps(gan, s, b, k, mesh, f),
                 in_shardings=(rep, batches_sharding(mesh), rep, rep),
                 out_shardings=(rep, rep), donate_argnums=0,
                 compiler_options=default_compiler_options() if compiler_options is None
                 else compiler_options)
