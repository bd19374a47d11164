"""Proof of every exported file: parity with Keras, PCK through the eval path, latency, report.

- Parity on check images: max and mean absolute heatmap difference against the Keras model,
  the share of keypoints decoded within one heatmap pixel of Keras' (same decoder), and, for
  files with the in-graph decoder, the largest gap between their keypoints and the codec's decode
  of their own heatmaps. A float format beyond its tolerance FAILS the export.
- Accuracy: PCK, PCK@0.1 and mean error on the val records (the --mode=eval path), with 95%
  paired bootstrap intervals of each format's PCK@0.1 drop and mean error change from Keras.
- Speed: median latency of one image with 1 and 2 threads (TF models in a child process, since
  TF's thread pools are fixed once created).
- export_report.json and export_report.md (hourglass.export_usage renders the usage notes).
"""

import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Tuple

import numpy as np

from hourglass.evaluation import evaluator
from hourglass.keypoints import metrics
from hourglass.export import FLOAT_FORMATS
from hourglass.inference.loading import load_predictor

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT_NAME = 'export_report'
PER_KEYPOINT = '_per_keypoint'  # accuracy()'s arrays, dropped from the report


@dataclasses.dataclass(frozen=True)
class ProofConfig:
  """Settings of the checks.

  Attributes:
    decoder: decoder of the parity and PCK checks ('argmax', 'quarter', 'dark').
    tolerance: largest max-abs heatmap difference allowed for float32 formats.
    tolerance_fp16: the same for tflite_fp16 (float16 weights).
    decoder_tolerance_px: largest gap (input px) between an in-graph decoder's keypoints and
      the codec's decode of the same file's heatmaps (float32 formats).
    latency_threads: thread counts to time; () skips timing.
    latency_runs: timed runs per measurement (median reported).
    pck_threshold: the PCK threshold (also reported: PCK@0.1 from the curve).
  """
  decoder: str = 'dark'
  tolerance: float = 1e-3
  tolerance_fp16: float = 2e-2
  decoder_tolerance_px: float = 0.05
  latency_threads: Tuple[int, ...] = (1, 2)
  latency_runs: int = 20
  pck_threshold: float = 0.5


def open_export(fmt, path):
  """The Predictor of an exported file or SavedModel dir (num_threads default)."""
  return load_predictor(path)


def parity(keras_heatmaps, predictor, images, decoder):
  """Compares a predictor's outputs with the Keras heatmaps.

  Args:
    keras_heatmaps: float32 [N, h, w, K] of the Keras model on `images`.
    predictor: hourglass.inference.predictors.Predictor of the export.
    images: float32 [N, H, W, 3].
  Returns:
    dict max_abs_diff, mean_abs_diff, keypoints_within_1px (share, heatmap pixels),
    keypoint_distance_px (mean distance of the decoded keypoints from Keras', input pixels), and
    with an in-graph decoder decoder_max_gap_px.
  """
  outputs = predictor.outputs(images) if hasattr(predictor, 'outputs') else None
  if outputs is None and predictor.name.startswith('saved_model:'):
    outputs = _saved_model_outputs(predictor, images)
  heatmaps = outputs['heatmaps'] if outputs else predictor(images)
  diff = np.abs(heatmaps.astype(np.float64) - keras_heatmaps)
  ref_xy, _ = predictor.decode(keras_heatmaps, decoder)
  own_xy, _ = predictor.decode(heatmaps, decoder)
  dist = np.linalg.norm(own_xy - ref_xy, axis=-1)  # input pixels
  dist_hm = dist / predictor.codec.stride
  result = {'max_abs_diff': float(diff.max()), 'mean_abs_diff': float(diff.mean()),
            'keypoints_within_1px': float(np.mean(dist_hm <= 1.0)),
            'keypoint_distance_px': float(np.mean(dist)),
            'keras_heatmap_peak': float(np.max(keras_heatmaps))}
  if outputs and 'keypoints' in outputs:
    own_decoder = getattr(predictor, 'meta', {}).get('decoder') or decoder
    exact_xy, exact_scores = predictor.decode(heatmaps, own_decoder)
    result['decoder_max_gap_px'] = float(np.max(np.abs(outputs['keypoints'] - exact_xy)))
    result['decoder_within_1px'] = float(np.mean(
        np.linalg.norm(outputs['keypoints'] - ref_xy, axis=-1) / predictor.codec.stride <= 1.0))
    result['decoder_max_score_gap'] = float(np.max(np.abs(outputs['scores'] - exact_scores)))
  return result


