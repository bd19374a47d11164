"""Preemption: a real training process killed at fixed points and by SIGTERM, restarted with the
same command each time, ends exactly where an uninterrupted run ends (step, learning rate, every
weight and optimizer slot within 1e-5), and never reads a partial checkpoint.

The kill points come from the trainer's test hook (modes/train.py reads
HOURGLASS_TEST_KILL_AT): 'after_step:N' (SIGKILL right after step N, before its checkpoint)
and 'before_latest:N' (SIGKILL after checkpoint N's files are written, before the state file
names it the latest); an active hook announces itself. Tiny model (64x64, 1 stack, tiny),
deterministic mode, 2 epochs of 6 steps, a checkpoint every 3 steps, BN's moving statistics as
training left them (--bn_statistics_batches=0: recomputing them at the run's end would overwrite
them, and the comparison would no longer see whether they survived each kill). The uninterrupted
reference runs beside the chain (2 cores). Every process has a timeout and is killed when the test
ends, a failed assertion included.
"""

import csv
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from tests.support.paths import ROOT

TOTAL_STEPS = 12


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  from records.make_records import make_records, MakeRecordsConfig
  directory = str(tmp_path_factory.mktemp('preempt') / 'records')
  make_records(MakeRecordsConfig(source='synthetic', output_dir=directory, input_shape=(64, 64),
                                 synthetic_count=24, synthetic_val_count=4, num_workers=1,
                                 progress=False))
  return directory


def _command(records, model_dir):
  return [sys.executable, '-u', os.path.join(ROOT, 'main.py'), '--mode=train',
          f'--records_dir={records}', f'--model_dir={model_dir}', '--num_stacks=1',
          '--nomobile', '--tiny', '--batch_size=4', '--total_epoch=2', '--deterministic',
          '--steps_per_loop=2', '--checkpoint_steps=3', '--keep_checkpoints=10',
          '--novalidate', '--bn_statistics_batches=0', '--learning_rate=2e-3', '--seed=3']


class Run:
  """A training process whose output lines are collected as they come.

  Every Run is listed in `Run.started_runs` until the `cleanup` fixture kills what is left."""

  started_runs = []

  def __init__(self, records, model_dir, kill_at=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
    env.pop('HOURGLASS_TEST_KILL_AT', None)
    if kill_at:
      env['HOURGLASS_TEST_KILL_AT'] = kill_at
    self.proc = subprocess.Popen(_command(records, model_dir), cwd=ROOT, env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    Run.started_runs.append(self)
    self.lines, self.started = [], time.time()
    self.first_step = threading.Event()
    self._reader = threading.Thread(target=self._read, daemon=True)
    self._reader.start()

  def _read(self):
    for line in self.proc.stdout:
      self.lines.append(line)
      if line.startswith('train [') and ' loss ' in line:  # core.progress' training line
        self.first_step.set()

  def wait(self, timeout=300):
    code = self.proc.wait(timeout)
    self._reader.join(30)
    return code

  @property
  def text(self):
    return ''.join(self.lines)


@pytest.fixture
def cleanup():
  """Kills every training process a test started and left running (a failed assertion)."""
  yield
  while Run.started_runs:
    run = Run.started_runs.pop()
    if run.proc.poll() is None:
      run.proc.kill()
      run.proc.wait(30)


def _latest(model_dir):
  import tensorflow as tf
  path = tf.train.latest_checkpoint(os.path.join(model_dir, 'checkpoints'))
  return os.path.basename(path) if path else None


def _resumed_from(run):
  for line in run.lines:
    if line.startswith('resumed from '):
      return os.path.basename(line.split()[2].rstrip(':'))
  return None


def _state(model_dir):
  """{variable name: value} of the latest checkpoint (save_counter left out: it counts saves)."""
  import tensorflow as tf
  reader = tf.train.load_checkpoint(os.path.join(model_dir, 'checkpoints'))
  return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
          if 'save_counter' not in k and not k.startswith('_CHECKPOINTABLE_OBJECT_GRAPH')}


def _last_row(model_dir):
  with open(os.path.join(model_dir, 'metrics.csv')) as f:
    return list(csv.DictReader(f))[-1]


def test_killed_and_restarted_training_ends_like_an_uninterrupted_run(records, tmp_path, cleanup):
  reference_dir, chain_dir = str(tmp_path / 'reference'), str(tmp_path / 'chain')
  reference = Run(records, reference_dir)

  # 1. SIGKILL right after step 5 (mid epoch 1): checkpoint 3 stays the latest.
  a = Run(records, chain_dir, 'after_step:5')
  assert a.wait() == -signal.SIGKILL, a.text[-3000:]
  assert _latest(chain_dir) == 'ckpt-3'
  # A user with the variable set sees why the run died.
  assert 'warning: TEST HOOK active (kill_after_step=5)' in a.text, a.text[-3000:]

  # 2. Resumes from 3; SIGKILL between writing checkpoint 9 and naming it the latest.
  b = Run(records, chain_dir, 'before_latest:9')
  assert b.wait() == -signal.SIGKILL, b.text[-3000:]
  assert _resumed_from(b) == 'ckpt-3'
  assert os.path.exists(os.path.join(chain_dir, 'checkpoints', 'ckpt-9.index'))
  assert _latest(chain_dir) == 'ckpt-6'

  # 3. SIGTERM once it trains: it saves a checkpoint of the step it reached and exits 143.
  #    It resumed from 6, never from the partial 9.
  d = Run(records, chain_dir)
  assert d.first_step.wait(300), d.text[-3000:]
  d.proc.send_signal(signal.SIGTERM)
  assert d.wait() == 128 + signal.SIGTERM, d.text[-3000:]
  assert _resumed_from(d) == 'ckpt-6'
  stopped = [l for l in d.lines if 'stopped by SIGTERM at step' in l]
  assert stopped and 'Traceback' not in d.text, d.text[-3000:]
  step = int(stopped[0].split('at step ')[1].split(';')[0])
  assert 6 < step <= TOTAL_STEPS and _latest(chain_dir) == f'ckpt-{step}'

  # 4. The same command once more finishes the run.
  e = Run(records, chain_dir)
  assert e.wait() == 0, e.text[-3000:]
  assert reference.wait() == 0, reference.text[-3000:]

  ours, theirs = _state(chain_dir), _state(reference_dir)
  assert set(ours) == set(theirs) and len(ours) > 20
  step_keys = [k for k in ours if k.startswith('step/')]
  assert step_keys and all(int(ours[k]) == TOTAL_STEPS == int(theirs[k]) for k in step_keys)
  for key in ours:
    np.testing.assert_allclose(ours[key], theirs[key], atol=1e-5, err_msg=key)
  row, reference_row = _last_row(chain_dir), _last_row(reference_dir)
  assert int(row['step']) == int(reference_row['step']) == TOTAL_STEPS
  assert float(row['learning_rate']) == pytest.approx(float(reference_row['learning_rate']),
                                                      rel=1e-6)
