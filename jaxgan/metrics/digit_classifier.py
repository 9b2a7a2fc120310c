"""A small conv classifier of handwritten digits whose penultimate features give a
Fréchet distance for digit images ("digit-FD"), the offline stand-in for FID.

Trained on the digits it is given (scikit-learn's digits for the offline data, MNIST's
train split for MNIST; seeded, deterministic on one machine) and cached in
``$JAXGAN_CACHE`` (default ``~/.cache/jaxgan``), keyed by the image size, the
architecture (its parameters' shapes) and, for other
sources than scikit-learn's digits, by the source's name and a fingerprint of its
training images (so a classifier of one data set is never used for another).

It trains and runs at full float32 precision on every backend
(:data:`jaxgan.metrics.inception.PRECISION`), as the FID Inception does.
"""

from __future__ import annotations

import functools
import hashlib
import os

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxgan import files, sharding, torch_weights
from jaxgan.metrics import frechet
from jaxgan.metrics.inception import PRECISION

FEATURE_DIM = 64
# In the cache's file names. v2: trained at PRECISION on every backend (on a CPU the same
# classifier as v1, which a GPU or TPU may have trained at TF32 or bfloat16 products).
CACHE_VERSION = 'v2'


def max_pool_2x2(x: jax.Array) -> jax.Array:
  """``nn.max_pool(x, (2, 2), (2, 2))`` of ``x[N, H, W, C]`` with even ``H`` and ``W``, as a
  maximum over a reshape.

  The same values; the gradient differs only where a window holds two equal maxima (shared
  between them rather than given to one). XLA:CPU runs this reduction, and its gradient,
  faster than ``reduce_window`` and its ``select_and_scatter``: a classifier step 16.5 ->
  15.2 ms with XLA's defaults and 66 -> 28 ms with the tests' compiler flags (2 AMD EPYC
  cores; with jaxgan's compiler options too, 11.3 and 20 ms).
  """
  n, h, w, c = x.shape
  return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


class DigitClassifier(nn.Module):
  """[N, S, S, 1] in [-1, 1] -> (logits [N, 10], features [N, 64]); resizes to 16x16."""

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    x = jax.image.resize(x, (x.shape[0], 16, 16, x.shape[-1]), 'bilinear')
    x = max_pool_2x2(nn.relu(nn.Conv(32, (3, 3))(x)))
    x = max_pool_2x2(nn.relu(nn.Conv(64, (3, 3))(x)))
    features = nn.relu(nn.Dense(FEATURE_DIM)(x.reshape((x.shape[0], -1))))
    return nn.Dense(10)(features), features


def _template(image_size: int) -> dict:
  return DigitClassifier().init(jax.random.key(0), jnp.zeros((1, image_size, image_size, 1)))


def _architecture_tag(image_size: int) -> str:
  """8 hex digits of the classifier's parameter names and shapes: an architecture change
  gets its own cache file, even if :data:`CACHE_VERSION` was not raised with it."""
  shapes = jax.tree_util.tree_flatten_with_path(
      jax.eval_shape(lambda: _template(image_size)))[0]
  layout = ';'.join(f'{jax.tree_util.keystr(k)}{tuple(v.shape)}' for k, v in shapes)
  return hashlib.sha256(layout.encode()).hexdigest()[:8]


def _cache_path(train_x: np.ndarray, train_y: np.ndarray, source: str) -> str:
  root = torch_weights.cache_dir()  # $JAXGAN_CACHE (~ expanded) or ~/.cache/jaxgan
  image_size = train_x.shape[1]
  version = f'{CACHE_VERSION}_{_architecture_tag(image_size)}'
  if source == 'digits':
    return os.path.join(root, f'digit_classifier_{image_size}px_{version}.msgpack')
  digest = hashlib.sha256(version.encode()
                          + np.ascontiguousarray(train_x, np.float32).tobytes()
                          + np.ascontiguousarray(train_y, np.int64).tobytes()).hexdigest()
  return os.path.join(root, f'digit_classifier_{source}_{image_size}px_{digest[:12]}.msgpack')


def _loss(params: dict, x: jax.Array, y: jax.Array) -> jax.Array:
  """The classifier's training loss: mean cross-entropy of ``x``'s logits against ``y``."""
  logits, _ = _forward(params, x)
  return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


