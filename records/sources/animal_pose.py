"""The Animal-Pose data set's keypoints.json (`--source=animal_pose`; Cao et al., ICCV 2019, part
I: dog, cat, cow, horse, sheep with 20 keypoints each).

- Files: --annotation_path (comma-separated), else <dataset>/keypoints.json.
- Layout: `images` a dict image id (a string key) -> file name; `annotations` a list of objects
  with `keypoints` [[x, y, v], ...] (K points), `image_id`, `category_id` and `bbox`
  [xmin, ymin, xmax, ymax]; `categories` with `id`, `name`, `keypoints` (names) and `skeleton`.
  A COCO file (images a list of objects, flat keypoint lists) is an error that says to use
  --source=coco (that is also the source for mmpose's converted animalpose_*.json).
- Images: <dataset>/<file name>, else <dataset>/images/<file name>; without --dataset_path the
  annotation file's folder. No path leads outside that folder unless --allow_outside_paths.
- Categories: --categories=dog,cat keeps the objects of those categories (names as in the file,
  any case; the others are counted as filtered `other_category`); without it every category is
  read. A name the file does not have is an error naming the file and listing its categories.
  The notes count the objects read per category. All categories must name the same keypoints.
- Visibility: the set writes v = 1 for a labelled point (its README: annotated and not
  occluded) and 0 for an unlabelled one; 1 becomes our 2 (visible); the set marks no occlusion.
  A file that writes v = 2 anywhere follows COCO (1 occluded, 2 visible) and is read as it is
  (a note says so).
- Coordinates: taken as written, integer = pixel centre (as mmpose and the set's own tools read
  them; no half-pixel shift).
- Box: [xmin, ymin, xmax, ymax] becomes [x, y, w, h] = [xmin, ymin, xmax - xmin, ymax - ymin]
  (what the set's own converters take), enlarged by --box_margin.
- Keypoint definition: the file's names in the file's order and its skeleton; flip pairs from
  the names. The released skeleton is 0-based ([[0, 1], [0, 2], ...], as the set's
  visualize_keypoint.py draws it); one that never uses 0 and does use K is read 1-based (COCO
  style), with a note. A --classes_path in another order (configs/animal_pose_classes.txt,
  mmpose's order) is mapped by name, left_ear = left_earbase (records/sources/resolve.py).
- Filters (counted, never an error): objects without a labelled keypoint, objects of categories
  left out by --categories.
- Skipped (file and record, the index in `annotations`): a keypoint list of the wrong length or
  layout, an image_id or category_id the file does not list, a missing or degenerate bbox
  (w or h <= 0), an image path outside the dataset folder.
- Split: the file has none: --val_list, else --val_fraction.
"""

import collections
import math
import os

import numpy as np

from core.errors import AnnotationError, UserInputError
from records.example import BadExample, Example, ObjectBox, Skip, parse_keypoints
from records.keypoint_definition import KeypointDefinition
from records.sources.common import (SourceData, annotation_files, id_number, read_json,
                                    relative_to, require_dir, resolve_image, side_colour)

DEFAULT_FILE = 'keypoints.json'
SOURCE = 'animal_pose'


def load(config) -> SourceData:
  paths = annotation_files(config, [DEFAULT_FILE])
  root = (require_dir(config.dataset_path) if config.dataset_path else
          os.path.dirname(paths[0]))
  data, counts, first_id = None, collections.Counter(), 0
  chosen = getattr(config, 'categories', None)
  for path in paths:
    doc = read_json(path)
    definition, categories, one_based = read_layout(doc, path)
    if data is None:
      data = SourceData([], definition, definition.num_keypoints)
    elif definition.names != data.definition.names:
      raise AnnotationError(f'{path}: keypoint names {list(definition.names)} differ from those '
                            f'of {paths[0]}')
    if one_based:
      data.notes.append(f'{SOURCE}: {path}: the skeleton never uses index 0 and does use '
                        f'{definition.num_keypoints}: read as 1-based (COCO style)')
    wanted = selected_categories(categories, chosen, path)
    _read_file(doc, path, (root, config), data, (categories, wanted, first_id), counts)
    first_id += len(doc['annotations'])
  which = f'--categories={chosen}' if chosen else 'every category'
  data.notes.append(f'{SOURCE}: objects read per category ({which}): ' +
                    (', '.join(f'{name} {n}' for name, n in sorted(counts.items())) or 'none'))
  return data