def _saved_model_outputs(predictor, images):
  """All outputs of a SavedModel's serve_keypoints endpoint (heatmaps, keypoints, scores)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  fn = getattr(predictor._loaded, 'serve_keypoints', None)  # pylint: disable=protected-access
  if fn is None:
    return None
  out = fn(tf.convert_to_tensor(images, tf.float32))
  return {k: np.asarray(v, np.float32) for k, v in out.items()}


def check_parity(fmt, result, config):
  """A failure message when a float format is beyond tolerance, else None."""
  if fmt not in FLOAT_FORMATS:
    return None
  tolerance = config.tolerance_fp16 if fmt == 'tflite_fp16' else config.tolerance
  problems = []
  if not np.isfinite(result['max_abs_diff']) or result['max_abs_diff'] > tolerance:
    problems.append(f'max heatmap difference {result["max_abs_diff"]:.3g} > tolerance '
                    f'{tolerance:g}')
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
    dict of the figures, and under PER_KEYPOINT (for paired_intervals; not written out):
    'mask' [N, K] bool (labelled), 'correct_at_0.1' [N, K] bool, 'error_px' [N, K] original px.
  """
  eval_config = evaluator.EvalConfig(decoder=config.decoder, pck_threshold=config.pck_threshold)
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


def paired_intervals(reference, other, samples=1000, seed=0, chunk=100):
  """95% paired bootstrap intervals of `other`'s PCK@0.1 drop and mean error change.

  Resamples the val objects with replacement, the same objects for both models, so what varies
  is which crops happen to be in the val set, not the two models' shared luck on them.

  Args:
    reference, other: PER_KEYPOINT dicts of accuracy() on the same dataset (same objects, order).
  Returns:
    {'pck_at_0.1_drop_points': [low, high], 'mean_error_change_pct': [low, high]}, or None when
    the two did not see the same labelled keypoints.
  """
  mask = reference['mask']
  if other['mask'].shape != mask.shape or not np.array_equal(other['mask'], mask):
    return None
  labelled = mask.sum(axis=1)
  correct_ref = reference['correct_at_0.1'].sum(axis=1)
  correct_other = other['correct_at_0.1'].sum(axis=1)
  error_ref = reference['error_px'].sum(axis=1)
  error_other = other['error_px'].sum(axis=1)
  rng = np.random.RandomState(seed)
  drops, changes = [], []
  for start in range(0, samples, chunk):
    picks = rng.randint(0, len(mask), (min(chunk, samples - start), len(mask)))
    count = np.maximum(labelled[picks].sum(axis=1), 1)
    drops.append(100.0 * (correct_ref[picks].sum(axis=1) - correct_other[picks].sum(axis=1))
                 / count)
    base = np.maximum(error_ref[picks].sum(axis=1), 1e-12)
    changes.append(100.0 * (error_other[picks].sum(axis=1) - base) / base)
  interval = lambda v: [float(x) for x in np.percentile(np.concatenate(v), [2.5, 97.5])]
  return {'pck_at_0.1_drop_points': interval(drops), 'mean_error_change_pct': interval(changes)}


def runtime_latency(path, threads, runs, image):
  """Median seconds of one single-image call of a .tflite/.onnx/.mnn predictor."""
  from hourglass.inference import runtime_predictors  # pylint: disable=g-import-not-at-top
  predictor = runtime_predictors.load_runtime_predictor(path, num_threads=threads)
  for _ in range(3):
    predictor(image)
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    predictor(image)
    times.append(time.perf_counter() - start)
  return float(np.median(times))


