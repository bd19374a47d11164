"""The entry points' console: TensorFlow's start-up lines hidden, our own messages plain.

TensorFlow 2.21 writes its C++ start-up lines (the oneDNN notice, "Could not find cuda drivers",
the CPU-instructions notice, and on every machine without a CUDA driver an error-level "failed
call to cuInit") through absl before absl::InitializeLog() runs, where TF_CPP_MIN_LOG_LEVEL does
not reach them; later native lines ("XLA service ... initialized", "Compiled cluster using XLA")
obey it. So `load_tensorflow()` sets TF_CPP_MIN_LOG_LEVEL to 2 (info and warnings hidden, errors
kept; 3 would hide real errors) unless the user set it, and imports TensorFlow and initialises
its devices with file descriptor 2 read through a filter that drops the lines under that level,
and the cuInit error when TensorFlow has just said there is no CUDA driver. Python logging (absl)
shows warnings and errors only, as `warning: ...` / `error: ...` lines without absl's
`W1202 12:00:00.000 file.py:NN]` prefix.

Everything comes back with HOURGLASS_VERBOSE=1 in the environment, or with TF_CPP_MIN_LOG_LEVEL=0
and absl's --verbosity=0 (Python info lines, absl's format). The environment is read here only:
the library's filters (core.console) are told by set_verbose.
"""

import contextlib
import logging
import os
import sys

from core import console as core_console
from core.console import filtered_stderr, NativeLineFilter

VERBOSE_ENV = 'HOURGLASS_VERBOSE'
LOG_LEVEL_ENV = 'TF_CPP_MIN_LOG_LEVEL'
DEFAULT_LOG_LEVEL = '2'


def verbose():
  """Whether the user asked for every line (HOURGLASS_VERBOSE set and not 0)."""
  return os.environ.get(VERBOSE_ENV, '') not in ('', '0')


def tensorflow_log_level():
  """TF_CPP_MIN_LOG_LEVEL as a number (0 when unset or not a number, or when verbose)."""
  level = os.environ.get(LOG_LEVEL_ENV, '0')
  return 0 if verbose() or not level.isdigit() else int(level)


def load_tensorflow():
  """Imports TensorFlow and initialises its devices with the start-up lines filtered (see the
  module docstring). Call before anything imports TensorFlow. Returns the tensorflow module."""
  core_console.set_verbose(verbose())
  if verbose():
    os.environ.setdefault(LOG_LEVEL_ENV, '0')
  os.environ.setdefault(LOG_LEVEL_ENV, DEFAULT_LOG_LEVEL)
  with filtered_stderr(NativeLineFilter(tensorflow_log_level())):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf.config.list_physical_devices()  # the device set-up prints the cuInit line
  return tf


class _PlainFormatter(logging.Formatter):
  """`message` for info, `warning: message` / `error: message` above."""

  def format(self, record):
    message = record.getMessage()
    if record.exc_info:
      message += '\n' + self.formatException(record.exc_info)
    if record.levelno >= logging.ERROR:
      return f'error: {message}'
    return f'warning: {message}' if record.levelno >= logging.WARNING else message


def quiet_python_logging(flag_values):
  """Python logging at warning level in the plain format, unless --verbosity was given or
  HOURGLASS_VERBOSE is set. Call after the flags are parsed."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  if verbose() or flag_values['verbosity'].present:
    return
  absl_logging.set_verbosity(absl_logging.WARNING)
  absl_logging.get_absl_handler().setFormatter(_PlainFormatter())


@contextlib.contextmanager
def training_exits():
  """Ends the process as a user expects when training stops: `error: ...` for a non-finite
  loss, and the shell's status 128 + N for a run ended by signal N (after its message)."""
  from hourglass.training.trainer import NonFiniteLossError, TrainingInterrupted  # pylint: disable=g-import-not-at-top
  try:
    yield
  except NonFiniteLossError as e:
    sys.exit(f'error: {e}')
  except TrainingInterrupted as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)  # the shell's convention for "ended by signal N"
