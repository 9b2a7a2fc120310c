"""Building a run from its config: the GAN, the input pipeline, the training length, the
initial state and the PRNG key schedule.

Training (:mod:`jaxgan.train`), inference (:mod:`jaxgan.inference`) and several seeds
trained at once (:mod:`jaxgan.seeds`) all build through here, so that each of these is
derived in one place. Every name (objective, penalty, model, dataset, optimizer) is
resolved by its registry, and the generator's output shape is checked against the data,
before anything is compiled.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import optax
from absl import logging

from jaxgan import checkpoints, content, data, losses, models, optimizers, penalties, registry
from jaxgan import gan as gan_lib
from jaxgan.validation import ConfigError

DTYPES = {'float32': jnp.float32, 'bfloat16': jnp.bfloat16}
# The models' fields that size a layer (a zero width failed in an initializer, dividing
# by its fan-in, with a ZeroDivisionError traceback).
WIDTH_FIELDS = frozenset({'width', 'features', 'hidden', 'q_hidden', 'channels', 'growth',
                          'ngf', 'ndf', 'embed_dim', 'bottom_width'})
# The fields that count layers or blocks (a negative count was a model of none, silently).
COUNT_FIELDS = frozenset({'num_blocks', 'num_layers'})


def optimizer(config: ml_collections.ConfigDict,
              updates_per_step: int = 1) -> optax.GradientTransformation:
  """The optax optimizer of ``{name, learning_rate, schedule, ...}``: ``schedule`` (default
  ``'constant'``) scales the learning rate over train steps
  (:func:`jaxgan.optimizers.schedule`; the optimizer updates ``updates_per_step`` times
  per train step); the other fields are the optax function's keyword arguments."""
  config = dict(config)
  spec = config.pop('schedule', 'constant')
  if 'learning_rate' in config:
    config['learning_rate'] = optimizers.schedule(spec, config['learning_rate'],
                                                  updates_per_step)
  elif spec != 'constant':
    raise ConfigError(f'The optimizer has schedule {spec!r} but no learning_rate to scale.')
  return optimizers.get(config.pop('name'), **config)


def schedule_warnings(config: ml_collections.ConfigDict, steps: int) -> list[str]:
  """A line for each optimizer whose learning-rate schedule is still changing when a run
  of ``steps`` train steps ends (:func:`jaxgan.optimizers.schedule_outlasts`; e.g. a linear
  decay over 100k steps in a 50k-step run never reaches its end value). The critic's is
  not checked when ``n_critic = 0`` trains no critic."""
  fields = ('g_optimizer', 'd_optimizer') if config.n_critic else ('g_optimizer',)
  specs = {field: config[field].get('schedule', 'constant') for field in fields}
  lines = []
  for spec in dict.fromkeys(specs.values()):  # one line for a schedule both players share
    why = optimizers.schedule_outlasts(spec, steps)
    if why:
      named = ' and '.join(f'config.{f}.schedule' for f, s in specs.items() if s == spec)
      lines.append(f'{named} = {spec!r} in a run of {steps} train steps: {why}')
  return lines


def pipeline(config: ml_collections.ConfigDict, seed: int | None = None) -> data.Pipeline:
  """The input pipeline of ``config.data`` (``{name, batch_size, ...dataset arguments}``)."""
  kwargs = dict(config.data)
  name, batch_size = kwargs.pop('name'), kwargs.pop('batch_size')
  return data.get(name, batch_size=batch_size, n_critic=max(config.n_critic, 1),
                  seed=config.seed if seed is None else seed, **kwargs)


