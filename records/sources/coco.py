"""Official COCO keypoints JSON (`--source=coco`): person_keypoints_*.json or any category with
keypoints (hands, animals).

- Files: --annotation_path (comma-separated train and/or val json), else
  <dataset>/person_keypoints_*.json or <dataset>/annotations/person_keypoints_*.json.
- Split: a file whose name contains 'train' gives training examples, 'val' validation ones;
  other files are split by --val_list / --val_fraction.
- Images: <dataset>/images/<file_name>, else <dataset>/<train2017|val2017...>/<file_name> (the
  folder named like the annotation file's suffix), else <dataset>/<file_name>.
- Filters (counted, never an error): crowd instances, instances without a labelled keypoint.
- The object box is the COCO bbox expanded to the model aspect ratio and enlarged by
  --box_margin (default 1.25, the padding COCO top-down methods such as mmpose/HRNet use).
- Keypoint definition: the category's keypoint names and skeleton; when the names are COCO's 17
  person keypoints, the shipped configs/coco_* definition (flip pairs, colours, OKS sigmas).
"""

import glob
import math
import os

import numpy as np

from core.errors import AnnotationError, UserInputError
from records.example import TRAIN, VAL, BadExample, Example, ObjectBox, Skip, parse_keypoints
from records.keypoint_definition import KeypointDefinition, builtin_definition
from records.sources.common import (SourceData, id_number, read_json, relative_to,
                                    require_dir, resolve_image, side_colour)


def load(config) -> SourceData:
  files = _files(config)
  root = (require_dir(config.dataset_path) if config.dataset_path else
          os.path.dirname(files[0]))
  data = None
  for path in files:
    coco = read_json(path)
    definition = category_definition(coco, path)
    if data is None:
      data = SourceData([], definition, definition.num_keypoints)
    elif definition.names != data.definition.names:
      raise AnnotationError(f'{path}: keypoint names {list(definition.names)} differ from those '
                            f'of {files[0]}')
    _read_file(coco, path, root, config, data)
  return data


def _files(config):
  if config.annotation_path:
    paths = [p.strip() for p in str(config.annotation_path).split(',') if p.strip()]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing or not paths:
      raise UserInputError(f'--annotation_path: not a file: {", ".join(missing) or "(empty)"}')
    return [os.path.abspath(p) for p in paths]
  root = require_dir(config.dataset_path)
  found = sorted(glob.glob(os.path.join(root, 'person_keypoints_*.json')) +
                 glob.glob(os.path.join(root, 'annotations', 'person_keypoints_*.json')))
  if not found:
    raise UserInputError(f'--dataset_path={root}: no person_keypoints_*.json there or in '
                         f'annotations/; give --annotation_path')
  return found


def file_split(path):
  """'train' / 'val' from the annotation file name, else None."""
  name = os.path.basename(path).lower()
  if 'train' in name:
    return TRAIN
  if 'val' in name:
    return VAL
  return None


def category_definition(coco, path) -> KeypointDefinition:
  """The keypoint definition of the (single) category that has keypoints."""
  if not isinstance(coco, dict) or not isinstance(coco.get('annotations'), list) or \
     not isinstance(coco.get('images'), list):
    raise AnnotationError(f'{path}: not a COCO annotation file (needs images and annotations)')
  categories = [c for c in _list(coco.get('categories'))
                if isinstance(c, dict) and c.get('keypoints')]
  if not categories:
    raise AnnotationError(f'{path}: no category with keypoints (field categories)')
  names = categories[0]['keypoints']
  if any(c['keypoints'] != names for c in categories[1:]):
    raise AnnotationError(f'{path}: several categories with different keypoints; keep one')
  if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
    raise AnnotationError(f'{path}: field categories.keypoints must be a list of names')
  coco_def = builtin_definition('coco')
  if tuple(names) == coco_def.names:
    return coco_def
  skeleton = []
  for edge in _list(categories[0].get('skeleton')):
    try:
      i, j = int(edge[0]) - 1, int(edge[1]) - 1  # COCO skeletons are 1-based
    except (TypeError, ValueError, IndexError):
      raise AnnotationError(f'{path}: malformed skeleton edge {edge!r:.40}') from None
    if not (0 <= i < len(names) and 0 <= j < len(names)) or i == j:
      raise AnnotationError(f'{path}: skeleton edge {edge!r} out of range')
    skeleton.append((i, j, side_colour(names[i], names[j])))
  definition = KeypointDefinition(tuple(names), skeleton=tuple(skeleton))
  try:
    definition.validate(f'{path}, field categories')
  except UserInputError as e:
    raise AnnotationError(str(e)) from None
  return definition


