"""The keypoints JSON documents of predict: the objects of one frame, and a video analysis.

Coordinates are original image pixels (integer = pixel centre), rounded to 0.01 px; scores to
1e-4. Every keypoint of the model is named, so a reader never depends on channel order.
"""

import dataclasses
from typing import Sequence

import numpy as np


def objects_json(objects, conf_threshold, names: Sequence[str]):
  """JSON-ready objects: keypoints [x, y, score] (null under the threshold) by name."""
  out = []
  for obj in objects:
    keypoints = {}
    for n, (xy, s) in zip(names, zip(obj['keypoints'], obj['scores'])):
      keypoints[n] = ([round(float(xy[0]), 2), round(float(xy[1]), 2), round(float(s), 4)]
                      if s >= conf_threshold else None)
    out.append({'box': [round(float(v), 2) for v in obj['box']],
                'box_score': float(obj['box_score']), 'keypoints': keypoints})
  return out


def points_json(xy, scores, names):
  return {n: [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
          if np.isfinite(x) else None for n, (x, y), s in zip(names, xy, scores)}


def result_json(result, model_name, config):
  """The JSON document: every keypoint's x, y and score, raw and smoothed, per frame."""
  frames = []
  for t in range(result.frames):
    entry = {'frame': t, 'how': result.how[t],
             'keypoints': points_json(result.keypoints[t], result.scores[t], result.names)}
    if result.smoothed is not None:
      entry['smoothed'] = points_json(result.smoothed[t], result.scores[t], result.names)
      entry['interpolated'] = [n for n, i in zip(result.names, result.interpolated[t]) if i]
    frames.append(entry)
  return {'model': model_name, 'input': result.path, 'keypoint_names': result.names,
          'coordinates': 'original frame pixels, integer = pixel centre', 'fps': result.fps,
          'size': list(result.size), 'smoothing': result.smoothing,
          'smoothing_settings': dataclasses.asdict(config.smoothing),
          'pcutoff': config.pcutoff, 'searches': result.searches,
          'researches': result.researches, 'frames': frames}
