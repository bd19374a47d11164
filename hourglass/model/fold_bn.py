"""Export-time batch-norm folding: the same function with its BN layers folded into the convs.

The seed's blocks put BN *after* the ReLU (conv -> ReLU -> BN), so converters cannot fold it into
the conv: every BN stays as a per-channel MUL and ADD. In a full-integer model that MUL's
multiplier is one per-tensor int8 constant, which crushes channels with small scales; the
QuantizationDebugger on the openfield model put the BN MULs far ahead of every other op in error
(up to 6 quantization steps RMS against <0.6 for convs). Folding here removes them. With
a = gamma / sqrt(var + eps) and c = beta - a * mean per channel, BN(y) = a * y + c:

- scale: a * relu(z) == relu(a * z) for a > 0, so the producing conv's output channels (kernel
  and bias) are multiplied by a; weights are quantized per channel, so nothing is crushed. After
  a linear conv any sign folds, and c goes into that conv's bias too: the BN is gone.
- shift after a ReLU conv: c goes into the bias of the consuming convs when every consumer is a
  stride-1 1x1 conv (exact: no zero padding for the shift to miss): the BN is gone. The same when
  the shift reaches only such convs through layers that carry a per-channel constant along
  (Add, MaxPool2D, UpSampling2D: f(x + c) = f(x) + c): the residual stream, where the residual
  blocks' last BN (before the skip Add) ends up in the next blocks' 1x1 convs (`carry_shifts`;
  not for MNN, whose int8 is symmetric: without the BN shifts the stream sits off zero and loses
  resolution, keypoints' mean distance to Keras 0.81 -> 0.93 px on the openfield model, while
  TFLite's asymmetric uint8 gains, 0.86 -> 0.79 px on the quickstart model). Otherwise
  (`shift`):
  'add': a ChannelBias layer (relu(a z) + c, one per-channel ADD) is left, for TFLite and ONNX;
  'conv': a ChannelBiasConv (the shift as a 1x1 depthwise conv), for MNN: its converter
    miscomputes ONNX Conv -> Relu -> Add(constant) (heatmaps off by ~1 on the openfield model; so
    does a BN left with unit scale, which tf2onnx turns into that Add), and the exact alternative
    max(a z + c, c) converts right but its int8 model is garbage (PCK 0). Against 'keep',
    mnn_uint8 runs 1.8-2.3x faster (quickstart model 26.8 -> 11.4 ms, openfield 157 -> 86 ms on
    one thread) with the same accuracy within noise;
  'keep': the BN is left unfolded.
A BN that cannot fold (another producer, a negative scale after ReLU) is left as it is.
"""

import keras
import numpy as np
from keras import layers

_CONVS = (layers.Conv2D, layers.SeparableConv2D)


class ChannelBias(layers.Layer):
  """x + bias over the last axis: [B, H, W, C] -> [B, H, W, C].

  Takes (and ignores) BatchNormalization's call arguments: the clone replays the BN's call.
  """

  def build(self, input_shape):
    self.bias = self.add_weight(name='bias', shape=(input_shape[-1],), initializer='zeros')

  def call(self, x, training=None, mask=None):  # pylint: disable=unused-argument
    return x + keras.ops.cast(self.bias, x.dtype)


class ChannelBiasConv(layers.DepthwiseConv2D):
  """x + bias as a 1x1 depthwise conv with a unit kernel: [B, H, W, C] -> [B, H, W, C].

  For MNN: its converter gets ONNX Conv -> Relu -> Add(constant) wrong but converts this conv
  right, and its int8 model then holds the shift in one conv's int32 bias, where a kept BN is two
  separately quantized binary ops (MUL, ADD), slow in MNN's int8. Takes BatchNormalization's call
  arguments.
  """

  def __init__(self, **kwargs):
    kwargs.setdefault('kernel_size', 1)
    super().__init__(**kwargs)

  def call(self, x, training=None, mask=None):  # pylint: disable=unused-argument
    return super().call(x)


class FoldedAway(layers.Layer):
  """The identity in place of a BN folded entirely into its neighbours (same call arguments)."""

  def call(self, x, training=None, mask=None):  # pylint: disable=unused-argument
    return x


def _producer(tensor):
  # KerasTensor._keras_history is how Keras itself walks a functional graph (operation, node,
  # output index); there is no public accessor.
  return tensor._keras_history[0]  # pylint: disable=protected-access


def _inputs(layer):
  x = layer.input
  return list(x) if isinstance(x, (list, tuple)) else [x]


def consumers_of(model):
  """{layer name: [layers that take its output]} (every layer here is called once)."""
  out = {layer.name: [] for layer in model.layers}
  for layer in model.layers:
    if isinstance(layer, layers.InputLayer):
      continue
    for tensor in _inputs(layer):
      out[_producer(tensor).name].append(layer)
  return out


def _activation(conv):
  return keras.activations.serialize(conv.activation)


