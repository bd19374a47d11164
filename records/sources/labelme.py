"""labelme JSON files (`--source=labelme`): point shapes labelled by keypoint name.

- Files: every *.json under --dataset_path (recursively, sorted), or --annotation_path
  (comma-separated files).
- One object per `group_id` in an image (shapes without a group_id form one more object); a
  `rectangle` shape in the group gives the object's bbox, else the box is the extent of its
  labelled points; either is enlarged by --box_margin (never below --box_min_side).
- Keypoint names: --classes_path when given (a label not in it skips the object, reported);
  otherwise the point labels in order of first appearance (a note says so).
- Images: `imagePath` relative to the JSON file (inside --dataset_path unless
  --allow_outside_paths); `imageHeight`/`imageWidth` are checked against the image.
- Coordinates are taken as labelme writes them (pixel units, used as pixel-centre coordinates).
"""

import glob
import math
import os

import numpy as np

from core.errors import UserInputError
from records.example import BadExample, Example, ObjectBox, Skip
from records.sources.common import (SourceData, inside, labelled_source_data, read_json,
                                    relative_to, require_dir, resolve_image)


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  files = _files(config, root)
  documents = [(path, read_json(path)) for path in files]
  data = labelled_source_data(config, 'labelme', _labels(documents),
                              'no point shapes with a label in any file')
  index = {n: i for i, n in enumerate(data.definition.names)}
  object_id = 0
  for image_id, (path, doc) in enumerate(documents):
    try:
      groups, image_path, size = _parse_document(doc, path, root, config)
    except BadExample as e:
      data.skipped.append(Skip(path, None, str(e)))
      continue
    for group, shapes in groups.items():
      record = f'group_id {group}' if group is not None else 'ungrouped shapes'
      try:
        example = _object(shapes, index, image_path, root, size, config.box_margin)
      except BadExample as e:
        data.skipped.append(Skip(path, record, str(e)))
        continue
      if example is None:
        data.filter('no_keypoints')
        continue
      example.image_id, example.object_id = image_id, object_id
      example.source_file, example.record = path, record
      object_id += 1
      data.examples.append(example)
  return data


def _files(config, root):
  if config.annotation_path:
    return [os.path.abspath(p.strip()) for p in str(config.annotation_path).split(',')
            if p.strip()]
  files = sorted(glob.glob(os.path.join(root, '**', '*.json'), recursive=True))
  if not files:
    raise UserInputError(f'--dataset_path={root}: no labelme .json files found')
  return files


def _labels(documents):
  """The labels of every point shape, in file order."""
  for _, doc in documents:
    shapes = doc.get('shapes') if isinstance(doc, dict) else None
    for shape in shapes if isinstance(shapes, list) else []:
      if (isinstance(shape, dict) and shape.get('shape_type', 'point') == 'point' and
          isinstance(shape.get('label'), str)):
        yield shape['label']


def _parse_document(doc, path, root, config):
  if not isinstance(doc, dict) or not isinstance(doc.get('shapes'), list):
    raise BadExample('not a labelme file (no shapes list)')
  # Relative to the JSON file (labelme's own convention), then checked against the dataset root.
  image_path = resolve_image(os.path.dirname(path), doc.get('imagePath'), True,
                             [root, os.path.join(root, 'images')])
  if not config.allow_outside_paths and not inside(image_path, root):
    raise BadExample(f'imagePath {doc.get("imagePath")!r} leads outside the dataset folder')
  size = None
  if isinstance(doc.get('imageHeight'), int) and isinstance(doc.get('imageWidth'), int):
    size = (doc['imageHeight'], doc['imageWidth'])
  groups = {}
  for shape in doc['shapes']:
    if not isinstance(shape, dict):
      raise BadExample(f'a shape is a {type(shape).__name__}, not an object')
    group = shape.get('group_id')
    groups.setdefault(group if isinstance(group, (int, str)) else None, []).append(shape)
  return groups, image_path, size


def _object(shapes, index, image_path, root, size, box_margin):
  """The shapes of one group -> Example (None when it has no point)."""
  k = len(index)
  xy, vis, box = np.zeros((k, 2)), np.zeros((k,), np.int32), None
  for shape in shapes:
    kind, label, points = shape.get('shape_type') or 'point', shape.get('label'), \
        shape.get('points')
    if kind not in ('point', 'rectangle'):
      continue
    if not isinstance(label, str):
      raise BadExample(f'shape label {label!r:.40} is not a name')
    try:
      coords = np.array(points, np.float64).reshape(-1, 2)
    except (TypeError, ValueError, OverflowError):
      raise BadExample(f'shape {label!r:.40}: points {points!r:.60} are not [[x, y], ...]')
    if not np.isfinite(coords).all() or len(coords) != (1 if kind == 'point' else 2):
      raise BadExample(f'shape {label!r:.40}: bad points {points!r:.60}')
    if kind == 'rectangle':
      lo, hi = coords.min(0), coords.max(0)
      box = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
      continue
    if label not in index:
      raise BadExample(f'unknown keypoint name {label!r:.40}')
    if vis[index[label]]:
      raise BadExample(f'keypoint {label!r} is labelled twice in one object')
    xy[index[label]], vis[index[label]] = coords[0], 2
  if not vis.any():
    return None
  example = Example(image_path=image_path, rel_path=relative_to(image_path, root), keypoints=xy,
                    visibility=vis, expected_size=size)
  if box is not None:
    if not (box[2] > 0 and box[3] > 0 and all(math.isfinite(v) for v in box)):
      raise BadExample(f'rectangle {box} is degenerate')
    example.bbox = box
    example.box = ObjectBox.from_xywh(*box).scaled(box_margin)
  return example
