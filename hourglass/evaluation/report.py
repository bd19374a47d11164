"""Eval reports: metrics json, COCO results json, PCK-curve and per-joint plots, overlays, text.

Plots use matplotlib's Agg backend (no display needed). Every file is written to a temporary
name and renamed into place.
"""

import math
import os

import numpy as np

from hourglass.keypoints import drawing
from core import files

METRICS_FILE = 'metrics.json'
RESULTS_FILE = 'keypoint_results.json'
CURVE_FILE = 'pck_curve.png'
BARS_FILE = 'per_joint.png'
OVERLAY_DIR = 'results'
_TRUE_COLOUR = (255, 255, 255)


def _clean(value):
  """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python."""
  if isinstance(value, dict):
    return {str(k): _clean(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_clean(v) for v in value]
  if isinstance(value, np.ndarray):
    return _clean(value.tolist())
  if isinstance(value, (np.floating, float)):
    value = float(value)
    return value if math.isfinite(value) else None
  if isinstance(value, np.integer):
    return int(value)
  return value


def write_json(path, obj):
  """Writes `obj` as strict JSON (NaN/inf as null, numpy as Python) atomically."""
  files.write_json(path, _clean(obj), indent=1, allow_nan=False)


def _save_figure(figure, path):
  with files.atomic_path(path) as tmp:  # savefig picks the format from the kept extension
    figure.savefig(tmp, dpi=100, bbox_inches='tight')


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg', force=True)
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def plot_pck_curve(path, result):
  plt = _pyplot()
  curve = result['pck_curve']
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.plot(curve['thresholds'], [100.0 * v for v in curve['pck']], lw=2)
  ax.axvline(result['pck']['threshold'], color='grey', ls='--', lw=1)
  ax.set_xlabel('threshold (x mean heatmap side / 10)')
  ax.set_ylabel('PCK (%)')
  ax.set_ylim(0, 100)
  ax.set_title(f'PCK curve, AUC {100.0 * curve["auc"]:.1f}')
  ax.grid(alpha=0.3)
  _save_figure(fig, path)
  plt.close(fig)


def plot_per_joint(path, result):
  """Bars of PCK per joint (and PCKh@0.5 per joint when available)."""
  plt = _pyplot()
  names = list(result['pck']['per_joint'])
  series = [(f'PCK@{result["pck"]["threshold"]:g}', result['pck']['per_joint'], 100.0)]
  if 'pckh' in result and '0.5' in result['pckh']:
    series.append(('PCKh@0.5', result['pckh']['0.5']['per_joint'], 1.0))
  fig, ax = plt.subplots(figsize=(max(6, 0.45 * len(names)), 4))
  width = 0.8 / len(series)
  x = np.arange(len(names))
  for i, (label, values, scale) in enumerate(series):
    heights = [scale * v if v is not None and math.isfinite(v) else 0.0
               for v in (values[n] for n in names)]
    ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, label=label)
  ax.set_xticks(x, names, rotation=60, ha='right')
  ax.set_ylabel('%')
  ax.set_ylim(0, 100)
  ax.legend()
  ax.set_title('per joint')
  _save_figure(fig, path)
  plt.close(fig)


def write_reports(output_dir, result, results, definition):
  """metrics.json, keypoint_results.json (COCO format), pck_curve.png, per_joint.png."""
  os.makedirs(output_dir, exist_ok=True)
  write_json(os.path.join(output_dir, METRICS_FILE), result)
  write_json(os.path.join(output_dir, RESULTS_FILE), results)
  plot_pck_curve(os.path.join(output_dir, CURVE_FILE), result)
  plot_per_joint(os.path.join(output_dir, BARS_FILE), result)
  del definition  # names are in the result already


def write_overlays(output_dir, overlays, definition, conf_threshold=0.0):
  """One PNG per object: the crop, true points (white rings), predicted skeleton, plus a grid."""
  import cv2  # pylint: disable=g-import-not-at-top
  directory = os.path.join(output_dir, OVERLAY_DIR)
  os.makedirs(directory, exist_ok=True)
  drawn = []
  for n, (image, true, visibility, predicted, scores) in enumerate(overlays):
    canvas = drawing.draw_keypoints(image, predicted, scores, definition, conf_threshold)
    for (x, y), v in zip(np.asarray(true, np.float64), np.asarray(visibility)):
      if v > 0 and np.isfinite(x) and np.isfinite(y):
        cv2.circle(canvas, (int(round(x * 16)), int(round(y * 16))), 3 * 16, _TRUE_COLOUR, 1,
                   cv2.LINE_AA, 4)
    drawing.write_rgb(os.path.join(directory, f'{n:04d}.png'), canvas)
    drawn.append(canvas)
  if drawn:
    drawing.save_grid(drawn[:16], os.path.join(output_dir, 'results_grid.png'), 4)


def format_summary(result):
  """A short human-readable table of the main figures."""
  count = result.get('num_objects', result.get('num_detections'))
  flip = result.get('flip_test')
  if result.get('flip_test_off'):
    flip = f'{flip} (asked for; off: {result["flip_test_off"]})'
  lines = [f'model: {result.get("model", "?")}  decoder: {result.get("decoder")}  '
           f'flip_test: {flip}  objects: {count}']
  if 'pck' in result:
    pck = result['pck']
    lines.append(f'PCK@{pck["threshold"]:g}: {100.0 * pck["total"]:.2f}%   '
                 f'AUC: {100.0 * result["pck_curve"]["auc"]:.2f}   '
                 f'mean error: {result["mean_error_px"]:.3f} px (original image)')
    lines.append('  per joint: ' + ', '.join(
        f'{n} {100.0 * v:.1f}' for n, v in pck['per_joint'].items() if v == v))
  if 'confident' in result:
    lines.append(_confident_line(result['confident']))
  train = result.get('train')
  if train:
    lines.append(f'train split ({train["num_objects"]} objects, record boxes): mean error '
                 f'{train["mean_error_px"]:.3f} px, PCK@{train["pck_threshold"]:g} '
                 f'{100.0 * train["pck"]:.2f}%; {_confident_line(train["confident"]).strip()}')
  for t, table in result.get('pckh', {}).items():
    lines.append(f'PCKh@{t}: ' + '  '.join(f'{g} {v:.2f}' for g, v in table['groups'].items()))
  coco = result.get('coco')
  if coco:
    boxes = ' (detector boxes)' if result.get('gt_box_coco') else ''
    lines.append(f'COCO{boxes} ' + '  '.join(f'{k} {coco[k]:.4f}' for k in metrics_names()))
  if result.get('gt_box_coco'):
    lines.append('COCO (record boxes) ' + '  '.join(
        f'{k} {result["gt_box_coco"][k]:.4f}' for k in metrics_names()))
  if 'images_per_second' in result:
    lines.append(f'throughput: {result["images_per_second"]:.1f} images/s')
  return '\n'.join(lines)


def _confident_line(confident):
  return (f'  keypoints with p >= {confident["pcutoff"]:g} ({100.0 * confident["fraction"]:.1f}% '
          f'of the labelled): mean error {confident["mean_error_px"]:.3f} px')


def metrics_names():
  from hourglass.keypoints.metrics import COCO_STAT_NAMES  # pylint: disable=g-import-not-at-top
  return COCO_STAT_NAMES[:6]