def train_classifier(x: np.ndarray, y: np.ndarray, steps: int = 1500, seed: int = 0) -> dict:
  """Trains the classifier on images ``x[N, S, S, 1]`` and labels ``y[N]``; returns its
  variables."""
  params = DigitClassifier().init(jax.random.key(seed), jnp.asarray(x[:2]))
  opt = optax.adam(1e-3)

  @functools.partial(jax.jit, compiler_options=sharding.default_compiler_options())
  def update(params, opt_state, xb, yb):
    g = jax.grad(_loss)(params, xb, yb)
    u, opt_state = opt.update(g, opt_state, params)
    return optax.apply_updates(params, u), opt_state

  opt_state = opt.init(params)
  rng = np.random.default_rng(seed)
  for _ in range(steps):
    idx = rng.integers(0, len(x), 64)
    xb = x[idx] + rng.normal(0, 0.05, x[idx].shape).astype(np.float32)  # light augmentation
    params, opt_state = update(params, opt_state, xb, y[idx])
  return params


def load_or_train(train_x: np.ndarray, train_y: np.ndarray, source: str = 'digits') -> dict:
  """The cached classifier for inputs of ``train_x``'s size, trained once on
  ``(train_x, train_y)`` if absent (``source``: the data set's name, see the module
  docstring)."""
  path = _cache_path(train_x, train_y, source)
  if os.path.exists(path):
    template = _template(train_x.shape[1])
    try:
      with open(path, 'rb') as f:
        params = flax.serialization.from_bytes(template, f.read())
      same = jax.tree.map(lambda a, b: np.shape(a) == np.shape(b), params, template)
      if not all(jax.tree.leaves(same)):
        raise ValueError('its arrays have other shapes than the classifier\'s')
    except Exception as e:  # a truncated or foreign file: reported, not silently replaced
      raise ValueError(f'The cached digit classifier {path} cannot be read ({e}). Delete it '
                       'to train it again.') from e
    return params
  params = train_classifier(train_x, train_y)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with files.replacing(path) as tmp, open(tmp, 'wb') as f:
    f.write(flax.serialization.to_bytes(params))
  return params


def _forward(params: dict, x: jax.Array) -> tuple[jax.Array, jax.Array]:
  """``(logits, features)`` of images ``x``, at :data:`PRECISION` on every backend."""
  with jax.default_matmul_precision(PRECISION):
    return DigitClassifier().apply(params, x)


_apply = jax.jit(_forward)  # one compiled function for every call


def features_and_logits(params: dict, x: np.ndarray, batch: int = 500) -> tuple[np.ndarray,
                                                                               np.ndarray]:
  """Penultimate features ``[N, 64]`` and logits ``[N, 10]`` of images ``x``."""
  feats, logits = [], []
  for i in range(0, len(x), batch):
    lg, f = _apply(params, jnp.asarray(x[i:i + batch]))
    feats.append(np.asarray(f))
    logits.append(np.asarray(lg))
  return np.concatenate(feats), np.concatenate(logits)


class Reference:
  """The classifier with the held-out digits' features and the real-vs-real reference.

  ``reference(x)`` gives ``(features, logits)`` of images ``x``; ``held`` are the features
  of the held-out digits (what digit-FD compares against) and ``floor`` the digit-FD of
  the classifier's training digits against them (real vs real: a reference, not a lower
  bound; a GAN trained on the held-out digits too, as on the offline digits, can score
  below it by copying them).

  Args:
    train: ``(images, labels)`` the classifier is trained on (the cached one is used if
      it exists for this image size and source).
    held_x: the held-out images digit-FD compares against.
    source: the data set: ``'digits'`` (scikit-learn's) or e.g. ``'mnist'``.
  """

  def __init__(self, train: tuple[np.ndarray, np.ndarray], held_x: np.ndarray,
               source: str = 'digits'):
    train_x, train_y = train
    image_size = train_x.shape[1]
    self.params = load_or_train(train_x, train_y, source)
    self.held = self(held_x)[0]
    self.floor = frechet.frechet_distance_from_features(self.held, self(train_x)[0])
    what = 'digits' if source == 'digits' else f'{source} digits'
    self.held_x = held_x
    self.description = (f'{len(held_x)} {what} held out from the classifier at '
                        f'{image_size}px; features: jaxgan digit classifier '
                        f'({FEATURE_DIM}-d) trained on {len(train_x)} {what}')

  def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return features_and_logits(self.params, x)
