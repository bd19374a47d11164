"""float16 forced on CPU with the LossScaleOptimizer: scale dynamics, skipped non-finite steps,
and the stop after --max_nonfinite_steps in a row (test hook: faults.Faults.nonfinite_steps).
One trainer is driven through phases with the stop hook (tests/test_train_support.py)."""

from tests import test_train_support as support


def test_float16_loss_scale_skips_and_stops(tmp_path):
  phases = support.run_subprocess({'mode': 'float16', 'model_dir': str(tmp_path / 'model')})
  clean, skip, epoch1, end = (phases[k] for k in ('clean2', 'skip3', 'epoch1', 'end'))
  # steps 0, 1 finite: the scale keeps its start value (growth needs 3 finite steps)
  assert clean['step'] == 2 and clean['iterations'] == 2 and clean['scale'] == 256.0
  # step 2 poisoned: skipped -> the trainable weights did not move, the scale halved, the
  # optimizer step (and so the LR schedule) did not advance
  assert skip['step'] == 3 and skip['iterations'] == 2 and skip['scale'] == 128.0
  assert skip['weights'] == clean['weights']
  # resumed from ckpt-2 (no checkpoint is written while losses are non-finite): steps 2, 3
  # poisoned -> 64; steps 4, 5, 6 finite -> doubled to 128; step 7 finite
  assert epoch1['step'] == 8 and epoch1['iterations'] == 6 and epoch1['scale'] == 128.0
  assert epoch1['weights'] != skip['weights']
  # steps 13, 14, 15 poisoned in a row with --max_nonfinite_steps=3: a clear stop before step 16,
  # and the newest checkpoint is the last good one (step 13)
  assert end['step'] == 16 and end['iterations'] == 11   # 13 steps, 2 skipped
  assert 'non-finite losses in a row' in end['error']
  assert 'max_nonfinite_steps=3' in end['error'] and 'ckpt-13' in end['error']
  assert end['latest'].endswith('ckpt-13')
