"""Settings shared by several recipes (a model with its optimizers and schedule); each
function sets them on a config made by ``configs/default.py``. Not a recipe itself."""

import ml_collections


def classic_mlp(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The classic MNIST MLP GAN recipe (a Keras model: glorot_uniform weights).

  G: z(100) -> 128 ReLU -> 128 ReLU -> BatchNorm -> 784 tanh; D: 784 -> 256 ReLU -> 256
  ReLU -> Dropout 0.2 -> 1. Adam (G lr 1e-3, D lr 1e-4, beta1 0.5), batch 128, EMA 0.999.
  """
  c.model = dict(name='mlp', z_dim=100,
                 generator=dict(features=(128, 128), output_shape=(28, 28, 1),
                                batch_norm=True, output_activation='tanh',
                                kernel_init='glorot_uniform'),
                 discriminator=dict(features=(256, 256), dropout=0.2,
                                    kernel_init='glorot_uniform'))
  c.loss.name = 'non_saturating'
  c.g_optimizer = dict(name='adam', learning_rate=1e-3, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.999
  return c


def toy_mlps(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The 2-D toy setup: 3x128 MLPs (LeakyReLU critic), ring8, batch 256, Adam 1e-3
  (0.5, 0.999), EMA 0.999, 50 steps fused per call. The toy is jaxgan's own; its
  weights keep Flax's default lecun_normal, with which its results were measured."""
  c.data = dict(name='ring8', batch_size=256)
  c.model = dict(name='mlp', z_dim=16,
                 generator=dict(features=(128, 128, 128), output_shape=(2,),
                                batch_norm=False, output_activation='linear',
                                kernel_init='lecun_normal'),
                 discriminator=dict(features=(128, 128, 128), dropout=0.0,
                                    activation='leaky_relu', kernel_init='lecun_normal'))
  c.g_optimizer = dict(name='adam', learning_rate=1e-3, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=1e-3, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.999
  c.steps_per_call = 50
  c.log_every = 250
  c.eval_every = 5000
  c.checkpoint_every = 5000
  c.num_eval_samples = 2500
  return c


def dcgan_digits(c: ml_collections.ConfigDict, width: int = 64) -> ml_collections.ConfigDict:
  """The convolutional WGAN-GP digits setup (Gulrajani et al. 2017): DCGAN generator, a
  LayerNorm critic (no batch statistics), z 64, Adam 1e-4 (0.5, 0.9)."""
  c.model = dict(name='dcgan', z_dim=64,
                 generator=dict(image_size=28, channels=1, width=width),
                 discriminator=dict(width=width, num_layers=2, norm='layer'))
  c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.9, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.9, schedule='constant')
  return c


def options(spec: str, valid: tuple[str, ...]) -> set[str]:
  """The comma-separated options of a ``--config=FILE:opt1,opt2`` argument, checked."""
  opts = {o.strip() for o in (spec or '').split(',') if o.strip()}
  unknown = sorted(opts - set(valid))
  if unknown:
    raise ValueError(f'Unknown config option(s) {", ".join(unknown)}; valid: '
                     f'{", ".join(valid)}.')
  return opts


def variant(spec: str, valid: tuple[str, ...]) -> str:
  """The one variant of a ``--config=FILE:variant`` argument ('' = the default), checked."""
  spec = (spec or '').strip()
  if spec not in valid:
    shown = ', '.join(repr(v) if v else "'' (the default)" for v in valid)
    raise ValueError(f'Unknown config variant {spec!r}; valid: {shown}.')
  return spec
