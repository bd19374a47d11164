"""A synthetic video of 3 look-alike creatures with ground-truth identities, for tuning and
measuring multi-object tracking (identity switches at crossings, re-entry after leaving).

The creatures are the multi-creature images' (records/sources/synthetic.py, `synthetic_objects`
> 1): one colour scheme, so identity cannot come from colour. Each frame is drawn as those
320x240 images are, then scaled 2x to 640x480 (as benchmarks/detector_speed.py shows a detector
trained on them), so the creatures' size and look stay in what the detector and the keypoint
model have seen: torso 33..49 px at 640x480 (inside the images' 14..28 px, scaled 2x: 28..56).

Motion: each creature walks along smoothed waypoints (at most MAX_SPEED px a frame, centre),
sways and moves its limbs as in synthetic_video.py. Every ~100 frames two of them walk into each
other and pass within a body length (BODY_LENGTH torsos, head to feet), then turn and change
speed; the one lower in the frame is drawn later and covers the other (covered points get
visibility 1, as in the images). One creature walks out of the frame, stays wholly outside for
47-60 frames (seeds 0-39; seed 0: frames 392-450, 59 frames), and comes back.

Written as an mp4 and, beside it, `<stem>_truth.csv` in DeepLabCut's multi-animal layout
(records/dlc_csv.py; individuals individual0..2; likelihood 1 visible, 0.5 covered by another
creature, empty outside the frame) and `<stem>_truth.json` (the events, per-frame boxes).

    from records.sources.synthetic_herd_video import plan, write_video
    herd = plan(frames=900, seed=0)         # keypoints, visibility and events, no pixels
    info = write_video('herd.mp4', frames=900, seed=0)
"""

import dataclasses
import math
import os

import cv2
import numpy as np

from core import files
from core.progress import Progress
from core.video import VideoWriter
from records import dlc_csv
from records.sources import synthetic

SIZE = (480, 640)  # (height, width) of the video
FPS = 30.0
SCALE = 2  # video px per px of the drawn synthetic.MULTI_FRAME_SIZE frame
COUNT = 3
INDIVIDUALS = tuple(f'individual{j}' for j in range(COUNT))
MAX_SPEED = 8.0  # px per frame of a creature's centre (the middle of neck and hip)
BODY_LENGTH = 2.5  # torso lengths, head to feet: a crossing brings two centres closer than this
PLANNED = 900  # frames the motion is planned for; shorter videos are its first frames
_SPEED = 6.0  # waypoint speed limit (px/frame); smoothing a path never makes it faster
_INTERIOR = (np.array([110.0, 120.0]), np.array([530.0, 360.0]))  # waypoint centres, in frame
_MEET_EVERY = 100  # frames between two meetings
_AWAY = 15  # frames the leaving creature lingers past the edge (wholly outside: 47-60 frames)
_SIGMA = 5.0  # frames: the Gaussian smoothing of the waypoint path
_TORSO = 41.0  # a typical torso (px), for planning distances before the sizes are drawn


@dataclasses.dataclass
class HerdPlan:
  """The video's ground truth, T frames of COUNT creatures with K = 9 keypoints each."""
  keypoints: np.ndarray   # float64 [T, 3, K, 2] video px (also where outside the frame)
  visibility: np.ndarray  # int32 [T, 3, K]: 2 visible, 1 covered by another creature, 0 outside
  torso: np.ndarray       # float64 [T, 3] torso length, video px
  order: np.ndarray       # int64 [T, 3] drawing order, the last on top
  events: dict            # crossings, outside, occluded, leaving: see _events


def _unit(v):
  return v / max(float(np.linalg.norm(v)), 1e-9)


def _rotate(v, degrees):
  a = math.radians(degrees)
  return np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) @ v


