"""Proof of every exported file: parity with Keras, PCK through the eval path, latency, report.

- Parity on check images: max and mean absolute heatmap difference against the Keras model,
  the share of keypoints decoded within one heatmap pixel of Keras' (same decoder), and, for
  files with the in-graph decoder, the largest gap between their keypoints and the codec's decode
  of their own heatmaps. A float format beyond its tolerance FAILS the export.
- Accuracy: PCK, PCK@0.1 and mean error on the val records (the --mode=eval path), with 95%
  paired bootstrap intervals of each format's PCK@0.1 drop and mean error change from Keras
  (hourglass.evaluation.bootstrap); for a detector, box AP and recall on the val frames.
- Speed: median latency of one image with 1 and 2 threads (hourglass.export.latency: TensorFlow
  models in a child process, since TensorFlow's thread pools are fixed once created).
Every model is used through the Predictor interface (hourglass.inference.predictors) alone.
- The checks of those figures, export_report.json and export_report.md: proof_report.py
  (usage.py renders the on-device usage notes).
"""

import os

import numpy as np

from hourglass.detection import evaluation as detection_evaluation
from hourglass.evaluation import bootstrap, evaluator
from hourglass.export import FLOAT_FORMATS
from hourglass.export import latency as latency_lib
from hourglass.export.config import ProofConfig  # noqa: F401  (prove takes one)
from hourglass.export.proof_report import checks
from hourglass.inference.loading import load_predictor
from hourglass.keypoints import metrics

PER_KEYPOINT = '_per_keypoint'  # accuracy()'s arrays, dropped from the report


def open_export(fmt, path, num_threads=None):
  """The Predictor of the export `fmt` (hourglass.export.FORMATS) at `path`.

  Args:
    num_threads: CPU threads of a .tflite / .onnx / .mnn runtime (None: its default).
  Raises:
    RuntimeError: the file at `path` loads as another format than `fmt`'s (an exporter bug).
  """
  predictor = load_predictor(path, num_threads=num_threads)
  expected = fmt if fmt == 'saved_model' else fmt.split('_')[0]  # tflite_uint8 -> tflite
  if predictor.format != expected:
    raise RuntimeError(f'{path}: the {fmt} export loads as a {predictor.format} model')
  return predictor


def parity(keras_heatmaps, predictor, images, decoder, counted=None):
  """Compares a predictor's outputs with the Keras heatmaps.

  Args:
    keras_heatmaps: float32 [N, h, w, K] of the Keras model on `images`.
    predictor: hourglass.inference.predictors.Predictor of the export.
    images: float32 [N, H, W, 3].
    counted: bool [N, K], the keypoints the keypoint distances count (labelled or confident:
      an absent keypoint's flat heatmap puts its argmax anywhere); None counts all.
  Returns:
    dict max_abs_diff, mean_abs_diff, keypoints_within_1px (share, heatmap pixels),
    keypoint_distance_px (mean distance of the decoded keypoints from Keras', input pixels),
    keypoints_counted (how many keypoints those two count; both None when 0), and with an
    in-graph decoder decoder_max_gap_px.
  """
  outputs = predictor.outputs(images)
  heatmaps = outputs['heatmaps']
  diff = np.abs(heatmaps.astype(np.float64) - keras_heatmaps)
  ref_xy, _ = predictor.decode(keras_heatmaps, decoder)
  own_xy, _ = predictor.decode(heatmaps, decoder)
  dist = np.linalg.norm(own_xy - ref_xy, axis=-1)  # input pixels
  counted = np.ones(dist.shape, bool) if counted is None else np.asarray(counted, bool)
  dist = dist[counted]
  dist_hm = dist / predictor.codec.stride
  result = {'max_abs_diff': float(diff.max()), 'mean_abs_diff': float(diff.mean()),
            'keypoints_within_1px': float(np.mean(dist_hm <= 1.0)) if dist.size else None,
            'keypoint_distance_px': float(np.mean(dist)) if dist.size else None,
            'keypoints_counted': int(dist.size),
            'keras_heatmap_peak': float(np.max(keras_heatmaps)),
            'keras_heatmap_scale': heatmap_scale(keras_heatmaps)}
  if 'keypoints' in outputs:
    own_decoder = predictor.in_graph_decoder or decoder
    exact_xy, exact_scores = predictor.decode(heatmaps, own_decoder)
    result['decoder_max_gap_px'] = float(np.max(np.abs(outputs['keypoints'] - exact_xy)))
    result['decoder_within_1px'] = float(np.mean(
        np.linalg.norm(outputs['keypoints'] - ref_xy, axis=-1) / predictor.codec.stride <= 1.0))
    result['decoder_max_score_gap'] = float(np.max(np.abs(outputs['scores'] - exact_scores)))
  return result


