"""Training: build a GAN from a config and run it with checkpoints, logs and pictures.

``train_and_evaluate(config, workdir)`` is what ``launch/train.py`` calls. Re-running with
the same workdir resumes from the latest checkpoint, exactly: the data of step ``s`` and
its PRNG key are functions of ``(seed, s)``.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import time

import jax
import ml_collections
import numpy as np
import optax
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
from tqdm import tqdm

from jaxgan import checkpoints, data, losses, models, penalties, plots, step, writers

OPTIMIZERS = {
    'adam': lambda c: optax.adam(c.learning_rate, b1=c.get('b1', 0.9), b2=c.get('b2', 0.999)),
    'rmsprop': lambda c: optax.rmsprop(c.learning_rate),
    'sgd': lambda c: optax.sgd(c.learning_rate),
}


def make_optimizer(config: ml_collections.ConfigDict) -> optax.GradientTransformation:
  """An optax optimizer from ``{name, learning_rate, b1?, b2?}``."""
  if config.name not in OPTIMIZERS:
    raise ValueError(f'Unknown optimizer {config.name!r}; valid names are: '
                     f'{", ".join(OPTIMIZERS)}.')
  return OPTIMIZERS[config.name](config)


def build(config: ml_collections.ConfigDict) -> tuple[step.GAN, data.Pipeline]:
  """The GAN and the input pipeline of ``config``.

  Every name (loss, penalty, model, dataset, optimizer) is checked here, before anything
  is compiled, and the generator's output shape is checked against the data.
  """
  loss_hparams = {k: config.loss[k] for k in losses.hyperparameters(config.loss.name)
                  if k in config.loss} if config.loss.name in losses.names() else {}
  objective = losses.get(config.loss.name, **loss_hparams)
  if config.penalty.name not in ('none', *penalties.names()):
    raise ValueError(f'Unknown penalty {config.penalty.name!r}; valid names are: none, '
                     f'{", ".join(penalties.names())}.')
  generator, discriminator = models.get(config.model.name,
                                        config.model.generator.to_dict(),
                                        config.model.discriminator.to_dict())
  pipeline = data.get(config.data.name, batch_size=config.data.batch_size,
                      n_critic=config.n_critic, seed=config.seed,
                      image_size=config.data.get('image_size') or None,
                      data_dir=config.data.get('data_dir') or None,
                      split=config.data.get('split', 'train'))
  penalty = None
  if config.penalty.name == 'dragan':
    penalty = penalties.get('dragan', scale=config.penalty.get('dragan_scale', 0.5),
                            data_range=pipeline.data_range)
  elif config.penalty.name != 'none':
    penalty = penalties.get(config.penalty.name)
  gan = step.GAN(generator=generator, discriminator=discriminator, objective=objective,
                 g_optimizer=make_optimizer(config.g_optimizer),
                 d_optimizer=make_optimizer(config.d_optimizer), z_dim=config.model.z_dim,
                 penalty=penalty, penalty_weight=float(config.penalty.weight),
                 penalty_every=int(config.penalty.get('every', 1)), n_critic=config.n_critic,
                 weight_clip=float(config.weight_clip), ema_decay=float(config.ema_decay))
  out = jax.eval_shape(lambda: generator.init_with_output(
      jax.random.key(0), jax.numpy.zeros((2, gan.z_dim)), train=False)[0])
  if tuple(out.shape[1:]) != pipeline.element_shape:
    raise ValueError(f'The generator makes samples of shape {tuple(out.shape[1:])} but '
                     f'{pipeline.name!r} has samples of shape {pipeline.element_shape}.')
  return gan, pipeline


def num_train_steps(config: ml_collections.ConfigDict, pipeline: data.Pipeline) -> int:
  """``config.num_steps`` if positive, else ``num_epochs`` over the dataset."""
  if config.num_steps > 0:
    return int(config.num_steps)
  if pipeline.num_examples is None:
    raise ValueError(f'{pipeline.name!r} is sampled on the fly: set config.num_steps.')
  per_step = config.data.batch_size * config.n_critic
  return int(np.ceil(config.num_epochs * pipeline.num_examples / per_step))


def _restore_target(gan: step.GAN, pipeline: data.Pipeline,
                    sharding: jax.sharding.Sharding):
  """Shapes, dtypes and ``sharding`` of the train state (``jax.eval_shape``: no init)."""
  init = functools.partial(step.init_state, gan, element_shape=pipeline.element_shape)
  return checkpoints.abstract_like(jax.eval_shape(init, jax.random.key(0)), sharding)


def _crossed(before: int, after: int, every: int) -> bool:
  return every > 0 and after // every > before // every


class _StopRequest:
  """Turns SIGTERM/SIGINT into a flag so the loop can checkpoint and stop cleanly."""

  def __init__(self):
    self.requested = False
    self._old = {}

  def __enter__(self):
    for sig in (signal.SIGTERM, signal.SIGINT):
      try:
        self._old[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread
        pass
    return self

  def _handle(self, signum, frame):
    logging.warning('Signal %d: saving a checkpoint and stopping.', signum)
    self.requested = True

  def __exit__(self, *exc):
    for sig, old in self._old.items():
      signal.signal(sig, old)


def _write_pictures(gan, pipeline, state, z_eval, workdir, step_no):
  samples = np.asarray(jax.device_get(step.generate(gan, state, z_eval)))
  os.makedirs(os.path.join(workdir, 'samples'), exist_ok=True)
  path = os.path.join(workdir, 'samples', f'step_{step_no:07d}.png')
  if pipeline.modes is not None:
    plots.save_scatter(samples, pipeline.modes, path, f'{pipeline.name}, step {step_no}')
  else:
    plots.save_image_grid(samples[:64], path)
  return path


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> step.GANState:
  """Trains ``config`` in ``workdir`` (resuming if it holds checkpoints).

  Writes ``config.json``, ``checkpoints/``, ``metrics.jsonl``/``.csv``, TensorBoard events,
  ``samples/step_*.png`` (from fixed noise) and ``loss_curves.png``.

  Raises:
    FloatingPointError: a non-finite loss; names the step. The checkpoints on disk are
      all from before it.
    checkpoints.CheckpointError: a checkpoint in the workdir cannot be restored.
  """
  if config.get('distributed', False):
    jax.distributed.initialize()
  gan, pipeline = build(config)
  total = num_train_steps(config, pipeline)
  lead = jax.process_index() == 0
  mesh = step.make_mesh()
  if config.data.batch_size % jax.device_count():
    raise ValueError(f'data.batch_size {config.data.batch_size} is not divisible by the '
                     f'{jax.device_count()} devices.')
  replicated = NamedSharding(mesh, P())
  data_sharding = NamedSharding(mesh, P(None, None, 'data'))
  os.makedirs(workdir, exist_ok=True)

  init = functools.partial(step.init_state, gan, element_shape=pipeline.element_shape)
  init_key = jax.random.key(config.seed)
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'),
                                 keep=config.keep_checkpoints)
  state = ckpt.restore(_restore_target(gan, pipeline, replicated))
  if state is None:
    state = jax.jit(init, out_shardings=replicated)(init_key)
    if lead:
      with open(os.path.join(workdir, 'config.json'), 'w') as f:
        f.write(config.to_json(indent=2))
  else:
    logging.info('Resumed from step %d in %s', int(state.step), ckpt.directory)
  start = int(state.step)

  train_fn = step.compile_train_steps(gan, mesh)
  base_key = jax.random.fold_in(jax.random.key(config.seed), 1)
  z_eval = jax.random.normal(jax.random.fold_in(base_key, -1 % 2**31),
                             (config.num_eval_samples, gan.z_dim))
  writer = writers.MetricWriter(workdir) if lead else None
  per_call = max(1, int(config.get('steps_per_call', 1)))
  pending: list[tuple[int, dict]] = []
  last_saved = ckpt.latest_step()
  bar = tqdm(total=total, initial=start, disable=not lead, unit='step', dynamic_ncols=True)
  t0, s0 = time.perf_counter(), start

  def flush() -> None:
    """Fetches pending metrics, stops on the first non-finite one, writes the log."""
    rows = []
    for first, metrics in jax.device_get(pending):
      for i in range(len(metrics['g_loss'])):
        rows.append((first + i + 1, {k: float(v[i]) for k, v in metrics.items()}))
    pending.clear()
    for s, m in rows:
      if not all(np.isfinite(v) for v in m.values()):
        raise FloatingPointError(
            f'Non-finite loss at step {s}: {m}. Training stopped; the last good checkpoint '
            f'is step {last_saved} in {ckpt.directory}.')
    if rows and writer is not None:
      s, m = rows[-1]
      rate = (s - s0) / max(time.perf_counter() - t0, 1e-9)
      writer.write(s, {**m, 'steps_per_sec': rate})
      bar.set_postfix({k: f'{v:.3f}' for k, v in m.items() if k in ('d_loss', 'g_loss')})

  try:
    with _StopRequest() as stop:
      s = start
      while s < total:
        k = min(per_call, total - s)
        batches = jax.make_array_from_process_local_data(data_sharding,
                                                         pipeline.batches(s, k))
        state, metrics = train_fn(state, batches, base_key)
        pending.append((s, metrics))
        before, s = s, s + k
        bar.update(k)
        stopping = stop.requested  # read once: a signal may arrive during this iteration
        save = _crossed(before, s, config.checkpoint_every) or s == total or stopping
        if save or _crossed(before, s, config.log_every):
          flush()
        if lead and (_crossed(before, s, config.eval_every) or s == total):
          _write_pictures(gan, pipeline, state, z_eval, workdir, s)
        if save:
          ckpt.save(s, state)
          ckpt.wait()  # the next step donates the state's buffers
          last_saved = s
        if stopping:
          break
  finally:
    bar.close()
    ckpt.close()
    if writer is not None:
      writer.close()
      plots.save_loss_curves(writers.read_jsonl(writer.jsonl_path),
                             os.path.join(workdir, 'loss_curves.png'))
  return state


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in ``workdir`` was started with."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir} a jaxgan workdir?')
  with open(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def restore_for_inference(workdir: str) -> tuple[step.GAN, data.Pipeline, step.GANState]:
  """The GAN, pipeline and latest state of a run in ``workdir``."""
  config = load_config(workdir)
  gan, pipeline = build(config)
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'))
  state = ckpt.restore(_restore_target(gan, pipeline, NamedSharding(step.make_mesh(), P())))
  ckpt.close()
  if state is None:
    raise FileNotFoundError(f'No checkpoint in {ckpt.directory}.')
  return gan, pipeline, state


def sample_latest(workdir: str, num_samples: int, seed: int = 0,
                  batch_size: int = 1000) -> tuple[np.ndarray, data.Pipeline, int, bool]:
  """Samples of the latest checkpoint of ``workdir`` in data space.

  Returns:
    ``(samples [num_samples, ...] float32, pipeline, step, use_ema)``; the EMA weights are
    used when the run has an EMA (``ema_decay > 0``); batch ``i`` of noise comes from
    ``fold_in(key(seed), i)``.
  """
  gan, pipeline, state = restore_for_inference(workdir)
  use_ema = float(load_config(workdir).ema_decay) > 0
  gen = jax.jit(lambda s, z: step.generate(gan, s, z, use_ema))
  key = jax.random.key(seed)
  out = []
  for i in range(0, num_samples, batch_size):
    z = jax.random.normal(jax.random.fold_in(key, i),
                          (min(batch_size, num_samples - i), gan.z_dim))
    out.append(np.asarray(gen(state, z), np.float32))
  return np.concatenate(out), pipeline, int(state.step), use_ema
