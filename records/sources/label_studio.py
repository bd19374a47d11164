"""Label Studio's JSON export (`--source=label_studio`): the keypoints and rectangles of each
task's annotation.

- Files: --annotation_path (comma-separated), else every *.json directly in --dataset_path (not
  its subfolders, where image folders may hold other JSON). Each file is the export's list of
  tasks; a file that is not (e.g. a JSON-MIN export, whose rows have no `data`) is an error
  naming it.
- Annotation: the task's `annotations`, the last one that is not cancelled (`was_cancelled`)
  when there are several (a note counts those tasks). `predictions` are never read. Tasks with no
  annotation, or only cancelled ones, are counted as filtered (no_annotation, cancelled).
- Model pre-annotations (records/label_tools/label_studio_files.py) are labels only once reviewed
  (records/pre_annotations.py): the task's `data.pre_annotations` says where each predicted point
  was written; a point of the annotation still there is left unlabelled unless the annotation
  holds the `reviewed` choice, or a per-region `reviewed` choice (a result with the id of the
  object's rectangle or of one of its keypoints: Label Studio gives a perRegion choice its
  region's id) accepts its object; and a task with those marks and no annotation is untouched as
  a whole. The rule holds per object (the point's parentID): moving one object's points accepts
  no other object's. An object left with no label is filtered (unreviewed); --accept_unreviewed
  takes them all (an unsubmitted task's points from its marks, grouped by their objects).
- Results: `keypointlabels` are keypoints (one label each), `rectanglelabels` are boxes; other
  result types (choices, text, polygons, ...) are ignored. Coordinates are percent of the image:
  x_px = x / 100 * original_width, y_px = y / 100 * original_height, used as pixel-centre
  coordinates (labelme's convention: no half-pixel shift). A rotated rectangle gives the extent
  of its corners (Label Studio turns it about its top-left corner). Every keypoint is visible
  (v = 2): Label Studio has no occlusion flag. Results with a nonzero `image_rotation` are
  refused (the record is skipped).
- Objects: all keypoints of an annotation form one object, whose bbox is the rectangle when the
  annotation has exactly one (several rectangles without parentID: the keypoints' extent, and a
  note counts them). When keypoints carry `parentID` naming a rectangle result, each rectangle
  is one object holding its keypoints (keypoints without a parent form one more object). A
  rectangle is enlarged by --box_margin; without one the box is the extent of the labelled
  points, enlarged likewise (never below --box_min_side).
- Keypoint names: --classes_path when given (a label not in it skips the object, reported);
  otherwise the keypoint labels of the annotations read, in order of first appearance (a note
  says so).
- Images: `data.image`, else the `data` key the results' `to_name` names, else the only text
  value of `data`, else the only one that ends in an image file name (a caption beside it).
  Label Studio writes `/data/upload/<project>/<8 hex>-<name>`, `/data/local-files/?d=<path>`, a
  URL or a path (records/sources/label_studio_images.py); it is looked up in --dataset_path as
  the path (the `?d=` value; a URL's path), then ever shorter trailing parts of it down to the
  file name, then the file name in <dataset>/images/, then (upload form) the name without Label
  Studio's 8-hex prefix. Never outside --dataset_path unless --allow_outside_paths. A task
  whose image is not found is skipped. `original_width`/`original_height` are checked against
  the image.
- Bad records are skipped, each named by file and `task <id>, annotation <id>` (and the
  rectangle), and count towards --max_skip_fraction: a task that is not an object, a malformed
  result or coordinate, a keypoint with no or several labels, an unknown or repeated label, a
  missing image, sizes that disagree, a degenerate rectangle, a parentID that names no rectangle.
"""

import collections
import glob
import math
import os

import numpy as np

from core.errors import AnnotationError, UserInputError
from records import pre_annotations
from records.example import BadExample, Example, ObjectBox, Skip
from records.sources import label_studio_images
from records.sources.common import (SourceData, labelled_source_data, listed_annotation_files,
                                    read_json, relative_to, require_dir)

