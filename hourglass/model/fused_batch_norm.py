"""BatchNormalization that trains through TensorFlow's fused op.

Keras 3 computes BatchNormalization in training unfused: the batch moments, then the
normalisation, each with its own gradient ops, over the whole feature map. On the 2-core CPU that
is half of a mobile tiny training step (benchmarks/step_breakdown.py, docs/benchmarks.md), and
one layer's forward and backward runs 2.3x faster as FusedBatchNormV3. FusedBatchNorm keeps Keras'
variables, config, moving-statistics rule and inference path; only a training call on a
channels-last 4-D input (not synchronized, no mask, no renorm) goes through the fused op.
A bfloat16 input enters the fused op as it is: the op normalises in float32 inside and rounds
once, so the output equals the cast-first one bit for bit, and the two casts per layer are saved.
"""

import keras
from keras import layers
import tensorflow as tf

# FusedBatchNormV3 raises epsilon below this to it (tf.compat.v1.nn.fused_batch_norm).
_FUSED_MIN_EPSILON = 1.001e-5

# Input dtypes the fused op takes as they are; others are cast to float32 first. Of the 16-bit
# dtypes only bfloat16: on the CPU its kernel is faster than cast + float32 kernel, float16's is
# not (and its GPU gain cannot be measured here).
_FUSED_NATIVE_DTYPES = (tf.float32, tf.bfloat16)


@keras.saving.register_keras_serializable(package='hourglass')
class FusedBatchNorm(layers.BatchNormalization):
  """keras.layers.BatchNormalization whose training step is one fused op.

  Inputs [B, H, W, C] -> outputs [B, H, W, C] in the layer's compute dtype. As Keras does, a
  16-bit input is normalised in float32 (the statistics and the variables stay float32); a
  bfloat16 one inside the fused op, a float16 one after a cast. The
  moving statistics follow Keras' rule with the biased batch variance (the fused op gives the
  unbiased one, which is rescaled by (n - 1) / n, n = B * H * W).
  """

  def _fusable(self, inputs, training, mask):
    return (training and self.trainable and mask is None and not self.synchronized
            and not self.renorm and self.center and self.scale and len(inputs.shape) == 4
            and self.axis in (3, -1) and self.epsilon >= _FUSED_MIN_EPSILON)

  def call(self, inputs, training=None, mask=None):
    if not self._fusable(inputs, training, mask):
      return super().call(inputs, training=training, mask=mask)
    x = inputs if inputs.dtype in _FUSED_NATIVE_DTYPES else tf.cast(inputs, tf.float32)
    outputs, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
        x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32),
        epsilon=self.epsilon, data_format='NHWC', is_training=True)
    shape = tf.shape(x)
    count = tf.cast(shape[0] * shape[1] * shape[2], tf.float32)
    variance = unbiased_variance * (count - 1.0) / tf.maximum(count, 1.0)
    self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
    self.moving_variance.assign(self.moving_variance * self.momentum
                                + variance * (1.0 - self.momentum))
    return tf.cast(outputs, self.compute_dtype)
