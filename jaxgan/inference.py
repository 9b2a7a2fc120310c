"""Inference from a training workdir: its config, its latest (or a kept) state, and samples.

One rule for which weights sample: the EMA generator when the run has an EMA
(``ema_decay > 0``), the trained weights otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging

from jaxgan import build, checkpoints, data, files, models, sharding
from jaxgan import gan as gan_lib
from jaxgan import workdir as workdir_lib
from jaxgan.models import sr
from jaxgan.validation import ConfigError


def _pending_record(workdir: str) -> dict | None:
  """The changed config's record that a run stopped before writing (``config_pending.json``,
  :func:`jaxgan.workdir.write_pending`) when its checkpoint is the latest, else ``None``:
  what the next training run would record (:func:`jaxgan.workdir.settle_pending`)."""
  if not os.path.exists(workdir_lib.pending_path(workdir)):
    return None
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'), read_only=True)
  try:
    latest = ckpt.latest_step()
  finally:
    ckpt.close()
  return workdir_lib.read_pending(workdir, latest)


def load_config(workdir: str, step: int | None = None) -> ml_collections.ConfigDict:
  """The config a run in ``workdir`` was trained with (``config.json``; the pending record
  of a changed resume stopped before writing it, where its checkpoint is the latest).

  With ``step``, the config that trained the checkpoint of that step: where the run was
  resumed with a changed config at step ``T >= step``, the one kept then,
  ``config_before_step_T.json`` (the first kept at the smallest such ``T``: a second
  changed resume at ``T`` keeps the config of a first that saved nothing)."""
  path = os.path.join(workdir, 'config.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} not found: is {workdir} a jaxgan workdir (made by '
                            'python -m launch.train)?')
  pending = _pending_record(workdir)
  if pending is not None and (step is None or step > pending['resumed_at']):
    return ml_collections.ConfigDict(json.loads(pending['config']))
  if step is not None:
    later = [kept for t, _, kept in workdir_lib.kept_configs(workdir) if t >= step]
    path = later[0] if later else path
  return ml_collections.ConfigDict(workdir_lib.read_json(path, keys=()))


def kept_steps(workdir: str) -> list[int]:
  """The steps of the checkpoints a run in ``workdir`` keeps, the oldest first (empty where
  it has saved none); ``FileNotFoundError`` where it is no run (:func:`load_config`)."""
  load_config(workdir)
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'), read_only=True)
  try:
    return ckpt.all_steps()
  finally:
    ckpt.close()


def uses_ema(config: ml_collections.ConfigDict) -> bool:
  """Whether samples come from the EMA weights: when the run keeps an EMA."""
  return float(config.ema_decay) > 0


def is_super_resolution(config: ml_collections.ConfigDict) -> bool:
  """Whether the run's generator maps low-resolution images (SRGAN, ESRGAN)."""
  return models.family(config.model.name).conditioning == 'lowres'


def check_super_resolution(workdir: str) -> None:
  """``ValueError`` unless ``workdir`` holds a super-resolution model (``launch.upscale``)."""
  config = load_config(workdir)
  if not is_super_resolution(config):
    raise ValueError(f'{workdir} holds a {config.model.name!r} model, not a '
                     'super-resolution one (e.g. configs/srgan.py, configs/esrgan.py).')


def data_shapes(workdir: str, config: ml_collections.ConfigDict,
                step: int | None = None) -> data.Pipeline | None:
  """The shapes-only pipeline of a run (:func:`jaxgan.data.shapes_only`): a
  super-resolution run's from its config, any other's from its ``data_shapes.json`` (the
  pending record's, for a ``step`` after a pending changed resume, as
  :func:`load_config`); ``None`` for a run from before that file was written."""
  if is_super_resolution(config):
    return data.sr_shapes(**config.data)
  pending = _pending_record(workdir)
  if pending is not None and step is not None and step <= pending['resumed_at']:
    pending = None
  record = (pending['data_shapes'] if pending is not None
            else workdir_lib.read_data_shapes(workdir))
  return None if record is None else data.from_shapes_record(record)


