"""Optimizers by name (adam, rmsprop, sgd with momentum, adamw), and the loss-scale wrapper.

Every optimizer is wrapped in `keras.optimizers.LossScaleOptimizer`. Under float16 it is the
usual dynamic loss scaling (from 2**15). Otherwise its scale starts at 1 and grows only after a
very long run of finite steps: multiplying by a power of two is exact in floating point, so the
updates are bit-identical to the bare optimizer's, and the wrapper's one remaining job is the one
we want everywhere: a step whose gradients are not finite is skipped without touching any weight
or slot (the scale halves; `optimizer.iterations` does not advance).
"""

import keras

from hourglass.training import FLOAT16_INITIAL_SCALE, OPTIMIZERS

# Growth steps of the float32/bfloat16 wrapper: large, so its scale stays at 1 in practice.
NO_SCALING_GROWTH_STEPS = 1 << 30


def build_optimizer(name, learning_rate, momentum=0.9, weight_decay=1e-4):
  """A Keras optimizer.

  Args:
    name: one of OPTIMIZERS.
    learning_rate: a float or a LearningRateSchedule.
    momentum: SGD momentum (RMSprop keeps Keras's default of none).
    weight_decay: decoupled weight decay, adamw only.
  Raises:
    ValueError: unknown name.
  """
  if name == 'adam':
    return keras.optimizers.Adam(learning_rate)
  if name == 'rmsprop':
    return keras.optimizers.RMSprop(learning_rate)
  if name == 'sgd':
    return keras.optimizers.SGD(learning_rate, momentum=momentum)
  if name == 'adamw':
    return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay)
  raise ValueError(f'unknown optimizer {name!r}; choose one of {", ".join(OPTIMIZERS)}')


def wrap_loss_scale(optimizer, float16, growth_steps=2000, initial_scale=FLOAT16_INITIAL_SCALE):
  """Wraps `optimizer` in a LossScaleOptimizer (see the module docstring).

  Args:
    float16: True for dynamic loss scaling (float16 compute).
    growth_steps: finite steps after which the float16 scale doubles.
    initial_scale: the float16 starting scale.
  """
  if float16:
    return keras.optimizers.LossScaleOptimizer(
        optimizer, initial_scale=float(initial_scale), dynamic_growth_steps=int(growth_steps))
  return keras.optimizers.LossScaleOptimizer(optimizer, initial_scale=1.0,
                                             dynamic_growth_steps=NO_SCALING_GROWTH_STEPS)
