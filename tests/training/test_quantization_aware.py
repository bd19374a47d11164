"""Quantization-aware fine-tuning: the int8 rounding, the simulated graph, the trainer's use of it.

References are independent of the code under test: numpy's per-channel rounding of a kernel run
through a plain Keras conv, Keras' own model output, and the checkpoint's stored values.
"""

from keras import layers
import numpy as np
import pytest
import tensorflow as tf

from core.errors import UserInputError
from hourglass.model.bundle import save_bundle
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_training_model, inference_model
from hourglass.training import checkpointing
from hourglass.training import quantization_aware as qa
from hourglass.training import strategy as strategy_lib
from hourglass.training.trainer import TrainConfig, Trainer
from tests.support import tiny_training as support

TINY_MOBILE = dict(num_stacks=1, mobile=True, tiny=True, input_height=64, input_width=64)


def _numpy_round_per_channel(kernel, axis):
  other = tuple(i for i in range(kernel.ndim) if i != axis)
  step = np.abs(kernel).max(axis=other, keepdims=True) / 127.0
  return np.round(kernel / step) * step


def test_fake_quant_rounds_to_the_int8_grid_and_passes_gradients_inside():
  x = tf.constant([-3.0, -1.26, -0.004, 0.0, 0.5, 1.0, 1.3, 2.5])
  step = 1.0 / 127.0  # bound 1.0
  with tf.GradientTape() as tape:
    tape.watch(x)
    q = qa.fake_quant(x, step)
  levels = q.numpy() / step
  np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)  # on the grid
  np.testing.assert_allclose(q.numpy()[[0, 1, 6, 7]], [-1, -1, 1, 1], atol=1e-6)  # clipped
  inside = np.abs(x.numpy()) <= 1.0
  assert np.all(np.abs(q.numpy() - x.numpy())[inside] <= step / 2 + 1e-7)
  np.testing.assert_array_equal(tape.gradient(q, x).numpy(), inside.astype(np.float32))


def test_quantized_convs_equal_keras_convs_with_numpy_rounded_kernels():
  tf.keras.utils.set_random_seed(0)
  x = tf.random.normal([2, 8, 8, 4])
  conv = layers.Conv2D(6, 3, strides=2, padding='same', activation='relu')
  sep1 = layers.SeparableConv2D(5, 1, padding='same', activation='relu')
  sep3 = layers.SeparableConv2D(5, 3, padding='same')
  for layer in (conv, sep1, sep3):
    layer(x)
    layer.bias.assign(tf.random.normal(layer.bias.shape))
  # Plain conv: the kernel rounded per output channel.
  ref = layers.Conv2D(6, 3, strides=2, padding='same', activation='relu')
  ref(x)
  ref.set_weights([_numpy_round_per_channel(conv.kernel.numpy(), 3), conv.bias.numpy()])
  np.testing.assert_allclose(qa.QuantizedConv(conv)(x), ref(x), atol=1e-5)
  # 1x1 separable: one conv with kernel depthwise * pointwise, as the export writes it.
  fused = sep1.depthwise_kernel.numpy().reshape(1, 1, -1, 1) * sep1.pointwise_kernel.numpy()
  ref1 = layers.Conv2D(5, 1, padding='same', activation='relu')
  ref1(x)
  ref1.set_weights([_numpy_round_per_channel(fused, 3), sep1.bias.numpy()])
  np.testing.assert_allclose(qa.QuantizedConv(sep1)(x), ref1(x), atol=1e-5)
  # 3x3 separable: depthwise (rounded per channel) then pointwise (rounded per output channel).
  depthwise = layers.DepthwiseConv2D(3, padding='same', use_bias=False)
  depthwise(x)
  depthwise.set_weights([_numpy_round_per_channel(sep3.depthwise_kernel.numpy(), 2)])
  pointwise = layers.Conv2D(5, 1, padding='same')
  pointwise(x)
  pointwise.set_weights([_numpy_round_per_channel(sep3.pointwise_kernel.numpy(), 3),
                         sep3.bias.numpy()])
  mid = qa.QuantizedConv(sep3, 'depthwise')(x)
  np.testing.assert_allclose(mid, depthwise(x), atol=1e-5)
  np.testing.assert_allclose(qa.QuantizedConv(sep3, 'pointwise')(mid), pointwise(mid), atol=1e-5)