def heatmap_scale(heatmaps):
  """The unit of the parity tolerance: the heatmaps' largest magnitude, at least 1."""
  return max(1.0, float(np.max(np.abs(heatmaps))))


def check_parity(fmt, result, config):
  """A failure message when a float format is beyond tolerance, else None."""
  if fmt not in FLOAT_FORMATS:
    return None
  relative = (config.parity_tolerance_fp16 if fmt == 'tflite_fp16' else
              config.parity_tolerance)
  scale = result.get('keras_heatmap_scale', 1.0)
  tolerance = relative * scale
  problems = []
  if not np.isfinite(result['max_abs_diff']) or result['max_abs_diff'] > tolerance:
    unit = f' ({relative:g} x heatmap scale {scale:.4g})' if scale > 1.0 else ''
    problems.append(f'max heatmap difference {result["max_abs_diff"]:.3g} > tolerance '
                    f'{tolerance:g}{unit}')
  # float16 heatmaps have near-ties that the in-graph argmax may break differently: reported,
  # not failed (the heatmap tolerance still applies).
  if (fmt != 'tflite_fp16' and
      result.get('decoder_max_gap_px', 0.0) > config.decoder_tolerance_px):
    problems.append(f'in-graph keypoints {result["decoder_max_gap_px"]:.3g} px from the '
                    f'codec decode (> {config.decoder_tolerance_px:g})')
  return '; '.join(problems) or None


def accuracy(predictor, dataset, config):
  """PCK, PCK@0.1 and mean error of a predictor through the --mode=eval path.

  Returns:
    dict of the figures, and under PER_KEYPOINT (for bootstrap.paired_intervals; not written out):
    'mask' [N, K] bool (labelled), 'correct_at_0.1' [N, K] bool, 'error_px' [N, K] original px.
  """
  eval_config = evaluator.EvalConfig(decoder=config.decoder,
                                     score_threshold=config.score_threshold)
  collected = evaluator.collect_predictions(predictor, dataset, eval_config)
  result, _ = evaluator.compute_metrics(collected, predictor.definition, predictor.codec,
                                        eval_config)
  curve = result['pck_curve']
  at01 = curve['pck'][int(np.argmin(np.abs(np.asarray(curve['thresholds']) - 0.1)))]
  mask = collected['visibility'] > 0
  codec = predictor.codec
  errors_hm = metrics.euclidean_errors(collected['predicted'], collected['keypoints']) / codec.stride
  errors_px = metrics.euclidean_errors(collected['predicted_original'],
                                       collected['original_keypoints'])
  per_keypoint = {
      'mask': mask,
      'correct_at_0.1': metrics.pck_correct(errors_hm, mask, codec.heatmap_size, 0.1),
      'error_px': np.where(mask, errors_px, 0.0)}
  return {'pck': result['pck']['total'], 'pck_at_0.1': float(at01),
          'mean_error_px': result['mean_error_px'], 'num_objects': result['num_objects'],
          'coco_ap': result.get('coco', {}).get('AP'), PER_KEYPOINT: per_keypoint}


def detector_accuracy(predictor, dataset, config):
  """Box AP, AP@0.5 and recall@0.5 of a detector's maps on the val frames of `dataset`
  (pipelines/detector_dataset.py build_eval_dataset), in original pixels."""
  del config  # the detector's decoding settings are its own
  scores = detection_evaluation.score_frames(
      dataset, lambda batch: predictor(batch['image'].numpy()), predictor.codec.stride)
  return {'box_ap': scores['ap'], 'box_ap50': scores['ap50'], 'recall50': scores['recall50'],
          'num_objects': scores['objects']}


def latency(predictor, path, config, image):
  """{threads: median ms} of one image through the model of `predictor`, loaded from `path`
  again at each thread count (hourglass.export.latency; a TensorFlow model in a child process).

  Args:
    image: float32 [1, H, W, 3] RGB 0..255, the image a runtime file is timed on (the child
      process of a TensorFlow model draws its own).
  """
  out = {}
  for threads in config.latency_threads:
    if predictor.backend == 'tensorflow':
      seconds = latency_lib.tf_latency(path, threads, config.latency_runs)
    else:
      seconds = latency_lib.runtime_latency(path, threads, config.latency_runs, image)
    out[str(threads)] = 1000.0 * seconds
  return out