def restore(workdir: str, with_data: bool = True, step: int | None = None
            ) -> tuple[gan_lib.GAN, data.Pipeline, gan_lib.GANState, ml_collections.ConfigDict]:
  """The GAN, pipeline, latest state (or ``step``'s) and config of a run in ``workdir``.

  Args:
    workdir: a run of ``launch.train``.
    with_data: build the run's input pipeline (evaluation needs its references).
      ``False`` builds its shapes alone (:func:`data_shapes`), so that a model samples or
      upscales on a machine without its training data; a run older than
      ``data_shapes.json`` (not super-resolution) still builds its pipeline.
    step: the checkpoint to restore, one the run keeps (default: the latest), with the
      config that trained it (:func:`load_config`).

  Raises:
    FileNotFoundError: not a workdir, no checkpoint in it, or none of ``step``.
    checkpoints.CheckpointError: the checkpoint cannot be restored.
  """
  config = load_config(workdir, step)
  pipe = None if with_data else data_shapes(workdir, config, step)
  gan, pipe = build.build(config, pipe, warn=False)  # training advice is no use here
  ckpt = checkpoints.Checkpoints(os.path.join(workdir, 'checkpoints'), read_only=True)
  try:
    state = build.restore_state(ckpt, gan, pipe, sharding.replicated(sharding.make_mesh()),
                                config.seed, step)
  finally:
    ckpt.close()
  if state is None:
    raise FileNotFoundError(f'No checkpoint in {ckpt.directory}: the run has not saved one '
                            'yet.')
  return gan, pipe, state, config


def generator_weights(workdir: str) -> tuple[Any, Any]:
  """``(params, batch_stats)`` of the generator a workdir samples with: the EMA weights
  with BatchNorm statistics recomputed for them when the run keeps an EMA
  (:func:`jaxgan.gan.sampling_weights`), else the trained weights and their statistics."""
  gan, _, state, config = restore(workdir, with_data=False)
  return _sampling_weights(gan, state, uses_ema(config))


def _sampling_weights(gan: gan_lib.GAN, state: gan_lib.GANState, use_ema: bool,
                      truncation: float | None = None) -> tuple[Any, Any]:
  """:func:`jaxgan.gan.sampling_weights`, compiled (the EMA's statistics are 50 passes)."""
  return jax.jit(lambda s: gan_lib.sampling_weights(gan, s, use_ema, truncation),
                 compiler_options=sharding.default_compiler_options())(state)


def _check_same_structure(a: Any, b: Any, what: str) -> None:
  """``ConfigError`` (a ``ValueError``: the launchers' one-line error) naming the first
  few parameters that differ (path and shapes), not the whole trees."""
  flat = [{jax.tree_util.keystr(k): tuple(v.shape)
           for k, v in jax.tree_util.tree_leaves_with_path(t)} for t in (a, b)]
  if flat[0] == flat[1]:
    return
  diffs = [f'{k}: {flat[0].get(k, "absent")} vs {flat[1].get(k, "absent")}'
           for k in sorted(set(flat[0]) | set(flat[1])) if flat[0].get(k) != flat[1].get(k)]
  more = f'; and {len(diffs) - 3} more' if len(diffs) > 3 else ''
  raise ConfigError(f'{what}: the generators differ in architecture ({len(flat[0])} vs '
                   f'{len(flat[1])} parameters); {"; ".join(diffs[:3])}{more}.')


def init_weights(workdir: str, like: gan_lib.GANState) -> tuple[Any, Any]:
  """``(params, batch_stats)`` that :func:`init_generator_from` puts in a state like
  ``like`` (which may be abstract, :func:`jaxgan.build.abstract_state`): those of
  :func:`generator_weights`, in ``like``'s block layout, checked to fit its generator.

  Raises:
    FileNotFoundError: ``workdir`` is not a run, or has no checkpoint.
    ValueError: the generators differ in architecture.
  """
  params, stats = generator_weights(workdir)
  params = sr.in_block_layout_of(params, like.g_params)
  _check_same_structure(params, like.g_params, f'init_from={workdir}')
  return params, stats


