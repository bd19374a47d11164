"""Untouched model pre-annotations are no labels (records/pre_annotations.py), per tool.

Each round trip writes 10 frames of 4 pre-annotated keypoints with records/label_tools, then
saves them as the labeller's tool would after this session:
  frames 0-3 corrected (frame 0: 2 points moved, 2 left where written; frame 1: all moved and one
  point deleted; frames 2-3: all moved), frames 4-5 marked reviewed without a move, frames 6-9
  untouched.
Read back: frames 0-5 are labelled, frame 0 without its 2 untouched points and frame 1 without
the deleted one; frames 6-9 are skipped and counted (5 of 10 frames had untouched points, 18
points, 4 frames skipped). With --accept_unreviewed all 10 frames come back whole (but the
deleted point).

How each tool saves (the fixtures follow it):
- labelme (labelme/label_file.py LabelFile.save): the whole file is rewritten with the shapes'
  current `points` (floats as dragged), keys it does not know (`pre_annotations`, `model`,
  `note`) kept as they were (`otherData`), and the image `flags` as ticked in the Flags panel.
- CVAT ("CVAT for images 1.1" export, cvat/apps/dataset_manager/formats/cvat.py): a new XML;
  points as "x,y" with 2 decimals; `source` "auto" for shapes as created by automatic
  annotation, "file" for shapes as uploaded (cvat-ai/cvat #9172, #10933), "semi-auto" once such a
  shape is moved or resized (relabelling keeps it), "manual" for drawn ones; image tags as
  <tag label=... source="manual">.
- Label Studio (JSON export): each task with its `data` as imported, `predictions`, and an
  `annotations` entry only once submitted, whose `result` starts as the prediction's (result
  ids kept) with the labeller's changes; a ticked choice is a `choices` result.
"""

import copy
import json
import os
import xml.etree.ElementTree as ElementTree

import numpy as np
from PIL import Image
import pytest

from records import pre_annotations
from records.label_tools import LabelItem, write_for_labelling
from records.make_records import MakeRecordsConfig
from records.sources import get_source

NAMES = ('nose', 'left_ear', 'right_ear', 'tail')
W, H = 40, 30
MOVED = {0: (1, 2), 1: (0, 1, 2, 3), 2: (0, 1, 2, 3), 3: (0, 1, 2, 3)}  # frame -> keypoints
DELETED = (1, 3)  # (frame, keypoint)
REVIEWED = (4, 5)
SHIFT = np.array([1.5, -0.75])


def _frames(folder):
  items = []
  rng = np.random.default_rng(7)
  for t in range(10):
    name = f'f{t}.png'
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(os.path.join(folder, name))
    keypoints = np.round(rng.uniform(3, 26, (4, 2)), 6)
    items.append(LabelItem(name, W, H, keypoints, np.full(4, 0.4)))
  return items


def _expected(items, accept):
  """{image: (keypoints [4, 2], visibility [4])} the reader must give."""
  out = {}
  for t, item in enumerate(items):
    xy, vis = item.keypoints.copy(), np.full(4, 2)
    for k in MOVED.get(t, ()):
      xy[k] += SHIFT
    if not accept:
      untouched = [k for k in range(4) if k not in MOVED.get(t, ())] if t not in REVIEWED else []
      vis[untouched] = 0
    if t == DELETED[0]:
      vis[DELETED[1]] = 0
    if vis.any():
      out[item.image] = (xy, vis)
  return out


def _labelme_save(folder, items):
  for t, item in enumerate(items):
    path = os.path.join(folder, f'f{t}.json')
    with open(path, encoding='utf-8') as f:
      doc = json.load(f)
    if t >= 6:
      continue  # never opened: the file stays as written
    shapes = []
    for shape in doc['shapes']:
      k = NAMES.index(shape['label'])
      if (t, k) == DELETED:
        continue
      if k in MOVED.get(t, ()):
        shape['points'] = [list(np.asarray(shape['points'][0]) + SHIFT)]
      shape['mask'] = None  # labelme 5.4+ writes it for every shape
      shapes.append(shape)
    doc.update(shapes=shapes, version='5.5.0')
    doc['flags']['reviewed'] = t in REVIEWED
    with open(path, 'w', encoding='utf-8') as f:
      json.dump(doc, f, indent=2)
  return {}


