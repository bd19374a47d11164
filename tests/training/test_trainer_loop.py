"""The training loop: loss falls, exact resume, the model-config guard, --weights_path.

Tiny models (64x64, 1 stack, tiny) and a few dozen steps; exact resume runs in a subprocess
because op determinism is process-wide, on the small BN model (tests/support/tiny_training.py).
"""

import os

import numpy as np
import pytest
import tensorflow as tf

from core.errors import UserInputError
from hourglass.model.bundle import save_bundle
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_training_model, inference_model
from hourglass.training import checkpointing
from hourglass.training import strategy as strategy_lib
from hourglass.training.trainer import TrainConfig, Trainer
from tests.support import tiny_training as support

TINY = dict(num_stacks=1, mobile=False, tiny=True, input_height=64, input_width=64)


def test_loss_falls_on_a_fixed_batch(tmp_path):
  codec, definition = support.codec_and_definition()
  examples = support.make_examples(4, seed=3)
  one_batch = support.train_dataset_fn(examples, codec, 4)
  # The same 4 examples repeated: every step sees the identical batch.
  train_fn = lambda epoch, ctx: one_batch(epoch, ctx).repeat(30)
  config = TrainConfig(model_dir=str(tmp_path), batch_size=4, steps_per_epoch=30,
                       total_epoch=1, steps_per_loop=10, checkpoint_steps=1000,
                       learning_rate=2e-3, decay_type='none', loss_type='weighted_mse')
  trainer = Trainer(config, strategy_lib.build_strategy(strategy_lib.StrategyConfig()),
                    ModelConfig(num_keypoints=support.K, **TINY), definition, codec, train_fn,
                    log=lambda *a: None)
  trainer.train()
  losses = [loss for _, loss, _ in trainer.history]
  assert len(losses) == 3 and all(np.isfinite(losses))
  assert losses[-1] < 0.5 * losses[0], losses
  assert int(trainer.step.numpy()) == 30
  assert os.path.isfile(os.path.join(str(tmp_path), 'best_model', 'model.keras'))
  assert os.path.isfile(os.path.join(str(tmp_path), 'metrics.csv'))


def test_jit_compile_trains_like_the_plain_step(tmp_path, monkeypatch):
  import keras

  import hourglass.training.trainer
  # XLA takes ~2 minutes to compile the tiny hourglass on 2 cores: the loop's XLA path is tested
  # on a small BN model (the hourglass under XLA: benchmarks/train_throughput.py --jit=on).
  monkeypatch.setattr(hourglass.training.trainer, 'build_training_model', support.small_bn_model)
  codec, definition = support.codec_and_definition()
  one_batch = support.train_dataset_fn(support.make_examples(4, seed=3), codec, 4)
  histories = []
  for jit in (False, True):
    keras.utils.set_random_seed(0)  # the same initial weights for both
    config = TrainConfig(model_dir=str(tmp_path / str(jit)), batch_size=4,
                         steps_per_epoch=3, total_epoch=1, steps_per_loop=1,
                         checkpoint_steps=1000, learning_rate=2e-3, decay_type='none',
                         jit_compile=jit)
    trainer = Trainer(config, strategy_lib.build_strategy(strategy_lib.StrategyConfig()),
                      ModelConfig(num_keypoints=support.K, **TINY), definition, codec,
                      lambda epoch, ctx: one_batch(epoch, ctx).repeat(3), log=lambda *a: None)
    trainer.train()
    histories.append([loss for _, loss, _ in trainer.history])
  plain, xla = histories
  assert len(xla) == 3 and all(np.isfinite(xla))
  # Step 1 runs on the same weights: XLA only fuses the arithmetic differently.
  assert xla[0] == pytest.approx(plain[0], rel=1e-4), histories
  assert xla[-1] < xla[0], histories


