"""CVAT's "CVAT for images 1.1" XML (`--source=cvat`): skeletons and point shapes labelled by
keypoint name.

- Files: --annotation_path (comma-separated), else <dataset>/annotations.xml (the name in CVAT's
  export archive), else every *.xml directly in --dataset_path. A file that is not well-formed
  XML is an error naming the file, line and column; one whose root is not <annotations>, or that
  holds tracks ("CVAT for video 1.1") and no <image>, is an error too.
- Objects, per <image>: each <skeleton> is one object, its <points> children labelled by keypoint
  name (`outside="1"`: not labelled). Loose <points> (not in a skeleton) form one object per
  `group_id`; those without a group_id form one more object (all loose points of an image when
  none has one). `occluded="1"` gives visibility 1, else 2. A keypoint's `points` attribute must
  hold one point "x,y" (several "x1,y1;x2,y2" is an error for a keypoint label; a <points> of
  several points whose label is no keypoint name, like the `wheel` of CVAT's documented example,
  is a points shape: ignored, and its label is no keypoint name by first appearance).
- Boxes: the <box> with the object's `group_id` gives its bbox; an object without a group_id
  takes the image's only ungrouped box when it is the image's only ungrouped object (else the
  boxes are left out: a note counts them). A rotated box gives the extent of its corners. The box
  is enlarged by --box_margin; without one it is the extent of the labelled points, enlarged
  likewise (never below --box_min_side). Other shapes (polygons, polylines, tags, ...) are
  ignored.
- Coordinates are CVAT's pixel coordinates taken as written, as pixel-centre coordinates
  (labelme's convention: no half-pixel shift).
- Keypoint names: --classes_path when given (a label not in it skips the object, reported);
  otherwise the keypoint labels the <meta> (task or project <labels>) declares, in its order
  (labels of type `points` and skeleton sublabels, i.e. with a <parent>; CVAT writes the labels
  in the task's order), then any other point labels in order of first appearance (a note says
  which).
- Split: an <image>'s `subset` attribute (CVAT writes it for tasks in a project with subsets)
  sets its objects' split: validation for `validation`, `val` or `test` (any case), training
  for any other name; no subset, or CVAT's `default`, leaves the split to --val_list /
  --val_fraction (--val_list overrides every subset). A note counts the objects of each.
- Images: `name` relative to --dataset_path, then to <dataset>/images/ (inside --dataset_path
  unless --allow_outside_paths: a `name` like `../outside.png` or an absolute path elsewhere
  skips the image, reported); an image not found is skipped. `width`/`height` are checked
  against the image.
- Model pre-annotations are labels only once reviewed (records/pre_annotations.py): a <points>
  of source "auto" (or "file", when pre_annotations.json beside the XML or in --dataset_path
  says the project wrote it) still at its written place, in an <image> without a `reviewed`
  <tag>, is left unlabelled; without that file, every source="auto" point is (CVAT makes a moved
  shape "semi-auto"). An object left with no label is filtered (unreviewed);
  --accept_unreviewed takes them all.
- records/label_tools/cvat_files.py writes this format (the model's keypoints as loose points
  of one group per image, the labels in <meta>) for correction in CVAT.
- Bad records are skipped, each named by file and `image <name>` (and the skeleton or group),
  and count towards --max_skip_fraction: a missing image, a size that is not a number, a point
  with no label, an unknown or repeated label, a malformed or multi-point `points`, a
  degenerate box, several boxes with one group_id.
"""

import collections
import glob
import itertools
import math
import os
import xml.etree.ElementTree as ElementTree

import numpy as np

from core.errors import AnnotationError, UserInputError
from records import pre_annotations
from records.example import TRAIN, VAL, BadExample, Example, ObjectBox, Skip
from records.sources.common import (SourceData, inside, labelled_source_data,
                                    listed_annotation_files, read_json, relative_to,
                                    require_dir, resolve_image)

