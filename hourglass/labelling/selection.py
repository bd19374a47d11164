"""Picking N frames worth labelling from the per-frame measures of hourglass.labelling.criteria.

Each frame gets a trouble value in [0, 1], the largest of:
- confidence: the fraction of its keypoints under pcutoff; a frame with no confident keypoint
  at all (object not found, or not there) counts `not_found_weight`, since an empty frame has
  nothing to label;
- jump: the largest distance of a confident raw keypoint from the smoothed track, as a fraction
  of `jump_fraction` x the object's size (1 at or beyond it), 0 under half of it (the filter's
  own jitter: on the synthetic walk the quickstart model's raw points lie 1-3 px, 0.02-0.04 of
  the object, from its smoothed track);
- flip: the same for the disagreement of the plain and the mirrored prediction
  (`flip_fraction`);
- identity doubt (videos of several objects, when the caller gives it): `identity_doubt` [T] in
  [0, 1] as criteria.identity_doubt makes it (1: the object count or an identity is certainly in
  doubt), with a reason per frame ('count: ...', 'identity: ...'); the word before the colon is
  the pick's kind.
Frames are taken in order of trouble (ties: the larger distance), each at least `spacing`
frames from those already taken (default: the video's length / (2 N)), so that one bad moment
gives one frame, not N neighbours. When fewer than N frames are troubled (trouble >=
min_trouble), the rest is filled by coverage: each time the frame farthest from every chosen
one, so the labeller also sees the ordinary poses of the video. Every pick says why it was
chosen.
"""

import dataclasses
from typing import List, Optional, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class SelectConfig:
  """Settings of the selection (see the module docstring).

  Attributes:
    num_frames: how many frames to pick (fewer when the video has fewer).
    jump_fraction, flip_fraction: the distance, as a fraction of the object's size, at which a
      jump or a flip disagreement is full trouble.
    not_found_weight: the trouble of a frame with no confident keypoint.
    min_trouble: frames under it are not troubled (picked only to fill by coverage).
    spacing: least frames between two picks; None: frames // (2 * num_frames); 0 for folders of
      unrelated images.
  """
  num_frames: int = 20
  jump_fraction: float = 0.1
  flip_fraction: float = 0.1
  not_found_weight: float = 0.25
  min_trouble: float = 0.1
  spacing: Optional[int] = None


@dataclasses.dataclass
class Pick:
  """A chosen frame: its index, trouble value, kind (the measure that decided: 'confidence',
  'jump', 'flip', the identity doubt's reason word, e.g. 'count' or 'identity', or 'coverage')
  and the reasons in words."""
  frame: int
  trouble: float
  kind: str
  reasons: List[str]


def _ratio(distances, trouble, fraction):
  """[T] largest distance / (fraction x size) over the keypoints, 0 under 0.5 or where none
  is measured (not capped)."""
  with np.errstate(invalid='ignore'):
    ratio = distances / (fraction * trouble.size_px[:, None])
  ratio = np.where(np.isfinite(ratio), ratio, 0.0)
  ratio = ratio.max(axis=1) if ratio.size else np.zeros(len(distances))
  return np.where(ratio >= 0.5, ratio, 0.0)


def trouble_values(trouble, config: SelectConfig, capped=True):
  """[T, 3] the confidence, jump and flip values of every frame (each in [0, 1]; capped=False:
  jumps and flips as measured, for ranking the frames that are all at 1)."""
  confident = trouble.scores >= trouble.pcutoff
  low = 1.0 - confident.mean(axis=1)
  low = np.where(confident.any(axis=1), low, config.not_found_weight)
  # A jump of a keypoint under pcutoff is noise already counted by its confidence.
  jumps = np.where(confident, trouble.jump_px, np.nan)
  jump = _ratio(jumps, trouble, config.jump_fraction)
  flip = (np.zeros(trouble.frames) if trouble.flip_px is None else
          _ratio(trouble.flip_px, trouble, config.flip_fraction))
  values = np.stack([low, jump, flip], axis=1)
  return np.minimum(values, 1.0) if capped else values


KINDS = ('confidence', 'jump', 'flip')
# The kind of an identity doubt whose reason names none ('' or no 'word:' prefix).
DOUBT_KIND = 'identity'


def doubt_kind(reason: str) -> str:
  """The kind of an identity-doubt pick: its reason's word before the first colon ('count: 2
  objects, expected 3' -> 'count'), or the whole reason when it is one word, else
  DOUBT_KIND."""
  head = str(reason or '').split(':', 1)[0].strip()
  return head if head and ' ' not in head else DOUBT_KIND


