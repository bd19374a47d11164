"""Detection boxes for predict: a boxes file per image or frame, or COCO detection results.

Two layouts (see Boxes): {"name.jpg" or "frame index": [[x, y, w, h(, score)], ...]}, or COCO
detection results (a list of {image_id, category_id, bbox, score}) matched to the frames by a
COCO annotation file's image ids or by integer file stems. Boxes are [x, y, w, h] in original
image pixels (integer = pixel centre).
"""

import os
from typing import Optional

import numpy as np

from core import files
from core.errors import UserInputError


def coco_results(raw, path, category_id=None):
  """Checks COCO detection results: a list of {image_id, category_id, bbox, score}.

  Args:
    raw: the parsed JSON.
    path: the file it came from (for messages).
    category_id: keep only detections of this category (None: every category).
  Returns:
    list of (image_id int, bbox [x, y, w, h] floats, score float); score 1 when absent.
  Raises:
    UserInputError: naming the file, the record and the field.
  """
  if not isinstance(raw, list):
    raise UserInputError(f'{path}: expected a COCO detection results list '
                         f'[{{"image_id", "category_id", "bbox", "score"}}, ...]')
  out = []
  for n, det in enumerate(raw):
    try:
      image_id, score = int(det['image_id']), float(det.get('score', 1.0))
      bbox = [float(v) for v in det['bbox']]
      category = det.get('category_id')
    except (KeyError, TypeError, ValueError, AttributeError) as e:
      raise UserInputError(f'{path}, record {n}: malformed detection ({e!r})') from None
    if len(bbox) != 4:
      raise UserInputError(f'{path}, record {n}, field \'bbox\': expected [x, y, w, h]')
    if category_id is None or category is None or int(category) == category_id:
      out.append((image_id, bbox, score))
  return out


def _coco_file_names(annotation_path):
  """image id -> file base name, from a COCO annotation file's `images`."""
  raw = files.read_json(annotation_path, 'the COCO annotation JSON')
  try:
    return {int(im['id']): os.path.basename(str(im['file_name'])) for im in raw['images']}
  except (KeyError, TypeError, ValueError) as e:
    raise UserInputError(f'{annotation_path}, field \'images\': expected a COCO annotation '
                         f'file with id and file_name per image ({e!r})') from None


class Boxes:
  """Detection boxes per image or frame, read from a boxes file.

  Two layouts: {"name.jpg" or "frame index": [[x, y, w, h(, score)], ...]}, or COCO detection
  results (a list of {image_id, bbox, score}), matched to files by the image id <-> file name
  of a COCO annotation file when one is given, else by the integer file stem
  (000000000785.jpg is image 785).

  Attributes:
    path: the boxes file.
    by_key: name, frame index (str) or image id (int) -> float array [M, 5] (x, y, w, h, score).
  """

  def __init__(self, path, by_key):
    self.path, self.by_key = path, by_key

  def __len__(self):
    return len(self.by_key)

  def lookup(self, frame):
    """The [M, 5] boxes of a Frame, or None when the file has no entry for it."""
    for key in (frame.name, str(frame.index)):
      if key in self.by_key:
        return self.by_key[key]
    stem = os.path.splitext(frame.name)[0]
    return self.by_key.get(int(stem)) if stem.isdigit() else None


def load_boxes(path: Optional[str], annotation_path: Optional[str] = None) -> Optional[Boxes]:
  """Reads a boxes file for predict (see Boxes); None when path is None.

  Raises:
    UserInputError: naming the file and record of a malformed entry.
  """
  if not path:
    return None
  raw = files.read_json(path, 'the detections JSON')
  if isinstance(raw, list):
    names = _coco_file_names(annotation_path) if annotation_path else {}
    by_key = {}
    for image_id, bbox, score in coco_results(raw, path):
      key = names.get(image_id, image_id)
      by_key.setdefault(key, []).append(bbox + [score])
    return Boxes(path, {k: np.array(v, np.float64).reshape(-1, 5) for k, v in by_key.items()})
  if not isinstance(raw, dict):
    raise UserInputError(f'{path}: predict expects {{"image name": [[x, y, w, h, score], ...]}} '
                         f'or a COCO detection results list')
  out = {}
  for name, boxes in raw.items():
    try:
      array = np.array([list(b) + [1.0] * (5 - len(b)) for b in boxes], np.float64).reshape(-1, 5)
    except (TypeError, ValueError):
      raise UserInputError(f'{path}, record {name!r}: boxes must be [x, y, w, h(, score)]'
                           ) from None
    out[str(name)] = array
  return Boxes(path, out)
