"""The quickstart (`python main.py` with no flags): synthetic records -> train -> eval -> export
TFLite -> predict one image, then where everything is and the val PCK.

`python main.py --smoke` runs the same chain tiny (a test). Every quickstart setting below is a
default only: a flag given on the command line wins. Outputs go under --output_dir (default
./quickstart_output), or beside --model_dir when only that is given:
  records/  model/  eval/  export/  prediction/
"""

import glob
import logging
import os
import time

import numpy as np

from core.errors import IncompleteRunError, UserInputError

# name -> (full quickstart, --smoke). Tuned on 2 CPU cores: the full run stays under 10 minutes.
# No horizontal flip: the synthetic creature shows its side by colour (left limbs red), and a
# mirror flip that swaps the left/right labels would teach "red is left" and "red is right" at
# once (measured, 96x96, 6 epochs, before the near-zero head init: val PCK 0.41 with flips, 0.56
# without).
SETTINGS = {
    'synthetic_count': (1200, 32), 'synthetic_val_count': (200, 8),
    'model_input_shape': ('96x96', '64x64'), 'num_stacks': (1, 1), 'mobile': (True, False),
    'tiny': (True, True), 'batch_size': (16, 8), 'total_epoch': (8, 1), 'flip_prob': (0.0, 0.0),
    'steps_per_epoch': (None, 3), 'learning_rate': (2e-3, 1e-3), 'decay_type': ('cosine', 'none'),
    'warmup_epochs': (0.5, 0.0), 'steps_per_loop': (25, 3), 'checkpoint_steps': (1000, 1000),
    'num_workers': (1, 1), 'source': ('synthetic', 'synthetic'), 'check_samples': (32, 4),
    'latency_runs': (10, 2), 'calibration_samples': (64, 4), 'formats': (['tflite'], ['tflite']),
    'latency_threads': (None, []),  # the smoke run times nothing (None: the flag's default)
}


def _set_default(flag_values, name, value):
  """Sets a flag unless the user gave it on the command line."""
  if name in flag_values and not flag_values[name].present and value is not None:
    flag_values[name].value = value


def _paths(flag_values):
  root = flag_values.output_dir
  if not root:
    root = (os.path.dirname(os.path.abspath(flag_values.model_dir)) if flag_values.model_dir
            else os.path.abspath('quickstart_output'))
  return {'root': root, 'records': flag_values.records_dir or os.path.join(root, 'records'),
          'model': flag_values.model_dir or os.path.join(root, 'model'),
          'eval': os.path.join(root, 'eval'), 'export': os.path.join(root, 'export'),
          'prediction': os.path.join(root, 'prediction')}


def _pck_at(result, threshold):
  curve = result.get('pck_curve', {})
  thresholds = np.asarray(curve.get('thresholds', []))
  hits = np.flatnonzero(np.isclose(thresholds, threshold))
  return float(curve['pck'][hits[0]]) if len(hits) else float('nan')


def _export(flag_values, paths):
  """TFLite export (modes/export.py); returns the .tflite path.

  Raises:
    UserInputError: the export failed its parity check (or wrote no .tflite file).
  """
  from modes import export as export_mode  # pylint: disable=g-import-not-at-top
  flag_values.model_dir = paths['model']
  flag_values.output_dir = paths['export']
  report = export_mode.run(flag_values)
  if report.get('failures'):
    raise UserInputError(f'parity check failed: {"; ".join(report["failures"])}')
  found = sorted(glob.glob(os.path.join(paths['export'], '*.tflite')))
  if not found:
    raise UserInputError(f'{paths["export"]}: the export wrote no .tflite file')
  return found[0]


def _stage(name, failures, function, *args):
  """Runs one stage after training; a failure is kept for the summary instead of ending the
  run, so that the trained model's other results are still made. Returns its result or None."""
  try:
    return function(*args)
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, UserInputError):  # a bug, not bad input: keep its traceback in the log
      logging.exception('quickstart stage %s failed', name)
    failures.append(f'{name}: {type(e).__name__}: {e}')
    print(f'warning: the quickstart {name} stage failed ({type(e).__name__}: {e})')
    return None


def _one_image(records_dir):
  images = sorted(glob.glob(os.path.join(records_dir, 'synthetic_data', 'images', '**', '*.*'),
                            recursive=True))
  val = [p for p in images if 'val' in os.path.basename(p)] or images
  return val[0] if val else None


def run(flag_values):
  """Records, training, eval, TFLite export and one prediction.

  Raises:
    IncompleteRunError: after the summary, when the eval, export or predict stage failed (the
      prediction then uses the Keras model if the export failed).
  """
  from modes import eval as eval_mode, make_records, predict, train
  start = time.time()
  smoke = flag_values.smoke
  for name, values in SETTINGS.items():
    _set_default(flag_values, name, values[1] if smoke else values[0])
  paths = _paths(flag_values)
  print(f'quickstart{" (smoke)" if smoke else ""}: everything goes under {paths["root"]}')
  flag_values.records_dir = paths['records']
  flag_values.output_dir = None
  make_records.run(flag_values)
  made = time.time()
  flag_values.model_dir = paths['model']
  train.run(flag_values)
  trained = time.time()
  failures = []
  flag_values.model_path = paths['model']
  flag_values.output_dir = paths['eval']
  result = _stage('eval', failures, eval_mode.run, flag_values) or {}
  tflite = _stage('export', failures, _export, flag_values, paths)
  image = _one_image(paths['records'])
  if image:
    flag_values.model_path = tflite or paths['model']
    flag_values.input = image
    flag_values.output = paths['prediction']
    if not _stage('predict', failures, predict.run, flag_values):
      image = None
  print(f'\n== quickstart done in {time.time() - start:.0f} s (records {made - start:.0f} s, '
        f'training {trained - made:.0f} s) ==')
  summary = {'pck': None, 'pck_0.1': None, 'mean_error_px': None, 'paths': paths,
             'tflite': tflite, 'prediction_model': flag_values.model_path if image else None}
  if result:
    summary.update(pck=result['pck']['total'], mean_error_px=result['mean_error_px'])
    summary['pck_0.1'] = _pck_at(result, 0.1)
    print(f'val PCK@{flag_values.score_threshold:g}: {summary["pck"]:.4f}   PCK@0.1: '
          f'{summary["pck_0.1"]:.4f}   mean error: {summary["mean_error_px"]:.2f} px '
          f'(original image)')
  print(f'records:    {paths["records"]}\nmodel:      {paths["model"]} (best_model/, '
        f'last_model/, checkpoints/, logs/, metrics.csv, training_curves.png)\n'
        f'eval:       {paths["eval"]}')
  if tflite:
    print(f'tflite:     {tflite}')
  if image:
    print(f'prediction: {paths["prediction"]} (on {image}, with {flag_values.model_path})')
  summary['seconds'] = time.time() - start
  if failures:
    raise IncompleteRunError('the quickstart finished with failed stages (their results are '
                             'missing; the others are above):\n  ' + '\n  '.join(failures))
  return summary
