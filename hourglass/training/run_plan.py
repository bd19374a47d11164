"""The length of a training run in steps, its events, and the one dataset that feeds it.

A run is `TrainConfig.total_steps` steps long (--train_steps, else --total_epoch epochs of
`steps_per_epoch` steps); epochs are a derived view (epoch = step // steps_per_epoch), used for
the data order only: epoch e's batches are `train_dataset_fn(e)`, so a resumed run finds its
batches again. Validation (with the best-model choice and a checkpoint) runs every
`validation_interval` steps and at the end, a checkpoint also every checkpoint_steps.

The trainer reads one dataset per CHAIN_STEPS steps: the epochs it covers are concatenated and
prefetched, so an epoch's set-up (~0.5 s for openfield, measured) overlaps the steps before it
instead of stalling the loop at every epoch end as one iterator per epoch did.
"""

import math
import time

import keras
import tensorflow as tf

# At least this many steps come from one chained dataset (and its one iterator).
CHAIN_STEPS = 240
# The validation interval when --validation_steps is 0: every epoch, but at least this many steps
# apart (small sets have epochs of a few steps: validating each one cost as much as training).
MIN_AUTO_VALIDATION_STEPS = 100


def validation_interval(config):
  """Steps between validations: config.validation_steps, or (0) max(epoch, 100 steps)."""
  if config.validation_steps:
    return int(config.validation_steps)
  return max(int(config.steps_per_epoch), MIN_AUTO_VALIDATION_STEPS)


def validation_due(config, step):
  """Whether the validation (and its checkpoint) runs after `step` steps."""
  return step % validation_interval(config) == 0 or step >= config.total_steps


def budget_spent(config, started):
  """The stop reason once --train_minutes have passed since `started` (time.time()), else None."""
  minutes = config.train_minutes
  if minutes and time.time() - started >= 60.0 * minutes:
    return f'--train_minutes={minutes:g} reached'
  return None


def patience_spent(config, stale_validations):
  """The stop reason once `early_stopping_patience` validations in a row found no better model,
  else None."""
  patience = config.early_stopping_patience
  if patience and stale_validations >= patience:
    return (f'{patience} validations in a row without a lower val mean error '
            '(--early_stopping_patience)')
  return None


def loop_length(config, step, chain_end):
  """Steps of the next loop from `step`: it ends on a checkpoint, a validation, the chain's end
  and the run's end."""
  to_checkpoint = config.checkpoint_steps - step % config.checkpoint_steps
  interval = validation_interval(config)
  to_validation = interval - step % interval
  return max(min(config.steps_per_loop, to_checkpoint, to_validation, chain_end - step,
                 config.total_steps - step), 1)


def chain_span(config, step):
  """(first epoch, number of epochs, end step) of the chained dataset that starts at `step`."""
  spe = int(config.steps_per_epoch)
  first = step // spe
  last = math.ceil(config.total_steps / spe)  # exclusive
  count = max(min(last - first, math.ceil(CHAIN_STEPS / spe)), 1)
  return first, count, min((first + count) * spe, config.total_steps)


def chained_dataset(train_dataset_fn, steps_per_epoch, first_epoch, epochs, done, input_context):
  """Epochs first_epoch .. first_epoch + epochs - 1 of per-replica batches as one dataset.

  Args:
    train_dataset_fn: (epoch, InputContext) -> one epoch of per-replica batches.
    steps_per_epoch: global steps per epoch; each epoch gives exactly that many (taken from a
      repeat where a worker's shard is short, so several workers never run dry or drift).
    done: steps of first_epoch already trained (skipped).
    input_context: tf.distribute.InputContext of this input pipeline.
  """
  per_step = max(input_context.num_replicas_in_sync // input_context.num_input_pipelines, 1)
  chained = None
  for epoch in range(first_epoch, first_epoch + epochs):
    dataset = train_dataset_fn(epoch, input_context)
    if input_context.num_input_pipelines > 1:
      dataset = dataset.repeat()
    dataset = dataset.take(steps_per_epoch * per_step)
    if epoch == first_epoch and done:
      dataset = dataset.skip(done * per_step)
    chained = dataset if chained is None else chained.concatenate(dataset)
  return chained.prefetch(2)


def batch_norm_layers(model):
  flattened = model._flatten_layers(include_self=False)  # pylint: disable=protected-access
  return [layer for layer in flattened if isinstance(layer, keras.layers.BatchNormalization)]


def recompute_batch_norm(model, batches):
  """Sets every BatchNormalization's moving mean and variance to the average of its batch
  statistics over `batches` (training-mode passes of the current weights).

  Why: the moving averages (momentum 0.9) lag weights that change fast at the peak learning rate,
  so early validations judged the weights with statistics of weights several steps old. Measured
  on openfield (docs/benchmarks.md, "Openfield training"; batch 8, Adam 2e-3, 12 warmup steps),
  the same weights at step 30: val loss 0.032 and mean error 76 px with the moving averages,
  0.0096 and 33 px with statistics from 8 training batches; at step 60, 67 against 14 px.
  Validation and the saved bundles use the recomputed statistics; training itself uses batch
  statistics, so the trajectory is unchanged.

  Args:
    model: the training model (its BN layers are updated in place; no weight changes).
    batches: an iterable of uint8 or float image batches [B, H, W, 3].
  Returns:
    the number of batches used.
  """
  layers = batch_norm_layers(model)
  saved = [layer.momentum for layer in layers]
  used = 0
  try:
    for images in batches:
      for layer in layers:  # a running average: the first batch replaces the old statistics
        layer.momentum = used / (used + 1.0)
      model(tf.cast(images, tf.float32), training=True)
      used += 1
  finally:
    for layer, momentum in zip(layers, saved):
      layer.momentum = momentum
  return used