def _project(point, discs):
  """The point [2] moved into the intersection of the discs [(centre [2], radius)] (alternating
  projections: the nearest point there, or near it, when they do not meet)."""
  point = np.asarray(point, np.float64)
  for _ in range(30):
    for centre, radius in discs:
      offset = point - centre
      if np.linalg.norm(offset) > radius:
        point = centre + _unit(offset) * max(radius, 0.0)
  return point


def _schedule(rng, length):
  """The meetings [(frame, a, b)] and the leaving (creature, frame it is beyond the edge)."""
  leaver, leave_at = int(rng.integers(COUNT)), int(rng.integers(400, 440))
  others = tuple(j for j in range(COUNT) if j != leaver)
  pairs = [((0, 1), (1, 2), (0, 2))[i] for i in rng.permutation(3)]
  meetings = []
  for k, frame in enumerate(range(50, length - 40, _MEET_EVERY)):
    frame += int(rng.integers(-8, 9))
    pair = pairs[k % 3]
    if leaver in pair and leave_at - 120 < frame < leave_at + 140:  # it is walking out or away
      pair = others
    meetings.append((frame,) + pair)
  return meetings, (leaver, leave_at)


def _meet(rng, keys, frame, a, b):
  """Appends to keys[a] and keys[b] ([(frame, centre [2])]) the waypoints of a meeting: both
  walk straight in, pass within a body length of each other at `frame`, then turn and change
  speed."""
  (ta, pa), (tb, pb) = keys[a][-1], keys[b][-1]
  normal = _rotate(_unit(pb - pa), 90)
  # Off the line between them: they cross at an angle rather than head on.
  centre = (pa + pb) / 2 + normal * rng.uniform(-0.3, 0.3) * np.linalg.norm(pb - pa)
  # Reachable from both below _SPEED: the straight walk-in may be slower than the way there.
  centre = _project(np.clip(centre, *_INTERIOR), [(pa, 4.5 * (frame - ta)),
                                                  (pb, 4.5 * (frame - tb))])
  side = _rotate(_unit(_unit(centre - pa) - _unit(centre - pb)), 90)
  gap = rng.uniform(0.1, 0.6) * BODY_LENGTH * _TORSO  # centre to centre as they pass
  for j, start, sign in ((a, pa, -1), (b, pb, 1)):
    heading = _unit(centre - start)
    meet = centre + sign * side * gap / 2
    speed_in, lead = rng.uniform(3.0, _SPEED), int(rng.integers(12, 21))
    reach = min(speed_in * lead, 0.8 * np.linalg.norm(meet - start))
    speed_out = np.clip(speed_in * rng.uniform(0.3, 1.5), 1.0, _SPEED)  # slows or hurries
    lag = int(rng.integers(16, 29))
    turn = rng.uniform(20, 80) * rng.choice([-1, 1])
    out = np.clip(meet + _rotate(heading, turn) * speed_out * lag, *_INTERIOR)
    keys[j] += [(frame - lead, meet - heading * reach), (frame, meet), (frame + lag, out)]


def _leave(rng, keys, j, at):
  """Appends to keys[j] the waypoints of walking out of the frame on the nearer side (beyond the
  edge at `at`), lingering outside for _AWAY frames and coming back. Returns the side."""
  _, start = keys[j][-1]
  right = start[0] > SIZE[1] / 2
  edge_out, edge_in = (SIZE[1] + 150.0, SIZE[1] - 170.0) if right else (-150.0, 170.0)
  lo, hi = _INTERIOR[0][1], _INTERIOR[1][1]
  y = float(np.clip(start[1] + rng.uniform(-60, 60), lo, hi))
  keys[j] += [(at, np.array([edge_out, y])),
              (at + _AWAY, np.array([edge_out + (10 if right else -10),
                                     np.clip(y + rng.uniform(-50, 50), lo, hi)])),
              (at + _AWAY + 55, np.array([edge_in, np.clip(y + rng.uniform(-80, 80), lo, hi)]))]
  return 'right' if right else 'left'


