"""The neutral defaults every recipe starts from (the Flax examples' ``default.py``).

A recipe imports this module, calls ``get_config()`` and changes a few fields; no recipe
builds on another recipe. Every field can be overridden on the command line
(``--config.loss.name=hinge``); a field that does not exist is an error listing the
valid ones.

Training length: set exactly one of ``num_steps`` and ``num_epochs`` (> 0; 0 = unset).
One epoch is ``num_examples / (data.batch_size * max(n_critic, 1))`` generator steps.

Components are chosen by name: ``loss.name``, ``penalty.name``, ``model.name``,
``data.name``, ``*_optimizer.name``. A name may carry its keyword arguments inline, e.g.
``--config.loss.name='least_squares(a=-1.0, b=1.0, c=0.0)'``; ``loss.kwargs`` and
``penalty.kwargs`` hold them in a config file.

  python -m launch.train --config=configs/default.py --workdir=/tmp/default \
      --config.num_steps=1000
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0
  # The dataset: its name, the global batch size, and the dataset's own arguments
  # (image_size; for TFDS sets data_dir and split).
  c.data = dict(name='digits', batch_size=128, image_size=28)
  # The model family (jaxgan.models.names()), the noise dimension and the attributes of
  # each module.
  c.model = dict(name='mlp', z_dim=100, generator={}, discriminator={})
  c.dtype = 'float32'  # activations; 'bfloat16' keeps float32 params, states and losses
  c.loss = dict(name='non_saturating', kwargs={})
  # weight: multiplies the penalty (WGAN-GP's lambda; R1/R2: E||grad D||^2, so a paper's
  # gamma, which weights it gamma / 2, is weight = gamma / 2); every: lazy regularization
  # every k steps (weight x k, in the ordinary update: no Adam correction is needed).
  c.penalty = dict(name='none', weight=0.0, every=1, kwargs={})
  c.auxiliary = dict(name='none', kwargs={})  # 'acgan', 'infogan': extra loss terms
  c.augment = ''  # DiffAugment policy, e.g. 'color,translation,cutout'
  c.weight_clip = 0.0  # WGAN weight clipping of the critic to [-c, c] (0: off)
  c.n_critic = 1  # 0: no discriminator (super-resolution's PSNR-oriented pretraining)
  c.adversarial_weight = 1.0  # the weight of the objective's generator loss
  # Super-resolution content loss of G: pixel (l1/mse) and perceptual (VGG19 features at
  # perceptual_layer: 'conv5_4' before, 'relu5_4' after the activation); the VGG19
  # weights file (vgg19-dcbb9e9d.pth or .npz) is needed when perceptual_weight > 0.
  c.content = dict(pixel='l1', pixel_weight=0.0, perceptual_weight=0.0,
                   perceptual_layer='conv5_4', perceptual_criterion='l1', perceptual_scale=1.0,
                   vgg_weights='')
  c.init_from = ''  # a workdir whose generator initializes this run's (two-stage training)
  c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.ema_decay = 0.0  # generator EMA (0: none; samples then use the trained weights)
  c.num_steps = 0
  c.num_epochs = 0.0
  c.steps_per_call = 1  # train steps fused into one compiled call
  c.log_every = 50
  c.eval_every = 500  # sample grids
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.num_eval_samples = 64
  c.allow_config_change = False  # resume a workdir with a different config
  c.distributed = False  # jax.distributed.initialize() for multi-host runs
  return c