def test_exact_resume_matches_an_uninterrupted_run(tmp_path):
  records = str(tmp_path / 'records')
  support.make_records(records, count=40, val_count=8)
  # 4-step epochs taken from the records' 10 batches: the chained dataset must cut each epoch.
  # A validation every 4 steps recomputes the BN statistics from 2 training batches, which the
  # resumed run must find again.
  base = dict(total_epoch=3, steps_per_epoch=4, checkpoint_steps=2, steps_per_loop=3,
              validation_steps=4, bn_statistics_batches=2, keep_checkpoints=10,
              learning_rate=2e-3, decay_type='cosine', warmup_epochs=0.5)
  straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
  # Run 1 trains 12 steps without a stop (checkpoints every 2 steps). Run 2 starts from run 1's
  # state as a kill right after the step-6 checkpoint left it (mid-epoch 2: the resumed epoch
  # must skip its first 2 batches) and trains to the end.
  # The small BN model (BN layers, so the recomputed statistics are still compared):
  # what must resume is the trainer's state, data order and schedule, whatever the network;
  # test_preemption.py resumes the hourglass itself.
  results = support.run_subprocess({'model': 'small', 'records_dir': records, 'runs': [
      dict(base, model_dir=straight, weights_out=str(tmp_path / 'a.npz')),
      dict(base, model_dir=resumed, resume_from=[straight, 6],
           weights_out=str(tmp_path / 'b.npz'))]})
  assert results[0]['step'] == 12 and results[1]['step'] == 12
  assert results[1]['history'][0][0] == 8, results[1]['history']    # resumed at 6, not 0
  assert results[1]['iterations'] == 12                             # the LR schedule continued
  a, b = np.load(tmp_path / 'a.npz'), np.load(tmp_path / 'b.npz')
  assert len(a.files) == len(b.files) > 10
  for key in a.files:
    np.testing.assert_allclose(a[key], b[key], atol=1e-5, err_msg=key)
  # the straight run's later losses equal the resumed run's
  tail = dict(results[0]['history'])
  for step, loss in results[1]['history']:
    assert loss == pytest.approx(tail[step], abs=1e-6)


def test_resuming_with_other_model_flags_names_them(tmp_path):
  config = ModelConfig(num_keypoints=5, **TINY)
  checkpointing.check_model_config(str(tmp_path), config)
  checkpointing.check_model_config(str(tmp_path), config)  # same flags: fine
  other = ModelConfig(num_keypoints=5, **dict(TINY, num_stacks=2, input_height=96))
  with pytest.raises(UserInputError, match='--num_stacks.*--model_input_shape'):
    checkpointing.check_model_config(str(tmp_path), other)


def test_checkpoints_without_a_saved_model_config_are_refused(tmp_path):
  """A stopped run's last checkpoint written into a deleted folder: no config to check against."""
  directory = tmp_path / checkpointing.CHECKPOINT_DIR
  tf.train.CheckpointManager(tf.train.Checkpoint(step=tf.Variable(3)), str(directory),
                             max_to_keep=1).save(checkpoint_number=3)
  with pytest.raises(UserInputError, match='no model_config.json'):
    checkpointing.check_model_config(str(tmp_path), ModelConfig(num_keypoints=5, **TINY))
  assert not (directory / checkpointing.MODEL_CONFIG_FILE).exists()


def test_weights_path_loads_by_name_and_skips_other_shapes(tmp_path):
  tf.keras.utils.set_random_seed(1)
  source = build_training_model(ModelConfig(num_keypoints=3, **TINY))
  save_bundle(str(tmp_path / 'best_model'), inference_model(source),
              ModelConfig(num_keypoints=3, **TINY), support.codec_and_definition()[1],
              {'input_size': [64, 64], 'stride': 4, 'sigma': 2.0})
  target = build_training_model(ModelConfig(num_keypoints=4, **TINY))
  messages = []
  loaded, skipped = checkpointing.load_weights_by_name(target, str(tmp_path),
                                                       log=messages.append)
  assert skipped == [s for s in skipped if s.startswith('hg0_conv_1x1_predict')] and skipped
  assert 'hg0_conv_1x1_predict' in messages[0]
  np.testing.assert_array_equal(target.get_layer('front_conv_7x7').get_weights()[0],
                                source.get_layer('front_conv_7x7').get_weights()[0])
  assert len(loaded) > 20
  with pytest.raises(UserInputError, match='weights_path'):
    checkpointing.load_weights_by_name(target, str(tmp_path / 'nothing.bin'))


def test_validation_decodes_an_empty_replica_batch():
  """2 replicas, 200 val crops, batch 16: the last batch's second half is empty. DARK's reflect
  padding (MirrorPad) rejects empty tensors; the validator's decode must not."""
  from hourglass.training.validation import Validator
  codec, _ = support.codec_and_definition()
  validator = Validator(None, None, None, TrainConfig(model_dir='unused', batch_size=4,
                                                      steps_per_epoch=1, decoder='dark'), codec)
  decode = tf.function(validator.decode)
  predicted, scores = decode(tf.zeros([0, 16, 16, support.K]))
  assert predicted.shape == (0, support.K, 2) and scores.shape == (0, support.K)
  heatmaps = tf.random.uniform([2, 16, 16, support.K])
  expected = codec.decode(heatmaps, 'dark')
  for got, want in zip(decode(heatmaps), expected):
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)
