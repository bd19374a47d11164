"""The run in steps: its length from the flags, validation every N steps, the LR schedule over the
run, one chained dataset, the time budget, early stopping, the last model, BN statistics
recomputed before each validation; the --strategy/--cpu_replicas guard; and --init_epoch,
--momentum (SGD's) and --weight_decay (adamw's) each changing what training produces.

The trainer runs the small BN model (test_train_support.small_bn_model: the project's blocks,
traced in seconds) on in-memory examples; the flags go through modes/configs.py's train_config
and workflows/train.py's sized.
"""

import csv
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.errors import UserInputError
from hourglass.model.config import ModelConfig
from hourglass.training import run_plan
from hourglass.training import strategy as strategy_lib
import hourglass.training.trainer as trainer_module
from hourglass.training.trainer import TrainConfig, Trainer
from tests.support import tiny_training as support
from tests.support.flag_parsing import parse_flags

MODEL = ModelConfig(num_stacks=1, mobile=False, tiny=True, input_height=support.SIZE,
                    input_width=support.SIZE, num_keypoints=support.K)


@pytest.fixture(autouse=True)
def small_model(monkeypatch):
  monkeypatch.setattr(trainer_module, 'build_training_model', support.small_bn_model)



def _trainer(config, train_fn, eval_fn=None, logged=None):
  keras.utils.set_random_seed(0)  # the same initial weights in every trainer
  codec, definition = support.codec_and_definition()
  return Trainer(config, strategy_lib.build_strategy(strategy_lib.StrategyConfig()), MODEL,
                 definition, codec, train_fn, eval_fn,
                 log=logged.append if logged is not None else (lambda *a: None))


def _rows(model_dir):
  with open(os.path.join(model_dir, 'metrics.csv')) as f:
    return list(csv.DictReader(f))


def test_the_length_comes_from_the_flags_and_the_loops_end_on_every_event():
  from modes.configs import train_config
  from workflows.train import run_length
  flagged = lambda *args: train_config(parse_flags(*args))
  # Neither flag: the larger of 1000 steps and 100 epochs (a 50-frame set at batch 8: 6 steps).
  assert run_length(flagged(), 6) == (100, 1000)
  assert run_length(flagged(), 25) == (100, 2500)
  assert run_length(flagged('--total_epoch=3'), 6) == (3, None)   # the seed's meaning
  assert run_length(flagged('--train_steps=50', '--total_epoch=3'), 6) == (9, 50)
  config = TrainConfig(model_dir='unused', batch_size=8, steps_per_epoch=12,
                       train_steps=250, checkpoint_steps=40, steps_per_loop=30)
  assert config.total_steps == 250
  assert run_plan.validation_interval(config) == 100  # 12-step epochs: every 100 steps
  ends, step = [], 0
  while step < config.total_steps:
    step += run_plan.loop_length(config, step, run_plan.chain_span(config, step)[2])
    ends.append(step)
  assert ends == [30, 40, 70, 80, 100, 120, 150, 160, 190, 200, 230, 240, 250]
  assert [s for s in ends if run_plan.validation_due(config, s)] == [100, 200, 250]
  # One dataset for epochs 0-19 (240 steps), then the last, partial epoch.
  assert run_plan.chain_span(config, 0) == (0, 20, 240)
  assert run_plan.chain_span(config, 240) == (20, 1, 250)


def test_default_strategy_refuses_cpu_replicas(tmp_path):
  with pytest.raises(ValueError, match='--cpu_replicas=2 needs --strategy=mirrored'):
    strategy_lib.build_strategy(strategy_lib.StrategyConfig('default', cpu_replicas=2))
  from modes.configs import train_run_config
  from workflows.train import build_trainer
  values = parse_flags(f'--records_dir={tmp_path}', f'--model_dir={tmp_path / "m"}',
                        '--cpu_replicas=2')
  with pytest.raises(UserInputError, match='needs --strategy=mirrored'):
    build_trainer(train_run_config(values))