def _wander(rng, keys, length):
  """keys with random waypoints (at 2.5..6 px a frame) in the gaps over 70 frames, and one at
  the last frame."""
  _, last = keys[-1]
  keys = keys + [(length - 1, _project(rng.uniform(*_INTERIOR),
                                       [(last, 3.0 * (length - 1 - keys[-1][0]))]))]
  out = [keys[0]]
  for t1, p1 in keys[1:]:
    t0, p0 = out[-1]
    while t1 - t0 > 70 and t1 - t0 - 35 >= 25:
      tm = t0 + int(rng.integers(35, min(60, t1 - t0 - 25) + 1))
      point = _project(rng.uniform(*_INTERIOR), [(p0, rng.uniform(2.5, _SPEED) * (tm - t0)),
                                                 (p1, _SPEED * (t1 - tm))])
      out.append((tm, point))
      t0, p0 = tm, point
    out.append((t1, p1))
  return out


def _paths(rng, length):
  """Centres [length, 3, 2] (smoothed waypoints) and the leaving (creature, side)."""
  meetings, (leaver, leave_at) = _schedule(rng, length)
  starts = rng.permutation([160.0, 320.0, 480.0])
  keys = [[(0, np.array([x, rng.uniform(150, 330)]))] for x in starts]
  events = sorted([(f, 'meet', (a, b)) for f, a, b in meetings] + [(leave_at, 'leave', leaver)])
  side = None
  for frame, kind, who in events:
    if kind == 'meet':
      _meet(rng, keys, frame, *who)
    else:
      side = _leave(rng, keys, who, frame)
  t = np.arange(length)
  radius = int(3 * _SIGMA)
  kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / _SIGMA) ** 2)
  kernel /= kernel.sum()
  centres = np.zeros((length, COUNT, 2))
  for j in range(COUNT):
    frames, points = zip(*_wander(rng, keys[j], length))
    for c in range(2):
      line = np.interp(t, frames, [p[c] for p in points])
      centres[:, j, c] = np.convolve(np.pad(line, radius, mode='edge'), kernel, mode='valid')
  return centres, (leaver, side)


def _poses(rng, centres):
  """Keypoints [T, 3, K, 2] and torso [T, 3] of the creatures about their centres [T, 3, 2]:
  each with its own size change, sway and limb rhythm."""
  length = len(centres)
  t = np.arange(length, dtype=np.float64)
  keypoints = np.zeros((length, COUNT, len(synthetic.NAMES), 2))
  torso = np.zeros((length, COUNT))
  for j in range(COUNT):
    size, period, phase = rng.uniform(38, 44), rng.uniform(300, 500), rng.uniform(0, 2 * math.pi)
    torso[:, j] = size + 5.0 * np.sin(2 * math.pi * t / period + phase)
    sway = np.radians(rng.uniform(20, 30) * np.sin(2 * math.pi * t / rng.uniform(170, 240)
                                                   + rng.uniform(0, 2 * math.pi)))
    periods = np.array([40, 31, 44, 29, 36, 38]) * rng.uniform(1.1, 1.4)
    phases = rng.uniform(0, 2 * math.pi, 6)
    for n in range(length):
      angles = [(lo + hi) / 2 + (hi - lo) / 2 * 0.8 * math.sin(2 * math.pi * t[n] / p + q)
                for (lo, hi), p, q in zip(synthetic.LIMB_RANGES, periods, phases)]
      kp = synthetic.pose_from_angles(torso[n, j], angles)
      c, s = math.cos(sway[n]), math.sin(sway[n])
      keypoints[n, j] = (kp - kp[[1, 6]].mean(0)) @ np.array([[c, s], [-s, c]]) + centres[n, j]
  return keypoints, torso


