"""Tests of jaxgan.registry, the one mechanism behind every component chosen by name: spec
parsing, argument and value checks, and registration."""

import functools
import inspect

import chex
import flax.linen as nn
import jax.numpy as jnp
import numpy as np
from absl.testing import absltest

from jaxgan import losses, models, registry


def _scaled(x, a: float = 1.0, flag: bool = False, mode: str = 'l1'):
  return a * x


class ParseSpecTest(chex.TestCase):

  def test_names_and_keyword_arguments(self):
    self.assertEqual(registry.parse_spec(' hinge '), ('hinge', {}))
    self.assertEqual(registry.parse_spec('least_squares(a=-1, b=1.5, c=0)'),
                     ('least_squares', {'a': -1, 'b': 1.5, 'c': 0}))
    self.assertEqual(registry.parse_spec('m(milestones=(10, 20))'), ('m', {'milestones': (10, 20)}))

  def test_positional_and_unliteral_arguments_are_refused(self):
    # A positional argument was silently dropped: 'least_squares(1.0)' read as the defaults.
    for spec in ('least_squares(1.0)', 'least_squares(1.0, b=2)', 'f(**{"a": 1})',
                 'f(a=x)', 'f.g(a=1)', 3):
      with self.subTest(spec), self.assertRaisesRegex(registry.UnknownNameError,
                                                      'Cannot read'):
        registry.parse_spec(spec)
    with self.assertRaisesRegex(registry.ArgumentError, 'a given twice'):
      registry.parse_spec('f(a=1, a=2)')

  def test_an_unclosed_call_is_unreadable_not_a_name(self):
    # 'least_squares(a=1' is neither a name nor a call: not the name 'least_squares(a=1'.
    for spec in ('least_squares(a=1', 'f(a=1)(b=2', 'f(a=1) + 1'):
      with self.subTest(spec), self.assertRaisesRegex(registry.UnknownNameError,
                                                      'Cannot read'):
        registry.parse_spec(spec)
      self.assertIsNone(registry.spec_name(spec))

  def test_unhashable_literals_are_unreadable_not_a_type_error(self):
    # A dict keyed by a list, a set of sets: literal_eval raised a bare TypeError, past
    # spec_name's None and the registry's errors (a traceback for a config value).
    for spec in ('normal(stddev={[1]: 2})', 'normal(stddev={{0.02}})'):
      with self.subTest(spec), self.assertRaisesRegex(registry.UnknownNameError,
                                                      'Cannot read'):
        registry.parse_spec(spec)
      self.assertIsNone(registry.spec_name(spec))
    with self.assertRaisesRegex(registry.UnknownNameError, 'Cannot read'):
      losses.get('hinge(a={[1]: 2})')
    # Nested past the parser's recursion limit: a RecursionError out of ast.parse.
    deep = 'f(a=' + '+'.join(['1'] * 20000) + ')'
    with self.assertRaisesRegex(registry.UnknownNameError, 'Cannot read'):
      registry.parse_spec(deep)
    self.assertIsNone(registry.spec_name(deep))


class ValuesTest(chex.TestCase):

  def test_numpy_bools_and_numeric_arrays_are_taken(self):
    for kwargs in ({'flag': np.True_}, {'flag': True}, {'a': jnp.asarray(2)},
                   {'a': np.uint8(3)}, {'a': jnp.asarray(2.5)}, {'mode': 'mse'},
                   {'a': np.asarray(2, np.uint8)}, {'a': jnp.asarray(2, jnp.uint16)}):
      registry.check_values('scaled', _scaled, kwargs, skip=1)  # no error

  def test_a_non_finite_value_is_taken_where_the_default_is_one(self):
    def capped(x, limit=float('inf')):
      return min(x, limit)
    registry.check_values('capped', capped, {'limit': float('inf')}, skip=1)  # no error
    with self.assertRaisesRegex(registry.ArgumentError,
                                "least_squares.*a must be a finite number .*got inf"):
      losses.get('least_squares(a=1e999)')

  def test_another_type_than_the_defaults_is_refused(self):
    for kwargs, message in (({'a': '0'}, "a must be a number .*got '0'"),
                            ({'a': True}, 'a must be a number'),
                            ({'flag': 'False'}, "flag must be a bool .*got 'False'"),
                            ({'flag': 1}, 'flag must be a bool'),
                            ({'mode': 1}, 'mode must be a str'),
                            ({'a': jnp.asarray([True])}, 'a must be a number'),
                            ({'a': float('inf')}, 'a must be a finite number .*got inf'),
                            ({'a': np.float32('nan')}, 'a must be a finite number'),
                            ({'a': 10**400}, 'a must be a finite number')):  # no float
      with self.subTest(str(kwargs)), self.assertRaisesRegex(registry.ArgumentError, message):
        registry.check_values('scaled', _scaled, kwargs, skip=1)