def describe(t, trouble, values, names: Sequence[str], config: SelectConfig,
             identity_reasons: Optional[Sequence[str]] = None):
  """The reasons of frame t in words: every measure at half its full value or more, else the
  largest one. `values` [T, 3], or [T, 4] with the identity doubt, whose words are
  identity_reasons[t]."""
  shown = [i for i in range(values.shape[1]) if values[t, i] >= 0.5] or [
      int(np.argmax(values[t]))]
  scores, reasons = trouble.scores[t], []
  for i in shown:
    if i == len(KINDS):
      text = identity_reasons[t] if identity_reasons is not None else ''
      reasons.append(text or f'{DOUBT_KIND}: in doubt {values[t, i]:.2f}')
    elif KINDS[i] == 'confidence':
      under = np.flatnonzero(scores < trouble.pcutoff)
      if len(under) == len(scores):
        reasons.append(f'no keypoint reaches pcutoff {trouble.pcutoff:g} (object not found or '
                       f'not in view; best score {scores.max():.2f})')
      else:
        weakest = under[np.argsort(scores[under])][:3]
        worst = ', '.join(f'{names[k]} {scores[k]:.2f}' for k in weakest)
        reasons.append(f'{len(under)} of {len(scores)} keypoints under pcutoff '
                       f'{trouble.pcutoff:g} ({worst})')
    else:
      px = trouble.jump_px[t] if KINDS[i] == 'jump' else trouble.flip_px[t]
      px = np.where(np.isfinite(px) & (scores >= trouble.pcutoff if KINDS[i] == 'jump' else True),
                    px, -1.0)
      k = int(np.argmax(px))
      where = ('from the smoothed track' if KINDS[i] == 'jump' else
               'between the plain and the mirrored prediction')
      reasons.append(f'{KINDS[i]}: {names[k]} {px[k]:.1f} px ({px[k] / trouble.size_px[t]:.2f} '
                     f'of the object) {where}')
  return reasons


def _measures(trouble, config, identity_doubt, identity_reasons):
  """([T, 3] or [T, 4] measures, capped and as measured): trouble_values, then the identity
  doubt (NaN as 0, clipped to [0, 1]) when given."""
  values = trouble_values(trouble, config)
  uncapped = trouble_values(trouble, config, capped=False)
  if identity_doubt is None:
    return values, uncapped
  doubt = np.asarray(identity_doubt, np.float64)
  if doubt.shape != (trouble.frames,) or (
      identity_reasons is not None and len(identity_reasons) != trouble.frames):
    raise ValueError(f'select: identity_doubt {doubt.shape} / identity_reasons for '
                     f'{trouble.frames} frames: expected [{trouble.frames}] each')
  doubt = np.clip(np.nan_to_num(doubt, nan=0.0), 0.0, 1.0)[:, None]
  return np.concatenate([values, doubt], 1), np.concatenate([uncapped, doubt], 1)


def select(trouble, names: Sequence[str], config: Optional[SelectConfig] = None,
           identity_doubt=None, identity_reasons: Optional[Sequence[str]] = None) -> List[Pick]:
  """The frames to label, in frame order (see the module docstring).

  Args:
    trouble: criteria.Trouble of T frames; names: the K keypoint names.
    identity_doubt: None, or [T] float in [0, 1]: how much the object count or an identity is
      in doubt per frame (criteria.identity_doubt; NaN counts 0).
    identity_reasons: [T] str, why each frame's identity is in doubt ('count: ...',
      'identity: ...', '' where none): the pick's reason, and its word before the colon the
      pick's kind.
  Returns:
    list of Pick, at most config.num_frames.
  """
  config = config or SelectConfig()
  values, uncapped = _measures(trouble, config, identity_doubt, identity_reasons)
  total = values.max(axis=1)
  # Among frames of equal trouble (full jumps or flips are all 1), the larger measure first.
  order = np.lexsort((-uncapped.max(axis=1), -total))
  count = min(config.num_frames, trouble.frames)
  spacing = (trouble.frames // (2 * max(count, 1)) if config.spacing is None
             else config.spacing)
  taken = np.zeros(trouble.frames, bool)
  picks = []
  for t in order:
    if len(picks) == count or total[t] < config.min_trouble:
      break
    if taken[max(0, t - spacing):t + spacing + 1].any():
      continue
    taken[t] = True
    best = int(np.argmax(values[t]))
    kind = KINDS[best] if best < len(KINDS) else doubt_kind(
        identity_reasons[t] if identity_reasons is not None else '')
    picks.append(Pick(int(t), float(total[t]), kind,
                      describe(t, trouble, values, names, config, identity_reasons)))
  while len(picks) < count:
    t = _farthest(taken)
    taken[t] = True
    picks.append(Pick(t, float(total[t]), 'coverage',
                      [f'coverage: the frame farthest from the other picks (trouble '
                       f'{total[t]:.2f})']))
  return sorted(picks, key=lambda p: p.frame)


def _farthest(taken):
  """The unpicked frame farthest from every picked one (the middle when none is picked)."""
  if not taken.any():
    return len(taken) // 2
  picked = np.flatnonzero(taken)
  distance = np.abs(np.arange(len(taken))[:, None] - picked[None]).min(axis=1)
  return int(np.argmax(np.where(taken, -1, distance)))


def counts(picks):
  """{kind: number of picks} in KINDS order, then the identity doubts' kinds in order of first
  appearance, then coverage."""
  out = {}
  others = [p.kind for p in picks if p.kind not in KINDS + ('coverage',)]
  for kind in KINDS + tuple(dict.fromkeys(others)) + ('coverage',):
    n = sum(p.kind == kind for p in picks)
    if n:
      out[kind] = n
  return out
