"""Writing a file so that nothing is lost: whoever reads it, and whatever stops the writer
(an interrupt, a full disk, an error), finds the earlier file whole or the new one whole,
never a part of one."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def replacing(path: str) -> Iterator[str]:
  """Yields a temporary path beside ``path`` to write to; when the block ends without an
  error, the file written there replaces ``path`` in one step (``os.replace``).

  The temporary name ends in ``path``'s suffix, so writers that choose the format by the
  suffix (PIL, matplotlib, ``np.save``'s ``.npy``) write exactly what they would to
  ``path``. If the block raises (``KeyboardInterrupt`` included), the temporary file is
  removed and an earlier ``path`` is left as it was; if the block writes nothing, nothing
  changes.

  Example::

    with files.replacing('grid.png') as tmp:
      plt.imsave(tmp, image)
  """
  folder, name = os.path.split(path)
  stem, suffix = os.path.splitext(name)
  tmp = os.path.join(folder, f'.{stem}.{os.getpid()}-{threading.get_ident()}.tmp{suffix}')
  try:
    yield tmp
  except BaseException:
    with contextlib.suppress(FileNotFoundError):
      os.remove(tmp)
    raise
  if os.path.exists(tmp):
    os.replace(tmp, path)


def write_text(path: str, text: str) -> None:
  """Writes ``text`` to ``path`` through :func:`replacing`."""
  with replacing(path) as tmp, open(tmp, 'w') as f:
    f.write(text)
