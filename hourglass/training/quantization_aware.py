"""Quantization-aware fine-tuning: the int8 exporters' rounding, simulated in the forward pass.

An int8 export (`mnn_uint8`, `tflite_uint8`) rounds every weight and every intermediate tensor to
8 bits; on small crops that moves keypoints by tenths of a pixel (docs/benchmarks.md, "Export
reports").
`--quantization_aware` fine-tunes a trained model through a copy of its graph that rounds the same
way, so the weights learn to survive it; the float model is what is saved and exported, and the
exporters quantize it as before.

The simulation follows MNN's int8 scheme, the coarser of the two exporters: symmetric per-tensor
int8 features in [-127, 127] (TFLite's asymmetric uint8 is finer), symmetric per-output-channel
int8 weights (MNN's MAX_ABS), and the model as the export writes it (hourglass/export/: each
BN's scale folded into the conv before it, 1x1 separable convs as one plain conv). Quantized:
  - the input normalisation's output;
  - each conv's output after its ReLU, as the folded conv computes it: a * relu(z) for the BN scale
    a that follows (per tensor on the folded output = per channel with step / a on relu(z));
  - the depthwise output of each separable conv the export does not fuse (the 3x3 ones: it runs
    them as two ops);
  - each BN's output and each Add's output (harsher than MNN where the export moves a BN's shift
    into the next conv's bias: measured, the simulation loses more PCK than the MNN file).
The heatmap prediction convs stay float, as `--mnn_float_layers` keeps them in the export.

The clipping bounds (one per tensor, the 99.99th percentile of |x| on calibration images: a
stand-in for MNN's ADMM calibration, which picks its own at export) are set once before the first
step and kept in the checkpoint, so a resumed run continues with the same ones. Gradients pass the
rounding straight through.
"""

import fnmatch

from keras import layers
import numpy as np
import tensorflow as tf

from core.errors import UserInputError
from hourglass.model import fold_bn, fuse_separable, PREDICTION_LAYER_PATTERNS

INT8_MAX = 127.0
BOUND_PERCENTILE = 99.99
_CONVS = (layers.Conv2D, layers.SeparableConv2D)
_QUANTIZED_OUTPUTS = (layers.BatchNormalization, layers.Add, layers.Rescaling)


def _round_ste(x):
  """round(x) forward, identity backward (the straight-through estimator)."""
  return x + tf.stop_gradient(tf.round(x) - x)


def fake_quant(x, step):
  """Symmetric int8 rounding: clip(round(x / step), -127, 127) * step.

  Args:
    x: float32 tensor.
    step: scalar, or a tensor broadcast against x (one step per channel).
  """
  return tf.clip_by_value(_round_ste(x / step), -INT8_MAX, INT8_MAX) * step


def fake_quant_kernel(kernel, channel_axis):
  """Per-channel symmetric int8 weights (step = max |w| of the channel / 127)."""
  axes = [i for i in range(len(kernel.shape)) if i != channel_axis]
  step = tf.maximum(tf.reduce_max(tf.abs(kernel), axis=axes, keepdims=True), 1e-12) / INT8_MAX
  return fake_quant(kernel, step)


def _bn_scale(bn):
  """The BN's per-channel multiplier a = gamma / sqrt(moving_variance + eps), [C] float32."""
  gamma = bn.gamma if bn.scale else tf.ones_like(bn.moving_variance)
  return tf.cast(gamma, tf.float32) / tf.sqrt(tf.cast(bn.moving_variance, tf.float32) + bn.epsilon)


class _Bounds:
  """Holds the bounds variable out of Keras' sight (a layer attribute would be tracked)."""

  def __init__(self, variable):
    self.variable = variable


