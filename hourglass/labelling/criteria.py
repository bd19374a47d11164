"""Per-frame measures of where the model is in trouble, from its own predictions (no labels).

- Confidence: the keypoints whose score is under pcutoff (DeepLabCut's likelihood cut-off).
- Jumps: how far each raw keypoint lies from the smoothed track (the offline filter of
  hourglass.inference.smoothing): a point that leaps for a frame or two and comes back is
  usually a wrong detection (DeepLabCut's "jump" outlier rule).
- Flip disagreement: the model run on the crop and on its mirror image (un-mirrored, left and
  right names swapped back) should agree; where both are confident and still disagree, the
  model is guessing (often left/right swaps). Only for models whose records support horizontal
  flips (Predictor.flip_supported).

- Identity doubt (several objects): frames where the number of objects changes or differs
  from the expected one, or where the tracker re-found a track or assigned one with a low
  similarity (identity_doubt), so that the labeller checks who is who where it is in doubt.

Distances are judged against the object's size in that frame: the larger side of its confident
keypoints' extent (the video's median where a frame has fewer than two confident keypoints), so
that one rule fits a mouse at 30 px and a person at 300 px.
"""

import dataclasses
from typing import List, Optional, Tuple

import numpy as np

from core import geometry


@dataclasses.dataclass
class Trouble:
  """The measures of T frames with K keypoints.

  Attributes:
    scores: [T, K] keypoint scores (the raw track's).
    pcutoff: a keypoint is confident at this score.
    jump_px: [T, K] distance (frame px) of each raw keypoint from the smoothed track; NaN where
      the smoothed track has no point or there is no track (folders of images).
    flip_px: [T, K] distance between the plain and the mirrored prediction where both are
      confident; NaN elsewhere, or None when not measured.
    size_px: [T] the object's size the distances are judged against.
  """
  scores: np.ndarray
  pcutoff: float
  jump_px: np.ndarray
  flip_px: Optional[np.ndarray]
  size_px: np.ndarray

  @property
  def frames(self):
    return len(self.scores)


def object_sizes(keypoints, scores, pcutoff):
  """[T] the larger side of the confident keypoints' extent per frame; frames with fewer than
  two confident keypoints get the median of the others (1 px when no frame has two).

  Args:
    keypoints: [T, K, 2]; scores: [T, K].
  """
  confident = scores >= pcutoff
  sizes = np.full(len(keypoints), np.nan)
  for t, (kp, ok) in enumerate(zip(keypoints, confident)):
    if ok.sum() >= 2:
      sizes[t] = float(np.max(kp[ok].max(0) - kp[ok].min(0)))
  measured = sizes[np.isfinite(sizes) & (sizes > 0)]
  median = float(np.median(measured)) if measured.size else 1.0
  # A frame with two confident points close together must not make every jump look huge.
  return np.where(np.isfinite(sizes), np.maximum(sizes, 0.5 * median), median)


def jump_distances(keypoints, smoothed):
  """[T, K] distance of raw from smoothed keypoints (NaN where smoothed is missing or None)."""
  if smoothed is None:
    return np.full(keypoints.shape[:2], np.nan)
  return np.linalg.norm(keypoints - smoothed, axis=-1)


def flip_distances(predictor, frames, keypoints, scores, pcutoff, decoder='dark', batch=16):
  """[T, K] distance (frame px) between the prediction on each frame's crop and on its mirror.

  The crop is the training box rule around the frame's confident keypoints (all of them where
  none is confident), as the tracker cuts it.

  Args:
    predictor: any Predictor (hourglass.inference.predictors).
    frames: iterable of [H, W, 3] uint8 RGB frames, in the order of `keypoints`.
    keypoints: [T, K, 2] frame px; scores: [T, K].
  Returns:
    [T, K] float; NaN where either prediction is under pcutoff.
  """
  out = np.full(scores.shape, np.nan)
  pending = []
  for t, rgb in enumerate(frames):
    if t >= len(keypoints):
      break
    pending.append((t, rgb))
    if len(pending) == batch:
      _flip_batch(predictor, pending, keypoints, scores, pcutoff, decoder, out)
      pending = []
  if pending:
    _flip_batch(predictor, pending, keypoints, scores, pcutoff, decoder, out)
  return out


