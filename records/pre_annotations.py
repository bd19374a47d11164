"""Model pre-annotations nobody reviewed never become labels.

`--mode=select_frames` hands frames to a labelling tool with the model's keypoints drawn in
(records/label_tools). The frames were chosen because the model is likely wrong there, so a point
the labeller did not place, move or accept is model output, not a label. The writers keep where
they put each point (the marks, `marks()`); the readers of the tools (records/sources: labelme,
cvat, label_studio) ask a `FrameReview` about every point they read:

- a model point still at its written place (within TOLERANCE_PX, above the rounding of the
  writers and of CVAT's export) in a frame not marked reviewed is untouched: left unlabelled
  (visibility 0);
- a point moved, or added by the labeller, is a label; a point deleted stays unlabelled;
- a frame marked reviewed counts every point as accepted: labelme's image flag `reviewed` ticked
  (the writer puts the flag in the file, so labelme shows it as a checkbox), a CVAT tag
  `reviewed` on the image, Label Studio's `reviewed` choice;
- an object marked reviewed counts its own points as accepted, where the tool offers a mark per
  object: labelme's shape flag `reviewed` on any point of the object (written on the points of
  grouped objects; labelme's Edit Label dialog shows it), Label Studio's per-region `reviewed`
  choice on the object's rectangle or one of its keypoints. CVAT has none (an image tag belongs
  to no object): there the mark is per frame only;
- `--accept_unreviewed` takes untouched points as labels too (counted all the same).

A point's key is (object, label), the object being the tool's group (labelme and CVAT
`group_id`, Label Studio `parentID`), so the rule holds per object: moving a point of one object
makes no other object's untouched points labels. An object left with no label
is not written, and a frame left with none is skipped: `ReviewTally` counts both for the note
make_records prints.

Files written before the marks existed follow the same rule by what the tools keep: labelme files
with a top-level `model` key hold model points as point shapes whose description is `score ...`
(labelme keeps a description when a point is dragged, so moved and untouched points cannot be
told apart there: every such point counts as untouched unless the image is reviewed; run
`labelme --flags reviewed <folder>` to get the checkbox); CVAT points with source="auto" are
untouched (CVAT makes a moved shape semi-auto). Files a person labelled from scratch carry
neither and are labels as before.
"""

import dataclasses
import math
from typing import Dict, FrozenSet, Iterable, List, Optional, Tuple

from records.example import BadExample

# Where the marks travel: labelme's top-level key and Label Studio's task data key.
MARKS_KEY = 'pre_annotations'
# CVAT rewrites its XML on export, so its marks go in a file beside annotations.xml.
CVAT_MARKS_FILE = 'pre_annotations.json'
# labelme image flag, CVAT tag label and Label Studio choice by which a labeller accepts a frame.
REVIEWED = 'reviewed'
# A point within this distance (original pixels) of its written place has not been moved: above
# the writers' rounding (1e-4 px) and CVAT's export (2 decimals, up to 0.0071 px away), below any
# drag (a screen pixel at 16x zoom is 0.06 px).
TOLERANCE_PX = 0.02
# Every note of this module starts so (make_records prints them in its summary).
NOTE_PREFIX = 'pre-annotations: '

Key = Tuple[str, str]  # (object, label)


def object_key(group) -> str:
  """A tool's group id (None, int or str) as the object part of a point's key."""
  return '' if group is None else str(group)


def marks(points: Iterable[Tuple[object, str, float, float]]) -> Dict:
  """The marks of one frame, JSON-ready: `points` are (group, label, x, y) in original-image
  pixels as written (the tool's own rounding)."""
  return {'points': [{'object': object_key(group), 'label': str(label),
                      'xy': [float(x), float(y)]} for group, label, x, y in points]}