def _tuples(value: Any) -> Any:
  """``value`` with every list a tuple: a module attribute given as a list (a study
  group's ``model`` dict) would make the module, and so the GAN, unhashable."""
  return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def _modules(config: ml_collections.ConfigDict):
  """The generator and discriminator modules, with ``config.dtype`` as their dtype."""
  if config.dtype not in DTYPES:
    raise ConfigError(f'config.dtype must be one of {", ".join(DTYPES)}; got {config.dtype!r}.')
  family = models.family(config.model.name)
  kwargs = []
  for part, cls, given in (('generator', family.generator, config.model.generator),
                           ('discriminator', family.discriminator,
                            config.model.discriminator)):
    given = {k: _tuples(v) for k, v in dict(given).items()}  # hashable modules (a jit key)
    for field in WIDTH_FIELDS & set(given):
      value = given[field]
      widths = value if isinstance(value, (tuple, list)) else (value,)
      if not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths):
        raise ConfigError(f'config.model.{part}.{field} = {value!r}: a layer width, '
                          + ('each an integer >= 1.' if widths is value else 'an integer >= 1.'))
    for field in COUNT_FIELDS & set(given):
      value = given[field]
      if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ConfigError(f'config.model.{part}.{field} = {value!r}: a number of layers or '
                          'blocks, an integer >= 0.')
    shape = given.get('output_shape')
    if shape is not None and not (isinstance(shape, tuple) and shape and all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)):
      raise ConfigError(f'config.model.{part}.output_shape = {shape!r}: the shape of one '
                        'sample, integers >= 1 such as (28, 28, 1).')
    if 'dtype' in registry.parameters(cls):
      given.setdefault('dtype', DTYPES[config.dtype])
    kwargs.append(given)
  generator, discriminator = models.get(config.model.name, *kwargs)
  return family, generator, discriminator


def _latent(config: ml_collections.ConfigDict, family: models.Family,
            generator: Any, discriminator: Any, pipe: data.Pipeline) -> gan_lib.Latent:
  sr_models = [n for n in models.names() if models.family(n).conditioning == 'lowres']
  if family.conditioning == 'lowres' and not pipe.lowres_shape:
    raise ConfigError(
        f'Model {config.model.name!r} upscales low-resolution images, but dataset '
        f'{pipe.name!r} has no low-resolution inputs: use a super-resolution dataset '
        "(e.g. 'folder' with crop_size and scale, 'div2k').")
  if family.conditioning != 'lowres' and pipe.lowres_shape:
    raise ConfigError(
        f'Model {config.model.name!r} makes images from noise, but dataset {pipe.name!r} '
        'pairs low- and high-resolution crops (super-resolution): use a super-resolution '
        f'model ({", ".join(sr_models)}), or a dataset of images (a folder of your own: '
        '"images(path=\'DIR\')").')
  if family.conditioning != 'lowres' and int(config.model.z_dim) < 1:
    raise ConfigError(f'config.model.z_dim = {config.model.z_dim}: model '
                      f'{config.model.name!r} draws noise z, so it needs z_dim >= 1.')
  if family.conditioning == 'codes':
    for field, least in (('num_categories', 1), ('num_continuous', 0)):
      if int(getattr(generator, field)) < least:
        raise ConfigError(f'config.model.generator.{field} = {getattr(generator, field)}: '
                          f'model {config.model.name!r} needs {field} >= {least}.')
  latent = gan_lib.Latent(conditioning=family.conditioning, z_dim=int(config.model.z_dim),
                          num_classes=int(getattr(generator, 'num_classes', 0)),
                          num_categorical=int(getattr(generator, 'num_categories', 0)),
                          num_continuous=int(getattr(generator, 'num_continuous', 0)))
  if family.conditioning in ('labels', 'generator_labels'):
    if not pipe.num_classes:
      hint = (' A folder gives one class per sub-folder with labels=True: '
              f'{_data_flag(config, "labels", True)}.' if pipe.name == 'images' else '')
      raise ConfigError(f'Model {config.model.name!r} is class-conditional but dataset '
                        f'{pipe.name!r} has no labels.{hint}')
    if latent.num_classes != pipe.num_classes:
      n = pipe.num_classes
      raise ConfigError(f'Model {config.model.name!r} has num_classes={latent.num_classes} '
                        f'but dataset {pipe.name!r} has {n} classes: set '
                        f'--config.model.generator.num_classes={n} '
                        f'--config.model.discriminator.num_classes={n}.')
  # The critic reads the generator's labels or codes: a label >= its own count would be
  # an out-of-range embedding or class logit (NaN at the first step), not an error.
  for field, value in (('num_classes', latent.num_classes),
                       ('num_categories', latent.num_categorical)):
    d_value = getattr(discriminator, field, None)
    if value and d_value is not None and int(d_value) != value:
      raise ConfigError(
          f'Model {config.model.name!r}: the discriminator has {field}={d_value} but the '
          f'generator has {value}; set config.model.discriminator.{field} to {value}.')
  return latent


