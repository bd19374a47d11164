"""The predictions frame selection starts from: a video analysed now, the JSON of an earlier
`--mode=predict` analysis (`<stem>_keypoints.json` of one tracked object, hourglass.inference.
video_analysis, or `<stem>.json` of several objects with identities, hourglass.inference.
identity_files), or a folder of images (each searched whole, no track).

    track = from_input(predictor, 'clip.mp4', analysis_config)
    track.keypoints, track.scores, track.smoothed      # [T, K, 2], [T, K], [T, K, 2] or None

A video analysed with a detector or a boxes file (`detections`), or an identity JSON, gives a
Track of several objects (track.several): keypoints [T, N, K, 2] (NaN where identity
track_ids[n] is absent), scores [T, N, K] (0 there), smoothed [T, N, K, 2] or None, boxes
[T, N, 4], counts [T] (objects per frame) and doubt [T] (the tracker's identity events).
Objects without an identity (not yet confirmed, possibly two animals in one, over
--num_objects) are in no column (their trouble is not measured) but in `unidentified`, and
`handout_arrays` hands them out beside the identities: an animal left out of a labelled frame
would be learnt as background.
"""

import dataclasses
import os
from typing import List, Optional

import numpy as np

from core.errors import UserInputError
from core.progress import Progress
from hourglass.inference import frame_sources, identity_analysis, video_analysis
from hourglass.inference.config import PredictConfig
from hourglass.inference.search import FrameSearch


@dataclasses.dataclass
class Track:
  """Per-frame predictions of one input (one object, or N identities).

  Attributes:
    spec: the video file or image folder the frames come from.
    kind: 'video' or 'folder'.
    names: the K keypoint names.
    keypoints [T, K, 2] frame px, scores [T, K]: the raw predictions; several objects:
      [T, N, K, 2] (NaN where absent) and [T, N, K] (0 there).
    smoothed: [T, K, 2] (NaN gaps) of a video's offline filter ([T, N, K, 2], per identity),
      None for folders or without smoothing.
    track_ids: [N] int, the identity of each column; None for one object.
    boxes: [T, N, 4] x, y, w, h frame px per identity (NaN where absent), or None.
    counts: [T] int objects per frame (with an identity or not), or None.
    doubt: [T] float in [0, 1], the tracker's identity doubt (IdentityTracker.doubt: 1 where a
      track started after the first frame, ended or was re-found, or an object may hold two
      animals; else 1 - the frame's lowest assignment similarity), or None.
    num_objects: the number of objects the analysis was told (--num_objects), or None.
    unidentified: per frame, [(keypoints [K, 2], scores [K], box [4])] of the objects without an
      identity, or None.
  """
  spec: str
  kind: str
  names: List[str]
  keypoints: np.ndarray
  scores: np.ndarray
  smoothed: Optional[np.ndarray]
  track_ids: Optional[np.ndarray] = None
  boxes: Optional[np.ndarray] = None
  counts: Optional[np.ndarray] = None
  doubt: Optional[np.ndarray] = None
  num_objects: Optional[int] = None
  unidentified: Optional[list] = None

  @property
  def several(self):
    """Whether the track holds identities (arrays [T, N, ...])."""
    return self.track_ids is not None

  @property
  def frames(self):
    return len(self.scores)

  @property
  def present(self):
    """[T, N] bool: identity n has an object in frame t (several objects only)."""
    return np.isfinite(self.boxes[..., 0])


def _points(entry, names):
  """[K, 3] x, y, score of a JSON keypoints entry {name: [x, y, score] or null} (NaN for null)."""
  return np.array([p[:3] if p else [np.nan] * 3 for p in (entry[n] for n in names)], np.float64)


