"""Tests of the package's import surface: ``import jaxgan`` loads the pure losses and
penalties only; every other submodule loads when first named (PEP 562)."""

import os
import subprocess
import sys

from absl.testing import absltest

_CHECK = r'''
import sys
import jaxgan
heavy = ['jaxgan.models', 'jaxgan.train', 'jaxgan.data', 'jaxgan.metrics', 'flax.linen',
         'orbax.checkpoint', 'matplotlib']
print('loaded', [m for m in heavy if m in sys.modules])
print('names', jaxgan.models.names()[:2], 'jaxgan.models' in sys.modules)
print('metrics', jaxgan.metrics.inception.__name__, 'jaxgan.metrics.sr' in sys.modules)
for obj, name in ((jaxgan, 'modles'), (jaxgan.metrics, 'fid')):
  try:
    getattr(obj, name)
  except AttributeError as e:
    print('error', e)
print('private', hasattr(jaxgan, '__wrapped__'), hasattr(jaxgan.metrics, '_nope'))
print('dir', {'models', 'losses', '__version__'} <= set(dir(jaxgan)),
      {'inception', 'frechet_distance'} <= set(dir(jaxgan.metrics)))
# The launchers start without Orbax and matplotlib (0.9 s of a 2.8 s start): a flag
# refused, or a command that writes no picture, does not wait for them.
import importlib
from absl import flags
for name in ('evaluate', 'interpolate', 'sample', 'train', 'upscale'):
  importlib.import_module(f'launch.{name}')
  for module in (f'launch.{name}', 'launch.common'):  # the next launcher defines its own
    for flag in list(flags.FLAGS.flags_by_module_dict().get(module, [])):
      delattr(flags.FLAGS, flag.name)
print('launchers', [m for m in ('orbax.checkpoint', 'matplotlib') if m in sys.modules])
'''


class LazyImportTest(absltest.TestCase):

  def test_plain_import_is_light_and_submodules_load_when_named(self):
    out = subprocess.run([sys.executable, '-c', _CHECK], capture_output=True, text=True,
                         timeout=300, cwd=os.path.dirname(os.path.dirname(__file__)))
    self.assertEqual(out.returncode, 0, out.stderr[-2000:])
    self.assertEqual(out.stdout.splitlines(), [
        'loaded []',
        "names ['mlp', 'dcgan'] True",
        'metrics jaxgan.metrics.inception False',
        "error module 'jaxgan' has no attribute 'modles'",
        "error module 'jaxgan.metrics' has no attribute 'fid'",
        'private False False',  # what inspect and doctest probe for: no import tried
        'dir True True',
        'launchers []',
    ])

  def test_every_submodule_loads_on_first_use(self):
    # The package docstring's promise, for every module and subpackage on disk.
    import pkgutil

    import jaxgan
    on_disk = {m.name for m in pkgutil.iter_modules(jaxgan.__path__)}
    self.assertEqual(on_disk - {'lazy', 'losses', 'penalties'}, set(jaxgan._LAZY))
    for name in sorted(on_disk):
      self.assertEqual(getattr(jaxgan, name).__name__, f'jaxgan.{name}')


if __name__ == '__main__':
  absltest.main()
