"""Videos with several objects: every frame's objects (a detector's or a boxes file's, each
cropped by the training rule) with identities kept from the first frame to the last
(hourglass.inference.identities), smoothed per identity. The files it writes:
hourglass.inference.identity_files.

    from hourglass.inference.identity_analysis import analyze_objects
    result = analyze_objects(predictor, 'clip.mp4', DetectorBoxes(detector), predict_config)
    result.track_ids                      # [N] ids, in order
    result.keypoints[:, n]                # [T, K, 2] identity track_ids[n]; NaN where absent
    result.identity(2)                    # (keypoints [T, K, 2], scores [T, K]) of id 2

With `detect_every` N > 1 the detector runs on every N-th frame; on the frames between, each
track seen on the frame before is cropped by the training box rule around where its keypoints
move (hourglass.inference.tracking's rule for one object), and the crops' objects are
associated as the detector's are.
"""

import dataclasses
import logging
import os
import time
from typing import List, Optional

import numpy as np

from core.errors import UserInputError
from core.progress import Progress
from hourglass.inference import frame_sources
from hourglass.inference import smoothing as smoothing_lib
from hourglass.inference.identities import IdentityTracker
from hourglass.inference.detectors import DetectorBoxes
from hourglass.inference.objects import FixedBoxes, predict_objects
from hourglass.inference.search import FrameSearch


@dataclasses.dataclass(kw_only=True)
class IdentityAnalysis:
  """One analysed video with several objects (T frames, N identities, K keypoints, frame px).

  Attributes:
    track_ids: [N] int, the identities in order; column n of every array is track_ids[n].
    keypoints [T, N, K, 2] (NaN where the identity is absent), scores [T, N, K] (0 there),
    boxes [T, N, 4] [x, y, w, h] (NaN there): the raw predictions per identity.
    smoothed [T, N, K, 2] (NaN where missing) and interpolated [T, N, K] bool, or None: the
    filter `smoothing` run per identity.
    objects: per frame, the objects predicted (dicts 'keypoints', 'scores', 'box',
      'box_score', 'track_id' (-1: none: unconfirmed, a repeat of another object, possibly
      two animals in one, or over num_objects)).
    doubt: [T] float in [0, 1] (IdentityTracker.doubt); spans: {id: Span}.
    timings: seconds per stage ('decode', 'objects': detector and crops, 'identities').
    seconds: wall time of the pass; error: the message of a bad frame that ended the video
      early, else None.
  """
  path: str
  names: List[str]
  fps: float
  size: tuple
  track_ids: np.ndarray
  keypoints: np.ndarray
  scores: np.ndarray
  boxes: np.ndarray
  smoothed: Optional[np.ndarray]
  interpolated: Optional[np.ndarray]
  smoothing: str
  objects: list
  doubt: np.ndarray
  spans: dict
  timings: dict
  seconds: float
  error: Optional[str] = None

  @property
  def frames(self):
    return len(self.objects)

  @property
  def present(self):
    """[T, N] bool: the identity has an object in the frame."""
    return np.isfinite(self.boxes[..., 0])

  @property
  def counts(self):
    """[T] int: objects per frame (every object predicted, with an id or not)."""
    return np.array([len(objects) for objects in self.objects], int)

  def identity(self, track_id):
    """(keypoints [T, K, 2] NaN where absent, scores [T, K]) of one id."""
    n = int(np.flatnonzero(self.track_ids == track_id)[0])
    return self.keypoints[:, n], self.scores[:, n]


def analyze_objects(predictor, spec, detections, config):
  """Predicts every object of every frame of a video and keeps their identities.

  Args:
    predictor: any Predictor; detections: DetectorBoxes or box_files.Boxes.
    spec: a video file.
    config: PredictConfig (its analysis.identity, .track, .search and .smoothing settings).
  Returns:
    IdentityAnalysis. A frame of another size mid-stream ends the analysis there, with `error`
    set (the frames before it are kept).
  Raises:
    UserInputError: the video cannot be opened or has no frame.
  """
  analysis = config.analysis
  source = frame_sources.Source(spec, config.max_frames)
  tracker = IdentityTracker(predictor.definition.oks_sigmas(), analysis.identity,
                            analysis.search.keypoint_threshold, analysis.track.min_score)
  start = time.perf_counter()
  objects, error, timings = _track_frames(predictor, source, detections, tracker, config)
  seconds = time.perf_counter() - start
  if not objects:
    raise UserInputError(error or f'--input {spec}: no frame could be read')
  for frame_objects, ids in zip(objects, tracker.ids):
    for obj, track_id in zip(frame_objects, ids):
      obj['track_id'] = int(track_id)
  track_ids, keypoints, scores, boxes = identity_arrays(objects, predictor.definition.num_keypoints)
  smoothed, interpolated, method = smooth_identities(keypoints, scores, analysis.smoothing,
                                                     source.fps)
  _warn_count(spec, objects, analysis.identity.num_objects, len(track_ids))
  return IdentityAnalysis(
      path=str(spec), names=list(predictor.definition.names), fps=source.fps, size=source.size,
      track_ids=track_ids, keypoints=keypoints, scores=scores, boxes=boxes, smoothed=smoothed,
      interpolated=interpolated, smoothing=method, objects=objects,
      doubt=np.array(tracker.doubt[:len(objects)]), spans=tracker.spans, timings=timings,
      seconds=seconds, error=error)


