"""The classic MLP GAN (Goodfellow et al. 2014 architecture as in the common MNIST recipe).

G: z(100) -> 128 ReLU -> 128 ReLU -> BatchNorm -> 784 tanh; D: 784 -> 256 ReLU -> 256 ReLU
-> Dropout 0.2 -> 1. Adam (G lr 1e-3, D lr 1e-4, beta1 0.5), batch 128, 80 epochs.
Offline by default on scikit-learn's 1,797 digits resized to 28x28 (6,000 steps, about
430 epochs of that small set); ``:mnist`` selects MNIST with the recipe's 80 epochs:

  python -m launch.train --config=configs/mlp_mnist.py --workdir=/tmp/mlp_digits
  python -m launch.train --config=configs/mlp_mnist.py:mnist --workdir=/tmp/mlp_mnist \
      --config.loss.name=hinge
"""

import ml_collections


def get_config(dataset: str = 'digits') -> ml_collections.ConfigDict:
  """``dataset``: 'digits' (offline default) or a 28x28 TFDS set ('mnist', 'fashion_mnist')."""
  c = ml_collections.ConfigDict()
  c.seed = 0
  c.data = dict(name=dataset or 'digits', batch_size=128, image_size=28, data_dir='',
                split='train')
  c.model = dict(name='mlp', z_dim=100,
                 generator=dict(features=(128, 128), output_shape=(28, 28, 1),
                                batch_norm=True, output_activation='tanh'),
                 discriminator=dict(features=(256, 256), dropout=0.2))
  # a, b, c, scale are used by least_squares only.
  c.loss = dict(name='non_saturating', a=0.0, b=1.0, c=1.0, scale=0.5)
  c.penalty = dict(name='none', weight=10.0, every=1, dragan_scale=0.5)
  c.weight_clip = 0.0
  c.n_critic = 1
  c.g_optimizer = dict(name='adam', learning_rate=1e-3, b1=0.5, b2=0.999)
  c.d_optimizer = dict(name='adam', learning_rate=1e-4, b1=0.5, b2=0.999)
  c.ema_decay = 0.999
  c.num_epochs = 80
  c.num_steps = 6000 if c.data.name == 'digits' else -1  # > 0 overrides num_epochs
  c.steps_per_call = 1  # train steps fused into one compiled call
  c.log_every = 50
  c.eval_every = 500
  c.checkpoint_every = 1000
  c.keep_checkpoints = 3
  c.num_eval_samples = 64
  c.distributed = False  # jax.distributed.initialize() for multi-host runs
  return c
