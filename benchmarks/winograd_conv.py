"""Alternatives to jaxgan's DCGAN convolutions on XLA:CPU, measured (none adopted).

* **Winograd F(2x2, 2x2)** for the generators' 4x4 stride-2 transposed convolutions. Each
  output phase of such a layer is a 2x2 stride-1 convolution (``layers.
  phase_conv_transpose``); Winograd's minimal filtering computes two outputs of a 2-tap
  filter with 3 products instead of 4 (``m0 = (x0 - x1) g0``, ``m1 = x1 (g0 + g1)``,
  ``m2 = (x2 - x1) g1``; ``y0 = m0 + m1``, ``y1 = m1 + m2``), so a 2x2 output tile of a
  2x2 kernel takes 9 products instead of 16 (1.78x fewer FLOPs). The four phases read
  the same 3x3 input tiles when their tile grids are aligned, so the input is transformed
  once and the products are 9 matrix products ``[tiles, C_in] @ [C_in, 4 C_out]``, which
  XLA:CPU runs fast (``dcgan_layers``: its matrix product at about 2x PyTorch's, its
  convolutions at 0.8x oneDNN's). The transforms are additions of strided slices.
* **One product of 2x2 windows** for the same layers (``windows``): output phase ``(r, c)``
  reads the 2x2 input window at ``(q + r - 1, p + c - 1)``, so the ``(H + 1) (W + 1)``
  windows of the input padded by 1 (``[.., 4 C_in]``, four slices) times the four phases'
  kernels side by side (``[4 C_in, 4 C_out]``) is every phase's output and a little more
  (``(H + 1) (W + 1) / (H W)`` times the FLOPs): one matrix product instead of four
  convolutions.
* **One 3x3 convolution** for the same layers (``embedded``): the four 2x2 phase kernels
  placed in a zero 3x3 kernel with ``4 C_out`` outputs, then depth-to-space: one stride-1
  convolution of XLA's, 2.25x the FLOPs.
* **Space-to-depth** for the critics' wider 4x4 stride-2 convolutions: the padded input
  rearranged to ``[N, H/2 + 1, W/2 + 1, 4 C_in]`` and one 2x2 stride-1 convolution
  (jaxgan keeps XLA's strided op there and sends the input derivative through
  ``layers.phase_conv``).

For each layer shape of ``benchmarks/dcgan_layers.py`` that an alternative applies to, it
times (milliseconds, medians of interleaved rounds) the output (``fwd``) and the gradient of
``sum(y**2) / 2`` in the input and the kernel (``fwd+bwd``), jaxgan's ``impl='fast'``
against each alternative, after checking the alternative against ``lax`` (max abs error).
For the Winograd layers it also times its parts alone: the 9 matrix products, and the
input and output transforms.

    python -m benchmarks.winograd_conv [--rounds 5]
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from benchmarks.conv_step import CASES
from benchmarks.dcgan_layers import layer_shapes
from benchmarks.timing import interleaved_rates, print_table, rounds_args
from jaxgan import sharding
from jaxgan.models import layers, polyphase

_DN = ('NHWC', 'HWIO', 'NHWC')


def _tiles(x: jax.Array, axis: int, t: int) -> list[jax.Array]:
  """``B^T`` along ``axis``: ``[x0 - x1, x1, x2 - x1]`` with ``xa = x[a : a + 2t : 2]``."""
  s = [lax.slice_in_dim(x, a, a + 2 * t - 1, 2, axis) for a in range(3)]
  return [s[0] - s[1], s[1], s[2] - s[1]]


def input_transform(xp: jax.Array, th: int, tw: int) -> jax.Array:
  """``[N, 2 th + 1, 2 tw + 1, C] -> [9, N th tw, C]``: ``B^T d B`` of every 3x3 tile."""
  u = [v for row in _tiles(xp, 1, th) for v in _tiles(row, 2, tw)]
  return jnp.stack(u).reshape(9, xp.shape[0] * th * tw, xp.shape[3])


def kernel_transform(g: jax.Array) -> jax.Array:
  """``[2, 2, C_in, C_out] -> [9, C_in, C_out]``: ``G g G^T``, ``G = [[1,0],[1,1],[0,1]]``."""
  rows = [g[0], g[0] + g[1], g[1]]
  return jnp.stack([v for r in rows for v in (r[0], r[0] + r[1], r[1])])


def output_transform(m: jax.Array, n: int, th: int, tw: int) -> jax.Array:
  """``[9, N th tw, C] -> [N, 2 th, 2 tw, C]``: ``A^T m A``, ``A^T = [[1,1,0],[0,1,1]]``."""
  m = m.reshape(3, 3, n, th, tw, m.shape[-1])
  r = jnp.stack([m[0] + m[1], m[1] + m[2]], axis=3)     # [3, N, th, 2, tw, C]
  z = jnp.stack([r[0] + r[1], r[1] + r[2]], axis=4)     # [N, th, 2, tw, 2, C]
  return z.reshape(n, 2 * th, 2 * tw, z.shape[-1])


def _grid(x: jax.Array) -> tuple:
  """The aligned tile grid of a 4x4 stride-2 'SAME' transposed convolution of ``x``: the
  per-axis phases (``polyphase._transpose_phases``), the low padding ``P`` that makes every
  phase's offset ``e_r = d_r + P`` non-negative, and the tiles per axis."""
  out = []
  for size in x.shape[1:3]:
    o, q, phases = polyphase._transpose_phases(size, 4, 2, layers._transpose_padding(4, 2, 'SAME'))
    d = [-pad[0] for _, _, pad in phases]
    low = max(0, -min(d))
    e = [v + low for v in d]
    out.append((o, q, phases, low, e, -(-(q + max(e)) // 2)))
  return tuple(out)


def winograd_conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` of a 4x4 kernel by Winograd
  F(2x2, 2x2): phase ``(r, c)``'s output ``y[2q + r, 2p + c] = Z_rc[q + e_r, p + e_c]`` with
  ``Z_rc`` the 2x2 stride-1 convolution of the input padded by ``P`` at the top left."""
  n, h, w, _ = x.shape
  (oh, qh, ph, lh, eh, th), (ow, qw, pw, lw, ew, tw) = _grid(x)
  xp = lax.pad(x, jnp.zeros((), x.dtype),
               [(0, 0, 0), (lh, 2 * th + 1 - h - lh, 0), (lw, 2 * tw + 1 - w - lw, 0), (0, 0, 0)])
  v = jnp.concatenate([kernel_transform(kernel[a[0]::2, b[0]::2]) for a in ph for b in pw],
                      axis=2)
  m = jnp.einsum('ktc,kcd->ktd', input_transform(xp, th, tw), v)
  z = output_transform(m, n, th, tw).reshape(n, 2 * th, 2 * tw, 2, 2, kernel.shape[3])
  rows = [jnp.stack([z[:, eh[r]:eh[r] + qh, ew[c]:ew[c] + qw, r, c] for c in range(2)], axis=3)
          for r in range(2)]
  return jnp.stack(rows, axis=2).reshape(n, 2 * qh, 2 * qw, -1)[:, :oh, :ow]


def _phase_kernels(kernel: jax.Array) -> jax.Array:
  """``[4, 4, C_in, C_out] -> [i, j, C_in, r, c, C_out]``: phase ``(r, c)``'s 2x2 kernel,
  ``kernel[r + 2 i, c + 2 j]``, the tap that meets the input at ``(q + r + i - 1, p + c + j -
  1)`` (``lax.conv_transpose`` with 'SAME' padding ``(2, 2)``, no kernel flip)."""
  c_in, c_out = kernel.shape[2:]
  return kernel.reshape(2, 2, 2, 2, c_in, c_out).transpose(0, 2, 4, 1, 3, 5)


def _interleave(y: jax.Array) -> jax.Array:
  """``[N, H, W, 2, 2, C]`` phases ``(r, c)`` -> ``[N, 2 H, 2 W, C]``."""
  n, h, w, _, _, c = y.shape
  return y.transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h, 2 * w, c)


def windows_conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` of a 4x4 kernel as one matrix product
  of the input's 2x2 windows with the four phases' kernels side by side."""
  n, h, w, c_in = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  z = jnp.concatenate([xp[:, i:i + h + 1, j:j + w + 1] for i in range(2) for j in range(2)],
                      axis=-1)
  y = jnp.einsum('nhwk,kd->nhwd', z, _phase_kernels(kernel).reshape(4 * c_in, -1))
  y = y.reshape(n, h + 1, w + 1, 2, 2, -1)
  return _interleave(jnp.stack([jnp.stack([y[:, r:r + h, c:c + w, r, c] for c in range(2)],
                                          axis=3) for r in range(2)], axis=3))


def embedded_conv_transpose(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_transpose(x, kernel, (2, 2), 'SAME')`` of a 4x4 kernel as one 3x3 stride-1
  convolution to ``4 C_out`` channels (phase ``(r, c)``'s taps at ``(r + i, c + j)``, zeros
  elsewhere), then depth-to-space."""
  n, h, w, c_in = x.shape
  g = _phase_kernels(kernel)
  k3 = jnp.zeros((3, 3) + g.shape[2:], kernel.dtype)
  for r in range(2):
    for c in range(2):
      k3 = k3.at[r:r + 2, c:c + 2, :, r, c].set(g[:, :, :, r, c])
  y = lax.conv_general_dilated(x, k3.reshape(3, 3, c_in, -1), (1, 1), ((1, 1), (1, 1)),
                               dimension_numbers=_DN)
  return _interleave(y.reshape(n, h, w, 2, 2, -1))


def space_to_depth_conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``lax.conv_general_dilated(x, kernel, (2, 2), ((1, 1), (1, 1)))`` of a 4x4 kernel (even
  ``H``, ``W``) as one 2x2 stride-1 convolution of the space-to-depth padded input."""
  n, h, w, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  xs = xp.reshape(n, h // 2 + 1, 2, w // 2 + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
  ks = kernel.reshape(2, 2, 2, 2, c, -1).transpose(0, 2, 1, 3, 4, 5)
  return lax.conv_general_dilated(xs.reshape(n, h // 2 + 1, w // 2 + 1, 4 * c),
                                  ks.reshape(2, 2, 4 * c, -1), (1, 1), 'VALID',
                                  dimension_numbers=_DN)


def _pair(kind: str) -> tuple:
  """(jaxgan's layer function, {name: alternative}, lax's op) for a layer kind."""
  if kind == 'ConvTranspose':
    return (lambda x, k: layers.conv_transpose(x, k, (2, 2), 'SAME', impl='fast'),
            {'Winograd': winograd_conv_transpose, 'windows': windows_conv_transpose,
             'embedded': embedded_conv_transpose},
            lambda x, k: lax.conv_transpose(x, k, (2, 2), 'SAME', dimension_numbers=_DN))
  pad = ((1, 1), (1, 1))
  return (lambda x, k: layers.conv(x, k, (2, 2), pad, impl='fast'),
          {'space-to-depth': space_to_depth_conv},
          lambda x, k: lax.conv_general_dilated(x, k, (2, 2), pad, dimension_numbers=_DN))


def main() -> None:
  sharding.run_cpu_programs_inline()
  sharding.retain_host_memory()
  args = rounds_args(__doc__)
  jit = functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  sync = jax.block_until_ready
  rng = np.random.default_rng(0)
  rows, part_rows = [], []
  for case_name, case in CASES.items():
    for kind, b, size, c_in, c_out, k, _stride, _ in layer_shapes(case):
      # The 4x4 stride-2 layers that jaxgan computes with XLA's convolutions (the critics'
      # first layer, an image, is a matrix product already).
      if k != 4 or (kind == 'Conv' and c_in <= layers.FEW_CHANNELS):
        continue
      x = jnp.asarray(rng.uniform(-1, 1, (b, size, size, c_in)), jnp.float32)
      kern = jnp.asarray(rng.normal(size=(k, k, c_in, c_out)) / np.sqrt(k * k * c_in),
                         jnp.float32)
      fast, alts, ref = _pair(kind)
      errors = {what: float(jnp.max(jnp.abs(jit(alt)(x, kern) - ref(x, kern))))
                for what, alt in alts.items()}
      variants = {}
      for name, fn in (('fast', fast), *alts.items()):
        loss = lambda x, k, fn=fn: 0.5 * jnp.sum(fn(x, k) ** 2)
        variants[f'{name} fwd'] = (functools.partial(jit(fn), x, kern), sync)
        variants[f'{name} fwd+bwd'] = (functools.partial(jit(jax.grad(loss, (0, 1))), x, kern),
                                       sync)
      if kind == 'ConvTranspose':
        (*_, th), (*_, tw) = _grid(x)
        xp = jnp.zeros((b, 2 * th + 1, 2 * tw + 1, c_in), jnp.float32)
        u = jit(input_transform, static_argnums=(1, 2))(xp, th, tw)
        v = jnp.zeros((9, c_in, 4 * c_out), jnp.float32)
        m = jnp.zeros((9, u.shape[1], 4 * c_out), jnp.float32)
        variants['products'] = (functools.partial(
            jit(lambda u, v: jnp.einsum('ktc,kcd->ktd', u, v)), u, v), sync)
        variants['in transform'] = (functools.partial(
            jit(input_transform, static_argnums=(1, 2)), xp, th, tw), sync)
        variants['out transform'] = (functools.partial(
            jit(output_transform, static_argnums=(1, 2, 3)), m, b, th, tw), sync)
      ms = {name: 1e3 / rate for name, rate in
            interleaved_rates(variants, args.steps, args.rounds).items()}
      shape = f'[{b},{size},{size},{c_in}] -> {c_out}'
      for what, err in errors.items():
        rows.append([case_name, kind, shape, what, f'{err:.1e}',
                     *(f'{ms[v]:.3g}' for v in ('fast fwd', f'{what} fwd')),
                     f'{ms["fast fwd"] / ms[f"{what} fwd"]:.2f}',
                     *(f'{ms[v]:.3g}' for v in ('fast fwd+bwd', f'{what} fwd+bwd')),
                     f'{ms["fast fwd+bwd"] / ms[f"{what} fwd+bwd"]:.2f}'])
      if kind == 'ConvTranspose':
        part_rows.append([case_name, shape, f'{ms["fast fwd"]:.3g}', f'{ms["Winograd fwd"]:.3g}',
                          *(f'{ms[v]:.3g}' for v in ('products', 'in transform',
                                                     'out transform'))])
  print(f'jax {jax.__version__} on {jax.default_backend()}; medians of {args.rounds} '
        f'interleaved rounds; ms\n')
  print_table(['model', 'layer', 'input -> C_out', 'alternative', 'max abs error',
               'jaxgan fwd', 'alternative fwd', 'speed-up', 'jaxgan fwd+bwd',
               'alternative fwd+bwd', 'speed-up'], rows)
  print('\nThe Winograd forward in parts (ms): its 9 matrix products, input and output '
        'transforms, each a program of its own:')
  print_table(['model', 'input -> C_out', 'jaxgan fwd', 'Winograd fwd', 'products',
               'input transform', 'output transform'], part_rows)


if __name__ == '__main__':
  main()
