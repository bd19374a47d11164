"""Export-time fusion of 1x1 separable convs: the same function with one conv per separable 1x1."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hourglass.model import fold_bn, fuse_separable, seed_layers
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_inference_model


def _randomize(model, rng):
  """Random weights everywhere (a fresh model's BNs are identities and its head near zero)."""
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      c = layer.gamma.shape[0]
      layer.set_weights([rng.uniform(0.2, 3.0, c), rng.normal(0, 0.5, c), rng.normal(0, 0.5, c),
                         rng.uniform(0.3, 2.0, c)])
    elif layer.weights:
      layer.set_weights([rng.normal(0, 0.3, w.shape).astype(np.float32)
                         for w in layer.get_weights()])


@pytest.mark.parametrize('multiplier', [1, 3])
def test_fused_kernel_is_the_separable_conv(multiplier):
  rng = np.random.RandomState(0)
  inputs = keras.Input((5, 6, 4))
  separable = keras.layers.SeparableConv2D(7, 1, depth_multiplier=multiplier, activation='relu',
                                           name='sep')
  model = keras.Model(inputs, separable(inputs))
  _randomize(model, rng)
  fused, count = fuse_separable.fuse_separable_1x1(model)
  assert count == 1
  conv = fused.get_layer('sep')
  assert type(conv) is keras.layers.Conv2D  # pylint: disable=unidiomatic-typecheck
  assert conv.get_weights()[0].shape == (1, 1, 4, 7)
  x = rng.normal(0, 1, (2, 5, 6, 4)).astype(np.float32)
  expected = model(x).numpy()
  assert (expected > 0).mean() > 0.2  # the ReLU passes a good share
  np.testing.assert_allclose(fused(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_3x3_strided_and_plain_convs_are_left_alone():
  inputs = keras.Input((8, 8, 3))
  x = keras.layers.SeparableConv2D(4, 3, padding='same', name='sep3x3')(inputs)
  x = keras.layers.SeparableConv2D(4, 1, strides=2, name='sep_strided')(x)
  x = keras.layers.Conv2D(4, 1, name='plain')(x)
  model = keras.Model(inputs, x)
  fused, count = fuse_separable.fuse_separable_1x1(model)
  assert count == 0 and fused is model


@pytest.mark.parametrize('fold', [None, 'add', 'conv'])
def test_hourglass_fuses_every_1x1_separable_conv(fold):
  config = ModelConfig(num_stacks=2, mobile=True, tiny=True, input_height=64, input_width=64,
                       num_keypoints=3)
  keras.utils.set_random_seed(0)
  model = build_inference_model(config)
  rng = np.random.RandomState(1)
  _randomize(model, rng)
  source = fold_bn.fold_batch_norm(model, shift=fold)[0] if fold else model
  fused, count = fuse_separable.fuse_separable_1x1(source)
  separable_1x1 = [l.name for l in model.layers if fuse_separable.is_fusable(l)]
  assert count == len(separable_1x1) > 0
  assert not [l for l in fused.layers if fuse_separable.is_fusable(l)]
  assert [l.name for l in fused.layers] == [l.name for l in model.layers]
  images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  expected = model(images, training=False).numpy()
  got = fused(images, training=False).numpy()
  scale = np.abs(expected).max()
  assert scale > 0.05
  np.testing.assert_allclose(got, expected, atol=2e-5 * scale)


def _plain_and_1x1(multiplier, rng):
  """The same weights in a Keras SeparableConv2D and a SeparableConv1x1: [2, 5, 6, 4] -> 7."""
  inputs = keras.Input((5, 6, 4))
  kwargs = dict(depth_multiplier=multiplier, activation='relu', padding='same')
  plain = keras.layers.SeparableConv2D(7, 1, name='plain', **kwargs)
  plain_model = keras.Model(inputs, plain(inputs))
  _randomize(plain_model, rng)
  one = fuse_separable.SeparableConv1x1(7, 1, name='one', **kwargs)
  keras.Model(inputs, one(inputs))
  one.set_weights(plain.get_weights())
  return plain, one


@pytest.mark.parametrize('multiplier', [1, 3])
def test_separable_1x1_trains_as_one_conv_with_the_separable_gradients(multiplier):
  rng = np.random.RandomState(0)
  plain, one = _plain_and_1x1(multiplier, rng)
  x = tf.constant(rng.normal(0, 1, (2, 5, 6, 4)).astype(np.float32))

  def value_and_grads(layer, training):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x, training=training)
      loss = tf.reduce_sum(y * tf.range(1.0, 8.0))
    return y, tape.gradient(loss, [x] + layer.trainable_variables)

  expected_y, expected_grads = value_and_grads(plain, True)
  assert (expected_y.numpy() > 0).mean() > 0.2
  for training in (True, False):
    y, grads = value_and_grads(one, training)
    np.testing.assert_allclose(y.numpy(), expected_y.numpy(), rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, expected_grads):  # input, depthwise, pointwise, bias
      np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)

  def op_types(training):
    fn = tf.function(lambda t: one(t, training=training))
    return {op.type for op in fn.get_concrete_function(x).graph.get_operations()}
  assert 'DepthwiseConv2dNative' not in op_types(True)  # training: one conv
  assert 'DepthwiseConv2dNative' in op_types(False)  # inference: SeparableConv2D's two ops


def test_separable_1x1_refuses_what_it_cannot_fuse():
  with pytest.raises(ValueError, match='needs a 1x1 kernel'):
    fuse_separable.SeparableConv1x1(4, 3)
  with pytest.raises(ValueError, match='stride 1'):
    fuse_separable.SeparableConv1x1(4, 1, strides=2)


def test_mobile_model_trains_its_1x1_convs_as_one_and_saves_them(tmp_path):
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=64, input_width=64,
                       num_keypoints=3)
  keras.utils.set_random_seed(0)
  model = build_inference_model(config)
  one = [l.name for l in model.layers if isinstance(l, fuse_separable.SeparableConv1x1)]
  assert one and one == [l.name for l in model.layers if fuse_separable.is_fusable(l)]
  _randomize(model, np.random.RandomState(1))
  path = str(tmp_path / 'model.keras')
  model.save(path)
  loaded = keras.models.load_model(path, compile=False, safe_mode=True)
  assert type(loaded.get_layer(one[0])) is fuse_separable.SeparableConv1x1  # pylint: disable=unidiomatic-typecheck
  images = np.random.RandomState(2).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  np.testing.assert_allclose(loaded(images, training=False).numpy(),
                             model(images, training=False).numpy(), rtol=1e-5, atol=1e-5)
  plain = seed_layers.with_keras_layers(model)  # the seed's layers, for benchmarks
  assert not any(type(l) in seed_layers.KERAS_BASES for l in plain.layers)
  assert any(type(l) is keras.layers.BatchNormalization for l in plain.layers)  # pylint: disable=unidiomatic-typecheck
  np.testing.assert_allclose(plain(images, training=False).numpy(),
                             model(images, training=False).numpy(), rtol=1e-6, atol=1e-6)
  # In training each separable conv rounds differently (1e-5 above), and BatchNorm on the
  # statistics of two images amplifies it through the network (FusedBatchNorm kept on both sides;
  # tests/model/test_fused_batch_norm.py compares it with Keras').
  two_ops = seed_layers.with_keras_layers(model, swap=(fuse_separable.SeparableConv1x1,))
  np.testing.assert_allclose(two_ops(images, training=True).numpy(),
                             model(images, training=True).numpy(), rtol=2e-3, atol=2e-3)