def from_analysis_json(path):
  """The Track of a `--mode=predict` video analysis JSON: one tracked object (frames[t].keypoints,
  raw and smoothed) or several with identities (frames[t].objects, each with its track_id)."""
  from core import files  # pylint: disable=g-import-not-at-top
  doc = files.read_json(path, 'video analysis')
  try:
    names, frames, spec = list(doc['keypoint_names']), doc['frames'], doc['input']
    several = 'tracks' in doc or any('objects' in f for f in frames[:1])
    track = _identity_track(doc, names, frames) if several else _single_track(names, frames)
  except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
    raise UserInputError(f'{path}: not a --mode=predict video analysis JSON ({type(e).__name__}: '
                         f'{e}); expected keypoint_names, input and frames[].keypoints (one '
                         f'object) or frames[].objects (several)') from None
  if not os.path.isfile(str(spec)):
    raise UserInputError(f'{path}: its video {spec} (field "input") does not exist')
  track.spec = str(spec)
  return track


def _single_track(names, frames):
  """The Track (spec unset) of one tracked object's frames."""
  raw = np.array([_points(f['keypoints'], names) for f in frames], np.float64)
  smoothed = None
  if frames and 'smoothed' in frames[0]:
    smoothed = np.array([_points(f['smoothed'], names)[:, :2] for f in frames], np.float64)
  raw = raw.reshape(len(frames), len(names), 3)
  return Track('', 'video', names, raw[..., :2], np.nan_to_num(raw[..., 2]), smoothed)


def _identity_track(doc, names, frames):
  """The Track (spec unset) of an identity JSON (hourglass.inference.identity_files): a column
  per track id; objects whose track_id is null are counted only."""
  ids = sorted({int(o['track_id']) for f in frames for o in f['objects']
                if o.get('track_id') is not None})
  column = {t: n for n, t in enumerate(ids)}
  shape = (len(frames), len(ids), len(names))
  keypoints, scores = np.full(shape + (2,), np.nan), np.zeros(shape)
  smoothed, boxes = np.full(shape + (2,), np.nan), np.full(shape[:2] + (4,), np.nan)
  any_smoothed = False
  for t, frame in enumerate(frames):
    for obj in frame['objects']:
      if obj.get('track_id') is None:
        continue
      n = column[int(obj['track_id'])]
      raw = _points(obj['keypoints'], names)
      keypoints[t, n], scores[t, n] = raw[:, :2], np.nan_to_num(raw[:, 2])
      boxes[t, n] = np.asarray(obj['box'], np.float64)[:4]
      if obj.get('smoothed'):
        smoothed[t, n], any_smoothed = _points(obj['smoothed'], names)[:, :2], True
  counts = np.array([len(f['objects']) for f in frames], int)
  settings = doc.get('identity_settings') or {}
  unidentified = [[(_points(o['keypoints'], names)[:, :2],
                    np.nan_to_num(_points(o['keypoints'], names)[:, 2]),
                    np.asarray(o['box'], np.float64)[:4])
                   for o in f['objects'] if o.get('track_id') is None] for f in frames]
  track = Track('', 'video', names, keypoints, scores, smoothed if any_smoothed else None,
                np.array(ids, int), boxes, counts, None, settings.get('num_objects'),
                unidentified)
  # The tracker's own doubt when the JSON keeps it (identity_files writes it per frame).
  if all('doubt' in f for f in frames):
    track.doubt = np.array([float(f['doubt']) for f in frames])
  else:
    track.doubt = identity_events(track.present, doc.get('tracks') or ())
  return track