_KEYPOINT_TYPES = ('keypointlabels', 'keypoint')
_RECTANGLE_TYPES = ('rectanglelabels', 'rectangle')
# One keypoint result: its result id, parentID, label and pixel position.
_Point = collections.namedtuple('_Point', 'id parent label xy')


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  documents = [(path, _read_tasks(path)) for path in _files(config, root)]
  data = labelled_source_data(config, 'label_studio', _labels(documents),
                              'no keypoint result with a label in any annotation')
  index = {n: i for i, n in enumerate(data.definition.names)}
  counts, image_ids = collections.Counter(), {}
  tally = pre_annotations.ReviewTally(accept=config.accept_unreviewed)
  for path, tasks in documents:
    for n, task in enumerate(tasks):
      _read_task(task, n, path, root, config, (index, image_ids, tally), data, counts)
  data.notes += tally.notes('label_studio')
  for object_id, example in enumerate(data.examples):
    example.object_id = object_id
  _count_notes(counts, data)
  return data


def _files(config, root):
  listed = listed_annotation_files(config)
  if listed:
    return listed
  found = sorted(glob.glob(os.path.join(root, '*.json')))
  if not found:
    raise UserInputError(f'--dataset_path={root}: no Label Studio export (*.json) there; give '
                         f'--annotation_path')
  return found


def _read_tasks(path):
  """The list of tasks of one export file (AnnotationError when it is not one)."""
  doc = read_json(path)
  if isinstance(doc, dict) and 'data' in doc:
    return [doc]  # one task, as the API returns it
  if not isinstance(doc, list):
    raise AnnotationError(f'{path}: not a Label Studio JSON export (a list of tasks), got a '
                          f'{type(doc).__name__}')
  if doc and not any(isinstance(t, dict) and 'data' in t for t in doc):
    raise AnnotationError(f'{path}: not a Label Studio JSON export: no task has a `data` field '
                          f'(JSON-MIN and CSV exports are not read; export as JSON)')
  return doc


def _labels(documents):
  """The keypoint labels of every task's chosen annotation, in file order."""
  for _, tasks in documents:
    for task in tasks:
      try:
        annotation, _ = _chosen(task)
      except BadExample:
        continue
      for result in (annotation or {}).get('result') or []:
        try:
          label = _label(result) if _type(result) in _KEYPOINT_TYPES else None
        except BadExample:
          continue
        if label is not None:
          yield label


def _read_task(task, n, path, root, config, indices, data, counts):
  """Adds the objects of one task to `data` (skips, filters and counts as it goes).

  `indices` is (keypoint name -> channel, image path -> image id, the ReviewTally) (the image
  ids grow here).
  """
  index, image_ids, tally = indices
  record = f'task {task.get("id", n)!r:.40}' if isinstance(task, dict) else f'task #{n}'
  try:
    written = _written(task)
    annotation, reason = _chosen(task, counts, marked=written is not None)
    if annotation is None and written is None:
      data.filter(reason)
      return
    if annotation is None:  # never submitted: the written points, untouched
      results, size = [], None
      points = [_Point(None, obj or None, label, xy) for (obj, label), xy in written.items()]
      boxes = {p.parent: None for p in points if p.parent is not None}
    else:
      record += f', annotation {annotation.get("id", "?")!r:.40}'
      results = annotation['result']
      points, boxes, size = _results(results)
    reviewed, reviewed_objects = _reviewed(results, points, boxes)
    review = pre_annotations.FrameReview(written, reviewed, config.accept_unreviewed,
                                         reviewed_objects=reviewed_objects)
    if not points and not boxes:
      data.filter('no_keypoints')
      return
    image_path = label_studio_images.task_image(task, results, root, config.allow_outside_paths)
    objects = _objects(points, boxes, counts)
  except BadExample as e:
    data.skipped.append(Skip(path, record, str(e)))
    return
  image_id = image_ids.setdefault(image_path, len(image_ids))
  kept = 0
  for name, object_points, box in objects:
    label = f'{record}, {name}' if name else record
    untouched_before = review.untouched_points
    try:
      example = _example(object_points, (box, review), index, (image_path, root, size),
                         config.box_margin)
    except BadExample as e:
      data.skipped.append(Skip(path, label, str(e)))
      continue
    if example is None:
      data.filter('unreviewed' if review.untouched_points > untouched_before else
                  'no_keypoints')
      continue
    example.image_id, example.source_file, example.record = image_id, path, label
    kept += 1
    data.examples.append(example)
  tally.add(review, kept)


