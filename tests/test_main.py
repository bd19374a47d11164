"""The entry point: dispatch, clear errors, --flagfile, --mode=summary output."""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _main(*args, cwd=ROOT):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), *args], cwd=cwd,
                        capture_output=True, text=True, env=env, timeout=300)


def test_unknown_mode_is_a_clear_error():
  result = _main('--mode=fly')
  assert result.returncode != 0
  assert "unknown --mode='fly'" in result.stderr and 'Traceback' not in result.stderr


def test_bad_input_shape_is_a_clear_error():
  result = _main('--mode=summary', '--model_input_shape=250x256')
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert '--model_input_shape' in result.stderr and '32' in result.stderr


def test_summary_through_a_flagfile(tmp_path):
  flagfile = tmp_path / 'tiny.flags'
  flagfile.write_text('--mode=summary\n--mobile\n--tiny\n--num_keypoints=17\n'
                      '--model_input_shape=192x192\n')
  result = _main(f'--flagfile={flagfile}')
  assert result.returncode == 0, result.stderr
  lines = dict(re.findall(r'^(\w+): (.+)$', result.stdout, re.M))
  assert lines['inference_trainable_params'] == '720,802'
  flops = int(lines['inference_flops'].split()[0].replace(',', ''))
  assert abs(flops - 1.47e9) / 1.47e9 < 0.01
  assert set(lines) >= {'training_total_params', 'training_trainable_params',
                        'inference_total_params'}
