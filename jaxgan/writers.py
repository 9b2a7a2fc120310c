"""Metric writers: TensorBoard event files (scalars and the sample grids),
``metrics.jsonl`` and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import math
import os
import time

import numpy as np
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
    # the JSONL is written again from it rather than the CSV emptied. So is the CSV when
    # it holds more rows up to ``step`` than the JSONL (one emptied or cut short by a
    # crash or a sync tool): the JSONL's rows would replace the CSV's, silently losing them.
    whole = read_jsonl(self.jsonl_path)
    rows = [r for r in whole if r['step'] <= step]
    from_csv = False
    if os.path.exists(self.csv_path):
      jsonl_exists = os.path.exists(self.jsonl_path)
      try:
        csv_rows = [r for r in read_csv(self.csv_path) if r['step'] <= step]
      except MetricLogError as e:
        if not jsonl_exists:
          raise
        with open(self.csv_path, 'rb') as f:
          lines = max(f.read().count(b'\n') - 1, 0)  # its rows, readable or not
        if len(whole) < lines:  # not written over with fewer rows
          raise MetricLogError(
              f'{e} {self.jsonl_path} holds {len(whole)} rows against its {lines}, so it '
              'is not written again from that: correct the row, or move one of the two '
              'aside.') from None
        # The JSONL is the record: a damaged CSV beside it is written again from it.
        logging.warning('Not reading %s (%s); it is written again from %s.', self.csv_path,
                        e, self.jsonl_path)
        csv_rows = []
      steps = [len({r['step'] for r in x}) for x in (csv_rows, rows)]  # not a row twice
      from_csv = not jsonl_exists or steps[0] > steps[1]
      if from_csv and jsonl_exists:
        logging.warning('Resuming the metric logs from %s: it holds %d steps up to step %d, '
                        '%s only %d (emptied or cut short?); %s is written again from it.',
                        self.csv_path, steps[0], step, self.jsonl_path, steps[1],
                        self.jsonl_path)
      if from_csv:
        rows = csv_rows
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

  def write_image(self, step: int, name: str, image: np.ndarray) -> None:
    """Adds ``image`` (uint8 ``[h, w, 3]``, a sample grid) to TensorBoard's images at
    ``step`` (a resume purges it with the rows after its checkpoint)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
      raise ValueError(f'A TensorBoard image is uint8 [h, w, 3]; got {image.dtype} of shape '
                       f'{image.shape}.')
    self._tb.add_image(name, image, int(step), dataformats='HWC')

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


def _read_text(path: str) -> str:
  """The text of a metrics log; :class:`MetricLogError` naming it when it is not UTF-8."""
  try:
    with open(path, newline='') as f:
      return f.read()
  except UnicodeDecodeError as e:
    raise MetricLogError(f'{path} is not a text file ({e}). Restore it, or delete it and '
                         'a run writes it again from the other metrics log beside it.') from None


def read_csv(path: str) -> list[dict]:
  """The rows of a ``metrics.csv`` file as :func:`read_jsonl` gives them: ``step`` an int,
  the other values floats, empty cells left out.

  A last row cut short (no line end, too few cells, or a cell that is not a number) is
  left out with a warning; such a row before it raises :class:`MetricLogError` naming its
  line.
  """
  text = _read_text(path)
  reader = csv.DictReader(text.splitlines())
  records = list(reader)
  rows = []
  for i, r in enumerate(records):
    last = i == len(records) - 1
    try:
      if None in r.values() or None in r or 'step' not in r or (last and not text.endswith('\n')):
        raise ValueError('cut short')
      row = {k: int(v) if k == 'step' else float(v) for k, v in r.items() if v != ''}
      if 'step' not in row:
        raise ValueError('no step')
      rows.append(row)
    except ValueError as e:
      if not last:
        raise MetricLogError(f'{path}, row {i + 1}, is not a metrics row ({e}). Correct '
                             'or delete that row.') from None
      logging.warning('Leaving out the last row of %s (row %d: %s).', path, i + 1, e)
  return rows


def _is_number(v) -> bool:
  # What ``MetricWriter.write`` writes: floats (finite; an older writer wrote NaN and
  # Infinity, which ``json.loads`` reads as floats); an int by hand is a number too.
  return isinstance(v, (int, float)) and not isinstance(v, bool)


def _row_problem(row) -> str | None:
  """Why a parsed line of a ``metrics.jsonl`` file is not a metrics row, or None."""
  if not isinstance(row, dict):
    return f'a JSON {type(row).__name__}, not an object'
  if 'step' not in row:
    return 'no "step"'
  if not isinstance(row['step'], int) or isinstance(row['step'], bool):
    return f'"step" is {row["step"]!r}, not an integer'
  for k, v in row.items():
    if k != 'step' and not _is_number(v):
      return f'"{k}" is {v!r}, not a number'
  return None


def read_jsonl(path: str) -> list[dict]:
  """The rows of a ``metrics.jsonl`` file, or [] when it does not exist.

  Each row is a JSON object of an integer ``step`` and numbers. A last line that is not
  JSON or not such a row (an append cut short: a full disk, a killed process) is left out
  with a warning; a bad line before it raises :class:`MetricLogError` naming it.
  """
  if not os.path.exists(path):
    return []
  lines = [(n, line) for n, line in enumerate(_read_text(path).splitlines(), start=1)
           if line.strip()]
  rows = []
  for i, (n, line) in enumerate(lines):
    try:
      row = json.loads(line)
    except json.JSONDecodeError as e:
      what = f'not JSON ({e})'
    else:
      problem = _row_problem(row)
      if problem is None:
        rows.append(row)
        continue
      what = f'not a metrics row ({problem})'
    if i < len(lines) - 1:
      raise MetricLogError(
          f'{path}, line {n}, is {what}. Correct or delete that line; or delete '
          'the file, and a run writes it again from metrics.csv beside it.')
    logging.warning('Leaving out the last line of %s (line %d, %s).', path, n, what)
  return rows
