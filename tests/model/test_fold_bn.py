"""Export-time BN folding: the folded network computes the same heatmaps with no BN left.

The models get random BN statistics and affine weights (a fresh model's BNs are identities, which
would prove nothing), so the folds' arithmetic (scale into the producer, shift into 1x1
consumers, ChannelBias elsewhere) is checked against Keras' own BN.
"""

import keras
import numpy as np
import pytest

from hourglass.model import fold_bn
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_inference_model


def _randomize_bn(model, rng, negative_in=()):
  """Random moving statistics, gamma in [0.2, 3] (negative in the named layers) and beta."""
  for layer in model.layers:
    if isinstance(layer, keras.layers.BatchNormalization):
      c = layer.gamma.shape[0]
      gamma = rng.uniform(0.2, 3.0, c)
      if layer.name in negative_in:
        gamma[0] = -gamma[0]
      layer.set_weights([gamma, rng.normal(0, 0.5, c), rng.normal(0, 0.5, c),
                         rng.uniform(0.3, 2.0, c)])


@pytest.mark.parametrize('mobile,shift', [(True, 'add'), (False, 'add'), (True, 'keep'),
                                          (True, 'conv')])
def test_folded_model_matches_keras(mobile, shift):
  config = ModelConfig(num_stacks=2, mobile=mobile, tiny=True, input_height=64, input_width=64,
                       num_keypoints=3)
  keras.utils.set_random_seed(0)
  model = build_inference_model(config)
  rng = np.random.RandomState(0)
  _randomize_bn(model, rng)
  images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  folded, summary = fold_bn.fold_batch_norm(model, shift=shift)
  expected = model(images, training=False).numpy()
  got = folded(images, training=False).numpy()
  assert np.abs(expected).max() > 0.05  # a real output, not near-zero everywhere
  np.testing.assert_allclose(got, expected, atol=2e-5 * np.abs(expected).max())
  bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
  # Entirely gone: per residual block the BN before the last 1x1 conv, per head the one before
  # the two 1x1s; the others leave a ChannelBias ('add') or ChannelBiasConv ('conv') each, or stay
  # BNs ('keep').
  removed = summary['removed']
  assert removed >= len(bns) // 3
  left = len(bns) - removed if shift in ('add', 'conv') else 0
  assert summary == {'batch_norm': len(bns), 'folded': removed + left, 'removed': removed,
                     'left_as_channel_op': left, 'kept': len(bns) - removed - left}
  channel_op = fold_bn.ChannelBiasConv if shift == 'conv' else fold_bn.ChannelBias
  assert len([l for l in folded.layers if isinstance(l, channel_op)]) == left
  assert len([l for l in folded.layers
              if isinstance(l, keras.layers.BatchNormalization)]) == summary['kept']
  assert [l.name for l in folded.layers] == [l.name for l in model.layers]
  # The original keeps its weights: the fold works on copies.
  np.testing.assert_array_equal(model(images, training=False).numpy(), expected)


def test_bn_with_a_negative_scale_after_relu_is_kept():
  """a * relu(z) == relu(a * z) needs a > 0: such a BN stays, and the output is still exact."""
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=64, input_width=64,
                       num_keypoints=2)
  keras.utils.set_random_seed(1)
  model = build_inference_model(config)
  rng = np.random.RandomState(1)
  _randomize_bn(model, rng, negative_in=('hg0_l1_bn_x1', 'front_bn'))
  images = rng.uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
  folded, summary = fold_bn.fold_batch_norm(model)
  assert summary['kept'] == 2
  kept = [l.name for l in folded.layers if isinstance(l, keras.layers.BatchNormalization)]
  assert sorted(kept) == ['front_bn', 'hg0_l1_bn_x1']
  expected = model(images, training=False).numpy()
  np.testing.assert_allclose(folded(images, training=False).numpy(), expected,
                             atol=2e-5 * np.abs(expected).max())


