"""The progress bar of a training run, with what is written to stderr while it is drawn
(absl's log lines, Python's warnings) put above it: written as they came, they were
appended to the bar's line (``... 148.26step/s]W1207 ... Signal 15: saving a checkpoint``).
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator

from absl import logging
from tqdm import tqdm


class _AboveTheBars(io.TextIOBase):
  """A text stream whose every write clears the bars drawn on ``stream``, is written, and
  draws them again below it (tqdm's ``external_write_mode``, as ``tqdm.write`` does)."""

  def __init__(self, stream):
    super().__init__()
    self.stream = stream

  def writable(self) -> bool:
    return True

  def write(self, text: str) -> int:
    with tqdm.external_write_mode(file=self.stream):
      self.stream.write(text)
    return len(text)

  def flush(self) -> None:
    self.stream.flush()

  def isatty(self) -> bool:
    return self.stream.isatty()

  def fileno(self) -> int:  # (what writes to the descriptor is not moved above the bar)
    return self.stream.fileno()

  @property
  def encoding(self) -> str | None:
    return getattr(self.stream, 'encoding', None)


@contextlib.contextmanager
def bar(total: int, initial: int, enabled: bool) -> Iterator[tqdm]:
  """A bar of train steps on stderr (none where not ``enabled``: a host other than the
  lead), closed on exit. While it is open, ``sys.stderr`` and absl's handler, where it
  writes to that stderr, write above it."""
  stream = sys.stderr
  steps = tqdm(total=total, initial=initial, disable=not enabled, unit='step',
               dynamic_ncols=True, file=stream)
  try:
    if not enabled:
      yield steps
      return
    above = _AboveTheBars(stream)
    # absl writes to the stream it was made with, unless it logs to stderr only
    # (--logtostderr) or before flags are parsed: then to sys.stderr, replaced here.
    handler = logging.get_absl_handler().python_handler
    swap = handler.stream is stream
    with contextlib.redirect_stderr(above):
      if swap:
        handler.setStream(above)
      try:
        yield steps
      finally:
        if swap and handler.stream is above:
          handler.setStream(stream)
  finally:
    steps.close()
