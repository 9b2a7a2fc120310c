"""Tests of jaxgan.models and jaxgan.data."""

import os
import re
import tempfile
from unittest import mock

import chex
import jax
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image
from sklearn.datasets import load_digits as sk_load_digits

from jaxgan import data, models, validation
from jaxgan.data import images, mixtures, paired
from tests.test_blocks import jit_init


def _count(tree) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


class ModelsTest(chex.TestCase):

  def test_classic_mnist_mlp_parameter_count(self):
    g, d = models.get('mlp')
    # shapes only: traced (eval_shape), not run
    gv = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((2, 100)), train=False))
    dv = jax.eval_shape(lambda: d.init(jax.random.key(1), jnp.zeros((2, 28, 28, 1)),
                                       train=False))
    # G: 100->128->128 (+BN scale/bias) ->784; D: 784->256->256->1.
    want_g = (100 * 128 + 128) + (128 * 128 + 128) + 2 * 128 + (128 * 784 + 784)
    want_d = (784 * 256 + 256) + (256 * 256 + 256) + (256 + 1)
    self.assertEqual(_count(gv['params']), want_g)
    self.assertEqual(_count(dv['params']), want_d)
    self.assertEqual(_count(gv['batch_stats']), 2 * 128)

  @chex.variants(with_jit=True, without_jit=True)
  @parameterized.product(size_channels=[(28, 1), (32, 3), (64, 3)],
                         norm=['batch', 'layer', 'none', 'spectral'])
  def test_dcgan_shapes_and_range(self, size_channels, norm):
    size, ch = size_channels
    g, d = models.get('dcgan', {'image_size': size, 'channels': ch, 'width': 16},
                      {'width': 16, 'norm': norm})
    z = jax.random.normal(jax.random.key(0), (3, 32))
    gv = jit_init(g, jax.random.key(1), z, train=False)
    x = self.variant(lambda v, z: g.apply(v, z, train=False))(gv, z)
    chex.assert_shape(x, (3, size, size, ch))
    self.assertTrue(bool(jnp.all(jnp.abs(x) <= 1.0)))
    dv = jit_init(d, jax.random.key(2), x, train=False)
    logits = self.variant(lambda v, x: d.apply(v, x, train=False))(dv, x)
    chex.assert_shape(logits, (3,))

  def test_spectral_norm_bounds_the_layer(self):
    # After power iterations, each normalized kernel has largest singular value ~1.
    d = models.DCGANDiscriminator(width=8, num_layers=2, norm='spectral')
    x = jax.random.normal(jax.random.key(0), (4, 16, 16, 3))
    v = jit_init(d, jax.random.key(1), x, train=False)
    apply_train = jax.jit(lambda v, x: d.apply(v, x, train=True, mutable=['batch_stats']))
    for _ in range(30):
      _, upd = apply_train(v, x)
      v = {'params': v['params'], **upd}
    sigmas = [np.asarray(s) for p, s in jax.tree_util.tree_leaves_with_path(v['batch_stats'])
              if 'sigma' in jax.tree_util.keystr(p)]
    kernels = [np.asarray(k) for p, k in jax.tree_util.tree_leaves_with_path(v['params'])
               if 'kernel' in jax.tree_util.keystr(p)]
    self.assertLen(sigmas, 3)
    want = sorted(np.linalg.svd(k.reshape(-1, k.shape[-1]), compute_uv=False)[0]
                  for k in kernels)
    np.testing.assert_allclose(sorted(float(s) for s in sigmas), want, rtol=1e-2)

  def test_initializers_are_the_sources(self):
    # The classic MLP is a Keras model: glorot_uniform, U[-b, b] with b = sqrt(6 / (in + out)).
    g, d = models.get('mlp')
    dv = jit_init(d, jax.random.key(1), jnp.zeros((2, 28, 28, 1)), train=False)['params']
    k = np.asarray(dv['Dense_0']['kernel'])  # 784 x 256
    bound = np.sqrt(6.0 / (784 + 256))
    self.assertLessEqual(np.abs(k).max(), bound)
    self.assertGreater(np.abs(k).max(), 0.99 * bound)
    np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.01)
    np.testing.assert_array_equal(dv['Dense_0']['bias'], 0.0)
    # DCGAN: N(0, 0.02) (Radford et al. 2016, section 4).
    g, d = models.get('dcgan', {'image_size': 32, 'width': 32}, {'width': 32})
    gv = jit_init(g, jax.random.key(2), jnp.zeros((2, 100)), train=False)['params']
    dense = np.asarray(gv['Dense_0']['kernel'])
    np.testing.assert_allclose(dense.std(), 0.02, rtol=0.01)
    self.assertLess(abs(dense.mean()), 0.001)
    # SNGAN/SAGAN (Miyato et al.'s code): the residual convolutions Glorot-uniform with gain
    # sqrt(2), the linear layer and the shortcut with gain 1: U[-a, a], a = gain *
    # sqrt(6 / (fan_in + fan_out)), fans counting the 3 x 3 (or 1 x 1) receptive field.
    g, _ = models.get('sngan', {'ngf': 32})
    gv = jit_init(g, jax.random.key(5), jnp.zeros((1, 128)), train=False)['params']
    for k, gain, fans in ((gv['block2']['c1']['kernel'], np.sqrt(2.0), 2 * 9 * 32),
                          (gv['block2']['c_sc']['kernel'], 1.0, 2 * 32),
                          (gv['l1']['kernel'], 1.0, 128 + 4 * 4 * 32)):
      k, a = np.asarray(k), gain * np.sqrt(6.0 / fans)
      self.assertLessEqual(np.abs(k).max(), a)
      np.testing.assert_allclose(k.std(), a / np.sqrt(3), rtol=0.05)
    # An initializer by name, with arguments.
    g, _ = models.get('mlp', {'kernel_init': 'normal(stddev=0.5)'})
    gv = jit_init(g, jax.random.key(3), jnp.zeros((2, 100)), train=False)['params']
    np.testing.assert_allclose(np.asarray(gv['Dense_0']['kernel']).std(), 0.5, rtol=0.05)
    # JAX's initializers take a sequence where their default is an int (fan over 2 axes).
    from jaxgan.models import initializers
    init = initializers.resolve("variance_scaling(scale=2.0, mode='fan_in', "
                                "distribution='normal', in_axis=(0, 1), out_axis=2)")
    k = np.asarray(init(jax.random.key(4), (8, 16, 200)))  # fan_in = 8 * 16
    np.testing.assert_allclose(k.std(), np.sqrt(2.0 / 128), rtol=0.05)
    # A number for an initializer (a stddev meant as normal(stddev=0.02)) is refused by
    # name, not passed on to fail inside Flax.
    with self.assertRaisesRegex(ValueError, 'Cannot read 0.02: write a name as a string'):
      initializers.resolve(0.02)

  def test_each_initializer_name_draws_its_distribution(self):
    """Every registered name against its closed form on a [400, 100] kernel (fan_in 400,
    fan_out 100): the variance (2/(in+out), 1/in, 2/in; a truncated normal's rescaled to
    it), the support, and the tails that tell a normal from a truncated one."""
    from jaxgan.models import initializers
    fi, fo = 400, 100
    draw = lambda spec: np.asarray(initializers.get(spec)(jax.random.key(7), (fi, fo)),
                                   np.float64)
    uniform = {'glorot_uniform': np.sqrt(6 / (fi + fo)), 'he_uniform': np.sqrt(6 / fi)}
    for name, bound in uniform.items():
      k = draw(name)
      self.assertLessEqual(np.abs(k).max(), bound, name)
      self.assertGreater(np.abs(k).max(), 0.99 * bound, name)
      np.testing.assert_allclose(k.std(), bound / np.sqrt(3), rtol=0.03, err_msg=name)
    truncated = {'glorot_normal': 2 / (fi + fo), 'lecun_normal': 1 / fi, 'he_normal': 2 / fi}
    for name, variance in truncated.items():
      k = draw(name)
      np.testing.assert_allclose(k.var(), variance, rtol=0.05, err_msg=name)
      # cut at 2 standard deviations of the normal before rescaling (0.8796 of it)
      self.assertLessEqual(np.abs(k).max(), 2 * np.sqrt(variance) / 0.87962566, name)
      self.assertGreater(np.abs(k).max(), 2 * np.sqrt(variance), name)  # past a uniform's
    k = draw('normal(stddev=0.3)')  # untruncated: 4.55 % beyond 2 sigma
    np.testing.assert_allclose(k.std(), 0.3, rtol=0.03)
    np.testing.assert_allclose(np.mean(np.abs(k) > 0.6), 0.0455, atol=0.006)
    k = draw('uniform(scale=0.5)')  # U[0, 0.5)
    self.assertTrue(0.0 <= k.min() and k.max() < 0.5)
    np.testing.assert_allclose(k.mean(), 0.25, rtol=0.03)
    np.testing.assert_allclose(draw('orthogonal').T @ draw('orthogonal'), np.eye(fo),
                               atol=1e-5)
    np.testing.assert_array_equal(draw('zeros'), 0.0)
    np.testing.assert_array_equal(draw('ones'), 1.0)
    k = draw("variance_scaling(scale=3.0, mode='fan_out', distribution='uniform')")
    np.testing.assert_allclose(k.var(), 3.0 / fo, rtol=0.05)
    self.assertCountEqual(initializers.names(), [
        'glorot_uniform', 'glorot_normal', 'lecun_normal', 'he_normal', 'he_uniform',
        'orthogonal', 'normal', 'uniform', 'variance_scaling', 'zeros', 'ones'])

  def test_every_model_takes_initializers_by_name(self):
    """A config can only hold a name: the ResNet and conditional modules, which do not
    resolve names themselves, take them through models.get too."""
    g, d = models.get('sngan', {'ngf': 32, 'kernel_init': 'orthogonal'},
                      {'ndf': 32, 'residual_init': 'normal(stddev=0.5)'})
    w = np.asarray(jit_init(g, jax.random.key(0), jnp.zeros((1, 128)),
                         train=False)['params']['l1']['kernel'])  # 128 x (4 * 4 * 32)
    np.testing.assert_allclose(w @ w.T, np.eye(128), atol=1e-5)  # orthonormal rows
    dv = jit_init(d, jax.random.key(1), jnp.zeros((1, 32, 32, 3)), train=False)
    c1 = np.asarray(dv['params']['block1']['c1']['kernel'])
    np.testing.assert_allclose(c1.std(), 0.5, rtol=0.05)
    g, _ = models.get('cgan', {'kernel_init': 'normal(stddev=0.5)'})
    gv = jit_init(g, jax.random.key(2), jnp.zeros((2, 100)), jnp.zeros((2,), jnp.int32),
               train=False)['params']
    kernels = [np.asarray(k) for p, k in jax.tree_util.tree_leaves_with_path(gv)
               if 'kernel' in jax.tree_util.keystr(p) and k.size > 1000]
    self.assertNotEmpty(kernels)
    for k in kernels:
      np.testing.assert_allclose(k.std(), 0.5, rtol=0.05)
    with self.assertRaisesRegex(ValueError, "initializer 'orthogonl'.*orthogonal"):
      models.get('sngan', {'kernel_init': 'orthogonl'})

  def test_unconditional_models_refuse_labels(self):
    g, d = models.get('dcgan', {'image_size': 28, 'channels': 1, 'width': 8}, {'width': 8})
    z, y = jnp.zeros((2, 8)), jnp.zeros((2,), jnp.int32)
    with self.assertRaisesRegex(ValueError, 'DCGANGenerator is unconditional'):
      g.init(jax.random.key(0), z, y, train=False)
    with self.assertRaisesRegex(ValueError, 'DCGANDiscriminator is unconditional'):
      d.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)), y, train=False)

  def test_inputs_of_the_wrong_rank_name_both_shapes(self):
    key = jax.random.key(0)
    g, d = models.get('dcgan', {'image_size': 28, 'channels': 1, 'width': 8}, {'width': 8})
    with self.assertRaisesRegex(ValueError, r'DCGANGenerator needs noise z of shape '
                                r'\[B, z_dim\]; got shape \(4, 1, 8\)'):
      g.init(key, jnp.zeros((4, 1, 8)), train=False)
    # Three axes were read as one unbatched image: logits of shape (1,) for 4 images.
    with self.assertRaisesRegex(ValueError, r'DCGANDiscriminator needs images x of shape '
                                r'\[B, H, W, C\]; got shape \(4, 28, 28\)'):
      d.init(key, jnp.zeros((4, 28, 28)), train=False)
    g, d = models.get('mlp', {'output_shape': (2,)})
    with self.assertRaisesRegex(ValueError, r'MLPGenerator needs noise z of shape \[B, z_dim\]; '
                                r'got shape \(4,\)'):
      g.init(key, jnp.zeros(4), train=False)
    with self.assertRaisesRegex(ValueError, r'MLPGenerator needs noise z of shape \[B, z_dim\]; '
                                r'got shape \(4, 1, 8\)'):
      g.init(key, jnp.zeros((4, 1, 8)), train=False)
    with self.assertRaisesRegex(ValueError, r'MLPDiscriminator needs samples x of shape '
                                r'\[B, \.\.\.\] \(at least 2 axes\); got shape \(4,\)'):
      d.init(key, jnp.zeros(4), train=False)

  def test_bad_model_attributes(self):
    key, z, x = jax.random.key(0), jnp.zeros((2, 8)), jnp.zeros((2, 16, 16, 3))
    with self.assertRaisesRegex(ValueError, "norm must be one of batch, layer, layer_chw, "
                                "none, spectral; got 'group'"):
      models.DCGANDiscriminator(width=4, norm='group').init(key, x, train=False)
    with self.assertRaisesRegex(ValueError, "output_activation must be 'tanh' or 'linear'; "
                                "got 'sigmoid'"):
      models.MLPGenerator(features=(4,), output_shape=(2,),
                          output_activation='sigmoid').init(key, z, train=False)
    with self.assertRaisesRegex(ValueError, "activation must be one of relu, leaky_relu; "
                                "got 'elu'"):
      models.MLPDiscriminator(features=(4,), activation='elu').init(key, x, train=False)
    with self.assertRaisesRegex(ValueError, r'dropout must be a rate in \[0, 1\); got 1.0'):
      models.MLPDiscriminator(features=(4,), dropout=1.0).init(key, x, train=False)

  def test_critics_return_float32_logits_in_bfloat16(self):
    x = jnp.ones((2, 16, 16, 3))
    for d in (models.MLPDiscriminator(features=(8,), dtype=jnp.bfloat16),
              models.DCGANDiscriminator(width=4, num_layers=2, dtype=jnp.bfloat16)):
      # init and apply as one compiled program
      logits = jax.jit(lambda k, x, d=d: d.apply(d.init(k, x, train=False), x, train=False))(
          jax.random.key(0), x)
      self.assertEqual((logits.shape, logits.dtype), ((2,), jnp.float32), type(d).__name__)

  def test_dcgan_generator_layers_keep_at_least_8_channels(self):
    # width 8: the last transposed convolution outputs max(8 // 2, 8) = 8 channels.
    g = models.DCGANGenerator(image_size=32, channels=1, width=8)
    p = jax.eval_shape(lambda: g.init(jax.random.key(0), jnp.zeros((1, 4)),
                                      train=False))['params']  # shapes only
    self.assertEqual([p[f'ConvTranspose_{i}']['kernel'].shape[-1] for i in range(3)],
                     [16, 8, 8])
    self.assertEqual(p['Conv_0']['kernel'].shape, (3, 3, 8, 1))

  def test_bad_model_names(self):
    with self.assertRaisesRegex(ValueError, 'resnet.*mlp, dcgan'):
      models.get('resnet')
    with self.assertRaisesRegex(ValueError, 'image_size 28, 32 or 64'):
      g, _ = models.get('dcgan', {'image_size': 48})
      g.init(jax.random.key(0), jnp.zeros((1, 8)))

  def test_module_attributes_in_the_name_or_as_arguments(self):
    # 'mlp(generator={...})' is the registry's spec form: taken once, not "given twice".
    g, d = models.get("mlp(generator={'features': (8,)}, discriminator={'features': (4,)})")
    self.assertEqual((g.features, d.features), ((8,), (4,)))
    g, _ = models.get("mlp(generator={'features': (8,)})", discriminator={'features': (4,)})
    self.assertEqual(g.features, (8,))
    with self.assertRaisesRegex(TypeError, 'generator given twice'):
      models.get("mlp(generator={'features': (8,)})", generator={'features': (4,)})
    import ml_collections  # a config's section is taken as a dict
    g, _ = models.get('mlp', ml_collections.ConfigDict({'features': (8,)}))
    self.assertEqual(g.features, (8,))
    for bad in (3, [('features', (8,))]):
      with self.assertRaisesRegex(TypeError, "The generator of model 'mlp' takes a dict of "
                                  r'module attributes; got '):
        models.get('mlp', generator=bad)

  def test_each_family_s_conditioning_and_labels(self):
    # The module docstring's families: what G and D are conditioned on, and the classes of
    # the class-conditional ResNets (CIFAR-10's 10).
    want = {'mlp': 'none', 'dcgan': 'none', 'cgan': 'labels', 'acgan': 'generator_labels',
            'infogan': 'codes', 'sngan': 'none', 'cgan_pd': 'labels', 'sagan': 'none',
            'sagan_cond': 'labels', 'srgan': 'lowres', 'esrgan': 'lowres'}
    self.assertEqual({n: models.family(n).conditioning for n in models.names()}, want)
    for name, k in (('sngan', 0), ('cgan_pd', 10), ('sagan', 0), ('sagan_cond', 10)):
      g, d = models.get(name)
      self.assertEqual((g.num_classes, d.num_classes), (k, k), name)
    with self.assertRaisesRegex(ValueError, "conditioning must be one of none, labels, "
                                "generator_labels, codes, lowres; got 'classes'"):
      models.register('mlp_classes', models.MLPGenerator, models.MLPDiscriminator, 'classes')
    self.assertNotIn('mlp_classes', models.names())


