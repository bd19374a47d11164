"""Losses against hand computations on tiny tensors (values worked out in the comments)."""

import numpy as np
import pytest
import tensorflow as tf

from hourglass.training import losses


def _tensors():
  # B=1, h=1, w=2, K=2: differences d = pred - target = [[0.5, -2.0], [0.05, 0.0]] laid out as
  # pixel 0: (k0 0.5, k1 -2.0), pixel 1: (k0 0.05, k1 0.0).
  target = np.zeros((1, 1, 2, 2), np.float32)
  pred = np.array([[[[0.5, -2.0], [0.05, 0.0]]]], np.float32)
  weights = np.array([[1.0, 0.0]], np.float32)
  return pred, target, weights


def test_mse_mae_by_hand():
  pred, target, weights = _tensors()
  # mse = (0.25 + 4 + 0.0025 + 0) / 4
  assert losses.stack_loss('mse', pred, target, weights).numpy() == pytest.approx(
      [4.2525 / 4], rel=1e-6)
  # mae = (0.5 + 2 + 0.05 + 0) / 4
  assert losses.stack_loss('mae', pred, target, weights).numpy() == pytest.approx(
      [2.55 / 4], rel=1e-6)


def test_weighted_mse_uses_target_weights():
  pred, target, weights = _tensors()
  # per keypoint mean over pixels: k0 (0.25 + 0.0025) / 2, k1 (4 + 0) / 2; weights (1, 0); / K=2
  expected = (0.2525 / 2 * 1.0 + 2.0 * 0.0) / 2
  got = losses.stack_loss('weighted_mse', pred, target, weights).numpy()
  assert got == pytest.approx([expected], rel=1e-6)
  # not an RMSE (the seed's mistake): doubling the error quadruples the loss
  got2 = losses.stack_loss('weighted_mse', 2 * pred, target, weights).numpy()
  assert got2 == pytest.approx(4 * got, rel=1e-6)


def test_smooth_l1_and_huber_by_hand_and_different():
  pred, target, weights = _tensors()
  # smooth_l1 (beta 1): 0.5*0.25, 2-0.5, 0.5*0.0025, 0 -> mean
  sl1 = (0.125 + 1.5 + 0.00125 + 0.0) / 4
  assert losses.stack_loss('smooth_l1', pred, target, weights).numpy() == pytest.approx(
      [sl1], rel=1e-6)
  # huber delta 0.1: 0.1*(0.5-0.05), 0.1*(2-0.05), 0.5*0.0025, 0
  hub = (0.045 + 0.195 + 0.00125 + 0.0) / 4
  assert losses.stack_loss('huber', pred, target, weights, huber_delta=0.1).numpy() == \
      pytest.approx([hub], rel=1e-6)
  # delta 1 makes huber equal smooth_l1 with beta 1; any other delta differs
  assert losses.stack_loss('huber', pred, target, weights, huber_delta=1.0).numpy() == \
      pytest.approx([sl1], rel=1e-6)
  assert abs(hub - sl1) > 0.1


def test_per_example_sums_stacks_and_global_average():
  pred, target, weights = _tensors()
  preds = np.concatenate([pred, 2 * pred])            # B=2
  targets = np.concatenate([target, target])
  w = np.concatenate([weights, weights])
  total, per_stack = losses.per_example_loss('mse', [preds, preds * 0], targets, w)
  one = 4.2525 / 4
  np.testing.assert_allclose(per_stack[0].numpy(), [one, 4 * one], rtol=1e-6)
  np.testing.assert_allclose(per_stack[1].numpy(), [0, 0])
  np.testing.assert_allclose(total.numpy(), [one, 4 * one], rtol=1e-6)
  # averaged over the GLOBAL batch (e.g. 4 examples over 2 replicas): sum / 4
  avg = losses.global_average(total, global_batch_size=4).numpy()
  assert avg == pytest.approx(5 * one / 4, rel=1e-6)


def test_gradient_of_weighted_mse_ignores_zero_weight_keypoints():
  pred, target, weights = _tensors()
  pred_var = tf.Variable(pred)
  with tf.GradientTape() as tape:
    loss = losses.stack_loss('weighted_mse', pred_var, target, weights)
  grad = tape.gradient(loss, pred_var).numpy()
  assert np.all(grad[..., 1] == 0) and np.any(grad[..., 0] != 0)


def test_unknown_loss_is_rejected():
  with pytest.raises(ValueError, match='unknown loss_type'):
    losses.validate_loss_type('l3')
  with pytest.raises(ValueError, match='huber_delta'):
    losses.validate_loss_type('huber', 0.0)