def read_marks(value, what: str) -> Optional[Dict[Key, Tuple[float, float]]]:
  """{(object, label): (x, y)} of `marks()` output read back; None when `value` is None.

  Raises:
    BadExample: naming `what` when the marks are malformed.
  """
  if value is None:
    return None
  entries = value.get('points') if isinstance(value, dict) else None
  if not isinstance(entries, list):
    raise BadExample(f'{what}: {MARKS_KEY} is not {{"points": [...]}}')
  written = {}
  for entry in entries:
    try:
      key = (str(entry['object']), str(entry['label']))
      x, y = (float(v) for v in entry['xy'])
    except (KeyError, TypeError, ValueError):
      raise BadExample(f'{what}: malformed {MARKS_KEY} entry {entry!r:.80}') from None
    if not (math.isfinite(x) and math.isfinite(y)):
      raise BadExample(f'{what}: {MARKS_KEY} entry {entry!r:.80} is not a finite point')
    written[key] = (x, y)
  return written


@dataclasses.dataclass
class FrameReview:
  """What one frame's file says about its model points.

  Attributes:
    written: {(object, label): (x, y)} where the writer put each model point, or None when the
      file carries no marks (then a point is model output only when the tool marks it so).
    reviewed: the labeller marked the whole frame as accepted.
    accept: --accept_unreviewed: untouched points are labels too.
    untouched_points: how many points `untouched` found untouched (counted also when accepted).
    reviewed_objects: the objects (object_key of their groups) the labeller marked as accepted,
      where the tool has a mark per object.
  """
  written: Optional[Dict[Key, Tuple[float, float]]] = None
  reviewed: bool = False
  accept: bool = False
  untouched_points: int = 0
  reviewed_objects: FrozenSet[str] = frozenset()

  def untouched(self, group, label: str, xy, model_output: bool = True) -> bool:
    """Whether the point (group, label) at `xy` is model output nobody reviewed and so must stay
    unlabelled (False under --accept_unreviewed, though counted).

    Args:
      model_output: whether the tool marks the point as the model's (CVAT source auto/file, an
        old labelme file's `score` description); with marks the written place decides too.
    """
    if self.reviewed or not model_output or object_key(group) in self.reviewed_objects:
      return False
    if self.written is not None:
      at = self.written.get((object_key(group), str(label)))
      if at is None or math.hypot(float(xy[0]) - at[0], float(xy[1]) - at[1]) > TOLERANCE_PX:
        return False
    self.untouched_points += 1
    return not self.accept


@dataclasses.dataclass
class ReviewTally:
  """Counts over the frames a source read (the note make_records prints).

  Attributes:
    frames: frames read that hold an object (labelled, pre-annotated or both).
    frames_untouched: frames with at least one untouched model point.
    points: untouched model points (left unlabelled, or taken with --accept_unreviewed).
    frames_skipped: frames with untouched points and no label left (nothing written for them).
    accept: --accept_unreviewed was given.
  """
  frames: int = 0
  frames_untouched: int = 0
  points: int = 0
  frames_skipped: int = 0
  accept: bool = False

  def add(self, review: FrameReview, objects_kept: int) -> None:
    """Counts one frame after its objects were read: `objects_kept` of them have a label."""
    self.frames += 1
    if review.untouched_points:
      self.frames_untouched += 1
      self.points += review.untouched_points
      self.frames_skipped += int(objects_kept == 0)

  def notes(self, source: str) -> List[str]:
    """[the sentence for the user], or [] when no frame had an untouched model point."""
    if not self.frames_untouched:
      return []
    counted = (f'{self.frames_untouched} of {_count(self.frames, "frame")} had untouched model '
               f'points')
    if self.accept:
      return [f'{NOTE_PREFIX}{source}: {counted}: --accept_unreviewed took their '
              f'{_count(self.points, "point")} as labels']
    return [f'{NOTE_PREFIX}{source}: {counted}: {_count(self.points, "point")} left unlabelled, '
            f'{_count(self.frames_skipped, "frame")} skipped; --accept_unreviewed takes them as '
            f'labels']


def _count(n: int, noun: str) -> str:
  return f'{n} {noun}' if n == 1 else f'{n} {noun}s'
