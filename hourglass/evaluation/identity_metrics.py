"""Identity-tracking metrics: per-frame matching by OKS, identity switches, IDF1, keypoint error
of the tracked creatures, and how soon a returning creature is re-found.

Conventions (numpy + scipy only):
- T frames, G truth creatures, M tracks, K keypoints. Column g of the truth is creature g through
  the whole video (its identity); column m of the tracked arrays is track `track_ids[m]`.
- A creature is present in a frame when it has a visible point; a track when `tracked_present`.
- OKS is pycocotools' computeOks (hourglass.keypoints.metrics.coco_oks) with the truth's area.
- Per-frame matching (`match_frames`): the optimal assignment (scipy's linear_sum_assignment)
  maximising the summed OKS of the pairs at OKS >= min_oks; pairs under min_oks weigh 0, so they
  never steer it, and are dropped. Ties and near-ties may leave a pair unmatched that a
  maximum-cardinality assignment (py-motmetrics') would match.
- Identity switch (`id_switches`): a change of a creature's matched track id from its previous
  matched id; unmatched frames are skipped, so a creature re-found under a new id is one switch.
  py-motmetrics' num_switches is the same count where each frame's assignment is unambiguous; it
  differs where it is not, since motmetrics first keeps any previous pair still under its
  distance threshold (CLEAR MOT) and its remaining assignment minimises distance at maximum
  cardinality.
- IDF1 (`idf1`): Ristani et al. 2016. A truth detection (creature present in a frame) and a
  tracked detection (track present) are a pair match in a frame when their OKS >= min_oks: every
  such pair counts, not only the per-frame assignment's (Ristani's thresholded distance; what
  py-motmetrics counts from a distance matrix 1 - OKS with NaN under the threshold). The global
  one-to-one creature-to-track mapping maximises IDTP; IDF1 = 2 IDTP / (2 IDTP + IDFP + IDFN).
"""

import dataclasses
from typing import Dict, Optional

import numpy as np
from scipy.optimize import linear_sum_assignment

from hourglass.keypoints.metrics import coco_oks, mean_error

UNMATCHED = -1


def creatures_present(truth_visible):
  """[T, G, K] bool -> [T, G] bool: the creatures with a visible point in each frame."""
  return np.any(np.asarray(truth_visible, bool), axis=-1)


def pairwise_oks(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present, sigmas):
  """Per-frame OKS of every creature with every track.

  Args:
    truth_xy: [T, G, K, 2]; truth_visible: [T, G, K] bool; truth_area: [T, G] px^2.
    tracked_xy: [T, M, K, 2] (NaN where absent); tracked_present: [T, M] bool; sigmas: [K].
  Returns:
    [T, G, M] float64 OKS, 0 where the creature or the track is absent.
  """
  truth_visible = np.asarray(truth_visible, bool)
  present = np.asarray(tracked_present, bool)
  similarity = coco_oks(np.asarray(tracked_xy, np.float64)[:, None],
                        np.asarray(truth_xy, np.float64)[:, :, None],
                        truth_visible[:, :, None], np.asarray(truth_area, np.float64)[:, :, None],
                        sigmas)
  return np.where(present[:, None, :], similarity, 0.0)


def _check_ids(track_ids, tracks):
  ids = np.asarray(track_ids, np.int64).reshape(-1)
  if len(ids) != tracks or len(np.unique(ids)) != len(ids) or np.any(ids < 0):
    raise ValueError(f'track_ids must be {tracks} distinct ids >= 0, got {ids.tolist()}')
  return ids


def assign_frames(similarity, track_ids, min_oks=0.5):
  """[T, G, M] pairwise OKS (see `pairwise_oks`) -> [T, G] int matched track id or UNMATCHED.

  Each frame's optimal assignment over the pairs at OKS >= min_oks (module docstring).
  """
  similarity = np.asarray(similarity, np.float64)
  ids = _check_ids(track_ids, similarity.shape[2])
  matched = np.full(similarity.shape[:2], UNMATCHED, np.int64)
  eligible = similarity >= min_oks
  for t in np.flatnonzero(eligible.any(axis=(1, 2))):
    weights = np.where(eligible[t], similarity[t], 0.0)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    keep = eligible[t, rows, cols]
    matched[t, rows[keep]] = ids[cols[keep]]
  return matched