def read_layout(doc, path):
  """(the KeypointDefinition, {category key: name}, whether the skeleton is 1-based) of a
  parsed keypoints.json.

  Raises:
    AnnotationError: naming the file, for a file of another layout (a COCO file: use
      --source=coco), no category with keypoints, categories with different keypoints.
  """
  if not isinstance(doc, dict):
    raise AnnotationError(f'{path}: not an Animal-Pose keypoints file (a JSON object with '
                          f'images, annotations and categories)')
  if isinstance(doc.get('images'), list):
    raise AnnotationError(f'{path}: field images is a list of image objects, as in a COCO file; '
                          f'Animal-Pose keypoints.json maps image ids to file names: use '
                          f'--source=coco for this file')
  if not isinstance(doc.get('images'), dict) or not isinstance(doc.get('annotations'), list):
    raise AnnotationError(f'{path}: not an Animal-Pose keypoints file: needs images (a dict id '
                          f'-> file name) and annotations (a list)')
  listed = doc.get('categories') if isinstance(doc.get('categories'), list) else []
  categories = [c for c in listed if isinstance(c, dict) and c.get('keypoints')]
  if not categories:
    raise AnnotationError(f'{path}: no category with keypoints (field categories)')
  names = categories[0]['keypoints']
  if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
    raise AnnotationError(f'{path}: field categories.keypoints must be a list of names')
  for category in categories[1:]:
    if category['keypoints'] != names:
      raise AnnotationError(f'{path}: categories {categories[0].get("name")!r} and '
                            f'{category.get("name")!r} name different keypoints')
  skeleton, one_based = _skeleton(categories[0].get('skeleton'), names, path)
  definition = KeypointDefinition(tuple(names), skeleton=skeleton)
  try:
    definition.validate(f'{path}, field categories')
  except UserInputError as e:
    raise AnnotationError(str(e)) from None
  by_key = {_key(c.get('id')): str(c.get('name', c.get('id'))) for c in categories}
  return definition, by_key, one_based


def _skeleton(edges, names, path):
  """((i, j, colour) edges, whether they were 1-based) of a category's skeleton field."""
  if edges is None:
    return (), False
  if not isinstance(edges, list) or not all(
      isinstance(e, list) and len(e) == 2 and
      all(isinstance(v, int) and not isinstance(v, bool) for v in e) for e in edges):
    raise AnnotationError(f'{path}: field categories.skeleton must be a list of [i, j] index '
                          f'pairs, got {edges!r:.60}')
  k, flat = len(names), [v for e in edges for v in e]
  one_based = bool(flat) and min(flat) >= 1 and max(flat) == k
  offset = 1 if one_based else 0
  skeleton = []
  for edge in edges:
    i, j = edge[0] - offset, edge[1] - offset
    if not (0 <= i < k and 0 <= j < k) or i == j:
      raise AnnotationError(f'{path}: skeleton edge {edge!r} out of range for {k} keypoints '
                            f'(field categories.skeleton, 0-based)')
    skeleton.append((i, j, side_colour(names[i], names[j])))
  return tuple(skeleton), one_based


def selected_categories(categories, wanted_text, path):
  """The category keys to read: every one, or those --categories names (any case).

  Raises:
    UserInputError: a name the file does not have, naming the file and listing its categories.
  """
  if not wanted_text:
    return set(categories)
  wanted = [w.strip() for w in str(wanted_text).split(',') if w.strip()]
  by_name = collections.defaultdict(set)
  for key, name in categories.items():
    by_name[name.lower()].add(key)
  unknown = [w for w in wanted if w.lower() not in by_name]
  if unknown or not wanted:
    raise UserInputError(f'--categories={wanted_text}: {", ".join(unknown) or "no name"} not in '
                         f'{path}; its categories are '
                         f'{", ".join(sorted(set(categories.values())))}')
  return set().union(*(by_name[w.lower()] for w in wanted))


