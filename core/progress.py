"""The one progress report of long work (make_records, training, predict): a line with done/total,
rate, ETA and a note, for people watching a terminal or reading a log.

    progress = Progress(total=5000, label='make_records', unit='examples')
    progress.update(1, note='3 skipped')   # redrawn in place on a terminal, a line per interval
    progress.close(note='3 skipped')        # elsewhere

It imports only the standard library.
"""

import sys
import time

BAR_LENGTH = 24


def format_duration(seconds):
  """'h:mm:ss' of a non-negative duration ('?' when unknown)."""
  if seconds is None or seconds != seconds or seconds == float('inf'):
    return '?'
  seconds = int(max(seconds, 0))
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
  """Counts work done and reports it with rate and ETA.

  Args:
    total: the work to do, or None when unknown (no bar, no ETA).
    label: what is running, first on the line.
    unit: what is counted ('examples', 'steps', 'frames').
    done: work already done before this run (e.g. a resumed training run); the rate counts only
      what this run does.
    every_s: seconds between two reports; None: 0.2 on a terminal, 10 elsewhere; 0: every update.
    write: a print-like function that takes each line (e.g. the trainer's log); None writes to
      stderr, redrawing one line in place on a terminal.
    enabled: False reports nothing.
  """

  def __init__(self, total, label, unit, done=0, every_s=None, write=None, enabled=True):
    self.total, self.label, self.unit, self.enabled = total, label, unit, enabled
    self.done = self._start_done = done
    self._write = write
    self._tty = write is None and sys.stderr.isatty()
    self.every_s = every_s if every_s is not None else (0.2 if self._tty else 10.0)
    self.start = self._last = time.time()

  @property
  def rate(self):
    """Units per second done by this run."""
    return (self.done - self._start_done) / max(time.time() - self.start, 1e-9)

  @property
  def eta_s(self):
    rate = self.rate
    if self.total is None or rate <= 0:
      return None
    return (self.total - self.done) / rate

  def line(self, note=''):
    """'label [####....] 130/500 steps, 4.2 steps/s, ETA 0:01:28, note'."""
    if self.total:
      filled = int(BAR_LENGTH * min(self.done / self.total, 1.0))
      head = f'{self.label} [{"#" * filled}{"." * (BAR_LENGTH - filled)}] {self.done}/{self.total}'
    else:
      head = f'{self.label} {self.done}'
    text = f'{head} {self.unit}, {self.rate:.1f} {self.unit}/s'
    if self.total:
      text += f', ETA {format_duration(self.eta_s)}'
    return text + (f', {note}' if note else '')

  def update(self, count=1, note=''):
    """Adds `count` units; reports when the interval has passed."""
    self.done += count
    now = time.time()
    if self.enabled and now - self._last >= self.every_s:
      self._last = now
      self._emit(self.line(note), final=False)

  def close(self, note=''):
    """The last report (always, when enabled)."""
    if self.enabled:
      self._emit(self.line(note), final=True)

  def _emit(self, text, final):
    if self._write is not None:
      self._write(text)
      return
    end = '\n' if final or not self._tty else '\r'
    sys.stderr.write(text + ('   ' if end == '\r' else '') + end)
    sys.stderr.flush()
