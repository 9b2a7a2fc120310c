"""Tests of the training run's progress bar: log lines and warnings go above it."""

import io
import re
import subprocess
import sys
from unittest import mock

import chex
from absl import logging
from absl.testing import absltest, parameterized

from jaxgan import progress
from tests.train_helpers import ENV, ROOT, terminal_lines

# Run in a process of its own: pytest records warnings instead of printing them, and its
# capture replaces stderr. FLAGS are parsed (absl then writes to its handler's stream,
# stderr), with the arguments given (--logtostderr: absl writes to sys.stderr itself).
_SCRIPT = """
import sys, warnings
from absl import flags, logging
from jaxgan import progress
flags.FLAGS(['prog', *sys.argv[1:]])
logging.use_absl_handler()  # as absl's app.run, which the launchers use
handler = logging.get_absl_handler().python_handler
with progress.bar(10, 2, True) as bar:
  bar.update(3)
  logging.warning('a log line')
  warnings.warn('a warning')
  bar.update(5)
  inside = (sys.stderr is not sys.__stderr__, sys.stderr.fileno(),
            sys.stderr.encoding == sys.__stderr__.encoding)
logging.warning('after the bar')
print(*inside, sys.stderr is sys.__stderr__, handler.stream is sys.__stderr__)
"""


class BarTest(chex.TestCase):

  @parameterized.named_parameters(('absl_stream', ()), ('logtostderr', ('--logtostderr',)))
  def test_log_lines_and_warnings_are_written_above_the_bar(self, args):
    proc = subprocess.run([sys.executable, '-c', _SCRIPT, *args], cwd=ROOT, env=ENV,
                          capture_output=True, timeout=120)
    err = proc.stderr.decode()  # not text=True, which turns carriage returns into newlines
    self.assertEqual(proc.returncode, 0, err)
    # Replaced, with stderr's descriptor and encoding; both restored at the end.
    self.assertEqual(proc.stdout.decode(), 'True 2 True True True\n')
    lines = [line for line in terminal_lines(err) if line]
    log = [i for i, line in enumerate(lines) if re.match(r'W\d{4} .*\] a log line$', line)]
    warning = [i for i, line in enumerate(lines)
               if re.match(r'.*<string>:\d+: UserWarning: a warning$', line)]
    after = [i for i, line in enumerate(lines) if re.match(r'W\d{4} .*\] after the bar$', line)]
    self.assertLen(log, 1, lines)
    self.assertLen(warning, 1, lines)
    self.assertLen(after, 1, lines)
    # The bar is drawn again below them, and ends at 10 of 10 before the last line.
    bars = [i for i, line in enumerate(lines) if re.match(r' *\d+%\|.*\| \d+/10 ', line)]
    self.assertGreater(min(b for b in bars if b > warning[0]), warning[0])
    self.assertIn('| 10/10 ', lines[max(bars)])
    self.assertLess(max(bars), after[0])
    self.assertFalse([line for line in lines if '%|' in line and not re.match(
        r' *\d+%\|[^|]*\| \d+/10 \[[^]]*\]$', line)], 'a bar line holds something else')

  def test_a_disabled_bar_writes_nothing_and_replaces_nothing(self):
    # A host other than the lead: its logs are left as they are.
    with mock.patch.object(sys, 'stderr', io.StringIO()) as fake:
      with progress.bar(10, 0, False) as bar:
        bar.update(4)
        self.assertIs(sys.stderr, fake)
      self.assertEqual(fake.getvalue(), '')

  def test_the_streams_are_restored_after_an_error(self):
    handler = logging.get_absl_handler().python_handler
    with mock.patch.object(sys, 'stderr', io.StringIO()) as fake, \
         mock.patch.object(handler, 'stream', fake):
      with self.assertRaisesRegex(RuntimeError, 'in the loop'):
        with progress.bar(10, 0, True):
          self.assertIsNot(sys.stderr, fake)
          self.assertIsNot(handler.stream, fake)
          raise RuntimeError('in the loop')
      self.assertIs(sys.stderr, fake)
      self.assertIs(handler.stream, fake)
      self.assertIn('0/10', fake.getvalue())  # it drew, then closed


if __name__ == '__main__':
  absltest.main()
