"""The settings of inference runs, in a module that loads neither TensorFlow nor OpenCV, so that
flags/ reads its defaults from them (flags.common.field_defaults).

    PredictConfig            one --mode=predict run
      AnalysisConfig         a video analysis (tracking, search, smoothing, drawing)
        TrackConfig          the single-object tracker
        IdentityConfig       identities of several objects (hourglass/inference/identities.py)
        SearchConfig         the whole-frame search
        SmoothingConfig      the filters (hourglass/inference/smoothing.py)
"""

import dataclasses
from typing import Optional

from hourglass.detection import MAX_OBJECTS
from hourglass.inference.smoothing import SmoothingConfig


@dataclasses.dataclass
class SearchConfig:
  """Settings of the whole-frame search.

  Attributes:
    keypoint_threshold: keypoints at least this confident make the refined box.
    accept_score: a level whose best refined result scores this (mean peak over the K
      keypoints) ends the search; else the next, finer level runs.
    candidates: windows refined per level (the best-scoring ones).
    refine_steps: crops around the found keypoints per candidate.
    overlap: windows of one scale overlap by this fraction of their side.
    decoder, flip_test: as for Predictor.predict.
  """
  keypoint_threshold: float = 0.2
  accept_score: float = 0.5
  candidates: int = 2
  refine_steps: int = 2
  overlap: float = 0.5
  decoder: str = 'dark'
  flip_test: bool = False


@dataclasses.dataclass
class TrackConfig:
  """Settings of the tracker.

  Attributes:
    min_score: a tracked crop whose mean keypoint score is under this is lost: the frame is
      searched; a search under it leaves the object not found (the next frame searches again).
    check_every: frames between two whole-frame searches while tracking (0: never).
    switch_margin: a check's search replaces the track when it scores this much more.
    agree_px: a check agrees with the track when their mean keypoint distance is under this.
    memory: frames a keypoint's last confident position still counts for the next box.
    unseen_growth: the next box grows by this while some keypoint has no known place.
  """
  min_score: float = 0.3
  check_every: int = 150
  switch_margin: float = 0.05
  agree_px: float = 5.0
  memory: int = 30
  unseen_growth: float = 1.3


@dataclasses.dataclass
class IdentityConfig:
  """Settings of identity tracking (several objects per frame: a detector or a boxes file).

  Attributes:
    num_objects: a known number of objects (DeepLabCut's `individuals`): exactly that many
      tracks, which never end and take back the objects that come back; None: tracks start
      and end with the objects.
    lost_frames: a track not matched for more than this many frames ends (without
      num_objects); until then the same assignment can find it again.
    confirm_frames: a new track gets its id once matched in this many consecutive frames (its
      first frames are then given the id too); unconfirmed objects have no id.
    min_similarity: a track and an object are paired by the assignment only at this similarity
      (OKS against the track's predicted pose; box IoU where they share no confident
      keypoint) or more.
    duplicate_oks: an object whose keypoints match a better-scoring object of the same frame at
      this OKS or more is the same object found twice (two boxes on one animal): dropped.
    detect_every: the detector runs on every N-th frame; on the frames between, each track is
      cropped where its keypoints predict it (1: the detector on every frame).
  """
  num_objects: Optional[int] = None
  lost_frames: int = 90
  confirm_frames: int = 3
  min_similarity: float = 0.1
  duplicate_oks: float = 0.7
  detect_every: int = 1


@dataclasses.dataclass
class AnalysisConfig:
  """Settings of a video analysis.

  Attributes:
    track, search, smoothing: the tracker's, the whole-frame search's and the filters' settings.
    identity: identity tracking of several objects (videos with a detector or boxes file).
    pcutoff (property): a keypoint is confident at this score: smoothing.min_score, the one
      setting (--pcutoff) of the filters, the summary and the plot.
    conf_threshold: keypoints under it are not drawn (drawing only; every file keeps them all).
    draw: write the labelled video; False: keypoint files only (faster).
    trail: frames of trail drawn behind each keypoint (0: none).
    max_frames: stop after this many frames.
  """
  track: TrackConfig = dataclasses.field(default_factory=TrackConfig)
  search: SearchConfig = dataclasses.field(default_factory=SearchConfig)
  smoothing: SmoothingConfig = dataclasses.field(default_factory=SmoothingConfig)
  identity: IdentityConfig = dataclasses.field(default_factory=IdentityConfig)
  conf_threshold: float = 0.1
  draw: bool = True
  trail: int = 0
  max_frames: Optional[int] = None
  log_every_s: Optional[float] = None

  @property
  def pcutoff(self):
    return self.smoothing.min_score


@dataclasses.dataclass
class PredictConfig:
  """Plain settings of one predict run (modes/configs.py fills it from flags).

  box_scale: enlargement of detector boxes before cropping; None: the model's box margin
  (Predictor.box_margin, the margin its training crops had).
  analysis: tracking, search, smoothing and drawing settings of videos and webcams without
  detections (and the search settings of images without boxes).
  detector_path: the detector that finds every object of each frame (hourglass.inference.
  detectors); None: the model directory's own detector when it has one (and no --detections).
  max_objects: the most objects the detector gives per frame.
  """
  input: str
  output: Optional[str] = None
  decoder: str = 'dark'
  flip_test: bool = False
  conf_threshold: float = 0.1
  detections: Optional[str] = None
  annotation_path: Optional[str] = None
  detection_score_threshold: float = 0.0
  missing_boxes: str = 'error'
  box_scale: Optional[float] = None
  detector_path: Optional[str] = None
  max_objects: int = MAX_OBJECTS
  max_frames: Optional[int] = None
  batch_frames: int = 8
  log_every_s: float = 2.0
  analysis: AnalysisConfig = dataclasses.field(default_factory=AnalysisConfig)
