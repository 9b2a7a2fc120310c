"""Writing a file so that nothing is lost: whoever reads it, and whatever stops the writer
(an interrupt, a full disk, an error), finds the earlier file whole or the new one whole,
never a part of one."""

from __future__ import annotations

import contextlib
import glob
import json
import math
import os
import stat
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np

# The longest file name (bytes) on Linux and macOS file systems.
NAME_MAX = 255


@contextlib.contextmanager
def replacing(path: str) -> Iterator[str]:
  """Yields a temporary path beside ``path`` to write to; when the block ends without an
  error, the file written there replaces ``path`` in one step (``os.replace``), with the
  earlier file's permissions, after it is flushed to disk (``fsync``).

  The temporary name ends in ``path``'s whole name (``.tmp-<random>-<name>``; its end
  alone where that would pass a file name's 255 bytes), so writers
  that choose the format by the suffix (PIL, matplotlib, ``np.save``'s ``.npy``) write
  exactly what they would to ``path``. If the block raises (``KeyboardInterrupt``
  included), or writes nothing there (a writer that appended a suffix of its own: a
  ``FileNotFoundError``), the temporary file is removed and an earlier ``path`` is left as
  it was. A symbolic link's target is replaced and the link kept; a hard link to the earlier
  file keeps the earlier contents. A process killed outright (SIGKILL) can leave a
  ``.tmp-*`` file behind, never a partial ``path``.

  Example::

    with files.replacing('grid.png') as tmp:
      plt.imsave(tmp, image)
  """
  path = os.path.realpath(path)
  folder, name = os.path.split(path)
  prefix = f'.tmp-{uuid.uuid4().hex[:12]}-'
  tail = name  # the name's end (its suffix), within a file name's 255 bytes
  while len((prefix + tail).encode()) > NAME_MAX and len(tail) > 1:
    tail = tail[1:]
  tmp = os.path.join(folder, prefix + tail)
  try:
    yield tmp
    if not os.path.exists(tmp):
      raise FileNotFoundError(f'Nothing was written to {tmp}, the temporary name of {path} '
                              '(a writer that appends a suffix of its own?).')
    if os.path.exists(path):
      os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
    with open(tmp, 'rb') as f:
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    for left in (tmp, *glob.glob(glob.escape(tmp) + '.*')):  # and a suffix a writer added
      with contextlib.suppress(OSError):
        os.remove(left)
    raise


def write_text(path: str, text: str) -> None:
  """Writes ``text`` to ``path`` through :func:`replacing`."""
  with replacing(path) as tmp, open(tmp, 'w') as f:
    f.write(text)


def _finite_or_none(obj: Any) -> Any:
  if hasattr(obj, '__array__'):  # NumPy scalars and arrays, jax arrays: Python numbers
    obj = np.asarray(obj).tolist()
  if isinstance(obj, float):
    return obj if math.isfinite(obj) else None
  if isinstance(obj, dict):
    return {_finite_or_none(k): _finite_or_none(v) for k, v in obj.items()}  # np.int64 keys
  if isinstance(obj, (list, tuple)):
    return [_finite_or_none(v) for v in obj]
  return obj


def json_text(obj: Any, indent: int = 1) -> str:
  """Strict JSON (RFC 8259) of ``obj``: a non-finite number, which JSON cannot hold, is
  written as ``null`` (as JavaScript's ``JSON.stringify`` does), not as Python's
  ``Infinity``/``NaN`` that strict parsers (``jq``, browsers, most languages) reject. E.g.
  the mode-coverage ``reverse_kl`` of samples near no mode at all. NumPy and jax scalars
  and arrays are written as the numbers and lists they hold."""
  return json.dumps(_finite_or_none(obj), indent=indent, allow_nan=False)


def write_json(path: str, obj: Any, indent: int = 1) -> None:
  """Writes :func:`json_text` of ``obj`` to ``path`` through :func:`replacing`."""
  write_text(path, json_text(obj, indent))


def append_json_line(path: str, obj: Any) -> None:
  """Appends :func:`json_text` of ``obj`` to ``path`` as one line (JSON Lines): a log that
  keeps every record, where :func:`write_json` replaces the last. A last line cut short (a
  process killed as it wrote) is ended first, so that it alone is lost."""
  with open(path, 'a+b') as f:  # writes go to the end, wherever it reads
    size = f.seek(0, os.SEEK_END)
    if size:
      f.seek(size - 1)
    cut = bool(size) and f.read(1) != b'\n'
    f.write((('\n' if cut else '') + json_text(obj, indent=None) + '\n').encode())
