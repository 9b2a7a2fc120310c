"""Tests of the absl launchers as a user runs them: flags, messages, locks, signals."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from unittest import mock

import chex
import numpy as np
from absl.testing import absltest, parameterized
from PIL import Image

from jaxgan import inference, train
from tests.train_helpers import ENV, ROOT, saved_steps, small_flags, terminal_lines


class OutputCheckTest(chex.TestCase):

  def test_an_output_that_cannot_be_made_is_refused_before_any_work(self):
    # os.access says yes to root everywhere: launch.sample restored the run and drew every
    # sample, then died in a traceback (PermissionError) when writing them. /sys refuses
    # new files to root too (Linux).
    # (launch.upscale's _check_output calls the same check; its flags cannot be defined
    # beside launch.sample's in one process.)
    from launch import common, sample
    for check in (common.check_output_writable, lambda p: sample.check_arguments(7, 10, p)):
      with self.assertRaisesRegex(common.LaunchError, r'--output cannot be written in /sys'):
        check('/sys/x.png')
    d = tempfile.mkdtemp()
    self.assertEqual(sample.check_arguments(7, 10, os.path.join(d, 'x')),
                     os.path.join(d, 'x.npy'))
    self.assertEqual(os.listdir(d), [])  # the probe file is gone
    # An existing output is replaced, unless the user may not write it (a read-only file
    # for a user other than root, for whom os.access says yes: stood in for by a mock).
    old = os.path.join(d, 'old.png')
    open(old, 'w').close()
    common.check_output_writable(old)
    with mock.patch.object(common.os, 'access', return_value=False) as access:
      with self.assertRaisesRegex(common.LaunchError, rf'^--output cannot be written: {old}$'):
        common.check_output_writable(old)
      common.check_output_writable(os.path.join(d, 'new.png'))  # none yet: nothing to ask
    self.assertEqual(access.call_args.args, (old, os.W_OK))
    os.remove(old)
    # A picture suffix other than .png was taken as a name, and written as x.jpg.npy.
    with self.assertRaisesRegex(common.LaunchError, r"'x.JPG': launch.sample writes a "
                                r'picture as .png \(or the samples as .npy\)'):
      sample.check_arguments(7, 10, 'x.JPG')

  def test_an_output_linked_elsewhere_is_checked_where_it_is_written(self):
    # The file written is the link's target (files.replacing writes beside it): a link in
    # a writable folder to a folder that is not is refused before any work.
    from launch import common
    d = tempfile.mkdtemp()
    link = os.path.join(d, 'out.png')
    os.symlink('/sys/jaxgan_never.png', link)
    with self.assertRaisesRegex(common.LaunchError, r'--output cannot be written in /sys'):
      common.check_output_writable(link)

  def test_only_the_closed_event_loop_error_is_kept_quiet(self):
    from launch import common
    unraisable = lambda e: mock.Mock(exc_value=e)
    with mock.patch.object(common.sys, '__unraisablehook__') as default:
      common.quiet_closed_event_loops(unraisable(RuntimeError('Event loop is closed')))
      self.assertEqual(default.call_count, 0)
      for other in (RuntimeError('Event loop is running'), ValueError('Event loop is closed')):
        report = unraisable(other)
        common.quiet_closed_event_loops(report)
        default.assert_called_with(report)
      self.assertEqual(default.call_count, 2)

  def test_a_workdir_that_cannot_be_made_is_refused_before_any_work(self):
    # launch.interpolate restored both runs, launch.study trained its first run or began
    # to, then each died in a PermissionError traceback making the folder.
    from launch import common
    check = common.check_folder_writable
    with self.assertRaisesRegex(common.LaunchError, r'--workdir cannot be written in /sys'):
      check('/sys/jaxgan_never/run')  # probed in its nearest existing parent
    f = tempfile.NamedTemporaryFile(delete=False).name
    with self.assertRaisesRegex(common.LaunchError, rf'--workdir is a file, not a folder: {f}'):
      check(f)
    d = tempfile.mkdtemp()
    check(os.path.join(d, 'new', 'run'))
    check(d)
    self.assertEqual(os.listdir(d), [])  # nothing made, the probe file gone
    # The folder checked is the one training writes: '~' is not expanded by either.
    home = tempfile.NamedTemporaryFile(delete=False).name  # a HOME that is a file
    with mock.patch.dict(os.environ, {'HOME': home}):
      cwd = os.getcwd()
      try:
        os.chdir(d)
        check('~/run')  # ./~/run, where training writes it
      finally:
        os.chdir(cwd)
    for module, flags in (('launch.study', ['--config=configs/study_toy.py']),
                          ('launch.interpolate', [f'--psnr={d}', f'--gan={d}'])):
      proc = subprocess.run([sys.executable, '-m', module, *flags, '--workdir=/sys/jaxgan_x'],
                            cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertEqual(proc.stderr.strip().splitlines()[-1],
                       'Error: --workdir cannot be written in /sys: Permission denied.')

  def test_sample_counts_and_picture_suffixes_are_checked_before_any_work(self):
    # A count below 1 was refused only after the run was restored; a picture suffix other
    # than .png was written as NAME.jpg.npy.
    from launch import common, sample
    d = tempfile.mkdtemp()
    out = os.path.join(d, 's.npy')
    for args, message in (((0, 10), '--num_samples must be at least 1; got 0'),
                          ((-5, 10), '--num_samples must be at least 1; got -5'),
                          ((7, 0), '--batch_size must be at least 1; got 0')):
      with self.subTest(args=args), self.assertRaisesRegex(common.LaunchError, message):
        sample.check_arguments(*args, out)
    for suffix in ('.jpg', '.jpeg', '.gif', '.bmp', '.tif', '.tiff', '.webp', '.svg', '.PDF',
                   '.eps', '.avif', '.tga', '.jp2', '.ico', '.qoi', '.ppm'):
      # the vector ones, and Pillow's own formats (.tga ...), wrote the samples as x.svg.npy
      with self.subTest(suffix=suffix), self.assertRaisesRegex(
          common.LaunchError, 'launch.sample writes a picture as .png'):
        sample.check_arguments(7, 10, os.path.join(d, 'x' + suffix))
    self.assertEqual(os.listdir(d), [])
    for name, path in (('x.PNG', 'x.PNG'), ('x.npy', 'x.npy'), ('x.run1', 'x.run1.npy'),
                       ('x.h5', 'x.h5.npy')):  # Pillow's stub for HDF5 names no picture
      self.assertEqual(sample.check_arguments(7, 10, os.path.join(d, name)),
                       os.path.join(d, path))

  def test_the_sample_file_named_is_the_one_np_save_writes(self):
    from launch import sample
    for name in ('s', 'snpy', 's.npy', 's.NPY'):
      d = tempfile.mkdtemp()
      np.save(os.path.join(d, name), np.zeros(1))
      self.assertEqual(os.listdir(d), [sample.output_path(name)], name)
    for name in ('g.png', 'g.PNG'):  # a picture keeps its name
      self.assertEqual(sample.output_path(name), name)

  def test_output_names_and_workdirs_that_cannot_be_used_are_refused(self):
    from launch import common
    d = tempfile.mkdtemp()
    for path in ('.png', os.path.join(d, '.png'), os.path.join(d, '.npy')):
      with self.subTest(path=path), self.assertRaisesRegex(
          common.LaunchError, f'--output needs a file name before its suffix; got {path!r}'):
        common.check_output_name(path)
    common.check_output_name(os.path.join(d, 'x'))
    # A name past 255 bytes: os.path.exists says False, and the write failed with an OSError
    # traceback after the work. launch.sample checks the name it writes (.npy appended).
    common.check_output_name(os.path.join(d, 'x' * 255))
    with self.assertRaisesRegex(common.LaunchError,
                                '^--output: the file name .* is 256 bytes; a file name may '
                                'have 255.$'):
      common.check_output_name(os.path.join(d, 'é' * 128))
    from launch import sample
    with self.assertRaisesRegex(common.LaunchError, r"'x{252}\.npy' is 256 bytes"):
      sample.check_arguments(7, 10, os.path.join(d, 'x' * 252))
    missing = os.path.join(d, 'missing')
    with self.assertRaisesRegex(common.LaunchError,
                                f'^The folder of --output does not exist: {missing}$'):
      common.check_output_writable(os.path.join(missing, 'x.npy'))
    for blank in ('', '  '):  # '  ' would be a folder named by two spaces
      with self.subTest(blank=blank), self.assertRaisesRegex(
          common.LaunchError, '--workdir is empty: give a folder'):
        common.check_folder_writable(blank)
    self.assertEqual(os.listdir(d), [])

  def test_labels_and_codes_are_all_or_one_integer(self):
    from launch import common, sample
    self.assertEqual([sample._assignment_form(v, 'labels') for v in (None, 'all', '3', '-1')],
                     [None, 'all', 3, -1])
    for bad in ('2.5', 'x', '', 'ALL'):  # '2.5' is not class 2; 'all' in lower case
      with self.subTest(bad=bad), self.assertRaisesRegex(
          common.LaunchError, f"--codes must be 'all' or an integer; got {bad!r}"):
        sample._assignment_form(bad, 'codes')
    np.testing.assert_array_equal(sample._assignment('all', 7, 3), [0, 1, 2, 0, 1, 2, 0])
    np.testing.assert_array_equal(sample._assignment(3, 4, 10), [3, 3, 3, 3])
    self.assertIsNone(sample._assignment(None, 4, 10))

  def test_orbax_info_lines_are_kept_out_and_its_warnings_shown(self):
    import logging as pylogging

    from launch import common
    orbax = '/site-packages/orbax/checkpoint/checkpointer.py'
    for pathname, level, shown in ((orbax, pylogging.INFO, False),
                                   (orbax, pylogging.WARNING, True),
                                   (orbax, pylogging.ERROR, True),
                                   ('/repo/jaxgan/train.py', pylogging.INFO, True)):
      record = pylogging.LogRecord('absl', level, pathname, 1, 'message', None, None)
      self.assertEqual(common._QuietOrbax().filter(record), shown, (pathname, level))
    # asyncio's report of an Orbax read task's error left after a failed restore (which
    # the launcher reports as one line) is kept out; other tasks' reports are shown.
    asyncio_path = '/usr/lib/python3.11/asyncio/base_events.py'
    for coro, shown in ((f'async_deserialize() done, defined at {orbax[:-15]}_src/'
                         'serialization/serialization.py:394', False),
                        ('fetch() done, defined at /repo/mine.py:3', True)):
      message = ('Task exception was never retrieved\nfuture: <Task finished name=\'Task-1\' '
                 f"coro=<{coro}> exception=ValueError('OUT_OF_RANGE')>")
      record = pylogging.LogRecord('asyncio', pylogging.ERROR, asyncio_path, 1771, '%s',
                                   (message,), None)
      self.assertEqual(common._QuietOrbax().filter(record), shown, coro)

  def test_asyncio_reports_of_orbax_reads_are_kept_out_whichever_handler_prints_them(self):
    # studies.figures has no absl handler: asyncio's reports went to Python's last resort
    # (seen on an AMD EPYC machine, its damaged-checkpoint test failing at random).
    import logging as pylogging

    from launch import common
    asyncio_log = pylogging.getLogger('asyncio')
    saved = sys.unraisablehook, list(asyncio_log.filters)
    try:
      common.quiet_failed_restores()
      common.quiet_failed_restores()  # once is enough, twice does no harm
      self.assertIs(sys.unraisablehook, common.quiet_closed_event_loops)
      self.assertEqual(asyncio_log.filters.count(common._QUIET_ORBAX), 1)
      report = ('Task exception was never retrieved\nfuture: <Task finished coro=<{}() done, '
                'defined at {}:1> exception=ValueError()>')
      with self.assertNoLogs('asyncio'):
        asyncio_log.error(report.format('async_deserialize',
                                        '/site-packages/orbax/checkpoint/_src/x.py'))
      with self.assertLogs('asyncio', 'ERROR'):
        asyncio_log.error(report.format('fetch', '/repo/mine.py'))
    finally:
      sys.unraisablehook, asyncio_log.filters = saved

  def test_the_config_file_checked_is_the_last_one_given_as_absl_takes_it(self):
    from launch import common
    for argv, spec in ((['x', '--config=a.py', '--config=b.py:s'], 'b.py:s'),
                       (['x', '--config', 'a.py', '--config=b.py'], 'b.py'),
                       (['x', '--config=a.py', '--config', 'b.py'], 'b.py'),
                       (['x', '--config'], None), (['x', '--workdir=w'], None)):
      self.assertEqual(common._config_spec(argv), spec, argv)
    # A config file's own ConfigError is its last line, as a ValueError's is.
    message = ('Error whilst parsing config file: Traceback (most recent call last):\n'
               '  File "c.py", line 3, in get_config\n'
               'jaxgan.validation.ConfigError: config.seed = -1: must be an integer')
    self.assertEqual(common._without_traceback(message),
                     'Error whilst parsing config file: jaxgan.validation.ConfigError: '
                     'config.seed = -1: must be an integer')

  def test_every_error_a_user_can_fix_is_one_line_and_exit_code_1(self):
    # Each error jaxgan raises for a user to fix (a bad data file, torch weights that do
    # not fit, a bad keyword in a name) ends in one line, not a traceback; any other
    # error is raised (here a RuntimeError).
    code = (
        'import os\n'
        'from jaxgan import checkpoints, registry, torch_weights, validation, workdir\n'
        'from launch import common\n'
        'errors = (validation.ConfigError, validation.DataError, registry.UnknownNameError,\n'
        '          registry.ArgumentError, checkpoints.CheckpointError, workdir.WorkdirBusy,\n'
        '          torch_weights.WeightsError, common.LaunchError, FloatingPointError,\n'
        '          FileNotFoundError, FileExistsError, RuntimeError)\n'
        "os._exit = lambda code: print(code, flush=True)  # exits no more: the next error\n"
        'for error in errors:\n'
        '  def main(argv, error=error):\n'
        "    raise error(f'the {error.__name__} message')\n"
        '  try:\n'
        '    common.run(main)\n'
        '  except SystemExit:\n'
        '    pass\n'
        '  except RuntimeError as e:\n'
        "    print('raised', type(e).__name__)\n")
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=120)
    self.assertEqual(proc.returncode, 0, proc.stderr[-2000:])
    self.assertEqual(proc.stdout.splitlines(), ['1'] * 11 + ['raised RuntimeError'])
    names = ('ConfigError', 'DataError', 'UnknownNameError', 'ArgumentError',
             'CheckpointError', 'WorkdirBusy', 'WeightsError', 'LaunchError',
             'FloatingPointError', 'FileNotFoundError', 'FileExistsError')
    self.assertEqual([ln for ln in proc.stderr.splitlines() if ln.startswith('Error: ')],
                     [f'Error: the {n} message' for n in names])
    self.assertNotIn('Traceback', proc.stderr)

  def test_upscale_interpolate_and_evaluate_check_their_flags_before_the_runs(self):
    # None of these folders is a run: each error comes before a workdir is read. An image
    # suffix no writer takes failed after the work; the input under another spelling was
    # overwritten; --alpha=1 (the GAN alone) is allowed; eval.json that cannot be written
    # in the workdir failed after the evaluation.
    d = tempfile.mkdtemp()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(os.path.join(d, 'in.png'))
    sys_error = 'Error: --workdir cannot be written in /sys: Permission denied.'
    for module, args, last in (
        ('launch.upscale', [f'--workdir={d}', f'--input={d}/in.png', f'--output={d}/o.gif'],
         f'Error: --output must end in .png, .jpg, .jpeg; got {d}/o.gif.'),
        ('launch.upscale', [f'--workdir={d}', f'--input={d}/in.png',
                            f'--output={d}/./in.png'],
         f'Error: --output is the input image ({d}/./in.png); choose another path.'),
        ('launch.upscale', [f'--workdir={d}', f'--input={d}/in.png', f'--output={d}/o.JPG'],
         f'Error: {d}/config.json not found: is {d} a jaxgan workdir (made by python -m '
         'launch.train)?'),  # a suffix in capitals is taken: the workdir is checked next
        ('launch.interpolate', [f'--psnr={d}', f'--gan={d}', '--alpha=1.5',
                                f'--workdir={d}/mixed'],
         'Error: --alpha must lie in [0, 1]; got 1.5.'),
        ('launch.interpolate', [f'--psnr={d}', f'--gan={d}', '--alpha=1.0',
                                '--workdir=/sys/jaxgan_x'], sys_error),
        ('launch.evaluate', ['--workdir=/sys'], sys_error)):
      with self.subTest(module=module, args=args):
        proc = subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT, env=ENV,
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertEqual(proc.stderr.strip().splitlines()[-1], last)
    self.assertEqual(os.listdir(d), ['in.png'])

  def test_study_and_interpolate_refuse_what_they_cannot_write_in_one_line(self):
    # launch.study checks --workdir before its study (a path inside a file was a
    # NotADirectoryError traceback after the runs' checks); launch.interpolate reports a
    # workdir that is not empty as one line (nothing is read from --psnr/--gan first).
    d = tempfile.mkdtemp()
    a_file = os.path.join(d, 'a_file')
    open(a_file, 'w').close()
    full = os.path.join(d, 'full')
    os.makedirs(full)
    open(os.path.join(full, 'mine.txt'), 'w').close()
    for module, args, last in (
        ('launch.study', ['--config=configs/study_toy.py', f'--workdir={a_file}/sub'],
         f'Error: --workdir {a_file}/sub lies inside {a_file}, which is a file.'),
        ('launch.interpolate', [f'--psnr={d}', f'--gan={d}', '--alpha=0.5', f'--workdir={full}'],
         f'Error: {full} exists and is not an empty folder; choose a new workdir (nothing was '
         'written).')):
      with self.subTest(module=module):
        proc = subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT, env=ENV,
                              capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertEqual(proc.stderr.strip().splitlines()[-1], last)
        self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual(sorted(os.listdir(d)), ['a_file', 'full'])
    self.assertEqual(os.listdir(full), ['mine.txt'])


class LaunchTest(chex.TestCase):

  def _run(self, module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', module, *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=300, **kwargs)

  def test_absl_launch_with_overrides_logs_length_and_samples(self):
    wd = tempfile.mkdtemp()
    proc = self._run('launch.train', f'--workdir={wd}', *small_flags(
        num_steps=10, **{'loss.name': 'hinge', 'penalty.name': 'wgan_gp',
                         'penalty.weight': 10}))
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn('Training 10 steps of 32 examples', proc.stderr)
    cfg = json.load(open(os.path.join(wd, 'config.json')))
    self.assertEqual((cfg['loss']['name'], cfg['penalty']['name']), ('hinge', 'wgan_gp'))
    # launch.sample: the file really written is printed (np.save appends .npy).
    out = os.path.join(wd, 's')
    proc = self._run('launch.sample', f'--workdir={wd}', '--num_samples=7', f'--output={out}')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn(f'to {out}.npy', proc.stdout)
    self.assertEqual(np.load(out + '.npy').shape, (7, 2))
    # .png (any case): for 2-D data a scatter over the mixture's modes.
    # 10,000 samples by default (100 is the default of an image grid only).
    proc = self._run('launch.sample', f'--workdir={wd}', f'--output={out}.PNG')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn(f'wrote a picture of (10000, 2) samples of step 10 to {out}.PNG',
                  proc.stdout)
    with open(f'{out}.PNG', 'rb') as f:
      self.assertEqual(f.read(8), b'\x89PNG\r\n\x1a\n')
    # --truncation: the samples of inference.sample with it.
    proc = self._run('launch.sample', f'--workdir={wd}', '--num_samples=7', '--truncation=0.5',
                     f'--output={out}_t.npy')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    gan, _, state, config = inference.restore(wd, with_data=False)
    np.testing.assert_allclose(np.load(f'{out}_t.npy'), inference.sample(
        gan, state, 7, inference.uses_ema(config), truncation=0.5), rtol=1e-5, atol=1e-6)
    # --walk: 3 rows of 5 from sample i's noise to sample 3 + i's: their ends are those
    # samples; as a PNG, a scatter of the 15 points.
    proc = self._run('launch.sample', f'--workdir={wd}', '--num_samples=3', '--walk=5',
                     f'--output={out}_w.npy')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn(f'wrote 3 walks of 5 steps (slerp, step 10) to {out}_w.npy', proc.stdout)
    walks, ends = np.load(f'{out}_w.npy'), inference.sample(gan, state, 6,
                                                            inference.uses_ema(config))
    chex.assert_shape(walks, (3, 5, 2))
    np.testing.assert_allclose(walks[:, 0], ends[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(walks[:, -1], ends[3:], rtol=1e-4, atol=1e-5)
    proc = self._run('launch.sample', f'--workdir={wd}', '--walk=5', '--walk_path=linear',
                     f'--output={out}_w.png')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn('wrote 10 walks of 5 steps (linear', proc.stdout)  # 10 by default
    # Bad arguments are refused before anything is restored (defect 6).
    for bad, message in (('--num_samples=0', 'num_samples must be at least 1'),
                         (f'--output={wd}/missing/x.npy', 'folder of --output does not exist'),
                         (f'--output={wd}', 'is a folder'),
                         (f'--output={wd}/.png', 'needs a file name before its suffix'),
                         ('--labels=all', 'not class-conditional'),
                         ('--step=5', 'No checkpoint of step 5 in '),  # it keeps step 10
                         ('--step=0', 'flag --step=0: 0 is not a positive integer'),
                         ('--truncation=0', '--truncation must be a finite number > 0'),
                         ('--walk=1', 'flag --walk=1: 1 is not')):
      args = [f'--workdir={wd}', f'--output={out}', '--num_samples=7', bad]
      proc = self._run('launch.sample', *args)
      self.assertNotEqual(proc.returncode, 0)
      self.assertIn(message, proc.stderr)
    # launch.evaluate: too few samples for the mixture's mode coverage is one line.
    proc = self._run('launch.evaluate', f'--workdir={wd}', '--num_samples=100')
    self.assertEqual(proc.returncode, 1, proc.stderr[-3000:])
    self.assertEqual(proc.stderr.strip().splitlines()[-1],
                     "Error: --num_samples = 100 is too few: the 'modes' evaluator needs at "
                     'least 2500 (thousands, for meaningful scores).')
    self.assertNotIn('Traceback', proc.stderr)
    self.assertFalse(os.path.exists(os.path.join(wd, 'eval.json')))
    proc = self._run('launch.evaluate', f'--workdir={wd}', '--num_samples=2500',
                     '--truncation=0.5')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertEqual(json.loads(proc.stdout)['truncation'], 0.5)

  def test_corrupt_checkpoint_gives_one_short_message(self):
    """Defect 5: step, directory, cause and what to do, last; no unrelated tracebacks."""
    wd = tempfile.mkdtemp()
    proc = self._run('launch.train', f'--workdir={wd}', *small_flags(num_steps=20))
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    # Truncated array data (the OUT_OF_RANGE case, which used to end in dozens of
    # "Event loop is closed" tracebacks from TensorStore at interpreter exit).
    for root, _, files in os.walk(os.path.join(wd, 'checkpoints', '20')):
      for f in files:
        if os.path.basename(root) == 'd':
          os.truncate(os.path.join(root, f), 10)
    proc = self._run('launch.train', f'--workdir={wd}', *small_flags(num_steps=30))
    self.assertEqual(proc.returncode, 1)
    last = proc.stderr.strip().splitlines()[-1]
    self.assertRegex(last, r'^Error: The checkpoint of step 20 in .*checkpoints cannot be '
                     r'restored \(.*OUT_OF_RANGE.*\)\. .*move .*/20 aside to resume from step '
                     r'10')
    self.assertNotIn('Traceback', proc.stderr)
    self.assertNotIn('Event loop is closed', proc.stderr)
    self.assertLess(len(proc.stderr.splitlines()), 40, proc.stderr)
    # Evaluating has nothing to resume: its message says what else may be wrong.
    proc = self._run('launch.evaluate', f'--workdir={wd}', '--num_samples=2')
    self.assertEqual(proc.returncode, 1)
    last = proc.stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^Error: The checkpoint of step 20 in .*checkpoints cannot be "
                     r"restored into the model of the run's config.json \(.*OUT_OF_RANGE.*\)\. "
                     r'.*or config.json is not the config it was saved with .*; the earlier '
                     r'checkpoints are of steps 10 \(--step=N reads one\)\.$')
    self.assertNotIn('aside', last)
    # ... and --step=10 evaluates that one.
    proc = self._run('launch.evaluate', f'--workdir={wd}', '--num_samples=2500', '--step=10')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertEqual(json.loads(proc.stdout)['step'], 10)

  def test_evaluate_interpolate_and_study_from_the_command_line(self):
    """The three commands as the README runs them, each to its success: evaluate prints
    the JSON it writes (with its seed), interpolate writes a run evaluate reads, a study
    writes its report with the seeds it used."""
    wd = tempfile.mkdtemp()
    proc = self._run('launch.train', f'--workdir={wd}',
                     *small_flags(num_steps=10, checkpoint_every=5))
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    # --all_steps: each kept checkpoint, the oldest first; eval.json is the latest's and
    # evals.jsonl keeps both.
    proc = self._run('launch.evaluate', f'--workdir={wd}', '--num_samples=2500', '--seed=4',
                     '--all_steps')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    along = json.loads(proc.stdout)
    self.assertEqual([(r['step'], r['num_samples'], r['seed']) for r in along],
                     [(5, 2500, 4), (10, 2500, 4)])
    with open(os.path.join(wd, 'evals.jsonl')) as f:
      self.assertEqual([json.loads(line) for line in f], along)
    printed = along[-1]
    self.assertEqual(printed, json.load(open(os.path.join(wd, 'eval.json'))))
    mixed = os.path.join(tempfile.mkdtemp(), 'mixed')
    proc = self._run('launch.interpolate', f'--psnr={wd}', f'--gan={wd}', '--alpha=0.5',
                     '--psnr_step=5', '--gan_step=5', f'--workdir={mixed}')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn(f'wrote {mixed}', proc.stdout)
    proc = self._run('launch.evaluate', f'--workdir={mixed}', '--num_samples=2500', '--seed=4')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    # Mixing step 5's generator with itself is that generator: the same samples, the same
    # scores (of step 5, not the latest).
    self.assertEqual({k: v for k, v in json.loads(proc.stdout).items() if k != 'workdir'},
                     {k: v for k, v in along[0].items() if k != 'workdir'})
    study = os.path.join(tempfile.mkdtemp(), 'study')
    proc = self._run('launch.study', '--config=configs/study_toy.py', f'--workdir={study}',
                     "--config.study.runs=('hinge:none',)", '--config.study.num_seeds=1',
                     '--config.num_steps=10', '--config.steps_per_call=5', '--config.seed=2',
                     '--config.model.generator.features=(16,)',
                     '--config.model.discriminator.features=(16,)')
    self.assertEqual(proc.returncode, 0, proc.stderr[-3000:])
    self.assertIn('group ring8 sets: ', proc.stdout)
    report = json.load(open(os.path.join(study, 'study.json')))
    self.assertEqual(report['seeds'], [2])
    self.assertCountEqual([(r['group'], r['objective']) for r in report['runs']],
                          [(g, 'hinge') for g in ('ring8', 'grid25')])

  def test_bad_flags_give_one_line_not_a_traceback(self):
    for module, args, message in (
        ('launch.sample', ['--workdir=/tmp/never'], "Flag --output must have a value"),
        ('launch.sample', ['--wrkdir=/tmp/never', '--output=x'], 'Unknown command line flag'),
        ('launch.train', ['--config=configs/toy2d.py', '--workdir=/tmp/never',
                          '--config.num_steps=abc'], 'num_steps'),
        ('launch.train', ['--config=configs/srgan.py:foo', '--workdir=/tmp/never'],
         'Error whilst parsing config file: ValueError: Unknown config option(s) foo; valid: '
         'psnr, small, offline.'),
        # jax.random.key keeps a seed's low 32 bits: 2**32 was seed 0 (and eval.json said
        # 4294967296); 2**64 an OverflowError.
        ('launch.sample', ['--workdir=/tmp/never', '--output=x', f'--seed={2**32}'],
         'flag --seed=4294967296: 4294967296 is not an integer in the range [0, 4294967295]'),
        ('launch.evaluate', ['--workdir=/tmp/never', '--seed=-1'],
         'flag --seed=-1: -1 is not an integer in the range [0, 4294967295]'),
        ('launch.evaluate', ['--workdir=/tmp/never', '--step=3', '--all_steps'],
         '--step reads one checkpoint and --all_steps every kept one: give one of them.')):
      proc = self._run(module, *args)
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertIn('FATAL Flags parsing error', proc.stderr)
      self.assertIn(message, proc.stderr)
      self.assertNotIn('Traceback', proc.stderr)

  def test_missing_required_flags_and_too_few_samples_are_flag_errors(self):
    # Refused by the flag parser, before anything runs: each launcher's required flags,
    # and --num_samples below evaluate's bound of 2.
    d = tempfile.mkdtemp()
    for module, args, message in (
        ('launch.evaluate', [], 'Flag --workdir must have a value other than None'),
        ('launch.interpolate', [f'--psnr={d}', f'--workdir={d}/x'],
         'Flag --gan must have a value other than None'),
        ('launch.study', ['--config=configs/study_toy.py'],
         'Flag --workdir must have a value other than None'),
        ('launch.train', ['--config=configs/toy2d.py'],
         'Flag --workdir must have a value other than None'),
        ('launch.evaluate', ['--workdir=/tmp/never', '--num_samples=1'],
         'flag --num_samples=1: 1 is not integer >= 2')):
      with self.subTest(module=module, args=args):
        proc = self._run(module, *args)
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertIn('FATAL Flags parsing error: flag --', proc.stderr)
        self.assertIn(message, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual(os.listdir(d), [])

  def test_bad_paths_and_arguments_give_one_line_that_names_them(self):
    d = tempfile.mkdtemp()
    a_file = os.path.join(d, 'a_file')
    open(a_file, 'w').close()
    toy = ['--config=configs/toy2d.py']
    odd = tempfile.mkdtemp()
    os.mkdir(os.path.join(odd, 'config.json'))
    for module, args, message in (
        ('launch.train', ['--config=configs/nope.py', f'--workdir={d}/w'],
         'configs/nope.py does not exist; give a config file'),
        ('launch.train', ['--config=configs', f'--workdir={d}/w'], 'configs is a folder'),
        ('launch.train', ['--config=configs/toy2d.py:foo', f'--workdir={d}/w'],
         'This config file takes no option'),
        ('launch.train', ['--config=jaxgan/losses.py', f'--workdir={d}/w'],
         'the file has no get_config(); it is not a config file'),
        ('launch.train', [*toy, f'--workdir={d}/w', 'extra'],
         "unexpected argument(s) 'extra'"),
        ('launch.train', [*toy, '--workdir='], '--workdir is empty'),
        ('launch.train', [*toy, f'--workdir={a_file}/sub'],
         f'--workdir {a_file}/sub lies inside {a_file}, which is a file'),
        ('launch.study', [*toy, f'--workdir={d}/s'], 'This config has no config.study: it is '
         'a training config'),
        ('launch.upscale', [f'--workdir={d}', f'--input={d}', f'--output={d}/o.png'],
         f'{d} is a folder, not an image file'),
        ('launch.sample', ['--config=nope.py', f'--workdir={d}', f'--output={d}/s.npy'],
         "Unknown command line flag 'config'"),
        # The OS's own errors of a path, not a traceback: a config.json that is a folder.
        ('launch.sample', [f'--workdir={odd}', f'--output={odd}/s.npy'],
         f"Error: [Errno 21] Is a directory: '{odd}/config.json'")):
      with self.subTest(module=module, args=args):
        proc = self._run(module, *args)
        self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
        self.assertIn(message, proc.stderr)
        self.assertNotIn('Traceback', proc.stderr)
    self.assertEqual(sorted(os.listdir(d)), ['a_file'])  # nothing made

  def test_unknown_config_field_lists_the_valid_ones(self):
    for config in (['--config=configs/toy2d.py'], ['--config', 'configs/toy2d.py']):
      proc = self._run('launch.train', *config, '--workdir=/tmp/never', '--config.loss.margin=2')
      self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
      self.assertIn("config.loss has no field 'margin'; its fields are: kwargs, name",
                    proc.stderr)
      self.assertNotIn('Traceback', proc.stderr)

  def test_a_kwargs_field_from_the_command_line_names_the_inline_form(self):
    # A locked config takes no new field: the arguments go with the name instead.
    proc = self._run('launch.train', '--config=configs/default.py', '--workdir=/tmp/never',
                     '--config.penalty.kwargs.gamma=5', '--config.loss.kwargs.a=1')
    self.assertEqual(proc.returncode, 1, proc.stderr[-2000:])
    self.assertIn("config.penalty.kwargs has no field 'gamma'; it has no fields. The command "
                  "line adds no field to a config file's kwargs: give the arguments with the "
                  "name, --config.penalty.name='NAME(gamma=VALUE)'.", proc.stderr)
    self.assertNotIn('Traceback', proc.stderr)
    proc = self._run('launch.train', '--config=configs/default.py', '--workdir=/tmp/never',
                     '--config.loss.kwargs.a=1')
    self.assertIn("--config.loss.name='non_saturating(a=VALUE)'", proc.stderr)

  def test_the_inline_form_names_the_objective_given_on_the_command_line(self):
    from launch import common
    argv = ['train', '--config=configs/toy2d.py', '--config.loss.name=least_squares',
            '--config.loss.kwargs.a=-1.0']
    self.assertIn("--config.loss.name='least_squares(a=VALUE)'.",
                  common._unknown_field_message(argv))
    argv = ['train', '--config=configs/toy2d.py', '--config.penalty.name=wgan_gp(target=1.0)',
            '--config.penalty.kwargs.foo=1', '--config.model.name.x=1']  # the last no name
    self.assertIn("--config.penalty.name='wgan_gp(target=1.0, foo=VALUE)'.",
                  common._unknown_field_message(argv))
    # absl's --noFLAG form of a boolean field is checked too (it was a traceback).
    self.assertEqual(common._unknown_field_message(
        ['train', '--config=configs/toy2d.py', '--noconfig.loss.margin']),
        "--noconfig.loss.margin: config.loss has no field 'margin'; its fields are: kwargs, "
        'name.')

  def test_second_launch_on_a_busy_workdir_names_the_first(self):
    """Defect 2, through the launcher: the second trainer refuses at once."""
    wd = tempfile.mkdtemp()
    first = subprocess.Popen(
        [sys.executable, '-m', 'launch.train', f'--workdir={wd}',
         *small_flags(num_steps=1000000, checkpoint_every=100000)],
        cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
      metrics = os.path.join(wd, 'metrics.jsonl')
      for _ in range(600):
        if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
          break
        time.sleep(0.5)
      proc = self._run('launch.train', f'--workdir={wd}', *small_flags(num_steps=10))
      self.assertEqual(proc.returncode, 1)
      self.assertIn(f'in use by another training run (pid {first.pid} on', proc.stderr)
      self.assertEqual(json.load(open(os.path.join(wd, 'config.json')))['num_steps'], 1000000)
    finally:
      first.kill()
      first.wait()

  def test_what_was_printed_before_an_error_reaches_a_redirected_stdout(self):
    """The launchers end a user error (exit 1) and an interrupt (130) with ``os._exit``,
    which flushes no buffer: a piped stdout (block-buffered) must still get what was
    printed before (a study's progress lines, an evaluation's table)."""
    env = {k: v for k, v in ENV.items() if k != 'PYTHONUNBUFFERED'}  # buffered, as usual
    for error, returncode, message in (
        ('ConfigError("config.x = 1: bad")', 1, 'Error: config.x = 1: bad'),
        ('KeyboardInterrupt()', 130, 'Interrupted.')):
      code = ('from jaxgan.validation import ConfigError\n'
              'from launch import common\n'
              'def main(argv):\n'
              "  print('done so far: 3 of 4 runs')\n"
              f'  raise {error}\n'
              'common.run(main)\n')
      proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
      self.assertEqual(proc.returncode, returncode, proc.stderr[-2000:])
      self.assertEqual(proc.stdout, 'done so far: 3 of 4 runs\n')
      self.assertIn(message, proc.stderr)

  def test_an_ignored_signal_stays_ignored(self):
    # Started with SIGINT ignored (a background job of a script), a run is not stopped by
    # it, and so never re-delivers it to the ignore as if it had finished.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
      with train._StopRequest():
        self.assertEqual(signal.getsignal(signal.SIGINT), signal.SIG_IGN)
        self.assertNotEqual(signal.getsignal(signal.SIGTERM), signal.SIG_DFL)
      self.assertEqual(signal.getsignal(signal.SIGINT), signal.SIG_IGN)
    finally:
      signal.signal(signal.SIGINT, old)

  @parameterized.parameters(
      # SIGTERM is delivered again to its default handler: the process ends as SIGTERM
      # ends it (Popen's -15; 143 in a shell), so a stopped run does not look finished.
      (signal.SIGTERM, -signal.SIGTERM, 'Stopped by signal 15 at step'),
      # SIGINT raises Python's KeyboardInterrupt, which the launcher turns into one line.
      (signal.SIGINT, 130, 'Interrupted.'))
  def test_a_signal_saves_a_checkpoint_and_stops(self, signum, returncode, message):
    wd = tempfile.mkdtemp()
    cmd = [sys.executable, '-m', 'launch.train', f'--workdir={wd}',
           *small_flags(num_steps=1000000, steps_per_call=10, checkpoint_every=100000,
                        log_every=10)]
    # A background job may inherit SIGINT ignored (which training respects): not this one.
    # Bytes, decoded without newline translation: the progress bar's carriage returns kept.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signum, signal.SIG_DFL))
    metrics = os.path.join(wd, 'metrics.jsonl')
    for _ in range(600):
      if os.path.exists(metrics) and os.path.getsize(metrics) > 0:
        break
      time.sleep(0.5)
    proc.send_signal(signum)
    err = proc.communicate(timeout=120)[1].decode()
    self.assertEqual(proc.returncode, returncode, err[-2000:])
    self.assertIn(message, err)
    self.assertNotIn('Traceback', err)
    steps = saved_steps(wd)
    self.assertLen(steps, 1)
    self.assertTrue(0 < steps[0] < 1000000 and steps[0] % 10 == 0)
    self.assertIn(f'Stopped by signal {int(signum)} at step {steps[0]}; the checkpoint is '
                  'saved', err)
    # The signal's log line is written above the progress bar, not appended to its line.
    shown = [line for line in terminal_lines(err)
             if f'Signal {int(signum)}: saving a checkpoint and stopping.' in line]
    self.assertLen(shown, 1)
    self.assertRegex(shown[0], r'^W\d{4} ')


if __name__ == '__main__':
  absltest.main()