def _written(task):
  """The task's marks (records/label_tools/label_studio_files.py writes them in its data), or
  None."""
  data = task.get('data') if isinstance(task, dict) else None
  value = data.get(pre_annotations.MARKS_KEY) if isinstance(data, dict) else None
  return pre_annotations.read_marks(value, f'data.{pre_annotations.MARKS_KEY}')


def _reviewed(results, points, boxes):
  """(whether the task is reviewed, the objects reviewed) by the `reviewed` choices of the
  results (the written label config offers them): a choice whose result id is a region's (a
  per-region choice) accepts that region's object, the rectangle or the keypoint's parent; any
  other the whole task."""
  owner = {rid: rid for rid in boxes}
  owner.update((p.id, p.parent) for p in points if p.id is not None)
  task, objects = False, set()
  for result in results:
    value = result.get('value') if isinstance(result, dict) else None
    choices = value.get('choices') if isinstance(value, dict) else None
    if not (isinstance(choices, list) and pre_annotations.REVIEWED in choices):
      continue
    rid = _key(result.get('id'))
    if rid is not None and rid in owner:
      objects.add(pre_annotations.object_key(owner[rid]))
    else:
      task = True
  return task, frozenset(objects)


def _chosen(task, counts=None, marked=False):
  """(the annotation to read, None) or (None, the filter reason); BadExample when malformed.
  `marked`: the task carries our marks (its unsubmitted predictions are then counted by the
  pre-annotation rule, not as predictions_only)."""
  if not isinstance(task, dict):
    raise BadExample(f'the task is a {type(task).__name__}, not an object')
  annotations = task.get('annotations')
  if not annotations:
    if counts is not None and task.get('predictions') and not marked:
      counts['predictions_only'] += 1
    return None, 'no_annotation'
  if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
    raise BadExample('field annotations is not a list of objects')
  live = [a for a in annotations if not a.get('was_cancelled')]
  if not live:
    return None, 'cancelled'
  if len(live) > 1 and counts is not None:
    counts['several'] += 1
  annotation = live[-1]
  if not isinstance(annotation.get('result'), list):
    raise BadExample(f'annotation {annotation.get("id", "?")!r:.40}: field result is not a list')
  return annotation, None


def _type(result):
  return result.get('type') if isinstance(result, dict) else None


def _label(result):
  """The one label of a keypoint or rectangle result."""
  value = result.get('value')
  labels = None
  if isinstance(value, dict):
    labels = next((value[k] for k in ('keypointlabels', 'rectanglelabels', 'labels')
                   if k in value), None)
  if not (isinstance(labels, list) and len(labels) == 1 and isinstance(labels[0], str)):
    raise BadExample(f'result {result.get("id")!r:.40}: needs exactly one label, got '
                     f'{labels!r:.60}')
  return labels[0]


def _results(results):
  """-> (keypoints [_Point], rectangles {id: [x, y, w, h] px}, (height, width) or None)."""
  points, boxes, sizes = [], {}, set()
  for i, result in enumerate(results):
    kind = _type(result)
    if not isinstance(result, dict):
      raise BadExample(f'result {i} is a {type(result).__name__}, not an object')
    if kind not in _KEYPOINT_TYPES + _RECTANGLE_TYPES:
      continue
    size = _size(result)
    sizes.add(size)
    if kind in _KEYPOINT_TYPES:
      xy = _pixels(result, ('x', 'y'), size)
      points.append(_Point(_key(result.get('id')), _key(result.get('parentID')),
                           _label(result), xy))
    else:
      boxes[_key(result.get('id', f'#{i}'))] = _rectangle(result, size)
  if len(sizes) > 1:
    raise BadExample(f'results disagree on the image size (original_width x original_height: '
                     f'{", ".join(f"{w}x{h}" for h, w in sorted(sizes))})')
  return points, boxes, next(iter(sizes), None)


def _key(value):
  """A result id (or parentID) as a dict key: ids that are lists or objects match as text."""
  return value if isinstance(value, (int, str, float, type(None))) else repr(value)


