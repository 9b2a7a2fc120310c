"""ESRGAN: 4x super-resolution with RRDBNet (Wang et al. 2018), in two stages.

``:psnr`` pretrains RRDBNet (23 residual-in-residual dense blocks, 64 features, growth 32,
residual scaling 0.2, no BN, Kaiming x0.1 init) on the pixel L1 loss, Adam 2e-4 halved
every 2x10^5 of 10^6 updates; the GAN stage starts from it (``init_from``) with the
relativistic average GAN (``rasgan``) and ESRGAN's VGG-style discriminator (4x4 stride-2
convolutions down to 4x4, a Dense of 100): content = perceptual loss (VGG19 features
before the activation of conv5_4, L1) with weight 1 + pixel L1 with weight 1e-2,
adversarial weight 5e-3 (the reference code's weights; in jaxgan's conventions pixel 5e-3
and adversarial 2.5e-3, see get_config); Adam 1e-4 (0.9, 0.99, as the code) halved at
50k, 100k, 200k and 300k of 400k updates, batch 16, 128x128 HR crops, bicubic x4 LR
(``:small`` keeps its rates constant). No EMA of the generator, as in the paper (BasicSR's
current ``train_ESRGAN_x4.yml`` keeps one: ``--config.ema_decay=0.999``). Network
interpolation blends the two stages:
``python -m launch.interpolate --psnr=DIR --gan=DIR --alpha=0.8 --workdir=OUT``.

Options (comma-separated after ':'): ``psnr`` (the pretraining stage); ``small`` (2 RRDBs,
32 features, growth 16; a discriminator of width 16; 64x64 crops: trains on 2 CPU
cores); ``offline`` (no VGG19 weights: the perceptual term is replaced by L1 with the
same weight, the pixel term kept).

  python -m launch.train --config=configs/esrgan.py:psnr,small --workdir=/tmp/rrdb_psnr
  python -m launch.train --config=configs/esrgan.py:small,offline --workdir=/tmp/esrgan \
      --config.init_from=/tmp/rrdb_psnr
  python -m launch.interpolate --psnr=/tmp/rrdb_psnr --gan=/tmp/esrgan --alpha=0.8 \
      --workdir=/tmp/esrgan_interp
"""

import ml_collections

from configs import default, parts


def get_config(options: str = '') -> ml_collections.ConfigDict:
  """``options``: comma-separated 'psnr', 'small', 'offline' (see the module docstring)."""
  opts = parts.options(options, ('psnr', 'small', 'offline'))
  c = default.get_config()
  # One crop size and one scale, each shared by the fields that must agree (the
  # discriminator takes the HR crops; the generator upscales by the data's scale): an
  # override of either field sets both.
  crop = ml_collections.FieldReference(64 if 'small' in opts else 128)
  scale = ml_collections.FieldReference(4)
  c.data = dict(name='photos', batch_size=16, crop_size=crop, scale=scale)
  # The papers' 23 RRDBs as one nn.scan (scan_blocks): on an H200 its train state's jitted
  # init takes 14 s instead of 205 s and a step compiles in 6 s instead of 47 s
  # (benchmarks/sr_step.py --scan); its step ran at 2.6-2.7x PyTorch eager there, and at
  # 0.95x the unrolled step on 2 CPU cores. A different parameter layout (stacked blocks;
  # jaxgan.models.sr.stack_rrdbs / unstack_rrdbs convert); the small model compiles fast
  # either way and keeps its layout.
  generator = (dict(num_blocks=2, features=32, growth=16, scan_blocks=False)
               if 'small' in opts else
               dict(num_blocks=23, features=64, growth=32, scan_blocks=True))
  # ESRGAN's VGG-style discriminator (BasicSR's VGGStyleDiscriminator: 4x4 stride-2
  # convolutions down to 4x4, a Dense of 100).
  discriminator = dict(image_size=crop, norm='batch', layout='esrgan', hidden=100)
  if 'small' in opts:
    discriminator.update(width=16)
  c.model = dict(name='esrgan', z_dim=0, generator=dict(scale=scale, **generator),
                 discriminator=discriminator)
  c.loss.name = 'rasgan'
  if 'psnr' in opts:
    c.n_critic, c.adversarial_weight = 0, 0.0
    c.content.update(pixel='l1', pixel_weight=1.0)
    # The paper: 2e-4, halved every 2e5 updates (constant in the short ':small' run);
    # BasicSR's PSNR-stage file instead restarts a cosine every 250k (eta_min 1e-7).
    schedule = ('constant' if 'small' in opts
                else 'multistep(milestones=(200000, 400000, 600000, 800000), gamma=0.5)')
    c.g_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.9, b2=0.99, schedule=schedule)
    c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.9, b2=0.99, schedule=schedule)
    c.num_steps = 3000 if 'small' in opts else 1000000
  else:
    # The paper and BasicSR: 1e-4, halved at 50k, 100k, 200k and 300k of 400k iterations.
    schedule = ('constant' if 'small' in opts
                else 'multistep(milestones=(50000, 100000, 200000, 300000), gamma=0.5)')
    c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.9, b2=0.99, schedule=schedule)
    c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.9, b2=0.99, schedule=schedule)
    # The reference weights (ESRGAN's code, BasicSR: perceptual 1, L1 1e-2 on images in
    # [0, 1], RaGAN 5e-3 on the mean of its two terms) in jaxgan's conventions: L1 on images
    # in [-1, 1] is twice as large, and losses.rasgan sums the two terms (the paper's
    # equation), so both weights halve.
    c.adversarial_weight = 5e-3 / 2
    pixel_weight = 1e-2 / 2
    if 'offline' in opts:
      c.content.update(pixel='l1', pixel_weight=1.0 + pixel_weight)
    else:
      c.content.update(pixel='l1', pixel_weight=pixel_weight, perceptual_weight=1.0,
                       perceptual_layer='conv5_4', perceptual_criterion='l1')
    c.num_steps = 1500 if 'small' in opts else 400000
  c.eval_every = 500
  c.num_eval_samples = 8
  return c
