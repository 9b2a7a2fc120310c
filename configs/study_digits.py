"""The digits study: the main objectives with the MLP and DCGAN models, digit-FD curves.

28x28 scikit-learn digits (offline), 3 vmapped seeds per run. MLP: the classic recipe of
configs/mlp_mnist.py (6,000 steps). DCGAN: the conv G/D of configs/wgan_gp_mnist.py at
width 32 with a LayerNorm critic, Adam 2e-4 (0.5, 0.9), 3,000 steps, seeds one after
another (vmapped convs are grouped convs, slow on XLA:CPU). Every objective sees
the same model, optimizer and data; WGAN-GP uses lambda 10. On 2 CPU cores a DCGAN step
takes about 1 s (XLA:CPU transposed convolutions), so the DCGAN half is for a GPU; the
CPU study runs ``:mlp``. digit-FD every 500 steps on
1,000 samples of the EMA generator. Results in docs/study_digits/ and docs/study.md.

  python -m launch.study --config=configs/study_digits.py --workdir=docs/study_digits
  python -m launch.study --config=configs/study_digits.py:mlp --workdir=docs/study_digits
  python -m launch.study --config=configs/study_digits.py --workdir=/tmp/quick \
      --config.study.num_seeds=1 --config.num_steps=200 --config.study.eval_every=100
"""

from configs import mlp_mnist


def get_config(models: str = 'mlp,dcgan'):
  """``models``: which model families to run, e.g. ``configs/study_digits.py:mlp``."""
  c = mlp_mnist.get_config()
  c.steps_per_call = 50
  dcgan = dict(
      model=dict(name='dcgan', z_dim=64, generator=dict(image_size=28, channels=1, width=32),
                 discriminator=dict(width=32, num_layers=2, norm='layer')),
      g_optimizer=dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.9),
      d_optimizer=dict(name='adam', learning_rate=2e-4, b1=0.5, b2=0.9),
      num_steps=3000, vmap_seeds=False)
  c.study = dict(kind='digits', models={k: v for k, v in dict(mlp={}, dcgan=dcgan).items()
                         if k in models.split(',')},
                 runs=('non_saturating:none', 'hinge:none', 'least_squares:none',
                       'wasserstein:wgan_gp'),
                 num_seeds=3, eval_every=500, num_samples=1000,
                 penalty_weights=dict(wgan_gp=10.0, r1=1.0))
  return c
