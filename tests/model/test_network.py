"""The network builder against the seed's reference table, shapes and mixed precision."""

import keras
import numpy as np
import pytest

from hourglass.model import network
from hourglass.model.config import ModelConfig, parse_input_shape
from hourglass.model.summary import count_params, profiler_flops

# design.md section 3: trainable params of the single-output inference model, profiler FLOPs.
REFERENCE = [
    (ModelConfig(2, False, False, 256, 256, 16), 6_570_784, 20.28e9),
    (ModelConfig(2, True, False, 256, 256, 16), 2_750_240, 9.37e9),
    (ModelConfig(2, True, True, 256, 256, 17), 720_802, 2.62e9),
    (ModelConfig(2, True, True, 192, 192, 17), 720_802, 1.47e9),
]


@pytest.mark.parametrize('config,params,flops', REFERENCE,
                         ids=['standard', 'mobile', 'mobile_tiny', 'mobile_tiny_192'])
def test_params_and_flops_match_the_seed_table(config, params, flops):
  model = network.build_inference_model(config)
  assert count_params(model.trainable_weights) == params
  folded, unfolded = profiler_flops(model)
  assert abs(folded - flops) / flops < 0.01, folded
  assert unfolded > folded  # BatchNorm ops exist and are what the folded count leaves out


@pytest.mark.parametrize('stacks', [1, 2, 4])
@pytest.mark.parametrize('height,width', [(256, 256), (256, 192)])
def test_output_shapes(stacks, height, width):
  config = ModelConfig(stacks, True, True, height, width, 5)
  model = network.build_training_model(config)
  outputs = network.stack_outputs(model(np.zeros([2, height, width, 3], np.float32)))
  assert len(outputs) == stacks
  for out in outputs:
    assert tuple(out.shape) == (2, height // 4, width // 4, 5)
  inference = network.inference_model(model)
  assert tuple(inference.outputs[0].shape) == (None, height // 4, width // 4, 5)
  # The inference model drops the last stack's next-stage convolutions only.
  assert count_params(inference.trainable_weights) == count_params(model.trainable_weights)


def test_training_model_has_next_stage_convs_between_stacks_only():
  model = network.build_training_model(ModelConfig(3, True, True, 64, 64, 4))
  names = {layer.name for layer in model.layers}
  assert {'hg0_conv_1x1_x2', 'hg1_conv_1x1_x3', 'hg2_conv_1x1_predict'} <= names
  assert 'hg2_conv_1x1_x2' not in names and 'hg2_conv_1x1_x3' not in names


@pytest.mark.parametrize('policy', ['mixed_float16', 'mixed_bfloat16'])
def test_heatmaps_are_float32_under_mixed_precision(policy):
  keras.mixed_precision.set_global_policy(policy)
  try:
    model = network.build_training_model(ModelConfig(2, True, True, 64, 64, 3))
    outputs = network.stack_outputs(model(np.full([1, 64, 64, 3], 128, np.uint8)))
    compute_dtypes = {layer.compute_dtype for layer in model.layers if 'conv' in layer.name}
  finally:
    keras.mixed_precision.set_global_policy('float32')
  assert compute_dtypes == {policy.split('_')[1]}
  assert all(out.dtype == 'float32' for out in outputs)
  assert all(np.isfinite(np.asarray(out)).all() for out in outputs)


def test_model_normalises_pixels_inside():
  model = network.build_inference_model(ModelConfig(1, True, True, 64, 64, 2))
  layer = model.get_layer('front_normalize')
  out = np.asarray(layer(np.array([[0.0, 127.5, 255.0]], np.float32)))
  np.testing.assert_allclose(out, [[-1.0, 0.0, 1.0]], atol=1e-6)


@pytest.mark.parametrize('text', ['250x256', '256', 'axb', '0x64', '-32x64'])
def test_bad_input_shapes_are_refused(text):
  with pytest.raises(ValueError, match='32|HxW'):
    parse_input_shape(text)


def test_sync_bn_switch():
  model = network.build_training_model(ModelConfig(1, True, True, 64, 64, 2, sync_bn=True))
  bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
  assert bns and all(layer.synchronized for layer in bns)


def test_models_are_named_after_the_network_not_a_stack():
  config = ModelConfig(num_stacks=2, tiny=True, mobile=True, input_height=64, input_width=64,
                       num_keypoints=3)
  training = network.build_training_model(config)
  assert training.name == 'stacked_hourglass'
  assert network.inference_model(training).name == 'stacked_hourglass_inference'