_VAL_SUBSETS = ('validation', 'val', 'test')


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  documents = [(path, _parse(path)) for path in _files(config, root)]
  declared = list(dict.fromkeys(_declared_labels(documents)))
  data = labelled_source_data(config, 'cvat', itertools.chain(declared, _labels(documents)),
                              'no <points> with a label in any <image>')
  if declared and not config.classes_path:
    data.notes[-1] = (f'cvat: keypoint channel order from the <meta> labels (then first '
                      f'appearance): {list(data.definition.names)} (give --classes_path to fix '
                      f'it)')
  index = {n: i for i, n in enumerate(data.definition.names)}
  counts = collections.Counter()
  tally = pre_annotations.ReviewTally(accept=config.accept_unreviewed)
  image_id = 0
  for path, annotations in documents:
    marks = _marks(path, root)
    for image in annotations.iter('image'):
      _read_image(image, (image_id, path, marks), root, config, index, data, (counts, tally))
      image_id += 1
  data.notes += tally.notes('cvat')
  for object_id, example in enumerate(data.examples):
    example.object_id = object_id
  _split_note(data)
  if counts['boxes_ignored']:
    data.notes.append(f'cvat: {counts["boxes_ignored"]} images have ungrouped boxes that match '
                      f'no single object (several boxes or objects without group_id); those '
                      f'objects\' boxes are their keypoints\' extent')
  return data


def _files(config, root):
  listed = listed_annotation_files(config)
  if listed:
    return listed
  default = os.path.join(root, 'annotations.xml')
  found = [default] if os.path.isfile(default) else sorted(
      glob.glob(os.path.join(root, '*.xml')))
  if not found:
    raise UserInputError(f'--dataset_path={root}: no CVAT annotations.xml (or other *.xml) '
                         f'there; give --annotation_path')
  return found


def _parse(path):
  """The <annotations> element of a CVAT for images XML file (AnnotationError otherwise)."""
  try:
    tree = ElementTree.parse(path)
  except ElementTree.ParseError as e:
    line, column = e.position  # expat counts columns from 0
    reason = str(e).rsplit(': line ', 1)[0]
    raise AnnotationError(f'{path}: malformed XML at line {line}, column {column + 1}: '
                          f'{reason}') from None
  except OSError as e:
    raise AnnotationError(f'{path}: cannot read CVAT XML ({e.strerror or e})') from None
  annotations = tree.getroot()
  if annotations.tag != 'annotations':
    raise AnnotationError(f'{path}: not a CVAT for images XML (the root element is '
                          f'<{annotations.tag:.40}>, expected <annotations>)')
  if annotations.find('image') is None and annotations.find('track') is not None:
    raise AnnotationError(f'{path}: a "CVAT for video 1.1" export (tracks) is not read; export '
                          f'the task as "CVAT for images 1.1"')
  return annotations


def _marks(path, root):
  """The images of the pre_annotations.json beside the XML file `path`, else in `root`
  ({image name: marks}); {} when there is none."""
  for folder in (os.path.dirname(path), root):
    candidate = os.path.join(folder, pre_annotations.CVAT_MARKS_FILE)
    if os.path.isfile(candidate):
      document = read_json(candidate)
      images = document.get('images') if isinstance(document, dict) else None
      if not isinstance(images, dict):
        raise AnnotationError(f'{candidate}: not a pre_annotations file (no "images" object)')
      return images
  return {}


def _declared_labels(documents):
  """The keypoint labels of the <meta> task or project labels, in their order: those of type
  `points` and the sublabels of skeletons (a <parent>). Labels of other types (boxes, the
  skeleton itself) and untyped ones (older exports) are left to first appearance."""
  for _, annotations in documents:
    meta = annotations.find('meta')
    if meta is None:
      continue
    for label in meta.iterfind('.//labels/label'):
      name = (label.findtext('name') or '').strip()
      kind = (label.findtext('type') or '').strip()
      if name and (kind == 'points' or (label.findtext('parent') or '').strip()):
        yield name


def _labels(documents):
  """The <points> labels of every <image>, in file order."""
  for _, annotations in documents:
    for image in annotations.iter('image'):
      for points in image.iter('points'):
        if points.get('label') and not _several(points):
          yield points.get('label')


def _several(element):
  """Whether a <points> element holds several points (a points shape, not a keypoint)."""
  return ';' in (element.get('points') or '').strip().strip(';')


