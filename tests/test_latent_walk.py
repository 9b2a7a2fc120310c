"""Tests of jaxgan.latent_walk: the paths against closed forms, walks against the noise of
the samples they join."""

import math

import chex
import numpy as np
from absl.testing import absltest

from configs import cgan_digits
from jaxgan import build, inference, latent_walk


class PathsTest(chex.TestCase):

  def test_slerp_of_orthogonal_unit_vectors_runs_along_the_circle(self):
    # a = e1, b = e2 (W = pi/2): slerp(t) = (cos(t pi/2), sin(t pi/2)); its middle is
    # (a + b)/sqrt(2), of norm 1, where the straight line's is (a + b)/2, of norm 1/sqrt(2).
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    t = np.array([0.0, 0.25, 0.5, 1.0])
    got = latent_walk.slerp(a, b, t)
    chex.assert_shape(got, (1, 4, 2))
    want = np.stack([np.cos(t * math.pi / 2), np.sin(t * math.pi / 2)], -1)[None]
    np.testing.assert_allclose(got, want, atol=1e-15)
    np.testing.assert_allclose(latent_walk.lerp(a, b, t)[0, 2], [0.5, 0.5], atol=0)

  def test_slerp_keeps_the_ends_and_moves_at_an_even_angle(self):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(5, 16)), rng.normal(size=(5, 16))
    t = np.linspace(0, 1, 7)
    got = latent_walk.slerp(a, b, t)
    np.testing.assert_array_equal(got[:, 0], a)  # sin(W)/sin(W) = 1 and sin(0) = 0 exactly
    np.testing.assert_allclose(got[:, -1], b, rtol=1e-12, atol=1e-12)
    # Ends of one norm (3): the path keeps it, at angle t W from a (the great circle).
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)
    angle = lambda u, v: np.arccos(np.clip((unit(u) * unit(v)).sum(-1), -1, 1))
    on_sphere = latent_walk.slerp(3 * unit(a), 3 * unit(b), t)
    np.testing.assert_allclose(np.linalg.norm(on_sphere, axis=-1), 3.0, rtol=1e-12)
    w = angle(a, b)  # [5]
    np.testing.assert_allclose(angle(on_sphere, a[:, None]), t[None] * w[:, None], atol=1e-7)
    # Every point lies in the plane of a and b: its residual off that plane is 0.
    basis, _ = np.linalg.qr(np.stack([a, b], -1))  # [5, 16, 2]
    off = got - np.einsum('nij,nkj,nsk->nsi', basis, basis, got)
    np.testing.assert_allclose(off, 0, atol=1e-12)

  def test_parallel_rows_take_the_straight_line(self):
    # W = 0 (b a multiple of a): the limit of slerp, the straight line; no 0/0.
    a = np.array([[1.0, 2.0, 2.0]])
    t = np.array([0.0, 0.5, 1.0])
    got = latent_walk.slerp(a, 3 * a, t)
    self.assertTrue(np.all(np.isfinite(got)))
    np.testing.assert_allclose(got[0], [a[0], 2 * a[0], 3 * a[0]], rtol=1e-12)

  def test_lerp_by_hand(self):
    got = latent_walk.lerp(np.array([[0.0, 4.0]]), np.array([[2.0, 0.0]]),
                           np.array([0.0, 0.25, 1.0]))
    np.testing.assert_allclose(got[0], [[0, 4], [0.5, 3], [2, 0]], atol=0)


class WalkTest(chex.TestCase):

  def test_a_walk_joins_the_noise_of_sample_i_to_that_of_sample_rows_plus_i(self):
    c = cgan_digits.get_config()
    gan, _ = build.build(c)
    rows, steps = 3, 5
    for path in latent_walk.PATHS:
      z, y = latent_walk.walk(gan, rows, steps, seed=7, path=path)
      chex.assert_shape(z, (rows * steps, gan.z_dim))
      z_ends, y_ends = inference.noise(gan, 2 * rows, seed=7)
      z = z.reshape(rows, steps, -1)
      np.testing.assert_array_equal(z[:, 0], z_ends[:rows])
      np.testing.assert_allclose(z[:, -1], z_ends[rows:], rtol=1e-5, atol=1e-6)
      # The labels are row i's start's, at every step.
      np.testing.assert_array_equal(np.asarray(y).reshape(rows, steps),
                                    np.repeat(np.asarray(y_ends)[:rows, None], steps, 1))
      middle = np.linalg.norm(z[:, steps // 2], axis=-1)
      ends = np.linalg.norm(z[:, [0, -1]], axis=-1)
      if path == 'slerp':  # on the great circle: between the ends' norms
        self.assertTrue(np.all(middle >= ends.min(1) - 1e-4))
      else:  # the straight line cuts inside: shorter than both ends for ~orthogonal rows
        self.assertTrue(np.all(middle < ends.min(1)))

  def test_bad_walks_are_an_error_naming_them(self):
    gan, _ = build.build(cgan_digits.get_config())
    with self.assertRaisesRegex(ValueError, 'num_rows >= 1 and steps >= 2 .*steps=1'):
      latent_walk.walk(gan, 2, 1)
    with self.assertRaisesRegex(ValueError, "path must be one of slerp, linear; got 'arc'"):
      latent_walk.walk(gan, 2, 3, path='arc')


if __name__ == '__main__':
  absltest.main()