def test_a_run_in_steps_validates_every_n_and_ends_with_the_last_model(tmp_path):
  codec, _ = support.codec_and_definition()
  examples = support.train_dataset_fn(support.make_examples(16, seed=1), codec, 4)
  requested = []
  def train_fn(epoch, ctx):
    requested.append(epoch)
    return examples(epoch, ctx)
  eval_fn = support.eval_dataset_fn(support.make_examples(4, seed=9), codec, 4)
  config = TrainConfig(model_dir=str(tmp_path), batch_size=4, steps_per_epoch=4,
                       train_steps=10, validation_steps=4, steps_per_loop=3,
                       checkpoint_steps=1000, learning_rate=2e-3, decay_type='cosine',
                       final_lr_ratio=0.01, bn_statistics_batches=3)
  trainer = _trainer(config, train_fn, eval_fn)
  result = trainer.train()
  rows = _rows(str(tmp_path))
  assert [int(r['step']) for r in rows] == [4, 8, 10]
  assert [float(r['epoch']) for r in rows] == [1.0, 2.0, 2.5]
  # The cosine schedule spans the 10 steps: it ends at final_lr_ratio (over 10 epochs of 4 steps,
  # the TrainConfig default, it would still be near its peak).
  assert float(rows[-1]['learning_rate']) == pytest.approx(2e-3 * 0.01, rel=1e-4)
  assert result['step'] == 10 and trainer.keeper.latest.endswith('ckpt-10')
  # Epochs 0-2 from one chained dataset, each built once; then the validations' BN batches.
  assert requested == [0, 1, 2, 1, 2, 2]
  for name in ('best_model', 'last_model'):
    assert os.path.isfile(os.path.join(str(tmp_path), name, 'model.keras')), name
  # The model was validated (and saved) with BN statistics recomputed from the epoch's first
  # training batches, not the moving averages: recomputing them again changes nothing.
  layers = run_plan.batch_norm_layers(trainer.model)
  before = [(l.moving_mean.numpy(), l.moving_variance.numpy()) for l in layers]
  batches = [images for images, _ in examples(2, None).take(3)]
  run_plan.recompute_batch_norm(trainer.model, batches)
  for layer, (mean, variance) in zip(layers, before):
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance.numpy(), variance, rtol=1e-4, atol=1e-5)


def test_recomputed_batch_norm_statistics_are_the_batches_average():
  model = support.small_bn_model(MODEL)
  images = [tf.constant(support.make_examples(4, seed=s)[0]) for s in range(3)]
  before_bn = keras.Model(model.input, model.get_layer('bn0').input)  # before any BN
  used = run_plan.recompute_batch_norm(model, images)
  assert used == 3
  layer = model.get_layer('bn0')
  features = [before_bn(tf.cast(x, tf.float32)).numpy() for x in images]
  np.testing.assert_allclose(layer.moving_mean.numpy(),
                             np.mean([f.mean(axis=(0, 1, 2)) for f in features], 0), rtol=1e-4)
  np.testing.assert_allclose(layer.moving_variance.numpy(),
                             np.mean([f.var(axis=(0, 1, 2)) for f in features], 0), rtol=1e-3)
  assert layer.momentum == pytest.approx(0.9)  # training's momentum is back