def _read_image(image, where, root, config, index, data, counters):
  """Adds the objects of one <image> to `data` (skips and filters as it goes); `where` is
  (image id, the XML file, its marks), `counters` (a Counter, the ReviewTally)."""
  image_id, path, marks = where
  counts, tally = counters
  record = f'image {image.get("name", image.get("id", "?"))!r:.80}'
  split = _subset_split(image)
  objects = _objects(image, counts)
  if not objects:
    return
  try:
    image_path, size = _image_file(image, root, config.allow_outside_paths)
    review = _review(image, marks, config.accept_unreviewed)
  except BadExample as e:
    data.skipped.append(Skip(path, record, str(e)))
    return
  kept = 0
  for name, points, boxes, group in objects:
    label = f'{record}, {name}'
    untouched_before = review.untouched_points
    try:
      example = _example(points, (boxes, group, review), index, (image_path, root, size),
                         config.box_margin)
    except BadExample as e:
      data.skipped.append(Skip(path, label, str(e)))
      continue
    if example is None:
      data.filter('unreviewed' if review.untouched_points > untouched_before else
                  'no_keypoints')
      continue
    example.image_id, example.source_file, example.record = image_id, path, label
    example.split = split
    kept += 1
    data.examples.append(example)
  tally.add(review, kept)


def _review(image, marks, accept):
  """The FrameReview of one <image>: its marks by name, and whether it has the reviewed tag."""
  reviewed = any(tag.get('label') == pre_annotations.REVIEWED for tag in image.findall('tag'))
  written = pre_annotations.read_marks(marks.get(image.get('name')),
                                       pre_annotations.CVAT_MARKS_FILE)
  return pre_annotations.FrameReview(written, reviewed, accept)


def _model_output(element, review):
  """Whether a <points> is the model's: CVAT's source auto (a moved shape becomes semi-auto),
  or file (an uploaded one) where the marks say the project wrote the image."""
  source = (element.get('source') or '').strip().lower()
  return source == 'auto' or (source == 'file' and review.written is not None)


def _subset_split(image):
  """The split an <image>'s `subset` names: VAL for validation/val/test (any case), None for
  none ('' or CVAT's 'default'), else TRAIN."""
  subset = (image.get('subset') or '').strip().lower()
  if subset in ('', 'default'):
    return None
  return VAL if subset in _VAL_SUBSETS else TRAIN


def _split_note(data):
  split = collections.Counter(ex.split for ex in data.examples if ex.split is not None)
  if split:
    data.notes.append(f'cvat: split by the images\' subset attribute: {split[TRAIN]} train and '
                      f'{split[VAL]} validation objects')


def _objects(image, counts):
  """[(name, <points> elements, candidate <box> elements, group_id or None)] of one <image>."""
  boxes = collections.defaultdict(list)
  for box in image.findall('box'):
    boxes[box.get('group_id') or None].append(box)
  objects = []  # (name, points, group)
  for i, skeleton in enumerate(image.findall('skeleton')):
    objects.append((f'skeleton {i} ({skeleton.get("label", "?")!r:.40})',
                    skeleton.findall('points'), skeleton.get('group_id') or None))
  loose = collections.OrderedDict()
  for points in image.findall('points'):
    loose.setdefault(points.get('group_id') or None, []).append(points)
  for group, members in loose.items():
    objects.append((f'group_id {group!r:.40}' if group else 'ungrouped points', members, group))
  ungrouped = [o for o in objects if o[2] is None]
  single = len(boxes[None]) == 1 and len(ungrouped) == 1
  if boxes[None] and ungrouped and not single:
    counts['boxes_ignored'] += 1
  out = []
  for name, members, group in objects:
    if group is None:
      candidates = boxes[None] if single else []
    else:
      candidates = boxes.get(group, [])
    out.append((name, members, candidates, group))
  return out


