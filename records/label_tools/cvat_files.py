"""CVAT pre-annotations: `annotations.xml` in "CVAT for images 1.1" and `cvat_labels.json`.

The layout is CVAT's XML annotation format, version 1.1 (docs.cvat.ai, "XML annotation
format"): <annotations> holds <version>1.1</version>, a <meta><task> with the task's <labels>
(each a <label> with <name> and <type>), then one <image id name width height> per image with
its shapes. Each present keypoint is one <points label="<name>" points="x,y" occluded="0"
source="auto" z_order="0" group_id="<g>">: the points of one object share one group_id, which
is how the reader (records/sources/cvat.py) makes them one object. g is the object's group id
+ 1 (records/label_tools/objects.py: its track id, else its index; CVAT takes group 0 for "no
group" and exports none), so track 0 is group 1; a one-object item without a track id is
group 1. Coordinates are pixels as written, pixel-centre convention, 4 decimals. The keypoint
scores (per group) and the frame's note go in an XML comment before each image's points (CVAT
ignores comments; an attribute would have to be declared in the task's labels). The objects'
boxes are not written (the reader boxes each group by its keypoints' extent).

Review: CVAT rewrites the XML when it exports, so where each point was written goes in
`pre_annotations.json` beside annotations.xml (records/pre_annotations.py; keep it in the folder
the export is unpacked into). CVAT marks the written points source="auto" (newer versions: "file"
for uploaded annotations) and makes a moved one "semi-auto"; a point of source auto or file still
at its written place is not read as a label unless the image carries the tag `reviewed` (a tag
label declared here), which accepts all of its points: the reviewed mark is per frame in CVAT
(an image tag belongs to no object), while moves count per object.

Why one `points` label per keypoint and not a skeleton: a skeleton label must be drawn in
CVAT's skeleton constructor (its SVG) and an import must match it exactly, while `points`
labels are made by pasting cvat_labels.json (`[{"name": ..., "type": "points"}, ...]`, in the
definition's order, then the tag label `reviewed`) into the task's Raw label editor, on any CVAT
version; the reader reads both.

To import: create a task from the images of the output folder (file names as written in
<image name>), with the labels of cvat_labels.json (Constructor > Raw); then Actions > Upload
annotations > "CVAT 1.1" > annotations.xml. After the corrections, export the task as "CVAT for
images 1.1" and read it with `--source=cvat --dataset_path=<folder with the images>`: the
keypoint order is the <meta> labels' order, as written here.
"""

import os
import xml.etree.ElementTree as ElementTree

import numpy as np

from core import files
from records import pre_annotations
from records.label_tools.objects import item_objects

GROUP_ID = '1'  # the group of a one-object item without a track id


def write(output_dir, items, names, model_name=''):
  """Writes annotations.xml, cvat_labels.json and pre_annotations.json; returns
  {'annotations': ..., 'labels': ..., 'marks': ...}."""
  paths = {'annotations': os.path.join(output_dir, 'annotations.xml'),
           'labels': os.path.join(output_dir, 'cvat_labels.json'),
           'marks': os.path.join(output_dir, pre_annotations.CVAT_MARKS_FILE)}
  files.write_text(paths['annotations'], annotations_xml(items, names, model_name))
  files.write_json(paths['labels'], [{'name': n, 'type': 'points', 'attributes': []}
                                     for n in names] +
                   [{'name': pre_annotations.REVIEWED, 'type': 'tag', 'attributes': []}],
                   indent=2, ensure_ascii=False)
  files.write_json(paths['marks'], {'images': {
      item.image: pre_annotations.marks((group, name, float(_number(x)), float(_number(y)))
                                        for group, name, x, y, _ in _present(item, names))
      for item in items}}, indent=2, ensure_ascii=False)
  return paths


def annotations_xml(items, names, model_name=''):
  """The "CVAT for images 1.1" XML text of `items`."""
  root = ElementTree.Element('annotations')
  ElementTree.SubElement(root, 'version').text = '1.1'
  root.append(_meta(len(items), names, model_name))
  for i, item in enumerate(items):
    root.append(_image(i, item, names))
  ElementTree.indent(root, space='  ')
  return ('<?xml version="1.0" encoding="utf-8"?>\n' +
          ElementTree.tostring(root, encoding='unicode') + '\n')


def _meta(size, names, model_name):
  meta = ElementTree.Element('meta')
  task = ElementTree.SubElement(meta, 'task')
  ElementTree.SubElement(task, 'name').text = model_name or 'pre-annotations'
  ElementTree.SubElement(task, 'size').text = str(size)
  ElementTree.SubElement(task, 'mode').text = 'annotation'
  labels = ElementTree.SubElement(task, 'labels')
  for name, kind in [(n, 'points') for n in names] + [(pre_annotations.REVIEWED, 'tag')]:
    label = ElementTree.SubElement(labels, 'label')
    ElementTree.SubElement(label, 'name').text = name
    ElementTree.SubElement(label, 'type').text = kind
    ElementTree.SubElement(label, 'attributes')
  return meta


def _image(i, item, names):
  image = ElementTree.Element('image', id=str(i), name=item.image, width=str(int(item.width)),
                              height=str(int(item.height)))
  present = _present(item, names)
  scores = []
  for obj in item_objects(item):
    text = ' '.join(f'{name}={s:.3f}' for name, s, shown in zip(names, obj.scores, obj.present)
                    if shown and np.isfinite(s))
    if text:  # the group named where there are groups to tell apart
      scores.append(f'scores {text}' if obj.group is None else
                    f'group {group_id(obj)} (id {obj.group}) scores {text}')
  comment = '; '.join(t for t in [item.note] + scores if t)
  if comment:
    image.append(ElementTree.Comment(' ' + _comment_safe(comment) + ' '))
  for group, name, x, y, _ in present:
    ElementTree.SubElement(image, 'points', label=name, source='auto', occluded='0',
                           points=f'{_number(x)},{_number(y)}', z_order='0', group_id=group)
  return image


def group_id(obj):
  """The CVAT group_id (text) of a records.label_tools.objects.LabelObject."""
  return GROUP_ID if obj.group is None else str(obj.group + 1)


def _present(item, names):
  """[(group_id, name, x, y, score)] of the item's pre-annotated keypoints, object by object."""
  return [(group_id(obj), name, x, y, s) for obj in item_objects(item)
          for name, (x, y), s in zip(names, obj.keypoints, obj.scores)
          if np.isfinite(x) and np.isfinite(y)]


def _number(v):
  return repr(round(float(v), 4))


def _comment_safe(text):
  """Text an XML comment may hold: no '--', no trailing '-'."""
  while '--' in text:
    text = text.replace('--', '- -')
  return text.rstrip('-')
