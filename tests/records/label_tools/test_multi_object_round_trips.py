"""Several objects per frame (records/label_tools with keypoints [N, K, 2]): written with their
track ids as the tools' groups, corrected as the labeller's tool saves them, and read back by
the project's readers (records/sources) object by object, the untouched rule per object
(records/pre_annotations.py).

Two frames of three objects, track ids 0, 2 and 5 (track 2 absent in frame 1; track 5 has no
`left_ear` pre-annotation):
  frame 0: track 0 has `nose` and `left_ear` moved, `right_ear` left where written and `tail`
  added by the labeller; track 2 is left untouched; track 5 is marked reviewed as an object
  (labelme: the shape flag on one of its points; Label Studio: the per-region choice on its
  rectangle; CVAT has no mark per object, so there it stays untouched);
  frame 1: marked reviewed as a whole (labelme flag, CVAT tag, Label Studio choice).
Read back: track 0 of frame 0 has exactly nose, left_ear (moved) and tail (added); track 2 of
frame 0 gives nothing; track 5 of frame 0 its three written points (not in CVAT); frame 1 tracks
0 and 5 whole. Each example names its group, which maps back to its track id.
"""

import copy
import json
import os
import re
import xml.etree.ElementTree as ElementTree

import numpy as np
from PIL import Image
import pytest

from records.label_tools import LabelItem, write_for_labelling
from records.make_records import MakeRecordsConfig
from records.sources import get_source

NAMES = ('nose', 'left_ear', 'right_ear', 'tail')
W, H = 64, 48
TRACKS = [0, 2, 5]
SHIFT = np.array([1.5, -0.75])
ADDED = np.array([20.0, 30.0])  # track 0's tail in frame 0
NAN = float('nan')


def _frames(folder):
  """Two items of three objects each; boxes around each object's points."""
  base = np.array([[4.0, 4.0], [8.0, 4.0], [6.0, 8.0], [6.0, 14.0]])
  items = []
  for t in range(2):
    name = f'f{t}.png'
    Image.fromarray(np.full((H, W, 3), 80, np.uint8)).save(os.path.join(folder, name))
    keypoints = np.stack([base + [20.0 * j + t, 10.0 * j] for j in range(3)])
    keypoints[0, 3] = NAN           # track 0: no tail pre-annotation (the labeller adds it)
    keypoints[2, 1] = NAN           # track 5: no left_ear
    if t == 1:
      keypoints[1] = NAN            # track 2 absent in frame 1
    boxes = np.array([[20.0 * j + t + 2, 10.0 * j + 2, 8.0, 14.0] for j in range(3)])
    boxes[1] = NAN if t == 1 else boxes[1]
    items.append(LabelItem(name, W, H, keypoints, np.full((3, 4), 0.4), f'frame {t}', boxes,
                           TRACKS))
  return items


def _expected(items, per_object_review):
  """{(image, track id): visibility [4], keypoints [4, 2]} the readers must give."""
  first, second = items
  xy = first.keypoints[0].copy()
  xy[:2] += SHIFT
  xy[3] = ADDED
  out = {('f0.png', 0): ([2, 2, 0, 2], xy)}
  if per_object_review:
    out[('f0.png', 5)] = ([2, 0, 2, 2], first.keypoints[2])
  for j in (0, 2):
    out[('f1.png', TRACKS[j])] = (np.isfinite(second.keypoints[j]).all(1) * 2,
                                  second.keypoints[j])
  return out


def _labelme_save(folder, items):
  for t in range(2):
    path = os.path.join(folder, f'f{t}.json')
    with open(path, encoding='utf-8') as f:
      doc = json.load(f)
    if t == 0:
      for shape in doc['shapes']:
        if shape['group_id'] == 0 and shape['label'] in NAMES[:2]:
          shape['points'] = [list(np.asarray(shape['points'][0]) + SHIFT)]
      reviewed = next(s for s in doc['shapes'] if s['group_id'] == 5 and s['label'] == 'tail')
      reviewed['flags']['reviewed'] = True  # ticked in one point's Edit Label dialog
      doc['shapes'].append({'label': 'tail', 'points': [list(ADDED)], 'group_id': 0,
                            'description': '', 'shape_type': 'point', 'flags': {},
                            'mask': None})
    else:
      doc['flags']['reviewed'] = True
    with open(path, 'w', encoding='utf-8') as f:
      json.dump(doc, f, indent=2)
  return {}


