"""SRGAN: 4x super-resolution with SRResNet (Ledig et al. 2017), in two stages.

``:psnr`` pretrains SRResNet (16 residual blocks with BN, 64 features, two x2 sub-pixel
upsamplings) on the pixel MSE; the GAN stage starts from it (``init_from``) and adds the
SRGAN discriminator with the non-saturating loss: content = the VGG54 perceptual loss
(VGG19 features after the activation of conv5_4, MSE, rescaled by 1/12.75) with weight 1,
adversarial weight 1e-3. Adam (0.9, 0.999), batch 16, 96x96 HR crops, bicubic x4 LR (in
[-1, 1] like the HR targets; the paper scales the LR inputs to [0, 1]); the
rate as the paper's: SRResNet 10^6 updates at 1e-4, SRGAN 10^5 at 1e-4 then 10^5 at 1e-5
(``:small`` keeps 1e-4 throughout).
The 1/12.75 is the paper's, set for its Caffe VGG19 (0-255 inputs); on torchvision's VGG19
(ImageNet-normalized inputs) it weighs the content term ~163x less against the adversarial
one than Lornatang's SRGAN-PyTorch does (scale 1): ``--config.content.perceptual_scale=1.0``.

Options (comma-separated after ':'):
* ``psnr``: the pretraining stage (no discriminator).
* ``small``: the variant that trains on 2 CPU cores (4 blocks, 32 features; a
  discriminator of width 16 and 256 hidden units; 64x64 crops).
* ``offline``: no VGG19 weights at hand: the perceptual term is replaced by the pixel MSE
  with the same weight (the paper's "SRGAN-MSE").
Data: the offline photographs by default (``data.name='photos'``); ``div2k``, any TFDS
image set (``sr_tfds``) or a folder of your own images
(``--config.data.name="folder(path='DIR')"``).

  python -m launch.train --config=configs/srgan.py:psnr,small --workdir=/tmp/srresnet
  python -m launch.train --config=configs/srgan.py:small,offline --workdir=/tmp/srgan \
      --config.init_from=/tmp/srresnet
  python -m launch.train --config=configs/srgan.py:psnr --workdir=/tmp/srresnet_div2k \
      --config.data.name=div2k
  python -m launch.train --config=configs/srgan.py --workdir=/tmp/srgan_div2k \
      --config.data.name=div2k --config.init_from=/tmp/srresnet_div2k \
      --config.content.vgg_weights=vgg19-dcbb9e9d.pth
  python -m launch.evaluate --workdir=/tmp/srgan
  python -m launch.upscale --workdir=/tmp/srgan --input=photo.jpg --output=photo_x4.png
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
  crop = ml_collections.FieldReference(64 if 'small' in opts else 96)
  scale = ml_collections.FieldReference(4)
  c.data = dict(name='photos', batch_size=16, crop_size=crop, scale=scale)
  generator = dict(num_blocks=4, features=32) if 'small' in opts else dict(num_blocks=16,
                                                                            features=64)
  discriminator = dict(image_size=crop, norm='batch')
  if 'small' in opts:
    discriminator.update(width=16, hidden=256)
  c.model = dict(name='srgan', z_dim=0, generator=dict(scale=scale, **generator),
                 discriminator=discriminator)
  # The paper: SRResNet 1e6 updates at 1e-4; SRGAN 1e5 at 1e-4 and 1e5 at 1e-5 (the short
  # ':small' runs keep the rate constant).
  schedule = ('constant' if 'small' in opts or 'psnr' in opts
              else 'multistep(milestones=(100000,), gamma=0.1)')
  c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.9, b2=0.999, schedule=schedule)
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.9, b2=0.999, schedule=schedule)
  c.loss.name = 'non_saturating'
  if 'psnr' in opts:
    c.n_critic, c.adversarial_weight = 0, 0.0
    c.content.update(pixel='mse', pixel_weight=1.0)
    c.num_steps = 3000 if 'small' in opts else 1000000
  else:
    c.adversarial_weight = 1e-3
    if 'offline' in opts:
      c.content.update(pixel='mse', pixel_weight=1.0)
    else:
      c.content.update(perceptual_weight=1.0, perceptual_layer='relu5_4',
                       perceptual_criterion='mse', perceptual_scale=1 / 12.75)
    c.num_steps = 1500 if 'small' in opts else 200000
  c.eval_every = 500
  c.num_eval_samples = 8
  return c
