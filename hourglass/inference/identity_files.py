"""What --mode=predict writes for a video with several objects (hourglass.inference.
identity_analysis), beside `<stem>`:

- `<stem>.csv` and `<stem>_filtered.csv`: DeepLabCut's multi-animal layout (records/dlc_csv.py),
  one individual per identity, named `individual<id>`, raw and smoothed per identity;
- `<stem>.json`: every frame's objects, each with its `track_id` (null: no identity: not yet
  confirmed, a repeat of another object, possibly two animals in one, or over --num_objects),
  raw keypoints and, where the identity has an object, smoothed ones; the frame's identity
  doubt (IdentityTracker.doubt); and the tracks' spans;
- `<stem>_tracking.png`: when each identity was seen and where its centre went;
- `<stem>.mp4`: the labelled video, each identity in its colour with its id, drawn in a second
  pass over the file (the smoothed keypoints, else the raw).
"""

import dataclasses
import os
import time

import numpy as np

from core import files
from core.errors import UserInputError
from core.video import VideoWriter
from hourglass.inference import frame_sources, identity_analysis, keypoint_json, track_files
from hourglass.inference.video_analysis import labelled_video_path, output_stem
from records import dlc_csv


def individual_names(track_ids):
  """The CSV's individuals of track ids [N]: ['individual0', ...]."""
  return [f'individual{int(t)}' for t in track_ids]


def write_csvs(result, stem, scorer):
  """The raw and the smoothed CSVs. Returns {'csv': path, 'filtered_csv': path (if smoothed)}."""
  individuals = individual_names(result.track_ids)
  written = {'csv': f'{stem}.csv'}
  dlc_csv.write_dlc_csv(written['csv'], scorer, result.names, result.keypoints, result.scores,
                        individuals)
  if result.smoothed is not None:
    written['filtered_csv'] = f'{stem}_filtered.csv'
    scores = np.where(np.isfinite(result.smoothed[..., 0]), result.scores, 0.0)
    dlc_csv.write_dlc_csv(written['filtered_csv'], scorer, result.names, result.smoothed,
                          scores, individuals)
  return written


def result_document(result, model_name, detector_name, config):
  """The JSON document of a video with identities (see the module docstring)."""
  column = {int(t): n for n, t in enumerate(result.track_ids)}
  frames = []
  for t, objects in enumerate(result.objects):
    entries = keypoint_json.objects_json(objects, -np.inf, result.names)  # every keypoint kept
    for obj, entry in zip(objects, entries):
      track_id = obj['track_id']
      entry['track_id'] = track_id if track_id >= 0 else None
      if track_id >= 0 and result.smoothed is not None:
        n = column[track_id]
        entry['smoothed'] = keypoint_json.points_json(result.smoothed[t, n], result.scores[t, n],
                                                      result.names)
    frames.append({'frame': t, 'doubt': round(float(result.doubt[t]), 4), 'objects': entries})
  spans = [dataclasses.asdict(result.spans[int(t)]) for t in result.track_ids]
  return {'model': model_name, 'detector': detector_name, 'input': result.path,
          'keypoint_names': result.names,
          'coordinates': 'original frame pixels, integer = pixel centre', 'fps': result.fps,
          'size': list(result.size), 'smoothing': result.smoothing,
          'smoothing_settings': dataclasses.asdict(config.smoothing),
          'identity_settings': dataclasses.asdict(config.identity),
          'individuals': individual_names(result.track_ids), 'tracks': spans, 'frames': frames}