def test_fake_quant_model_shares_weights_and_rounds_weights_then_tensors():
  tf.keras.utils.set_random_seed(2)
  model = build_training_model(ModelConfig(num_keypoints=3, **TINY_MOBILE))
  images = np.random.default_rng(0).uniform(0, 255, (8, 64, 64, 3)).astype(np.float32)
  simulated = qa.FakeQuantModel(model)
  assert ({id(v) for v in simulated.model.trainable_variables}
          == {id(v) for v in model.trainable_variables})
  # One rounded tensor per conv (two for a 3x3 separable conv), BN, Add and the normalisation;
  # the prediction conv stays float.
  expected = 0
  for layer in model.layers:
    if isinstance(layer, layers.SeparableConv2D):
      expected += 2 if layer.kernel_size == (3, 3) else 1
    elif isinstance(layer, layers.Conv2D) and not layer.name.endswith('conv_1x1_predict'):
      expected += 1
    elif isinstance(layer, (layers.BatchNormalization, layers.Add, layers.Rescaling)):
      expected += 1
  assert len(simulated.points) == expected == simulated.bounds.shape[0]
  # The predict conv's small init makes raw heatmaps tiny: give it unit-scale weights.
  predict = model.get_layer('hg0_conv_1x1_predict')
  predict.kernel.assign(tf.random.normal(predict.kernel.shape, stddev=0.1))
  floating = model(images, training=False).numpy()
  relative_error = lambda out: np.sqrt(np.mean((out - floating) ** 2)) / np.std(floating)
  # Uncalibrated (bounds 0): only the weights are rounded.
  weights_only = relative_error(simulated.model(images, training=False).numpy())
  bounds = simulated.calibrate(images)
  assert np.all(bounds > 0) and np.all(np.isfinite(bounds))
  calibrated = relative_error(simulated.model(images, training=False).numpy())
  print('relative error: weights only', weights_only, 'all rounded', calibrated)
  assert 0 < weights_only < calibrated < 0.2  # rounded, and still the same function
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(tf.square(simulated.model(images[:2], training=False)))
  grads = tape.gradient(loss, model.trainable_variables)
  assert all(g is not None for g in grads)


def _trainer(model_dir, weights_path, epochs=1, eval_fn=None):
  codec, definition = support.codec_and_definition()
  train_fn = support.train_dataset_fn(support.make_examples(8, seed=5), codec, 4)
  config = TrainConfig(model_dir=str(model_dir), batch_size=4, steps_per_epoch=2,
                       total_epoch=epochs, steps_per_loop=1, checkpoint_steps=1000,
                       learning_rate=1e-4, decay_type='none', quantization_aware=True,
                       calibration_images=8, loss_type='mse')
  return Trainer(config, strategy_lib.build_strategy(strategy_lib.StrategyConfig()),
                 ModelConfig(num_keypoints=support.K, **TINY_MOBILE), definition, codec,
                 train_fn, eval_fn, weights_path=weights_path, log=lambda *a: None)


def test_trainer_fine_tunes_through_the_simulation_with_frozen_bn_and_checkpointed_bounds(
    tmp_path):
  tf.keras.utils.set_random_seed(3)
  config = ModelConfig(num_keypoints=support.K, **TINY_MOBILE)
  source = build_training_model(config)
  predict = source.get_layer('hg0_conv_1x1_predict')  # unit-scale heatmaps, not the tiny init
  predict.kernel.assign(tf.random.normal(predict.kernel.shape, stddev=0.1))
  codec, definition = support.codec_and_definition()
  save_bundle(str(tmp_path / 'source'), inference_model(source), config, definition,
              codec.to_dict())
  with pytest.raises(UserInputError, match='--weights_path'):
    _trainer(tmp_path / 'nothing', None)
  val_images, val_keypoints, val_visibility = support.make_examples(4, seed=99)
  eval_fn = support.eval_dataset_fn((val_images, val_keypoints, val_visibility), codec, 4)
  trainer = _trainer(tmp_path / 'qat', str(tmp_path / 'source'), eval_fn=eval_fn)
  bn = trainer.model.get_layer('front_bn')
  variance = bn.moving_variance.numpy().copy()
  result = trainer.train()
  # Validation (and the best-model choice) ran the int8 simulation, not the float model.
  batch = next(iter(eval_fn(tf.distribute.InputContext())))
  image = tf.cast(batch['image'], tf.float32)
  val_loss = lambda model: float(tf.reduce_mean(tf.square(model(image, training=False)
                                                         - batch['heatmaps'])))
  simulated, floating = val_loss(trainer.fake_quant.model), val_loss(trainer.model)
  assert result['val_loss'] == pytest.approx(simulated, rel=1e-4)
  assert result['val_loss'] != pytest.approx(floating, rel=1e-4)
  bounds = trainer.fake_quant.bounds.numpy()
  assert np.all(bounds > 0)
  assert all(np.isfinite(loss) for _, loss, _ in trainer.history) and trainer.history
  np.testing.assert_array_equal(bn.moving_variance.numpy(), variance)  # BN frozen
  kernel = trainer.model.get_layer('front_conv_7x7').kernel.numpy()
  assert not np.array_equal(kernel, source.get_layer('front_conv_7x7').kernel.numpy())
  # A resumed run reads the bounds from the checkpoint (no new calibration).
  # (total_epoch reached: train() restores and returns without a step.)
  resumed = _trainer(tmp_path / 'qat', None)
  resumed.fake_quant.calibrate = lambda images: pytest.fail('calibrated again on resume')
  resumed.train()
  np.testing.assert_array_equal(resumed.fake_quant.bounds.numpy(), bounds)


def test_quantization_aware_into_a_float_run_directory_is_refused(tmp_path):
  # A float run's model directory: its model config and a checkpoint without int8 bounds. The
  # refusal comes before the trainer builds anything.
  checkpointing.check_model_config(str(tmp_path), ModelConfig(num_keypoints=support.K,
                                                              **TINY_MOBILE))
  tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(1, dtype=tf.int64)),
                             str(tmp_path / checkpointing.CHECKPOINT_DIR),
                             max_to_keep=1).save(checkpoint_number=1)
  with pytest.raises(UserInputError, match='without it'):
    _trainer(tmp_path, None)
