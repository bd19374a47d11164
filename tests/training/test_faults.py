"""Test hooks stay out of production runs: parsed from the environment, announced when active,
and absent from the step's graph unless a NaN injection asks for it."""

import math

import pytest
import tensorflow as tf

from core.errors import UserInputError
from hourglass.model.config import ModelConfig
from hourglass.training import faults as faults_lib
from hourglass.training import strategy as strategy_lib
from hourglass.training.trainer import TrainConfig, Trainer
from tests.support import tiny_training as support


def test_the_kill_variable_parses_and_rejects_bad_values():
  env = faults_lib.KILL_AT_ENV
  assert faults_lib.from_environment({}) is None
  assert faults_lib.from_environment({env: 'after_step:12'}).kill_after_step == 12
  assert faults_lib.from_environment({env: 'before_latest:8'}).kill_before_latest == 8
  with pytest.raises(UserInputError, match=env):
    faults_lib.from_environment({env: 'soon'})


def test_loop_lengths_end_on_the_hooked_steps():
  hooks = faults_lib.Faults(stop_at_step=7, kill_after_step=5)
  assert hooks.loop_length(0, 20) == 5 and hooks.loop_length(5, 20) == 2
  assert not hooks.stopped(6) and hooks.stopped(7)
  assert faults_lib.Faults().loop_length(3, 20) == 20


def _trainer(tmp_path, hooks, logged):
  codec, definition = support.codec_and_definition()
  train_fn = support.train_dataset_fn(support.make_examples(4, seed=0), codec, 4)
  config = TrainConfig(model_dir=str(tmp_path), batch_size=4, steps_per_epoch=1,
                       total_epoch=1, decay_type='none')
  model_config = ModelConfig(num_stacks=1, tiny=True, input_height=support.SIZE,
                             input_width=support.SIZE, num_keypoints=support.K)
  return Trainer(config, strategy_lib.build_strategy(strategy_lib.StrategyConfig()),
                 model_config, definition, codec, train_fn, log=logged.append, faults=hooks)


def _nan_constants(trainer):
  """NaN constants in the graph of one replica step."""
  images = tf.TensorSpec([4, support.SIZE, support.SIZE, 3], tf.uint8)
  targets = {'heatmaps': tf.TensorSpec([4, support.SIZE // 4, support.SIZE // 4, support.K]),
             'weights': tf.TensorSpec([4, support.K])}
  step = tf.function(trainer._replica_step)  # pylint: disable=protected-access
  graph = step.get_concrete_function((images, targets), tf.TensorSpec([], tf.int64)).graph
  found = []
  for op in graph.get_operations():
    if op.type == 'Const':
      value = tf.get_static_value(op.outputs[0])
      if value is not None and value.dtype.kind == 'f' and value.size == 1 and math.isnan(
          float(value.reshape(-1)[0])):
        found.append(op.name)
  return found


def test_a_production_step_has_no_hook_op_and_an_active_hook_says_so(tmp_path):
  logged = []
  plain = _trainer(tmp_path / 'plain', None, logged)
  assert not [line for line in logged if 'TEST HOOK' in line]
  assert not _nan_constants(plain)
  hooked = _trainer(tmp_path / 'hooked', faults_lib.Faults(nonfinite_steps=(2,)), logged)
  assert [line for line in logged if 'TEST HOOK active (nonfinite_steps=(2,))' in line]
  assert _nan_constants(hooked)  # the check above would see the op
