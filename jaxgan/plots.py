"""Pictures of training: sample grids, 2-D scatters over the true modes, loss curves. Each
is written whole or not at all (:func:`jaxgan.files.replacing`)."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shutil
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from jaxgan import arrays, files

if TYPE_CHECKING:
  import matplotlib.pyplot as plt


@functools.cache
def _pyplot() -> ModuleType:
  """``matplotlib.pyplot`` on the Agg backend (files, no window), imported on first use:
  its 0.6 s is not paid by a launcher that refuses its flags or draws nothing."""
  import matplotlib
  matplotlib.use('Agg')
  import matplotlib.pyplot
  return matplotlib.pyplot


def _rc_params() -> Any:
  """matplotlib's settings (pyplot is not needed to read them)."""
  import matplotlib
  return matplotlib.rcParams


def _canvas_filetypes() -> dict[str, str]:
  """The suffixes matplotlib writes a figure in, and their names."""
  from matplotlib.backend_bases import FigureCanvasBase
  return FigureCanvasBase.get_supported_filetypes()


def _with_suffix(path: str) -> str:
  """``path``, with matplotlib's default format (``.png``) appended when it has no suffix,
  as ``savefig`` does (``imsave`` would fail on it)."""
  if not os.path.splitext(os.path.basename(path))[1]:
    return f'{path}.{_rc_params()["savefig.format"]}'
  return path


def _image_formats() -> list[str]:
  """The formats ``plt.imsave`` writes: its vector ones, and those Pillow saves under the
  suffix's own name (not ``.tif``, ``.rgba``, ``.raw``, ``.pgf`` or ``.svgz``, which
  matplotlib figures take, ``.pgf`` with TeX)."""
  from PIL import Image
  Image.init()
  return [f for f in _canvas_filetypes()
          if f in ('pdf', 'ps', 'eps', 'svg') or ('jpeg' if f == 'jpg' else f).upper()
          in Image.SAVE]


def _figure_formats() -> list[str]:
  """The formats matplotlib writes a figure in here: ``.pgf`` only where its TeX program
  (``rcParams['pgf.texsystem']``, xelatex by default) is installed."""
  texsystem = _rc_params()['pgf.texsystem']
  return [f for f in _canvas_filetypes() if f != 'pgf' or shutil.which(texsystem)]


def check_format(path: str, image: bool = False) -> str:
  """``path`` as it will be written (``.png`` appended when it has no suffix); ``ValueError``
  naming the formats matplotlib writes (``image``: writes an image array in, as
  :func:`save_image_grid` does) when its suffix is none of them."""
  path = _with_suffix(path)
  suffix = os.path.splitext(path)[1][1:].lower()
  formats = _image_formats() if image else _figure_formats()
  if suffix not in formats:
    why = ''
    if suffix == 'pgf' and not image:
      why = f' (it needs {_rc_params()["pgf.texsystem"]}, which is not installed)'
    raise ValueError(f'{path}: cannot write a picture as .{suffix}{why}; give one of '
                     f'{", ".join("." + f for f in formats)}.')
  return path


@contextlib.contextmanager
def _closed_on_error(fig: plt.Figure) -> Iterator[None]:
  """Closes ``fig`` when the drawing in the block fails (:func:`save_figure` closes it
  otherwise)."""
  try:
    yield
  except BaseException:
    _pyplot().close(fig)
    raise


def save_figure(fig: plt.Figure, path: str) -> str:
  """Writes ``fig`` to ``path`` (format by suffix) whole or not at all, and closes it.
  Returns the file written: ``path``, with ``.png`` appended when it has no suffix."""
  path = check_format(path)
  try:
    with files.replacing(path) as tmp:
      fig.savefig(tmp)
  finally:
    _pyplot().close(fig)
  return path


# The colour of a pixel with a NaN or infinite value (magenta: no image in [-1, 1] has it
# by chance in a grayscale grid, which then becomes RGB).
NONFINITE_COLOR = (1.0, 0.0, 1.0)


def image_grid(images: np.ndarray, ncols: int | None = None, pad: int = 1) -> np.ndarray:
  """Tiles ``images[N, H, W, C]`` in [-1, 1] into one ``[rows*H', cols*W', C]`` array
  in [0, 1], ``ncols`` images a row (default: a square grid; at most ``N``); a pixel with a
  non-finite value is :data:`NONFINITE_COLOR` (a grayscale grid that has one is RGB)."""
  images = np.asarray(images, np.float32)
  if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
    raise ValueError('An image grid takes images [N, H, W, C] of 1 (gray), 3 (RGB) or 4 '
                     f'(RGBA) channels; got shape {images.shape}.')
  n, h, w, c = images.shape
  if not n:
    raise ValueError(f'An image grid needs at least one image; got shape {images.shape}.')
  cells = np.clip((images + 1.0) / 2.0, 0.0, 1.0)
  bad = ~np.all(np.isfinite(images), axis=-1)  # before clipping: clip(-inf) is 0
  if bad.any():
    cells = np.repeat(cells, 3, -1) if c == 1 else cells
    c = cells.shape[-1]
    cells[bad] = NONFINITE_COLOR + (1.0,) * (c - 3)
  ncols = min(ncols or int(math.ceil(math.sqrt(n))), n)  # fewer images: no blank columns
  nrows = int(math.ceil(n / ncols))
  grid = np.ones((nrows * (h + pad) + pad, ncols * (w + pad) + pad, c), np.float32)
  for i, img in enumerate(cells):
    r, q = divmod(i, ncols)
    grid[pad + r * (h + pad):pad + r * (h + pad) + h,
         pad + q * (w + pad):pad + q * (w + pad) + w] = img
  return grid


