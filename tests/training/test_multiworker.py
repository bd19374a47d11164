"""MultiWorkerMirroredStrategy: two worker processes on loopback ports train in step; only the
chief writes into model_dir; a restart of both resumes from the chief's checkpoint.

The workers train the small BN model with SyncBN (tests/support/tiny_training.small_bn_model, as
the other replica tests do): what is tested is the strategy, the chief's outputs and the resume,
none of which depends on the network; tracing the SyncBN hourglass in four worker processes
costs minutes."""

import json
import os
import socket
import subprocess
import sys

from tests.support import tiny_training as support


def _free_ports(count):
  sockets = [socket.socket() for _ in range(count)]
  for s in sockets:
    s.bind(('127.0.0.1', 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _run_workers(settings, tmp_path, tag):
  ports = _free_ports(2)
  cluster = {'worker': [f'127.0.0.1:{p}' for p in ports]}
  procs = []
  for index in range(2):
    scratch = tmp_path / f'tmp_{tag}_{index}'
    scratch.mkdir()
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', TMPDIR=str(scratch),
               TF_CONFIG=json.dumps({'cluster': cluster, 'task': {'type': 'worker',
                                                                   'index': index}}))
    procs.append(subprocess.Popen(
        [sys.executable, support.__file__, json.dumps(settings)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env, cwd=os.path.dirname(support.ROOT + '/')))
  results = []
  try:
    for proc in procs:
      # The same limit as tiny_training.run_subprocess: two TensorFlow workers share two
      # loaded cores.
      out, err = proc.communicate(timeout=600)
      lines = [l for l in out.splitlines() if l.startswith('RESULT ')]
      assert proc.returncode == 0 and lines, err[-4000:]
      results.append(json.loads(lines[-1][len('RESULT '):])[0])
  finally:  # a timeout or a failed worker: the other one waits for it forever otherwise
    for proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=30)
  for index in range(2):  # non-chief scratch checkpoints were cleaned up
    assert not [n for n in os.listdir(tmp_path / f'tmp_{tag}_{index}')
                if n.startswith('hourglass-worker-ckpt-')]
  return results


def test_two_workers_train_in_step_and_resume(tmp_path):
  model_dir = str(tmp_path / 'model')
  run = dict(model_dir=model_dir, steps_per_epoch=4, steps_per_loop=2, checkpoint_steps=2,
             learning_rate=1e-3, decay_type='none')
  settings = {'model': 'small', 'strategy': 'multi_worker', 'sync_bn': True, 'batch': 4,
              'count': 32, 'shuffle_seed': 1, 'runs': [dict(run, total_epoch=1)]}
  chief, worker = _run_workers(settings, tmp_path, 'first')
  assert (chief['chief'], worker['chief']) == (True, False)
  assert chief['replicas'] == worker['replicas'] == 2
  assert chief['step'] == worker['step'] == 4
  assert chief['history'] == worker['history'] and len(chief['history']) == 2  # in step
  assert chief['latest'].endswith('ckpt-4')
  # only the chief's files are in model_dir
  assert sorted(os.listdir(model_dir)) == ['best_model', 'checkpoints', 'last_model', 'logs',
                                           'metrics.csv', 'training_curves.png']
  # a restart of both workers with one more epoch resumes at step 4
  settings['runs'] = [dict(run, total_epoch=2)]
  chief2, worker2 = _run_workers(settings, tmp_path, 'second')
  assert chief2['step'] == worker2['step'] == 8
  assert [s for s, _ in chief2['history']] == [6, 8]
  assert chief2['history'] == worker2['history']
