"""`python main.py --smoke`: the whole quickstart chain, tiny, as a user runs it."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_smoke_runs_the_whole_chain(tmp_path):
  model_dir = tmp_path / 'model'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([sys.executable, 'main.py', '--smoke', f'--model_dir={model_dir}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  out = proc.stdout
  assert 'val PCK@0.5:' in out and 'PCK@0.1:' in out and 'mean error:' in out, out[-2000:]
  # every stage left its files where the summary says
  assert (tmp_path / 'records' / 'manifest.json').is_file()
  for name in ('flags.txt', 'seed.json', 'metrics.csv', 'training_curves.png'):
    assert (model_dir / name).is_file(), name
  assert (model_dir / 'best_model' / 'model.keras').is_file()
  assert any((model_dir / 'checkpoints').glob('ckpt-*.index'))
  assert any((tmp_path / 'eval').iterdir())
  assert (tmp_path / 'prediction').exists()
  assert 'prediction:' in out