def init_generator_from(state: gan_lib.GANState, gan: gan_lib.GAN, workdir: str,
                        weights: tuple[Any, Any] | None = None) -> gan_lib.GANState:
  """``state`` with the generator of ``workdir`` (two-stage training, e.g. ESRGAN from its
  PSNR-oriented model): its weights, statistics and EMA, and a fresh optimizer state.
  ``weights``: :func:`init_weights` of ``workdir``, when read already."""
  params, stats = init_weights(workdir, state) if weights is None else weights
  return state.replace(g_params=params, g_stats=stats,
                       ema_params=jax.tree.map(jnp.copy, params),
                       g_opt_state=gan.g_optimizer.init(params))


def interpolate(psnr_workdir: str, gan_workdir: str, alpha: float, out_workdir: str,
                psnr_step: int | None = None, gan_step: int | None = None) -> None:
  """ESRGAN's network interpolation ``(1 - alpha) * psnr + alpha * gan`` of two generators
  of one architecture, written as a new workdir (the GAN run's config, discriminator and
  step; ``interpolation.json`` records the sources). Each run's latest checkpoint, or the
  kept one of ``psnr_step`` / ``gan_step`` (with the config that trained it: the GAN side's
  is the new workdir's). BatchNorm running statistics, where
  the generator has them (SRResNet; RRDBNet has none), are mixed linearly too, which only
  approximates the statistics of the mixed weights. Where the new workdir samples with
  statistics recomputed for its EMA weights (a GAN run with an EMA, a generator with
  BatchNorm that does not take low-resolution images), the PSNR side gives its running
  statistics, from which its own sampling ones are recomputed (given those, the new
  workdir recomputed them a second time), so that ``alpha = 0`` samples as the PSNR run
  when both keep an EMA.

  References:
    Wang et al., ESRGAN, ECCV Workshops 2018, section 3.4.

  Raises:
    ValueError: ``alpha`` outside [0, 1], different architectures, or an ``out_workdir``
      that exists and is not empty (nothing is overwritten).
  """
  if not 0.0 <= alpha <= 1.0:
    raise ValueError(f'alpha must lie in [0, 1]; got {alpha}.')
  _check_empty_or_new(out_workdir)
  psnr_gan, _, psnr_state, psnr_config = restore(psnr_workdir, with_data=False,
                                                 step=psnr_step)
  psnr_params, psnr_stats = _sampling_weights(psnr_gan, psnr_state, uses_ema(psnr_config))
  gan, pipe, state, config = restore(gan_workdir, with_data=False, step=gan_step)
  if uses_ema(config) and gan_lib.recomputes_statistics(gan, state):
    psnr_stats = psnr_state.g_stats  # sampling the new workdir recomputes from these
  record = data.shapes_record(pipe)
  # A folder's held-out files (data.check_held_out), which the shapes alone do not hold.
  held = [(workdir_lib.read_data_shapes(w) or {}).get('held_out_files')
          for w in (gan_workdir, psnr_workdir)]
  if held[0] is not None:
    record['held_out_files'] = held[0]
  if None not in held and held[0] != held[1]:
    logging.warning('%s and %s held out other files of their folder (%s; %s): the '
                    'interpolation is evaluated on the GAN run\'s, some of which the PSNR '
                    'run trained on.', gan_workdir, psnr_workdir, ', '.join(held[0]),
                    ', '.join(held[1]))
  psnr_params = sr.in_block_layout_of(psnr_params, state.g_params)  # the GAN run's layout
  _check_same_structure(psnr_params, state.g_params, 'interpolate')
  mix = lambda a, b: jax.tree.map(lambda x, y: (1.0 - alpha) * x + alpha * y, a, b)
  state = state.replace(g_params=mix(psnr_params, state.g_params),
                        ema_params=mix(psnr_params, state.ema_params),
                        g_stats=mix(psnr_stats, state.g_stats))
  # A failure (a full disk, an interrupt) takes back what was written, and the folder if
  # this made it: no half-written workdir, which looks like a run without checkpoints and
  # which the same command would refuse. (Written in place, not moved there: the target
  # may be a link to an empty folder, or a mount point.)
  _check_empty_or_new(out_workdir)  # again: filled while the runs were read?
  made = not os.path.exists(out_workdir)
  os.makedirs(out_workdir, exist_ok=True)
  try:
    workdir_lib.write_config(out_workdir, config)
    workdir_lib.write_data_shapes(out_workdir, record)
    ckpt = checkpoints.Checkpoints(os.path.join(out_workdir, 'checkpoints'))
    try:
      ckpt.save(int(state.step), state)
    finally:
      ckpt.close()
    # Last: a folder without it is an interpolation cut short (a killed process).
    files.write_json(os.path.join(out_workdir, _INTERPOLATION),
                     {'psnr': os.path.abspath(psnr_workdir),
                      'gan': os.path.abspath(gan_workdir), 'alpha': alpha,
                      'psnr_step': int(psnr_state.step), 'gan_step': int(state.step)})
  except BaseException:
    for name in _WRITES:
      path = os.path.join(out_workdir, name)  # what this call writes, and nothing else
      if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
      elif os.path.lexists(path):
        os.remove(path)
    if made and not os.listdir(out_workdir):
      os.rmdir(out_workdir)
    raise


