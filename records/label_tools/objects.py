"""The objects of one labelling item (records.label_tools.LabelItem): its arrays checked and
shaped [N, K, ...], and each object's group id, the id the tool's file gives it.

Group ids: the item's `track_ids` when given (so the labeller sees the ids of the video's
results); otherwise None for a one-object item (the files are then exactly those of the
one-object writers) and the object's index 0 .. N-1 for several.
"""

import dataclasses
from typing import List, Optional

import numpy as np

from core.errors import UserInputError

# The smallest side (px) of a box made from keypoints: the readers' default --box_min_side.
_MIN_SIDE = 32.0


@dataclasses.dataclass
class LabelObject:
  """One object of an item.

  Attributes:
    group: the group id (a track id or object index), or None for the one object of an item
      without track ids.
    keypoints: [K, 2] float pixel-centre coordinates, NaN rows = no pre-annotation.
    scores: [K] the model's confidence per keypoint.
    box: [4] x, y, w, h original px (the detector's), or None.
  """
  group: Optional[int]
  keypoints: np.ndarray
  scores: np.ndarray
  box: Optional[np.ndarray] = None

  @property
  def present(self):
    """[K] whether each keypoint is pre-annotated (finite)."""
    return np.isfinite(self.keypoints).all(axis=1)


def checked_arrays(item, k, what):
  """(keypoints [N, K, 2], scores [N, K], boxes [N, 4] (NaN rows: none), track ids [N] or None)
  of an item whose keypoints are [K, 2] or [N, K, 2] (scores [K] or [N, K], boxes [4] or
  [N, 4]); UserInputError naming `what` when they do not fit."""
  keypoints = np.asarray(item.keypoints, np.float64)
  scores = np.asarray(item.scores, np.float64)
  if keypoints.ndim == 2 and scores.ndim == 1:
    keypoints, scores = keypoints[None], scores[None]
  n = len(keypoints) if keypoints.ndim == 3 else 0
  if keypoints.shape != (n, k, 2) or scores.shape != (n, k):
    raise UserInputError(f'{what}: keypoints {np.shape(item.keypoints)} / scores '
                         f'{np.shape(item.scores)}, expected ({k}, 2) / ({k},) or (N, {k}, 2) '
                         f'/ (N, {k}) for {k} names')
  if np.isinf(keypoints).any():
    raise UserInputError(f'{what}: an infinite coordinate (use NaN for no pre-annotation)')
  boxes = np.full((n, 4), np.nan)
  if getattr(item, 'boxes', None) is not None:
    boxes = np.asarray(item.boxes, np.float64)
    boxes = boxes[None] if boxes.shape == (4,) else boxes
    given = np.isfinite(boxes).all(axis=-1)
    if boxes.shape != (n, 4) or np.isinf(boxes).any() or not (boxes[given, 2:] > 0).all():
      raise UserInputError(f'{what}: boxes {np.shape(item.boxes)} must be [{n}, 4] x, y, w, h '
                           f'with w, h > 0 (NaN rows: no box)')
  track_ids = getattr(item, 'track_ids', None)
  if track_ids is not None:
    ids = list(np.asarray(track_ids, object).reshape(-1))
    if len(ids) != n or not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                                and i >= 0 for i in ids) or len(set(int(i) for i in ids)) != n:
      raise UserInputError(f'{what}: track_ids {track_ids!r:.80} must be {n} distinct '
                           f'non-negative integers')
    track_ids = [int(i) for i in ids]
  return keypoints, scores, boxes, track_ids


def item_objects(item) -> List[LabelObject]:
  """The objects of a checked item (records.label_tools' write_for_labelling checks them)."""
  n = len(item.keypoints)
  out = []
  for j in range(n):
    if item.track_ids is not None:
      group = item.track_ids[j]
    else:
      group = None if n == 1 else j
    box = item.boxes[j] if np.isfinite(item.boxes[j]).all() else None
    out.append(LabelObject(group, item.keypoints[j], item.scores[j], box))
  return out


def extent_box(obj, width, height):
  """[4] x, y, w, h: the object's box, else its pre-annotated keypoints' extent grown by 10 %
  of its side each way and to 32 px at least (the readers' default --box_min_side), kept on the
  image where that leaves a box; None when the object has neither."""
  if obj.box is not None:
    return obj.box
  points = obj.keypoints[obj.present]
  if not len(points):
    return None
  lo, hi = points.min(axis=0), points.max(axis=0)
  grow = np.maximum(0.1 * (hi - lo), 0.5 * (_MIN_SIDE - (hi - lo)))
  lo, hi = lo - np.maximum(grow, 0), hi + np.maximum(grow, 0)
  # On the image (pixel centres 0 .. side - 1, half a pixel of border), unless the points are
  # off it (the caller's choice: then the box stays around them).
  on_lo = np.maximum(lo, -0.5)
  on_hi = np.minimum(hi, [width - 0.5, height - 0.5])
  if (on_hi > on_lo).all():
    lo, hi = on_lo, on_hi
  return np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