def _track_frames(predictor, source, detections, tracker, config):
  """The frame loop of analyze_objects.

  Returns:
    (per frame the object dicts, the error message of a frame of another size or None,
    timings).
  """
  spec, every = source.spec, config.analysis.identity.detect_every
  progress = Progress(source.total, f'track {os.path.basename(str(spec))}', 'frames',
                      every_s=config.log_every_s)
  timings = {'decode': 0.0, 'objects': 0.0, 'identities': 0.0}
  objects, batch, error = [], [], None
  frames = iter(source)
  while True:
    tick = time.perf_counter()
    frame = next(frames, None)
    timings['decode'] += time.perf_counter() - tick
    error = source.size_error(frame) if frame is not None else None
    if error:
      frame = None
    if frame is not None:
      batch.append(frame)
    # Skipping the detector needs each frame's tracks before the next frame's crops.
    if batch and (frame is None or len(batch) >= (config.batch_frames if every == 1 else 1)):
      objects += _batch_objects(predictor, batch, detections, tracker, config, timings)
      progress.update(len(batch), note=f'{len(tracker.spans)} tracks')
      batch = []
    if frame is None:
      break
  progress.close(note=f'{len(tracker.spans)} tracks')
  return objects, error, timings


def _batch_objects(predictor, batch, detections, tracker, config, timings):
  """Each frame's object dicts of a batch, given to the tracker in order."""
  tick = time.perf_counter()
  every = config.analysis.identity.detect_every
  frame = batch[0].index
  if every > 1 and frame % every and isinstance(detections, DetectorBoxes):
    # Objects of the tracks' own crops (the box rule's boxes) on the frames the detector skips.
    boxes = tracker.predicted_boxes(frame, predictor.crop_rule)
    found = predict_objects(predictor, batch, FixedBoxes(boxes, 'the tracks'),
                            dataclasses.replace(config, box_scale=1.0), None)
    found = {frame: [o for o in found[frame]
                     if np.mean(o['scores']) >= config.analysis.track.min_score]}
  else:
    # A boxes file without a frame's entry and --missing_boxes=frame: the whole-frame search.
    search = (FrameSearch(predictor, config.analysis.search) if config.missing_boxes == 'frame'
              else None)
    found = predict_objects(predictor, batch, detections, config, search)
  tock = time.perf_counter()
  for f in batch:
    tracker.update(f.index, found[f.index])
  timings['objects'] += tock - tick
  timings['identities'] += time.perf_counter() - tock
  return [found[f.index] for f in batch]


def identity_arrays(objects, num_keypoints):
  """Per-identity arrays from per-frame objects with a 'track_id'.

  Returns:
    (track_ids [N], keypoints [T, N, K, 2] NaN where absent, scores [T, N, K] 0 there,
    boxes [T, N, 4] NaN there).
  """
  track_ids = np.array(sorted({o['track_id'] for frame in objects for o in frame
                               if o['track_id'] >= 0}), int)
  column = {int(t): n for n, t in enumerate(track_ids)}
  shape = (len(objects), len(track_ids))
  keypoints = np.full(shape + (num_keypoints, 2), np.nan)
  scores = np.zeros(shape + (num_keypoints,))
  boxes = np.full(shape + (4,), np.nan)
  for t, frame in enumerate(objects):
    for o in frame:
      if o['track_id'] >= 0:
        n = column[o['track_id']]
        keypoints[t, n], scores[t, n], boxes[t, n] = o['keypoints'], o['scores'], o['box']
  return track_ids, keypoints, scores, boxes


def smooth_identities(keypoints, scores, settings, fps):
  """The offline filter run on each identity alone.

  Args:
    keypoints [T, N, K, 2], scores [T, N, K].
  Returns:
    (smoothed [T, N, K, 2] or None, interpolated [T, N, K] or None, method).
  """
  smoothed, interpolated, method = [], [], 'off'
  for n in range(keypoints.shape[1]):
    s, i, method = smoothing_lib.smooth(keypoints[:, n], scores[:, n], settings, fps)
    smoothed.append(s)
    interpolated.append(i)
  if method == 'off' or not smoothed:
    return None, None, method if smoothed else settings.method
  return np.stack(smoothed, 1), np.stack(interpolated, 1), method


def _warn_count(spec, objects, num_objects, identities):
  """Logs when the frames show fewer objects than --num_objects, or their count changes."""
  counts = np.array([len(o) for o in objects])
  if num_objects is not None and counts.max() < num_objects:
    logging.warning('%s: --num_objects=%d, but no frame shows more than %d object(s) (%d '
                    'identities); is the number right, and does the detector find them all?',
                    spec, num_objects, counts.max(), identities)
  elif num_objects is None and len(set(counts.tolist())) > 1:
    values, frames = np.unique(counts, return_counts=True)
    logging.info('%s: the number of objects changes: %s', spec, ', '.join(
        f'{v} in {f} frame(s)' for v, f in zip(values, frames)))


def summary_line(result):
  """The end-of-run summary of one video with identities."""
  counts = result.counts
  started = sum(1 for s in result.spans.values() if s.first > 0)
  ended = sum(1 for s in result.spans.values() if s.ended)
  refound = sum(s.refound for s in result.spans.values())
  speed = result.frames / max(result.seconds, 1e-9)
  stages = ', '.join(f'{k} {1000 * v / max(result.frames, 1):.1f}'
                     for k, v in result.timings.items())
  return (f'{result.path}: {result.frames} frames, objects per frame {counts.mean():.2f} '
          f'(min {counts.min()}, max {counts.max()}), {len(result.track_ids)} identities '
          f'({started} started after the first frame, {ended} ended before the last, '
          f'{refound} times found again after a gap), {speed:.1f} frames/s; ms per frame: '
          f'{stages}')

