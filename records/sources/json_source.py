"""The seed's annotation JSON (`--source=json`), also read by the `mpii` source.

A list of dicts (or {"root": [...]}, as mpii_annotations.json has), one per object instance:
`img_paths` (relative to <dataset>/images/), `joint_self` [[x, y, v], ...] (v 0 = not labelled),
`objpos` [x, y], `scale_provided` (box side = scale x 200 px), `isValidation` (0.0/1.0), and
optionally `headboxes` [[x1, y1], [x2, y2]], `bbox` [x, y, w, h], `image_id`, `dataset`.

The `json` source takes the box as written: centre objpos, a square of side scale x 200.
"""

import collections
import math
import os

import numpy as np

from core.errors import AnnotationError
from records.example import TRAIN, VAL, BadExample, Example, ObjectBox, Skip, parse_keypoints
from records.sources.common import (SourceData, annotation_files, read_json, relative_to,
                                    require_dir, resolve_image)

DEFAULT_FILES = ('annotations.json', 'mpii_annotations.json')


def load(config) -> SourceData:
  return load_seed_json(config, mpii=False)


def load_seed_json(config, mpii: bool) -> SourceData:
  """Reads a seed-format JSON into examples.

  Args:
    config: MakeRecordsConfig (dataset_path, annotation_path, allow_outside_paths).
    mpii: apply the MPII box convention and require head boxes.
  Raises:
    AnnotationError: the file is unreadable or not a list of records.
  """
  path, = annotation_files(config, DEFAULT_FILES)[:1]
  root = require_dir(config.dataset_path) if config.dataset_path else os.path.dirname(path)
  records = read_json(path)
  if isinstance(records, dict) and isinstance(records.get('root'), list):
    records = records['root']
  if not isinstance(records, list):
    raise AnnotationError(f'{path}: expected a list of annotation records, got '
                          f'{type(records).__name__}')
  num_keypoints = _common_joint_count(records)
  if num_keypoints is None:
    raise AnnotationError(f'{path}: no record has a joint_self list')
  data = SourceData([], None, num_keypoints)
  image_ids = {}
  for index, record in enumerate(records):
    try:
      example = _parse_record(record, num_keypoints, root, config, mpii)
    except BadExample as e:
      data.skipped.append(Skip(path, index, str(e)))
      continue
    if not example.labelled.any():
      data.filter('no_keypoints')
      continue
    example.image_id = (example.image_id if example.image_id >= 0 else
                        image_ids.setdefault(example.rel_path, len(image_ids)))
    example.object_id = index
    example.source_file, example.record = path, index
    data.examples.append(example)
  return data


def _common_joint_count(records):
  counts = collections.Counter(len(r['joint_self']) for r in records if isinstance(r, dict) and
                               isinstance(r.get('joint_self'), list))
  return counts.most_common(1)[0][0] if counts else None


def _number(record, key, index=None):
  value = record.get(key)
  if index is not None:
    if not isinstance(value, (list, tuple)) or len(value) <= index:
      raise BadExample(f'field {key!r} must be a list, got {value!r:.60}')
    value = value[index]
  try:
    out = float(value)
  except (TypeError, ValueError, OverflowError):
    raise BadExample(f'field {key!r} is not a number: {value!r:.60}') from None
  if not math.isfinite(out):
    raise BadExample(f'field {key!r} is not finite: {value!r}')
  return out


def _parse_record(record, num_keypoints, root, config, mpii) -> Example:
  if not isinstance(record, dict):
    raise BadExample(f'record is a {type(record).__name__}, not an object')
  rel = record.get('img_paths')
  images_dir = os.path.join(root, 'images')
  image_path = resolve_image(images_dir, rel, config.allow_outside_paths, [root])
  xy, vis = parse_keypoints(record.get('joint_self'), num_keypoints, 'field joint_self')
  vis = np.minimum(vis, 2)
  cx, cy = _number(record, 'objpos', 0), _number(record, 'objpos', 1)
  scale = _number(record, 'scale_provided')
  if scale <= 0:
    raise BadExample(f'field scale_provided must be positive, got {scale}')
  if mpii:
    # The MPII convention (pose-hg-train): the centre sits a little low, the box 25% larger.
    cy += 15.0 * scale
    scale *= 1.25
  side = scale * 200.0
  headbox = _headbox(record, required=mpii)
  split = None
  if 'isValidation' in record:
    split = VAL if _number(record, 'isValidation') >= 0.5 else TRAIN
  bbox = None
  if record.get('bbox') is not None:
    bbox = [_number(record, 'bbox', i) for i in range(4)]
  image_id = int(_number(record, 'image_id')) if record.get('image_id') is not None else -1
  return Example(image_path=image_path, rel_path=relative_to(image_path, root),
                 keypoints=xy, visibility=vis,
                 box=ObjectBox(cx, cy, side, side), bbox=bbox, headbox=headbox, split=split,
                 image_id=image_id)


def _headbox(record, required: bool):
  value = record.get('headboxes')
  if value is None:
    if required:
      raise BadExample('field headboxes is missing (the mpii source needs it for PCKh)')
    return None
  try:
    (x1, y1), (x2, y2) = value
    box = [float(x1), float(y1), float(x2), float(y2)]
  except (TypeError, ValueError, OverflowError):
    raise BadExample(f'field headboxes must be [[x1, y1], [x2, y2]], got {value!r:.80}') from None
  if not all(math.isfinite(v) for v in box) or box[2] <= box[0] or box[3] <= box[1]:
    raise BadExample(f'field headboxes is degenerate: {value!r:.80}')
  return box
