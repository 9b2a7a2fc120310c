"""Metric writers: TensorBoard event files, ``metrics.jsonl`` and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import math
import os
import time

from absl import logging
from tensorboardX import SummaryWriter

from jaxgan import files


class MetricLogError(ValueError):
  """A ``metrics.jsonl`` or ``metrics.csv`` line that is not a metrics row, before its
  last (a last one cut short is left out with a warning)."""


class MetricWriter:
  """Appends scalar metrics of a step to TensorBoard, JSONL and CSV in ``workdir``.

  A resumed run appends to the same files, so the curves cover the whole training. Rows
  after ``resume_step`` (written by the previous run after its last checkpoint, which
  the resumed run trains again) are dropped first, so the logs match the state; in
  TensorBoard they are purged. The CSV's columns are every metric seen so far: a row with
  a new metric (a resumed run whose config adds a penalty, say) rewrites the file with
  the new column, empty in the earlier rows.
  """

  def __init__(self, workdir: str, resume_step: int = 0):
    self.jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self.csv_path = os.path.join(workdir, 'metrics.csv')
    self._drop_rows_after(resume_step)
    self._fields = _columns(read_jsonl(self.jsonl_path))
    # Events of steps from ``resume_step + 1`` on, in earlier files, are dropped by
    # TensorBoard's reader. tensorboardX names a file by the second it opens it: a suffix
    # of nanoseconds keeps a resume in the same second from truncating the earlier file,
    # and its name sorting after it, as TensorBoard reads them.
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'), purge_step=resume_step + 1,
                             filename_suffix=f'.{time.time_ns()}')

  def _drop_rows_after(self, step: int) -> None:
    # The JSONL is the record; without it (deleted, or copied without it) the CSV is, and
    # the JSONL is written again from it rather than the CSV emptied.
    from_csv = not os.path.exists(self.jsonl_path) and os.path.exists(self.csv_path)
    rows = read_csv(self.csv_path) if from_csv else read_jsonl(self.jsonl_path)
    rows = [r for r in rows if r['step'] <= step]
    for path, write in ((self.jsonl_path, _write_jsonl), (self.csv_path, _write_csv)):
      if os.path.exists(path) or from_csv:
        with files.replacing(path) as tmp:
          write(tmp, rows)

  def write(self, step: int, metrics: dict[str, float]) -> None:
    """Appends the row of ``step``; a non-finite value (a lazy penalty not computed since a
    resume added it) is left out (an empty CSV cell, a gap in the curves), so that the
    JSON stays strict."""
    row = {'step': int(step),
           **{k: float(v) for k, v in metrics.items() if math.isfinite(float(v))}}
    for name, value in row.items():
      if name != 'step':
        self._tb.add_scalar(name, value, int(step))
    with open(self.jsonl_path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    if not set(row) <= set(self._fields) or not os.path.exists(self.csv_path):
      rows = read_jsonl(self.jsonl_path)
      self._fields = _columns(rows)
      with files.replacing(self.csv_path) as tmp:
        _write_csv(tmp, rows)
      return
    with open(self.csv_path, 'a', newline='') as f:
      csv.DictWriter(f, fieldnames=self._fields, restval='').writerow(row)

  def flush(self) -> None:
    """Writes TensorBoard's buffered events to disk (the JSONL and CSV rows are written
    as they come): called before each checkpoint, so that a run killed after it and
    resumed from it keeps every row up to it (tensorboardX buffers up to 120 s)."""
    self._tb.flush()

  def close(self) -> None:
    self._tb.close()


def _write_jsonl(path: str, rows: list[dict]) -> None:
  with open(path, 'w') as f:
    f.writelines(json.dumps(r) + '\n' for r in rows)


def _columns(rows: list[dict]) -> list[str]:
  """Every key of ``rows``, in the order first seen."""
  return list(dict.fromkeys(k for r in rows for k in r))


def _write_csv(path: str, rows: list[dict]) -> None:
  with open(path, 'w', newline='') as f:
    if rows:
      writer = csv.DictWriter(f, fieldnames=_columns(rows), restval='')
      writer.writeheader()
      writer.writerows(rows)


def read_csv(path: str) -> list[dict]:
  """The rows of a ``metrics.csv`` file as :func:`read_jsonl` gives them: ``step`` an int,
  the other values floats, empty cells left out.

  A last row cut short (no line end, too few cells, or a cell that is not a number) is
  left out with a warning; such a row before it raises :class:`MetricLogError` naming its
  line.
  """
  with open(path, newline='') as f:
    text = f.read()
  reader = csv.DictReader(text.splitlines())
  records = list(reader)
  rows = []
  for i, r in enumerate(records):
    last = i == len(records) - 1
    try:
      if None in r.values() or None in r or 'step' not in r or (last and not text.endswith('\n')):
        raise ValueError('cut short')
      rows.append({k: int(v) if k == 'step' else float(v) for k, v in r.items() if v != ''})
    except ValueError as e:
      if not last:
        raise MetricLogError(f'{path}, row {i + 1}, is not a metrics row ({e}). Correct '
                             'or delete that row.') from None
      logging.warning('Leaving out the last row of %s (row %d: %s).', path, i + 1, e)
  return rows


def read_jsonl(path: str) -> list[dict]:
  """The rows of a ``metrics.jsonl`` file, or [] when it does not exist.

  A last line that is not JSON (an append cut short: a full disk, a killed process) is
  left out with a warning; a bad line before it raises :class:`MetricLogError` naming it.
  """
  if not os.path.exists(path):
    return []
  with open(path) as f:
    lines = [(n, line) for n, line in enumerate(f, start=1) if line.strip()]
  rows = []
  for i, (n, line) in enumerate(lines):
    try:
      rows.append(json.loads(line))
    except json.JSONDecodeError as e:
      if i < len(lines) - 1:
        raise MetricLogError(
            f'{path}, line {n}, is not JSON ({e}). Correct or delete that line; or delete '
            'the file, and a run writes it again from metrics.csv beside it.') from None
      logging.warning('Leaving out the last line of %s (line %d, not JSON: %s).', path, n, e)
  return rows
