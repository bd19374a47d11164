"""How a training run stops early: on too many non-finite losses, or on SIGTERM/SIGINT.

A signal (preemption, Ctrl-C) only sets a flag that the trainer checks between loops, so the
checkpoint it then saves holds a whole step; a second signal stops at once.
"""

import contextlib
import signal
import threading


class NonFiniteLossError(RuntimeError):
  """Too many non-finite losses in a row: training stopped (the last checkpoint is intact)."""


class TrainingInterrupted(Exception):
  """SIGTERM/SIGINT arrived: training saved a checkpoint at `step` and stopped.

  Attributes: signum, step, checkpoint (its path, or None when none could be saved).
  """

  def __init__(self, signum, step, checkpoint):
    name = signal.Signals(signum).name
    super().__init__(f'training stopped by {name} at step {step}; checkpoint '
                     f'{checkpoint or "(none: losses were non-finite)"} saved; run the same '
                     f'command again to resume')
    self.signum, self.step, self.checkpoint = signum, step, checkpoint


@contextlib.contextmanager
def stop_signals(on_signal):
  """While inside, SIGTERM/SIGINT call `on_signal(signum)` once; a second one raises
  KeyboardInterrupt. Outside the main thread (where handlers cannot be set) nothing changes."""
  if threading.current_thread() is not threading.main_thread():
    yield
    return
  seen = []

  def handler(signum, frame):
    del frame
    if seen:
      raise KeyboardInterrupt
    seen.append(signum)
    on_signal(signum)

  previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
  try:
    yield
  finally:
    for s, h in previous.items():
      signal.signal(s, h)
