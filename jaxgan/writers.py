"""Metric writers: TensorBoard event files, ``metrics.jsonl`` and ``metrics.csv``."""

from __future__ import annotations

import csv
import json
import os

from tensorboardX import SummaryWriter


class MetricWriter:
  """Appends scalar metrics of a step to TensorBoard, JSONL and CSV in ``workdir``.

  A resumed run appends to the same files, so the curves cover the whole training.
  """

  def __init__(self, workdir: str):
    self.jsonl_path = os.path.join(workdir, 'metrics.jsonl')
    self.csv_path = os.path.join(workdir, 'metrics.csv')
    self._tb = SummaryWriter(os.path.join(workdir, 'tensorboard'))

  def write(self, step: int, metrics: dict[str, float]) -> None:
    row = {'step': int(step), **{k: float(v) for k, v in metrics.items()}}
    for name, value in metrics.items():
      self._tb.add_scalar(name, float(value), int(step))
    with open(self.jsonl_path, 'a') as f:
      f.write(json.dumps(row) + '\n')
    new = not os.path.exists(self.csv_path)
    with open(self.csv_path, 'a', newline='') as f:
      writer = csv.DictWriter(f, fieldnames=list(row))
      if new:
        writer.writeheader()
      writer.writerow(row)

  def close(self) -> None:
    self._tb.close()


def read_jsonl(path: str) -> list[dict]:
  """The rows of a ``metrics.jsonl`` file, or [] when it does not exist."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]