def test_the_time_budget_and_the_patience_stop_the_run_with_a_last_model(tmp_path):
  codec, _ = support.codec_and_definition()
  train_fn = support.train_dataset_fn(support.make_examples(48, seed=2), codec, 4)
  eval_fn = support.eval_dataset_fn(support.make_examples(4, seed=9), codec, 4)
  base = dict(batch_size=4, steps_per_epoch=12, train_steps=12, validation_steps=2,
              steps_per_loop=2, checkpoint_steps=1000, decay_type='none')
  logged = []
  budget = _trainer(TrainConfig(model_dir=str(tmp_path / 'budget'), train_minutes=1e-6,
                                **base), train_fn, eval_fn, logged)
  budget.train()
  assert int(budget.step.numpy()) == 2 and [r['step'] for r in _rows(budget.config.model_dir)] \
      == ['2']
  assert any('stopped at step 2 of 12: --train_minutes=1e-06 reached' in l for l in logged)
  assert os.path.isfile(os.path.join(budget.config.model_dir, 'last_model', 'model.keras'))
  # A learning rate too small to move a float32 weight: every validation after the first finds
  # the same error, not a lower one; patience 2 stops at the third.
  logged = []
  patient = _trainer(TrainConfig(model_dir=str(tmp_path / 'patience'),
                                 early_stopping_patience=2, optimizer='sgd', momentum=0.0,
                                 learning_rate=1e-12, **base),
                     train_fn, eval_fn, logged)
  patient.train()
  assert [int(r['step']) for r in _rows(patient.config.model_dir)] == [2, 4, 6]
  assert int(patient.step.numpy()) == 6
  assert any('2 validations in a row without a lower val mean error' in l for l in logged)
  assert patient.keeper.latest.endswith('ckpt-6')
  assert os.path.isfile(os.path.join(patient.config.model_dir, 'last_model', 'model.keras'))


def _kernels(model):
  return np.concatenate([np.asarray(v).ravel() for v in model.trainable_variables
                         if 'kernel' in v.path])


def _flag_run(tmp_path, name, *args):
  """Trains from these flags (through modes/configs.py's train_config and workflows/train.py's sized)
  on one batch repeated. Returns (trainer, kernels before, kernels after)."""
  from modes.configs import train_config
  from workflows.train import sized
  codec, _ = support.codec_and_definition()
  one_batch = support.train_dataset_fn(support.make_examples(4, seed=3), codec, 4)
  values = parse_flags(f'--model_dir={tmp_path / name}', '--batch_size=4', '--total_epoch=3',
                        '--decay_type=cosine', '--bn_statistics_batches=0', *args)
  trainer = _trainer(sized(train_config(values), 2, 'float32'),
                     lambda epoch, ctx: one_batch(epoch, ctx).repeat(2))
  start = _kernels(trainer.model)
  trainer.train()
  return trainer, start, _kernels(trainer.model)


def test_init_epoch_momentum_and_weight_decay_change_the_trained_weights(tmp_path):
  moved = lambda run: np.linalg.norm(run[2] - run[1])
  sgd = ('--optimizer=sgd', '--learning_rate=0.05')
  with_momentum = _flag_run(tmp_path, 'momentum', *sgd, '--momentum=0.9')
  without = _flag_run(tmp_path, 'no_momentum', *sgd, '--momentum=0')
  # 6 steps on one batch: momentum adds up the past steps (about 1.9x farther for 6 steps of a
  # slowly turning gradient).
  assert moved(with_momentum) > 1.4 * moved(without), (moved(with_momentum), moved(without))
  # --init_epoch=2 of 3 epochs: a new run starts at step 4 (2 steps left) where the cosine
  # schedule is already low, and still ends at step 6.
  late = _flag_run(tmp_path, 'init_epoch', *sgd, '--momentum=0.9', '--init_epoch=2')
  assert [s for s, _, _ in late[0].history] == [6]
  assert int(late[0].optimizer.iterations.numpy()) == 6
  assert moved(late) < 0.25 * moved(with_momentum), (moved(late), moved(with_momentum))
  # adamw's decoupled decay shrinks every kernel by lr * decay per step.
  adamw = ('--optimizer=adamw', '--learning_rate=1e-2', '--decay_type=none')
  plain = _flag_run(tmp_path, 'adamw0', *adamw, '--weight_decay=0')
  decayed = _flag_run(tmp_path, 'adamw', *adamw, '--weight_decay=5')
  ratio = np.linalg.norm(decayed[2]) / np.linalg.norm(plain[2])
  assert ratio < 0.85, ratio  # (1 - 0.05) ** 6 = 0.74 of the undecayed size
