"""labelme pre-annotations: one `<image stem>.json` beside each image, one `point` shape per
present keypoint, labelled by its name, the points of one object sharing its `group_id`.

The fields are those labelme's own LabelFile writes and reads (labelme/label_file.py): a file's
`version`, `flags`, `shapes`, `imagePath` (relative to the JSON file: the image's file name),
`imageData` (null: labelme loads the image from imagePath), `imageHeight`, `imageWidth`; a
shape's `label`, `points` ([[x, y]]), `group_id` (the object's group id, records/label_tools/
objects.py: its track id, else its index; null for the one object of an item without track
ids), `description` (here the model's score; labelme 5 shows and keeps it), `shape_type`
('point') and `flags`. The file's `flags` hold `reviewed: false`: labelme shows each image flag
as a checkbox (the Flags panel), and ticking it accepts every point of the image as it is.
Points of a grouped object also carry the shape flag `reviewed: false`: labelme shows a shape's
flags as checkboxes in its Edit Label dialog, and ticking it on any point of the object accepts
that object's points (the reader groups by group_id). Other top-level keys are kept
by labelme as they are: `note` (why the frame was chosen), `model`, and `pre_annotations`, where
each point was written (records/pre_annotations.py: a point still there in an image not ticked
reviewed is not read as a label).

Open the folder with `labelme <output_dir>` (File > Open Dir), correct the points, save; then
`--source=labelme --dataset_path=<output_dir>` reads the result (records/sources/labelme.py),
with the pixel coordinates as written as pixel-centre coordinates, as written here.
"""

import os

import numpy as np

from core import files
from core.errors import UserInputError
from records import pre_annotations
from records.label_tools.objects import item_objects

# The labelme release whose file layout this follows (5.x: shapes carry a description).
LABELME_VERSION = '5.5.0'


def write(output_dir, items, names, model_name=''):
  """Writes one labelme JSON per item beside its image; returns {'labelme': [json paths]}."""
  paths = {}
  for item in items:
    path = os.path.splitext(os.path.join(output_dir, *item.image.split('/')))[0] + '.json'
    if path in paths:
      raise UserInputError(f'labelme: images {paths[path]!r} and {item.image!r} would share '
                           f'the labelme file {path}')
    paths[path] = item.image
  written = []
  for path, item in zip(paths, items):
    files.write_json(path, document(item, names, model_name), indent=2, allow_nan=False,
                     ensure_ascii=False)
    written.append(path)
  return {'labelme': written}


def document(item, names, model_name=''):
  """The labelme file (a dict) of one item."""
  shapes, written = [], []
  for obj in item_objects(item):
    # A per-object review mark only where there are objects to tell apart.
    flags = {} if obj.group is None else {pre_annotations.REVIEWED: False}
    for name, (x, y), score in zip(names, obj.keypoints, obj.scores):
      if not (np.isfinite(x) and np.isfinite(y)):
        continue
      x, y = round(float(x), 4), round(float(y), 4)
      written.append((obj.group, name, x, y))
      shapes.append({
          'label': name,
          'points': [[x, y]],
          'group_id': obj.group,
          'description': f'score {float(score):.3f}' if np.isfinite(score) else '',
          'shape_type': 'point',
          'flags': dict(flags),
      })
  doc = {
      'version': LABELME_VERSION,
      'flags': {pre_annotations.REVIEWED: False},
      'shapes': shapes,
      'imagePath': item.image.split('/')[-1],
      'imageData': None,
      'imageHeight': int(item.height),
      'imageWidth': int(item.width),
      pre_annotations.MARKS_KEY: pre_annotations.marks(written),
  }
  if item.note:
    doc['note'] = item.note
  if model_name:
    doc['model'] = model_name
  return doc