def _flip_batch(predictor, pending, keypoints, scores, pcutoff, decoder, out):
  """flip_distances for a batch of (t, frame) pairs: one call on 2 x len(pending) crops."""
  shape = predictor.input_shape
  rule = predictor.crop_rule
  matrices, crops = [], []
  for t, rgb in pending:
    confident = scores[t] >= pcutoff
    box = rule.keypoint_box(keypoints[t], confident if confident.any() else
                            np.ones(len(confident), bool))
    matrix = geometry.input_to_image(box, shape, 1.0)
    matrices.append(matrix)
    crops.append(geometry.warp(rgb, matrix, shape))
  crops = np.stack(crops)
  both, both_scores = predictor.predict(np.concatenate([crops, crops[:, :, ::-1]]), decoder)
  n = len(pending)
  plain, mirrored = both[:n], both[n:].copy()
  mirrored[..., 0] = shape[1] - 1 - mirrored[..., 0]
  permutation = predictor.definition.flip_permutation('h')
  mirrored, mirrored_scores = mirrored[:, permutation], both_scores[n:][:, permutation]
  matrices = np.stack(matrices)
  plain = geometry.apply_affine(matrices, plain)
  mirrored = geometry.apply_affine(matrices, mirrored)
  distance = np.linalg.norm(plain - mirrored, axis=-1)
  confident = (both_scores[:n] >= pcutoff) & (mirrored_scores >= pcutoff)
  for i, (t, _) in enumerate(pending):
    out[t] = np.where(confident[i], distance[i], np.nan)


def measure(keypoints, scores, smoothed, pcutoff, flip_px=None):
  """The Trouble of a track (or of independent images: smoothed None).

  Args:
    keypoints: [T, K, 2] raw frame px; scores: [T, K]; smoothed: [T, K, 2] with NaN gaps, or
      None; flip_px: flip_distances' result, or None.
  """
  keypoints = np.asarray(keypoints, np.float64)
  scores = np.asarray(scores, np.float64)
  return Trouble(scores, float(pcutoff), jump_distances(keypoints, smoothed), flip_px,
                 object_sizes(keypoints, scores, pcutoff))


def identity_doubt(object_counts, expected_count: Optional[int] = None,
                   identity_events=None) -> Tuple[np.ndarray, List[str]]:
  """Per frame, how much the object count or an identity is in doubt, and why (for
  selection.select's identity_doubt and identity_reasons).

  A frame's doubt is the larger of:
  - count: 1 where object_counts[t] differs from expected_count (when given), or from
    object_counts[t - 1] (t >= 1; an object came or went, or the detector flickered); reason
    'count: 2 objects, expected 3' or 'count: 3 objects (2 in the frame before)';
  - identity: identity_events[t]; reason 'identity: a track re-found, started or ended, or two
    animals in one box' where it is 1, else 'identity: assignment similarity 0.62' (1 - the
    event).
  Count wins a tie; a frame of no doubt has 0 and the reason ''.

  Args:
    object_counts: [T] int, the objects found in each frame (with an identity or not).
    expected_count: how many objects the video holds, or None when unknown (then only changes
      of the count are in doubt).
    identity_events: None, or [T] float in [0, 1], the tracker's worst identity event of each
      frame: 1 where a track was re-found after a gap, or started or ended mid-video (not at
      the first or last frame), else the largest 1 - similarity of that frame's assignments of
      detections to tracks; 0 for none. NaN counts 0; values are clipped to [0, 1].
  Returns:
    (doubt [T] float in [0, 1], reasons [T] str).
  Raises:
    ValueError: the arrays are not [T] each.
  """
  counts = np.asarray(object_counts)
  if counts.ndim != 1:
    raise ValueError(f'identity_doubt: object_counts {counts.shape}, expected [T]')
  counts = counts.astype(np.int64)
  events = np.zeros(len(counts)) if identity_events is None else np.asarray(identity_events,
                                                                             np.float64)
  if events.shape != counts.shape:
    raise ValueError(f'identity_doubt: identity_events {events.shape} for {len(counts)} frames')
  events = np.clip(np.nan_to_num(events, nan=0.0), 0.0, 1.0)
  doubt, reasons = np.zeros(len(counts)), [''] * len(counts)
  for t, (count, event) in enumerate(zip(counts, events)):
    if expected_count is not None and count != expected_count:
      doubt[t], reasons[t] = 1.0, f'count: {_objects(count)}, expected {expected_count}'
    elif t and count != counts[t - 1]:
      doubt[t], reasons[t] = 1.0, f'count: {_objects(count)} ({counts[t - 1]} in the frame before)'
    elif event > 0:
      doubt[t] = event
      reasons[t] = ('identity: a track re-found, started or ended, or two animals in one box'
                    if event >= 1 else f'identity: assignment similarity {1.0 - event:.2f}')
  return doubt, reasons


def _objects(n):
  return f'{n} object' if n == 1 else f'{n} objects'