def _drawing_order(centres, torso):
  """[T, 3]: the creatures lower in the frame (nearer the camera) later; two swap only once
  their heights differ by a third of a torso, so the one on top does not flicker."""
  order = list(np.argsort(centres[0, :, 1], kind='stable'))
  out = np.zeros(centres.shape[:2], np.int64)
  for n in range(len(centres)):
    for _ in range(COUNT - 1):
      for i in range(COUNT - 1):
        a, b = order[i], order[i + 1]
        if centres[n, a, 1] > centres[n, b, 1] + torso[n].mean() / 3:
          order[i], order[i + 1] = b, a
    out[n] = order
  return out


def to_drawn(points):
  """Video px -> px of the 320x240 frame that is drawn and scaled: cv2.resize's half-pixel
  centres put a drawn px x at SCALE * x + (SCALE - 1) / 2."""
  return (np.asarray(points, np.float64) - (SCALE - 1) / 2) / SCALE


def _visibility(keypoints, torso, order):
  """[T, 3, K]: 2, 1 where a creature drawn later covers the point (synthetic.covered, in the
  drawn frame, as the images' labels), 0 outside the video frame."""
  drawn, thickness = to_drawn(keypoints), torso * 0.2 / SCALE
  vis = np.full(keypoints.shape[:3], 2, np.int32)
  for n in range(len(keypoints)):
    for i, j in enumerate(order[n]):
      for later in order[n, i + 1:]:
        vis[n, j][synthetic.covered(drawn[n, j], drawn[n, later], thickness[n, later])] = 1
  height, width = SIZE
  outside = ((keypoints[..., 0] < 0) | (keypoints[..., 1] < 0) |
             (keypoints[..., 0] > width - 1) | (keypoints[..., 1] > height - 1))
  vis[outside] = 0
  return vis


def _runs(flags):
  """[[first, last]] (inclusive) of the runs of True in flags [T]."""
  edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(flags, int), [0]])))
  return [[int(a), int(b) - 1] for a, b in zip(edges[::2], edges[1::2])]


def _crossings(centres, torso):
  """[{'frame', 'pair', 'distance', 'body_length'}]: each time two centres come closer than a
  body length (the pair's mean), at the closest frame; it ends past 1.2 body lengths."""
  found = []
  for a in range(COUNT):
    for b in range(a + 1, COUNT):
      distance = np.linalg.norm(centres[:, a] - centres[:, b], axis=-1)
      length = BODY_LENGTH * (torso[:, a] + torso[:, b]) / 2
      start = None
      for n in range(len(distance) + 1):
        if start is None and n < len(distance) and distance[n] < length[n]:
          start = n
        elif start is not None and (n == len(distance) or distance[n] > 1.2 * length[n]):
          closest = start + int(np.argmin(distance[start:n]))
          found.append({'frame': closest, 'pair': [a, b],
                        'distance': round(float(distance[closest]), 2),
                        'body_length': round(float(length[closest]), 2)})
          start = None
  return sorted(found, key=lambda c: c['frame'])


def truth_boxes(keypoints, visibility):
  """COCO boxes [T, N, 4] (x, y, w, h; NaN where no point is in the frame) of the keypoints
  [T, N, K, 2] with visibility [T, N, K] > 0; their area (OKS) is w * h."""
  inside = (visibility > 0)[..., None]
  lo = np.where(inside, keypoints, np.inf).min(2)
  hi = np.where(inside, keypoints, -np.inf).max(2)
  boxes = np.concatenate([lo, hi - lo], -1)
  boxes[~inside[..., 0].any(2)] = np.nan
  return boxes


def _events(keypoints, visibility, torso, leaving):
  centres = keypoints[:, :, [1, 6]].mean(2)
  speeds = np.linalg.norm(np.diff(centres, axis=0), axis=-1)
  point_speeds = np.linalg.norm(np.diff(keypoints, axis=0), axis=-1)
  leaver, side = leaving
  return {
      'crossings': _crossings(centres, torso),
      'outside': {name: _runs((visibility[:, j] == 0).all(1))
                  for j, name in enumerate(INDIVIDUALS)},
      'occluded': {name: _runs((visibility[:, j] == 1).any(1))
                   for j, name in enumerate(INDIVIDUALS)},
      'leaving': {'individual': INDIVIDUALS[leaver], 'side': side},
      'max_speed': float(speeds.max()) if len(speeds) else 0.0,
      'max_keypoint_speed': float(point_speeds.max()) if len(speeds) else 0.0,
      'torso_range': [float(torso.min()), float(torso.max())]}