_INTERPOLATION = 'interpolation.json'  # written last
_WRITES = ('checkpoints', 'config.json', 'data_shapes.json', _INTERPOLATION)


def _check_empty_or_new(folder: str) -> None:
  """``ValueError`` unless ``folder`` is an empty folder or does not exist; for a folder
  that holds part of what :func:`interpolate` writes, but not the file it writes last, the
  message says it may be an interpolation cut short (its files are left as they are)."""
  held = set(os.listdir(folder)) if os.path.isdir(folder) else None
  if os.path.exists(folder) and (held is None or held):
    cut_short = (held is not None and held <= set(_WRITES) - {_INTERPOLATION} and
                 f' It holds part of what an interpolation writes but not {_INTERPOLATION}, '
                 'which it writes last: if it is an interpolation that was cut short (a '
                 'killed process), remove it and run again.')
    raise ValueError(f'{folder} exists and is not an empty folder; choose a new workdir '
                     f'(nothing was written).{cut_short or ""}')


def _whole(x: np.ndarray) -> bool:
  """Whether every value of ``x`` is a whole number (a class or category; 2.7 is not 2)."""
  return bool(np.all(x == np.round(x)))


def check_labels(gan: gan_lib.GAN, labels: np.ndarray | None) -> None:
  """``ValueError`` unless ``labels`` fit the model: required (whole class numbers
  ``[n]`` in ``[0, K)``) for class-conditional models, refused for the others."""
  latent = gan.latent
  conditional = latent.conditioning in ('labels', 'generator_labels')
  if conditional and labels is None:
    raise ValueError(f'This model is class-conditional ({latent.num_classes} classes): give '
                     'labels (e.g. --labels=all or --labels=3).')
  if not conditional and labels is not None:
    raise ValueError('This model is not class-conditional: it takes no labels.')
  if labels is not None and (labels.ndim != 1 or not _whole(labels)):
    raise ValueError(f'labels must be whole class numbers [num_samples]; got {labels.dtype} '
                     f'of shape {labels.shape}.')  # 2.7 would be class 2
  if labels is not None and labels.size and (labels.min() < 0
                                             or labels.max() >= latent.num_classes):
    raise ValueError(f'Labels must lie in [0, {latent.num_classes}); got '
                     f'{_outside(labels, latent.num_classes)}.')


def _outside(values: np.ndarray, k: int) -> str:
  """The values outside ``[0, k)``, each once, the first five: ``'12'``, ``'-1, 12'``."""
  bad = np.unique(values[(values < 0) | (values >= k)])
  return ', '.join(str(int(v)) for v in bad[:5]) + (f' and {len(bad) - 5} more'
                                                     if len(bad) > 5 else '')