def _image_file(image, root, allow_outside):
  """(the image file, (height, width) or None) of an <image>."""
  name = image.get('name')
  path = resolve_image(root, name, allow_outside)  # refuses '..' escapes
  if not os.path.isfile(path):
    alternative = os.path.normpath(os.path.join(root, 'images', name))
    if not (os.path.isfile(alternative) and (allow_outside or inside(alternative, root))):
      raise BadExample(f'image file {name!r:.80} not found in {root} or its images/ folder')
    path = alternative
  width, height = image.get('width'), image.get('height')
  if width is None or height is None:
    return path, None
  try:
    size = (int(height), int(width))
  except ValueError:
    raise BadExample(f'width/height {width!r:.20}/{height!r:.20} are not whole numbers') \
        from None
  if min(size) < 1:
    raise BadExample(f'width/height {width}/{height} are not an image size')
  return path, size


def _example(points, reviewed_boxes, index, image, box_margin):
  """One object's <points> -> Example (None when no keypoint is labelled); `reviewed_boxes` is
  (its box candidates, its group_id, the image's FrameReview), `image` (path, root, size)."""
  boxes, group, review = reviewed_boxes
  image_path, root, size = image
  k = len(index)
  xy, vis = np.zeros((k, 2)), np.zeros((k,), np.int32)
  for element in points:
    label = element.get('label')
    if not label:
      raise BadExample('a <points> element has no label')
    if label not in index:
      if _several(element):
        continue  # a points shape of another label, like a polygon
      raise BadExample(f'unknown keypoint name {label!r:.40}')
    if element.get('outside') == '1':
      continue
    if vis[index[label]]:
      raise BadExample(f'keypoint {label!r:.40} is labelled twice in one object')
    point = _point(element.get('points'), label)
    if review.untouched(group, label, point, _model_output(element, review)):
      continue
    xy[index[label]] = point
    vis[index[label]] = 1 if element.get('occluded') == '1' else 2
  if not vis.any():
    return None
  if len(boxes) > 1:
    raise BadExample(f'{len(boxes)} boxes share group_id {boxes[0].get("group_id")!r:.40}')
  example = Example(image_path=image_path, rel_path=relative_to(image_path, root), keypoints=xy,
                    visibility=vis, expected_size=size)
  if boxes:
    example.bbox = _box(boxes[0])
    example.box = ObjectBox.from_xywh(*example.bbox).scaled(box_margin)
  return example


def _point(text, label):
  """'x,y' -> (x, y); BadExample for anything else (several points included)."""
  if text is None:
    raise BadExample(f'points {label!r:.40}: no points attribute')
  pairs = text.strip().split(';')
  if len(pairs) != 1:
    raise BadExample(f'points {label!r:.40}: {len(pairs)} points {text!r:.60} (a keypoint '
                     f'label holds one)')
  try:
    x, y = (float(v) for v in pairs[0].split(','))
  except ValueError:
    raise BadExample(f'points {label!r:.40}: malformed points {text!r:.60} (expected "x,y")') \
        from None
  if not (math.isfinite(x) and math.isfinite(y)):
    raise BadExample(f'points {label!r:.40}: non-finite coordinate {text!r:.60}')
  return x, y


def _box(box):
  """[x, y, w, h] of a <box> (the extent of its corners when it has a rotation)."""
  try:
    xtl, ytl, xbr, ybr, rotation = (float(box.get(k, default)) for k, default in (
        ('xtl', 'nan'), ('ytl', 'nan'), ('xbr', 'nan'), ('ybr', 'nan'), ('rotation', '0')))
  except ValueError:
    raise BadExample(f'box {dict(box.attrib)!r:.100}: a coordinate is not a number') from None
  if not all(math.isfinite(v) for v in (xtl, ytl, xbr, ybr, rotation)) or \
     not (xbr > xtl and ybr > ytl):
    raise BadExample(f'box {dict(box.attrib)!r:.100} is degenerate')
  cx, cy, hw, hh = (xtl + xbr) / 2, (ytl + ybr) / 2, (xbr - xtl) / 2, (ybr - ytl) / 2
  theta = math.radians(rotation)  # CVAT turns a box about its centre
  ex = abs(hw * math.cos(theta)) + abs(hh * math.sin(theta))
  ey = abs(hw * math.sin(theta)) + abs(hh * math.cos(theta))
  return [cx - ex, cy - ey, 2 * ex, 2 * ey]