# Families whose generator's conditioning reaches the images only through an auxiliary
# term (ACGAN's class head, InfoGAN's Q head): what it is, the term, another way.
_NEEDS_AUXILIARY = {
    'generator_labels': ('labels', 'acgan', ' (or --config.model.name=cgan, whose '
                         'discriminator reads the labels)'),
    'codes': ('codes', 'infogan', ''),
}


def _auxiliary(config: ml_collections.ConfigDict):
  name = config.auxiliary.name
  if registry.spec_name(name) == 'none':
    if config.auxiliary.kwargs:
      raise ConfigError(f'config.auxiliary.kwargs = {dict(config.auxiliary.kwargs)!r} are '
                        "arguments of no auxiliary term: config.auxiliary.name is 'none'.")
  from jaxgan import auxiliary
  return auxiliary.get(name, **config.auxiliary.kwargs)


def _check_auxiliary(config: ml_collections.ConfigDict, aux: Any, heads: dict,
                     y: Any) -> None:
  """A config error unless the auxiliary terms take the discriminator's heads and the
  generator's conditioning (shapes only: e.g. ACGAN needs a ``class_logits`` head)."""
  try:
    jax.eval_shape(lambda h, c: (aux.discriminator_term(h, h, c, c), aux.generator_term(h, c)),
                   heads, y)
  except ValueError as e:
    raise ConfigError(f'config.auxiliary.name = {config.auxiliary.name!r} with config.model '
                      f'({config.model.name!r}): {e}') from None


def _augment(config: ml_collections.ConfigDict):
  if not config.augment:
    return None
  from jaxgan import augment
  return augment.make_augment(config.augment)


def _content(config: ml_collections.ConfigDict):
  c = config.content
  if not (c.pixel_weight or c.perceptual_weight):
    return None
  features_fn = None
  if c.perceptual_weight:
    from jaxgan.models import vgg
    network = vgg.VGG19Features(layers=(c.perceptual_layer,), dtype=DTYPES[config.dtype])
    features_fn = network.apply
  return content.make(features_fn, pixel=c.pixel, pixel_weight=float(c.pixel_weight),
                      perceptual_weight=float(c.perceptual_weight),
                      perceptual_layer=c.perceptual_layer,
                      perceptual_criterion=c.perceptual_criterion,
                      perceptual_scale=float(c.perceptual_scale))


def _check_perceptual_input(config: ml_collections.ConfigDict, pipe: data.Pipeline) -> None:
  """A perceptual loss on data other than RGB images (VGG19 takes ``[H, W, 3]``), or on
  images too small for its VGG19 layer (empty features: NaN), is a :class:`ConfigError`
  naming the shape or size needed."""
  c = config.content
  if not c.perceptual_weight:
    return
  if len(pipe.element_shape) != 3 or pipe.element_shape[-1] != 3:
    raise ConfigError(
        f'config.content.perceptual_weight = {c.perceptual_weight!r}: a perceptual loss '
        f'compares VGG19 features of RGB images [H, W, 3]; {pipe.name!r} has samples of '
        f'shape {pipe.element_shape}. Leave it out: --config.content.perceptual_weight=0.')
  from jaxgan.models import vgg
  need = vgg.min_side((c.perceptual_layer,))
  if min(pipe.element_shape[:2]) < need:
    crops = ''
    if pipe.lowres_shape is not None:  # paired data: its HR crop, a multiple of the scale
      scale = pipe.element_shape[0] // pipe.lowres_shape[0]
      crops = f'larger crops ({_data_flag(config, "crop_size", -(-need // scale) * scale)}) or '
    raise ConfigError(
        f'config.content.perceptual_layer = {c.perceptual_layer!r} needs images of at least '
        f'{need}x{need} pixels (VGG19 block {vgg.block_of(c.perceptual_layer)}); {pipe.name!r} has '
        f'samples of shape {pipe.element_shape}. Use {crops}a shallower layer.')


