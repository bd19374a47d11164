"""Where a model's training step goes: the same Adam step (MSE on every stack's heatmaps)
with parts of the model taken out, alternating in one process on one random batch, and one
BatchNormalization layer's forward + backward as Keras computes it against TensorFlow's fused op.

- as built: the model as training builds it;
- no BN: every BatchNormalization layer an identity (what BN costs the step);
- 3x3 depthwise as 1x1: every 3x3 separable conv's depthwise kernel 1x1 (what the spatial
  depthwise convolutions cost; mobile models only);
- BN input cast to float32 (bfloat16 only): every FusedBatchNorm casts its input to float32
  first, as Keras does (what passing bfloat16 to the fused op uncast saves);
- BN layer: Keras' BatchNormalization(training=True) (moments, then normalise, unfused) against
  tf.compat.v1.nn.fused_batch_norm (FusedBatchNormV3) on a float32 [batch, size/2, size/2, 64]
  tensor.

    python benchmarks/step_breakdown.py [--precision=float32|bfloat16] [--size=256] [--batch=8]
        [--stacks=2] [--tiny | --standard] [--repeats=5]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def variant_clone_functions():
  """{variant name: keras.models.clone_model clone_function} of the models taken apart."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from hourglass.model.fused_batch_norm import FusedBatchNorm
  # pylint: enable=g-import-not-at-top

  class Identity(keras.layers.Layer):
    """Stands in for a BN layer (clone_model passes it BN's call arguments)."""

    def call(self, inputs, training=None, mask=None):  # pylint: disable=unused-argument
      return inputs

  class CastFirstBatchNorm(FusedBatchNorm):
    """FusedBatchNorm with Keras' 16-bit rule: the input cast to float32 before the fused op."""

    def call(self, inputs, training=None, mask=None):
      return super().call(tf.cast(inputs, tf.float32), training=training, mask=mask)

  def copy(layer):
    return layer.__class__.from_config(layer.get_config())

  def without_bn(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
      return Identity(name=layer.name)
    return copy(layer)

  def depthwise_1x1(layer):
    if isinstance(layer, keras.layers.SeparableConv2D) and tuple(layer.kernel_size) != (1, 1):
      config = dict(layer.get_config(), kernel_size=(1, 1))
      return keras.layers.SeparableConv2D.from_config(config)
    return copy(layer)

  def cast_first_bn(layer):
    if isinstance(layer, FusedBatchNorm):
      return CastFirstBatchNorm.from_config(layer.get_config())
    return copy(layer)
  return {'no BN': without_bn, '3x3 depthwise as 1x1': depthwise_1x1,
          'BN input cast to float32': cast_first_bn}


def bn_layer_fns(batch, size):
  """Keras BN and the fused op, forward + backward, on the same float32
  [batch, size/2, size/2, 64]."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf
  # pylint: enable=g-import-not-at-top
  x = tf.random.normal((batch, size // 2, size // 2, 64))
  bn = keras.layers.BatchNormalization(momentum=0.9, dtype='float32')
  bn.build(x.shape)

  @tf.function
  def keras_bn():
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(bn(x, training=True) ** 2)
    return tape.gradient(loss, [x, bn.gamma, bn.beta])

  @tf.function
  def fused_bn():
    with tf.GradientTape() as tape:
      tape.watch(x)
      y, _, _ = tf.compat.v1.nn.fused_batch_norm(x, bn.gamma, bn.beta, epsilon=bn.epsilon,
                                                 is_training=True)
      loss = tf.reduce_sum(y ** 2)
    return tape.gradient(loss, [x, bn.gamma, bn.beta])
  return {'Keras BN': keras_bn, 'FusedBatchNormV3': fused_bn}


def parser():
  result = harness.add_step_args(harness.new_parser(__doc__))
  result.add_argument('--precision', default='float32', choices=['float32', 'bfloat16'])
  result.add_argument('--standard', action='store_true', help='the standard model, not mobile')
  return result


def step_seconds(args):
  """{variant: median seconds of one training step} of the model as built and taken apart."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from hourglass.model.config import ModelConfig
  from hourglass.model.network import build_training_model
  from hourglass.training import precision
  # pylint: enable=g-import-not-at-top
  precision.set_precision_policy(args.precision)
  config = ModelConfig(num_stacks=args.stacks, mobile=not args.standard, tiny=args.tiny,
                       input_height=args.size, input_width=args.size, num_keypoints=4)
  built = build_training_model(config)
  variants = variant_clone_functions()
  clone = lambda name: keras.models.clone_model(built, clone_function=variants[name])
  models = {'as built': built, 'no BN': clone('no BN')}
  if not args.standard:
    models['3x3 depthwise as 1x1'] = clone('3x3 depthwise as 1x1')
  if args.precision == 'bfloat16':
    models['BN input cast to float32'] = clone('BN input cast to float32')
  images = tf.random.uniform((args.batch, args.size, args.size, 3), 0, 255)
  targets = tf.random.uniform((args.batch, args.size // 4, args.size // 4, 4))
  return harness.median_seconds({name: harness.adam_step(model, images, targets)
                                 for name, model in models.items()}, args.repeats)


def main(argv=None):
  args = harness.start(parser(), argv)
  seconds = step_seconds(args)
  name = ('standard' if args.standard else 'mobile') + (' tiny' if args.tiny else '')
  print(f'{name}, {args.size}x{args.size}, {args.stacks} '
        f'stacks, batch {args.batch}, {args.precision}:')
  for name, value in seconds.items():
    print(f'  {name}: {value * 1000:.0f} ms a step ({100 * value / seconds["as built"]:.0f}% of '
          'as built)')
  layer = harness.median_seconds(bn_layer_fns(args.batch, args.size), args.repeats)
  keras_ms, fused_ms = layer['Keras BN'] * 1000, layer['FusedBatchNormV3'] * 1000
  print(f'  one BN layer, forward + backward on [{args.batch}, {args.size // 2}, '
        f'{args.size // 2}, 64] float32: Keras {keras_ms:.1f} ms, FusedBatchNormV3 '
        f'{fused_ms:.1f} ms ({keras_ms / fused_ms:.2f}x)')


if __name__ == '__main__':
  main()