def test_bn_that_is_a_model_output_keeps_its_shift():
  """A BN read from outside the graph has no consumer conv to take its shift."""
  inputs = keras.Input((8, 8, 3))
  y = keras.layers.Conv2D(4, 3, padding='same', activation='relu')(inputs)
  bn = keras.layers.BatchNormalization()
  model = keras.Model(inputs, bn(y))
  rng = np.random.RandomState(2)
  bn.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4), rng.normal(0, 1, 4),
                  rng.uniform(0.5, 2, 4)])
  folded, summary = fold_bn.fold_batch_norm(model)
  assert summary['left_as_channel_op'] == 1
  x = rng.uniform(0, 1, (2, 8, 8, 3)).astype(np.float32)
  np.testing.assert_allclose(folded(x).numpy(), model(x, training=False).numpy(), atol=1e-5)


def test_model_without_bn_comes_back_unchanged():
  inputs = keras.Input((8, 8, 3))
  model = keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs))
  folded, summary = fold_bn.fold_batch_norm(model)
  assert folded is model and summary['batch_norm'] == 0


def test_residual_stream_shifts_go_into_later_1x1_convs():
  """The blocks' last BN feeds the skip Add: its shift rides Add/MaxPool/UpSampling into 1x1s."""
  config = ModelConfig(num_stacks=2, mobile=False, tiny=True, input_height=64, input_width=64,
                       num_keypoints=3)
  keras.utils.set_random_seed(2)
  model = build_inference_model(config)
  _randomize_bn(model, np.random.RandomState(2))
  folded, _ = fold_bn.fold_batch_norm(model, shift='add')
  left = sorted(l.name for l in folded.layers if isinstance(l, fold_bn.ChannelBias))
  # Only the BNs before a 3x3 conv (its zero padding would miss the shift) leave a ChannelBias.
  assert left and all(name.endswith('_bn_x1') for name in left), left
  assert isinstance(folded.get_layer('hg0_l1_bn_x3'), fold_bn.FoldedAway)
  # MNN's fold (symmetric int8 wants the shifts in place) leaves that shift where it is.
  for_mnn, _ = fold_bn.fold_batch_norm(model, shift='conv', carry_shifts=False)
  assert isinstance(for_mnn.get_layer('hg0_l1_bn_x3'), fold_bn.ChannelBiasConv)


def _stream_model(into_3x3):
  """conv+ReLU -> BN -> Add(skip) -> MaxPool -> UpSampling -> 1x1 conv (or a 3x3 conv too)."""
  inputs = keras.Input((8, 8, 4))
  y = keras.layers.Conv2D(4, 3, padding='same', activation='relu')(inputs)
  bn = keras.layers.BatchNormalization(name='bn')
  y = keras.layers.Add()([bn(y), inputs])
  y = keras.layers.UpSampling2D(2)(keras.layers.MaxPool2D(2)(y))
  out = keras.layers.Conv2D(3, 1, activation='relu')(y)
  if into_3x3:
    out = keras.layers.Add()([out, keras.layers.Conv2D(3, 3, padding='same')(y)])
  model = keras.Model(inputs, out)
  rng = np.random.RandomState(3)
  bn.set_weights([rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4), rng.normal(0, 1, 4),
                  rng.uniform(0.5, 2, 4)])
  return model


@pytest.mark.parametrize('into_3x3', [False, True])
def test_shift_propagation_stops_at_a_3x3_conv(into_3x3):
  model = _stream_model(into_3x3)
  folded, summary = fold_bn.fold_batch_norm(model, shift='add')
  assert summary['removed'] == (0 if into_3x3 else 1)
  assert summary['left_as_channel_op'] == (1 if into_3x3 else 0)
  x = np.random.RandomState(4).uniform(-1, 1, (2, 8, 8, 4)).astype(np.float32)
  np.testing.assert_allclose(folded(x).numpy(), model(x, training=False).numpy(), atol=1e-5)