def frozen_variables(config: ml_collections.ConfigDict) -> dict:
  """The fixed variables of the content loss: ``{'vgg': VGG19}`` when it is perceptual,
  else ``{}``. Raises ``FileNotFoundError`` (naming the file) without the VGG19 weights."""
  if not config.content.perceptual_weight:
    return {}
  from jaxgan.models import vgg
  return {'vgg': vgg.load(config.content.vgg_weights or None)}


def build(config: ml_collections.ConfigDict, pipe: data.Pipeline | None = None, *,
          warn: bool = True) -> tuple[gan_lib.GAN, data.Pipeline]:
  """The GAN and the input pipeline of ``config`` (``pipe`` instead, when given: e.g. the
  shapes-only pipeline of :func:`jaxgan.data.sr_shapes`).

  ``warn``: log the warnings about training choices (a penalty on a batch-normalized
  critic, an EMA of a batch-normalized SR generator); a run restored to sample or evaluate
  passes False.

  Raises:
    ValueError / TypeError: an unknown name or argument (from the registries, listing
      the valid ones); a generator whose samples do not have the data's shape; a
      conditional model on unlabelled data.
  """
  objective = losses.get(config.loss.name, **config.loss.kwargs)
  # The step's penalty sees the critic in inference mode, which couples no examples: the
  # gradient of the summed logits (the penalties' default) is each example's own.
  penalty = penalties.get(config.penalty.name, **config.penalty.kwargs)
  family, generator, discriminator = _modules(config)
  if (registry.spec_name(config.auxiliary.name) == 'none'
      and family.conditioning in _NEEDS_AUXILIARY):
    what, name, instead = _NEEDS_AUXILIARY[family.conditioning]
    raise ConfigError(
        f"config.model.name = {config.model.name!r} with config.auxiliary.name = 'none': "
        f"its discriminator never sees the generator's {what}; only the auxiliary term ties "
        f'them to the images, so they would be ignored and its head never trained. Set '
        f'--config.auxiliary.name={name}{instead}.')
  pipe = pipeline(config) if pipe is None else pipe
  _check_perceptual_input(config, pipe)
  gan = gan_lib.GAN(
      generator=generator, discriminator=discriminator, objective=objective,
      g_optimizer=optimizer(config.g_optimizer),
      d_optimizer=optimizer(config.d_optimizer, max(int(config.n_critic), 1)),
      latent=_latent(config, family, generator, discriminator, pipe), penalty=penalty,
      penalty_weight=float(config.penalty.weight), penalty_every=int(config.penalty.every),
      n_critic=int(config.n_critic), weight_clip=float(config.weight_clip),
      ema_decay=float(config.ema_decay), auxiliary=_auxiliary(config),
      augment=_augment(config), content=_content(config),
      adversarial_weight=float(config.adversarial_weight))
  (z, y), (x, y_d) = gan_lib.example_inputs(gan, pipe.element_shape, pipe.lowres_shape)
  d_out = d_vars = None  # a generator trained alone (n_critic = 0) has no discriminator
  try:  # shapes only: a model's own checks (sizes, norms, layouts) as a config error
    out, g_vars = jax.eval_shape(lambda: generator.init_with_output(
        jax.random.key(0), *((z,) if y is None else (z, y)), train=False))
    if gan.n_critic:
      d_out, d_vars = jax.eval_shape(lambda: discriminator.init_with_output(
          jax.random.key(0), *((x,) if y_d is None else (x, y_d)), train=False))
  except ConfigError:
    raise
  except ValueError as e:
    raise ConfigError(f'config.model ({config.model.name!r}) on {pipe.name!r}: {e}') from None
  if gan.auxiliary is not None and d_out is not None:
    _check_auxiliary(config, gan.auxiliary, gan_lib.split_output(d_out)[1], y)
  if gan.augment is not None and len(pipe.element_shape) != 3:
    raise ConfigError(f'config.augment = {config.augment!r} augments images [H, W, C]; '
                      f'{pipe.name!r} has samples of shape {pipe.element_shape}. Leave '
                      "config.augment empty ('').")
  if warn and gan.content is not None and pipe.lowres_shape is None:
    logging.warning(
        'config.content (pixel_weight %s, perceptual_weight %s) on %r: a content loss '
        'compares each generated image with its own target, and only paired '
        '(super-resolution) data has one; here each generated sample is compared with an '
        'unrelated real one of its batch, which pulls the samples toward their mean.',
        config.content.pixel_weight, config.content.perceptual_weight, pipe.name)
  if warn and penalty is not None and gan.n_critic and _has_batch_norm(d_vars):
    logging.warning(
        'config.penalty %r on a critic with batch normalization (%r): the penalty is taken '
        'in inference mode, at the running statistics, while the losses train the critic '
        'on batch statistics, so the function penalized is not the one trained. Gulrajani '
        'et al. (2017) leave batch normalization out of a penalized critic: e.g. '
        "--config.model.discriminator.norm=layer (or 'none', 'spectral').",
        config.penalty.name, config.model.name)
  if (warn and gan.latent.conditioning == 'lowres' and config.ema_decay > 0
      and _has_batch_norm(g_vars)):
    logging.warning(
        'config.ema_decay %s with a super-resolution generator with batch normalization '
        '(%r): its samples, pictures and evaluation pair the EMA weights with the trained '
        "weights' running statistics (standing statistics are recomputed for generators of "
        'noise only). Use --config.ema_decay=0, or a generator without batch normalization '
        '(RRDBNet).', config.ema_decay, config.model.name)
  if tuple(out.shape[1:]) != pipe.element_shape:
    scale = getattr(generator, 'scale', None)
    hint = (f' The generator upscales {scale}x (config.model.generator.scale) and '
            f'{pipe.name!r} pairs its crops at '
            f'{pipe.element_shape[0] // pipe.lowres_shape[0]}x (config.data.scale): set both '
            'to one scale.'
            if family.conditioning == 'lowres' and scale else '')  # _latent: lowres_shape set
    made, has = tuple(out.shape[1:]), pipe.element_shape
    if pipe.name == 'images' and made[:-1] == has[:-1] and made[-1] in (1, 3):
      hint = (f' The generator makes {made[-1]} channel(s): read the folder with '
              f'channels={made[-1]}, {_data_flag(config, "channels", made[-1])}.')
    raise ConfigError(f'The generator makes samples of shape {tuple(out.shape[1:])} but '
                      f'{pipe.name!r} has samples of shape {pipe.element_shape}.{hint}')
  return gan, pipe