class MixturesTest(chex.TestCase):

  @parameterized.parameters(('ring8', 8, 0.02), ('grid25', 25, 0.05))
  def test_samples_follow_the_mixture(self, name, k, std):
    means, s = mixtures.MIXTURES[name]
    self.assertEqual(len(means), k)
    self.assertEqual(s, std)
    x = mixtures.sample(name, np.random.default_rng(0), 20000)
    dist = np.linalg.norm(x[:, None] - means[None], axis=-1)
    nearest = dist.argmin(1)
    counts = np.bincount(nearest, minlength=k)
    self.assertTrue(np.all(np.abs(counts / len(x) - 1 / k) < 0.01))
    resid = x - means[nearest]
    np.testing.assert_allclose(resid.std(0), [std, std], rtol=0.05)
    # The two coordinates' noise independent (covariance std^2 I), and the modes drawn
    # independently of each other: a mode's successor is any mode, equally often.
    self.assertLess(abs(np.corrcoef(resid.T)[0, 1]), 0.03)  # 4 std of its spread
    # Pearson's chi^2 of the k^2 (mode, next mode) counts, k^2 - 1 degrees of freedom
    # (mean k^2 - 1, std sqrt(2 (k^2 - 1))): under 5 std above its mean.
    pairs = np.bincount(nearest[:-1] * k + nearest[1:], minlength=k * k)
    expected = (len(x) - 1) / k ** 2
    chi2, dof = np.sum((pairs - expected) ** 2 / expected), k * k - 1
    self.assertLess(chi2, dof + 5 * np.sqrt(2 * dof))

  def test_celeba_faces_are_the_centre_140_pixel_square(self):
    # CelebA's 218 x 178 images: the usual 140 x 140 centre crop, then resizing.
    image = np.random.default_rng(0).integers(0, 256, (218, 178, 3)).astype(np.uint8)
    got = images._to_unit_range(image, 140)
    np.testing.assert_allclose(got, image[39:179, 19:159] / 127.5 - 1.0, atol=1e-6)

  def test_samples_are_float32(self):
    for name in mixtures.MIXTURES:
      x = mixtures.sample(name, np.random.default_rng(0), 5)
      self.assertEqual((x.shape, x.dtype), ((5, 2), np.float32), name)
      self.assertEqual(data.get(name, batch_size=4).batch(0)['x'].dtype, np.float32, name)

  def test_ring_geometry(self):
    m = mixtures.ring8_modes()
    angles = 2 * np.pi * np.arange(8) / 8   # evenly on the whole circle (VEEGAN, PacGAN)
    np.testing.assert_allclose(m, 2 * np.stack([np.cos(angles), np.sin(angles)], 1),
                               atol=1e-6)
    self.assertEqual(sorted(set(np.round(mixtures.grid25_modes().ravel(), 6))),
                     [-4.0, -2.0, 0.0, 2.0, 4.0])


