"""float16 forced on CPU with the LossScaleOptimizer: scale dynamics, skipped non-finite steps,
and the stop after --max_nonfinite_steps in a row (test hook: faults.Faults.nonfinite_steps).
One trainer is driven through phases with the stop hook (tests/support/tiny_training.py)."""

from tests.support import tiny_training as support


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


def test_bfloat16_training_through_main_keeps_float32_weights_that_export(tmp_path):
  """--mixed_precision on this CPU trains in bfloat16 (the Keras mixed policy): its losses are
  finite and fall, the saved model is float32 and its TFLite export matches it like a float32
  model's does."""
  import math
  import re
  import subprocess
  import sys

  import numpy as np

  from hourglass.export import proof, runner
  from hourglass.inference.loading import load_predictor
  from hourglass.model import bundle as bundle_lib
  records, model_dir = str(tmp_path / 'records'), str(tmp_path / 'model')
  support.make_records(records, count=16, val_count=4)
  proc = subprocess.run(
      [sys.executable, 'main.py', '--mode=train', f'--records_dir={records}',
       f'--model_dir={model_dir}', '--mixed_precision', '--mobile', '--tiny', '--num_stacks=1',
       '--batch_size=4', '--train_steps=18', '--steps_per_loop=3', '--learning_rate=5e-3',
       '--decay_type=none', '--warmup_epochs=0', '--flip_prob=0'],
      cwd=support.ROOT, capture_output=True, text=True, timeout=600)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
  start = next(line for line in proc.stdout.splitlines() if line.startswith('training '))
  assert start.endswith(', bfloat16'), start
  # the startup line says why, and warns where this CPU emulates bfloat16
  from core import cpu
  said = next(line for line in proc.stdout.splitlines() if 'precision bfloat16: ' in line)
  emulated = not cpu.native_bfloat16(cpu.cpu_flags())
  assert said.startswith('warning: ') == emulated, said
  losses = [float(v) for v in re.findall(r'^train \[.*? loss ([0-9.e+-]+|nan|inf)', proc.stdout,
                                         re.M)]
  assert len(losses) == 6 and all(math.isfinite(v) for v in losses), losses
  assert np.mean(losses[-2:]) < np.mean(losses[:2]), losses
  model, config, definition, codec_settings = bundle_lib.load_bundle(
      bundle_lib.best_model_dir(model_dir))
  assert {w.dtype for w in model.weights} == {'float32'}
  assert all(layer.compute_dtype == 'float32' for layer in model.layers)
  keras_predictor = load_predictor(model_dir)
  exports, _ = runner.export_all(model, config, definition, keras_predictor.codec,
                                 runner.ExportConfig(formats=('tflite',),
                                                     output_dir=str(tmp_path / 'export')))
  images = np.random.default_rng(0).uniform(0, 255, (4,) + keras_predictor.input_shape + (3,))
  images = images.astype(np.float32)
  parity = proof.parity(keras_predictor(images), load_predictor(exports['tflite'][0]), images,
                        'dark')
  assert parity['max_abs_diff'] < 1e-3, parity