class RegistryTest(chex.TestCase):

  def test_a_name_registered_twice_is_refused_and_the_first_entry_kept(self):
    r = registry.Registry('thing')
    r.register('a', _scaled)
    with self.assertRaisesRegex(ValueError, "thing 'a' is already registered"):
      r.register('a', lambda x: x)
    self.assertIs(r.entry('a'), _scaled)

  def test_a_flax_module_takes_its_attributes_not_parent_or_name(self):

    class Block(nn.Module):
      features: int = 4
      scale: float = 1.0

      def __call__(self, x):
        return x

    r = registry.Registry('module')
    r.register('block', Block)
    self.assertEqual(r.parameters('block'), {'features': 4, 'scale': 1.0})
    self.assertEqual(r.get('block(features=8)').features, 8)
    for bad in ('name', 'parent'):
      with self.assertRaisesRegex(registry.ArgumentError,
                                  f"module 'block' has no argument.*{bad}.*it takes: "
                                  'features, scale'):
        r.get('block', **{bad: None})

  def test_model_attributes_are_checked_against_their_defaults(self):
    # 'False' (a string) is true: it switched spectral normalization on, silently.
    for part, kwargs, message in (
        ('generator', {'spectral_norm': 'False'}, "spectral_norm must be a bool .*'False'"),
        ('discriminator', {'width': '64'}, "width must be a number .*'64'"),
        ('generator', {'ngf': float('inf')}, 'ngf must be a finite number .*inf')):
      with self.assertRaisesRegex(registry.ArgumentError, f'The {part} of model .*{message}'):
        models.get('sngan' if 'ngf' in kwargs or 'spectral_norm' in kwargs else 'dcgan',
                   **{part: kwargs})
    g, _ = models.get('sngan', generator={'spectral_norm': True, 'ngf': 16})
    self.assertEqual((g.spectral_norm, g.ngf), (True, 16))
    # Checked against the class's defaults: sagan's partial sets attention_at=16, and None
    # (no attention, the class's default) stays valid.
    g, d = models.get('sagan', generator={'attention_at': None},
                      discriminator={'attention_at': None})
    self.assertEqual((g.attention_at, d.attention_at), (None, None))


def _needs(x, k: float, *, m: int = 1):
  return x * k * m


class LookupTest(chex.TestCase):
  """Names, unknown names, missing and repeated arguments, as the module docstring states."""

  def _registry(self):
    r = registry.Registry('thing', make=functools.partial, skip=1)
    r.register('needs', _needs)
    r.register('also', _scaled)
    return r

  def test_names_in_registration_order_and_an_unknown_name_lists_them(self):
    r = self._registry()
    self.assertEqual(r.names(), ['needs', 'also'])
    self.assertIn('also', r)
    self.assertNotIn('scaled', r)
    with self.assertRaisesRegex(registry.UnknownNameError,
                                r"Unknown thing 'scaled'; valid names are: needs, also\."):
      r.get('scaled(a=2.0)')
    with self.assertRaisesRegex(registry.UnknownNameError, "Unknown thing 'Also'"):
      r.get('Also')  # names are case-sensitive

  def test_keyword_only_arguments_are_taken_and_a_missing_one_is_named(self):
    r = self._registry()
    self.assertEqual(r.parameters('needs'), {'k': inspect.Parameter.empty, 'm': 1})
    self.assertEqual(r.get('needs(k=2.0, m=3)')(5), 30)
    with self.assertRaisesRegex(registry.ArgumentError,
                                r"thing 'needs' needs argument\(s\) k; it takes: k, m\."):
      r.get('needs', m=3)

  def test_values_are_checked_by_default_an_int_default_included(self):
    with self.assertRaisesRegex(registry.ArgumentError, "m must be a number .*got '3'"):
      self._registry().get('needs(k=2.0, m="3")')

  def test_values_are_not_checked_where_the_registry_says_not_to(self):
    # check_values=False (the initializers: in_axis=-2 also takes (0, 1)): any value passes.
    r = registry.Registry('thing', check_values=False)
    r.register('axes', lambda in_axis=-2, mode='fan_in': (in_axis, mode))
    self.assertEqual(r.get('axes(in_axis=(0, 1), mode=3)'), ((0, 1), 3))

  def test_an_argument_in_the_spec_and_as_a_keyword_is_refused(self):
    with self.assertRaisesRegex(registry.ArgumentError, r"thing 'also': a given twice"):
      self._registry().get('also(a=2.0)', a=3.0)

  def test_spec_name(self):
    for spec in ('none', ' none', 'none()', 'none(a=1)'):
      self.assertEqual(registry.spec_name(spec), 'none', spec)
    for spec in ('none(1)', 'none(a=x)', 'none(a=1, a=2)', 3, None):  # left to the registry
      self.assertIsNone(registry.spec_name(spec), spec)


if __name__ == '__main__':
  absltest.main()
