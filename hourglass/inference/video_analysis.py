"""Whole videos without a detector: track one object, smooth its keypoints, write the results.

    from hourglass.inference.loading import load_predictor
    from hourglass.inference.video_analysis import analyze
    result = analyze(load_predictor('runs/m'), 'clip.mp4')
    result.keypoints, result.scores, result.smoothed     # [T, K, 2], [T, K], [T, K, 2] (NaN gaps)

`analyze` is the keypoints pass (hourglass.inference.tracking.Tracker over every frame, then the
offline filter; webcams: One-Euro online). `analyze_and_write` adds what `--mode=predict` writes
for a video: `<stem>.csv` and `<stem>_filtered.csv` (DeepLabCut's layout, raw and smoothed),
`<stem>.json` (x, y, score raw and smoothed for every keypoint and frame), `<stem>_tracking.png`,
and the labelled video `<stem>.mp4` (skeleton of the smoothed keypoints, optionally a trail),
drawn in a second pass over the file so that the offline filter sees the whole track. Tracking is
single-object: several objects only through `--detections`.
"""

import dataclasses
import logging
import os
import time
from typing import List, Optional

import cv2
import numpy as np

from core import files
from core.errors import UserInputError
from core.progress import Progress
from core.video import VideoWriter
from hourglass.inference import frame_sources, keypoint_json, track_files
from hourglass.inference import smoothing as smoothing_lib
from hourglass.inference.config import AnalysisConfig
from hourglass.inference.tracking import Tracker
from records import dlc_csv


@dataclasses.dataclass(kw_only=True)
class VideoAnalysis:
  """Per-frame arrays of one analysed video (T frames, K keypoints, frame px); built by name
  (keyword arguments only: most fields are arrays or counts a position would confuse).

  Attributes:
    keypoints [T, K, 2], scores [T, K]: the raw track.
    how: [T] 'track', 'search' or 'check' (hourglass.inference.tracking.TrackStep).
    smoothed [T, K, 2] (NaN where missing) and interpolated [T, K] bool, or None when off;
    smoothing: the filter used.
    searches, researches, checks, agreements: the tracker's counts.
    timings: seconds per stage ('decode', 'crop', 'network', 'decoding', later 'drawing',
      'encoding').
    seconds: wall time of the keypoints pass.
    error: the message of a bad frame that ended the video early, else None.
  """
  path: str
  names: List[str]
  fps: float
  size: tuple
  keypoints: np.ndarray
  scores: np.ndarray
  how: List[str]
  smoothed: Optional[np.ndarray]
  interpolated: Optional[np.ndarray]
  smoothing: str
  searches: int
  researches: int
  checks: int
  agreements: int
  timings: dict
  seconds: float
  error: Optional[str] = None

  @property
  def frames(self):
    return len(self.keypoints)

  def all_confident(self, pcutoff):
    """Fraction of frames whose every keypoint scores at least pcutoff."""
    return float(np.mean(np.all(self.scores >= pcutoff, axis=1))) if self.frames else 0.0

  def not_found(self, min_score):
    """The stretches [(first, last), ...] of frames whose mean keypoint score is under
    min_score (the tracker's rule for a lost object)."""
    lost = np.concatenate([[False], np.mean(self.scores, axis=1) < min_score, [False]])
    edges = np.flatnonzero(np.diff(lost.astype(np.int8)))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def analyze(predictor, spec, config: Optional[AnalysisConfig] = None, on_frame=None):
  """Tracks the object through a video file or webcam and smooths the track.

  Args:
    predictor: any Predictor.
    spec: a video file or a webcam index.
    on_frame: called as on_frame(Frame, keypoints [K, 2], scores [K]) for each frame (live
      drawing: the One-Euro-filtered keypoints for webcams); None for none.
  Returns:
    VideoAnalysis. A frame of another size mid-stream ends the analysis there, with `error` set
    (the frames before it are kept).
  Raises:
    UserInputError: the input cannot be opened or has no frame.
  """
  config = config or AnalysisConfig()
  source = frame_sources.Source(spec, config.max_frames)
  if source.kind not in ('video', 'webcam'):
    raise UserInputError(f'--input {spec}: not a video file or webcam')
  live = source.kind == 'webcam'
  tracker = Tracker(predictor, config.track, config.search)
  online = None
  if live and config.smoothing.method in ('auto', 'one_euro'):
    s = config.smoothing
    online = smoothing_lib.OneEuro(source.fps, s.min_cutoff, s.beta, s.d_cutoff)
  start = time.perf_counter()
  track, error, decode_s = _track_frames(source, tracker, online, config, on_frame)
  keypoints, scores, how, online_track = track
  seconds = time.perf_counter() - start
  if not keypoints:
    raise UserInputError(error or f'--input {spec}: no frame could be read')
  declared = source.total if source.kind == 'video' else None
  if error is None and declared and len(keypoints) < declared and not config.max_frames:
    logging.warning('%s: the file declares %d frames, but only %d could be read (it ends early '
                    'at frame %d)', spec, declared, len(keypoints), len(keypoints))
  kp, sc = np.array(keypoints, np.float64), np.array(scores, np.float64)
  if online is not None:
    smoothed, interpolated, method = np.array(online_track), np.zeros(sc.shape, bool), 'one_euro'
  else:
    smoothed, interpolated, method = smoothing_lib.smooth(kp, sc, config.smoothing, source.fps,
                                                          live)
  timings = dict(tracker.timings, decode=decode_s)
  if np.all(np.mean(sc, axis=1) < config.track.min_score):
    logging.warning('%s: the object was never found: no frame of the %d reached a mean keypoint '
                    'score of %.2f (--track_min_score); is it the kind of object the model was '
                    'trained on, at a size it knows?', spec, len(sc), config.track.min_score)
  return VideoAnalysis(
      path=str(spec), names=list(predictor.definition.names), fps=source.fps, size=source.size,
      keypoints=kp, scores=sc, how=how, smoothed=smoothed, interpolated=interpolated,
      smoothing=method, searches=tracker.searches, researches=tracker.researches,
      checks=tracker.checks, agreements=tracker.agreements, timings=timings, seconds=seconds,
      error=error)


