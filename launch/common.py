"""What every launcher shares: flag parsing that names an unknown config field with the
valid ones, quiet Orbax logs, and one short message last (no traceback) for the errors a
user can fix: a bad config value or name, a busy workdir, a checkpoint that cannot be
restored, a non-finite loss, a missing file.
"""

from __future__ import annotations

import importlib.util
import logging as pylogging
import os
import re
import sys
import tempfile
from collections.abc import Callable

from absl import app, flags, logging

from jaxgan import files, registry, sharding
from jaxgan.checkpoints import CheckpointError
from jaxgan.torch_weights import WeightsError
from jaxgan.validation import ConfigError, DataError, describe_unknown_field
from jaxgan.workdir import WorkdirBusy
from jaxgan.writers import MetricLogError


class LaunchError(ValueError):
  """A launcher argument that is not allowed (reported as one line, without the flags'
  help)."""


# The errors a user fixes (a config, an argument, a path: the OS errors of a path that is
# missing, a folder, not a folder or not permitted name it), reported as one line.
USER_ERRORS = (ConfigError, registry.UnknownNameError, registry.ArgumentError,
               CheckpointError, WorkdirBusy, FloatingPointError, FileNotFoundError,
               IsADirectoryError, NotADirectoryError, PermissionError, DataError,
               LaunchError, FileExistsError, WeightsError, MetricLogError)


def _load_config_file(spec: str):
  """The config of ``--config=PATH[:ARG]`` (as ml_collections' config_flags loads it)."""
  path, _, arg = spec.partition(':')
  module_spec = importlib.util.spec_from_file_location('_jaxgan_config', path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg) if arg else module.get_config()


def _config_spec(argv: list[str]) -> str | None:
  """The ``PATH[:ARG]`` of ``--config=PATH[:ARG]`` or ``--config PATH[:ARG]`` (the last)."""
  spec = None
  for i, a in enumerate(argv):
    if a.startswith('--config='):
      spec = a.split('=', 1)[1]
    elif a == '--config' and i + 1 < len(argv):
      spec = argv[i + 1]
  return spec


def _unknown_field_message(argv: list[str]) -> str | None:
  """For the first ``--config.a.b=v`` naming a field the config file lacks: the message."""
  spec = _config_spec(argv)
  if spec is None:
    return None
  try:
    config = _load_config_file(spec)
  except Exception:  # the config file itself is broken: let absl report it
    return None
  for arg in argv:  # a name given on the command line is the one the advice completes
    m = re.match(r'--config\.([\w.]+\.name)=(.*)', arg, re.DOTALL)
    if m and describe_unknown_field(config, m.group(1)) is None:
      try:
        config.update_from_flattened_dict({m.group(1): m.group(2)})
      except (TypeError, ValueError, AttributeError):  # not a name to complete: as in the file
        pass
  for arg in argv:
    m = re.match(r'--(?:no)?config\.([\w.]+)', arg)
    if m:
      message = describe_unknown_field(config, m.group(1))
      if message:
        return f'{arg}: {message}'
  return None


def _without_traceback(message: str) -> str:
  """A config file's own ``ValueError`` (e.g. an unknown ``FILE:option``) without the
  traceback ml_collections puts before it; any other error keeps its traceback."""
  head, sep, rest = message.partition('Traceback (most recent call last):')
  last = rest.strip().splitlines()[-1] if rest.strip() else ''
  if sep and re.match(r'([\w.]+\.)?(ValueError|ConfigError): ', last):
    return f'{head.strip()} {last}'
  if sep and re.match(r"TypeError: get_config\(\) takes 0 positional", last):
    return f'{head.strip()} This config file takes no option (nothing after its ":").'
  return message


