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
and absl's --verbosity=0 (Python info lines, absl's format).
"""

import contextlib
import logging
import os
import re
import sys
import threading

VERBOSE_ENV = 'HOURGLASS_VERBOSE'
LOG_LEVEL_ENV = 'TF_CPP_MIN_LOG_LEVEL'
DEFAULT_LOG_LEVEL = '2'

# A native absl line: severity letter, MMDD and time (0000 00:00:<epoch seconds> before
# InitializeLog), thread, file:line].
_NATIVE_LINE = re.compile(r'^([IWE])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ')
_SEVERITY = {'I': 0, 'W': 1, 'E': 2}
_PRE_INIT_NOTICE = 'WARNING: All log messages before absl::InitializeLog() is called'
_CPU_NOTICE_CONTINUATION = 'To enable the following instructions:'
_NO_DRIVER = 'Could not find cuda drivers'
_CUINIT = 'failed call to cuInit'


def verbose():
  return os.environ.get(VERBOSE_ENV, '') not in ('', '0')


class NativeLineFilter:
  """Decides, line by line, what of TensorFlow's native start-up output to drop.

  Args:
    min_level: 0 keeps everything, 1 drops info lines, 2 info and warnings, 3 errors too.
  """

  def __init__(self, min_level):
    self.min_level = int(min_level)
    self.no_driver = False

  def keep(self, line):
    if self.min_level <= 0:
      return True
    if _NO_DRIVER in line:
      self.no_driver = True
    if line.startswith((_PRE_INIT_NOTICE, _CPU_NOTICE_CONTINUATION)):
      return False
    match = _NATIVE_LINE.match(line)
    if not match:
      return True
    if self.no_driver and _CUINIT in line:  # no driver: the failed cuInit says nothing more
      return False
    return _SEVERITY[match.group(1)] >= self.min_level


@contextlib.contextmanager
def filtered_stderr(line_filter):
  """Reads everything written to file descriptor 2 (C++ included) through `line_filter.keep`
  while the block runs; kept lines go to the real stderr, whole, in order."""
  sys.stderr.flush()
  saved = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def forward():
    with os.fdopen(read_end, 'r', errors='replace') as lines:
      for line in lines:
        if line_filter.keep(line):
          os.write(saved, line.encode('utf-8', 'replace'))

  thread = threading.Thread(target=forward, daemon=True)
  thread.start()
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)  # closes the pipe's last write end: the reader sees the end and stops
    thread.join(timeout=10)
    os.close(saved)


def load_tensorflow():
  """Imports TensorFlow and initialises its devices with the start-up lines filtered (see the
  module docstring). Call before anything imports TensorFlow. Returns the tensorflow module."""
  if verbose():
    os.environ.setdefault(LOG_LEVEL_ENV, '0')
  os.environ.setdefault(LOG_LEVEL_ENV, DEFAULT_LOG_LEVEL)
  level = os.environ[LOG_LEVEL_ENV]
  line_filter = NativeLineFilter(int(level) if level.isdigit() else 0)
  with filtered_stderr(line_filter):
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
