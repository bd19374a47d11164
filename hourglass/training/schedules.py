"""Learning-rate schedules: none, cosine, exponential, polynomial, piecewise_constant, each with an
optional linear warmup.

Every schedule is a `keras.optimizers.schedules.LearningRateSchedule`, a pure function of the
optimizer's step (`optimizer.iterations`, which the checkpoint holds), so a resumed run continues
the schedule where it stopped instead of restarting it (a mistake of the seed). They serialise with
`keras.optimizers.schedules.serialize` / `deserialize`.

With D = total_steps - warmup_steps decay steps, lr = learning_rate, r = final_lr_ratio and
t = step - warmup_steps (the decay starts after the warmup):
  none                lr
  cosine              lr * (r + (1 - r) * 0.5 * (1 + cos(pi * min(t, D) / D)))
  exponential         lr * r ** (t / D)        (smooth; reaches lr * r at the end)
  polynomial          lr * r + (lr - lr * r) * (1 - min(t, D) / D)    (power 1)
  piecewise_constant  lr up to t = D // 2, lr * sqrt(r) up to t = 3 D // 4, then lr * r
                      (Keras PiecewiseConstantDecay: a boundary step keeps the earlier value)
Warmup (warmup_steps W > 0): for step < W the rate is decayed(0) * (step + 1) / W, rising
linearly to the first decayed value, so step 0 already trains.
"""

import math

import keras
import tensorflow as tf

from hourglass.training import DECAY_TYPES

_PACKAGE = 'hourglass'


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConstantSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """A constant learning rate as a schedule object (so warmup can wrap it)."""

  def __init__(self, learning_rate):
    self.learning_rate = float(learning_rate)

  def __call__(self, step):
    return tf.constant(self.learning_rate, tf.float32)

  def get_config(self):
    return {'learning_rate': self.learning_rate}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Linear warmup over `warmup_steps`, then `after` evaluated at (step - warmup_steps).

  Args:
    after: the LearningRateSchedule used once warmup ends.
    warmup_steps: W >= 1.
  """

  def __init__(self, after, warmup_steps):
    if isinstance(after, dict):  # from get_config
      after = keras.optimizers.schedules.deserialize(after)
    self.after = after
    self.warmup_steps = int(warmup_steps)

  def __call__(self, step):
    step = tf.cast(step, tf.float32)
    warmup = float(self.warmup_steps)
    start = tf.cast(self.after(0), tf.float32)
    ramp = start * (step + 1.0) / warmup
    decayed = tf.cast(self.after(tf.maximum(step - warmup, 0.0)), tf.float32)
    return tf.where(step < warmup, ramp, decayed)

  def get_config(self):
    return {'after': keras.optimizers.schedules.serialize(self.after),
            'warmup_steps': self.warmup_steps}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class SmoothExponentialSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """lr * final_ratio ** (min(step, decay_steps) / decay_steps): lr at 0, lr * ratio at the end."""

  def __init__(self, learning_rate, decay_steps, final_ratio):
    self.learning_rate = float(learning_rate)
    self.decay_steps = int(decay_steps)
    self.final_ratio = float(final_ratio)

  def __call__(self, step):
    fraction = tf.minimum(tf.cast(step, tf.float32), float(self.decay_steps)) / self.decay_steps
    return self.learning_rate * tf.pow(self.final_ratio, fraction)

  def get_config(self):
    return {'learning_rate': self.learning_rate, 'decay_steps': self.decay_steps,
            'final_ratio': self.final_ratio}


def build_schedule(decay_type, learning_rate, total_steps, warmup_steps=0, final_lr_ratio=0.01):
  """Builds the learning-rate schedule.

  Args:
    decay_type: one of DECAY_TYPES.
    learning_rate: the peak rate (after warmup).
    total_steps: training steps in the whole run (all epochs).
    warmup_steps: linear warmup steps (0: none).
    final_lr_ratio: the decayed rate at the end, as a fraction of learning_rate (r above).
  Returns:
    a LearningRateSchedule.
  Raises:
    ValueError: unknown decay_type or out-of-range numbers.
  """
  if decay_type not in DECAY_TYPES:
    raise ValueError(f'unknown decay_type {decay_type!r}; choose one of {", ".join(DECAY_TYPES)}')
  if not learning_rate > 0:
    raise ValueError(f'learning_rate must be > 0, got {learning_rate}')
  if not 0 < final_lr_ratio <= 1:
    raise ValueError(f'final_lr_ratio must be in (0, 1], got {final_lr_ratio}')
  warmup_steps = max(int(warmup_steps), 0)
  decay_steps = max(int(total_steps) - warmup_steps, 1)
  lr = float(learning_rate)
  schedules = keras.optimizers.schedules
  if decay_type == 'none':
    schedule = ConstantSchedule(lr)
  elif decay_type == 'cosine':
    schedule = schedules.CosineDecay(lr, decay_steps, alpha=final_lr_ratio)
  elif decay_type == 'exponential':
    schedule = SmoothExponentialSchedule(lr, decay_steps, final_lr_ratio)
  elif decay_type == 'polynomial':
    schedule = schedules.PolynomialDecay(lr, decay_steps, end_learning_rate=lr * final_lr_ratio,
                                         power=1.0)
  else:
    boundaries = [max(decay_steps // 2, 1), max(decay_steps * 3 // 4, 2)]
    values = [lr, lr * math.sqrt(final_lr_ratio), lr * final_lr_ratio]
    schedule = schedules.PiecewiseConstantDecay(boundaries, values)
  if warmup_steps > 0:
    schedule = WarmupSchedule(schedule, warmup_steps)
  return schedule
