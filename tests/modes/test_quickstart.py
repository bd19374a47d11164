"""`python main.py --smoke`: the whole quickstart chain, tiny, as a user runs it."""

import json
import os
import re
import subprocess
import sys

from tests.support.paths import ROOT


def test_quickstart_smoke_runs_the_whole_chain(tmp_path):
  model_dir = tmp_path / 'model'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  proc = subprocess.run([sys.executable, 'main.py', '--smoke', f'--model_dir={model_dir}'],
                        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  out = proc.stdout
  # A first run carries no warning: none printed, none logged (absl writes "W<mmdd> ...").
  warnings = [line for line in (out + proc.stderr).splitlines()
              if line.lower().startswith('warning') or re.match(r'W\d{4} ', line)]
  assert not warnings, warnings
  assert 'val PCK@0.5:' in out and 'PCK@0.1:' in out and 'mean error:' in out, out[-2000:]
  # every stage left its files where the summary says
  assert (tmp_path / 'records' / 'manifest.json').is_file()
  for name in ('flags.txt', 'seed.json', 'metrics.csv', 'training_curves.png'):
    assert (model_dir / name).is_file(), name
  assert (model_dir / 'best_model' / 'model.keras').is_file()
  assert (model_dir / 'last_model' / 'model.keras').is_file()
  # The bundle carries the records' box margin, by which predict and eval crop detector boxes.
  with open(model_dir / 'best_model' / 'model_info.json') as f:
    crop = json.load(f)['crop']
  # ... and the object scale make_records measured, where the whole-frame search looks first.
  assert crop['box_margin'] == 1.25 and crop['box_min_side'] == 32.0
  low, median, high = crop['object_scale']
  assert 0 < low <= median <= high <= 1.5
  assert any((model_dir / 'checkpoints').glob('ckpt-*.index'))
  assert any((tmp_path / 'eval').iterdir())
  assert (tmp_path / 'prediction').exists()
  # The TFLite export was written and the prediction used it (not a silent Keras fallback).
  tflite = list((tmp_path / 'export').glob('*.tflite'))
  assert len(tflite) == 1 and f'tflite:     {tflite[0]}' in out, out[-2000:]
  assert f'with {tflite[0]})' in out, out[-2000:]
  with open(next((tmp_path / 'prediction').glob('*.json'))) as f:
    assert json.load(f)['model'].startswith('tflite'), 'predict did not run the TFLite model'


def test_a_failed_quickstart_stage_is_reported_and_fails_the_run(tmp_path, capsys):
  """The export fails (no calibration records for tflite_uint8): eval and the prediction (with
  the Keras model) are still made, the summary names the failure and the run raises, which
  main.py turns into an `error:` line and exit status 1."""
  import copy

  from absl import flags as absl_flags
  import pytest

  from core.errors import IncompleteRunError
  import flags  # noqa: F401  (defines every flag)
  from modes import quickstart
  values = copy.deepcopy(absl_flags.FLAGS)
  values(['main.py', '--smoke', f'--output_dir={tmp_path}', '--formats=tflite_uint8',
          f'--calibration_records={tmp_path / "no_such_records"}'])
  with pytest.raises(IncompleteRunError, match=r'failed stages.*\n  export: ') as error:
    quickstart.run(values)
  assert str(error.value).count('\n  ') == 1  # export only: eval and predict succeeded
  printed = capsys.readouterr().out
  assert 'val PCK@0.5:' in printed and 'tflite:' not in printed
  assert f'with {tmp_path / "model"})' in printed  # predicted with the Keras model
  assert (tmp_path / 'eval' / 'metrics.json').is_file()