class FakeQuant(layers.Layer):
  """Rounds its input to int8 with bound `bounds[index]` (bound 0: passes it unrounded).

  With `bn` set, the rounded quantity is x * a (the BN's scale, as the folded export computes it):
  the output is fake_quant(x * a) / a.
  """

  def __init__(self, bounds, index, bn=None, **kwargs):
    super().__init__(**kwargs)
    self._bounds, self.index, self._bn = bounds, index, (bn,)

  def quantity(self, x):
    """The tensor whose range is calibrated: x, or x * a. float32."""
    x = tf.cast(x, tf.float32)
    return x * _bn_scale(self._bn[0]) if self._bn[0] is not None else x

  def call(self, x):
    bound = self._bounds.variable[self.index]
    q = self.quantity(x)
    rounded = fake_quant(q, tf.maximum(bound, 1e-12) / INT8_MAX)
    if self._bn[0] is not None:
      rounded = rounded / _bn_scale(self._bn[0])
    return tf.cast(tf.where(bound > 0, rounded, tf.cast(x, tf.float32)), x.dtype)


class QuantizedConv(layers.Layer):
  """A Conv2D or SeparableConv2D ('same' padding) run with int8-rounded weights.

  part: 'all' (the whole conv), 'depthwise' (a separable conv's depthwise half, no bias) or
  'pointwise' (its pointwise half, bias and activation). A separable conv the export fuses
  (fuse_separable.is_fusable: 1x1) runs whole as one plain conv, as the export writes it.
  """

  def __init__(self, conv, part='all', **kwargs):
    super().__init__(dtype=conv.dtype_policy.name, **kwargs)
    if conv.padding != 'same' or tuple(conv.dilation_rate) != (1, 1):
      raise UserInputError(f'--quantization_aware: layer {conv.name} has padding '
                           f'{conv.padding!r} / dilation {conv.dilation_rate}; only "same" '
                           'padding without dilation is simulated')
    self._conv, self.part = (conv,), part

  def call(self, x):
    conv = self._conv[0]
    strides = (1,) + tuple(conv.strides) + (1,)
    cast = lambda k: tf.cast(k, x.dtype)
    if isinstance(conv, layers.SeparableConv2D):
      depthwise = tf.cast(conv.depthwise_kernel, tf.float32)
      pointwise = tf.cast(conv.pointwise_kernel, tf.float32)
      if self.part == 'depthwise':
        return tf.nn.depthwise_conv2d(x, cast(fake_quant_kernel(depthwise, 2)), strides, 'SAME')
      if self.part == 'pointwise':
        y = tf.nn.conv2d(x, cast(fake_quant_kernel(pointwise, 3)), 1, 'SAME')
      else:  # fused, as the export writes it: [1, 1, C, C_out]
        kernel = fuse_separable.fused_kernel_tensor(depthwise, pointwise)
        y = tf.nn.conv2d(x, cast(fake_quant_kernel(kernel, 3)), strides, 'SAME')
    else:
      kernel = tf.cast(conv.kernel, tf.float32)
      y = tf.nn.conv2d(x, cast(fake_quant_kernel(kernel, 3)), strides, 'SAME')
    if conv.use_bias:
      y = y + cast(conv.bias)
    return conv.activation(y)


