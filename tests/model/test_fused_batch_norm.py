"""FusedBatchNorm (hourglass/model/fused_batch_norm.py) against Keras' BatchNormalization: the same
outputs, gradients and moving statistics in training, the same inference, the fused op in the
training graph only, and Keras' own path where the fused op does not apply."""

import keras
import numpy as np
import tensorflow as tf

from hourglass.model.fused_batch_norm import FusedBatchNorm


def _pair(channels=8):
  rng = np.random.RandomState(0)
  weights = [rng.uniform(0.5, 1.5, channels), rng.normal(size=channels),
             rng.normal(size=channels), rng.uniform(0.5, 2.0, channels)]
  layers = []
  for cls in (keras.layers.BatchNormalization, FusedBatchNorm):
    layer = cls(momentum=0.9)
    layer.build((None, 16, 16, channels))
    layer.set_weights([w.astype(np.float32) for w in weights])
    layers.append(layer)
  return layers


def _step(layer, x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x, training=True)
    # per-element weights: with one weight per channel the gamma and input gradients are 0
    loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.random.stateless_normal(y.shape, seed=(3, 4)))
  return y, tape.gradient(loss, [x, layer.gamma, layer.beta])


def test_fused_training_matches_keras_outputs_gradients_and_moving_statistics():
  x = tf.random.stateless_normal((4, 16, 16, 8), seed=(1, 2)) * 3.0 + 1.0
  plain, fused = _pair()
  for _ in range(2):  # two steps: the moving statistics move twice
    want_y, want_grads = _step(plain, x)
    got_y, got_grads = _step(fused, x)
    np.testing.assert_allclose(got_y.numpy(), want_y.numpy(), atol=1e-5)
    for got, want in zip(got_grads, want_grads):  # input, gamma, beta
      assert np.abs(want.numpy()).max() > 1.0
      np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=2e-3)
  for got, want in zip(fused.get_weights(), plain.get_weights()):
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
  assert not np.allclose(plain.get_weights()[3], _pair()[0].get_weights()[3])  # they moved
  np.testing.assert_allclose(fused(x, training=False).numpy(), plain(x, training=False).numpy(),
                             atol=1e-5)


def test_only_training_runs_the_fused_op():
  _, fused = _pair()
  x = tf.zeros((2, 16, 16, 8))

  def op_types(training):
    fn = tf.function(lambda t: fused(t, training=training))
    return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}
  assert 'FusedBatchNormV3' in op_types(True)
  assert 'FusedBatchNormV3' not in op_types(False)
  frozen = FusedBatchNorm()
  frozen.build(x.shape)
  frozen.trainable = False  # Keras: a frozen BN normalises with its moving statistics
  fn = tf.function(lambda t: frozen(t, training=True))
  assert 'FusedBatchNormV3' not in {
      op.type for op in fn.get_concrete_function(x).graph.get_operations()}


def test_bfloat16_inputs_enter_the_fused_op_uncast_and_match_keras():
  x = tf.cast(tf.random.stateless_normal((4, 16, 16, 8), seed=(5, 6)) * 3.0 + 1.0, tf.bfloat16)
  plain, fused = (cls(momentum=0.9, dtype='mixed_bfloat16')
                  for cls in (keras.layers.BatchNormalization, FusedBatchNorm))
  for layer in (plain, fused):
    layer.build(x.shape)
  want_y, want_grads = _step(plain, x)
  got_y, got_grads = _step(fused, x)
  assert got_y.dtype == tf.bfloat16
  # both normalise in float32 and round once to bfloat16's 8 bits; allow one rounding step
  as_float = lambda t: tf.cast(t, tf.float32).numpy()
  np.testing.assert_allclose(as_float(got_y), as_float(want_y), rtol=2 ** -8, atol=2 ** -8)
  for got, want in zip(got_grads, want_grads):  # input (bfloat16), gamma, beta (float32)
    assert np.abs(as_float(want)).max() > 1.0
    np.testing.assert_allclose(as_float(got), as_float(want), rtol=2 ** -8, atol=2e-3)
  for got, want in zip(fused.get_weights(), plain.get_weights()):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  graph = tf.function(lambda t: fused(t, training=True)).get_concrete_function(x).graph
  fused_ops = [op for op in graph.get_operations() if op.type == 'FusedBatchNormV3']
  assert [op.get_attr('T') for op in fused_ops] == [tf.bfloat16]