def _cvat_save(folder, items):
  """The task exported after the session: moved points semi-auto, the added one manual."""
  written = ElementTree.parse(os.path.join(folder, 'annotations.xml')).getroot()
  root = ElementTree.Element('annotations')
  ElementTree.SubElement(root, 'version').text = '1.1'
  root.append(written.find('meta'))
  for t, image in enumerate(written.iter('image')):
    out = ElementTree.SubElement(root, 'image', dict(image.attrib))
    for points in image.iter('points'):
      attrib = dict(points.attrib, source='file')
      x, y = (float(v) for v in attrib['points'].split(','))
      if t == 0 and attrib['group_id'] == '1' and attrib['label'] in NAMES[:2]:
        x, y = np.array([x, y]) + SHIFT
        attrib['source'] = 'semi-auto'
      attrib['points'] = f'{x:.2f},{y:.2f}'
      ElementTree.SubElement(out, 'points', attrib)
    if t == 0:
      ElementTree.SubElement(out, 'points', label='tail', source='manual', occluded='0',
                             points=f'{ADDED[0]:.2f},{ADDED[1]:.2f}', z_order='0', group_id='1')
    else:
      ElementTree.SubElement(out, 'tag', label='reviewed', source='manual')
  ElementTree.ElementTree(root).write(os.path.join(folder, 'annotations.xml'), 'utf-8')
  return {}


def _label_studio_save(folder, items):
  with open(os.path.join(folder, 'tasks.json'), encoding='utf-8') as f:
    tasks = json.load(f)
  for t, task in enumerate(tasks):
    task['id'] = t + 1
    result = copy.deepcopy(task['predictions'][0]['result'])
    if t == 0:
      for r in result:
        if r.get('parentID') == 'obj0_0' and r['value']['keypointlabels'][0] in NAMES[:2]:
          r['value']['x'] += SHIFT[0] / W * 100
          r['value']['y'] += SHIFT[1] / H * 100
      added = copy.deepcopy(next(r for r in result if r.get('parentID') == 'obj0_0'))
      added.update(id='new1', score=None)
      added['value'].update(x=ADDED[0] / W * 100, y=ADDED[1] / H * 100, keypointlabels=['tail'])
      rectangle = next(r for r in result if r['id'] == 'obj0_5')
      result += [added, {'id': 'obj0_5', 'from_name': 'object_review', 'to_name': 'image',
                         'type': 'choices', 'value': dict(rectangle['value'],
                                                          choices=['reviewed'])}]
    else:
      result.append({'id': 'rev1', 'type': 'choices', 'from_name': 'review',
                     'to_name': 'image', 'value': {'choices': ['reviewed']}})
    task['annotations'] = [{'id': 100 + t, 'was_cancelled': False, 'result': result}]
  path = os.path.join(folder, 'export.json')
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(tasks, f)
  return {'annotation_path': path}


SAVES = {'labelme': _labelme_save, 'cvat': _cvat_save, 'label_studio': _label_studio_save}
# The track id in each reader's record name of an object.
GROUPS = {'labelme': (r'group_id (\d+)$', 0), 'cvat': (r"group_id '(\d+)'$", -1),
          'label_studio': (r"rectangle 'obj\d+_(\d+)'$", 0)}


def _read(tool, folder, accept, **extra):
  classes = os.path.join(folder, 'classes.txt')
  with open(classes, 'w', encoding='utf-8') as f:
    f.write('\n'.join(NAMES) + '\n')
  return get_source(tool).load(MakeRecordsConfig(
      source=tool, output_dir=os.path.join(folder, 'unused'), dataset_path=folder,
      classes_path=classes, accept_unreviewed=accept, **extra))


