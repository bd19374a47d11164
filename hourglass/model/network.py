"""The Stacked Hourglass network builder: training model (one output per stack) and inference
model (last stack only), for any number of stacks and any input H x W divisible by 32."""

import keras

from hourglass.model import blocks
from hourglass.model.config import ModelConfig


def build_training_model(config: ModelConfig, name='stacked_hourglass') -> keras.Model:
  """Builds the model used for training.

  Input: [B, H, W, 3] RGB pixels in [0, 255] (float or uint8 cast to the compute dtype),
  normalised inside as config.input_normalization says.
  Outputs: a list of num_stacks heatmap tensors, each [B, H/4, W/4, K] float32 (intermediate
  supervision); the last one is the prediction.
  """
  inputs = keras.Input((config.input_height, config.input_width, 3), name='image')
  x = blocks.normalize_pixels(inputs, config.input_normalization)
  x = blocks.front_module(x, config.channels, config.mobile, config.sync_bn)
  outputs = []
  for i in range(config.num_stacks):
    stack = f'hg{i}'
    features = blocks.hourglass_module(x, config.channels, stack, config.mobile, config.sync_bn)
    x, heatmaps = blocks.head(x, features, config.channels, config.num_keypoints, stack,
                              config.sync_bn, is_last=i == config.num_stacks - 1)
    outputs.append(heatmaps)
  return keras.Model(inputs, outputs, name=name)


def stack_outputs(outputs):
  """The training model's outputs as a list of num_stacks tensors.

  Keras returns a bare tensor (not a one-element list) for a 1-stack model; callers that loop
  over stacks (losses, intermediate supervision) go through this.
  """
  return list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]


def inference_model(training_model: keras.Model) -> keras.Model:
  """The same weights with only the last stack's heatmaps as output: [B, H/4, W/4, K] float32."""
  outputs = stack_outputs(training_model.outputs)
  return keras.Model(training_model.inputs, outputs[-1], name=f'{training_model.name}_inference')


def build_inference_model(config: ModelConfig) -> keras.Model:
  return inference_model(build_training_model(config))
