"""Several replicas on logical CPU devices: SyncBN proven, loss curves of 2 vs 1 replica.

Logical devices must be configured before TensorFlow initialises, so each case runs in a fresh
subprocess (tests/test_train_support.py).
"""

import pytest

from tests import test_train_support as support


def test_syncbn_two_replicas_equal_one_replica_and_plain_bn_differs():
  result = support.run_subprocess({'mode': 'syncbn'})
  out_scale, grad_scale = result['scale']
  sync_out, sync_grad = result['sync']
  plain_out, plain_grad = result['plain']
  # SyncBN: same batch statistics as one replica over the whole global batch.
  assert sync_out <= 1e-4 * max(out_scale, 1.0), result
  assert sync_grad <= 1e-3 * grad_scale, result
  # Per-replica BN normalises each half by its own statistics: visibly different.
  assert plain_out > 100 * max(sync_out, 1e-6) and plain_out > 1e-3 * out_scale, result
  assert plain_grad > 10 * max(sync_grad, 1e-9), result


@pytest.mark.xfail(run=False, reason=(
    'open (issue 6): step 1 losses of 1 and 2 replicas are equal (3e-7 relative: same data, same '
    'initial weights), but from step 2 they drift and the gap grows ~10x per step: Adam 2e-3 '
    '1.1% at step 2, 5.5% at step 4; SGD 0.01 5e-5, 2e-3, 1.5e-2. Suspected: rounding amplified '
    'by SyncBN variance as E[x^2]-E[x]^2 over all-reduced sums (the tiny model\'s deepest BN sees '
    '16 values per channel) and by Adam\'s sign-like first steps; not run (5 minutes of CI) '
    'until fixed'))
def test_two_cpu_replicas_follow_the_one_replica_loss_curve(tmp_path):
  base = dict(total_epochs=1, steps_per_epoch=4, steps_per_loop=2, checkpoint_steps=100,
              learning_rate=2e-3, decay_type='none')
  results = support.run_subprocess({
      'cpu_replicas': 2, 'sync_bn': True, 'batch': 4, 'count': 32, 'shuffle_seed': 5,
      'runs': [dict(base, model_dir=str(tmp_path / 'one'), one_replica=True),
               dict(base, model_dir=str(tmp_path / 'two'))]})
  one, two = results
  assert one['replicas'] == 1 and two['replicas'] == 2
  assert [s for s, _ in one['history']] == [s for s, _ in two['history']] == [2, 4]
  for (_, a), (_, b) in zip(one['history'], two['history']):
    assert b == pytest.approx(a, rel=2e-3), (one['history'], two['history'])
  # the curve moved, so matching it is not trivial
  assert one['history'][-1][1] < one['history'][0][1]