def _track_frames(source, tracker, online, config, on_frame):
  """The tracking loop of `analyze`.

  Returns:
    ((keypoints, scores, how, online-filtered) lists per frame, the error message of a frame of
    another size (None), seconds spent decoding frames).
  """
  spec = source.spec
  keypoints, scores, how, online_track = [], [], [], []
  progress = Progress(source.total, f'analyse {os.path.basename(str(spec))}', 'frames',
                      every_s=config.log_every_s)
  error, decode_s = None, 0.0
  frames = iter(source)
  try:
    while True:
      tick = time.perf_counter()
      frame = next(frames, None)
      decode_s += time.perf_counter() - tick
      if frame is None:
        break
      error = source.size_error(frame)
      if error:
        break
      step = tracker.step(frame.rgb)
      keypoints.append(step.keypoints)
      scores.append(step.scores)
      how.append(step.how)
      shown = step.keypoints
      if online is not None:
        shown = online(step.keypoints, step.scores >= config.smoothing.min_score)
        online_track.append(shown)
      if on_frame is not None:
        on_frame(frame, shown, step.scores)
      progress.update(note=f'{tracker.searches} searches')
  except KeyboardInterrupt:  # webcam: Ctrl-C ends the run and keeps what was analysed
    logging.info('interrupted: keeping the %d frames analysed so far', len(keypoints))
  progress.close(note=f'{tracker.searches} searches')
  return (keypoints, scores, how, online_track), error, decode_s


def output_stem(spec, output=None, several=False):
  """Where a video's results go: `output` without its extension (a folder when several videos
  are analysed), else `<input stem>_keypoints` beside the input."""
  if frame_sources.Source.is_webcam(spec):
    base = f'webcam_{spec}_keypoints'
  else:
    base = os.path.splitext(os.path.normpath(str(spec)))[0] + '_keypoints'
  if output and several:
    return os.path.join(output, os.path.basename(base))
  if output:
    return os.path.splitext(output)[0]
  return base


def labelled_video_path(stem, output=None, several=False):
  """The labelled video: --output itself when it names one video, else <stem>.mp4."""
  return (output if output and not several and output.lower().endswith(
      frame_sources.VIDEO_EXTENSIONS) else f'{stem}.mp4')


def render_labelled_video(spec, path, result, definition, config):
  """Second pass over a video file: draws the (smoothed, else raw) keypoints on every frame and
  writes the labelled video atomically. Returns (seconds drawing, seconds encoding)."""
  drawn = result.smoothed if result.smoothed is not None else result.keypoints
  visible = np.where(np.isfinite(drawn[..., 0]), result.scores, 0.0)
  source = frame_sources.Source(spec, result.frames)
  drawing_s = encoding_s = 0.0
  with VideoWriter(path, result.fps) as writer:
    for frame in source:
      t = frame.index
      if t >= result.frames:
        break
      tick = time.perf_counter()
      canvas = draw_frame(frame.rgb, drawn, visible, t, definition, config)
      tock = time.perf_counter()
      writer.write_rgb(canvas)
      drawing_s += tock - tick
      encoding_s += time.perf_counter() - tock
  return drawing_s, encoding_s