def match_frames(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present, track_ids,
                 sigmas, min_oks=0.5):
  """Matches each frame's present creatures to its present tracks by OKS.

  Args:
    truth_xy: [T, G, K, 2]; truth_visible: [T, G, K] bool; truth_area: [T, G] px^2.
    tracked_xy: [T, M, K, 2] (NaN where absent); tracked_present: [T, M] bool.
    track_ids: [M] distinct int ids >= 0 (column m is track track_ids[m]); sigmas: [K].
    min_oks: the least OKS of a matched pair.
  Returns:
    [T, G] int64: the matched track id, or UNMATCHED (-1).
  """
  similarity = pairwise_oks(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present,
                            sigmas)
  return assign_frames(similarity, track_ids, min_oks)


def id_switches(matched):
  """[T, G] matched ids -> the number of identity switches over all creatures (an int): each time
  a creature's matched id differs from its previous matched id (unmatched frames skipped)."""
  matched = np.asarray(matched)
  count = 0
  for column in matched.T:
    ids = column[column != UNMATCHED]
    count += int(np.count_nonzero(ids[1:] != ids[:-1]))
  return count


@dataclasses.dataclass
class IdentityScores:
  """Ristani et al. 2016's identity measures. Counts are detections (creature- or track-frames);
  ratios are NaN where their denominator is 0. `mapping`: creature index -> its track id, for
  the mapped pairs that share at least one matched frame."""
  idtp: int
  idfp: int
  idfn: int
  idf1: float
  idp: float
  idr: float
  mapping: Dict[int, int]


def _ratio(numerator, denominator):
  return float(numerator / denominator) if denominator else float('nan')


def identity_scores(similarity, truth_present, tracked_present, track_ids, min_oks=0.5):
  """IDF1 from pairwise OKS [T, G, M], creatures present [T, G] and tracks present [T, M]."""
  similarity = np.asarray(similarity, np.float64)
  ids = _check_ids(track_ids, similarity.shape[2])
  truth_present = np.asarray(truth_present, bool)
  tracked_present = np.asarray(tracked_present, bool)
  pair_match = ((similarity >= min_oks) & truth_present[:, :, None]
                & tracked_present[:, None, :])
  shared = pair_match.sum(axis=0)  # [G, M] frames each creature and track match
  rows, cols = linear_sum_assignment(shared, maximize=True)
  idtp = int(shared[rows, cols].sum())
  idfn = int(truth_present.sum()) - idtp
  idfp = int(tracked_present.sum()) - idtp
  mapping = {int(g): int(ids[m]) for g, m in zip(rows, cols) if shared[g, m] > 0}
  return IdentityScores(idtp=idtp, idfp=idfp, idfn=idfn,
                        idf1=_ratio(2 * idtp, 2 * idtp + idfp + idfn),
                        idp=_ratio(idtp, idtp + idfp), idr=_ratio(idtp, idtp + idfn),
                        mapping=mapping)


def idf1(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present, track_ids, sigmas,
         min_oks=0.5):
  """Ristani et al. 2016's IDF1, IDP, IDR (module docstring), arguments as `match_frames`'.

  Returns:
    IdentityScores.
  """
  similarity = pairwise_oks(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present,
                            sigmas)
  return identity_scores(similarity, creatures_present(truth_visible), tracked_present,
                         track_ids, min_oks)


