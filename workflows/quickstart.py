"""The quickstart chain: synthetic records -> train -> eval -> export TFLite -> predict one image,
then where everything is and the val PCK.

A failure after training is kept for the summary instead of ending the run, so that the trained
model's other results are still made; the run then raises IncompleteRunError.
"""

import dataclasses
import glob
import logging
import os
import time

import numpy as np

from core.errors import IncompleteRunError, UserInputError
from workflows import evaluate, export, make_records, predict, train


@dataclasses.dataclass
class QuickstartConfig:
  """Every stage's settings.

  Attributes:
    paths: layout()'s folders.
    smoke: the tiny chain (a test).
    make_records: records.make_records.MakeRecordsConfig, writing paths['records'].
    train, evaluate, export: workflows.config's TrainRunConfig, EvaluateConfig, ExportRunConfig.
    predict: workflows.config.PredictRunConfig; its model (the TFLite file when the export made
      one, else the Keras model) and input (one val image of the records) are chosen here.
  """
  paths: dict
  smoke: bool
  make_records: object
  train: object
  evaluate: object
  export: object
  predict: object


def layout(output_dir, model_dir, records_dir):
  """The quickstart's folders: under output_dir (default ./quickstart_output), or beside
  model_dir when only that is given; records_dir and model_dir keep their places."""
  root = output_dir
  if not root:
    root = (os.path.dirname(os.path.abspath(model_dir)) if model_dir
            else os.path.abspath('quickstart_output'))
  return {'root': root, 'records': records_dir or os.path.join(root, 'records'),
          'model': model_dir or os.path.join(root, 'model'),
          'eval': os.path.join(root, 'eval'), 'export': os.path.join(root, 'export'),
          'prediction': os.path.join(root, 'prediction')}


def _pck_at(result, threshold):
  curve = result.get('pck_curve', {})
  thresholds = np.asarray(curve.get('thresholds', []))
  hits = np.flatnonzero(np.isclose(thresholds, threshold))
  return float(curve['pck'][hits[0]]) if len(hits) else float('nan')


def _evaluate(config, log):
  result, output_dir = evaluate.run(config, log)
  log(evaluate.summary(result, output_dir))
  return result


def _export(config):
  """The TFLite export; returns the .tflite path.

  Raises:
    UserInputError: the export failed its parity check (or wrote no .tflite file).
  """
  report = export.run(config)
  if report.get('failures'):
    raise UserInputError(f'parity check failed: {"; ".join(report["failures"])}')
  out = config.export.output_dir
  found = sorted(glob.glob(os.path.join(out, '*.tflite')))
  if not found:
    raise UserInputError(f'{out}: the export wrote no .tflite file')
  return found[0]


def _predict(config, log):
  result = predict.run(config, log)
  log(predict.summary(result))
  return result


def _stage(name, failures, log, function, *args):
  """Runs one stage after training; a failure is kept for the summary instead of ending the
  run, so that the trained model's other results are still made. Returns its result or None."""
  try:
    return function(*args)
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, UserInputError):  # a bug, not bad input: keep its traceback in the log
      logging.exception('quickstart stage %s failed', name)
    failures.append(f'{name}: {type(e).__name__}: {e}')
    log(f'warning: the quickstart {name} stage failed ({type(e).__name__}: {e})')
    return None


def _one_image(records_dir):
  images = sorted(glob.glob(os.path.join(records_dir, 'synthetic_data', 'images', '**', '*.*'),
                            recursive=True))
  val = [p for p in images if 'val' in os.path.basename(p)] or images
  return val[0] if val else None


def _records_and_model(config, log):
  """The records and training stages (whose failures end the run). Returns their seconds."""
  start = time.time()
  manifest, seconds = make_records.run(config.make_records)
  for line in make_records.summary_lines(manifest, seconds):
    log(line)
  made = time.time()
  _, trainer = train.run(config.train, log)
  log(train.summary(trainer))
  return made - start, time.time() - made


def _report(config, summary, started, seconds, image):
  """The closing lines: times, the val figures, where every output is."""
  paths = config.paths
  lines = [f'\n== quickstart done in {time.time() - started:.0f} s (records {seconds[0]:.0f} s, '
           f'training {seconds[1]:.0f} s) ==']
  if summary['pck'] is not None:
    lines.append(f'val PCK@{config.evaluate.evaluation.score_threshold:g}: '
                 f'{summary["pck"]:.4f}   PCK@0.1: {summary["pck_0.1"]:.4f}   mean error: '
                 f'{summary["mean_error_px"]:.2f} px (original image)')
  lines.append(f'records:    {paths["records"]}\nmodel:      {paths["model"]} (best_model/, '
               f'last_model/, checkpoints/, logs/, metrics.csv, training_curves.png)\n'
               f'eval:       {paths["eval"]}')
  if summary['tflite']:
    lines.append(f'tflite:     {summary["tflite"]}')
  if image:
    lines.append(f'prediction: {paths["prediction"]} (on {image}, with '
                 f'{summary["prediction_model"]})')
  return lines


def run(config, log=print):
  """Records, training, eval, TFLite export and one prediction.

  Returns:
    {'pck', 'pck_0.1', 'mean_error_px', 'paths', 'tflite', 'prediction_model', 'seconds'}.
  Raises:
    IncompleteRunError: after the summary, when the eval, export or predict stage failed (the
      prediction then uses the Keras model if the export failed).
  """
  started = time.time()
  log(f'quickstart{" (smoke)" if config.smoke else ""}: everything goes under '
      f'{config.paths["root"]}')
  seconds = _records_and_model(config, log)
  failures = []
  result = _stage('eval', failures, log, _evaluate, config.evaluate, log) or {}
  tflite = _stage('export', failures, log, _export, config.export)
  image = _one_image(config.paths['records'])
  model = tflite or config.paths['model']
  if image:
    predict_config = dataclasses.replace(
        config.predict, model_path=model,
        predict=dataclasses.replace(config.predict.predict, input=image))
    if not _stage('predict', failures, log, _predict, predict_config, log):
      image = None
  summary = {'pck': None, 'pck_0.1': None, 'mean_error_px': None, 'paths': config.paths,
             'tflite': tflite, 'prediction_model': model if image else None}
  if result:
    summary.update(pck=result['pck']['total'], mean_error_px=result['mean_error_px'])
    summary['pck_0.1'] = _pck_at(result, 0.1)
  for line in _report(config, summary, started, seconds, image):
    log(line)
  summary['seconds'] = time.time() - started
  if failures:
    raise IncompleteRunError('the quickstart finished with failed stages (their results are '
                             'missing; the others are above):\n  ' + '\n  '.join(failures))
  return summary
