"""The example type every annotation source yields: one object instance in one original image.

Coordinates are original-image pixels in the project convention (integer = pixel centre; see
records/schema.py). A source only parses annotations: it never reads pixels. The crop workers
(records/crop.py) load the image, check it and cut the crop.
"""

import dataclasses
import math
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np

TRAIN, VAL = 'train', 'val'


@dataclasses.dataclass
class ObjectBox:
  """An object box as centre and size (original pixels); the crop maps it to the model input.

  Sources give the box in their own convention (COCO bbox, MPII centre/scale, keypoint extent);
  records/crop.py only expands it to the model aspect ratio (never distorts).
  """
  cx: float
  cy: float
  width: float
  height: float

  @classmethod
  def from_xywh(cls, x, y, w, h) -> 'ObjectBox':
    return cls(x + w / 2.0, y + h / 2.0, float(w), float(h))

  def scaled(self, factor: float) -> 'ObjectBox':
    return ObjectBox(self.cx, self.cy, self.width * factor, self.height * factor)

  def xywh(self) -> List[float]:
    return [self.cx - self.width / 2.0, self.cy - self.height / 2.0, self.width, self.height]


@dataclasses.dataclass
class Example:
  """One object instance to write as one record.

  Attributes:
    image_path: absolute path of the original image (for the synthetic source, where the
      rendered image is written).
    rel_path: image path relative to the dataset folder (stored in the record).
    keypoints: float64 [K, 2] original pixel coordinates (anything where visibility is 0).
    visibility: int32 [K]: 0 unlabelled, 1 labelled but occluded, 2 visible.
    box: the ObjectBox, or None to derive it from the labelled keypoints (crop settings'
      box_margin and box_min_side).
    image_id: the original image id (COCO image_id, else a stable index per image).
    object_id: the instance id (COCO annotation id, else a running index).
    bbox: [x, y, w, h] in original coordinates, or None (then the box is recorded).
    area: COCO area, or None (then bbox w * h).
    headbox: [x1, y1, x2, y2] (MPII head box) or None.
    split: 'train', 'val', or None when the split is decided by --val_list / --val_fraction.
    source_file: the annotation file, for error reports.
    record: the record's name in that file (index, id, row), for error reports.
    expected_size: (height, width) the annotation says the image has, or None.
    render: for generated images, a picklable object whose `render()` returns the BGR uint8
      image; None to read `image_path`.
    video: the video the frame belongs to (DeepLabCut: its labeled-data folder), else ''; with
      the file name it tells apart frames of several videos that share a name (img0000.png):
      --val_list matches `video/file`, and the video alone holds all of its frames out.
  """
  image_path: str
  rel_path: str
  keypoints: np.ndarray
  visibility: np.ndarray
  box: Optional[ObjectBox] = None
  image_id: int = -1
  object_id: int = -1
  bbox: Optional[Sequence[float]] = None
  area: Optional[float] = None
  headbox: Optional[Sequence[float]] = None
  split: Optional[str] = None
  source_file: str = ''
  record: Any = None
  expected_size: Optional[Tuple[int, int]] = None
  render: Any = None
  video: str = ''

  @property
  def num_keypoints(self) -> int:
    return int(self.keypoints.shape[0])

  @property
  def labelled(self) -> np.ndarray:
    """bool [K]: the keypoints that carry a position."""
    return self.visibility > 0


@dataclasses.dataclass
class Skip:
  """An example (or record) left out, with where it came from and why."""
  file: str
  record: Any
  reason: str

  def to_dict(self):
    record = self.record if isinstance(self.record, (int, str)) or self.record is None else str(
        self.record)
    return {'file': str(self.file), 'record': record, 'reason': self.reason}


class BadExample(ValueError):
  """Raised inside parsing/cropping for one bad example; the caller turns it into a Skip."""


def parse_keypoints(rows, num_keypoints: Optional[int], what: str = 'keypoints'):
  """Parses [[x, y, v], ...] (or [[x, y], ...]) rows into (xy float64 [K, 2], v int32 [K]).

  Unlabelled points (v == 0) may hold anything; labelled points must be finite.

  Raises:
    BadExample: wrong count, malformed rows, non-finite labelled coordinates, bad visibility.
  """
  if not isinstance(rows, (list, tuple)):
    raise BadExample(f'{what} is not a list')
  if num_keypoints is not None and len(rows) != num_keypoints:
    raise BadExample(f'{what} has {len(rows)} points, expected {num_keypoints}')
  xy = np.zeros((len(rows), 2), np.float64)
  vis = np.zeros((len(rows),), np.int32)
  for i, row in enumerate(rows):
    if not isinstance(row, (list, tuple)) or len(row) not in (2, 3):
      raise BadExample(f'{what}[{i}] must be [x, y, v], got {row!r:.60}')
    try:
      x, y = float(row[0]), float(row[1])
      v = float(row[2]) if len(row) == 3 else 2.0
    except (TypeError, ValueError, OverflowError):
      raise BadExample(f'{what}[{i}] is not numeric: {row!r:.60}') from None
    if not math.isfinite(v) or v not in (0.0, 1.0, 2.0):
      raise BadExample(f'{what}[{i}] visibility must be 0, 1 or 2, got {row[2]!r}')
    if v > 0 and not (math.isfinite(x) and math.isfinite(y)):
      raise BadExample(f'{what}[{i}] has a non-finite coordinate ({x}, {y})')
    xy[i] = (x, y) if v > 0 else (0.0, 0.0)
    vis[i] = int(v)
  return xy, vis


def keypoint_box(keypoints: np.ndarray, visibility: np.ndarray, margin: float,
                 min_side: float) -> ObjectBox:
  """The box of the labelled keypoints, enlarged by `margin` and never below `min_side`.

  Args:
    keypoints: [K, 2]; visibility: [K] (only v > 0 points count).
  Raises:
    BadExample: when no keypoint is labelled.
  """
  pts = keypoints[visibility > 0]
  if not len(pts):
    raise BadExample('no labelled keypoint to derive the object box from')
  lo, hi = pts.min(axis=0), pts.max(axis=0)
  centre = (lo + hi) / 2.0
  size = np.maximum((hi - lo) * margin, min_side)
  return ObjectBox(float(centre[0]), float(centre[1]), float(size[0]), float(size[1]))