def parse_flags(argv: list[str]) -> list[str]:
  """absl's flag parsing, with a bad flag (unknown, missing, invalid) and an unknown config
  field reported as one clear line, as ``absl.app`` reports the first (exit code 1, as for
  every error a user can fix)."""
  spec = _config_spec(argv)
  path = spec.partition(':')[0] if spec else None
  if path and 'config' in flags.FLAGS and not os.path.isfile(path):  # else a traceback
    what = 'is a folder' if os.path.isdir(path) else 'does not exist'
    print(f'FATAL Flags parsing error: --config={spec}: {path} {what}; give a config file '
          '(e.g. configs/default.py).', file=sys.stderr)
    sys.exit(1)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    print(f'FATAL Flags parsing error: {_without_traceback(str(e))}', file=sys.stderr)
    print('Pass --helpshort or --helpfull to see help on flags.', file=sys.stderr)
    sys.exit(1)
  except (AttributeError, KeyError) as e:
    message = _unknown_field_message(argv)
    if message is None and "has no attribute 'get_config'" in str(e):
      message = f'--config={spec}: the file has no get_config(); it is not a config file.'
    if message is None:
      raise
    print(f'FATAL Flags parsing error: {message}', file=sys.stderr)
    sys.exit(1)


class _QuietOrbax(pylogging.Filter):
  """Keeps Orbax's per-save INFO lines out of the console (warnings still show), and
  asyncio's "Task exception was never retrieved" of Orbax's reads: after a failed restore
  the read tasks other than the first to fail are left with their errors, which asyncio
  logs, with a traceback each, when it collects them (seen in CI, dozens of them before
  the one-line error that reports the first)."""

  def filter(self, record: pylogging.LogRecord) -> bool:
    if record.name == 'asyncio':
      message = record.getMessage()  # formatted once (asyncio's records only)
      if message.startswith('Task exception was never retrieved') and '/orbax/' in message:
        return False
    return record.levelno >= pylogging.WARNING or 'orbax' not in record.pathname


def define_step_flag() -> None:
  """``--step``: the checkpoint a launcher reads (``jaxgan.inference.restore``)."""
  flags.DEFINE_integer('step', None, 'The checkpoint to read, by its step: one the run keeps '
                       '(its last keep_checkpoints, 3 by default), read with the config that '
                       'trained it. Default: the latest.', lower_bound=1)


def define_truncation_flag() -> None:
  """``--truncation``: the truncation trick of a launcher that samples noise."""
  flags.DEFINE_float('truncation', None, 'The truncation trick (BigGAN): the noise drawn '
                     'from N(0, I) truncated to [-PSI, PSI] in each coordinate; smaller '
                     'trades variety for fidelity. Default: none.')
  flags.register_validator('truncation', _valid_truncation)


def _valid_truncation(value: float | None) -> bool:
  """``--truncation`` checked as ``jaxgan.inference.check_truncation`` checks it."""
  from jaxgan import inference  # here: the launchers that take the flag load it anyway
  try:
    inference.check_truncation(value)
  except ValueError as e:
    raise flags.ValidationError(f'--{e}') from None
  return True


def check_output_name(path: str, flag: str = '--output') -> None:
  """:class:`LaunchError` for an output path that is a folder, a file name that is a
  suffix alone (``out/.png``) or one longer than a file name may be, before any work."""
  if os.path.isdir(path):
    raise LaunchError(f'{flag} is a folder: {path}; give a file name.')
  name = os.path.basename(path)
  if not name.rsplit('.', 1)[0]:  # '', '.png'
    raise LaunchError(f'{flag} needs a file name before its suffix; got {path!r}.')
  if len(os.fsencode(name)) > files.NAME_MAX:  # os.path.exists says False, not an error
    raise LaunchError(f'{flag}: the file name {name!r} is {len(os.fsencode(name))} bytes; a '
                      f'file name may have {files.NAME_MAX}.')


def _probe(folder: str, flag: str) -> None:
  """:class:`LaunchError` unless a file can be made (and is removed) in ``folder``: tried,
  since ``os.access`` says yes to root everywhere."""
  try:
    tempfile.NamedTemporaryFile(dir=folder, prefix='.tmp-probe-').close()
  except OSError as e:
    raise LaunchError(f'{flag} cannot be written in {folder}: {e.strerror or e}.') from None


