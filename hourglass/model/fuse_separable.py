"""Export-time fusion of 1x1 separable convs into plain 1x1 convs: the same function, one op less.

A SeparableConv2D with a 1x1 depthwise kernel is a per-channel scale followed by a pointwise
conv, and every converter writes it as two ops (a depthwise conv, then a conv). In a quantized
model each op rounds its output to 8 bits, so the scale costs one extra rounding of the whole
feature map; in float it costs a pass over the tensor. With depth multiplier m, the depthwise
output channel c * m + j is depthwise[0, 0, c, j] * input channel c, so

    pointwise(depthwise(x)) = conv(x) with kernel[0, 0, c, o] = sum_j depthwise[0, 0, c, j]
                                                                  * pointwise[0, 0, c * m + j, o]

exactly (the bias and activation are the pointwise conv's). The seed's residual blocks use 1x1
separable convs for their bottleneck convs (35 of the 52 separable convs in the quickstart model).

Training uses the same identity (SeparableConv1x1): the mobile models build their 1x1 separable
convs as that layer, which keeps SeparableConv2D's variables (so parameter counts and checkpoints
are the seed's) and in training computes the fused kernel from them, so the step runs one conv
instead of a per-channel scale over the whole feature map and its gradient.
"""

import keras
from keras import layers, ops
import numpy as np


def is_fusable(layer):
  """True for a SeparableConv2D whose depthwise part is a 1x1, stride-1, undilated scale."""
  return (isinstance(layer, layers.SeparableConv2D) and tuple(layer.kernel_size) == (1, 1)
          and tuple(layer.strides) == (1, 1) and tuple(layer.dilation_rate) == (1, 1)
          and layer.data_format == 'channels_last')


def fused_kernel(depthwise, pointwise):
  """The 1x1 conv kernel of a fusable separable conv.

  Args:
    depthwise: [1, 1, C, m] depthwise kernel.
    pointwise: [1, 1, C * m, C_out] pointwise kernel.
  Returns:
    [1, 1, C, C_out] float64 kernel.
  """
  depthwise = np.asarray(depthwise, np.float64)
  pointwise = np.asarray(pointwise, np.float64)
  channels, multiplier = depthwise.shape[2:]
  per_input = pointwise[0, 0].reshape(channels, multiplier, -1)  # [C, m, C_out]
  return np.einsum('cm,cmo->co', depthwise[0, 0], per_input)[None, None]


def fused_kernel_tensor(depthwise, pointwise):
  """fused_kernel in tensor ops, differentiable in both kernels.

  Args:
    depthwise: [1, 1, C, m] depthwise kernel.
    pointwise: [1, 1, C * m, C_out] pointwise kernel.
  Returns:
    [1, 1, C, C_out] kernel in the inputs' dtype.
  """
  channels, multiplier = depthwise.shape[2], depthwise.shape[3]
  per_input = ops.reshape(pointwise[0, 0], (channels, multiplier, -1))  # [C, m, C_out]
  return ops.einsum('cm,cmo->co', depthwise[0, 0], per_input)[None, None]


@keras.saving.register_keras_serializable(package='hourglass')
class SeparableConv1x1(layers.SeparableConv2D):
  """A fusable (1x1, stride-1) SeparableConv2D that trains as one conv.

  Its variables, config and inference graph are SeparableConv2D's: with training=False it runs
  the two ops, so the FLOP count, the exporters (which fuse it themselves, or keep two ops with
  --nofuse_separable) and saved bundles see a SeparableConv2D. With training=True it convolves
  once with fused_kernel_tensor(depthwise, pointwise): the same function up to float rounding,
  and the gradients reach both kernels through the product. Measured in docs/benchmarks.md
  ("1x1 separable convs").

  Inputs [B, H, W, C] -> outputs [B, H, W, filters] (channels_last only).
  """

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    if not is_fusable(self):
      raise ValueError(f'SeparableConv1x1 {self.name}: needs a 1x1 kernel, stride 1, no '
                       f'dilation, channels_last; got kernel {self.kernel_size}, strides '
                       f'{self.strides}, dilation {self.dilation_rate}, {self.data_format}')

  def call(self, inputs, training=None):
    if not training:
      return super().call(inputs)
    kernel = fused_kernel_tensor(self.depthwise_kernel, self.pointwise_kernel)
    outputs = ops.conv(inputs, kernel, strides=1, padding=self.padding,
                       data_format=self.data_format)
    if self.use_bias:
      outputs = ops.add(outputs, self.bias)
    if self.activation is not None:
      return self.activation(outputs)
    return outputs


def _conv_config(separable):
  config = separable.get_config()
  keep = ('name', 'filters', 'kernel_size', 'strides', 'padding', 'data_format', 'dilation_rate',
          'activation', 'use_bias', 'dtype', 'trainable')
  return {key: config[key] for key in keep if key in config}


def fuse_separable_1x1(model: keras.Model):
  """Returns (model with every fusable separable conv as a Conv2D of the same name, count).

  Args:
    model: a functional Keras model (layers inside nested models are not looked at).
  """
  fusable = {layer.name for layer in model.layers if is_fusable(layer)}
  if not fusable:
    return model, 0

  def clone_layer(layer):
    if layer.name in fusable:
      return layers.Conv2D(**_conv_config(layer))
    return layer.__class__.from_config(layer.get_config())

  fused = keras.models.clone_model(model, clone_function=clone_layer)
  originals = {layer.name: layer for layer in model.layers}
  for layer in fused.layers:
    if layer.name in fusable:
      weights = originals[layer.name].get_weights()  # depthwise, pointwise[, bias]
      kernel = fused_kernel(weights[0], weights[1]).astype(np.float32)
      layer.set_weights([kernel] + weights[2:])
    elif layer.weights:
      layer.set_weights(originals[layer.name].get_weights())
  return fused, len(fusable)
