"""The README's Python snippet runs and prints the closed-form values it claims."""

import contextlib
import importlib
import io
import os
import re
import subprocess
import sys

import numpy as np
from absl.testing import absltest

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'README.md')


class ReadmeTest(absltest.TestCase):

  def test_snippet(self):
    code = re.findall(r'```python\n(.*?)```', open(README).read(), re.S)[0]
    scope: dict = {}
    with contextlib.redirect_stdout(io.StringIO()):
      exec(code, scope)  # noqa: S102
    self.assertAlmostEqual(float(scope['gp']), 16.0, places=4)  # (||(3,4)|| - 1)^2
    np.testing.assert_allclose(scope['grad_w'], 2 * 4 * np.array([3.0, 4.0]) / 5, rtol=1e-5)

  def test_named_objects_exist(self):
    # Every `jaxgan.x.y` the README names is importable: a module, then attributes.
    names = set(re.findall(r'`(jaxgan(?:\.[A-Za-z_]\w*)+)', open(README).read()))
    self.assertGreater(len(names), 10)
    missing = []
    for name in sorted(names):
      parts = name.split('.')
      for k in range(len(parts), 0, -1):
        try:
          obj = importlib.import_module('.'.join(parts[:k]))
          break
        except ImportError:
          continue
      for attr in parts[k:]:
        obj = getattr(obj, attr, None)
      if obj is None:
        missing.append(name)
    self.assertEqual(missing, [], 'README names objects that do not exist')

  def test_named_objects_resolve_after_a_plain_import(self):
    # `jaxgan.models.names()` and the like work after `import jaxgan` alone (a fresh
    # process: the tests' own imports would hide a submodule the package does not load).
    names = sorted(set(re.findall(r'`(jaxgan(?:\.[A-Za-z_]\w*)+)', open(README).read())))
    code = ('import functools, jaxgan\n'
            'print([n for n in NAMES if functools.reduce(lambda o, a: getattr(o, a, None), '
            'n.split(".")[1:], jaxgan) is None])').replace('NAMES', repr(names))
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         cwd=os.path.dirname(README), timeout=300)
    self.assertEqual(out.returncode, 0, out.stderr[-2000:])
    self.assertEqual(out.stdout.strip(), '[]')

  def test_the_names_table_lists_each_registry(self):
    """The README's table of valid names: each row is its registry's ``names()``."""
    from jaxgan import auxiliary, data, losses, models, optimizers, penalties
    registries = {'loss.name': losses.names(), 'penalty.name': penalties.names(),
                  'model.name': models.names(), 'data.name': data.names(),
                  'g_optimizer.name': optimizers.names(),
                  'g_optimizer.schedule': optimizers.schedule_names(),
                  'auxiliary.name': auxiliary.names()}
    rows = {}
    for line in open(README).read().splitlines():
      m = re.match(r'\| `([\w.]+)`[^|]*\| ([^|]+) \|$', line)
      if m and m.group(1) in registries:
        names = re.sub(r'\([^)]*\)', '', m.group(2))
        rows[m.group(1)] = sorted(n.strip() for n in re.split('[,;]', names) if n.strip())
    self.assertEqual(rows, {k: sorted(v) for k, v in registries.items()})

  def test_named_files_exist(self):
    # The README and the benchmarks' full record (docs/benchmarks.md, paths from the root).
    pattern = (r'\b((?:configs|benchmarks|launch|jaxgan|tests|docs|studies)/[\w/.\-]+'
               r'\.(?:py|png|json|md|sh|csv|txt))')
    root = os.path.dirname(README)
    for doc in (README, os.path.join(root, 'docs', 'benchmarks.md')):
      paths = set(re.findall(pattern, open(doc).read()))
      self.assertGreater(len(paths), 10, doc)
      missing = sorted(p for p in paths if not os.path.exists(os.path.join(root, p)))
      self.assertEqual(missing, [], f'{doc} names files that do not exist')

  def test_commands_match_ci(self):
    readme = open(README).read()
    ci = open(os.path.join(os.path.dirname(README), '.ci', 'run')).read()
    test_cmd = "pip install -e '.[test]' && python -m pytest -n 2 tests"
    self.assertIn(test_cmd, readme)
    self.assertIn(test_cmd, ci)


if __name__ == '__main__':
  absltest.main()
