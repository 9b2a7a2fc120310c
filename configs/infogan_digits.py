"""InfoGAN on the 28x28 digits (Chen et al. 2016), without labels.

The paper's MNIST networks: G(z 62, a 10-way categorical code, 2 continuous codes in
[-1, 1]); D with a Q head on its trunk predicting the codes. The mutual-information bound
(categorical cross-entropy, lambda 1; Gaussian NLL of the continuous codes, lambda 0.1) is
added to both players' losses. Non-saturating loss, Adam (G 1e-3, D 2e-4, beta1 0.5),
batch 64, 5,000 steps on the offline digits. Evaluated by the accuracy of the best
one-to-one matching of categorical codes to digit classes (the paper: 5 % error on MNIST).
The 62 noise dimensions are N(0, 1) as for every jaxgan family; the official code
(openai/InfoGAN) draws them from U(-1, 1), trains with batch 128 and weighs every code's
term 1 (``info_reg_coeff``); jaxgan keeps batch 64 and a smaller weight for the continuous
codes, as the paper asks (it gives no number; 0.1 is the PyTorch ports' value).

  python -m launch.train --config=configs/infogan_digits.py --workdir=/tmp/infogan
  python -m launch.evaluate --workdir=/tmp/infogan --num_samples=2000
"""

import ml_collections

from configs import default


def get_config() -> ml_collections.ConfigDict:
  c = default.get_config()
  c.data = dict(name='digits', batch_size=64, image_size=28)
  c.model = dict(name='infogan', z_dim=62,
                 generator=dict(num_categories=10, num_continuous=2),
                 discriminator=dict(num_categories=10, num_continuous=2))
  c.loss.name = 'non_saturating'
  c.auxiliary = dict(name='infogan', kwargs=dict(lambda_cat=1.0, lambda_cont=0.1))
  c.g_optimizer = dict(name='adam', learning_rate=1e-3, b1=0.5, b2=0.999, schedule='constant')
  c.d_optimizer = dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.999, schedule='constant')
  c.num_steps = 5000
  c.steps_per_call = 1
  c.num_eval_samples = 100
  return c