def check_codes(gan: gan_lib.GAN, codes: dict[str, np.ndarray] | None) -> None:
  """``ValueError`` unless ``codes`` fit the model: InfoGAN models only, a categorical
  code in ``[0, K)`` (``jax.nn.one_hot`` would turn any other into a zero vector, a
  code the generator never saw in training)."""
  if codes is None:
    return
  latent = gan.latent
  if latent.conditioning != 'codes':
    raise ValueError('--codes is for InfoGAN models; this model has no codes.')
  unknown = set(codes) - {'categorical', 'continuous'}
  if unknown:
    raise ValueError(f"InfoGAN codes are 'categorical' and 'continuous'; got {sorted(unknown)}.")
  cat = codes.get('categorical')
  cat = None if cat is None else np.asarray(cat)
  if cat is not None and not _whole(cat):  # 2.7: a zero one-hot
    raise ValueError('Categorical codes must be whole category numbers; got '
                     f'{cat.dtype} values such as {cat.flat[0]}.')
  if cat is not None and cat.size and (cat.min() < 0 or cat.max() >= latent.num_categorical):
    raise ValueError(f'Categorical codes must lie in [0, {latent.num_categorical}); got '
                     f'{_outside(cat, latent.num_categorical)}.')
  cont = codes.get('continuous')
  # Not only wrong: XLA:CPU's dot fusion (sharding.CPU_COMPILER_OPTIONS) turns a NaN input
  # of relu(x @ w) into 0, so the samples would come out finite.
  if cont is not None and not np.all(np.isfinite(np.asarray(cont, np.float64))):
    raise ValueError('Continuous codes must be finite numbers; got a NaN or an infinity.')


NOISE_BLOCK = 1000  # samples whose noise is drawn from one key (see sample())


def check_truncation(truncation: float | None) -> None:
  """``ValueError`` unless ``truncation`` is ``None`` or a finite number > 0."""
  if truncation is not None and not (np.isfinite(truncation) and truncation > 0):
    raise ValueError(f'truncation must be a finite number > 0 (the noise is truncated to '
                     f'[-truncation, truncation]); got {truncation}.')


def noise(gan: gan_lib.GAN, num_samples: int, seed: int = 0,
          truncation: float | None = None) -> tuple[np.ndarray, Any]:
  """The generator inputs ``(z, y)`` of samples ``0 .. num_samples - 1`` of ``seed`` (as
  NumPy arrays), as :func:`sample` draws them: from ``i = 0, 1000, 2000, ...`` on
  (:data:`NOISE_BLOCK`), :func:`jaxgan.gan.sample_latent` of ``fold_in(key(seed), i)``."""
  check_truncation(truncation)
  key = jax.random.key(seed)
  blocks = [gan_lib.sample_latent(gan.latent, jax.random.fold_in(key, i),
                                  min(NOISE_BLOCK, num_samples - i), truncation=truncation)
            for i in range(0, num_samples, NOISE_BLOCK)]
  return jax.tree.map(lambda *b: np.concatenate(b), *blocks)


