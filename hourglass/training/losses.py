"""Heatmap losses with their textbook definitions, per example, for distributed training.

Every loss maps (predicted heatmaps, target heatmaps, target weights) of one stack to one value
per example; `per_example_loss` sums them over the stacks (intermediate supervision) and the
trainer averages over the GLOBAL batch with `tf.nn.compute_average_loss`, so the gradient is the
same whatever the number of replicas.

Definitions (d = prediction - target, element-wise; means over the h x w x K elements):
  mse           mean(d^2)
  mae           mean(|d|)
  weighted_mse  mean_k(w_k * mean_hw(d^2))          (the seed's "weighted_mse" was an RMSE)
  smooth_l1     mean(0.5 d^2 if |d| < 1 else |d| - 0.5)               (Fast R-CNN, beta = 1)
  huber         mean(0.5 d^2 if |d| <= delta else delta (|d| - 0.5 delta))  (delta = huber_delta)
smooth_l1 and huber coincide only at delta = 1; the default delta 0.1 is scaled to heatmaps whose
values lie in [0, 1] (the seed had made the two identical).
Target weights only enter weighted_mse; the other losses treat every element alike.
"""

import tensorflow as tf

from hourglass.training import LOSS_TYPES, DEFAULT_HUBER_DELTA


def _huber_elements(diff, delta):
  """Huber of each element: 0.5 d^2 inside [-delta, delta], linear with slope delta outside."""
  abs_diff = tf.abs(diff)
  quadratic = tf.minimum(abs_diff, delta)
  linear = abs_diff - quadratic
  return 0.5 * tf.square(quadratic) + delta * linear


def _smooth_l1_elements(diff):
  """Smooth L1 with beta 1: 0.5 d^2 for |d| < 1, |d| - 0.5 beyond (PyTorch smooth_l1_loss)."""
  abs_diff = tf.abs(diff)
  return tf.where(abs_diff < 1.0, 0.5 * tf.square(diff), abs_diff - 0.5)


def stack_loss(loss_type, predictions, targets, weights, huber_delta=DEFAULT_HUBER_DELTA):
  """The loss of one stack, per example.

  Args:
    loss_type: one of LOSS_TYPES.
    predictions: [B, h, w, K] predicted heatmaps (any float dtype; computed in float32).
    targets: [B, h, w, K] float32 target heatmaps.
    weights: [B, K] float32 target weights (0 for unlabelled or outside the input).
    huber_delta: the huber threshold.
  Returns:
    [B] float32 losses.
  """
  predictions = tf.cast(predictions, tf.float32)
  targets = tf.cast(targets, tf.float32)
  diff = predictions - targets
  if loss_type == 'mse':
    return tf.reduce_mean(tf.square(diff), axis=[1, 2, 3])
  if loss_type == 'mae':
    return tf.reduce_mean(tf.abs(diff), axis=[1, 2, 3])
  if loss_type == 'weighted_mse':
    per_keypoint = tf.reduce_mean(tf.square(diff), axis=[1, 2])  # [B, K]
    return tf.reduce_mean(per_keypoint * tf.cast(weights, tf.float32), axis=-1)
  if loss_type == 'smooth_l1':
    return tf.reduce_mean(_smooth_l1_elements(diff), axis=[1, 2, 3])
  if loss_type == 'huber':
    return tf.reduce_mean(_huber_elements(diff, float(huber_delta)), axis=[1, 2, 3])
  raise ValueError(f'unknown loss_type {loss_type!r}; choose one of {", ".join(LOSS_TYPES)}')


def per_example_loss(loss_type, stack_predictions, targets, weights,
                     huber_delta=DEFAULT_HUBER_DELTA):
  """Sum over stacks of each stack's per-example loss (intermediate supervision).

  Args:
    stack_predictions: a list of S tensors [B, h, w, K] (one per stack), or one tensor.
    targets, weights: as in `stack_loss`.
  Returns:
    (total [B] float32, per_stack list of S [B] float32).
  """
  if not isinstance(stack_predictions, (list, tuple)):
    stack_predictions = [stack_predictions]
  per_stack = [stack_loss(loss_type, p, targets, weights, huber_delta)
               for p in stack_predictions]
  return tf.add_n(per_stack), per_stack


def global_average(per_example, global_batch_size):
  """Sum of `per_example` [B] divided by the global batch: this replica's share of the mean."""
  return tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)


def validate_loss_type(loss_type, huber_delta=DEFAULT_HUBER_DELTA):
  """Raises ValueError for an unknown loss or a non-positive huber delta."""
  if loss_type not in LOSS_TYPES:
    raise ValueError(f'unknown loss_type {loss_type!r}; choose one of {", ".join(LOSS_TYPES)}')
  if loss_type == 'huber' and not huber_delta > 0:
    raise ValueError(f'huber_delta must be > 0, got {huber_delta}')