def file_size(path):
  if os.path.isdir(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files)
  return os.path.getsize(path)


def _accuracy_deltas(row, keras_row):
  if 'box_ap' in row and 'box_ap' in keras_row:
    row['box_ap_drop_points'] = 100.0 * (keras_row['box_ap'] - row['box_ap'])
  if 'pck' not in row or 'pck' not in keras_row:
    return
  row['pck_drop_points'] = 100.0 * (keras_row['pck'] - row['pck'])
  row['pck_at_0.1_drop_points'] = 100.0 * (keras_row['pck_at_0.1'] - row['pck_at_0.1'])
  base = keras_row['mean_error_px']
  row['mean_error_change_pct'] = (100.0 * (row['mean_error_px'] - base) / base
                                  if base > 0 else None)
  if PER_KEYPOINT in row and PER_KEYPOINT in keras_row:
    row['interval_95'] = bootstrap.paired_intervals(keras_row[PER_KEYPOINT],
                                                    row[PER_KEYPOINT])


def counted_keypoints(keras_predictor, keras_heatmaps, labelled, config):
  """(bool [N, K] keypoints the parity distances count, how they were chosen, in words).

  The labelled keypoints of the check images when their labels are known, else those whose
  Keras heatmap peak reaches config.confident_score.
  """
  if labelled is not None:
    return np.asarray(labelled, bool), 'labelled in the val records'
  _, scores = keras_predictor.decode(keras_heatmaps.astype(np.float32), config.decoder)
  return (scores >= config.confident_score,
          f'confident in the Keras model (heatmap peak >= {config.confident_score:g}; the check '
          f'images have no labels)')


def prove(exports, keras_predictor, keras_path, check_images, dataset, config,
          check_labelled=None, accuracy_fn=accuracy):
  """Checks every export and gathers the report.

  Args:
    exports: {format: (path, metadata)} from hourglass.export.runner.export_all.
    keras_predictor: hourglass.inference.predictors.KerasPredictor of the source model.
    keras_path: the bundle directory (for the Keras latency run).
    check_images: float32 [N, H, W, 3] RGB 0..255 (val crops) for parity.
    dataset: the eval dataset for PCK, or None to skip accuracy.
    config: ProofConfig.
    check_labelled: bool [N, K], the check images' labelled keypoints, or None when they have
      no labels (the parity distances then count the keypoints confident in Keras).
    accuracy_fn: (predictor, dataset, config) -> figures: `accuracy` (PCK and errors), or
      `detector_accuracy` (box AP) for a detector.
  Returns:
    the report dict; report['failures'] lists failed float formats with the reason.
  """
  from hourglass.export import usage  # pylint: disable=g-import-not-at-top
  images = np.asarray(check_images, np.float32)
  keras_heatmaps = keras_predictor(images).astype(np.float64)
  counted, counted_as = counted_keypoints(keras_predictor, keras_heatmaps, check_labelled, config)
  latency_image = images[:1]
  keras_row = {'format': 'keras', 'path': keras_path,
               'size_bytes': file_size(os.path.join(keras_path, 'model.keras'))
               if os.path.isdir(keras_path) else file_size(keras_path)}
  if dataset is not None:
    keras_row.update(accuracy_fn(keras_predictor, dataset, config))
  if config.latency_threads:
    keras_row['latency_ms'] = latency(keras_predictor, keras_path, config, latency_image)
  rows, failures = [], []
  for fmt, (path, meta) in exports.items():
    predictor = open_export(fmt, path)
    row = {'format': fmt, 'path': path, 'size_bytes': file_size(path),
           'parity': parity(keras_heatmaps, predictor, images, config.decoder, counted)}
    problem = check_parity(fmt, row['parity'], config)
    row['status'] = f'FAILED: {problem}' if problem else 'ok'
    if problem:
      failures.append(f'{fmt} ({path}): {problem}')
    if dataset is not None:
      row.update(accuracy_fn(predictor, dataset, config))
      _accuracy_deltas(row, keras_row)
    if config.latency_threads:
      row['latency_ms'] = latency(predictor, path, config, latency_image)
    row['usage'] = usage.usage_lines(fmt, meta)
    rows.append(row)
  for row in [keras_row] + rows:
    row.pop(PER_KEYPOINT, None)
  return {'keras': keras_row, 'formats': rows, 'failures': failures,
          'check_samples': int(len(images)), 'decoder': config.decoder,
          'keypoints_counted_as': counted_as,
          'tolerance': {'float32': config.parity_tolerance,
                        'float16': config.parity_tolerance_fp16},
          'checks': checks(keras_row, rows)}