def _image_folder(root, path, images):
  """The folder that holds this file's images (checked on the first image that exists)."""
  # person_keypoints_val2017.json -> val2017 (the official image folder name).
  suffix = os.path.splitext(os.path.basename(path))[0].rsplit('_', 1)[-1]
  candidates = [os.path.join(root, 'images'), os.path.join(root, suffix), root,
                os.path.join(os.path.dirname(os.path.dirname(path)), suffix)]
  for image in images.values():
    name = image.get('file_name')
    for folder in candidates:
      if isinstance(name, str) and os.path.exists(os.path.join(folder, name)):
        return folder
    break
  return candidates[0]


def _read_file(coco, path, root, config, data: SourceData) -> None:
  category_ids = {_key(c.get('id')) for c in _list(coco.get('categories'))
                  if isinstance(c, dict) and c.get('keypoints')}
  images = {_key(im.get('id')): im for im in coco['images'] if isinstance(im, dict)}
  folder = _image_folder(root, path, images)
  split = file_split(path)
  k = data.num_keypoints
  for index, ann in enumerate(coco['annotations']):
    if not isinstance(ann, dict):
      data.skipped.append(Skip(path, index, 'annotation is not an object'))
      continue
    if _key(ann.get('category_id')) not in category_ids:
      continue
    record = ann.get('id', index)
    if ann.get('iscrowd'):
      data.filter('crowd')
      _ignore(ann, images, folder, root, config, data)
      continue
    try:
      example = _parse_annotation(ann, images, k, folder, root, config)
    except BadExample as e:
      data.skipped.append(Skip(path, record, str(e)))
      continue
    if example is None:
      data.filter('no_keypoints')
      _ignore(ann, images, folder, root, config, data)
      continue
    example.split, example.source_file, example.record = split, path, record
    data.examples.append(example)


def _ignore(ann, images, folder, root, config, data):
  """Records the box of an object that is no label (a crowd, a person without keypoints) as an
  ignore region of its image (SourceData.ignore_boxes); a malformed one is left out."""
  image = images.get(_key(ann.get('image_id')))
  try:
    x, y, w, h = (float(v) for v in ann.get('bbox'))
    image_path = resolve_image(folder, image.get('file_name'), config.allow_outside_paths)
  except (TypeError, ValueError, OverflowError, AttributeError, BadExample):
    return
  if all(math.isfinite(v) for v in (x, y, w, h)) and w > 0 and h > 0:
    data.ignore_boxes.setdefault(relative_to(image_path, root), []).append([x, y, w, h])


def _parse_annotation(ann, images, k, folder, root, config):
  """One COCO annotation -> Example, or None when no keypoint is labelled."""
  flat = ann.get('keypoints')
  if not isinstance(flat, list) or len(flat) != 3 * k:
    size = len(flat) if isinstance(flat, list) else type(flat).__name__
    raise BadExample(f'field keypoints must hold {3 * k} numbers, got {size}')
  xy, vis = parse_keypoints([flat[i:i + 3] for i in range(0, 3 * k, 3)], k, 'field keypoints')
  if not vis.any():
    return None
  image = images.get(_key(ann.get('image_id')))
  if image is None:
    raise BadExample(f'image_id {ann.get("image_id")!r} is not in the images list')
  image_path = resolve_image(folder, image.get('file_name'), config.allow_outside_paths)
  bbox = ann.get('bbox')
  try:
    x, y, w, h = (float(v) for v in bbox)
  except (TypeError, ValueError, OverflowError):
    raise BadExample(f'field bbox must be [x, y, w, h], got {bbox!r:.60}') from None
  if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
    raise BadExample(f'field bbox is degenerate: {bbox!r:.60}')
  area = _float(ann.get('area'))
  area = area if area is not None and math.isfinite(area) and area >= 0 else w * h
  try:
    size = (int(image['height']), int(image['width']))
  except (KeyError, TypeError, ValueError, OverflowError):
    size = None
  return Example(image_path=image_path, rel_path=relative_to(image_path, root),
                 keypoints=xy, visibility=np.minimum(vis, 2),
                 box=ObjectBox.from_xywh(x, y, w, h).scaled(config.box_margin),
                 image_id=id_number(ann.get('image_id')),
                 object_id=id_number(ann.get('id')), bbox=[x, y, w, h], area=area,
                 expected_size=size)


def _float(value):
  try:
    return float(value)
  except (TypeError, ValueError, OverflowError):
    return None


def _list(value):
  return value if isinstance(value, list) else []


def _key(value):
  """A dict key for an id field (ids that are lists or dicts are matched as text)."""
  return value if isinstance(value, (int, str, float, type(None))) else repr(value)
