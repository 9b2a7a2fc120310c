"""FID feature extraction, images/s: jaxgan's Flax Inception vs pytorch-fid, side by side.

Both networks hold the same (random) weights and see the same batch of 32x32 images,
resized to 299 inside each network as FID does; timed in interleaved rounds. Both compute
in float32: jaxgan's network always does (``inception.PRECISION``), and PyTorch's TF32
convolutions and products (its default on recent GPUs) are turned off here. Needs the
``[parity]`` extra (pytorch-fid, torchvision). PyTorch runs on the GPU when one is
available.

    python -m benchmarks.fid_features [--batch 50 --rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os

import jax
import numpy as np
import torch
from pytorch_fid import inception as pf_inception

from benchmarks.timing import interleaved_rates, print_table, torch_device
from jaxgan import torch_weights
from jaxgan.metrics import inception

LAYOUT = os.path.join(os.path.dirname(__file__), '..', 'tests', 'data', 'inception_layout.json')


def reference_network(state_dict: dict[str, np.ndarray]) -> torch.nn.Module:
  """pytorch-fid's InceptionV3 (pool3 block), its weight download replaced by ours."""
  tensors = {k: torch.from_numpy(v) for k, v in state_dict.items()}
  original = pf_inception.load_state_dict_from_url
  pf_inception.load_state_dict_from_url = lambda *a, **k: tensors
  try:
    net = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
  finally:
    pf_inception.load_state_dict_from_url = original
  return net.eval()


def main():
  parser = argparse.ArgumentParser(description=__doc__)
  parser.add_argument('--batch', type=int, default=50)
  parser.add_argument('--size', type=int, default=32)
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()

  with open(LAYOUT) as f:
    state_dict = torch_weights.random_state_dict(json.load(f), seed=0)
  device, torch_sync = torch_device()
  torch.backends.cudnn.allow_tf32 = False  # float32, as jaxgan's FID network
  torch.backends.cuda.matmul.allow_tf32 = False
  net = reference_network(state_dict).to(device)
  variables = inception.variables_from_state_dict(state_dict)
  images = np.random.default_rng(0).uniform(
      0, 1, (args.batch, args.size, args.size, 3)).astype(np.float32)
  x_jax = jax.device_put(images)
  x_torch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))).to(device)

  def flax_step():
    return inception._apply(variables, x_jax)[0]

  def torch_step():
    with torch.inference_mode():
      return net(x_torch)[0]

  rates = interleaved_rates({'jaxgan (Flax, jit)': (flax_step, jax.block_until_ready),
                             'pytorch-fid': (torch_step, torch_sync)},
                            steps=1, rounds=args.rounds, warmup=1)
  ips = {k: v * args.batch for k, v in rates.items()}
  base = ips['pytorch-fid']
  where = device if device == 'cuda' else f'{torch.get_num_threads()} threads'
  print(f'jax {jax.__version__} ({jax.devices()[0].device_kind}), torch {torch.__version__} '
        f'({where}); batch {args.batch} of {args.size}px -> 299px')
  print_table(['network', 'images/s', 'vs pytorch-fid'],
              [[k, v, v / base] for k, v in ips.items()])


if __name__ == '__main__':
  main()