def _by_track(tool, data):
  pattern, offset = GROUPS[tool]
  out = {}
  for ex in data.examples:
    match = re.search(pattern, str(ex.record))
    assert match, ex.record
    out[(ex.rel_path, int(match.group(1)) + offset)] = ex
  return out


@pytest.mark.parametrize('tool', sorted(SAVES))
def test_several_objects_read_back_per_object(tool, tmp_path):
  folder = str(tmp_path)
  items = _frames(folder)
  write_for_labelling(tool, folder, items, NAMES, model_name='hg-test')
  extra = SAVES[tool](folder, items)
  data = _read(tool, folder, False, **extra)
  assert data.skipped == []
  got = _by_track(tool, data)
  expected = _expected(items, per_object_review=tool != 'cvat')
  assert sorted(got) == sorted(expected)
  for key, (vis, xy) in expected.items():
    vis = np.asarray(vis)
    np.testing.assert_array_equal(got[key].visibility, vis, err_msg=str(key))
    np.testing.assert_allclose(got[key].keypoints[vis > 0], xy[vis > 0], atol=0.006)
  untouched = 1 + 4 + (3 if tool == 'cvat' else 0)
  assert f'1 of 2 frames had untouched model points: {untouched} points left unlabelled, ' \
         f'0 frames skipped' in data.notes[-1]
  assert data.filtered.get('unreviewed') == (2 if tool == 'cvat' else 1)
  if tool == 'label_studio':  # the rectangle is the object's box
    np.testing.assert_allclose(got[('f0.png', 5)].bbox, items[0].boxes[2], atol=1e-3)
  # Accepted as they are, every written object comes back whole (and the labeller's edits).
  accepted = _by_track(tool, _read(tool, folder, True, **extra))
  assert len(accepted) == 5 and accepted[('f0.png', 2)].visibility.tolist() == [2] * 4


def test_the_files_name_the_tracks(tmp_path):
  folder = str(tmp_path)
  items = _frames(folder)
  labelme = write_for_labelling('labelme', folder, items, NAMES)['labelme']
  with open(labelme[1], encoding='utf-8') as f:
    shapes = json.load(f)['shapes']
  assert sorted({s['group_id'] for s in shapes}) == [0, 5]  # track 2 absent in frame 1
  assert all(s['flags'] == {'reviewed': False} for s in shapes)
  cvat = write_for_labelling('cvat', folder, items, NAMES)
  groups = [p.get('group_id') for p in ElementTree.parse(cvat['annotations']).iter('points')]
  assert sorted(set(groups)) == ['1', '3', '6'] and len(groups) == 10 + 6
  paths = write_for_labelling('label_studio', folder, items, NAMES)
  with open(paths['tasks'], encoding='utf-8') as f:
    results = json.load(f)[0]['predictions'][0]['result']
  rectangles = [r['id'] for r in results if r['type'] == 'rectanglelabels']
  assert rectangles == ['obj0_0', 'obj0_2', 'obj0_5']
  assert {r['parentID'] for r in results if r['type'] == 'keypointlabels'} == set(rectangles)
  config = ElementTree.parse(paths['config']).getroot()
  assert config.find('RectangleLabels').get('name') == 'object'
  assert [c.get('perRegion') for c in config.iter('Choices')] == [None, 'true']


def test_bad_object_arrays_are_user_errors(tmp_path):
  from core.errors import UserInputError
  folder = str(tmp_path)
  item = _frames(folder)[0]
  cases = [(dict(track_ids=[0, 0, 5]), 'distinct'), (dict(track_ids=[0, 2]), 'distinct'),
           (dict(boxes=np.ones((2, 4))), 'boxes'), (dict(boxes=np.zeros((3, 4))), 'w, h > 0'),
           (dict(scores=np.ones((3, 3))), 'expected')]
  for change, message in cases:
    bad = LabelItem(**{**item.__dict__, **change})
    with pytest.raises(UserInputError, match=message):
      write_for_labelling('labelme', folder, [bad], NAMES)