def _data_flag(config: ml_collections.ConfigDict, key: str, value: Any) -> str:
  """The flag that sets the data argument ``key`` to ``value``, for a hint: its own field
  where ``config.data`` has one, else the data spec ``name(k=v, ...)`` with it set."""
  if key in config.data:
    return f'--config.data.{key}={value}'
  name, kwargs = registry.parse_spec(str(config.data.name))
  args = [f'{k}={v!r}' for k, v in kwargs.items() if k != key]
  return f'--config.data.name="{name}({", ".join([*args, f"{key}={value}"])})"'


def _has_batch_norm(variables: Any) -> bool:
  """Whether a module's variables hold BatchNorm running statistics (``mean`` and ``var``
  leaves of ``batch_stats``; spectral norm keeps its ``u`` and ``sigma`` there too)."""
  leaves = jax.tree_util.tree_leaves_with_path(variables.get('batch_stats', {}))
  return any(getattr(path[-1], 'key', None) in ('mean', 'var') for path, _ in leaves)


@dataclasses.dataclass(frozen=True)
class Length:
  """How long a run trains: ``steps`` generator steps of ``examples_per_step`` real
  examples (``batch_size * n_critic``), ``epochs`` passes over ``num_examples``; a length
  asked in epochs keeps the number asked, ``asked_epochs``, which whole steps round up."""
  steps: int
  examples_per_step: int
  num_examples: int | None
  epochs: float | None
  asked_epochs: float | None = None

  def describe(self) -> str:
    if self.num_examples is None:
      return (f'{self.steps} steps of {self.examples_per_step} examples (data sampled on '
              'the fly, no epochs)')
    rounded = (f'; num_epochs={self.asked_epochs:.4g} rounded up to whole steps'
               if self.asked_epochs is not None and f'{self.asked_epochs:.4g}'
               != f'{self.epochs:.4g}' else '')
    return (f'{self.steps} steps = {self.epochs:.4g} epochs of {self.num_examples} examples '
            f'({self.examples_per_step} examples per step{rounded})')