def _size(result):
  """(height, width) of the image a result was drawn on."""
  rid = result.get('id')
  if result.get('image_rotation') not in (None, 0):
    raise BadExample(f'result {rid!r:.40}: image_rotation {result["image_rotation"]!r:.20} '
                     f'(a rotated view) is not supported')
  w, h = result.get('original_width'), result.get('original_height')
  ok = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and
           v >= 1 and v == int(v) for v in (w, h))
  if not ok:
    raise BadExample(f'result {rid!r:.40}: original_width/original_height {w!r:.20}/{h!r:.20} '
                     f'are not an image size')
  return int(h), int(w)


def _pixels(result, keys, size):
  """The `value` fields `keys` (percent of the image) in pixels: x by width, y by height."""
  value = result.get('value')
  h, w = size
  out = []
  for key in keys:
    v = value.get(key) if isinstance(value, dict) else None
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
      raise BadExample(f'result {result.get("id")!r:.40}: value.{key} {v!r:.40} is not a '
                       f'number')
    out.append(v / 100.0 * (h if key in ('y', 'height') else w))
  return out


def _rectangle(result, size):
  """[x, y, w, h] pixels: the extent of the (possibly rotated) rectangle."""
  x, y, w, h = _pixels(result, ('x', 'y', 'width', 'height'), size)
  value = result['value']
  rotation = value.get('rotation', 0) or 0
  if not (w > 0 and h > 0) or not isinstance(rotation, (int, float)) or \
     not math.isfinite(rotation):
    raise BadExample(f'result {result.get("id")!r:.40}: degenerate rectangle {value!r:.80}')
  theta = math.radians(rotation)  # clockwise on screen (y down), about the top-left corner
  c, s = math.cos(theta), math.sin(theta)
  corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
  xs = x + corners[:, 0] * c - corners[:, 1] * s
  ys = y + corners[:, 0] * s + corners[:, 1] * c
  return [float(xs.min()), float(ys.min()), float(xs.max() - xs.min()),
          float(ys.max() - ys.min())]


def _objects(points, boxes, counts):
  """[(name, points, box or None)]: one object, or one per parent rectangle."""
  if not any(p.parent is not None for p in points):
    if len(boxes) > 1:
      counts['boxes_ignored'] += 1
    return [('', points, next(iter(boxes.values())) if len(boxes) == 1 else None)]
  for p in points:
    if p.parent is not None and p.parent not in boxes:
      raise BadExample(f'keypoint {p.label!r:.40} has parentID {p.parent!r:.40}, which is no '
                       f'rectangle of this annotation')
  objects = [(f'rectangle {rid!r:.40}', [p for p in points if p.parent == rid], box)
             for rid, box in boxes.items()]
  orphans = [p for p in points if p.parent is None]
  if orphans:
    objects.append(('keypoints without a rectangle', orphans, None))
  return objects


def _example(points, reviewed_box, index, image, box_margin):
  """One object's keypoints -> Example (None when it has no labelled keypoint); `reviewed_box`
  is (its box or None, the task's FrameReview), `image` (path, root, size)."""
  box, review = reviewed_box
  image_path, root, size = image
  k = len(index)
  xy, vis = np.zeros((k, 2)), np.zeros((k,), np.int32)
  for p in points:
    if p.label not in index:
      raise BadExample(f'unknown keypoint name {p.label!r:.40}')
    if vis[index[p.label]]:
      raise BadExample(f'keypoint {p.label!r} is labelled twice in one object')
    if review.untouched(p.parent, p.label, p.xy, review.written is not None):
      continue
    xy[index[p.label]], vis[index[p.label]] = p.xy, 2
  if not vis.any():
    return None
  example = Example(image_path=image_path, rel_path=relative_to(image_path, root), keypoints=xy,
                    visibility=vis, expected_size=size)
  if box is not None:
    example.bbox = box
    example.box = ObjectBox.from_xywh(*box).scaled(box_margin)
  return example


def _count_notes(counts, data):
  if counts['several']:
    data.notes.append(f'label_studio: {counts["several"]} tasks have several annotations; the '
                      f'last one not cancelled is read')
  if counts['predictions_only']:
    data.notes.append(f'label_studio: {counts["predictions_only"]} tasks have predictions but '
                      f'no annotation; predictions are not read (counted as no_annotation)')
  if counts['boxes_ignored']:
    data.notes.append(f'label_studio: {counts["boxes_ignored"]} annotations have several '
                      f'rectangles and no parentID; their boxes are the keypoints\' extent')