class PipelineTest(chex.TestCase):

  def test_a_folder_of_ones_own_images_for_the_noise_models(self):
    from configs import cgan_pd_cifar10, dcgan_cifar10, wgan_gp_mnist
    from jaxgan import build
    root = tempfile.mkdtemp()
    colours = {'cats': (200, 20, 20), 'dogs': (20, 200, 60)}
    for name, colour in colours.items():
      os.mkdir(os.path.join(root, name))
      for i, (h, w) in enumerate(((40, 60), (50, 30), (16, 16))):
        # A landscape image's side thirds, a portrait one's top and bottom, are another
        # colour: the centre crop keeps the square of the class colour alone.
        im = np.zeros((h, w, 3), np.uint8)
        c = min(h, w)
        top, left = (h - c) // 2, (w - c) // 2
        im[top:top + c, left:left + c] = colour
        Image.fromarray(im).save(os.path.join(root, name, f'{i}.png'))
    p = data.get('images', batch_size=4, path=root, image_size=32, labels=True)
    self.assertEqual((p.num_examples, p.num_classes, p.element_shape, p.evaluator),
                     (6, 2, (32, 32, 3), 'inception'))
    b = p.batch(0)
    chex.assert_shape(b['x'], (1, 4, 32, 32, 3))
    for x, y in zip(b['x'][0], b['y'][0], strict=True):
      want = np.asarray(colours[['cats', 'dogs'][y]], np.float32) / 127.5 - 1
      np.testing.assert_allclose(x, np.broadcast_to(want, x.shape), atol=1e-6)
    # Without labels every image under the folder is one set, sub-folders (and theirs, as
    # with labels) included; hidden ones are not.
    os.makedirs(os.path.join(root, 'dogs', 'more', '.thumbnails'))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        os.path.join(root, 'dogs', 'more', 'x.png'))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        os.path.join(root, 'dogs', 'more', '.thumbnails', 'x.png'))
    p = data.get('images', batch_size=4, path=root, image_size=8)
    self.assertEqual((p.num_examples, p.num_classes), (7, 0))
    self.assertNotIn('y', p.batch(0))
    self.assertEqual(data.get('images', batch_size=4, path=root, image_size=8,
                              labels=True).num_examples, 7)
    with self.assertRaisesRegex(FileNotFoundError, r"needs a folder of images \(--config.data"
                                r".name=\"images\(path='DIR'\)\"\); got ''"):
      data.get('images', batch_size=4)
    with self.assertRaisesRegex(FileNotFoundError, r"needs a folder of images .*; got "
                                r"'/nonexistent/pictures'"):
      data.get('images', batch_size=4, path='/nonexistent/pictures')
    one = os.path.join(root, 'dogs', 'more')
    with self.assertRaisesRegex(validation.DataError, 'holds 1 image: a GAN and its FID/KID '
                                'need at least 2'):
      data.get('images', batch_size=4, path=one)
    # Grayscale for the 1-channel models: ITU-R 601 luma of the class colour.
    p = data.get('images', batch_size=2, path=os.path.join(root, 'cats'), image_size=8,
                 channels=1)
    chex.assert_shape(p.batch(0)['x'], (1, 2, 8, 8, 1))
    luma = np.round(200 * 0.299 + 20 * 0.587 + 20 * 0.114) / 127.5 - 1
    np.testing.assert_allclose(p.batch(0)['x'], luma, atol=1.5 / 127.5)
    # The shipped configs take it by its name alone (the TFDS ones' data_dir and split, the
    # image size, stay as they are); a DCGAN and a class-conditional GAN build on it.
    flat = os.path.join(root, 'cats')
    c = dcgan_cifar10.get_config()
    c.data.name = f"images(path='{flat}')"
    self.assertEqual(build.build(c)[1].element_shape, (32, 32, 3))
    c.data.split = 'test'
    with self.assertRaisesRegex(validation.ConfigError, 'a folder has no splits'):
      build.build(c)
    c = wgan_gp_mnist.get_config()
    c.data.name = f"images(path='{flat}', channels=1)"
    self.assertEqual(build.build(c)[1].element_shape, (28, 28, 1))
    # The wrong channel count, or no labels for a conditional model: the spec that fits.
    c.data.name = f"images(path='{flat}')"
    with self.assertRaisesRegex(validation.ConfigError, re.escape(
        "makes samples of shape (28, 28, 1) but 'images' has samples of shape (28, 28, 3). "
        'The generator makes 1 channel(s): read the folder with channels=1, '
        f'--config.data.name="images(path=\'{flat}\', channels=1)".')):
      build.build(c)
    # A channel count given in the spec is replaced by the one that fits, not given twice.
    c.data.name = f"images(path='{flat}', channels=3)"
    with self.assertRaisesRegex(validation.ConfigError, re.escape(
        f'--config.data.name="images(path=\'{flat}\', channels=1)".')):
      build.build(c)
    # Another image size too: the channels alone would not fit, so no hint names them.
    c.data.name = f"images(path='{flat}')"
    c.data.image_size = 32
    with self.assertRaisesRegex(validation.ConfigError, re.escape(
        "makes samples of shape (28, 28, 1) but 'images' has samples of shape (32, 32, 3).")
        + '$'):
      build.build(c)
    c = cgan_pd_cifar10.get_config()
    c.data.name = f"images(path='{root}', channels=3)"
    with self.assertRaisesRegex(validation.ConfigError, re.escape(
        "is class-conditional but dataset 'images' has no labels. A folder gives one class "
        f'per sub-folder with labels=True: --config.data.name="images(path=\'{root}\', '
        'channels=3, labels=True)".')):
      build.build(c)
    # A data argument that is a field of config.data is set by its own flag.
    c.data = dict(name='images', batch_size=4, path=root, image_size=32, labels=False)
    with self.assertRaisesRegex(validation.ConfigError, re.escape(
        'with labels=True: --config.data.labels=True.')):
      build.build(c)
    c = cgan_pd_cifar10.get_config()
    c.data = dict(name='images', batch_size=4, path=root, image_size=32, labels=True)
    with self.assertRaisesRegex(validation.ConfigError,
                                r'has num_classes=10 but dataset .* has 2 classes: set '
                                r'--config.model.generator.num_classes=2 '
                                r'--config.model.discriminator.num_classes=2\.'):
      build.build(c)
    c.model.generator.num_classes = c.model.discriminator.num_classes = 2
    self.assertEqual(build.build(c)[1].num_classes, 2)

  def test_image_suffixes_in_any_case_are_read_and_hidden_class_folders_are_not(self):
    # Cameras and Windows tools write .JPG and .PNG; a hidden folder ('.cache', a
    # thumbnail store) is no class.
    root = tempfile.mkdtemp()
    for folder, names in (('a', ('UP.PNG', 'b.Jpeg')), ('b', ('c.BMP', 'd.png')),
                          ('.cache', ('e.png',))):
      os.mkdir(os.path.join(root, folder))
      for n in names:
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
            os.path.join(root, folder, n), format='BMP' if n.lower().endswith('bmp') else
            'JPEG' if 'jp' in n.lower() else 'PNG')
    _, y, classes = images.load_folder(root, 8, labels=True)
    self.assertEqual((classes, y.tolist()), (['a', 'b'], [0, 0, 1, 1]))
    self.assertLen(images.load_folder(root, 8)[0], 4)
    self.assertEqual([os.path.basename(f) for f in paired.folder_files(
        os.path.join(root, 'a'))], ['UP.PNG', 'b.Jpeg'])
    with self.assertRaisesRegex(validation.ConfigError, 'channels must be 1 or 3; got 2'):
      images.load_folder(root, 8, channels=2)
    with self.assertRaisesRegex(validation.ConfigError, 'channels must be 1 or 3; got 4'):
      images.load_folder(root, 8, channels=4)  # RGBA: no model reads it

  def test_an_image_folder_is_read_in_the_order_of_its_names(self):
    # A folder's own files by name, then its sub-folders by name (os.walk lists them in
    # the file system's order, which is no order): the same examples on every machine.
    root = tempfile.mkdtemp()
    names = ['b', 'e1', 'c', 'zz', 'a', 'd', 'ba', 'y']
    for level, name in enumerate(names):
      os.mkdir(os.path.join(root, name))
      Image.fromarray(np.full((8, 8, 3), 10 * level, np.uint8)).save(
          os.path.join(root, name, 'x.png'))
    Image.fromarray(np.full((8, 8, 3), 250, np.uint8)).save(os.path.join(root, 'z.png'))
    x, _, _ = images.load_folder(root, 8)
    want = [250] + [10 * names.index(n) for n in sorted(names)]
    self.assertEqual(x[:, 0, 0, 0].tolist(), want)
    _, y, classes = images.load_folder(root, 8, labels=True)
    self.assertEqual((classes, y.tolist()), (sorted(names), list(range(len(names)))))

  def test_an_image_folder_under_home_is_found_by_its_tilde(self):
    home = tempfile.mkdtemp()
    os.mkdir(os.path.join(home, 'pics'))
    for i in range(2):
      Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
          os.path.join(home, 'pics', f'{i}.png'))
    with mock.patch.dict(os.environ, {'HOME': home}):
      x, _, _ = images.load_folder('~/pics', 8)
    chex.assert_shape(x, (2, 8, 8, 3))

  def test_the_digits_split_is_a_fixed_1200_597_partition(self):
    # The digit classifier behind digit-FD trains on the 1,200 and is checked on the other
    # 597: NumPy's seed-0 permutation of the 1,797, pinned by its first indices and each
    # side's class counts, so that the scores of earlier runs still compare.
    x, y = images.load_digits()
    (train_x, train_y), (held_x, held_y) = images.digits_split(8)
    self.assertEqual((len(train_x), len(held_x)), (1200, 597))
    perm = np.random.default_rng(0).permutation(1797)
    self.assertEqual(perm[:8].tolist(), [360, 1773, 1482, 600, 850, 196, 968, 1742])
    self.assertEqual(np.bincount(train_y).tolist(),
                     [117, 120, 109, 130, 116, 119, 119, 130, 120, 120])
    self.assertEqual(np.bincount(held_y).tolist(), [61, 62, 68, 53, 65, 63, 62, 49, 54, 60])
    for got, want in ((train_x, x[perm[:1200]]), (train_y, y[perm[:1200]]),
                      (held_x, x[perm[1200:]]), (held_y, y[perm[1200:]])):
      np.testing.assert_array_equal(got, want)

  def test_an_image_folder_follows_symlinked_folders_once(self):
    parent, elsewhere = tempfile.mkdtemp(), tempfile.mkdtemp()
    root = os.path.join(parent, 'data')  # its parent holds nothing else
    os.mkdir(root)
    for folder, n in ((root, 2), (elsewhere, 3)):
      for i in range(n):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(folder, f'{i}.png'))
    os.symlink(elsewhere, os.path.join(root, 'linked'))  # a class of images kept elsewhere
    os.symlink(elsewhere, os.path.join(elsewhere, 'itself'))  # a loop: read once
    # 2 of root's own, 3 through the link; the loop adds none.
    self.assertEqual(data.get('images', batch_size=2, path=root, image_size=8).num_examples,
                     5)
    # labels=True found the linked class folder already; now its images are read too.
    p = data.get('images', batch_size=1, path=root, image_size=8, labels=True)
    self.assertEqual((p.num_examples, p.num_classes), (3, 1))
    # A link inside a class to another class, or up to the dataset's folder or above it,
    # is not read: those images are another class's, or the whole tree again.
    os.mkdir(os.path.join(root, 'own'))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(root, 'own', 'x.png'))
    os.symlink(elsewhere, os.path.join(root, 'own', 'see_also'))
    os.symlink(root, os.path.join(root, 'own', 'up'))
    os.symlink(parent, os.path.join(root, 'own', 'way_up'))
    _, y, classes = images.load_folder(root, 8, labels=True)
    self.assertEqual((classes, np.bincount(y).tolist()), (['linked', 'own'], [3, 1]))
    self.assertEqual(data.get('images', batch_size=2, path=root, image_size=8).num_examples,
                     6)

  def test_a_folder_is_resized_as_jax_image_resize_resizes_it(self):
    # A folder's images come in many sizes; its NumPy resize (no program compiled per size)
    # is jax.image.resize's antialiased bilinear, down and up, square or not.
    rng = np.random.default_rng(0)
    for h, w, size in ((300, 400, 64), (17, 5, 9), (5, 7, 40), (1, 3, 2), (127, 255, 32),
                       (8, 8, 28), (33, 33, 33), (13, 20, 200)):
      x = rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
      np.testing.assert_allclose(images._resize_one(x, size),
                                 jax.image.resize(x, (size, size, 3), 'bilinear'), atol=3e-6)
    root = tempfile.mkdtemp()
    pictures = [rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
                for h, w in ((30, 40), (41, 23), (16, 16), (9, 12))]
    for i, p in enumerate(pictures):
      Image.fromarray(p).save(os.path.join(root, f'{i}.png'))
    x, _, _ = images.load_folder(root, 16)
    for got, p in zip(x, pictures, strict=True):
      c = min(p.shape[:2])
      top, left = (p.shape[0] - c) // 2, (p.shape[1] - c) // 2
      crop = p[top:top + c, left:left + c].astype(np.float32) / 127.5 - 1
      want = (np.asarray(jax.image.resize(crop, (16, 16, 3), 'bilinear')) + 1) * 127.5
      np.testing.assert_allclose(got, np.clip(want, 0, 255), atol=0.5 + 1e-3)

  def test_links_into_another_class_are_that_class_and_each_image_is_read_once(self):
    root, outside = tempfile.mkdtemp(), tempfile.mkdtemp()

    def save(path, value):
      os.makedirs(os.path.dirname(path), exist_ok=True)
      Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
    save(os.path.join(root, 'a', 'a1.png'), 10)
    save(os.path.join(root, 'a', 'a2.png'), 20)
    save(os.path.join(root, 'b', 'b1.png'), 200)
    save(os.path.join(root, 'b', 'inner', 'b2.png'), 250)
    os.symlink(os.path.join(root, 'b', 'inner'), os.path.join(root, 'a', 'x'))  # b's folder
    os.symlink(os.path.join(root, 'b', 'b1.png'), os.path.join(root, 'a', 'b1.png'))  # b's file
    os.symlink(os.path.join(root, 'a', 'a1.png'), os.path.join(root, 'a', 'again.png'))
    x, y, classes = images.load_folder(root, 8, labels=True)
    # Every image once, with the class of the folder it lies in.
    self.assertEqual(classes, ['a', 'b'])
    self.assertEqual(sorted(zip(x[:, 0, 0, 0].tolist(), y.tolist(), strict=True)),
                     [(10, 0), (20, 0), (200, 1), (250, 1)])
    self.assertEqual(sorted(images.load_folder(root, 8)[0][:, 0, 0, 0].tolist()),
                     [10, 20, 200, 250])
    # A file outside every class, linked from two classes: which class is it? Refused.
    save(os.path.join(outside, 'o.png'), 99)
    for c in ('a', 'b'):
      os.symlink(os.path.join(outside, 'o.png'), os.path.join(root, c, 'o.png'))
    with self.assertRaisesRegex(validation.DataError,
                                r'a/o\.png and .*b/o\.png are one image file .*two classes'):
      images.load_folder(root, 8, labels=True)
    self.assertLen(images.load_folder(root, 8)[0], 5)  # without labels: read once
    for c in ('a', 'b'):
      os.remove(os.path.join(root, c, 'o.png'))
    # A file in another class's hidden folder, which that class does not read: this one's.
    save(os.path.join(root, 'b', '.cache', 'h.png'), 120)
    os.symlink(os.path.join(root, 'b', '.cache', 'h.png'), os.path.join(root, 'a', 'h.png'))
    x, y, _ = images.load_folder(root, 8, labels=True)
    self.assertIn((120, 0), zip(x[:, 0, 0, 0].tolist(), y.tolist(), strict=True))
    # A class folder linked to another class's hidden folder: its own (and so is h.png).
    os.symlink(os.path.join(root, 'b', '.cache'), os.path.join(root, 'c'))
    _, y, classes = images.load_folder(root, 8, labels=True)
    self.assertEqual((classes, np.bincount(y).tolist()), (['a', 'b', 'c'], [2, 2, 1]))
    os.remove(os.path.join(root, 'c'))
    # A class folder linked into another class's folder: refused, as one linked to it is.
    os.symlink(os.path.join(root, 'b', 'inner'), os.path.join(root, 'c'))
    with self.assertRaisesRegex(validation.DataError,
                                r"Class folder .*c is a link to .*b/inner, inside class folder "
                                r"'b' \(.*\): its images would be read as two classes"):
      images.load_folder(root, 8, labels=True)

  def test_a_class_folder_linked_to_another_class_or_up_the_tree_is_refused(self):
    root = tempfile.mkdtemp()
    os.mkdir(os.path.join(root, 'cats'))
    for i in range(2):
      Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(os.path.join(root, 'cats', f'{i}.png'))
    os.symlink(os.path.join(root, 'cats'), os.path.join(root, 'kittens'))
    with self.assertRaisesRegex(validation.DataError,
                                r"Class folders 'cats' and 'kittens' of .* are one folder"):
      images.load_folder(root, 8, labels=True)
    os.remove(os.path.join(root, 'kittens'))
    for target in (root, os.path.dirname(root)):
      os.symlink(target, os.path.join(root, 'all'))
      with self.assertRaisesRegex(validation.DataError,
                                  r'Class folder .*all is a link to .*, which holds'):
        images.load_folder(root, 8, labels=True)
      os.remove(os.path.join(root, 'all'))
    _, y, classes = images.load_folder(root, 8, labels=True)  # the link removed: one class
    self.assertEqual((classes, y.tolist()), (['cats'], [0, 0]))
    # Without labels the links are only folders read once: nothing to refuse.
    os.symlink(os.path.join(root, 'cats'), os.path.join(root, 'kittens'))
    self.assertLen(images.load_folder(root, 8)[0], 2)

  def test_digits(self):
    x, y = images.load_digits()
    chex.assert_shape(x, (1797, 8, 8, 1))
    self.assertEqual(float(x.min()), -1.0)
    self.assertEqual(float(x.max()), 1.0)
    self.assertEqual(sorted(set(y.tolist())), list(range(10)))
    x28, _ = images.load_digits(28)
    chex.assert_shape(x28, (1797, 28, 28, 1))

  def test_epochs_are_permutations_and_hosts_partition_the_batch(self):
    n, batch, n_critic = 50, 8, 2
    seen = np.concatenate([data.epoch_indices(n, 3, s, n_critic, batch).ravel()
                           for s in range(10)])  # 160 = 3 full epochs + 10
    for e in range(3):
      self.assertEqual(sorted(seen[e * n:(e + 1) * n].tolist()), list(range(n)))
    self.assertFalse(np.array_equal(seen[:n], seen[n:2 * n]))  # reshuffled every epoch
    whole = data.epoch_indices(n, 3, 7, n_critic, batch)
    parts = [data.epoch_indices(n, 3, 7, n_critic, batch, h, 4) for h in range(4)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)

  @parameterized.parameters(('ring8', {}), ('digits', {}),
                            ('photos', dict(crop_size=32, scale=4)))
  def test_hosts_read_slices_of_the_one_host_batch(self, name, kwargs):
    # What each of 2 (or 4) hosts reads at a step, joined along the batch, is what one host
    # reads: a run trains on the same examples on any number of hosts.
    def host_batches(num_hosts):
      parts = []
      for h in range(num_hosts):
        with mock.patch.object(jax, 'process_index', return_value=h), \
            mock.patch.object(jax, 'process_count', return_value=num_hosts):
          parts.append(data.get(name, batch_size=8, n_critic=2, seed=3, **kwargs).batch(5))
      return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}
    one = host_batches(1)
    self.assertEqual(one['x'].shape[:2], (2, 8))
    for num_hosts in (2, 4):
      many = host_batches(num_hosts)
      self.assertEqual(set(many), set(one))
      for k in one:
        np.testing.assert_array_equal(many[k], one[k], err_msg=f'{k}, {num_hosts} hosts')

  def test_batches_are_deterministic_per_step(self):
    p = data.get('digits', batch_size=16, n_critic=2, seed=1)
    chex.assert_shape(p.batch(5)['x'], (2, 16, 8, 8, 1))
    np.testing.assert_array_equal(p.batch(5)['x'], p.batch(5)['x'])
    self.assertFalse(np.array_equal(p.batch(5)['x'], p.batch(6)['x']))
    q = data.get('ring8', batch_size=32, seed=1)
    np.testing.assert_array_equal(q.batches(2, 3)['x'][1], q.batch(3)['x'])
    self.assertNotIn('y', q.batch(0))  # mixtures have no labels

  def test_batches_stacks_every_step_of_its_range(self):
    q = data.get('ring8', batch_size=4, seed=1)
    stacked = q.batches(2, 3)['x']
    chex.assert_shape(stacked, (3, 1, 4, 2))
    for i, step in enumerate(range(2, 5)):
      np.testing.assert_array_equal(stacked[i], q.batch(step)['x'])

  def test_digits_labels_come_with_their_images(self):
    x, y = images.load_digits(8)
    p = data.get('digits', batch_size=16, n_critic=2, seed=1)
    b = p.batch(3)
    idx = data.epoch_indices(len(x), 1, 3, 2, 16)
    np.testing.assert_array_equal(b['x'], x[idx])
    np.testing.assert_array_equal(b['y'], y[idx])
    self.assertEqual((b['y'].dtype, p.num_classes, p.evaluator), (np.int32, 10, 'digits'))

  def test_dataset_arguments_are_checked(self):
    with self.assertRaisesRegex(TypeError, "dataset 'digits' has no argument.*data_dir.*it "
                                           'takes: batch_size, n_critic, seed, image_size'):
      data.get('digits', batch_size=8, data_dir='/tmp')
    with self.assertRaisesRegex(TypeError, "dataset 'ring8' has no argument.*image_size"):
      data.get('ring8', batch_size=8, image_size=28)

  def test_tfds_mock_data(self):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=40):
      p = data.get('mnist', batch_size=16, n_critic=1)
      b = p.batch(0)
      chex.assert_shape(b['x'], (1, 16, 28, 28, 1))
      chex.assert_shape(b['y'], (1, 16))
      self.assertTrue(np.all((b['x'] >= -1.0) & (b['x'] <= 1.0)))
      self.assertTrue(np.all((b['y'] >= 0) & (b['y'] < 10)))
      self.assertEqual(p.num_examples, 40)
      c = data.get('cifar10', batch_size=4)
      chex.assert_shape(c.batch(0)['x'], (1, 4, 32, 32, 3))
      self.assertEqual((c.evaluator, c.real_samples(5).shape), ('inception', (5, 32, 32, 3)))

  def test_mnist_alone_of_the_tfds_sets_is_scored_by_digit_fd(self):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=8):
      for name, evaluator in (('mnist', 'digits'), ('fashion_mnist', 'inception'),
                              ('cifar10', 'inception')):
        p = data.get(name, batch_size=4)
        self.assertEqual(p.evaluator, evaluator, name)
        self.assertEqual('digit_reference' in p.evaluator_args, name == 'mnist', name)

  def test_tfds_records_become_images_and_their_own_labels(self):
    # Known records under TFDS's mock: each image is its record's, mapped to [-1, 1], with
    # its record's label; CelebA (no labels) defaults to 64 px faces.
    import tensorflow_datasets as tfds
    rng = np.random.default_rng(0)
    records = [{'image': rng.integers(0, 256, (28, 28, 1), np.uint8), 'label': i % 10}
               for i in range(12)]
    with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: records):
      source = images.TFDSSource('mnist')
      idx = np.array([7, 0, 11, 3])
      x, y = source[idx]
    np.testing.assert_array_equal(y, [r['label'] for r in (records[i] for i in idx)])
    np.testing.assert_allclose(x, np.stack([records[i]['image'] for i in idx]) / 127.5 - 1,
                               atol=1e-6)
    with tfds.testing.mock_data(num_examples=4):
      faces = data.get('celeb_a', batch_size=2)
    self.assertEqual((faces.element_shape, faces.num_classes), ((64, 64, 3), 0))
    # Another image_size: each record resized to it (bilinear, as jax.image.resize).
    with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: records):
      source = images.TFDSSource('mnist', image_size=32)
      x, _ = source[idx]
    self.assertEqual(source.element_shape, (32, 32, 1))
    want = jax.image.resize(np.stack([records[i]['image'] for i in idx]) / 127.5 - 1,
                            (4, 32, 32, 1), 'bilinear')
    np.testing.assert_allclose(x, want, atol=1e-5)
    # A CelebA face (218 x 178) is its centre 140 x 140 square, resized: here the square
    # bright in a black frame, which a crop of another size would bring in.
    face = np.zeros((218, 178, 3), np.uint8)
    face[39:179, 19:159] = rng.integers(128, 256, (140, 140, 3))
    with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: [{'image': face}]):
      x, y = images.TFDSSource('celeb_a')[np.array([0])]
    want = jax.image.resize(face[39:179, 19:159] / 127.5 - 1, (64, 64, 3), 'bilinear')
    np.testing.assert_allclose(x[0], want, atol=1e-5)
    self.assertEqual(y.tolist(), [0])

  def test_missing_tfds_dataset_says_how_to_prepare_it(self):
    with self.assertRaisesRegex(FileNotFoundError, 'download_and_prepare'):
      data.get('mnist', batch_size=8, data_dir='/nonexistent/tfds')

  def test_unknown_dataset(self):
    with self.assertRaisesRegex(ValueError, 'imagenet.*ring8, grid25, digits, mnist'):
      data.get('imagenet', batch_size=8)

  @parameterized.parameters('ring8', 'digits')
  def test_the_seed_and_the_step_choose_the_data(self, name):
    # A batch is a pure function of (seed, step), and both count: another seed or another
    # step reads other examples, and each critic update of a step has its own batch.
    # Kills: the epoch permutation seeded by the epoch alone; the mixture's draw ignoring
    # the seed, or ignoring the step (every step training on one fixed batch).
    get = lambda seed: data.get(name, batch_size=16, n_critic=2, seed=seed)
    a, b = get(0), get(1)
    np.testing.assert_array_equal(a.batch(4)['x'], get(0).batch(4)['x'])
    self.assertFalse(np.array_equal(a.batch(4)['x'], b.batch(4)['x']), 'seed ignored')
    self.assertFalse(np.array_equal(a.batch(4)['x'], a.batch(5)['x']), 'step ignored')
    self.assertFalse(np.array_equal(a.batch(4)['x'][0], a.batch(4)['x'][1]))
    # real_samples is a fixed set (the FID reference): the same on every call.
    np.testing.assert_array_equal(a.real_samples(64), get(0).real_samples(64))
    if name == 'digits':  # whole epochs: two seeds give two different permutations
      e0, e1 = (data.epoch_indices(50, s, 0, 1, 50)[0] for s in (0, 1))
      self.assertEqual((sorted(e0.tolist()), sorted(e1.tolist())), (list(range(50)),) * 2)
      self.assertFalse(np.array_equal(e0, e1))

  def test_hosts_must_share_the_batch_evenly(self):
    # 8 examples cannot be split over 3 hosts: refused, not silently 2 per host (6 of 8).
    # Kills: the removal of _local_batch's divisibility check.
    for name in ('ring8', 'digits'):
      with mock.patch.object(jax, 'process_index', return_value=0), \
          mock.patch.object(jax, 'process_count', return_value=3):
        with self.assertRaisesRegex(validation.ConfigError,
                                    'batch_size 8 is not divisible by the 3 hosts'):
          data.get(name, batch_size=8)

  def test_an_image_folder_skips_hidden_files(self):
    # macOS leaves '._name.png' (AppleDouble) files beside copied images: hidden files are
    # not read (they are not images). Kills: the hidden-file filter of _image_files.
    root = tempfile.mkdtemp()
    for i in range(2):
      Image.fromarray(np.full((8, 8, 3), 60 * i, np.uint8)).save(
          os.path.join(root, f'{i}.png'))
    with open(os.path.join(root, '._0.png'), 'wb') as f:
      f.write(b'\x00\x05\x16\x07 not an image')
    p = data.get('images', batch_size=2, path=root, image_size=8)
    self.assertEqual(p.num_examples, 2)

  def test_a_digits_subset_is_that_many_digits_the_same_for_every_seed(self):
    # subset=100: the pipeline holds 100 of the 1,797 digits, the same ones whatever the
    # data seed (a fixed subset: a data-efficiency experiment varies the seed on one set).
    # Kills: the subset ignored; the subset drawn with the data seed.
    full, _ = images.load_digits(8)
    a = data.get('digits', batch_size=4, seed=0, subset=100)
    b = data.get('digits', batch_size=4, seed=1, subset=100)
    self.assertEqual(a.num_examples, 100)
    xa, xb = a.real_samples(100), b.real_samples(100)
    chex.assert_shape(xa, (100, 8, 8, 1))
    np.testing.assert_array_equal(xa, xb)
    self.assertTrue(np.all(np.diff(data.fixed_subset(1797, 100, 7)) > 0))  # sorted
    # every one of them a digit of the full set, and an epoch of batches reads only them
    flat = {r.tobytes() for r in full.reshape(len(full), -1)}
    kept = {r.tobytes() for r in xa.reshape(100, -1)}
    self.assertLessEqual(kept, flat)
    seen = np.concatenate([a.batch(s)['x'].reshape(-1, 64) for s in range(25)])
    self.assertEqual({r.tobytes() for r in seen}, kept)

  def test_a_run_that_kept_no_held_out_files_accepts_any_split(self):
    # Runs before data_shapes.json held 'held_out_files' (or before the file) are not refused.
    import dataclasses
    import json
    pipe = dataclasses.replace(data.shapes_only('folder', (8, 8, 3)),
                               evaluator_args={'held_out_files': ['a.png']})
    wd = tempfile.mkdtemp()
    data.check_held_out(pipe, wd)  # no data_shapes.json
    with open(os.path.join(wd, 'data_shapes.json'), 'w') as f:
      json.dump({'name': 'folder', 'element_shape': [8, 8, 3]}, f)
    data.check_held_out(pipe, wd, resuming=True)
    with open(os.path.join(wd, 'data_shapes.json'), 'w') as f:
      json.dump({'name': 'folder', 'element_shape': [8, 8, 3], 'held_out_files': ['b.png']}, f)
    with self.assertRaisesRegex(validation.DataError, 'held out b.png'):
      data.check_held_out(pipe, wd)

  def test_only_labelled_finite_sets_have_real_labels(self):
    import tensorflow_datasets as tfds
    labels = data.get('digits', batch_size=8).real_labels(50)
    self.assertEqual((labels.shape, labels.min() >= 0, labels.max() < 10), ((50,), True, True))
    with tfds.testing.mock_data(num_examples=4):
      faces = data.get('celeb_a', batch_size=2)
    self.assertEqual(faces.num_classes, 0)
    self.assertIsNone(faces.real_labels)  # unlabelled: no class mix to draw samples in

  def test_a_digits_subset_may_be_every_digit_and_no_more(self):
    self.assertEqual(data.get('digits', batch_size=8, subset=1797).num_examples, 1797)
    with self.assertRaisesRegex(validation.ConfigError, r'data.subset must be in \[1, 1797\]; '
                                'got 1798'):
      data.get('digits', batch_size=8, subset=1798)

  def test_the_real_samples_are_one_fixed_subset_whatever_the_data_seed(self):
    # The real side of FID and digit-FD: the first n of default_rng(REAL_SAMPLES_SEED)'s
    # permutation, sorted, the same for every data seed (runs of several seeds are scored
    # against one reference), and not the permutation of the digit classifier's split
    # (default_rng(0)), whose 1,200 training digits it would otherwise begin with.
    # Kills: the subset drawn with the data seed, or with seed 0.
    want = np.sort(np.random.default_rng(7).permutation(1797)[:64])
    np.testing.assert_array_equal(data.fixed_subset(1797, 64, data.REAL_SAMPLES_SEED), want)
    self.assertEqual(data.REAL_SAMPLES_SEED, 7)
    full, labels = images.load_digits(8)
    for seed in (0, 1):
      p = data.get('digits', batch_size=8, seed=seed)
      np.testing.assert_array_equal(p.real_samples(64), full[want])
      np.testing.assert_array_equal(p.real_labels(64), labels[want])

  def test_a_mixtures_real_samples_are_the_same_whatever_the_data_seed(self):
    # The mixtures' real samples are fixed draws, not the data seed's: runs of several
    # seeds are compared with one reference set (of the ring's modes, radius 2, std 0.02).
    got = [data.get('ring8', batch_size=8, seed=seed).real_samples(64) for seed in (0, 1, 7)]
    np.testing.assert_array_equal(got[0], got[1])
    np.testing.assert_array_equal(got[0], got[2])
    angles = 2 * np.pi * np.arange(8) / 8
    modes = 2.0 * np.stack([np.cos(angles), np.sin(angles)], -1)
    nearest = np.min(np.linalg.norm(got[0][:, None] - modes[None], axis=-1), axis=1)
    self.assertLess(nearest.max(), 5 * 0.02 * np.sqrt(2))

  def test_digits_are_resized_bilinearly(self):
    # 8 -> 16 px by separable linear interpolation at half-pixel centres (edges clamped),
    # written out in NumPy. Kills: another resize method ('nearest').
    src = sk_load_digits().images[:20].astype(np.float64) / 8.0 - 1.0

    def axis_weights(n_in, n_out):
      c = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
      lo = np.floor(c).astype(int)
      hi, w = np.minimum(lo + 1, n_in - 1), c - lo
      m = np.zeros((n_out, n_in))
      m[np.arange(n_out), lo] += 1 - w
      m[np.arange(n_out), hi] += w
      return m
    m = axis_weights(8, 16)
    want = np.einsum('ij,njk,lk->nil', m, src, m)
    got, _ = images.load_digits(16)
    np.testing.assert_allclose(got[:20, ..., 0], want, atol=1e-5)

  def test_a_tfds_image_size_is_checked_before_the_data_is_opened(self):
    # Kills: the removal of tfds_images' image_size check (a negative size then reaches
    # TFDS and fails with "not prepared" for a prepared set, or later with a shape error).
    # False, 0.0 and '' are not 0 (the set's own size): refused, not read as unset.
    for bad in (-1, 2.5, '28', False, 0.0, ''):
      with self.assertRaisesRegex(validation.ConfigError,
                                  r"data.image_size must be an integer >= 1 \(0: the set's "
                                  r'own\); got'):
        data.get('mnist', batch_size=8, image_size=bad, data_dir='/nonexistent/tfds')

  def test_a_tfds_split_the_set_lacks_is_named_with_the_splits_it_has(self):
    # Most TFDS image sets have no 'validation' split (sr_tfds's default eval_split): a
    # prepared set was said to be "not prepared", and told to download it again.
    import tensorflow_datasets as tfds

    class JaxganTestPics(tfds.core.GeneratorBasedBuilder, skip_registration=True):
      VERSION = tfds.core.Version('1.0.0')
      code_path = None  # no checksums file beside it (TFDS looks for one in its package)

      def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {'image': tfds.features.Tensor(shape=(20, 20, 3), dtype=np.uint8)}))

      def _split_generators(self, dl_manager):
        return {'train': self._generate_examples(6), 'test': self._generate_examples(2)}

      def _generate_examples(self, n):
        for i in range(n):
          yield i, {'image': np.full((20, 20, 3), 30 * i, np.uint8)}
    d = tempfile.mkdtemp()
    JaxganTestPics(data_dir=d, file_format='array_record').download_and_prepare()
    spec = f"sr_tfds(tfds_name='jaxgan_test_pics', data_dir='{d}'"
    get = lambda extra: data.get(f'{spec}{extra})', batch_size=2, crop_size=16, scale=4)
    for extra, missing in (('', 'validation'), (", split='train+extra'", 'extra')):
      with self.assertRaisesRegex(validation.DataError,
                                  f"^TFDS dataset 'jaxgan_test_pics' has no split '{missing}'; "
                                  r"its splits are test, train\. Give one as the data name's "
                                  r'split= \(training\) or eval_split= \(evaluation\), e\.g\. '
                                  r'--config\.data\.name="sr_tfds\(tfds_name=\'jaxgan_test_pics\', '
                                  r"eval_split='SPLIT'\)\"\.$"):
        get(extra)
    # An image set (mnist, cifar10, ...) takes its split from config.data.split.
    with self.assertRaisesRegex(validation.DataError,
                                r"no split 'validation'; its splits are test, train\. Give one "
                                r'as --config\.data\.split=SPLIT\.$'):
      images._data_source('jaxgan_test_pics', 'validation', d)
    p = get(", eval_split='test', split='train[:50%]'")
    self.assertEqual(p.num_examples, 3)
    self.assertLen(p.evaluator_args['eval_pairs'](), 2)
    with self.assertRaisesRegex(FileNotFoundError, "'jaxgan_test_none' .*is not prepared"):
      data.get(f"sr_tfds(tfds_name='jaxgan_test_none', data_dir='{d}')", batch_size=2,
               crop_size=16, scale=4)


if __name__ == '__main__':
  absltest.main()
