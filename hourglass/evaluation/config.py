"""EvalConfig: the settings of one evaluation, as plain values (flags/eval.py reads its defaults
here, so it imports no TensorFlow)."""

import dataclasses
from typing import Optional, Sequence

import numpy as np


@dataclasses.dataclass
class EvalConfig:
  """Plain settings of one evaluation (modes/configs.py fills it from flags).

  Attributes:
    decoder: 'argmax', 'quarter' or 'dark'.
    flip_test: average with the heatmaps of the horizontally flipped crops.
    score_threshold: PCK threshold in units of (mean heatmap side / 10).
    curve_thresholds: thresholds of the PCK curve.
    pckh_thresholds: MPII PCKh thresholds reported when the records have head boxes.
    coco_keypoint_threshold: keypoints above this confidence count in the instance score.
    output_dir: where metrics.json, results json and plots go; None writes nothing.
    save_result: write overlays (crop, true points, predicted skeleton).
    max_result_images: at most this many overlays.
    conf_threshold: predicted keypoints under this confidence are not drawn.
    pcutoff: the mean error is also reported over the labelled keypoints predicted with at least
      this confidence (DeepLabCut's p-cutoff), with the fraction of them that reach it.
    coco_ground_truth: a COCO annotation json to score AP against (restricted to the images
      evaluated), or None to build the ground truth from the records themselves (works for any
      keypoint set).
  """
  decoder: str = 'dark'
  flip_test: bool = False
  score_threshold: float = 0.5
  curve_thresholds: Sequence[float] = tuple(np.round(np.linspace(0.0, 1.0, 101), 4))
  pckh_thresholds: Sequence[float] = (0.5, 0.1)
  coco_keypoint_threshold: float = 0.2
  output_dir: Optional[str] = None
  save_result: bool = False
  max_result_images: int = 64
  conf_threshold: float = 0.1
  pcutoff: float = 0.4
  coco_ground_truth: Optional[str] = None