def training_length(config: ml_collections.ConfigDict, pipe: data.Pipeline) -> Length:
  """The one rule for the training length: exactly one of ``config.num_steps`` and
  ``config.num_epochs`` is set (> 0; 0 = unset).

  Raises:
    ConfigError: both or neither are set, or epochs of data sampled on the fly.
  """
  steps, epochs = config.num_steps, config.num_epochs
  if (steps > 0) == (epochs > 0):
    raise ConfigError(
        'Set exactly one of config.num_steps and config.num_epochs (0 = unset); got '
        f'num_steps={steps}, num_epochs={epochs}. On the command line, e.g. '
        '--config.num_steps=1000 --config.num_epochs=0.')
  per_step = config.data.batch_size * max(config.n_critic, 1)
  num = pipe.num_examples
  if steps > 0:
    return Length(int(steps), per_step, num, steps * per_step / num if num else None)
  if num is None:
    raise ConfigError(f'{pipe.name!r} is sampled on the fly and has no epochs: set '
                      'config.num_steps (and config.num_epochs=0).')
  steps = int(math.ceil(epochs * num / per_step))
  return Length(steps, per_step, num, steps * per_step / num, float(epochs))


# The PRNG key schedule of a run with seed ``seed``: parameters are initialized from
# ``key(seed)``; train step ``s`` uses ``fold_in(step_base_key(seed), s)``; the fixed
# noise of the sample grids comes from ``fold_in(step_base_key(seed), 2**31 - 1)``.


def init_key(seed: int) -> jax.Array:
  """The key the parameters of a run with ``seed`` are initialized from."""
  return jax.random.key(seed)


def step_base_key(seed: int) -> jax.Array:
  """The base key of the train steps: step ``s`` uses ``fold_in(base, s)``.

  With threefry ``fold_in(key, 1)`` is ``split(key)[1]``, the key :func:`jaxgan.gan.init_state`
  gives the critic's initializers. Flax derives each parameter's key from it by folding in
  a hash of the module path, so no step key is one of them unless a step number equals
  such a 32-bit hash, and a shared draw would only tie one step's noise to one kernel's
  init, not bias training. Kept as it is: another base would change every run's random
  stream, so a workdir of an earlier version would resume on a different stream.
  """
  return jax.random.fold_in(jax.random.key(seed), 1)


def eval_inputs(gan: gan_lib.GAN, pipe: data.Pipeline, seed: int, num: int):
  """The fixed generator inputs ``(z, y)`` of the sample grids: fixed noise, and for
  class-conditional models the labels ``i mod K``, for InfoGAN the categorical code ``i mod
  K`` (its continuous codes drawn), ``K`` = ``Latent.assigned_classes``: the grids have a
  column per class or code. For super-resolution, the LR crops of at most 8 fixed held-out
  pairs (``evaluator_args['sample_pairs']``). The same on every host, as the replicated
  sampling program takes them."""
  key = jax.random.fold_in(step_base_key(seed), 2**31 - 1)
  real = None
  if pipe.lowres_shape:
    real = {'lr': pipe.evaluator_args['sample_pairs'](min(num, 8))[1]}
  z, y = gan_lib.sample_latent(gan.latent, key, num, real)
  k = gan.latent.assigned_classes
  if gan.latent.conditioning == 'codes':  # as launch.sample --codes=all
    y = {**y, 'categorical': jnp.arange(num, dtype=jnp.int32) % k}
  elif k:
    y = jnp.arange(num, dtype=jnp.int32) % k
  return z, y