_TF_LATENCY = r'''
import json, os, sys, time
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
threads, runs, path, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
import numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(threads)
tf.config.threading.set_inter_op_parallelism_threads(threads)
sys.path.insert(0, root)
from hourglass.inference.loading import load_predictor
p = load_predictor(path)
x = np.random.RandomState(0).randint(0, 256, (1,) + p.input_shape + (3,)).astype(np.float32)
for _ in range(3):
  p(x)
times = []
for _ in range(runs):
  t = time.perf_counter(); p(x); times.append(time.perf_counter() - t)
print('LATENCY', json.dumps(float(np.median(times))))
'''


def tf_latency(path, threads, runs):
  """Median seconds of one image through a Keras bundle or SavedModel in a child process."""
  proc = subprocess.run([sys.executable, '-c', _TF_LATENCY, str(threads), str(runs), path, _ROOT],
                        capture_output=True, text=True, timeout=1800, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith('LATENCY '):
      return float(json.loads(line.split(' ', 1)[1]))
  raise RuntimeError(f'latency run of {path} failed:\n{(proc.stdout + proc.stderr)[-2000:]}')


def latency(fmt, path, config, image):
  """{threads: median ms} of one format ('keras' for the bundle)."""
  out = {}
  for threads in config.latency_threads:
    if fmt in ('keras', 'saved_model'):
      seconds = tf_latency(path, threads, config.latency_runs)
    else:
      seconds = runtime_latency(path, threads, config.latency_runs, image)
    out[str(threads)] = 1000.0 * seconds
  return out


def file_size(path):
  if os.path.isdir(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files)
  return os.path.getsize(path)


def _accuracy_deltas(row, keras_row):
  if 'pck' not in row or 'pck' not in keras_row:
    return
  row['pck_drop_points'] = 100.0 * (keras_row['pck'] - row['pck'])
  row['pck_at_0.1_drop_points'] = 100.0 * (keras_row['pck_at_0.1'] - row['pck_at_0.1'])
  base = keras_row['mean_error_px']
  row['mean_error_change_pct'] = (100.0 * (row['mean_error_px'] - base) / base
                                  if base > 0 else None)
  if PER_KEYPOINT in row and PER_KEYPOINT in keras_row:
    row['interval_95'] = paired_intervals(keras_row[PER_KEYPOINT], row[PER_KEYPOINT])


def prove(exports, keras_predictor, keras_path, check_images, dataset, config):
  """Checks every export and gathers the report.

  Args:
    exports: {format: (path, metadata)} from hourglass.export.runner.export_all.
    keras_predictor: hourglass.inference.predictors.KerasPredictor of the source model.
    keras_path: the bundle directory (for the Keras latency run).
    check_images: float32 [N, H, W, 3] RGB 0..255 (val crops) for parity.
    dataset: the eval dataset for PCK, or None to skip accuracy.
    config: ProofConfig.
  Returns:
    the report dict; report['failures'] lists failed float formats with the reason.
  """
  from hourglass.export import usage  # pylint: disable=g-import-not-at-top
  images = np.asarray(check_images, np.float32)
  keras_heatmaps = keras_predictor(images).astype(np.float64)
  latency_image = images[:1]
  keras_row = {'format': 'keras', 'path': keras_path,
               'size_bytes': file_size(os.path.join(keras_path, 'model.keras'))
               if os.path.isdir(keras_path) else file_size(keras_path)}
  if dataset is not None:
    keras_row.update(accuracy(keras_predictor, dataset, config))
  if config.latency_threads:
    keras_row['latency_ms'] = latency('keras', keras_path, config, latency_image)
  rows, failures = [], []
  for fmt, (path, meta) in exports.items():
    predictor = open_export(fmt, path)
    row = {'format': fmt, 'path': path, 'size_bytes': file_size(path),
           'parity': parity(keras_heatmaps, predictor, images, config.decoder)}
    problem = check_parity(fmt, row['parity'], config)
    row['status'] = f'FAILED: {problem}' if problem else 'ok'
    if problem:
      failures.append(f'{fmt} ({path}): {problem}')
    if dataset is not None:
      row.update(accuracy(predictor, dataset, config))
      _accuracy_deltas(row, keras_row)
    if config.latency_threads:
      row['latency_ms'] = latency(fmt, path, config, latency_image)
    row['usage'] = usage.usage_lines(fmt, meta)
    rows.append(row)
  for row in [keras_row] + rows:
    row.pop(PER_KEYPOINT, None)
  return {'keras': keras_row, 'formats': rows, 'failures': failures,
          'check_samples': int(len(images)), 'decoder': config.decoder,
          'tolerance': {'float32': config.tolerance, 'float16': config.tolerance_fp16},
          'goals': goals(keras_row, rows)}


GOAL_MAX_ERROR_CHANGE_PCT = 10.0
GOAL_MAX_PCK01_DROP_POINTS = 2.0


def goals(keras_row, rows):
  """The issue's goals: uint8 formats within 10% mean error and 2 points PCK@0.1 of Keras; the
  fastest format at least 2x faster than Keras with 2 threads. None where not measured.

  A uint8 goal is met on the point estimates; 'decided' says whether the 95% intervals agree
  (all inside the limits when met, one beyond its limit when not).
  """
  out = {}
  for row in rows:
    if row['format'].endswith('uint8') and 'mean_error_change_pct' in row:
      change, drop = row['mean_error_change_pct'], row['pck_at_0.1_drop_points']
      met = bool(change is not None and change <= GOAL_MAX_ERROR_CHANGE_PCT
                 and drop <= GOAL_MAX_PCK01_DROP_POINTS)
      goal = {'mean_error_change_pct': change, 'pck_at_0.1_drop_points': drop, 'met': met}
      interval = row.get('interval_95')
      if interval:
        highs = (interval['mean_error_change_pct'][1] <= GOAL_MAX_ERROR_CHANGE_PCT
                 and interval['pck_at_0.1_drop_points'][1] <= GOAL_MAX_PCK01_DROP_POINTS)
        lows = (interval['mean_error_change_pct'][0] > GOAL_MAX_ERROR_CHANGE_PCT
                or interval['pck_at_0.1_drop_points'][0] > GOAL_MAX_PCK01_DROP_POINTS)
        goal.update(interval_95=interval, decided=bool(highs if met else lows))
      out[row['format']] = goal
  keras_ms = keras_row.get('latency_ms', {}).get('2')
  timed = [(r['latency_ms']['2'], r['format']) for r in rows if '2' in r.get('latency_ms', {})]
  if keras_ms and timed:
    best_ms, best = min(timed)
    out['speed'] = {'fastest': best, 'speedup_vs_keras_2_threads': keras_ms / best_ms,
                    'met': keras_ms / best_ms >= 2.0}
  return out


def _goal_text(name, goal):
  """One goal's figures in words, with the 95% intervals where measured."""
  if name == 'speed':
    return (f'fastest {goal["fastest"]}, {goal["speedup_vs_keras_2_threads"]:.1f}x Keras on 2 '
            f'threads (goal >= 2x)')
  interval = goal.get('interval_95') or {}

  def part(label, key, spec, unit, limit):
    text = f'{label} {format(goal[key], spec)}{unit} ('
    if key in interval:
      low, high = interval[key]
      text += f'95% interval {format(low, spec)} to {format(high, spec)}{unit}; '
    return text + f'goal <= {format(limit, spec)}{unit})'

  text = (part('PCK@0.1 drop', 'pck_at_0.1_drop_points', '.2f', ' points',
               GOAL_MAX_PCK01_DROP_POINTS) + ', ' +
          part('mean error change', 'mean_error_change_pct', '+.1f', '%',
               GOAL_MAX_ERROR_CHANGE_PCT))
  if 'decided' in goal and not goal['decided']:
    text += ('; undecided: the intervals straddle the goal, so another draw of val crops could '
             'turn the verdict (more val records narrow them)')
  return text


def _fmt(value, spec):
  return '-' if value is None else format(value, spec)


def to_markdown(report, command=None):
  """The report as a Markdown page."""
  lines = ['# Export report', '']
  if command:
    lines += [f'Command: `{command}`', '']
  lines += [f'Parity on {report["check_samples"]} val crops against Keras (decoder '
            f'{report["decoder"]}); accuracy through the --mode=eval path; latency = median of one '
            f'image on this machine.', '']
  fold = report.get('batch_norm_folding')
  if fold:
    lines += [f'Exported with batch norm folded (--fold_batch_norm): {fold["folded"]} of '
              f'{fold["batch_norm"]} BN layers folded into their convs ({fold["removed"]} '
              f'entirely, {fold["left_as_channel_op"]} leaving a per-channel add), '
              f'{fold["kept"]} kept as they were'
              + (f'; for MNN {fold["mnn"]["removed"]} entirely and '
                 f'{fold["mnn"]["left_as_channel_op"]} leaving a 1x1 depthwise conv'
                 if fold.get('mnn') else '') + '.', '']
  if report.get('fused_separable_convs'):
    lines += [f'{report["fused_separable_convs"]} 1x1 separable convs written as plain 1x1 convs '
              '(--fuse_separable): the same function, one op less each.', '']
  lines += ['| format | size (KB) | max diff | mean diff | kp within 1 px | kp dist (px) | PCK '
            '| PCK drop (pts) | PCK@0.1 | mean err (px) | err change | ms 1 thr | ms 2 thr '
            '| status |',
            '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|']
  for row in [report['keras']] + report['formats']:
    p = row.get('parity', {})
    ms = row.get('latency_ms', {})
    change = row.get('mean_error_change_pct')
    lines.append('| ' + ' | '.join([
        row['format'], f'{row["size_bytes"] / 1024:.0f}', _fmt(p.get('max_abs_diff'), '.2e'),
        _fmt(p.get('mean_abs_diff'), '.2e'), _fmt(p.get('keypoints_within_1px'), '.3f'),
        _fmt(p.get('keypoint_distance_px'), '.3f'), _fmt(row.get('pck'), '.4f'),
        _fmt(row.get('pck_drop_points'), '+.2f'),
        _fmt(row.get('pck_at_0.1'), '.4f'), _fmt(row.get('mean_error_px'), '.2f'),
        '-' if change is None else f'{change:+.1f}%', _fmt(ms.get('1'), '.2f'),
        _fmt(ms.get('2'), '.2f'), row.get('status', 'reference')]) + ' |')
  lines += ['', '## Goals', '']
  for name, goal in report['goals'].items():
    lines.append(f'- {name}: {"met" if goal["met"] else "NOT met"}: ' + _goal_text(name, goal))
  if not report['goals']:
    lines.append('- not measured (no val records or no latency runs)')
  if report['failures']:
    lines += ['', '## FAILED', ''] + [f'- {f}' for f in report['failures']]
  lines += ['', '## On-device use', '']
  for row in report['formats']:
    lines += [f'### {row["format"]} (`{os.path.basename(row["path"])}`)', '']
    lines += [f'- {line}' for line in row['usage']] + ['']
  return '\n'.join(lines) + '\n'


def write_report(output_dir, report, command=None):
  """Writes export_report.json and export_report.md (temporary names, then rename)."""
  paths = []
  for suffix, text in (('.json', json.dumps(report, indent=2, default=float) + '\n'),
                       ('.md', to_markdown(report, command))):
    path = os.path.join(output_dir, REPORT_NAME + suffix)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)
    os.replace(tmp, path)
    paths.append(path)
  return paths
