"""Identities through a video: each frame's objects (a detector's or a boxes file's, each with
its keypoints) are assigned to tracks that keep one id from their first frame to their last.

Association is an optimal assignment (scipy.optimize.linear_sum_assignment) on the similarity
of each track and object: OKS (the definition's sigmas) of the object's keypoints and the
track's pose where it should be now (its last keypoints moved by its velocity, a running mean of
the median motion of its confident keypoints, for at most _MAX_EXTRAPOLATION frames); box IoU
where they share no confident keypoint. Among look-alike animals the pose tells overlapping ones
apart where boxes cannot, and OKS scales with the animal's size. Pairs under `min_similarity`
stay apart. A track missed for some frames (hidden, out of view) is then looked for by distance:
an object left over goes to the lost track whose predicted centre is nearest, within a reach
that grows with the frames it has been missing (`_reach`); with a known number of objects every
left-over object goes to a left-over track, however far.

Two cases keep two tracks off one animal. An object repeating a better-scoring object of the
same frame (OKS >= duplicate_oks: two boxes on one animal) is dropped. An object whose box holds
the predicted centre of a recently seen track no object took may be two animals in one (the
detector finds one box where one animal hides another, and the keypoint model then shows the one
on top, or a mix): it keeps its track only when its pose continues that track's closely
(_CONTINUE_OKS); otherwise it gets no id and no track moves to it, so that when the animals part
each is found again from where it was. A new track needs `confirm_frames` consecutive matches
before it gets an id (and its first frames get it too); a track unmatched for more than
`lost_frames` ends (never with num_objects, which also caps the tracks at that number). The
constants were tuned on the synthetic 3-creature video, seed 0 (docs/benchmarks.md).

    tracker = IdentityTracker(definition.oks_sigmas(), IdentityConfig(num_objects=3))
    for t, objects in enumerate(frames):         # objects: dicts 'keypoints' [K, 2], 'scores'
      tracker.update(t, objects)                 #   [K], 'box' [x, y, w, h], 'box_score'
    tracker.ids[t]                               # [objects of frame t] track id or -1
"""

import dataclasses
from typing import List, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from hourglass.detection.decoder import iou
from hourglass.inference.config import IdentityConfig
from hourglass.keypoints.metrics import coco_oks

# An object holding the predicted centre of a recently seen track no object took, within this
# fraction of its box's half sides, may be two animals in one (one hidden by the other): unless
# its pose continues its track's at _CONTINUE_OKS or more, it gets no id and no track moves to it.
_MERGE_REACH = 0.7
_CONTINUE_OKS = 0.85
# ... of a track seen at most this many frames ago.
_MERGE_MEMORY = 30
# The velocity is a running mean: this much of each new displacement.
_VELOCITY_WEIGHT = 0.3
# A lost track is predicted to move on at its velocity for at most this many frames (after
# that it is looked for where it was then).
_MAX_EXTRAPOLATION = 10


@dataclasses.dataclass
class _Track:
  """One track's state: its last match (keypoints [K, 2], confident [K] bool, box [4]), its
  velocity [2] px/frame, the frame it was last matched, consecutive matches, and its objects
  waiting for the id while it is unconfirmed ([(frame, object index)])."""
  keypoints: np.ndarray
  confident: np.ndarray
  box: np.ndarray
  last_frame: int
  velocity: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(2))
  hits: int = 1
  id: int = -1
  first_frame: int = 0
  pending: list = dataclasses.field(default_factory=list)

  def shift(self, frame):
    """[2]: how far the track is predicted to have moved since its last match."""
    return self.velocity * min(frame - self.last_frame, _MAX_EXTRAPOLATION)

  def centre(self, frame):
    return self.box[:2] + self.box[2:] / 2 + self.shift(frame)

  def size(self):
    return float(np.sqrt(max(self.box[2] * self.box[3], 1.0)))


@dataclasses.dataclass
class Span:
  """A confirmed track's life: its id, first and last matched frame, times re-found after a
  gap, and whether it ended (lost for good) before the video did."""
  id: int
  first: int
  last: int
  refound: int = 0
  ended: bool = False