def sample(gan: gan_lib.GAN, state: gan_lib.GANState, num_samples: int, use_ema: bool,
           seed: int = 0, batch_size: int = 1000, labels: np.ndarray | None = None,
           codes: dict[str, np.ndarray] | None = None,
           truncation: float | None = None,
           inputs: tuple[np.ndarray, Any] | None = None) -> np.ndarray:
  """``[num_samples, ...]`` float32 samples, generated ``batch_size`` at a time;
  ``labels[num_samples]`` for class-conditional models, ``codes`` (InfoGAN) overriding the
  drawn codes where given; ``truncation`` (> 0) draws the noise from ``N(0, I)``
  truncated to ``[-truncation, truncation]`` (:func:`jaxgan.gan.sample_latent`), the EMA
  weights' BatchNorm statistics recomputed on such noise
  (:func:`jaxgan.gan.sampling_weights`).

  The noise does not depend on ``batch_size``: the samples from ``i = 0, 1000, 2000, ...``
  on (:data:`NOISE_BLOCK`) draw theirs from ``fold_in(key(seed), i)`` (:func:`noise`), so
  sample ``j`` is the same whatever the batch size (up to float rounding of differently
  sized programs). ``inputs``: the ``(z, y)`` to generate from instead (``num_samples``
  rows, e.g. :func:`jaxgan.latent_walk.walk`'s); ``seed`` is then unused.
  """
  if gan.latent.conditioning == 'lowres':
    raise ValueError('This is a super-resolution model: it upscales images rather than '
                     'sampling from noise. Use python -m launch.upscale --workdir=DIR '
                     '--input=IMAGE --output=IMAGE.')
  labels = None if labels is None else np.asarray(labels)
  codes = None if codes is None else {k: np.asarray(v) for k, v in codes.items()}
  check_codes(gan, codes)  # first: codes given to a class-conditional model say what is wrong
  check_labels(gan, labels)
  if num_samples < 1:
    raise ValueError(f'num_samples must be at least 1; got {num_samples}.')
  given = {'labels': labels, **{f'codes[{k!r}]': v for k, v in (codes or {}).items()}}
  for name, a in given.items():  # one per sample: not dropped or run short silently
    if a is not None and (a.ndim < 1 or len(a) != num_samples):
      raise ValueError(f'{name} has shape {a.shape}: give one per sample, '
                       f'{num_samples} (num_samples) rows.')
  if batch_size < 1:
    raise ValueError(f'batch_size must be at least 1; got {batch_size}.')
  check_truncation(truncation)
  options = sharding.default_compiler_options()
  # The EMA's standing statistics once, not in every batch, where the state lies; then each
  # batch is split over this process's devices (sharding.put_rows), the weights copied to
  # each.
  mesh = sharding.local_mesh()
  weights = jax.device_put(_sampling_weights(gan, state, use_ema, truncation),
                           sharding.replicated(mesh))
  gen = jax.jit(lambda w, z, y: gan_lib.apply_generator(gan, *w, z, y),
                compiler_options=options)
  if inputs is None:
    z_all, y_all = noise(gan, num_samples, seed, truncation)
  else:
    z_all, y_all = inputs
    if len(z_all) != num_samples:
      raise ValueError(f'inputs hold {len(z_all)} noise rows; num_samples is {num_samples}.')
  out = []
  for i in range(0, num_samples, batch_size):
    rows = slice(i, i + batch_size)
    z, y = jax.tree.map(lambda a, rows=rows: a[rows], (z_all, y_all))
    if labels is not None:
      y = np.asarray(labels[rows], np.int32)
    if codes is not None:
      y = {**y, **{k: np.asarray(v[rows]) for k, v in codes.items()}}
    (z, y), n = sharding.put_rows((z, y), mesh)
    out.append(np.asarray(gen(weights, z, y), np.float32)[:n])
  return np.concatenate(out)


def sample_latest(workdir: str, num_samples: int, seed: int = 0, batch_size: int = 1000,
                  labels: np.ndarray | None = None,
                  codes: dict[str, np.ndarray] | None = None,
                  step: int | None = None) -> dict[str, Any]:
  """Samples of the latest checkpoint of ``workdir`` (or of the kept one of ``step``:
  :func:`restore`) in data space.

  Returns:
    ``{'samples': [num_samples, ...] float32, 'pipeline' (the run's data shapes: see
    :func:`restore` with ``with_data=False``), 'step', 'ema', 'gan'}``.
  """
  gan, pipe, state, config = restore(workdir, with_data=False, step=step)
  use_ema = uses_ema(config)
  x = sample(gan, state, num_samples, use_ema, seed, batch_size, labels, codes)
  return {'samples': x, 'pipeline': pipe, 'step': int(state.step), 'ema': use_ema, 'gan': gan}
