"""The seed's layers: a copy of a model with our training-speed layers as the Keras layers they
extend, for benchmarks that compare against the seed project (which trains Keras'
SeparableConv2D and BatchNormalization)."""

import keras

from hourglass.model.fuse_separable import SeparableConv1x1
from hourglass.model.fused_batch_norm import FusedBatchNorm

# Our layer -> the Keras layer it extends (same variables and config).
KERAS_BASES = {SeparableConv1x1: keras.layers.SeparableConv2D,
               FusedBatchNorm: keras.layers.BatchNormalization}


def with_keras_layers(model: keras.Model, swap=tuple(KERAS_BASES)):
  """A copy of model, same weights, whose layers of the `swap` classes are their Keras bases.

  Args:
    model: a functional Keras model (layers inside nested models are not looked at).
    swap: which of KERAS_BASES' classes to replace (default: all, the seed's model).
  """
  def clone_layer(layer):
    cls = KERAS_BASES[type(layer)] if type(layer) in swap else layer.__class__
    return cls.from_config(layer.get_config())

  plain = keras.models.clone_model(model, clone_function=clone_layer)
  plain.set_weights(model.get_weights())
  return plain