def save_image_grid(images: np.ndarray, path: str, scale: int = 3,
                    ncols: int | None = None) -> str:
  """Writes a grid of ``images[N, H, W, C]`` in [-1, 1], upscaled ``scale`` times,
  ``ncols`` images a row (default: a square grid), in the format of ``path``'s suffix (a
  PNG, appended, when it has none). Returns the file written.

  Values are rounded to 8 bits (an image read from 8-bit levels is written with the same
  levels); NaN and infinite values are drawn :data:`NONFINITE_COLOR`, with a warning."""
  path = check_format(path, image=True)
  images = np.asarray(images)
  bad = arrays.count_nonfinite(images)
  if bad:
    warnings.warn(f'{path}: {bad} non-finite value{"" if bad == 1 else "s"} (NaN or Inf) in '
                  'the images, drawn magenta.', stacklevel=2)
  grid = np.round(image_grid(images, ncols) * 255).astype(np.uint8)
  grid = np.repeat(np.repeat(grid, scale, 0), scale, 1)
  with files.replacing(path) as tmp:  # 8-bit RGB is written as it is (no colour map)
    _pyplot().imsave(tmp, np.repeat(grid, 3, -1) if grid.shape[-1] == 1 else grid)
  return path


def save_scatter(samples: np.ndarray, modes: np.ndarray, path: str, title: str = '') -> str:
  """Writes a scatter of 2-D ``samples`` over the true ``modes`` (a PNG when ``path`` has
  no suffix). Returns the file written. The view is the modes' box widened 1.5 times;
  samples outside it, or with a NaN or infinite coordinate, are not drawn: the title counts
  them, with a warning."""
  path = check_format(path)
  modes = np.asarray(modes, np.float64)
  if modes.ndim != 2 or modes.shape[1] != 2 or not len(modes) or not np.isfinite(modes).all():
    raise ValueError(f'{path}: the modes must be finite 2-D points [k >= 1, 2]; got an array '
                     f'of shape {modes.shape}.')
  samples = np.asarray(samples)
  lim = float(np.abs(modes).max()) * 1.5 or 1.0
  finite = np.all(np.isfinite(samples), axis=-1)
  with np.errstate(invalid='ignore'):  # NaN compares False: counted as not finite
    far = finite & np.any(np.abs(samples) > lim, axis=-1)
  # Samples not drawn are counted: a generator that throws mass away must not look perfect.
  for count, what, note in (
      (int(np.sum(~finite)), 'are not finite (NaN or Inf)', 'non-finite not drawn'),
      (int(np.sum(far)), f'lie outside the view [-{lim:g}, {lim:g}]^2', 'outside the view')):
    if count:
      warnings.warn(f'{path}: {count} of {len(samples)} samples {what} and are not drawn.',
                    stacklevel=2)
      title = f'{title} ({count} {note})' if title else f'{count} {note}'
  fig, ax = _pyplot().subplots(figsize=(4, 4), dpi=100)
  with _closed_on_error(fig):
    ax.scatter(samples[:, 0], samples[:, 1], s=2, alpha=0.4, label='samples')
    ax.scatter(modes[:, 0], modes[:, 1], s=30, c='red', marker='x', label='modes')
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect('equal')
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
  return save_figure(fig, path)


def save_loss_curves(rows: list[dict], path: str) -> str | None:
  """Writes every metric in ``rows`` (dicts with a ``step``) against the step, in the
  format of ``path``'s suffix (a PNG when it has none). Returns the file written, or
  ``None`` when the rows hold no metric (nothing is written)."""
  path = check_format(path)
  keys = list(dict.fromkeys(k for r in rows for k in r if k != 'step'))  # every row's
  if not keys:
    return None
  fig, axes = _pyplot().subplots(len(keys), 1, figsize=(6, 1.6 * len(keys)), dpi=100, sharex=True)
  with _closed_on_error(fig):
    axes = np.atleast_1d(axes)
    steps = [r['step'] for r in rows]
    for ax, key in zip(axes, keys, strict=True):
      y = np.asarray([r.get(key, np.nan) for r in rows], np.float64)
      line, = ax.plot(steps, y, lw=1)
      # A point with no finite neighbour (one row; a row between gaps) makes no line: a dot.
      ok = np.isfinite(y)
      alone = ok & ~np.r_[False, ok[:-1]] & ~np.r_[ok[1:], False]
      ax.plot(np.asarray(steps)[alone], y[alone], '.', ms=4, color=line.get_color())
      ax.set_ylabel(key, fontsize=8)
      ax.grid(alpha=0.3)
    axes[-1].set_xlabel('generator step')
    fig.tight_layout()
  return save_figure(fig, path)