class FakeQuantModel:
  """A copy of a functional model's graph with int8 rounding; shares every variable with it.

  Attributes:
    model: keras.Model, same inputs and outputs as the original.
    bounds: tf.Variable float32 [points], the clipping bounds (0 until `calibrate`).
    points: the FakeQuant layers, in graph order.
  """

  def __init__(self, model, float_layers=PREDICTION_LAYER_PATTERNS):
    rounded = {layer.name: _rounded_tensors(layer, float_layers) for layer in model.layers}
    self.bounds = tf.Variable(tf.zeros([sum(rounded.values())]), trainable=False,
                              name='fake_quant_bounds')
    holder = _Bounds(self.bounds)
    self.points = []

    def point(tensor, name, bn=None):
      layer = FakeQuant(holder, len(self.points), bn, name=f'{name}_fake_quant')
      self.points.append(layer)
      return layer(tensor)

    consumers = fold_bn.consumers_of(model)
    new = {id(t): t for t in model.inputs}
    for layer in model.layers:
      if isinstance(layer, layers.InputLayer):
        continue
      inputs = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
      args = [new[id(t)] for t in inputs]
      arg = args if isinstance(layer.input, (list, tuple)) else args[0]
      if isinstance(layer, _CONVS) and rounded[layer.name]:
        if rounded[layer.name] == 2:  # the export's two ops: depthwise, then pointwise
          depthwise = QuantizedConv(layer, 'depthwise', name=f'{layer.name}_q_depthwise')(arg)
          depthwise = point(depthwise, f'{layer.name}_depthwise')
          y = QuantizedConv(layer, 'pointwise', name=f'{layer.name}_q')(depthwise)
        else:
          y = QuantizedConv(layer, name=f'{layer.name}_q')(arg)
        after = consumers[layer.name]
        bn = (after[0] if len(after) == 1 and isinstance(after[0], layers.BatchNormalization)
              else None)
        y = point(y, layer.name, bn)
      else:
        y = layer(arg)
        if rounded[layer.name]:
          y = point(y, layer.name)
      new[id(layer.output)] = y
    outputs = [new[id(t)] for t in model.outputs]
    import keras  # pylint: disable=g-import-not-at-top
    self.model = keras.Model(model.inputs, outputs if len(outputs) > 1 else outputs[0],
                             name=f'{model.name}_fake_quant')
    # The tensors each point rounds, before rounding: calibration reads them with bounds at 0.
    self._probe = keras.Model(model.inputs, [p.input for p in self.points])

  def calibrate(self, images, batch_size=16):
    """Sets every bound to the 99.99th percentile of |x| over the images, all points float.

    Args:
      images: float32 or uint8 [N, H, W, 3] RGB 0..255.
    Returns:
      float32 [points] bounds.
    """
    self.bounds.assign(tf.zeros_like(self.bounds))
    values = [[] for _ in self.points]
    for start in range(0, len(images), batch_size):
      batch = tf.cast(images[start:start + batch_size], tf.float32)
      tensors = self._probe(batch, training=False)
      for i, (layer, tensor) in enumerate(zip(self.points, tensors)):
        values[i].append(np.abs(layer.quantity(tensor).numpy()).ravel())
    bounds = np.array([np.percentile(np.concatenate(v), BOUND_PERCENTILE) for v in values],
                      np.float32)
    self.bounds.assign(np.maximum(bounds, 1e-6))
    return bounds


def _rounded_tensors(layer, float_layers):
  """How many of this layer's tensors the export rounds: 2 for a separable conv it runs as two
  ops (depthwise output, then output), 1 for other convs and for BN, Add and the normalisation,
  0 for layers kept float (float_layers) and everything else."""
  if isinstance(layer, _CONVS):
    if any(fnmatch.fnmatch(layer.name, p) for p in float_layers):
      return 0
    two_ops = (isinstance(layer, layers.SeparableConv2D)
               and not fuse_separable.is_fusable(layer))
    return 2 if two_ops else 1
  return 1 if isinstance(layer, _QUANTIZED_OUTPUTS) else 0


def check_can_fine_tune(model_dir, latest_checkpoint, weights_path):
  """Refuses a quantization-aware run that has nothing to fine-tune (no --weights_path and no
  checkpoint) or that would resume a float run's checkpoint (one without fake_quant_bounds).

  Raises:
    UserInputError: naming the flag to change.
  """
  if latest_checkpoint and not any(name.startswith('fake_quant_bounds/')
                                   for name, _ in tf.train.list_variables(latest_checkpoint)):
    raise UserInputError(f'--quantization_aware: {model_dir} holds a run trained without it; '
                         f'fine-tune into a new --model_dir with --weights_path={model_dir}')
  if not weights_path and not latest_checkpoint:
    raise UserInputError('--quantization_aware fine-tunes a trained model: give --weights_path '
                         '(its model directory or bundle), or resume a quantization-aware run '
                         'in --model_dir')