def init_state(gan: gan_lib.GAN, pipe: data.Pipeline, key: jax.Array) -> gan_lib.GANState:
  """The initial state (parameters from ``key``)."""
  return gan_lib.init_state(gan, key, pipe.element_shape, pipe.lowres_shape)


def abstract_state(gan: gan_lib.GAN, pipe: data.Pipeline,
                   discriminator: bool | None = None) -> gan_lib.GANState:
  """Shapes and dtypes of the state (``jax.eval_shape``: nothing is initialized);
  ``discriminator`` as in :func:`jaxgan.gan.init_state`."""
  return jax.eval_shape(lambda k: gan_lib.init_state(gan, k, pipe.element_shape,
                                                     pipe.lowres_shape, discriminator),
                        jax.random.key(0))


def restore_state(ckpt: checkpoints.Checkpoints, gan: gan_lib.GAN, pipe: data.Pipeline,
                  sharding: jax.sharding.Sharding, seed: int = 0, step: int | None = None
                  ) -> gan_lib.GANState | None:
  """The state of ``step`` (default: the latest) in ``ckpt`` with ``sharding``; ``None``
  when it holds none.

  A generator trained alone (``n_critic = 0``) has no discriminator state (see
  :func:`jaxgan.gan.init_state`). Two checkpoints differ from the config's layout in that
  alone, and restore:
  - one of such a run saved by an older jaxgan, with the untrained discriminator it kept:
    read whole (its discriminator as saved, whatever the config now builds) and the
    discriminator left out;
  - one of a generator trained alone, resumed with a discriminator (a changed resume from
    the PSNR stage to the GAN stage): the discriminator is initialized as a new run of
    ``seed`` initializes it, as the checkpoint would have held it before (the resume
    the other way, which would drop a trained discriminator, is refused:
    :func:`jaxgan.workdir.check_resume_config`).

  Raises:
    checkpoints.CheckpointError: the checkpoint cannot be restored (as
      :meth:`jaxgan.checkpoints.Checkpoints.restore` says).
    FileNotFoundError: ``step`` is given and ``ckpt`` keeps no checkpoint of it.
  """
  if step is None:
    step = ckpt.latest_step()
    if step is None:  # a fresh run: nothing to trace the state's shapes for
      return None
  elif step not in ckpt.all_steps():
    kept = ', '.join(map(str, ckpt.all_steps())) or 'none'
    raise FileNotFoundError(f'No checkpoint of step {step} in {ckpt.directory}; the steps '
                            f'kept are: {kept} (a run keeps its last keep_checkpoints).')
  target = checkpoints.abstract_like(abstract_state(gan, pipe), sharding)
  # Chosen from the checkpoint's metadata (the files every host reads), not from a failed
  # restore: one read, and no restore tried twice. Unreadable metadata reads as ``{}``,
  # and the plain restore then says what is wrong.
  saved = ckpt.saved_tree(step)
  saved_d = bool(jax.tree.leaves(saved.get('d_params', {})))
  if 'g_params' not in saved or saved_d == bool(gan.n_critic):
    return ckpt.restore(target, step)
  # The discriminator's part as saved (whatever the config builds now), then replaced.
  as_saved = lambda name: jax.tree.map(
      lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding), saved.get(name, {}))
  state = ckpt.restore(target.replace(d_params=as_saved('d_params'), d_stats=as_saved('d_stats'),
                                      d_opt_state=as_saved('d_opt_state')), step)
  if not gan.n_critic:
    return state.replace(d_params={}, d_stats={}, d_opt_state=jax.jit(
        lambda: gan.d_optimizer.init({}), out_shardings=sharding)())
  logging.warning('The checkpoint of step %d holds no discriminator (its generator trained '
                  'alone): starting one as a new run of seed %d would.', step, seed)
  d_params, d_stats, d_opt_state = jax.jit(  # the generator's init is left out by XLA
      lambda k: (lambda s: (s.d_params, s.d_stats, s.d_opt_state))(init_state(gan, pipe, k)),
      out_shardings=sharding)(init_key(seed))
  return state.replace(d_params=d_params, d_stats=d_stats, d_opt_state=d_opt_state)