def _bn_affine(bn):
  """(a, c) with bn(x) = a * x + c per channel, float64 [C] each."""
  mean = np.asarray(bn.moving_mean, np.float64)
  var = np.asarray(bn.moving_variance, np.float64)
  gamma = np.asarray(bn.gamma, np.float64) if bn.scale else np.ones_like(mean)
  beta = np.asarray(bn.beta, np.float64) if bn.center else np.zeros_like(mean)
  a = gamma / np.sqrt(var + bn.epsilon)
  return a, beta - a * mean


def _is_1x1(conv):
  return (isinstance(conv, _CONVS) and tuple(conv.kernel_size) == (1, 1)
          and tuple(conv.strides) == (1, 1) and conv.use_bias)


def _last_axis(bn):
  axis = bn.axis if isinstance(bn.axis, (list, tuple)) else [bn.axis]
  return list(axis) in ([-1], [len(bn.input.shape) - 1])


# Layers f with f(x + c) = f(x) + c for a per-channel constant c (Add: the sum of its inputs'
# constants). MaxPool2D's 'same' padding is -inf and UpSampling2D's weights sum to 1.
_CARRIES_SHIFT = (layers.Add, layers.MaxPool2D, layers.UpSampling2D)


def _topological(model, consumers):
  """The model's layers, every layer after the layers it reads."""
  pending = {layer.name: len(_inputs(layer)) for layer in model.layers
             if not isinstance(layer, layers.InputLayer)}
  ready = [layer for layer in model.layers if isinstance(layer, layers.InputLayer)]
  order = []
  while ready:
    layer = ready.pop()
    order.append(layer)
    for consumer in consumers[layer.name]:
      pending[consumer.name] -= 1
      if not pending[consumer.name]:
        ready.append(consumer)
  return order


def _shift_absorbers(bn, shift, order, outputs):
  """[(1x1 conv, shift of its input)] that take up `shift` added to bn's output, or None.

  Follows the shift through _CARRIES_SHIFT layers; None when it reaches any other layer, or a
  model output (read from outside the graph, it must keep its exact value).
  """
  offsets = {bn.name: shift}  # layer name -> constant its output carries
  absorbers = []
  for layer in order[order.index(bn) + 1:]:
    carried = [offsets[_producer(t).name] for t in _inputs(layer)
               if _producer(t).name in offsets]
    if not carried:
      continue
    if isinstance(layer, _CARRIES_SHIFT):
      offsets[layer.name] = sum(carried)
      if layer.name in outputs:
        return None
    elif _is_1x1(layer):
      absorbers.append((layer, carried[0]))
    else:
      return None
  return absorbers


def _conv_weights(conv):
  """{'kernel'|'depthwise'|'pointwise'|'bias': float64 array} of a conv layer."""
  if isinstance(conv, layers.SeparableConv2D):
    names = ('depthwise', 'pointwise', 'bias')
  else:
    names = ('kernel', 'bias')
  return dict(zip(names, (np.asarray(w, np.float64) for w in conv.get_weights())))


def _add_input_shift(weights, shift):
  """Bias of a 1x1 conv whose input gets + shift [C_in] (in place)."""
  if 'pointwise' in weights:
    # Depthwise output channel i * m + j is depthwise[0, 0, i, j] * input channel i.
    through_depthwise = (weights['depthwise'][0, 0] * shift[:, None]).reshape(-1)
    weights['bias'] += through_depthwise @ weights['pointwise'][0, 0]
  else:
    weights['bias'] += shift @ weights['kernel'][0, 0]


def _scale_outputs(weights, scale):
  """Output channels of a conv times scale [C_out] (in place)."""
  key = 'pointwise' if 'pointwise' in weights else 'kernel'
  weights[key] = weights[key] * scale
  weights['bias'] = weights['bias'] * scale


SHIFTS = ('add', 'conv', 'keep')


