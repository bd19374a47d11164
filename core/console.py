"""Reading file descriptors 1 and 2 (C++ output included) through a line filter, and the filters:
TensorFlow's native log lines by level (the entry points, modes/console.py, at start-up) and the
runtimes' and converters' per-run notices (quiet_native_output, around TFLite conversion and the
TFLite and MNN runtimes' first use).
"""

import contextlib
import os
import re
import sys
import threading

# A native absl line: severity letter, MMDD and time (0000 00:00:<epoch seconds> before
# InitializeLog), thread, file:line].
_NATIVE_LINE = re.compile(r'^([IWE])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ')
_SEVERITY = {'I': 0, 'W': 1, 'E': 2}
_PRE_INIT_NOTICE = 'WARNING: All log messages before absl::InitializeLog() is called'
_CPU_NOTICE_CONTINUATION = 'To enable the following instructions:'
_NO_DRIVER = 'Could not find cuda drivers'
_CUINIT = 'failed call to cuInit'


# Whether every line is shown (nothing filtered): set once by the entry points (modes/console.py,
# from HOURGLASS_VERBOSE), read by quiet_native_output wherever the library runs a runtime.
_show_everything = False


def set_verbose(on):
  """Shows every line from now on (on) or filters as usual; the entry points call it first."""
  global _show_everything  # pylint: disable=global-statement
  _show_everything = bool(on)


def verbose():
  """Whether every line is shown (set_verbose)."""
  return _show_everything


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


# Lines the runtimes and converters print on every run, saying nothing to a user: the TFLite
# runtime's delegate notice (first inference), MNN's CPU report (every session), TensorFlow's
# converter on our uint8 files and on a Cast attribute its graphs carry (an error-level line
# that ends "Unknown attributes will be ignored").
_HARMLESS_STARTS = ('INFO: Created TensorFlow Lite XNNPACK delegate', 'The device supports: ',
                    'MNN use high precision', 'fully_quantize: ')
_HARMLESS_PARTS = ('NodeDef mentions attribute Truncate which is not in the op definition',)


class HarmlessLineFilter:
  """Drops the runtimes' and converters' notices above; keeps every other line."""

  def keep(self, line):
    return not (line.startswith(_HARMLESS_STARTS) or any(p in line for p in _HARMLESS_PARTS))


@contextlib.contextmanager
def quiet_native_output():
  """While the block runs, drops HarmlessLineFilter's lines from file descriptors 1 and 2
  (C++ writes them there directly); nothing is filtered when verbose()."""
  if verbose():
    yield
    return
  line_filter = HarmlessLineFilter()
  with filtered_output(1, line_filter), filtered_output(2, line_filter):
    yield


def filtered_stderr(line_filter):
  """filtered_output of file descriptor 2."""
  return filtered_output(2, line_filter)


@contextlib.contextmanager
def filtered_output(fd, line_filter):
  """Reads everything written to file descriptor `fd` (1 or 2; C++ included) through
  `line_filter.keep` while the block runs; kept lines go to the real descriptor, whole, in
  order."""
  stream = sys.stdout if fd == 1 else sys.stderr
  stream.flush()
  saved = os.dup(fd)
  read_end, write_end = os.pipe()
  os.dup2(write_end, fd)
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
    stream.flush()
    os.dup2(saved, fd)  # closes the pipe's last write end: the reader sees the end and stops
    thread.join(timeout=10)
    os.close(saved)