def _cvat_save(folder, items):
  """The task exported after the session (written annotations.xml uploaded first)."""
  root = ElementTree.Element('annotations')
  ElementTree.SubElement(root, 'version').text = '1.1'
  written = ElementTree.parse(os.path.join(folder, 'annotations.xml')).getroot()
  root.append(written.find('meta'))
  for t, item in enumerate(items):
    image = ElementTree.SubElement(root, 'image', id=str(t), name=item.image, width=str(W),
                                   height=str(H))
    uploaded = 'file' if t % 2 else 'auto'  # CVAT versions differ
    for k, (x, y) in enumerate(item.keypoints):
      if (t, k) == DELETED:
        continue
      moved = k in MOVED.get(t, ())
      if moved:
        x, y = np.array([x, y]) + SHIFT
      ElementTree.SubElement(image, 'points', label=NAMES[k], occluded='0',
                             source='semi-auto' if moved else uploaded,
                             points=f'{x:.2f},{y:.2f}', z_order='0', group_id='1')
    if t in REVIEWED:
      ElementTree.SubElement(image, 'tag', label='reviewed', source='manual')
  ElementTree.ElementTree(root).write(os.path.join(folder, 'annotations.xml'), 'utf-8')
  return {}


def _label_studio_save(folder, items):
  with open(os.path.join(folder, 'tasks.json'), encoding='utf-8') as f:
    tasks = json.load(f)
  for t, task in enumerate(tasks):
    task['id'] = t + 1
    task['annotations'] = []
    if t >= 6:
      continue  # never submitted
    result = []
    for r in copy.deepcopy(task['predictions'][0]['result']):
      k = NAMES.index(r['value']['keypointlabels'][0])
      if (t, k) == DELETED:
        continue
      if k in MOVED.get(t, ()):
        r['value']['x'] += SHIFT[0] / W * 100
        r['value']['y'] += SHIFT[1] / H * 100
      result.append(r)
    if t in REVIEWED:
      result.append({'id': f'rev{t}', 'type': 'choices', 'from_name': 'review',
                     'to_name': 'image', 'value': {'choices': ['reviewed']}})
    task['annotations'] = [{'id': 100 + t, 'was_cancelled': False, 'result': result}]
  path = os.path.join(folder, 'export.json')
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(tasks, f)
  return {'annotation_path': path}


SAVES = {'labelme': _labelme_save, 'cvat': _cvat_save, 'label_studio': _label_studio_save}


def _read(tool, folder, accept, **extra):
  classes = os.path.join(folder, 'classes.txt')
  with open(classes, 'w', encoding='utf-8') as f:
    f.write('\n'.join(NAMES) + '\n')
  return get_source(tool).load(MakeRecordsConfig(
      source=tool, output_dir=os.path.join(folder, 'unused'), dataset_path=folder,
      classes_path=classes, accept_unreviewed=accept, **extra))


@pytest.mark.parametrize('tool', sorted(SAVES))
@pytest.mark.parametrize('accept', [False, True])
def test_untouched_points_are_no_labels(tool, accept, tmp_path):
  folder = str(tmp_path)
  items = _frames(folder)
  write_for_labelling(tool, folder, items, NAMES, model_name='hg-test')
  extra = SAVES[tool](folder, items)
  data = _read(tool, folder, accept, **extra)
  assert data.skipped == []
  got = {ex.rel_path: ex for ex in data.examples}
  expected = _expected(items, accept)
  assert sorted(got) == sorted(expected) and len(got) == (10 if accept else 6)
  for image, (xy, vis) in expected.items():
    np.testing.assert_array_equal(got[image].visibility, vis, err_msg=image)
    np.testing.assert_allclose(got[image].keypoints[vis > 0], xy[vis > 0], atol=0.006)
  counted = '5 of 10 frames had untouched model points'
  if accept:
    assert f'{counted}: --accept_unreviewed took their 18 points as labels' in data.notes[-1]
  else:
    assert data.notes[-1] == (f'{pre_annotations.NOTE_PREFIX}{tool}: {counted}: 18 points left '
                              f'unlabelled, 4 frames skipped; --accept_unreviewed takes them '
                              f'as labels')
    assert data.filtered.get('unreviewed') == 4


