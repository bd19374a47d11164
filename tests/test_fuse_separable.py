"""Export-time fusion of 1x1 separable convs: the same function with one conv per separable 1x1."""

import keras
import numpy as np
import pytest

from hourglass.model.config import ModelConfig
from hourglass.model import fold_bn
from hourglass.model import fuse_separable
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