def plot_identities(path, result, title):
  """A PNG: objects per frame and each identity's presence (top), its centre's x and y over
  time (below), one colour per identity as in the labelled video."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  from hourglass.keypoints import drawing  # pylint: disable=g-import-not-at-top
  t = np.arange(result.frames) / float(result.fps)
  figure, axes = pyplot.subplots(3, 1, figsize=(11, 8), sharex=True)
  axes[0].step(t, result.counts, where='mid', color='k', lw=0.8, label='objects')
  centres = result.boxes[..., :2] + result.boxes[..., 2:] / 2
  for n, track_id in enumerate(result.track_ids):
    colour = np.array(drawing.identity_colour(track_id)) / 255.0
    seen = np.where(result.present[:, n], -0.3 - 0.25 * n, np.nan)
    axes[0].plot(t, seen, color=colour, lw=3, solid_capstyle='butt')
    axes[0].text(t[0], -0.3 - 0.25 * n, f'{track_id} ', ha='right', va='center', fontsize=7)
    for axis, c in ((axes[1], 0), (axes[2], 1)):
      axis.plot(t, centres[:, n, c], color=colour, lw=0.9, label=f'id {track_id}')
  axes[0].set_ylabel('objects / ids seen')
  axes[0].set_ylim(-0.5 - 0.25 * len(result.track_ids), max(result.counts.max(), 1) + 0.5)
  axes[1].set_ylabel('centre x (px)')
  axes[2].set_ylabel('centre y (px)')
  axes[2].invert_yaxis()
  axes[2].set_xlabel('time (s)')
  if len(result.track_ids):
    axes[1].legend(loc='upper right', ncol=min(len(result.track_ids), 8), fontsize=7)
  axes[0].set_title(title, fontsize=9)
  return track_files.save_png(figure, path)


def render_video(spec, path, result, definition, conf_threshold):
  """Second pass over the video: each identity's skeleton in its colour with its id, written
  atomically. Returns (seconds drawing, seconds encoding)."""
  from hourglass.keypoints import drawing  # pylint: disable=g-import-not-at-top
  drawn = result.smoothed if result.smoothed is not None else result.keypoints
  visible = np.where(np.isfinite(drawn[..., 0]), result.scores, 0.0)
  drawing_s = encoding_s = 0.0
  with VideoWriter(path, result.fps) as writer:
    for frame in frame_sources.Source(spec, result.frames):
      t = frame.index
      if t >= result.frames:
        break
      tick = time.perf_counter()
      canvas = frame.rgb.copy()
      for n, track_id in enumerate(result.track_ids):
        if not result.present[t, n]:
          continue
        colour = drawing.identity_colour(track_id)
        canvas = drawing.draw_keypoints(canvas, drawn[t, n], visible[t, n], definition,
                                        conf_threshold, colour=colour)
        x, y = result.boxes[t, n, :2]
        drawing.draw_label(canvas, str(int(track_id)), (x, y), colour)
      tock = time.perf_counter()
      writer.write_rgb(canvas)
      drawing_s += tock - tick
      encoding_s += time.perf_counter() - tock
  return drawing_s, encoding_s


def analyze_and_write(predictor, spec, detections, config, several=False):
  """identity_analysis.analyze_objects, then every file of the module docstring.

  Args:
    config: PredictConfig (config.output: where, as for one tracked object).
  Returns:
    (IdentityAnalysis, dict of written paths: 'csv', 'filtered_csv', 'json', 'plot', 'video').
  Raises:
    UserInputError: from analyze_objects, or naming the frame where the video broke off (after
      writing the results of the frames before it).
  """
  analysis = config.analysis
  stem = output_stem(spec, config.output, several)
  os.makedirs(os.path.dirname(os.path.abspath(stem)), exist_ok=True)
  result = identity_analysis.analyze_objects(predictor, spec, detections, config)
  written = write_csvs(result, stem, predictor.name)
  written['json'] = f'{stem}.json'
  detector = getattr(detections, 'path', None)
  files.write_json(written['json'], result_document(result, predictor.name, detector, analysis),
                   indent=1)
  written['plot'] = plot_identities(
      f'{stem}_tracking.png', result,
      f'{os.path.basename(str(spec))}: {result.frames} frames, '
      f'{len(result.track_ids)} identities')
  if analysis.draw:
    video = labelled_video_path(stem, config.output, several)
    written['video'] = video
    drawing_s, encoding_s = render_video(spec, video, result, predictor.definition,
                                         config.conf_threshold)
    result.timings.update(drawing=drawing_s, encoding=encoding_s)
  if result.error:
    raise UserInputError(f'{result.error}\n(kept: the {result.frames} frame(s) before it, in '
                         f'{written["csv"]} and beside it)')
  return result, written
