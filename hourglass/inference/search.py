"""Finding the object in a whole frame with the crop model itself, no detector.

The model is top-down: it was trained on crops around the object (the records' box rule). On a
whole frame it looks through windows: square-ish windows at the model aspect, at a few scales
from where the training boxes were (CropRule.object_scale, as fractions of the frame's larger
side), overlapping by half. Each window's crop is scored by the mean of its K heatmap peaks; the
best few are refined by cropping again around their confident keypoints with the training box
rule (CropRule.keypoint_box), twice, and the best refined result wins. Windows at the training
scale run first; larger and smaller ones (window_sides) only when nothing scored
`accept_score`.

Works for every model format: it only calls Predictor.predict on batches of crops.

    from hourglass.inference.search import FrameSearch
    found = FrameSearch(predictor).find(frame_rgb)   # Found(keypoints [K, 2] frame px, ...)
"""

import dataclasses
import math
import time
from typing import List, Optional

import numpy as np

from hourglass.inference.config import SearchConfig

from core import geometry

# Window sides (fraction of the frame's larger side) when the model's description carries no
# object scale (models trained before the records measured it).
DEFAULT_OBJECT_SCALE = (0.2, 0.3, 0.45)


@dataclasses.dataclass
class Found:
  """A found object: keypoints [K, 2] and scores [K] in frame px, its crop box [x, y, w, h] (the
  box before the margin and aspect, as CropRule.keypoint_box gives it), and its score (mean of
  the scores)."""
  keypoints: np.ndarray
  scores: np.ndarray
  box: List[float]
  score: float


def window_sides(object_scale, frame_shape):
  """The window sides (frame px, along the model's larger input axis) of each search level.

  Level 1: windows 1.4x and 2x the training boxes' median scale (and 1.4x their high
  percentile where it is over 1.3x the median), so that the object lies whole inside some
  window at about the scale of its training crops (measured on openfield's 17 validation
  frames: these windows find the mouse in 17 of 17; windows at the median scale itself cut it
  at their edges and find it in 5; the whole frame in 1). Level 2, when level 1 scored under
  accept_score: the whole frame and the median scale. Level 3 (the object is smaller here than
  in training): 0.7x and 0.5x the median.

  Args:
    object_scale: (low, median, high) fractions of the frame's larger side, or None.
    frame_shape: (H, W, ...) of the frame.
  Returns:
    list of levels, each a list of window sides (frame px).
  """
  _, median, high = object_scale or DEFAULT_OBJECT_SCALE
  larger = float(max(frame_shape[:2]))
  first = [1.4 * median, 2.0 * median] + ([1.4 * high] if high > 1.3 * median else [])
  levels = [[f for f in first if f < 0.9] or [1.0], [1.0, median], [0.7 * median, 0.5 * median]]
  return [[min(f, 1.0) * larger for f in level] for level in levels]


def windows(frame_shape, side, input_shape, overlap):
  """Boxes [N, 4] (x, y, w, h, frame px) of one scale tiling the frame: the model aspect, the
  larger input axis `side` px long, steps of (1 - overlap) x the window, the last one flush
  with the frame's far edge."""
  height, width = frame_shape[:2]
  h_in, w_in = input_shape
  box_w, box_h = (side, side * h_in / w_in) if w_in >= h_in else (side * w_in / h_in, side)
  out = []
  for size, extent in ((box_w, width), (box_h, height)):
    if size >= extent:
      out.append(np.array([(extent - size) / 2.0]))
      continue
    count = int(math.ceil((extent - size) / (size * (1.0 - overlap)))) + 1
    out.append(np.linspace(0.0, extent - size, count))
  xs, ys = np.meshgrid(out[0] - 0.5, out[1] - 0.5)
  return np.stack([xs.ravel(), ys.ravel(), np.full(xs.size, box_w), np.full(xs.size, box_h)], 1)


class FrameSearch:
  """Whole-frame object search with a Predictor (see the module docstring).

  Attributes:
    predictor: any Predictor; its crop_rule gives the box rule and the object scale.
    config: SearchConfig.
    crops_run: crops sent to the model so far (a measure of the search's cost).
    timings: seconds spent so far per stage: 'crop' (warping), 'network', 'decoding'.
  """

  def __init__(self, predictor, config: Optional[SearchConfig] = None):
    self.predictor = predictor
    self.config = config or SearchConfig()
    self.crops_run = 0
    self.timings = {'crop': 0.0, 'network': 0.0, 'decoding': 0.0}

  def predict_boxes(self, frame_rgb, boxes, scale=1.0):
    """Keypoints for crops of one frame.

    Args:
      frame_rgb: [H, W, 3] uint8.
      boxes: [N, 4] (x, y, w, h) frame px; each enlarged by `scale` and grown to the aspect.
    Returns:
      (keypoints [N, K, 2] frame px, scores [N, K]).
    """
    shape = self.predictor.input_shape
    start = time.perf_counter()
    matrices = np.stack([geometry.input_to_image(b, shape, scale) for b in boxes])
    crops = np.stack([geometry.warp(frame_rgb, m, shape) for m in matrices])
    cropped = time.perf_counter()
    decoder, flip_test = self.config.decoder, self.config.flip_test
    if self.predictor.decodes_in_graph(decoder, flip_test):  # decoding counts as network
      keypoints, scores = self.predictor.predict(crops, decoder, flip_test)
      run = time.perf_counter()
    else:
      heatmaps = self.predictor.heatmaps(crops, flip_test)
      run = time.perf_counter()
      keypoints, scores = self.predictor.decode(heatmaps, decoder)
    self.timings['crop'] += cropped - start
    self.timings['network'] += run - cropped
    self.timings['decoding'] += time.perf_counter() - run
    self.crops_run += len(boxes)
    return geometry.apply_affine(matrices, keypoints), scores

  def refine(self, frame_rgb, keypoints, scores):
    """Crops again around confident keypoints (the training box rule), refine_steps times.

    Args:
      keypoints: [N, K, 2] frame px; scores: [N, K].
    Returns:
      list of N Found.
    """
    rule = self.predictor.crop_rule
    boxes = None
    for _ in range(self.config.refine_steps):
      boxes = np.array([rule.keypoint_box(kp, sc >= self.config.keypoint_threshold)
                        for kp, sc in zip(keypoints, scores)])
      # The keypoint box already holds the margin; input_to_image grows it to the model aspect.
      keypoints, scores = self.predict_boxes(frame_rgb, boxes)
    if boxes is None:
      boxes = np.array([rule.keypoint_box(kp, sc >= self.config.keypoint_threshold)
                        for kp, sc in zip(keypoints, scores)])
    return [Found(kp, sc, [float(v) for v in box], float(np.mean(sc)))
            for kp, sc, box in zip(keypoints, scores, boxes)]

  def find(self, frame_rgb):
    """The object in a whole frame: the best refined window of the first level that scores
    accept_score, else the best of all levels.

    Args:
      frame_rgb: [H, W, 3] uint8 RGB.
    Returns:
      Found (keypoints in frame px).
    """
    rule, config = self.predictor.crop_rule, self.config
    best = None
    for sides in window_sides(rule.object_scale, frame_rgb.shape):
      boxes = np.concatenate([windows(frame_rgb.shape, s, self.predictor.input_shape,
                                      config.overlap) for s in sides])
      keypoints, scores = self.predict_boxes(frame_rgb, boxes)
      order = np.argsort(-scores.mean(1))[:config.candidates]
      for found in self.refine(frame_rgb, keypoints[order], scores[order]):
        if best is None or found.score > best.score:
          best = found
      if best.score >= config.accept_score:
        break
    return best
