"""Model size: parameter counts and FLOPs as TensorFlow's profiler counts them.

FLOPs are counted on the frozen graph of the inference model at batch 1 with the profiler's own
per-op registry (the statistics `tf.compat.v1.profiler` float_operation() sums): 2 x MACs for
convolutions, plus bias adds, residual adds and pooling. BatchNorm is counted as deployed, folded
into the convolution before it (every exporter folds it, and the seed's tf.keras graph used a
fused BatchNorm op that has no registered FLOPs); the unfolded count is reported beside it.
"""

import numpy as np
import tensorflow as tf
import keras
from tensorflow.python.framework import convert_to_constants
from tensorflow.python.framework import ops
from tensorflow.python.profiler.internal import flops_registry  # noqa: F401 (registers FLOPs)

from hourglass.model import network


def count_params(weights):
  return int(sum(np.prod(w.shape) for w in weights))


def profiler_flops(model):
  """FLOPs of one forward pass at batch 1.

  Returns:
    (flops with BatchNorm folded, flops with BatchNorm as separate ops), both ints.
  """
  spec = tf.TensorSpec([1] + list(model.inputs[0].shape[1:]), tf.float32)
  concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
  graph = convert_to_constants.convert_variables_to_constants_v2(concrete).graph
  bn_scopes = tuple(f'/{layer.name}' for layer in model.layers
                    if isinstance(layer, keras.layers.BatchNormalization))
  folded = unfolded = 0
  for op in graph.get_operations():
    try:
      stats = ops.get_stats_for_node_def(graph, op.node_def, 'flops')
    except ValueError:  # no FLOPs registered for this op type (Const, Reshape, ...)
      continue
    flops = int(stats.value or 0)
    unfolded += flops
    if not any(f'{scope}/' in f'/{op.name}' or f'{scope}_' in f'/{op.name}' for scope in bn_scopes):
      folded += flops
  return folded, unfolded


def model_summary(config):
  """Sizes of the training and inference models for a ModelConfig.

  Returns:
    An ordered list of (name, int value) pairs.
  """
  training = network.build_training_model(config)
  inference = network.inference_model(training)
  flops, flops_unfolded_bn = profiler_flops(inference)
  return [
      ('training_total_params', training.count_params()),
      ('training_trainable_params', count_params(training.trainable_weights)),
      ('inference_total_params', inference.count_params()),
      ('inference_trainable_params', count_params(inference.trainable_weights)),
      ('inference_flops', flops),
      ('inference_flops_unfolded_bn', flops_unfolded_bn),
  ]


def format_summary(config, rows):
  """`name: value` lines, numbers with thousands separators, FLOPs also in G."""
  lines = [f'config: {config.num_stacks} stacks, {config.input_height}x{config.input_width}, '
           f'{"mobile" if config.mobile else "standard"}{" + tiny" if config.tiny else ""}, '
           f'K={config.num_keypoints}']
  for name, value in rows:
    suffix = f' ({value / 1e9:.2f}G)' if name.endswith('flops') else ''
    lines.append(f'{name}: {value:,}{suffix}')
  return '\n'.join(lines)