def handout_arrays(track):
  """The several-object arrays to hand out: every identity, then the objects without one, each
  frame's j-th in column N + j with the stand-in id max(track_ids) + 1 + j.

  Returns:
    (keypoints [T, N + J, K, 2] NaN where absent, scores [T, N + J, K], track_ids [N + J],
    boxes [T, N + J, 4]).
  """
  extra = max((len(f) for f in track.unidentified or ()), default=0)
  if not extra:
    return track.keypoints, track.scores, track.track_ids, track.boxes
  frames, n, k = track.keypoints.shape[:3]
  keypoints = np.concatenate([track.keypoints, np.full((frames, extra, k, 2), np.nan)], 1)
  scores = np.concatenate([track.scores, np.zeros((frames, extra, k))], 1)
  boxes = np.concatenate([track.boxes, np.full((frames, extra, 4), np.nan)], 1)
  for t, objects in enumerate(track.unidentified):
    for j, (points, point_scores, box) in enumerate(objects):
      keypoints[t, n + j], scores[t, n + j], boxes[t, n + j] = points, point_scores, box
  first = int(track.track_ids.max()) + 1 if len(track.track_ids) else 0
  return keypoints, scores, np.concatenate([track.track_ids, first + np.arange(extra)]), boxes


def identity_events(present, spans=()):
  """The tracker's identity doubt as far as a JSON keeps it (not the assignment similarities):
  1 where an identity appears after the first frame (started, or re-found after a gap) or
  where a span of `spans` ({'last', 'ended'}) ended, else 0.

  Args:
    present: [T, N] bool.
  Returns:
    [T] float.
  """
  present = np.asarray(present, bool)
  events = np.zeros(len(present))
  if len(present) > 1:
    events[1:][(present[1:] & ~present[:-1]).any(axis=1)] = 1.0
  for span in spans:
    if span.get('ended') and 0 <= int(span['last']) < len(events):
      events[int(span['last'])] = 1.0
  return events


def from_video(predictor, spec, config):
  """Tracks a video's one object now (video_analysis.analyze, no drawing)."""
  result = video_analysis.analyze(predictor, spec, dataclasses.replace(config, draw=False))
  return Track(str(spec), 'video', result.names, result.keypoints, result.scores,
               result.smoothed)


def from_video_objects(predictor, spec, detections, config):
  """Analyses every object of a video with identities now (identity_analysis.analyze_objects,
  no drawing; a frame of another size mid-stream ends the video there, as from_video does).

  Args:
    detections: hourglass.inference.detectors.DetectorBoxes or a box_files.Boxes.
    config: PredictConfig (decoder, box settings, and its analysis' identity, track, search and
      smoothing settings).
  """
  result = identity_analysis.analyze_objects(predictor, spec, detections, config)
  unidentified = [[(o['keypoints'], o['scores'], np.asarray(o['box'], np.float64))
                   for o in frame if o['track_id'] < 0] for frame in result.objects]
  return Track(str(spec), 'video', result.names, result.keypoints, result.scores,
               result.smoothed, result.track_ids, result.boxes, result.counts, result.doubt,
               config.analysis.identity.num_objects, unidentified)


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


def from_input(predictor, spec, config, detections=None, predict_config=None):
  """The Track of one input: an analysis JSON, a video file, or a folder of images.

  Args:
    predictor: any Predictor, or None for an analysis JSON (then no flip check is possible).
    config: hourglass.inference.config.AnalysisConfig for videos analysed now.
    detections: None (a video's one object is tracked), or the boxes of every frame's objects
      (DetectorBoxes or box_files.Boxes): a video is analysed with identities. Folders of
      images are searched for one object either way.
    predict_config: the PredictConfig of that analysis (default: PredictConfig's defaults with
      `config` as its analysis).
  """
  spec = str(spec)
  if spec.lower().endswith('.json'):
    return from_analysis_json(spec)
  if predictor is None:
    raise UserInputError(f'--input {spec}: a video or folder needs --model_path (only a '
                         f'--mode=predict analysis JSON can be read without a model)')
  if frame_sources.Source.is_video_file(spec):
    if detections is not None:
      return from_video_objects(predictor, spec, detections, predict_config or PredictConfig(
          input=spec, analysis=config))
    return from_video(predictor, spec, config)
  if os.path.isdir(spec):
    return from_folder(predictor, spec, config.search)
  raise UserInputError(f'--input {spec}: not a video file, a folder of images or a '
                       f'--mode=predict analysis JSON')
