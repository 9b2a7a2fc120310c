"""Re-creates the parity fixtures in tests/data from the PyTorch networks jaxgan ports.

Needs the ``[parity]`` extra (torch, torchvision, pytorch-fid); runs on CPU in about a
minute and writes, deterministically:

* ``inception_layout.json``, ``vgg19_layout.json``: ``[key, shape]`` of every tensor of
  pytorch-fid's FID Inception state dict, and of the ``features.*`` part of torchvision's
  VGG19 state dict (its ``classifier.*`` part is not used by jaxgan).
* ``inception_reference.npz``: pytorch-fid's ``InceptionV3`` (2048-d pool3 block) holding
  ``torch_weights.random_state_dict(layout, INCEPTION_SEED)`` instead of its download:
  pool3 features and fc logits (``pool3 @ W.T + b``) of 2 random images in [0, 1] at each
  of 32, 64, 299 and 320 px, and pool3 features of 2 grayscale 28 px images in [-1, 1]
  taken the way jaxgan's ``features_and_logits`` takes them (8-bit quantized, copied to 3
  channels).
* ``vgg19_reference.npz``: torchvision's ``vgg19().features`` holding
  ``random_state_dict(layout, VGG_SEED)``, on ImageNet-normalized inputs (BasicSR's
  ``range_norm``/``use_input_norm``), at a few layers of 2 images of 16x16 px and 1 of
  48x40 px in [-1, 1] (deep layers only for the larger one, to keep the file small).

Each fixture also stores the seeds and, to detect a change of NumPy's random streams, the
float64 sum of every weight tensor and of every image batch.

    python tests/data/make_parity_references.py
"""

from __future__ import annotations

import json
import os

import numpy as np
import torch
import torchvision
from pytorch_fid import inception as pf_inception

from jaxgan import torch_weights

HERE = os.path.dirname(os.path.abspath(__file__))
INCEPTION_SEED = 0
INCEPTION_SIZES = (32, 64, 299, 320)  # 2 images each, seeded with the size
GRAY_SIZE = 28  # 2 grayscale images in [-1, 1], seeded with the size
VGG_SEED = 0
# (batch, height, width) -> the layers stored; images in [-1, 1] seeded with the height.
VGG_IMAGES = {(2, 16, 16): ('relu1_2', 'relu2_2', 'conv3_4', 'conv5_4', 'relu5_4'),
              (1, 48, 40): ('conv3_4', 'conv5_4', 'relu5_4')}
# torchvision's vgg19().features indices: conv1_1 is 0, relu1_1 1, conv1_2 2, ... The
# blocks hold 2, 2, 4, 4, 4 (conv, relu) pairs and end in a max pool.
VGG_INDEX = {'relu1_2': 3, 'relu2_2': 8, 'conv3_4': 16, 'conv5_4': 34, 'relu5_4': 35}


def write_layout(name: str, layout: list) -> None:
  with open(os.path.join(HERE, name), 'w') as f:
    f.write('[\n' + ',\n'.join(json.dumps([k, s]) for k, s in layout) + '\n]\n')


def sums(arrays) -> np.ndarray:
  return np.array([np.sum(a, dtype=np.float64) for a in arrays])


def pytorch_fid_network(state_dict: dict[str, np.ndarray]) -> torch.nn.Module:
  """pytorch-fid's InceptionV3 (pool3 block), its weight download replaced."""
  tensors = {k: torch.from_numpy(v) for k, v in state_dict.items()}
  original = pf_inception.load_state_dict_from_url
  pf_inception.load_state_dict_from_url = lambda *a, **k: tensors
  try:
    net = pf_inception.InceptionV3([pf_inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
  finally:
    pf_inception.load_state_dict_from_url = original
  return net.eval()


def pool3(net: torch.nn.Module, images01: np.ndarray) -> np.ndarray:
  with torch.no_grad():
    return net(torch.from_numpy(images01.transpose(0, 3, 1, 2).copy()))[0][:, :, 0, 0].numpy()


def inception_fixture() -> None:
  net = torchvision.models.inception_v3(weights=None, aux_logits=False, num_classes=1008,
                                        init_weights=False)
  layout = torch_weights.layout_of(net.state_dict())
  write_layout('inception_layout.json', layout)
  state_dict = torch_weights.random_state_dict(layout, INCEPTION_SEED)
  net = pytorch_fid_network(state_dict)
  fc_w, fc_b = (torch.from_numpy(state_dict[k]) for k in ('fc.weight', 'fc.bias'))
  out = {'weights_seed': INCEPTION_SEED, 'weights_sums': sums(state_dict.values())}
  for size in INCEPTION_SIZES:
    images = np.random.default_rng(size).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
    feats = pool3(net, images)
    out[f'images_{size}_sum'] = sums([images])[0]
    out[f'pool3_{size}'] = feats
    out[f'logits_{size}'] = torch.nn.functional.linear(torch.from_numpy(feats), fc_w,
                                                       fc_b).numpy()
  gray = np.random.default_rng(GRAY_SIZE).uniform(
      -1, 1, (2, GRAY_SIZE, GRAY_SIZE, 1)).astype(np.float32)
  rgb01 = np.repeat(np.round((gray + 1) / 2 * 255) / 255, 3, axis=-1).astype(np.float32)
  out['gray_images_sum'] = sums([gray])[0]
  out['gray_pool3'] = pool3(net, rgb01)
  np.savez(os.path.join(HERE, 'inception_reference.npz'), **out)


def vgg_fixture() -> None:
  net = torchvision.models.vgg19(weights=None, init_weights=False).eval()
  layout = torch_weights.layout_of(net.state_dict(), keep=lambda k: k.startswith('features.'))
  write_layout('vgg19_layout.json', layout)
  state_dict = torch_weights.random_state_dict(layout, VGG_SEED)
  net.features.load_state_dict({k.removeprefix('features.'): torch.from_numpy(v)
                                for k, v in state_dict.items()})
  mean = torch.tensor([0.485, 0.456, 0.406])[:, None, None]
  std = torch.tensor([0.229, 0.224, 0.225])[:, None, None]
  out = {'weights_seed': VGG_SEED, 'weights_sums': sums(state_dict.values())}
  for (n, h, w), layers in VGG_IMAGES.items():
    images = np.random.default_rng(h).uniform(-1, 1, (n, h, w, 3)).astype(np.float32)
    out[f'images_{h}x{w}_sum'] = sums([images])[0]
    x = ((torch.from_numpy(images.transpose(0, 3, 1, 2).copy()) + 1) / 2 - mean) / std
    wanted = {VGG_INDEX[name]: name for name in layers}
    with torch.no_grad():
      for index, module in enumerate(net.features[:max(wanted) + 1]):
        x = module(x)
        if index in wanted:
          out[f'{wanted[index]}_{h}x{w}'] = x.numpy().transpose(0, 2, 3, 1).copy()
  np.savez(os.path.join(HERE, 'vgg19_reference.npz'), **out)


if __name__ == '__main__':
  torch.set_num_threads(2)
  inception_fixture()
  vgg_fixture()
  for name in sorted(os.listdir(HERE)):
    print(f'{name}: {os.path.getsize(os.path.join(HERE, name)) / 1e3:.0f} KB')
