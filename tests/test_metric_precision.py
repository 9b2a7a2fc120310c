"""The metric networks run every product at float32 precision, on every backend.

XLA's default precision for float32 convolutions and matrix products is one bfloat16 pass
on TPUs and TF32 on recent GPUs; on the CPU it is float32 either way, so these tests read
the precision each product asks for in the traced program instead of comparing numbers.
"""

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest
from jax import lax

from jaxgan.metrics import digit_classifier, inception

PRODUCTS = ('conv_general_dilated', 'dot_general')
FLOAT32 = (lax.Precision.HIGHEST, lax.Precision.HIGHEST)


def _subjaxprs(value):
  if hasattr(value, 'eqns'):
    yield value
  elif hasattr(getattr(value, 'jaxpr', None), 'eqns'):
    yield value.jaxpr
  elif isinstance(value, (tuple, list)):
    for v in value:
      yield from _subjaxprs(v)


def product_precisions(fn, *args) -> list[tuple[str, object]]:
  """``(primitive, precision)`` of every convolution and matrix product ``fn`` traces,
  nested jaxprs (jit, custom derivatives) included."""
  found = []

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name in PRODUCTS:
        found.append((eqn.primitive.name, eqn.params['precision']))
      for value in eqn.params.values():
        for sub in _subjaxprs(value):
          walk(sub)
  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return found


class MetricPrecisionTest(chex.TestCase):

  def assert_all_float32(self, found, min_convs):
    convs = [p for name, p in found if name == 'conv_general_dilated']
    self.assertGreaterEqual(len(convs), min_convs)
    self.assertTrue(any(name == 'dot_general' for name, _ in found))
    self.assertEqual([(n, p) for n, p in found if p != FLOAT32], [])

  def test_the_fid_inception(self):
    variables = jax.eval_shape(inception.FIDInceptionV3().init, jax.random.key(0),
                               jnp.zeros((1, 75, 75, 3)))
    found = product_precisions(inception._apply, variables, jnp.zeros((2, 32, 32, 3)))
    self.assert_all_float32(found, min_convs=94)  # pytorch-fid's InceptionV3: 94 convs

  def test_the_digit_classifier_forward_and_training_gradient(self):
    x = jnp.zeros((4, 8, 8, 1))
    params = jax.eval_shape(digit_classifier.DigitClassifier().init, jax.random.key(0), x)
    self.assert_all_float32(product_precisions(digit_classifier._apply, params, x), 1)
    grad = jax.grad(digit_classifier._loss)
    found = product_precisions(grad, params, x, jnp.zeros((4,), jnp.int32))
    self.assert_all_float32(found, min_convs=3)  # a forward conv and its two gradients

  def test_the_check_sees_the_default_precision(self):
    """The check fails on a product left at the backend's default."""
    found = product_precisions(lambda a, b: a @ b, np.ones((2, 3), np.float32),
                               np.ones((3, 2), np.float32))
    self.assertNotEqual([p for _, p in found], [FLOAT32])


if __name__ == '__main__':
  absltest.main()
