"""The digits study: the main objectives with the MLP and DCGAN models, digit-FD curves.

28x28 scikit-learn digits (offline), 3 seeds per run. MLP: the classic recipe of
configs/mlp_mnist.py (6,000 steps, seeds vmapped). DCGAN: the conv G/D of
configs/wgan_gp_mnist.py at width 32 with a LayerNorm critic, Adam 2e-4 (0.5, 0.9), 3,000
steps, one step per compiled call, seeds one after another (vmapped convs are grouped
convs, slow on XLA:CPU). Every
objective sees the same model, optimizer and data; WGAN-GP uses lambda 10. digit-FD every
500 steps on 1,000 samples of the EMA generator. Results in docs/study_digits/.

  python -m launch.study --config=configs/study_digits.py --workdir=docs/study_digits
  python -m launch.study --config=configs/study_digits.py:mlp --workdir=/tmp/mlp_only
  python -m launch.study --config=configs/study_digits.py --workdir=/tmp/quick \
      --config.study.num_seeds=1 --config.num_steps=200 --config.study.eval_every=100 \
      --config.study.groups.dcgan.num_steps=200
"""

import ml_collections

from configs import default, parts


def get_config(models: str = 'mlp,dcgan') -> ml_collections.ConfigDict:
  """``models``: which model groups to run, e.g. ``configs/study_digits.py:mlp``."""
  chosen = parts.options(models, ('mlp', 'dcgan'))
  if not chosen:
    raise ValueError("Choose at least one model group: 'mlp', 'dcgan' or 'mlp,dcgan'.")
  c = parts.classic_mlp(default.get_config())
  c.data = dict(name='digits', batch_size=128, image_size=28)
  c.num_steps = 6000
  c.steps_per_call = 50
  dcgan = parts.dcgan_digits(default.get_config(), width=32)
  groups = dict(
      mlp={},
      dcgan=dict(model=dcgan.model.to_dict(),
                 g_optimizer=dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.9,
                                  schedule='constant'),
                 d_optimizer=dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.9,
                                  schedule='constant'),
                 num_steps=3000, steps_per_call=1, vmap_seeds=False))
  c.study = dict(kind='digits',
                 groups={k: v for k, v in groups.items() if k in chosen},
                 runs=('non_saturating:none', 'hinge:none', 'least_squares:none',
                       'wasserstein:wgan_gp'),
                 num_seeds=3, eval_every=500, num_samples=1000,
                 penalty_weights=dict(wgan_gp=10.0, r1=1.0))
  return c