def _read_file(doc, path, place, data, chosen, counts) -> None:
  """Appends the examples of one parsed file to `data` (skips and filters counted)."""
  categories, wanted, first_id = chosen
  coco_visibility = _writes_two(doc['annotations'])
  if coco_visibility:
    data.notes.append(f'{SOURCE}: {path} writes visibility 2: read in COCO\'s convention '
                      f'(1 occluded, 2 visible)')
  for index, ann in enumerate(doc['annotations']):
    if not isinstance(ann, dict):
      data.skipped.append(Skip(path, index, 'annotation is not an object'))
      continue
    category = _key(ann.get('category_id'))
    if category not in categories:
      data.skipped.append(Skip(path, index, f'category_id {ann.get("category_id")!r:.40} is '
                                            f'not in categories'))
      continue
    if category not in wanted:
      data.filter('other_category')
      continue
    try:
      example = _parse_annotation(ann, doc['images'], data.num_keypoints, place,
                                  coco_visibility)
    except BadExample as e:
      data.skipped.append(Skip(path, index, str(e)))
      continue
    if example is None:
      data.filter('no_keypoints')
      continue
    example.source_file, example.record, example.object_id = path, index, first_id + index
    data.examples.append(example)
    counts[categories[category]] += 1


def _parse_annotation(ann, images, k, place, coco_visibility):
  """One annotation -> Example, or None when no keypoint is labelled.

  Raises:
    BadExample: wrong keypoint count or layout, unknown image, bad or degenerate bbox.
  """
  root, config = place
  rows = ann.get('keypoints')
  if isinstance(rows, list) and rows and all(isinstance(v, (int, float)) for v in rows):
    raise BadExample(f'field keypoints is a flat list of {len(rows)} numbers (COCO layout); '
                     f'Animal-Pose writes [[x, y, v], ...] (use --source=coco for COCO files)')
  if not isinstance(rows, list) or len(rows) != k:
    size = len(rows) if isinstance(rows, list) else type(rows).__name__
    raise BadExample(f'field keypoints must hold {k} [x, y, v] points, got {size}')
  xy, vis = parse_keypoints(rows, k, 'field keypoints')
  if not vis.any():
    return None
  if not coco_visibility:
    vis = np.where(vis > 0, 2, 0).astype(np.int32)
  name = images.get(_key(ann.get('image_id')))
  if name is None:
    raise BadExample(f'image_id {ann.get("image_id")!r:.40} is not in the images dict')
  image_path = resolve_image(root, name, config.allow_outside_paths,
                             fallbacks=[os.path.join(root, 'images')])
  x, y, w, h = _bbox(ann.get('bbox'))
  return Example(image_path=image_path, rel_path=relative_to(image_path, root),
                 keypoints=xy, visibility=vis,
                 box=ObjectBox.from_xywh(x, y, w, h).scaled(config.box_margin),
                 image_id=id_number(ann.get('image_id')), bbox=[x, y, w, h],
                 area=w * h)


def _bbox(bbox):
  """[x, y, w, h] of an Animal-Pose [xmin, ymin, xmax, ymax]; BadExample when degenerate."""
  try:
    if not isinstance(bbox, (list, tuple)):
      raise TypeError
    xmin, ymin, xmax, ymax = (float(v) for v in bbox)
  except (TypeError, ValueError, OverflowError):
    raise BadExample(f'field bbox must be [xmin, ymin, xmax, ymax], got {bbox!r:.60}') from None
  w, h = xmax - xmin, ymax - ymin
  if not all(math.isfinite(v) for v in (xmin, ymin, w, h)) or w <= 0 or h <= 0:
    raise BadExample(f'field bbox [xmin, ymin, xmax, ymax] is degenerate: {bbox!r:.60} '
                     f'(width {w:g}, height {h:g})')
  return xmin, ymin, w, h


def _writes_two(annotations) -> bool:
  """Whether any keypoint of the file has v == 2 (COCO's visibility convention)."""
  for ann in annotations:
    rows = ann.get('keypoints') if isinstance(ann, dict) else None
    if isinstance(rows, list) and any(isinstance(r, list) and len(r) == 3 and r[2] == 2
                                      for r in rows):
      return True
  return False


def _key(value):
  """A lookup key for an id: 1 and '1' match (the images dict has string keys)."""
  if isinstance(value, bool) or not isinstance(value, (int, str)):
    return repr(value)
  return str(value)