def plan(frames=900, seed=0):
  """The video's ground truth without pixels (deterministic for a seed): the motion is planned
  for max(frames, PLANNED) frames, so a shorter video shows the first frames of the long one.

  Returns:
    HerdPlan of `frames` frames; its events: 'crossings' [{'frame', 'pair' [a, b], 'distance',
    'body_length'}], 'outside' and 'occluded' {individual: [[first, last]] frame ranges (all
    points outside the frame; some point covered by another creature)}, 'leaving'
    {'individual', 'side'} (the one that walks out and back; wholly outside: 'outside'),
    'max_speed' (centres) and 'max_keypoint_speed' px/frame, 'torso_range' px.
  """
  rng = np.random.default_rng([seed, 17])
  centres, leaving = _paths(rng, max(frames, PLANNED))
  keypoints, torso = _poses(rng, centres[:frames])
  order = _drawing_order(centres[:frames], torso)
  visibility = _visibility(keypoints, torso, order)
  return HerdPlan(keypoints, visibility, torso, order,
                  _events(keypoints, visibility, torso, leaving))


def render_frame(background, keypoints, torso, order, rng):
  """One BGR uint8 video frame [480, 640, 3]: the creatures (keypoints [3, K, 2] video px, torso
  [3]) drawn in `order` on a copy of `background` (the drawn frame, [240, 320, 3]) with sensor
  noise (from rng), then scaled 2x."""
  image = background.copy()
  drawn = to_drawn(keypoints)
  for j in order:
    synthetic._draw_creature(image, drawn[j], torso[j] * 0.2 / SCALE)
  image = synthetic._finish(image, (), rng)
  return cv2.resize(image, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_LINEAR)


def write_video(path, frames=900, seed=0, progress=True):
  """Renders the video (mp4, written atomically) and its ground truth beside it.

  Returns:
    dict: 'video', 'truth_csv', 'truth_json' (absolute paths), 'frames', 'fps', 'size' [w, h],
    'seed', 'individuals', plan()'s events, 'boxes' [T][3] truth_boxes (x, y, w, h) or None.
  """
  herd = plan(frames, seed)
  rng = np.random.default_rng([seed, 19])
  background = synthetic.background(rng, synthetic.MULTI_FRAME_SIZE)
  stem = os.path.splitext(path)[0]
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  report = Progress(frames, 'herd video', 'frames', enabled=progress)
  with VideoWriter(path, FPS) as writer:
    for n in range(frames):
      writer.write(render_frame(background, herd.keypoints[n], herd.torso[n], herd.order[n], rng))
      report.update()
  report.close()
  truth_csv, truth_json = f'{stem}_truth.csv', f'{stem}_truth.json'
  xy = np.where(herd.visibility[..., None] > 0, herd.keypoints, np.nan)
  dlc_csv.write_dlc_csv(truth_csv, 'synthetic', list(synthetic.NAMES), xy,
                        herd.visibility / 2.0, individuals=list(INDIVIDUALS))
  boxes = [[None if np.isnan(box).any() else [round(float(v), 2) for v in box] for box in row]
           for row in truth_boxes(herd.keypoints, herd.visibility)]
  info = {'video': os.path.abspath(path), 'truth_csv': os.path.abspath(truth_csv),
          'truth_json': os.path.abspath(truth_json), 'frames': frames, 'fps': FPS,
          'size': [SIZE[1], SIZE[0]], 'seed': seed, 'individuals': list(INDIVIDUALS),
          **herd.events, 'boxes': boxes}
  files.write_json(truth_json, info)
  return info