def check_output_writable(path: str, flag: str = '--output') -> None:
  """:class:`LaunchError` before any work when ``path``'s folder does not exist or a file
  cannot be made in it (read-only, no permission, a system folder: tried by making and
  removing a hidden file there, since ``os.access`` says yes to root everywhere), or when
  ``path`` exists and cannot be replaced. Outputs are written to a temporary name in the
  folder of ``path``'s real location, then renamed (:func:`jaxgan.files.replacing`)."""
  folder = os.path.dirname(os.path.realpath(path))
  if not os.path.isdir(folder):
    raise LaunchError(f'The folder of {flag} does not exist: {folder}')
  _probe(folder, flag)
  if os.path.exists(path) and not os.access(path, os.W_OK):
    raise LaunchError(f'{flag} cannot be written: {path}')


def check_folder_writable(path: str, flag: str = '--workdir') -> None:
  """:class:`LaunchError` before any work unless folder ``path`` can be written: a file
  is made and removed in it or, when it does not exist yet, in its nearest existing
  parent, where it would be made. A ``path`` that is a file is refused too. ``~`` is a
  folder's name here as in training (no flag expands it; the shell does, unquoted and not
  after ``=``)."""
  if not path or not path.strip():
    raise LaunchError(f'{flag} is empty: give a folder.')
  path = os.path.realpath(path)
  if os.path.exists(path) and not os.path.isdir(path):
    raise LaunchError(f'{flag} is a file, not a folder: {path}')
  folder = path
  while not os.path.isdir(folder):
    folder = os.path.dirname(folder)
    if os.path.exists(folder) and not os.path.isdir(folder):
      raise LaunchError(f'{flag} {path} lies inside {folder}, which is a file.')
  _probe(folder, flag)


def quiet_closed_event_loops(unraisable) -> None:
  """``sys.unraisablehook`` that drops TensorStore's late callbacks into an event loop
  Orbax already closed (``RuntimeError: Event loop is closed``, printed from a background
  thread after a failed restore) and passes everything else to the default hook."""
  if (isinstance(unraisable.exc_value, RuntimeError)
      and str(unraisable.exc_value) == 'Event loop is closed'):
    return
  sys.__unraisablehook__(unraisable)


_QUIET_ORBAX = _QuietOrbax()


def quiet_failed_restores() -> None:
  """Keeps out what Orbax leaves behind a failed restore, which a command reports as one
  line: TensorStore's late callbacks into a closed event loop
  (:func:`quiet_closed_event_loops`) and asyncio's reports of Orbax's other failed read
  tasks (:class:`_QuietOrbax` on asyncio's logger, whichever handler would print them:
  absl's in the launchers, Python's last resort in ``studies.figures``)."""
  sys.unraisablehook = quiet_closed_event_loops
  pylogging.getLogger('asyncio').addFilter(_QUIET_ORBAX)


def end(message: str, code: int) -> None:
  """Prints ``message`` last on stderr and exits with ``code`` at once: ``os._exit``
  skips teardown (TensorStore callbacks into closed event loops) and Python's buffer
  flush, so the logs, stdout (a redirected one keeps what was printed) and stderr are
  flushed first."""
  logging.flush()
  sys.stdout.flush()
  sys.stderr.flush()
  print(f'\n{message}', file=sys.stderr, flush=True)
  os._exit(code)


def run(main: Callable[[list[str]], None]) -> None:
  """``app.run(main)`` with :func:`parse_flags`, CPU programs run inline
  (:func:`jaxgan.sharding.run_cpu_programs_inline`), quiet Orbax logs, and user errors
  reported as one short message last (exit code 1); an interrupt (SIGINT) is one line and
  exit code 130."""

  def wrapped(argv: list[str]) -> None:
    if len(argv) > 1:  # absl would print the whole help without naming it
      print(f'FATAL Flags parsing error: unexpected argument(s) {" ".join(argv[1:])!r}; every '
            'option is a flag, --name=value. Pass --helpshort to see them.', file=sys.stderr)
      sys.exit(1)
    sharding.run_cpu_programs_inline()
    logging.get_absl_handler().addFilter(_QUIET_ORBAX)  # Orbax's INFO lines
    quiet_failed_restores()
    try:
      main(argv)
    except USER_ERRORS as e:
      end(f'Error: {e}', 1)
    except KeyboardInterrupt:  # SIGINT (launch.train: after its checkpoint is saved)
      end('Interrupted.', 130)  # the shell's code for SIGINT

  app.run(wrapped, flags_parser=parse_flags)