class IdentityTracker:
  """Tracks several objects with ids (see the module docstring).

  Attributes:
    ids: per frame, [objects of the frame] int: the track id of each object, -1 for none
      (unconfirmed, a duplicate, possibly two animals in one, a confident object over
      num_objects, or one under min_score no track took).
    doubt: per frame, float in [0, 1]: 1 where a track started after the first frame, ended or
      was found again after a gap, or an object may hold two animals; else 1 - the lowest
      similarity of the frame's pairs (0 for none) (hourglass.labelling's identity doubt).
    spans: {id: Span} of every confirmed track.
  """

  def __init__(self, sigmas, config: Optional[IdentityConfig] = None, keypoint_threshold=0.2,
               min_score=0.3):
    """sigmas: [K] OKS sigmas; keypoints scoring at least keypoint_threshold are confident;
    an object starts a track only with a mean keypoint score of at least min_score."""
    self.sigmas = np.asarray(sigmas, np.float64)
    self.config = config or IdentityConfig()
    self.keypoint_threshold, self.min_score = keypoint_threshold, min_score
    self.tracks: List[_Track] = []
    self.ids, self.doubt, self.spans = [], [], {}
    self._next_id = 0

  def update(self, frame, objects):
    """Assigns the objects of `frame` (frames in order, from 0) to tracks.

    Args:
      objects: dicts with 'keypoints' [K, 2] frame px, 'scores' [K], 'box' [x, y, w, h].
    Returns:
      [len(objects)] int track ids so far (-1: none yet; an unconfirmed track's objects get
      their id later, in self.ids).
    """
    while len(self.ids) < frame:  # frames never given (nothing read): no objects
      self.ids.append(np.zeros(0, int))
      self.doubt.append(0.0)
    ids = np.full(len(objects), -1, int)
    self.ids.append(ids)
    self.doubt.append(0.0)
    kept = self._distinct(objects)
    pairs, shared = self._associate(frame, objects, kept)
    for t, o in pairs:
      self._match(self.tracks[t], frame, objects[o], o)
    left = [o for o in kept if o not in {o for _, o in pairs} | shared]
    self._start(frame, objects, left)
    self._forget(frame)
    for track in self.tracks:
      if track.id >= 0 and track.last_frame == frame:
        ids[track.pending.pop()[1]] = track.id
    return ids

  def predicted_boxes(self, frame, crop_rule):
    """[[x, y, w, h]] crops for `frame` of the tracks matched on the frame before: the training
    box rule (CropRule.keypoint_box) around their confident keypoints moved by their velocity
    (frames the detector skips)."""
    boxes = []
    for track in self.tracks:
      if track.last_frame == frame - 1 and track.confident.any():
        points = track.keypoints[track.confident] + track.velocity
        boxes.append(crop_rule.keypoint_box(points, np.ones(len(points), bool)))
    return boxes

  def _distinct(self, objects):
    """Indices of the objects that are not another, better-scoring object's repeat."""
    order = sorted(range(len(objects)), key=lambda o: -_mean_score(objects[o]))
    kept = []
    for o in order:
      points, area = objects[o]['keypoints'], _area(objects[o]['box'])
      if all(self._oks(points, objects[k]['keypoints'], self._confident(objects[k]), area)
             < self.config.duplicate_oks for k in kept):
        kept.append(o)
    return kept

  def _confident(self, obj):
    return np.asarray(obj['scores']) >= self.keypoint_threshold

  def _oks(self, a, b, visible, area):
    return float(coco_oks(np.asarray(a), np.asarray(b), visible, area, self.sigmas))

  def _similarity(self, frame, track, obj):
    """OKS of an object and the track's pose where it should be now (box IoU where they share
    no confident keypoint)."""
    shift = track.shift(frame)
    box = np.concatenate([track.box[:2] + shift, track.box[2:]])
    visible = track.confident & self._confident(obj)
    if not visible.any():
      return float(iou(box[None], np.asarray(obj['box'])[None])[0, 0])
    return self._oks(obj['keypoints'], track.keypoints + shift, visible, _area(box))

  def _associate(self, frame, objects, kept):
    """[(track index, object index)]: the assignment by similarity, then the lost tracks by
    distance."""
    if not self.tracks or not kept:
      return [], set()
    similarity = np.array([[self._similarity(frame, track, objects[o]) for o in kept]
                           for track in self.tracks])
    rows, cols = linear_sum_assignment(-similarity)
    pairs, worst = [], 1.0
    for r, c in zip(rows, cols):
      if similarity[r, c] >= self.config.min_similarity:
        pairs.append((r, kept[c]))
        worst = min(worst, similarity[r, c])
    if pairs:
      self.doubt[frame] = max(self.doubt[frame], 1.0 - worst)
    shared = self._shared(frame, objects, pairs)
    if shared:
      self.doubt[frame] = 1.0
    pairs = [(t, o) for t, o in pairs if o not in shared or
             similarity[t, kept.index(o)] >= _CONTINUE_OKS]
    pairs += self._reach_lost(frame, objects, [o for o in kept if o not in shared], pairs)
    return pairs, shared

  def _shared(self, frame, objects, pairs):
    """The objects of `pairs` that may be two animals in one (one hidden by the other): their
    box holds the predicted centre of another recently seen track no object took."""
    taken = {t for t, _ in pairs}
    hidden = [track for t, track in enumerate(self.tracks) if t not in taken and track.id >= 0
              and frame - track.last_frame <= _MERGE_MEMORY]
    if not hidden:
      return set()
    centres = np.array([track.centre(frame) for track in hidden])
    shared = set()
    for _, o in pairs:
      x, y, w, h = objects[o]['box']
      if np.any((np.abs(centres[:, 0] - x - w / 2) <= _MERGE_REACH * w / 2) &
                (np.abs(centres[:, 1] - y - h / 2) <= _MERGE_REACH * h / 2)):
        shared.add(o)
    return shared

  def _reach_lost(self, frame, objects, kept, pairs):
    """[(track, object)] of the left-over confirmed tracks and confident objects, by predicted
    centre distance within the tracks' reach (any distance with a known number of objects)."""
    taken_t, taken_o = {t for t, _ in pairs}, {o for _, o in pairs}
    tracks = [t for t, track in enumerate(self.tracks) if t not in taken_t and track.id >= 0]
    left = [o for o in kept if o not in taken_o and _mean_score(objects[o]) >= self.min_score]
    if not tracks or not left:
      return []
    centres = np.array([_centre(objects[o]['box']) for o in left])
    distance = np.array([np.linalg.norm(centres - self.tracks[t].centre(frame), axis=-1)
                         / self.tracks[t].size() for t in tracks])
    full = self.config.num_objects is not None and self._confirmed() >= self.config.num_objects
    rows, cols = linear_sum_assignment(distance)
    return [(tracks[r], left[c]) for r, c in zip(rows, cols)
            if full or distance[r, c] <= _reach(frame - self.tracks[tracks[r]].last_frame)]

  def _match(self, track, frame, obj, index):
    """Moves a track to its object of this frame."""
    confident = self._confident(obj)
    keypoints = np.asarray(obj['keypoints'], np.float64)
    gap = frame - track.last_frame
    both = confident & track.confident
    if both.any() and gap > 0:
      # The median: a keypoint that jumps (to another animal, or a wrong peak) moves no track.
      step = np.median(keypoints[both] - track.keypoints[both], axis=0) / gap
      track.velocity = (1 - _VELOCITY_WEIGHT) * track.velocity + _VELOCITY_WEIGHT * step
    if gap > 1 and track.id >= 0:
      self.spans[track.id].refound += 1
      self.doubt[frame] = 1.0
    track.hits = track.hits + 1 if gap == 1 else 1
    track.keypoints = np.where(confident[:, None], keypoints,
                               track.keypoints + track.shift(frame))
    track.confident = confident | track.confident
    track.box, track.last_frame = np.asarray(obj['box'], np.float64), frame
    track.pending.append((frame, index))
    if track.id < 0 and track.hits >= self.config.confirm_frames:
      self._confirm(track, frame)
    if track.id >= 0:
      self.spans[track.id].last = frame
      del track.pending[:-1]  # the last one is labelled by update()

  def _confirm(self, track, frame):
    """Gives a new track its id, and the id to its objects of the frames before."""
    track.id, self._next_id = self._next_id, self._next_id + 1
    self.spans[track.id] = Span(track.id, track.first_frame, frame)
    for f, o in track.pending[:-1]:
      self.ids[f][o] = track.id
    if track.first_frame > 0:
      self.doubt[track.first_frame] = 1.0

  def _confirmed(self):
    return sum(track.id >= 0 for track in self.tracks)

  def _start(self, frame, objects, left):
    """Unconfirmed tracks for the confident objects no track took."""
    cap = self.config.num_objects
    for o in sorted(left, key=lambda o: -_mean_score(objects[o])):
      if _mean_score(objects[o]) < self.min_score or (cap is not None and
                                                      len(self.tracks) >= cap):
        continue
      obj = objects[o]
      self.tracks.append(_Track(
          keypoints=np.asarray(obj['keypoints'], np.float64), confident=self._confident(obj),
          box=np.asarray(obj['box'], np.float64), last_frame=frame, first_frame=frame,
          pending=[(frame, o)]))
      if self.config.confirm_frames <= 1:
        self._confirm(self.tracks[-1], frame)

  def _forget(self, frame):
    """Drops unconfirmed tracks that missed a frame, and ends tracks lost too long."""
    kept = []
    for track in self.tracks:
      if track.last_frame == frame:
        kept.append(track)
      elif track.id < 0:
        continue
      elif (self.config.num_objects is None
            and frame - track.last_frame > self.config.lost_frames):
        self.spans[track.id].ended = True
        self.doubt[track.last_frame] = 1.0
      else:
        kept.append(track)
    self.tracks = kept


def _reach(gap):
  """How far (in track sizes, centre to centre) a track missing for `gap` frames is looked
  for: it may have turned or changed speed while unseen."""
  return 1.0 + 0.1 * gap


def _mean_score(obj):
  return float(np.mean(obj['scores']))


def _area(box):
  return max(float(box[2]) * float(box[3]), 1.0)


def _centre(box):
  return np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0])