def draw_frame(rgb, drawn, visible, t, definition, config):
  """The skeleton of frame t (drawn [T, K, 2], visible [T, K] scores) with an optional trail."""
  from hourglass.keypoints import drawing  # pylint: disable=g-import-not-at-top
  canvas = drawing.draw_keypoints(rgb, drawn[t], visible[t], definition, config.conf_threshold)
  if config.trail > 0 and t > 0:
    colours = drawing.keypoint_colours(definition)
    for k in range(drawn.shape[1]):
      points = drawn[max(0, t - config.trail):t + 1, k]
      points = points[np.isfinite(points[:, 0])]
      if len(points) > 1:
        cv2.polylines(canvas, [np.round(points).astype(np.int32)], False, colours[k], 1,
                      cv2.LINE_AA)
  return canvas


class _LiveWriter:
  """Draws and encodes webcam frames as they are analysed (on_frame of `analyze`) into a
  core.video.VideoWriter at 30 fps."""

  def __init__(self, path, definition, config):
    self.definition, self.config = definition, dataclasses.replace(config, trail=0)
    self.video = VideoWriter(path, 30.0)

  def __call__(self, frame, keypoints, scores):
    self.video.write_rgb(draw_frame(frame.rgb, keypoints[None], scores[None], 0,
                                    self.definition, self.config))


def summary_line(result, config):
  """The end-of-run summary of one video."""
  speed = result.frames / max(result.seconds, 1e-9)
  stages = ', '.join(f'{k} {1000 * v / max(result.frames, 1):.1f}'
                     for k, v in result.timings.items())
  lost = result.not_found(config.track.min_score)
  where = ', '.join(f'{a}-{b}' if b > a else f'{a}' for a, b in lost[:3])
  where = f' (frames {where}{", ..." if len(lost) > 3 else ""})' if lost else ''
  return (f'{result.path}: {result.frames} frames, {100 * result.all_confident(config.pcutoff):.1f}%'
          f' with every keypoint >= pcutoff {config.pcutoff}, not found in '
          f'{sum(b - a + 1 for a, b in lost)}{where}, '
          f'{result.searches} whole-frame searches ({result.researches} after a loss), '
          f'{speed:.1f} frames/s keypoints pass; ms per frame: {stages}')


def analyze_and_write(predictor, spec, config: Optional[AnalysisConfig] = None, output=None,
                      several=False):
  """`analyze`, then every result file (see the module docstring).

  Returns:
    (VideoAnalysis, dict of written paths: 'csv', 'filtered_csv', 'json', 'plot', 'video').
  Raises:
    UserInputError: from `analyze`, or naming the file and frame where the video broke off
      (after writing the results of the frames before it).
  """
  config = config or AnalysisConfig()
  stem = output_stem(spec, output, several)
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  written = {}
  live_writer = None
  video_path = labelled_video_path(stem, output, several)
  if config.draw and frame_sources.Source.is_webcam(spec):  # live: drawn as the frames come
    written['video'] = video_path
    live_writer = _LiveWriter(written['video'], predictor.definition, config)
  try:
    result = analyze(predictor, spec, config, live_writer)
  except BaseException:
    if live_writer is not None:
      live_writer.video.abort()
    raise
  if live_writer is not None:
    live_writer.video.close()
  names, scorer = result.names, predictor.name
  written['csv'] = f'{stem}.csv'
  dlc_csv.write_dlc_csv(written['csv'], scorer, names, result.keypoints, result.scores)
  if result.smoothed is not None:
    written['filtered_csv'] = f'{stem}_filtered.csv'
    filtered_scores = np.where(np.isfinite(result.smoothed[..., 0]), result.scores, 0.0)
    dlc_csv.write_dlc_csv(written['filtered_csv'], scorer, names, result.smoothed,
                              filtered_scores)
  written['json'] = f'{stem}.json'
  files.write_json(written['json'], keypoint_json.result_json(result, scorer, config), indent=1)
  written['plot'] = track_files.plot_tracks(
      f'{stem}_tracking.png', names, result.scores, result.keypoints, result.smoothed,
      np.array([h != 'track' for h in result.how]), config.pcutoff, result.fps,
      f'{os.path.basename(str(spec))}: {result.frames} frames, {result.searches} searches')
  if config.draw and not frame_sources.Source.is_webcam(spec):
    written['video'] = video_path
    drawing_s, encoding_s = render_labelled_video(spec, written['video'], result,
                                                  predictor.definition, config)
    result.timings.update(drawing=drawing_s, encoding=encoding_s)
  if result.error:
    raise UserInputError(f'{result.error}\n(kept: the {result.frames} frame(s) before it, in '
                         f'{written["csv"]} and beside it)')
  return result, written
