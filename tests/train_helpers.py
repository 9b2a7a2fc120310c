"""What the training-loop tests share: the repository root, a subprocess environment, the
small toy config as a ConfigDict and as launcher flags, a small BatchNorm config, the steps
saved in a workdir, its TensorBoard events, and the lines a terminal shows."""

import os
from collections.abc import Callable
from typing import Any

import ml_collections
import numpy as np

from configs import mlp_mnist, toy2d

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, 'PYTHONPATH': ROOT}


def small_config(**overrides: Any) -> ml_collections.ConfigDict:
  """The toy config, small: 32-wide MLPs, batch 32, 40 steps of 5 per call."""
  c = toy2d.get_config()
  c.model.generator.features = (32, 32)
  c.model.discriminator.features = (32, 32)
  c.data.batch_size = 32
  c.num_steps = 40
  c.steps_per_call = 5
  c.log_every = 5
  c.eval_every = 20
  c.checkpoint_every = 10
  c.num_eval_samples = 100
  for k, v in overrides.items():
    node = c
    *path, last = k.split('.')
    for p in path:
      node = node[p]
    node[last] = v
  return c


def small_batchnorm_config() -> ml_collections.ConfigDict:
  """mlp_mnist (its generator has BatchNorm), small: 16-wide MLPs, batch 16, 4 steps of 2
  per call, no EMA."""
  c = mlp_mnist.get_config()
  c.model.generator.features, c.model.discriminator.features = (16,), (16,)
  c.data.batch_size, c.num_steps, c.steps_per_call, c.ema_decay = 16, 4, 2, 0.0
  c.eval_every, c.checkpoint_every, c.num_eval_samples = 4, 4, 12
  return c


def small_flags(**overrides: Any) -> list[str]:
  """``--config.*`` flags giving :func:`small_config` from configs/toy2d.py."""
  fields = {'model.generator.features': '(32,32)', 'model.discriminator.features': '(32,32)',
            'data.batch_size': 32, 'num_steps': 40, 'steps_per_call': 5, 'log_every': 5,
            'eval_every': 20, 'checkpoint_every': 10, 'num_eval_samples': 100, **overrides}
  return ['--config=configs/toy2d.py'] + [f'--config.{k}={v}' for k, v in fields.items()]


def failing_from(method: Callable[..., Any], first: int,
                 error: Callable[[int], Exception]) -> Callable[..., Any]:
  """``method`` (of ``(self, step, ...)``: a log row's write, a pipeline's batches) raising
  ``error(step)`` from step ``first`` on: a full disk or an unreadable file, for the loop."""
  def failing(self: Any, step: int, *args: Any) -> Any:
    if step >= first:
      raise error(step)
    return method(self, step, *args)
  return failing


def tensorboard_events(wd: str) -> list[Any]:
  """Every event of the TensorBoard files in ``wd/tensorboard``, files in name order (as
  TensorBoard reads them), read as TFRecords by hand: length (8 bytes), its CRC (4), the
  event, its CRC (4)."""
  import glob
  import struct

  from tensorboardX.proto import event_pb2
  events = []
  for path in sorted(glob.glob(os.path.join(wd, 'tensorboard', '*tfevents*'))):
    with open(path, 'rb') as f:
      data = f.read()
    i = 0
    while i < len(data):
      (n,) = struct.unpack('<Q', data[i:i + 8])
      events.append(event_pb2.Event.FromString(data[i + 12:i + 12 + n]))
      i += 16 + n
  return events


def decode_png(data: bytes) -> np.ndarray:
  """The pixels of a PNG file's bytes."""
  import io

  from PIL import Image
  with Image.open(io.BytesIO(data)) as im:
    return np.asarray(im)


def saved_steps(wd: str) -> list[int]:
  """The steps of the checkpoints saved in workdir ``wd``, in order."""
  return sorted(int(s) for s in os.listdir(os.path.join(wd, 'checkpoints')) if s.isdigit())


def terminal_lines(text: str) -> list[str]:
  """The lines a terminal shows for ``text`` (a progress bar's output): after a carriage
  return, what follows overwrites the line from its start. Trailing spaces are dropped."""
  lines = []
  for raw in text.split('\n'):
    line = ''
    for part in raw.split('\r'):
      line = part + line[len(part):]
    lines.append(line.rstrip())
  return lines
