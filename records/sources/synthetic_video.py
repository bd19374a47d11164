"""A synthetic video with ground truth: the synthetic set's creature (records/sources/synthetic.py)
walking through a 640x480 scene, for measuring whole-frame search, tracking and smoothing.

The creature walks along a smoothed path of waypoints (at most 8 px a frame), sways (+-30
degrees), moves its limbs, changes size 2x (torso 18 -> 36 px, so its extent stays under a fifth
of the width), is covered by an occluder twice, and leaves the frame on the right for at least
30 frames before it comes back. Written as an mp4 and, beside it, `<stem>_truth.csv` in
DeepLabCut's CSV layout (records/dlc_csv.py; likelihood 1 visible, 0.5 occluded, missing
outside the frame) and `<stem>_truth.json` (the events' frame ranges).

    from records.sources.synthetic_video import write_video
    info = write_video('walk.mp4', frames=600, seed=0)
"""

import math
import os

import numpy as np

from core import files
from core.video import VideoWriter
from records import dlc_csv
from records.sources import synthetic

# (fraction of the video, x, y) waypoints in a 640x480 frame; x > 700 is outside on the right.
_WAYPOINTS = ((0.0, 150, 240), (0.13, 450, 150), (0.26, 500, 380), (0.37, 300, 400),
              (0.46, 560, 240), (0.5, 720, 240), (0.575, 730, 260), (0.635, 560, 300),
              (0.76, 250, 120), (0.88, 120, 350), (1.0, 320, 240))
# Occlusions: (start, end) fractions of the video; the occluder covers the creature's lower half.
_OCCLUSIONS = ((0.2, 0.25), (0.7, 0.75))
MAX_SPEED = 8.0


def _path(frames):
  """Centre [T, 2] along the waypoints, smoothed (Gaussian, sigma 4 frames)."""
  t = np.arange(frames)
  at = np.array([w[0] for w in _WAYPOINTS]) * (frames - 1)
  xy = np.stack([np.interp(t, at, [w[1] for w in _WAYPOINTS]),
                 np.interp(t, at, [w[2] for w in _WAYPOINTS])], 1)
  kernel = np.exp(-0.5 * (np.arange(-12, 13) / 4.0) ** 2)
  kernel /= kernel.sum()
  padded = np.pad(xy, ((12, 12), (0, 0)), mode='edge')
  return np.stack([np.convolve(padded[:, c], kernel, mode='valid') for c in range(2)], 1)


def scene_keypoints(frames):
  """The creature's keypoints [T, 9, 2] and its torso length [T] per frame."""
  t = np.arange(frames, dtype=np.float64)
  torso = 27.0 - 9.0 * np.cos(2 * math.pi * t / max(frames / 1.5, 1))  # 18 .. 36 px
  sway = np.radians(30.0 * np.sin(2 * math.pi * t / 200.0))
  centre = _path(frames)
  out = np.zeros((frames, len(synthetic.NAMES), 2))
  for n in range(frames):
    angles = [(lo + hi) / 2 + (hi - lo) / 2 * 0.8 * math.sin(2 * math.pi * t[n] / period + i)
              for i, ((lo, hi), period) in enumerate(zip(synthetic.LIMB_RANGES,
                                                         (40, 31, 44, 29, 36, 38)))]
    kp = synthetic.pose_from_angles(torso[n], angles)
    rot = np.array([[math.cos(sway[n]), -math.sin(sway[n])],
                    [math.sin(sway[n]), math.cos(sway[n])]])
    out[n] = (kp - kp[[1, 6]].mean(0)) @ rot.T + centre[n]
  return out, torso


def write_video(path, frames=600, seed=0, size=(480, 640), fps=30.0):
  """Renders the video and its ground truth.

  Returns:
    dict: 'video', 'truth_csv', 'truth_json', 'frames', 'fps', 'outside' [(start, end)) frame
    ranges with every point outside the frame, 'occluded' frame ranges, 'max_speed' px/frame.
  """
  height, width = size
  keypoints, torso = scene_keypoints(frames)
  rng = np.random.default_rng([seed, 11])
  scene = synthetic.background(rng, size)
  visibility = np.full(keypoints.shape[:2], 2, np.int32)
  occluded_ranges = [(int(a * frames), int(b * frames)) for a, b in _OCCLUSIONS]
  stem = os.path.splitext(path)[0]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with VideoWriter(path, fps) as writer:
    for n in range(frames):
      occluder = ()
      if any(a <= n < b for a, b in occluded_ranges):
        hip = keypoints[n, synthetic.NAMES.index('hip')]
        occluder = (hip[0], hip[1] + 0.6 * torso[n], 1.6 * torso[n], 0.9 * torso[n], 0.0,
                    (120.0, 120.0, 128.0))
        visibility[n][synthetic.occluded(keypoints[n], occluder)] = 1
      writer.write(synthetic.render_frame(scene, keypoints[n], torso[n] * 0.2, occluder, rng))
  outside = ((keypoints[..., 0] < 0) | (keypoints[..., 1] < 0) |
             (keypoints[..., 0] > width - 1) | (keypoints[..., 1] > height - 1))
  visibility[outside] = 0
  truth = np.where(visibility[..., None] > 0, keypoints, np.nan)
  truth_csv = f'{stem}_truth.csv'
  dlc_csv.write_dlc_csv(truth_csv, 'ground_truth', list(synthetic.NAMES), truth,
                        visibility / 2.0)
  gone = np.all(outside, axis=1)
  edges = np.flatnonzero(np.diff(np.concatenate([[0], gone.astype(int), [0]])))
  info = {'video': os.path.abspath(path), 'truth_csv': os.path.abspath(truth_csv),
          'frames': frames, 'fps': fps, 'size': [width, height],
          'outside': [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2])],
          'occluded': occluded_ranges,
          'max_speed': float(np.max(np.linalg.norm(np.diff(keypoints.mean(1), axis=0), axis=1))),
          'torso_range': [float(torso.min()), float(torso.max())],
          'max_extent': float(np.max(keypoints.max(1) - keypoints.min(1)))}
  info['truth_json'] = os.path.abspath(f'{stem}_truth.json')
  files.write_json(info['truth_json'], info, indent=1)
  return info
