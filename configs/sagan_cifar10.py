"""SAGAN on CIFAR-10 (Zhang et al. 2019): the SNGAN ResNets with a self-attention block
(learned gamma initialised at 0; at 16x16 in G, 8x8 in D, where Mimicry's 32 px SAGAN puts
it: the paper defines 128 px only, at 32x32 there), spectral norm in G and D,
hinge loss and TTUR (G lr 1e-4, D lr 4e-4, betas (0, 0.9)), n_critic 1, batch 64, z 128,
100,000 steps. ``:cond`` is the class-conditional version (conditional BN in G, a
projection D). G upsamples nearest-neighbour, as the chainer SNGAN code (Mimicry:
bilinear; ``jaxgan/models/resnet.py``).

  python -m launch.train --config=configs/sagan_cifar10.py --workdir=/tmp/sagan
  python -m launch.train --config=configs/sagan_cifar10.py:cond --workdir=/tmp/sagan_cond
  python -m launch.train --config=configs/sagan_cifar10.py:digits --workdir=/tmp/sagan_digits

``:digits`` trains the same architecture (narrower: ngf 64, ndf 64) on the offline digits
resized to 32x32, 1 channel, for 3,000 steps: a check that runs on 2 CPU cores.
"""

import ml_collections

from configs import default, parts


def get_config(variant: str = '') -> ml_collections.ConfigDict:
  """``variant``: '' (unconditional), 'cond' (class-conditional) or 'digits' (offline, small)."""
  variant = parts.variant(variant, ('', 'cond', 'digits'))
  c = default.get_config()
  c.data = dict(name='cifar10', batch_size=64, image_size=32, data_dir='', split='train')
  classes = 10 if variant == 'cond' else 0
  c.model = dict(name='sagan_cond' if classes else 'sagan', z_dim=128,
                 generator=dict(ngf=256, num_classes=classes),
                 discriminator=dict(ndf=128, num_classes=classes))
  c.loss.name = 'hinge'
  c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.0, b2=0.9, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=4e-4, b1=0.0, b2=0.9, schedule='constant')
  c.num_steps = 100000
  c.log_every = 100
  c.eval_every = 5000
  c.checkpoint_every = 5000
  if variant == 'digits':
    c.data = dict(name='digits', batch_size=64, image_size=32)
    c.model.generator.update(ngf=64, channels=1)
    c.model.discriminator.ndf = 64
    c.num_steps, c.eval_every, c.checkpoint_every = 3000, 500, 1000
  return c
