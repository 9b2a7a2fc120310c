"""Auxiliary loss terms of conditional GANs (ACGAN, InfoGAN) as pure functions of D's heads.

A discriminator with auxiliary heads returns ``(logits, heads)`` with ``heads`` a dict:
ACGAN ``{'class_logits': [B, K]}``, InfoGAN ``{'categorical_logits': [B, K],
'continuous_mean': [B, n]}`` and optionally ``'continuous_log_std': [B, n]``. The targets
``y`` are int32 class labels ``[B]`` (ACGAN) or the generator's codes ``{'categorical':
int32 [B], 'continuous': float32 [B, n]}`` (InfoGAN).

Every term is a scalar *to be minimized* and is added to the adversarial loss of
:mod:`jaxgan.losses`: ``discriminator_term(real_heads, fake_heads, real_y, fake_y)`` to
D's, ``generator_term(fake_heads, fake_y)`` to G's. ``E`` is the batch mean and
``CE(l, y) = -E log softmax(l)[y]``. Terms are computed and returned in float32 (float64
when given), whatever the heads' dtype. Choose a term by name with :func:`get`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping

import chex
import jax.numpy as jnp
import optax

from jaxgan.registry import ArgumentError, Registry

Heads = Mapping[str, chex.Array]
DiscriminatorTerm = Callable[[Heads, Heads, chex.ArrayTree, chex.ArrayTree], chex.Array]
GeneratorTerm = Callable[[Heads, chex.ArrayTree], chex.Array]

_LOG_2PI = math.log(2.0 * math.pi)


def _float(x: chex.Array) -> chex.Array:
  """``x`` in float32, or float64 if it already is."""
  x = jnp.asarray(x)
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _head(heads: Heads | None, name: str, who: str) -> chex.Array:
  """``heads[name]``, or a ValueError naming the head and the heads that were given."""
  if not heads or name not in heads:
    given = ', '.join(map(repr, heads)) if heads else 'none'
    raise ValueError(f'{who} needs the discriminator head {name!r}; the discriminator gave '
                     f'heads: {given}.')
  return heads[name]


def classification_loss(logits: chex.Array, labels: chex.Array) -> chex.Array:
  """Softmax cross-entropy with integer labels, batch mean.

  ``CE(l, y) = -E_b log softmax(l_b)[y_b] = E_b [logsumexp(l_b) - l_b[y_b]]``.

  Args:
    logits: class logits ``[batch, K]``.
    labels: integer class indices ``[batch]`` in ``[0, K)``; one outside (negative
      included) gives NaN (not raised: under ``jax.jit`` it cannot; ``jaxgan.build``
      checks class counts).

  Returns:
    The scalar loss (float32, or float64 for float64 logits).

  Raises:
    ValueError: the shapes do not fit (the message names both) or the labels are not
      integers.

  References:
    Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, ICML 2017.
  """
  logits, labels = jnp.asarray(logits), jnp.asarray(labels)
  if logits.ndim != 2 or labels.shape != logits.shape[:1]:
    raise ValueError('logits must have shape [batch, K] and labels shape [batch]; got logits '
                     f'of shape {logits.shape} and labels of shape {labels.shape}.')
  if not jnp.issubdtype(labels.dtype, jnp.integer):
    raise ValueError(f'labels must be integer class indices; got dtype {labels.dtype}.')
  ce = optax.softmax_cross_entropy_with_integer_labels(_float(logits), labels)
  # A negative label would index from the end (class K - 1 for -1, as NumPy), silently.
  inside = labels >= 0
  if logits.shape[-1] <= jnp.iinfo(labels.dtype).max:  # else K wraps in the labels' type
    inside &= labels < logits.shape[-1]
  return jnp.mean(jnp.where(inside, ce, jnp.nan))


def gaussian_nll(x: chex.Array, mean: chex.Array,
                 log_std: chex.Array | None = None) -> chex.Array:
  """Negative log-likelihood of ``x`` under a factored Gaussian, summed over dimensions.

  ``NLL = E_b sum_j [0.5 log(2 pi) + log sigma_bj + (x_bj - mu_bj)^2 / (2 sigma_bj^2)]``
  with ``sigma = exp(log_std)``, or ``sigma = 1`` when ``log_std`` is None (the official
  InfoGAN code's ``fix_std=True``).

  Args:
    x: the values ``[batch, n]``, e.g. the continuous codes.
    mean: the predicted means ``[batch, n]``.
    log_std: the predicted log standard deviations ``[batch, n]``, or None.

  Returns:
    The scalar loss (float32, or float64 for float64 inputs).

  Raises:
    ValueError: the shapes differ or are not ``[batch, n]`` (the message names them).

  References:
    Chen et al., InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets, NeurIPS 2016, section 5 ("a factored Gaussian").
  """
  x, mean = _float(x), _float(mean)
  if x.ndim != 2 or mean.shape != x.shape or (log_std is not None
                                             and jnp.shape(log_std) != x.shape):
    std_shape = None if log_std is None else jnp.shape(log_std)
    raise ValueError('codes, means and log-stds must have the same shape [batch, n]; got '
                     f'codes of shape {x.shape}, means of shape {mean.shape} and log-stds of '
                     f'shape {std_shape}.')
  if log_std is None:
    per_dim = 0.5 * _LOG_2PI + 0.5 * jnp.square(x - mean)
  else:
    log_std = _float(log_std)
    per_dim = 0.5 * _LOG_2PI + log_std + 0.5 * jnp.square((x - mean) * jnp.exp(-log_std))
  return jnp.mean(jnp.sum(per_dim, axis=1))


# ---------------------------------------------------------------------------
# ACGAN (Odena et al. 2017)


def acgan_discriminator_term(real_heads: Heads, fake_heads: Heads, real_y: chex.Array,
                             fake_y: chex.Array, weight: float = 1.0) -> chex.Array:
  """ACGAN's class term of the discriminator: both batches' classification loss.

  ``L = weight * (CE(l_real, y_real) + CE(l_fake, y_fake))``. The paper's
  ``L_C = E log P(C = c | X_real) + E log P(C = c | X_fake)``, maximized by D (with
  ``L_S``), is ``-(CE_real + CE_fake)``: D classifies real and generated images.

  Args:
    real_heads: D's heads on real images, with ``'class_logits' [batch, K]``.
    fake_heads: D's heads on generated images, with ``'class_logits' [batch, K]``.
    real_y: the real images' labels, int ``[batch]``.
    fake_y: the labels the images were generated with, int ``[batch]``.
    weight: factor of the term (1 in the paper).

  Returns:
    The scalar term, minimized by the discriminator.

  References:
    Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, ICML 2017,
    eqs. (2)-(3).
  """
  real = classification_loss(_head(real_heads, 'class_logits', 'ACGAN'), real_y)
  fake = classification_loss(_head(fake_heads, 'class_logits', 'ACGAN'), fake_y)
  return weight * (real + fake)


def acgan_generator_term(fake_heads: Heads, fake_y: chex.Array,
                         weight: float = 1.0) -> chex.Array:
  """ACGAN's class term of the generator: ``weight * CE(l_fake, y_fake)``.

  G maximizes ``L_C - L_S``; the real half of ``L_C`` does not depend on G.

  Args:
    fake_heads: D's heads on generated images, with ``'class_logits' [batch, K]``.
    fake_y: the labels the images were generated with, int ``[batch]``.
    weight: factor of the term (1 in the paper).

  Returns:
    The scalar term, minimized by the generator.

  References:
    Odena et al., Conditional Image Synthesis with Auxiliary Classifier GANs, ICML 2017,
    eqs. (2)-(3).
  """
  return weight * classification_loss(_head(fake_heads, 'class_logits', 'ACGAN'), fake_y)


# ---------------------------------------------------------------------------
# InfoGAN (Chen et al. 2016)


def infogan_information_loss(heads: Heads, codes: Mapping[str, chex.Array],
                             lambda_cat: float = 1.0, lambda_cont: float = 0.1) -> chex.Array:
  """InfoGAN's ``lambda L_I`` as a loss: the Q head's NLL of the codes G was given.

  ``L = lambda_cat * CE(q_cat, c_cat) + lambda_cont * NLL_Gaussian(c_cont | mu, sigma)``,
  i.e. ``-lambda (L_I - H(c))`` with ``L_I = E log Q(c | G(z, c)) + H(c) <= I(c; G(z, c))``;
  ``H(c)`` is a constant. ``sigma = 1`` unless the heads hold ``'continuous_log_std'``.
  Either code may be absent from ``codes``; its term is then left out.

  Defaults: the paper sets lambda = 1 for discrete codes and "a smaller lambda" for
  continuous ones (section 5); ``lambda_cont = 0.1`` is the common choice of PyTorch ports
  (eriklindernoren/PyTorch-GAN, Natsu6767/InfoGAN-PyTorch). The official code
  (openai/InfoGAN, MNIST launcher) uses ``info_reg_coeff = 1.0`` for both with fixed std 1:
  ``get('infogan', lambda_cont=1.0)``.

  Args:
    heads: D's heads on generated images: ``'categorical_logits' [batch, K]`` for a
      categorical code, ``'continuous_mean' [batch, n]`` (and optionally
      ``'continuous_log_std' [batch, n]``) for continuous codes.
    codes: ``{'categorical': int [batch], 'continuous': float [batch, n]}``, either key
      optional.
    lambda_cat: weight of the categorical term.
    lambda_cont: weight of the continuous term.

  Returns:
    The scalar loss, minimized by both G and the Q head (which shares D's parameters).

  References:
    Chen et al., InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets, NeurIPS 2016, eqs. (5)-(6) and section 5.
  """
  if not isinstance(codes, Mapping) or not codes or set(codes) - {'categorical', 'continuous'}:
    keys = (sorted(codes) if isinstance(codes, Mapping) else
            f'an array {jnp.dtype(codes.dtype).name}{list(codes.shape)} (class labels?)'
            if hasattr(codes, 'shape') else type(codes).__name__)
    raise ValueError("InfoGAN codes must be a dict with keys 'categorical' and/or "
                     f"'continuous'; got {keys}.")
  loss = jnp.zeros((), jnp.float32)
  if 'categorical' in codes:
    logits = _head(heads, 'categorical_logits', 'InfoGAN (categorical code)')
    loss = loss + lambda_cat * classification_loss(logits, codes['categorical'])
  if 'continuous' in codes:
    mean = _head(heads, 'continuous_mean', 'InfoGAN (continuous code)')
    nll = gaussian_nll(codes['continuous'], mean, heads.get('continuous_log_std'))
    loss = loss + lambda_cont * nll
  return loss


def infogan_discriminator_term(real_heads: Heads, fake_heads: Heads, real_y: chex.ArrayTree,
                               fake_y: Mapping[str, chex.Array], lambda_cat: float = 1.0,
                               lambda_cont: float = 0.1) -> chex.Array:
  """InfoGAN's term of the discriminator (and its Q head): ``infogan_information_loss``.

  Args:
    real_heads: unused (real images have no codes).
    fake_heads: D's heads on generated images; see :func:`infogan_information_loss`.
    real_y: unused.
    fake_y: the codes the images were generated with.
    lambda_cat: weight of the categorical term.
    lambda_cont: weight of the continuous term.

  Returns:
    The scalar term, minimized by the discriminator and Q.

  References:
    Chen et al., InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets, NeurIPS 2016, eq. (6).
  """
  del real_heads, real_y
  return infogan_information_loss(fake_heads, fake_y, lambda_cat, lambda_cont)


def infogan_generator_term(fake_heads: Heads, fake_y: Mapping[str, chex.Array],
                           lambda_cat: float = 1.0, lambda_cont: float = 0.1) -> chex.Array:
  """InfoGAN's term of the generator: ``infogan_information_loss`` of its codes.

  Args:
    fake_heads: D's heads on generated images; see :func:`infogan_information_loss`.
    fake_y: the codes the images were generated with.
    lambda_cat: weight of the categorical term.
    lambda_cont: weight of the continuous term.

  Returns:
    The scalar term, minimized by the generator.

  References:
    Chen et al., InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets, NeurIPS 2016, eq. (6).
  """
  return infogan_information_loss(fake_heads, fake_y, lambda_cat, lambda_cont)


def categorical_mutual_information(categorical_logits: chex.Array,
                                   codes: chex.Array) -> chex.Array:
  """The bound ``L_I = H(c) - CE(q, c) <= I(c; G(z, c))`` for a uniform categorical code.

  ``H(c) = log K`` for ``c ~ U{0, ..., K-1}``; the bound is ``log K`` for a perfect Q and 0
  for a uniform one, and negative while Q does worse than uniform (early in training). For
  logging (the official code's ``MI_disc``): the ``infogan`` term logs it as
  ``infogan_mi_categorical``.

  Args:
    categorical_logits: Q's logits ``[batch, K]`` on images generated with ``codes``.
    codes: the categorical codes, int ``[batch]``.

  Returns:
    The scalar estimate in nats.

  References:
    Chen et al., InfoGAN: Interpretable Representation Learning by Information Maximizing
    Generative Adversarial Nets, NeurIPS 2016, eq. (4)-(5).
  """
  logits = jnp.asarray(categorical_logits)
  ce = classification_loss(logits, codes)
  return math.log(logits.shape[-1]) - ce


# ---------------------------------------------------------------------------
# Registry


@dataclasses.dataclass(frozen=True)
class AuxiliaryLoss:
  """An auxiliary loss: its two terms, with any weights already bound, and what it logs
  beside them: ``metrics(fake_heads, fake_y) -> {name: scalar}`` (computed in D's update,
  on the fakes), or ``None``."""
  name: str
  discriminator_term: DiscriminatorTerm
  generator_term: GeneratorTerm
  metrics: Callable[[Heads, chex.ArrayTree], dict[str, chex.Array]] | None = None


AUXILIARY_LOSSES = Registry('auxiliary loss')


@AUXILIARY_LOSSES.register('none')
def no_auxiliary() -> None:
  """The ``'none'`` entry: no auxiliary term (``get('none')`` returns ``None``), as
  ``penalties.get('none')``."""
  return None


def _check_weights(name: str, **weights: float) -> None:
  """A negative weight would train G and D to make the classes or codes less recoverable."""
  for k, w in weights.items():
    if w < 0:
      raise ArgumentError(f'auxiliary loss {name!r}: {k} must be >= 0 (0 turns the term off); '
                          f'got {w!r}.')


@AUXILIARY_LOSSES.register('acgan')
def acgan(weight: float = 1.0) -> AuxiliaryLoss:
  """ACGAN's auxiliary classifier terms, weighted ``weight`` (1 in the paper; >= 0)."""
  _check_weights('acgan', weight=weight)
  return AuxiliaryLoss(
      'acgan',
      lambda rh, fh, ry, fy: acgan_discriminator_term(rh, fh, ry, fy, weight),
      lambda fh, fy: acgan_generator_term(fh, fy, weight))


@AUXILIARY_LOSSES.register('infogan')
def infogan(lambda_cat: float = 1.0, lambda_cont: float = 0.1) -> AuxiliaryLoss:
  """InfoGAN's mutual-information terms; see :func:`infogan_information_loss`. Logs
  ``infogan_mi_categorical``, the bound :func:`categorical_mutual_information` (``log K``
  for a Q that recovers every categorical code, 0 for a uniform one). Both weights >= 0."""
  _check_weights('infogan', lambda_cat=lambda_cat, lambda_cont=lambda_cont)

  def metrics(fake_heads: Heads, fake_y: chex.ArrayTree) -> dict[str, chex.Array]:
    if 'categorical' not in fake_y:
      return {}
    return {'infogan_mi_categorical': categorical_mutual_information(
        fake_heads['categorical_logits'], fake_y['categorical'])}
  return AuxiliaryLoss(
      'infogan',
      lambda rh, fh, ry, fy: infogan_discriminator_term(rh, fh, ry, fy, lambda_cat,
                                                        lambda_cont),
      lambda fh, fy: infogan_generator_term(fh, fy, lambda_cat, lambda_cont), metrics)


def names() -> list[str]:
  """The names :func:`get` accepts: none (first), acgan, infogan."""
  return AUXILIARY_LOSSES.names()


def get(spec: str, **hyperparameters: float) -> AuxiliaryLoss | None:
  """The auxiliary loss ``spec`` (a name or ``'name(k=v)'``) with its weights bound.

  Args:
    spec: ``'acgan'``, ``'infogan'`` or ``'none'``, e.g. ``'infogan(lambda_cont=1.0)'``.
    **hyperparameters: ``weight`` (acgan); ``lambda_cat``, ``lambda_cont`` (infogan).

  Returns:
    An :class:`AuxiliaryLoss`, or ``None`` for ``'none'``.

  Raises:
    ValueError: an unknown name (the message lists the valid ones).
    TypeError: a hyper-parameter the loss does not have.
  """
  return AUXILIARY_LOSSES.get(spec, **hyperparameters)
