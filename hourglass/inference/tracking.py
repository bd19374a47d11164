"""Single-object tracking through a video with the crop model: the box of frame t+1 is cut from
frame t's keypoints by the training box rule (CropRule.keypoint_box: the margin and minimum side
the model was trained with), over the confident keypoints, where they will be at constant
velocity, and where keypoints not confident now were last seen, moved since by the confident
keypoints' mean motion (for up to `memory` frames): without the last two, a fast hand leaves the
crop's margin in one frame, scores 0 outside the crop, is left out of the next box and never
comes back; left where they were last seen, the remembered points of a walking, half-occluded
creature stretch the box to several times the training box and the visible keypoints drift off
(both measured on the synthetic walk, benchmarks/video_tracking.py). A
whole-frame search (hourglass.inference.search) runs at the first
frame, whenever the tracked crop's score falls under `min_score`, and every `check_every` frames
as a check (the better-scoring of the two is kept).

    from hourglass.inference.tracking import Tracker
    tracker = Tracker(predictor)
    for frame in frames:                  # RGB uint8 [H, W, 3]
      step = tracker.step(frame)          # TrackStep: keypoints [K, 2] frame px, scores [K], ...
"""

import dataclasses
from typing import List, Optional

import numpy as np

from hourglass.inference.config import SearchConfig, TrackConfig
from hourglass.inference.search import FrameSearch


@dataclasses.dataclass
class TrackStep:
  """One frame's result: keypoints [K, 2] and scores [K] (frame px), the crop box [x, y, w, h]
  (None when nothing was found), and how it came: 'track', 'search' (first frame or lost) or
  'check' (the periodic search replaced the track)."""
  keypoints: np.ndarray
  scores: np.ndarray
  box: Optional[List[float]]
  how: str


class Tracker:
  """Tracks one object (see the module docstring).

  Attributes:
    searches: whole-frame searches run (first frame, re-searches after a loss, checks).
    researches: searches after the track was lost (the first frame's not counted).
    checks, agreements: periodic checks run, and how many agreed with the track (agree_px).
  """

  def __init__(self, predictor, config: Optional[TrackConfig] = None,
               search: Optional[SearchConfig] = None):
    self.predictor = predictor
    self.config = config or TrackConfig()
    self.search = FrameSearch(predictor, search)
    self.reset()

  def reset(self):
    """Forgets the track (a new video)."""
    self._box, self._since_search = None, 0
    self._seen = self._seen_age = self._previous = None
    self.searches = self.researches = self.checks = self.agreements = 0
    self._started = False

  @property
  def timings(self):
    """Seconds spent per stage ('crop', 'network', 'decoding') over every crop run."""
    return self.search.timings

  def _tracked(self, frame_rgb):
    keypoints, scores = self.search.predict_boxes(frame_rgb, np.array([self._box]))
    return keypoints[0], scores[0]

  def step(self, frame_rgb):
    """Keypoints of the next frame.

    Args:
      frame_rgb: [H, W, 3] uint8 RGB.
    Returns:
      TrackStep.
    """
    config, rule = self.config, self.predictor.crop_rule
    threshold = self.search.config.keypoint_threshold
    how = 'track'
    if self._box is None:
      found = self.search.find(frame_rgb)
      keypoints, scores, how = found.keypoints, found.scores, 'search'
      self.searches += 1
      self.researches += int(self._started)
      self._since_search = 0
    else:
      keypoints, scores = self._tracked(frame_rgb)
      self._since_search += 1
      check = config.check_every and self._since_search >= config.check_every
      if float(np.mean(scores)) < config.min_score or check:
        found = self.search.find(frame_rgb)
        self.searches += 1
        self._since_search = 0
        if check and float(np.mean(scores)) >= config.min_score:
          self.checks += 1
          distance = float(np.mean(np.linalg.norm(found.keypoints - keypoints, axis=-1)))
          self.agreements += int(distance < config.agree_px)
          if found.score > float(np.mean(scores)) + config.switch_margin:
            keypoints, scores, how = found.keypoints, found.scores, 'check'
        else:
          self.researches += 1
          if found.score > float(np.mean(scores)):
            keypoints, scores, how = found.keypoints, found.scores, 'search'
    self._started = True
    self._box = self.next_box(keypoints, scores >= threshold, how == 'track') if float(
        np.mean(scores)) >= config.min_score else None
    if self._box is None:
      self._seen = self._previous = None
    return TrackStep(keypoints, scores, self._box, how)

  def next_box(self, keypoints, confident, continued):
    """The box for the next frame (see the module docstring).

    Args:
      keypoints: [K, 2] frame px; confident: [K] bool.
      continued: the keypoints came from the tracked crop (else from a search: no velocity).
    Returns:
      [x, y, w, h] by CropRule.keypoint_box.
    """
    if self._seen is None:
      self._seen, self._seen_age = keypoints.copy(), np.zeros(len(keypoints), int)
      self._seen_age[~confident] = self.config.memory + 1
    self._seen_age += 1
    points = [keypoints[confident]]
    if continued and self._previous is not None:
      moving = confident & self._previous[1]
      points.append(2.0 * keypoints[moving] - self._previous[0][moving])
      if moving.any():  # remembered points move with the object, or the box stretches
        self._seen += np.mean(keypoints[moving] - self._previous[0][moving], axis=0)
    self._seen[confident], self._seen_age[confident] = keypoints[confident], 0
    remembered = ~confident & (self._seen_age <= self.config.memory)
    points.append(self._seen[remembered])
    self._previous = (keypoints.copy(), confident.copy())
    points = np.concatenate(points)
    if not len(points):  # nothing confident nor remembered: all of this frame's keypoints
      points = keypoints
    x, y, w, h = self.predictor.crop_rule.keypoint_box(points, np.ones(len(points), bool))
    if (~confident & ~remembered).any():
      # Keypoints with no known place (never seen, or lost long ago): a wider crop, where they
      # can show up again.
      grow = self.config.unseen_growth
      x, y, w, h = x - (grow - 1) * w / 2, y - (grow - 1) * h / 2, grow * w, grow * h
    return [x, y, w, h]
