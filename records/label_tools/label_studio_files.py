"""Label Studio pre-annotations: `tasks.json` (one task per image, the model's keypoints as its
`predictions`) and `label_config.xml` (the labelling interface to paste).

Fields follow Label Studio's "Import pre-annotated data" guide (the Basic Label Studio JSON
format with a `predictions` key: `model_version`, `score`, `result`; ids unique across the
file) and its KeyPointLabels tag reference (a result's `original_width`, `original_height`,
`image_rotation`, and `value.x`/`value.y` in percent of the image, `value.width` the point size
in percent, `value.keypointlabels` [name]). Coordinates: x% = x_px / original_width x 100, the
inverse of the reader's (records/sources/label_studio.py), pixel-centre convention; each result
also carries the keypoint's `score`.

The config is the keypoint template: an <Image name="image" value="$image"/> and a
<KeyPointLabels name="keypoints" toName="image"> with one <Label> per keypoint name, in the
definition's order, and a <Choices name="review"> with the one choice `reviewed`. Each task's
`data.pre_annotations` keeps where each point was written (records/pre_annotations.py): once
exported, a point still there is not read as a label unless the labeller ticked `reviewed`
(which accepts the whole task) or its object's `reviewed` (below), and a task never submitted is
not read at all.

Objects (records/label_tools/objects.py): an object with a box, or of an item with several
objects or track ids, is one rectangle result (<RectangleLabels name="object">, label
`object`; its box, else its keypoints' extent grown to 32 px at least) with the id
`obj<task>_<group id>` (the group id: its track id, else its index), and each of its keypoints
names it in `parentID`, which is how the reader (records/sources/label_studio.py) groups
keypoints into objects and takes the rectangle as the object's box. The config then also has a
<Choices name="object_review" perRegion="true"> with the choice `reviewed`: shown when a region
is selected, and ticked on an object's rectangle (or one of its keypoints) it accepts that
object's points only (Label Studio gives a per-region result the id of its region). A keypoint
the labeller adds belongs to the object of its parentID; without one it forms one more object.
A one-object item without a box or track id has no rectangle: the reader boxes it by its
keypoints' extent, as before objects existed.

`data.image` is a local-files reference, `/data/local-files/?d=<path>`, the path being the image's
path relative to the document root (default: the parent folder of the output folder), URL
quoted. To import:

1. Start Label Studio serving local files:
   `LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED=true LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT=<root>
   label-studio start` (`<root>`: the document root above).
2. Create a project; in Settings > Labeling Interface > Code paste label_config.xml.
3. Settings > Cloud Storage > Add Source Storage > Local files, with the output folder's
   absolute path (inside the document root; Label Studio refuses the root itself, hence the
   parent default); leave "Treat every bucket object as a source file" off and do not Sync.
4. Import tasks.json (the project's Import button): each task opens with the predictions drawn;
   the labeller corrects them and submits.
5. Export as JSON and read it with `--source=label_studio --dataset_path=<output folder>
   --annotation_path=<export.json>`: the reader finds each image in the output folder by the
   trailing parts of the `?d=` path.

Uploading the images through the UI instead gives them new `/data/upload/...` names the tasks
do not know, so the predictions need the local-files route (or a web server for the folder and
image URLs edited to match).
"""

import os
import urllib.parse
import xml.etree.ElementTree as ElementTree

import numpy as np

from core import files
from core.errors import UserInputError
from records import pre_annotations
from records.label_tools.objects import extent_box, item_objects

IMAGE_NAME = 'image'  # the <Image> tag's name and the data key
KEYPOINTS_NAME = 'keypoints'  # the <KeyPointLabels> tag's name
REVIEW_NAME = 'review'  # the <Choices> tag's name
OBJECTS_NAME = 'object'  # the <RectangleLabels> tag's name and its one label
OBJECT_REVIEW_NAME = 'object_review'  # the per-region <Choices> tag's name
_COLOURS = ('#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6',
            '#bfef45', '#fabed4', '#469990', '#dcbeff', '#9a6324', '#800000', '#aaffc3',
            '#808000', '#000075')


def write(output_dir, items, names, model_name='', document_root=None):
  """Writes tasks.json and label_config.xml; returns {'tasks': path, 'config': path}."""
  root = os.path.abspath(document_root) if document_root else os.path.dirname(output_dir)
  tasks = [task(item, n, names, image_reference(output_dir, item.image, root), model_name)
           for n, item in enumerate(items)]
  paths = {'tasks': os.path.join(output_dir, 'tasks.json'),
           'config': os.path.join(output_dir, 'label_config.xml')}
  files.write_json(paths['tasks'], tasks, indent=2, allow_nan=False, ensure_ascii=False)
  boxed = any(r['type'] == 'rectanglelabels' for t in tasks for r in t['predictions'][0]['result'])
  files.write_text(paths['config'], label_config(names, boxed))
  return paths


