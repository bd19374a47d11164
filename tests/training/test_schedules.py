"""LR schedules by value at chosen steps, computed by hand; serialisation round trips."""

import math

import keras
import numpy as np
import pytest

from hourglass.training import optimizers, schedules

LR = 0.1
TOTAL = 110
WARM = 10       # decay steps D = 100
R = 0.01


def _at(schedule, step):
  return float(schedule(step))


@pytest.mark.parametrize('decay_type,step,expected', [
    ('none', 0, LR), ('none', 77, LR),
    ('cosine', 0, LR), ('cosine', 50, LR * (R + (1 - R) * 0.5)), ('cosine', 100, LR * R),
    ('cosine', 25, LR * (R + (1 - R) * 0.5 * (1 + math.cos(math.pi / 4)))),
    ('exponential', 0, LR), ('exponential', 50, LR * 0.1), ('exponential', 100, LR * R),
    ('polynomial', 0, LR), ('polynomial', 50, LR * R + (LR - LR * R) * 0.5),
    ('polynomial', 100, LR * R), ('polynomial', 150, LR * R),
    ('piecewise_constant', 50, LR), ('piecewise_constant', 51, LR * 0.1),
    ('piecewise_constant', 75, LR * 0.1), ('piecewise_constant', 76, LR * R),
])
def test_schedule_values_without_warmup(decay_type, step, expected):
  schedule = schedules.build_schedule(decay_type, LR, total_steps=100, final_lr_ratio=R)
  assert _at(schedule, step) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize('decay_type', schedules.DECAY_TYPES)
def test_warmup_is_linear_then_hands_over(decay_type):
  schedule = schedules.build_schedule(decay_type, LR, total_steps=TOTAL, warmup_steps=WARM,
                                      final_lr_ratio=R)
  # during warmup: LR * (step + 1) / W
  assert _at(schedule, 0) == pytest.approx(LR / WARM, rel=1e-5)
  assert _at(schedule, 4) == pytest.approx(LR * 5 / WARM, rel=1e-5)
  assert _at(schedule, WARM) == pytest.approx(LR, rel=1e-5)
  plain = schedules.build_schedule(decay_type, LR, total_steps=TOTAL - WARM, final_lr_ratio=R)
  for t in (1, 30, 60, 99):
    assert _at(schedule, WARM + t) == pytest.approx(_at(plain, t), rel=1e-5)


@pytest.mark.parametrize('decay_type', schedules.DECAY_TYPES)
def test_schedule_serialises_and_resumes_from_the_step(decay_type):
  schedule = schedules.build_schedule(decay_type, LR, total_steps=TOTAL, warmup_steps=WARM,
                                      final_lr_ratio=R)
  config = keras.optimizers.schedules.serialize(schedule)
  again = keras.optimizers.schedules.deserialize(config)
  for step in (0, 5, 10, 42, 80, 109):
    assert _at(again, step) == pytest.approx(_at(schedule, step), rel=1e-6)
  # an optimizer whose step is restored reads the schedule at that step (no restart)
  optimizer = optimizers.build_optimizer('sgd', again)
  optimizer.build([keras.Variable(np.zeros(2, np.float32))])
  optimizer.iterations.assign(80)
  assert float(optimizer.learning_rate) == pytest.approx(_at(schedule, 80), rel=1e-6)


def test_bad_values_are_rejected():
  with pytest.raises(ValueError, match='decay_type'):
    schedules.build_schedule('linear', LR, 10)
  with pytest.raises(ValueError, match='final_lr_ratio'):
    schedules.build_schedule('cosine', LR, 10, final_lr_ratio=0)


@pytest.mark.parametrize('name', optimizers.OPTIMIZERS)
def test_optimizers_by_name_take_one_sgd_step(name):
  var = keras.Variable(np.array([1.0, -1.0], np.float32))
  optimizer = optimizers.wrap_loss_scale(optimizers.build_optimizer(name, 0.1), float16=False)
  optimizer.build([var])
  optimizer.apply_gradients([(np.array([1.0, 1.0], np.float32), var)])
  moved = var.numpy() - np.array([1.0, -1.0])
  assert np.all(moved < 0), (name, moved)
  if name == 'sgd':   # first momentum step: -lr * g exactly
    np.testing.assert_allclose(moved, [-0.1, -0.1], rtol=1e-6)
