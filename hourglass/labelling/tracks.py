"""The predictions frame selection starts from: a video analysed now, the JSON of an earlier
`--mode=predict` analysis (`<stem>_keypoints.json`, hourglass.inference.video_analysis), or a
folder of images (each searched whole, no track).

    track = from_input(predictor, 'clip.mp4', analysis_config)
    track.keypoints, track.scores, track.smoothed      # [T, K, 2], [T, K], [T, K, 2] or None
"""

import dataclasses
import os
from typing import List, Optional

import numpy as np

from core.errors import UserInputError
from core.progress import Progress
from hourglass.inference import frame_sources, video_analysis
from hourglass.inference.search import FrameSearch


@dataclasses.dataclass
class Track:
  """Per-frame predictions of one input.

  Attributes:
    spec: the video file or image folder the frames come from.
    kind: 'video' or 'folder'.
    names: the K keypoint names.
    keypoints [T, K, 2] frame px, scores [T, K]: the raw predictions.
    smoothed: [T, K, 2] (NaN gaps) of a video's offline filter, None for folders.
  """
  spec: str
  kind: str
  names: List[str]
  keypoints: np.ndarray
  scores: np.ndarray
  smoothed: Optional[np.ndarray]


def from_analysis_json(path):
  """The Track of a `--mode=predict` video analysis JSON (raw and smoothed keypoints)."""
  from core import files  # pylint: disable=g-import-not-at-top
  doc = files.read_json(path, 'video analysis')
  try:
    names, frames = list(doc['keypoint_names']), doc['frames']
    spec = doc['input']
    raw = np.array([[p if p else [np.nan] * 3 for p in (f['keypoints'][n] for n in names)]
                    for f in frames], np.float64)
    smoothed = None
    if frames and 'smoothed' in frames[0]:
      smoothed = np.array([[(p[:2] if p else [np.nan] * 2) for p in
                            (f['smoothed'][n] for n in names)] for f in frames], np.float64)
  except (KeyError, TypeError, IndexError, ValueError) as e:
    raise UserInputError(f'{path}: not a --mode=predict video analysis JSON ({type(e).__name__}: '
                         f'{e}); expected keypoint_names, input and frames[].keypoints') from None
  if not os.path.isfile(str(spec)):
    raise UserInputError(f'{path}: its video {spec} (field "input") does not exist')
  return Track(str(spec), 'video', names, raw[..., :2], np.nan_to_num(raw[..., 2]), smoothed)


def from_video(predictor, spec, config):
  """Tracks a video now (video_analysis.analyze, no drawing)."""
  result = video_analysis.analyze(predictor, spec, dataclasses.replace(config, draw=False))
  return Track(str(spec), 'video', result.names, result.keypoints, result.scores,
               result.smoothed)


def from_folder(predictor, folder, search_config=None):
  """Searches every image of a folder whole (the object found with no detector)."""
  search = FrameSearch(predictor, search_config)
  source = frame_sources.Source(folder)
  keypoints, scores = [], []
  progress = Progress(source.total, f'search {os.path.basename(os.path.normpath(folder))}',
                      'images')
  for frame in source:
    found = search.find(frame.rgb)
    keypoints.append(found.keypoints)
    scores.append(found.scores)
    progress.update()
  progress.close()
  return Track(str(folder), 'folder', list(predictor.definition.names),
               np.array(keypoints, np.float64), np.array(scores, np.float64), None)


def from_input(predictor, spec, config):
  """The Track of one input: an analysis JSON, a video file, or a folder of images.

  Args:
    predictor: any Predictor, or None for an analysis JSON (then no flip check is possible).
    config: hourglass.inference.config.AnalysisConfig for videos analysed now.
  """
  spec = str(spec)
  if spec.lower().endswith('.json'):
    return from_analysis_json(spec)
  if predictor is None:
    raise UserInputError(f'--input {spec}: a video or folder needs --model_path (only a '
                         f'--mode=predict analysis JSON can be read without a model)')
  if frame_sources.Source.is_video_file(spec):
    return from_video(predictor, spec, config)
  if os.path.isdir(spec):
    return from_folder(predictor, spec, config.search)
  raise UserInputError(f'--input {spec}: not a video file, a folder of images or a '
                       f'--mode=predict analysis JSON')
