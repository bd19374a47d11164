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
- Model pre-annotations (records/label_tools/labelme_files.py) are labels only once reviewed
  (records/pre_annotations.py): a point still where the file's `pre_annotations` says it was
  written, in an image whose `reviewed` flag is not ticked, is left unlabelled, unless a point of
  its group carries the shape flag `reviewed` ticked (the object is reviewed); in files without
  those marks, point shapes described `score <number>` (how the writer marked model points before)
  are. The rule holds per group: moving one object's points accepts no other object's. An object
  left with no label is filtered (unreviewed); --accept_unreviewed takes them all.
"""

import glob
import math
import os
import re

import numpy as np

from core.errors import UserInputError
from records import pre_annotations
from records.example import BadExample, Example, ObjectBox, Skip
from records.sources.common import (SourceData, inside, labelled_source_data, read_json,
                                    relative_to, require_dir, resolve_image)

# The description the writer gave every model point (its score), its only mark in older files.
_SCORE_DESCRIPTION = re.compile(r'^score [0-9.]+$')


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  files = _files(config, root)
  documents = [(path, read_json(path)) for path in files]
  data = labelled_source_data(config, 'labelme', _labels(documents),
                              'no point shapes with a label in any file')
  index = {n: i for i, n in enumerate(data.definition.names)}
  object_id = 0
  tally = pre_annotations.ReviewTally(accept=config.accept_unreviewed)
  for image_id, (path, doc) in enumerate(documents):
    try:
      groups, image_path, size = _parse_document(doc, path, root, config)
      review = _review(doc, groups, config.accept_unreviewed)
    except BadExample as e:
      data.skipped.append(Skip(path, None, str(e)))
      continue
    kept = 0
    for group, shapes in groups.items():
      record = f'group_id {group}' if group is not None else 'ungrouped shapes'
      untouched_before = review.untouched_points
      try:
        example = _object(shapes, (group, review), index, image_path, root, size,
                          config.box_margin)
      except BadExample as e:
        data.skipped.append(Skip(path, record, str(e)))
        continue
      if example is None:
        data.filter('unreviewed' if review.untouched_points > untouched_before else
                    'no_keypoints')
        continue
      example.image_id, example.object_id = image_id, object_id
      example.source_file, example.record = path, record
      object_id += 1
      kept += 1
      data.examples.append(example)
    if groups:
      tally.add(review, kept)
  data.notes += tally.notes('labelme')
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


def _review(doc, groups, accept):
  """The FrameReview of one labelme document (BadExample for malformed marks): the image flag
  `reviewed` accepts the frame, the shape flag `reviewed` on any point of a group its object."""
  reviewed = _ticked(doc)
  objects = frozenset(pre_annotations.object_key(group) for group, shapes in groups.items()
                      if any(_ticked(shape) for shape in shapes))
  written = pre_annotations.read_marks(doc.get(pre_annotations.MARKS_KEY),
                                       pre_annotations.MARKS_KEY)
  return pre_annotations.FrameReview(written, reviewed, accept, reviewed_objects=objects)


def _ticked(entry):
  """Whether a labelme document or shape has its flag `reviewed` ticked."""
  flags = entry.get('flags')
  return isinstance(flags, dict) and flags.get(pre_annotations.REVIEWED) is True


def _model_output(shape, review):
  """Whether a point shape is the model's: every point of a file with marks (its place then
  decides), else one the writer described by its score."""
  if review.written is not None:
    return True
  description = shape.get('description')
  return isinstance(description, str) and bool(_SCORE_DESCRIPTION.match(description.strip()))


def _object(shapes, reviewed_group, index, image_path, root, size, box_margin):
  """The shapes of one group -> Example (None when it has no labelled point); `reviewed_group`
  is (the group id, the document's FrameReview)."""
  group, review = reviewed_group
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
    if review.untouched(group, label, coords[0], _model_output(shape, review)):
      continue
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
