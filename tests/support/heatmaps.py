"""Reference heatmaps in plain numpy, written independently of hourglass/keypoints/codec.py."""

import numpy as np


def gaussian_heatmaps(keypoints, labelled, heatmap_size, sigma, shift=(0.0, 0.0), stride=4):
  """numpy: [K, 2] model-input px -> [h, w, K] unnormalised Gaussians (zero where unlabelled).

  Heatmap pixel j is centred on input pixel stride * j + (stride - 1) / 2 (the pixel-centre
  convention of records/schema.py).
  """
  h, w = heatmap_size
  centres = (np.asarray(keypoints, np.float64) - (stride - 1) / 2.0) / stride + np.array(shift)
  ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
  maps = np.zeros((h, w, len(centres)), np.float32)
  for k, ((cx, cy), ok) in enumerate(zip(centres, labelled)):
    if ok:
      maps[..., k] = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2.0 * sigma ** 2))
  return maps
