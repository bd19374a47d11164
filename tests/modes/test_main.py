"""The entry point: dispatch, clear errors, --flagfile, --mode=summary output."""

import os
import re
import subprocess
import sys

from tests.support.paths import ROOT


def _main(*args, cwd=ROOT):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3')
  return subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), *args], cwd=cwd,
                        capture_output=True, text=True, env=env, timeout=300)


def test_unknown_mode_is_a_clear_error():
  result = _main('--mode=fly')
  assert result.returncode != 0
  assert '--mode=fly: value should be one of <quickstart|' in result.stderr
  assert 'Traceback' not in result.stderr


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


# TensorFlow 2.21's start-up lines on a CPU machine, as printed before absl::InitializeLog().
STARTUP = '''WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1796252734.990919   26057 port.cc:153] oneDNN custom operations are on.
I0000 00:00:1796252734.991204   26057 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1796252735.570845   26057 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations.
To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1796252739.514425   26057 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)
W1202 10:00:01.000001   26057 gpu_device.cc:2344] Cannot dlopen some GPU libraries.
E1202 10:00:02.000001   26057 some_op.cc:99] a real error
error: our own message'''.splitlines()


def test_native_start_up_lines_are_filtered_by_level():
  from core.console import NativeLineFilter

  def kept(level, lines=STARTUP):
    line_filter = NativeLineFilter(level)  # one per stream: it remembers "no CUDA driver"
    return [line for line in lines if line_filter.keep(line)]

  assert kept(2) == STARTUP[-2:]
  assert kept(1) == STARTUP[6:]
  assert kept(0) == STARTUP
  # With a CUDA driver present, a failed cuInit is a real error and stays.
  assert kept(2, STARTUP[5:6]) == STARTUP[5:6]


def test_the_console_brings_tensorflow_lines_back_on_request(tmp_path):
  """HOURGLASS_VERBOSE=1: TensorFlow's start-up lines are shown (the quiet default is checked by
  tests/evaluation/test_eval.py's run of main.py), and the error is still the last line."""
  base = {k: v for k, v in os.environ.items() if k != 'TF_CPP_MIN_LOG_LEVEL'}
  loud = subprocess.run([sys.executable, os.path.join(ROOT, 'main.py'), '--mode=eval',
                         f'--model_path={tmp_path}', f'--records_dir={tmp_path}'],
                        capture_output=True, text=True, timeout=300,
                        env=dict(base, HOURGLASS_VERBOSE='1'))
  assert loud.returncode != 0
  assert re.search(r'^I\d{4} .*\] ', loud.stderr, re.M), loud.stderr
  assert loud.stderr.strip().splitlines()[-1].startswith(f'error: {tmp_path}/manifest.json')
