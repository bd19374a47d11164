"""Training outputs for people: metrics.csv, the training-curve PNG and the
TensorBoard image summaries of inputs with true and predicted keypoints."""

import csv
import os

import numpy as np

from core import files

# The detector's runs fill val_ap, val_ap50, val_recall50 (box AP) instead of PCK and errors.
CSV_FIELDS = ('epoch', 'step', 'train_loss', 'val_loss', 'val_pck', 'val_mean_error_px',
              'val_mean_error_input_px', 'learning_rate', 'images_per_s', 'elapsed_s', 'val_ap',
              'val_ap50', 'val_recall50')


def read_metrics_csv(path):
  """Rows of an existing metrics.csv as dicts ([] when absent)."""
  if not os.path.isfile(path):
    return []
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.DictReader(f))


def write_metrics_csv(path, rows):
  """Rewrites metrics.csv with `rows` (dicts keyed by CSV_FIELDS), atomically."""
  with files.atomic_path(path) as tmp:
    with open(tmp, 'w', newline='', encoding='utf-8') as f:
      writer = csv.DictWriter(f, CSV_FIELDS, extrasaction='ignore')
      writer.writeheader()
      for row in rows:
        writer.writerow(row)


def plot_curves(path, rows):
  """Writes the training-curve PNG: losses (log scale) and val PCK per epoch."""
  import matplotlib
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt

  def column(name):
    return np.array([float(r[name]) if r.get(name) not in (None, '') else np.nan for r in rows])

  epochs = column('epoch')
  fig, (ax_loss, ax_pck) = plt.subplots(1, 2, figsize=(10, 4))
  ax_loss.plot(epochs, column('train_loss'), 'o-', label='train loss')
  ax_loss.plot(epochs, column('val_loss'), 's-', label='val loss')
  ax_loss.set_yscale('log')
  ax_loss.set_xlabel('epoch')
  ax_loss.legend()
  ax_pck.plot(epochs, column('val_pck'), 'o-', color='tab:green')
  ax_pck.set_ylim(0, 1)
  ax_pck.set_xlabel('epoch')
  ax_pck.set_ylabel('val PCK')
  fig.tight_layout()
  try:
    with files.atomic_path(path) as tmp:  # savefig picks the format from the kept extension
      fig.savefig(tmp, dpi=80)
  finally:
    plt.close(fig)


def keypoint_images(images, true_keypoints, true_mask, predicted, scores, definition):
  """Side-by-side drawings (true | predicted) for TensorBoard.

  Args:
    images: [N, H, W, 3] uint8; true_keypoints, predicted: [N, K, 2] model-input px;
    true_mask: [N, K] bool; scores: [N, K].
  Returns:
    [N, H, 2W, 3] uint8.
  """
  from hourglass.keypoints import drawing
  out = []
  for i in range(len(images)):
    truth = drawing.draw_keypoints(images[i], true_keypoints[i], true_mask[i].astype(np.float32),
                                   definition, conf_threshold=0.5)
    pred = drawing.draw_keypoints(images[i], predicted[i], scores[i], definition,
                                  conf_threshold=0.0)
    out.append(np.concatenate([truth, pred], axis=1))
  return np.stack(out) if out else np.zeros((0, 1, 1, 3), np.uint8)
