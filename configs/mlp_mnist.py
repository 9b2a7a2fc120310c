"""The classic MLP GAN: Goodfellow et al. 2014's MLP generator and discriminator as the
common MNIST recipe (a Keras model) builds them, not the paper's own setup (maxout D with
dropout, 1200-unit ReLU G with a sigmoid output, SGD with momentum; goodfeli/adversarial).

G: z(100) -> 128 ReLU -> 128 ReLU -> BatchNorm -> 784 tanh; D: 784 -> 256 ReLU -> 256 ReLU
-> Dropout 0.2 -> 1; glorot_uniform weights (the recipe is a Keras model). Adam (G lr
1e-3, D lr 1e-4, beta1 0.5), batch 128, 80 epochs; jaxgan adds a generator EMA of 0.999.
Offline by default on scikit-learn's 1,797 digits resized to 28x28, for 6,000 steps
(about 430 epochs of that small set);
``:mnist`` selects MNIST with the recipe's 80 epochs:

  python -m launch.train --config=configs/mlp_mnist.py --workdir=/tmp/mlp_digits
  python -m launch.train --config=configs/mlp_mnist.py:mnist --workdir=/tmp/mlp_mnist \
      --config.loss.name=hinge
"""

import ml_collections

from configs import default, parts


def get_config(dataset: str = 'digits') -> ml_collections.ConfigDict:
  """``dataset``: 'digits' (offline default) or a 28x28 TFDS set ('mnist', 'fashion_mnist')."""
  c = parts.classic_mlp(default.get_config())
  dataset = dataset or 'digits'
  if dataset == 'digits':
    c.data = dict(name='digits', batch_size=128, image_size=28)
    c.num_steps = 6000
  else:
    c.data = dict(name=dataset, batch_size=128, image_size=28, data_dir='', split='train')
    c.num_epochs = 80.0
  return c
