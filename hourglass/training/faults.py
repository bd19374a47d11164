"""Test hooks of the training loop: injected faults for the reliability and precision tests.

A production run has none: the trainer consults a Faults object only when one is set, and a
step graph without `nonfinite_steps` holds no extra op. An active hook always says so in the log,
so a stray environment variable never stops or kills a user's run silently.

    HOURGLASS_TEST_KILL_AT=after_step:12     SIGKILL right after step 12 trained (a preemption)
    HOURGLASS_TEST_KILL_AT=before_latest:8   SIGKILL after checkpoint 8's files are written and
                                             before the state file names it the latest
"""

import dataclasses
import os
import signal
from typing import Optional, Tuple

import tensorflow as tf

from core.errors import UserInputError

KILL_AT_ENV = 'HOURGLASS_TEST_KILL_AT'


@dataclasses.dataclass
class Faults:
  """The faults to inject into one training run.

  Attributes:
    nonfinite_steps: global steps (0-based) whose loss is multiplied by NaN.
    stop_at_step: train() returns once this step is reached, without writing a checkpoint (an
      interruption; the next train() resumes from the last checkpoint).
    kill_after_step: SIGKILL right after this step has trained, before any checkpoint of it.
    kill_before_latest: SIGKILL after the files of this step's checkpoint are written and before
      the checkpoint state names it the latest.
  """
  nonfinite_steps: Tuple[int, ...] = ()
  stop_at_step: Optional[int] = None
  kill_after_step: Optional[int] = None
  kill_before_latest: Optional[int] = None

  def describe(self):
    """'name=value, ...' of the hooks that are set ('' when none)."""
    return ', '.join(f'{f.name}={getattr(self, f.name)}' for f in dataclasses.fields(self)
                     if getattr(self, f.name) not in (None, ()))

  def loop_length(self, step, steps):
    """How many of `steps` the next loop from `step` may run so that a hook's step ends it."""
    if self.stop_at_step is not None:
      steps = max(min(steps, self.stop_at_step - step), 1)
    if self.kill_after_step is not None and self.kill_after_step > step:
      steps = min(steps, self.kill_after_step - step)
    return steps

  def stopped(self, step):
    return self.stop_at_step is not None and step >= self.stop_at_step

  def after_loop(self, step):
    if self.kill_after_step is not None and step >= self.kill_after_step:
      os.kill(os.getpid(), signal.SIGKILL)

  def kills_before_latest(self, step):
    return self.kill_before_latest is not None and int(step) == self.kill_before_latest

  def poison(self, loss, step):
    """In the step's graph: `loss` times NaN at the chosen steps (every gradient NaN)."""
    hit = tf.reduce_any(tf.equal(tf.constant(list(self.nonfinite_steps), tf.int64), step))
    return loss * tf.where(hit, tf.constant(float('nan')), 1.0)


def from_environment(environ=None):
  """The Faults that HOURGLASS_TEST_KILL_AT asks for, or None when it is not set.

  Raises:
    UserInputError: for a value that is not after_step:N or before_latest:N.
  """
  environ = os.environ if environ is None else environ
  value = environ.get(KILL_AT_ENV)
  if not value:
    return None
  kind, _, step = value.partition(':')
  fields = {'after_step': 'kill_after_step', 'before_latest': 'kill_before_latest'}
  if kind not in fields or not step.isdigit():
    raise UserInputError(f'{KILL_AT_ENV}={value!r}: expected after_step:N or before_latest:N')
  return Faults(**{fields[kind]: int(step)})


def warning(faults):
  """The log line of an active hook, or None."""
  hooks = faults.describe() if faults else ''
  if not hooks:
    return None
  return (f'warning: TEST HOOK active ({hooks}): this run will be stopped or damaged on '
          f'purpose; unset {KILL_AT_ENV} unless a test set it')