def mean_keypoint_error(truth_xy, truth_visible, tracked_xy, matched, track_ids):
  """Mean px distance between the visible truth points and their matched tracks' points.

  Args:
    truth_xy: [T, G, K, 2]; truth_visible: [T, G, K] bool; tracked_xy: [T, M, K, 2].
    matched: [T, G] from `match_frames`; track_ids: [M].
  Returns:
    (total float, per_keypoint [K]); NaN where nothing counts. A NaN tracked point of a matched
    pair is left out (it has no distance).
  """
  truth_xy = np.asarray(truth_xy, np.float64)
  tracked_xy = np.asarray(tracked_xy, np.float64)
  matched = np.asarray(matched)
  ids = _check_ids(track_ids, tracked_xy.shape[1])
  frames, creatures = np.nonzero(matched != UNMATCHED)
  column = {int(i): m for m, i in enumerate(ids)}
  tracks = np.array([column[int(i)] for i in matched[frames, creatures]], np.int64)
  predicted = tracked_xy[frames, tracks]
  true = truth_xy[frames, creatures]
  mask = np.asarray(truth_visible, bool)[frames, creatures] & np.all(np.isfinite(predicted), -1)
  return mean_error(np.nan_to_num(predicted), true, mask)


def refound_after(matched, creature, absent_until, truth_present=None):
  """Frames from a returning creature's return to its first match.

  Args:
    matched: [T, G] from `match_frames`; creature: its column g.
    absent_until: the frame its absence ends; it returns at the first frame at or after it where
      it is present in truth (`truth_present` [T, G] bool, e.g. creatures_present(visible)), at
      absent_until itself when truth_present is None.
  Returns:
    first matched frame - return frame (0: matched on return); None when never matched after.
  Raises:
    ValueError: the creature is not present in truth at or after absent_until.
  """
  column = np.asarray(matched)[:, creature]
  start = int(absent_until)
  if truth_present is not None:
    present = np.flatnonzero(np.asarray(truth_present, bool)[start:, creature])
    if not len(present):
      raise ValueError(f'creature {creature} is not present at or after frame {start}')
    start += int(present[0])
  if start >= len(column):
    raise ValueError(f'frame {start} is past the video ({len(column)} frames)')
  found = np.flatnonzero(column[start:] != UNMATCHED)
  return int(found[0]) if len(found) else None


@dataclasses.dataclass
class TrackingSummary:
  """The identity-tracking benchmark's numbers (see the module docstring for each definition).

  matched: [T, G] per-frame matched track ids; matches: matched creature-frames; detections:
  present creature-frames; refound: `refound_after` of the returning creature, or None (no
  returning creature given, or never re-found).
  """
  matched: np.ndarray
  matches: int
  detections: int
  id_switches: int
  identity: IdentityScores
  mean_error: float
  per_keypoint_error: np.ndarray
  refound: Optional[int]

  def to_dict(self):
    """JSON-ready numbers (no per-frame array); NaN stays float('nan')."""
    return {'matches': self.matches, 'detections': self.detections,
            'id_switches': self.id_switches, 'idf1': self.identity.idf1,
            'idp': self.identity.idp, 'idr': self.identity.idr, 'idtp': self.identity.idtp,
            'idfp': self.identity.idfp, 'idfn': self.identity.idfn,
            'mean_error': self.mean_error,
            'per_keypoint_error': [float(v) for v in self.per_keypoint_error],
            'refound': self.refound}


def summary(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present, track_ids, sigmas,
            min_oks=0.5, returning=None):
  """All the metrics of one video, arguments as `match_frames`'.

  Args:
    returning: None, or (creature, absent_until) of a creature that leaves and comes back (see
      `refound_after`).
  Returns:
    TrackingSummary.
  """
  similarity = pairwise_oks(truth_xy, truth_visible, truth_area, tracked_xy, tracked_present,
                            sigmas)
  matched = assign_frames(similarity, track_ids, min_oks)
  present = creatures_present(truth_visible)
  total, per_keypoint = mean_keypoint_error(truth_xy, truth_visible, tracked_xy, matched,
                                            track_ids)
  refound = None
  if returning is not None:
    refound = refound_after(matched, returning[0], returning[1], present)
  return TrackingSummary(
      matched=matched, matches=int(np.count_nonzero(matched != UNMATCHED)),
      detections=int(present.sum()), id_switches=id_switches(matched),
      identity=identity_scores(similarity, present, tracked_present, track_ids, min_oks),
      mean_error=total, per_keypoint_error=per_keypoint, refound=refound)
