"""The main job's numbers over seeds: the classic MLP recipe on the offline digits.

configs/mlp_mnist.py (6,000 steps, NS loss, glorot_uniform weights as its Keras source),
5 seeds vmapped, digit-FD of 2,000 samples against the held-out digits every 500 steps;
with and without the EMA generator, and with Flax's default lecun_normal weights for
comparison. Results in docs/mlp_digits/ and the README.

  python -m launch.study --config=configs/study_mlp_digits.py --workdir=docs/mlp_digits
"""

import ml_collections

from configs import default, parts


def get_config() -> ml_collections.ConfigDict:
  c = parts.classic_mlp(default.get_config())
  c.data = dict(name='digits', batch_size=128, image_size=28)
  c.num_steps = 6000
  c.steps_per_call = 50
  lecun = c.model.to_dict()
  lecun['generator']['kernel_init'] = lecun['discriminator']['kernel_init'] = 'lecun_normal'
  c.study = dict(kind='digits',
                 groups=dict(ema=dict(), no_ema=dict(ema_decay=0.0),
                             lecun_no_ema=dict(ema_decay=0.0, model=lecun)),
                 runs=('non_saturating:none',), num_seeds=5, eval_every=500, num_samples=2000,
                 penalty_weights={})
  return c
