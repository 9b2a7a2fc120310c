"""The default toy config (configs/toy2d.py: non-saturating + R1, EMA) over 5 vmapped
seeds on ring8, in float32 and with bfloat16 activations.

  python -m launch.study --config=configs/study_ring8_default.py --workdir=docs/ring8_default
"""

import ml_collections

from configs import default, parts


def get_config() -> ml_collections.ConfigDict:
  c = parts.toy_mlps(default.get_config())
  c.num_steps = 20000
  c.study = dict(kind='mixtures',
                 groups=dict(float32=dict(dtype='float32'), bfloat16=dict(dtype='bfloat16')),
                 runs=('non_saturating:r1',), num_seeds=5, penalty_weights=dict(r1=1.0))
  return c