def test_files_written_before_the_marks(tmp_path):
  """Handouts of the earlier writers carry no marks: labelme's model points are those described
  `score <number>` (labelme keeps a description when a point is dragged, so even a moved one
  stays unlabelled until the image is ticked reviewed; `labelme --flags reviewed` shows the
  flag), CVAT's are source="auto" (moved: "semi-auto"). Points a person added are labels."""
  folder = str(tmp_path)
  for t in range(3):
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(os.path.join(folder, f'f{t}.png'))
  model = [{'label': 'nose', 'points': [[5.5, 6.25]], 'group_id': None, 'shape_type': 'point',
            'description': 'score 0.412', 'flags': {}},
           {'label': 'tail', 'points': [[20.0, 10.0]], 'group_id': None, 'shape_type': 'point',
            'description': 'score 0.930', 'flags': {}}]
  added = {'label': 'left_ear', 'points': [[9.0, 4.0]], 'group_id': None,
           'shape_type': 'point', 'description': '', 'flags': {}}
  for t, (shapes, flags) in enumerate([(model, {}), (model + [added], {}),
                                       (model, {'reviewed': True})]):
    doc = {'version': '5.5.0', 'flags': flags, 'shapes': shapes, 'imagePath': f'f{t}.png',
           'imageData': None, 'imageHeight': H, 'imageWidth': W, 'model': 'hg', 'note': 'x'}
    with open(os.path.join(folder, f'f{t}.json'), 'w', encoding='utf-8') as f:
      json.dump(doc, f)
  data = _read('labelme', folder, False)
  got = {ex.rel_path: ex.visibility.tolist() for ex in data.examples}
  assert got == {'f1.png': [0, 2, 0, 0], 'f2.png': [2, 0, 0, 2]}
  assert '2 of 3 frames had untouched model points: 4 points left unlabelled, 1 frame ' \
         'skipped' in data.notes[-1]

  cvat = tmp_path / 'cvat'
  cvat.mkdir()
  Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(cvat / 'a.png')
  (cvat / 'annotations.xml').write_text(
      '<annotations><version>1.1</version><image id="0" name="a.png" width="40" height="30">'
      '<points label="nose" source="auto" occluded="0" points="5.50,6.25" group_id="1"/>'
      '<points label="tail" source="semi-auto" occluded="0" points="21.00,11.00" group_id="1"/>'
      '<points label="left_ear" source="file" occluded="0" points="9.00,4.00" group_id="1"/>'
      '</image></annotations>')
  data = _read('cvat', str(cvat), False)
  assert [ex.visibility.tolist() for ex in data.examples] == [[0, 2, 0, 2]]


def test_make_records_prints_the_counts(tmp_path):
  from workflows.make_records import summary_lines
  folder = str(tmp_path / 'frames')
  os.makedirs(folder)
  items = _frames(folder)
  write_for_labelling('labelme', folder, items, NAMES)
  _labelme_save(folder, items)
  from records.make_records import make_records
  manifest = make_records(MakeRecordsConfig(
      source='labelme', output_dir=str(tmp_path / 'records'), dataset_path=folder,
      input_shape=(32, 32), num_workers=1, progress=False, box_min_side=8.0))
  assert manifest.count('train') + manifest.count('val') == 6
  lines = summary_lines(manifest, 1.0)
  assert any('5 of 10 frames had untouched model points: 18 points left unlabelled, 4 frames '
             'skipped; --accept_unreviewed takes them as labels' in line for line in lines)
  assert any('filtered: unreviewed 4' in line for line in lines)