class _FoldPlan:
  """Step 1 of the fold: which BNs fold, and where each shift goes.

  Shifts into consumers use their original kernels: a consumer's own scale (when it feeds a
  folded BN too) applies on top, a * (W (y + c) + b).

  Attributes:
    weights: conv name -> its modified float64 weights.
    folds: [(producer conv, BN scale a)] of the BNs that fold.
    own_shift: [(producer conv, BN shift c)] that go into the producer's bias.
    replacement: BN name -> shift [C] of the ChannelBias(Conv) left in its place.
    removed: names of the BNs with nothing left in their place.
  """

  def __init__(self, model, shift, carry_shifts):
    self.shift, self.carry_shifts = shift, carry_shifts
    self.consumers = consumers_of(model)
    self.order = _topological(model, self.consumers)
    # A model output has a reader outside the graph: it must keep its exact value.
    self.outputs = {_producer(tensor).name for tensor in model.outputs}
    self.weights, self.replacement, self.removed = {}, {}, set()
    self.folds, self.own_shift = [], []

  def conv_weights(self, conv):
    if conv.name not in self.weights:
      self.weights[conv.name] = _conv_weights(conv)
    return self.weights[conv.name]

  def _foldable(self, bn, producer, a):
    return (_last_axis(bn) and isinstance(producer, _CONVS) and producer.use_bias
            and len(self.consumers[producer.name]) == 1 and producer.name not in self.outputs
            and (_activation(producer) == 'linear'
                 or (_activation(producer) == 'relu' and np.all(a > 0))))

  def place(self, bn):
    """Plans the fold of one BN (or leaves it, when it cannot fold)."""
    producer = _producer(bn.input)
    a, c = _bn_affine(bn)
    if not self._foldable(bn, producer, a):
      return
    consumers, outputs = self.consumers[bn.name], self.outputs
    if (_activation(producer) == 'relu' and bn.name not in outputs and consumers
        and all(_is_1x1(consumer) for consumer in consumers)):
      for consumer in consumers:
        _add_input_shift(self.conv_weights(consumer), c)
      self.removed.add(bn.name)
    elif _activation(producer) == 'linear':
      self.own_shift.append((producer, c))
      self.removed.add(bn.name)
    elif (self.carry_shifts and bn.name not in outputs
          and (absorbers := _shift_absorbers(bn, c, self.order, outputs)) is not None):
      for consumer, carried in absorbers:
        _add_input_shift(self.conv_weights(consumer), carried)
      self.removed.add(bn.name)
    elif self.shift in ('add', 'conv'):
      self.replacement[bn.name] = c
    else:  # 'keep': this BN stays as it is
      return
    self.folds.append((producer, a))


def _rebuild(model, plan, shift):
  """A clone of `model` with the plan's weights and the folded BNs replaced."""
  def clone_layer(layer):
    if layer.name in plan.removed:
      return FoldedAway(name=layer.name, dtype=layer.dtype_policy.name)
    if layer.name in plan.replacement and shift == 'conv':
      return ChannelBiasConv(name=layer.name, dtype=layer.dtype_policy.name)
    if layer.name in plan.replacement:
      return ChannelBias(name=layer.name, dtype=layer.dtype_policy.name)
    return layer.__class__.from_config(layer.get_config())

  folded = keras.models.clone_model(model, clone_function=clone_layer)
  originals = {layer.name: layer for layer in model.layers}
  for layer in folded.layers:
    if layer.name in plan.weights:
      layer.set_weights([w.astype(np.float32) for w in plan.weights[layer.name].values()])
    elif layer.name in plan.replacement and shift == 'conv':
      bias = plan.replacement[layer.name].astype(np.float32)
      layer.set_weights([np.ones((1, 1, len(bias), 1), np.float32), bias])
    elif layer.name in plan.replacement:
      layer.set_weights([plan.replacement[layer.name].astype(np.float32)])
    elif layer.weights:
      layer.set_weights(originals[layer.name].get_weights())
  return folded


def fold_batch_norm(model: keras.Model, shift: str = 'add', carry_shifts: bool = True):
  """Returns (folded model, summary dict). The folded model computes the same function.

  Args:
    model: a functional Keras model whose layers are each called once (ours are).
    shift: what to do with a shift that cannot go into a conv: 'add' (leave a ChannelBias),
      'conv' (leave a ChannelBiasConv) or 'keep' (leave that BN unfolded); see the module
      docstring.
    carry_shifts: carry shifts along Add/MaxPool2D/UpSampling2D into later 1x1 convs.
  Returns:
    (keras.Model with the same inputs, outputs and layer names, folded BNs replaced;
     {'batch_norm': BNs in the model, 'folded': BNs whose scale went into the producing conv,
      'removed': folded BNs with nothing left in their place, 'left_as_channel_op': folded BNs
      replaced by a ChannelBias or ChannelBiasConv, 'kept': BNs left as they were}).
  """
  if shift not in SHIFTS:
    raise ValueError(f'shift={shift!r}: expected one of {SHIFTS}')
  bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
  if not bns:  # nothing to do (BNs inside a nested model are not looked for)
    return model, {'batch_norm': 0, 'folded': 0, 'removed': 0, 'left_as_channel_op': 0,
                   'kept': 0}
  plan = _FoldPlan(model, shift, carry_shifts)
  for bn in bns:
    plan.place(bn)
  # 2. Scales into producers; 3. shifts into the producers' biases, after their scale.
  for producer, a in plan.folds:
    _scale_outputs(plan.conv_weights(producer), a)
  for producer, c in plan.own_shift:
    plan.conv_weights(producer)['bias'] += c
  folded = _rebuild(model, plan, shift)
  folds, removed, replacement = plan.folds, plan.removed, plan.replacement
  summary = {'batch_norm': len(bns), 'folded': len(folds), 'removed': len(removed),
             'left_as_channel_op': len(replacement), 'kept': len(bns) - len(folds)}
  return folded, summary