def image_reference(output_dir, image, document_root):
  """'/data/local-files/?d=<image path relative to document_root, URL quoted>'."""
  path = os.path.join(output_dir, *image.split('/'))
  relative = os.path.relpath(path, document_root).replace(os.sep, '/')
  if relative.startswith('../') or os.path.isabs(relative):
    raise UserInputError(f'label_studio: image {path} is not inside the document root '
                         f'{document_root}')
  return '/data/local-files/?d=' + urllib.parse.quote(relative, safe='/')


def task(item, n, names, reference, model_name=''):
  """The Label Studio task (a dict) of item number `n`."""
  results, scores, written = [], [], []
  for obj in item_objects(item):
    parent = _object_rectangle(item, n, obj, results)
    for k, (name, (x, y), score) in enumerate(zip(names, obj.keypoints, obj.scores)):
      if not (np.isfinite(x) and np.isfinite(y)):
        continue
      written.append((parent, name, round(float(x), 4), round(float(y), 4)))
      result = _result(item, f'kp{n}_{k}' if obj.group is None else f'kp{n}_{obj.group}_{k}',
                       KEYPOINTS_NAME, 'keypointlabels')
      result['value'] = {'x': round(float(x) / item.width * 100.0, 6),
                         'y': round(float(y) / item.height * 100.0, 6),
                         'width': _point_width(item.width),
                         'keypointlabels': [name]}
      if parent is not None:
        result['parentID'] = parent
      if np.isfinite(score):
        result['score'] = round(float(score), 4)
        scores.append(float(score))
      results.append(result)
  data = {IMAGE_NAME: reference, pre_annotations.MARKS_KEY: pre_annotations.marks(written)}
  if item.note:
    data['note'] = item.note
  prediction = {'model_version': model_name or 'hourglass',
                'score': round(float(np.mean(scores)), 4) if scores else 0.0,
                'result': results}
  return {'data': data, 'predictions': [prediction]}


def _result(item, rid, from_name, kind):
  """The fields every result of the item shares."""
  return {'id': rid, 'from_name': from_name, 'to_name': IMAGE_NAME, 'type': kind,
          'original_width': int(item.width), 'original_height': int(item.height),
          'image_rotation': 0}


def _object_rectangle(item, n, obj, results):
  """Appends the rectangle result of an object that gets one (a box, or a group id) to
  `results`; returns its id (the keypoints' parentID), or None."""
  if obj.box is None and obj.group is None:
    return None
  box = extent_box(obj, item.width, item.height)
  if box is None:
    return None  # absent: nothing to draw
  rid = f'obj{n}' if obj.group is None else f'obj{n}_{obj.group}'
  result = _result(item, rid, OBJECTS_NAME, 'rectanglelabels')
  x, y, w, h = (float(v) for v in box)
  result['value'] = {'x': round(x / item.width * 100.0, 6), 'y': round(y / item.height * 100.0, 6),
                     'width': round(w / item.width * 100.0, 6),
                     'height': round(h / item.height * 100.0, 6), 'rotation': 0,
                     'rectanglelabels': [OBJECTS_NAME]}
  results.append(result)
  return rid


def _point_width(width):
  """The drawn point's size, percent of the image width: about 4 px, within 0.3-2 %."""
  return round(min(2.0, max(0.3, 400.0 / width)), 4)


def label_config(names, boxed=False):
  """The labelling config (XML text): the image, one keypoint label per name and the reviewed
  choice; `boxed`: also the object rectangles and their per-object reviewed choice."""
  view = ElementTree.Element('View')
  labels = ElementTree.SubElement(view, 'KeyPointLabels', name=KEYPOINTS_NAME,
                                  toName=IMAGE_NAME, strokeWidth='2')
  for i, name in enumerate(names):
    ElementTree.SubElement(labels, 'Label', value=name, background=_COLOURS[i % len(_COLOURS)])
  if boxed:
    boxes = ElementTree.SubElement(view, 'RectangleLabels', name=OBJECTS_NAME, toName=IMAGE_NAME,
                                   strokeWidth='1')
    ElementTree.SubElement(boxes, 'Label', value=OBJECTS_NAME, background='#ffffff')
  ElementTree.SubElement(view, 'Image', name=IMAGE_NAME, value=f'${IMAGE_NAME}', zoom='true',
                         zoomControl='true')
  review = ElementTree.SubElement(view, 'Choices', name=REVIEW_NAME, toName=IMAGE_NAME,
                                  choice='multiple', showInline='true')
  ElementTree.SubElement(review, 'Choice', value=pre_annotations.REVIEWED)
  if boxed:
    per_object = ElementTree.SubElement(view, 'Choices', name=OBJECT_REVIEW_NAME,
                                        toName=IMAGE_NAME, choice='multiple', perRegion='true')
    ElementTree.SubElement(per_object, 'Choice', value=pre_annotations.REVIEWED)
  ElementTree.indent(view, space='  ')
  return ElementTree.tostring(view, encoding='unicode') + '\n'
