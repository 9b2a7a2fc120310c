"""A GAN on a 2-D Gaussian mixture (ring8 by default, grid25 by override).

Generator and discriminator are MLPs of 3 hidden layers of 256; 16 steps fused per call.

  python -m launch.train --config=configs/toy2d.py --workdir=/tmp/toy2d
  python -m launch.train --config=configs/toy2d.py --workdir=/tmp/grid \
      --config.data.name=grid25 --config.loss.name=hinge --config.penalty.name=r1
"""

from configs import mlp_mnist


def get_config():
  c = mlp_mnist.get_config()
  c.data = dict(name='ring8', batch_size=256, image_size=0, data_dir='', split='train')
  c.model = dict(name='mlp', z_dim=16,
                 generator=dict(features=(256, 256, 256), output_shape=(2,),
                                batch_norm=False, output_activation='linear'),
                 discriminator=dict(features=(256, 256, 256), dropout=0.0,
                                    activation='leaky_relu'))
  c.penalty.weight = 1.0
  c.g_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.999)
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.999)
  c.ema_decay = 0.0
  c.num_steps = 5000
  c.steps_per_call = 50
  c.log_every = 250
  c.eval_every = 1000
  c.checkpoint_every = 1000
  c.num_eval_samples = 2500
  return c
