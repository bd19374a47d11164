"""Pre-annotation files for labelling tools (records/label_tools): what each writer writes reads
back, once accepted (--accept_unreviewed), through the project's own reader of that tool
(records/sources) as the same keypoints (to 1e-3 px), names, image sizes and absent keypoints;
an unknown tool is a UserInputError. (Unreviewed, the same files give no label:
tests/records/test_pre_annotations.py.)"""

import copy
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ElementTree

from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
from PIL import Image
import pytest

from core.errors import UserInputError
from records.label_tools import LabelItem, TOOLS, write_for_labelling
from records.make_records import MakeRecordsConfig
from records.sources import get_source

NAMES = ('nose', 'left_ear', 'right_ear', 'tail')
NAN = float('nan')


def _png(folder, name, width, height):
  path = os.path.join(folder, *name.split('/'))
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)


def _items(folder):
  """Three tiny images with fractional coordinates and NaN rows (one image has none at all)."""
  _png(folder, 'a.png', 40, 30)
  _png(folder, 'frames/b.png', 64, 48)
  _png(folder, 'c.png', 40, 30)
  return [
      LabelItem('a.png', 40, 30, np.array([[NAN, NAN], [10.25, 20.5], [0, 0], [39, 29]]),
                np.array([0.1, 0.9, 0.8, 0.7]), note='low confidence on nose'),
      LabelItem('frames/b.png', 64, 48, np.array([[33.333, 7.125], [NAN, 3], [1.5, 47.75],
                                                  [NAN, NAN]]), np.array([0.5, 0.2, 0.6, 0.1])),
      LabelItem('c.png', 40, 30, np.full((4, 2), NAN), np.zeros(4)),
  ]


def _config(dataset, **kwargs):
  return MakeRecordsConfig(source='x', output_dir=os.path.join(dataset, 'unused'),
                           dataset_path=str(dataset), accept_unreviewed=True, **kwargs)


def _label_studio_export(paths, folder):
  """What Label Studio exports for the written tasks once each prediction is submitted as it
  is: the task with an annotation whose result is the prediction's."""
  with open(paths['tasks'], encoding='utf-8') as f:
    tasks = json.load(f)
  export = []
  for n, task in enumerate(tasks):
    exported = copy.deepcopy(task)
    exported['id'] = n + 1
    exported['annotations'] = [{'id': 1000 + n, 'was_cancelled': False,
                                'result': copy.deepcopy(task['predictions'][0]['result'])}]
    export.append(exported)
  path = os.path.join(folder, 'export.json')
  with open(path, 'w', encoding='utf-8') as f:
    json.dump(export, f)
  return path


def _read_back(tool, output_dir, paths, scratch, names=NAMES):
  """The reader's SourceData for what `tool` wrote (labelme and Label Studio take the names
  from --classes_path, as make_records does with the model's definition; CVAT from <meta>)."""
  classes = os.path.join(scratch, 'classes.txt')
  with open(classes, 'w', encoding='utf-8') as f:
    f.write('\n'.join(names) + '\n')
  if tool == 'labelme':
    config = _config(output_dir, classes_path=classes)
  elif tool == 'label_studio':
    config = _config(output_dir, classes_path=classes,
                     annotation_path=_label_studio_export(paths, scratch))
  else:
    config = _config(output_dir)
  return get_source(tool).load(config)


def _check_round_trip(items, data, output_dir, names=NAMES):
  assert tuple(data.definition.names) == tuple(names)
  assert data.skipped == []
  by_image = {ex.rel_path: ex for ex in data.examples}
  expected = [item for item in items if np.isfinite(item.keypoints).all(1).any()]
  assert sorted(by_image) == sorted(item.image for item in expected)
  for item in expected:
    example = by_image[item.image]
    assert example.image_path == os.path.join(output_dir, *item.image.split('/'))
    assert example.expected_size == (item.height, item.width)
    present = np.isfinite(item.keypoints).all(1)
    np.testing.assert_array_equal(example.visibility, np.where(present, 2, 0))
    np.testing.assert_allclose(example.keypoints[present], item.keypoints[present], atol=1e-3,
                               rtol=0)


@pytest.mark.parametrize('tool', TOOLS)
def test_written_files_read_back_unchanged(tool, tmp_path):
  output_dir = str(tmp_path / 'out')
  os.makedirs(output_dir)
  items = _items(output_dir)
  paths = write_for_labelling(tool, output_dir, items, NAMES, model_name='hg-test')
  assert not [p for p in os.listdir(output_dir) if '.tmp-' in p]  # atomic writes, no leftovers
  data = _read_back(tool, output_dir, paths, str(tmp_path))
  _check_round_trip(items, data, output_dir)
  if tool == 'labelme':
    assert sorted(paths['labelme']) == sorted(
        os.path.join(output_dir, p) for p in ('a.json', 'frames/b.json', 'c.json'))
    with open(os.path.join(output_dir, 'a.json'), encoding='utf-8') as f:
      doc = json.load(f)
    assert doc['imagePath'] == 'a.png' and doc['imageData'] is None
    assert [s['label'] for s in doc['shapes']] == ['left_ear', 'right_ear', 'tail']
    assert doc['shapes'][0]['description'] == 'score 0.900' and doc['note']
  elif tool == 'label_studio':
    with open(paths['tasks'], encoding='utf-8') as f:
      tasks = json.load(f)
    assert tasks[1]['data']['image'] == '/data/local-files/?d=out/frames/b.png'
    assert tasks[0]['predictions'][0]['model_version'] == 'hg-test'
    assert tasks[2]['predictions'][0]['result'] == []
    ids = [r['id'] for t in tasks for r in t['predictions'][0]['result']]
    assert len(ids) == len(set(ids)) == 5
    config = ElementTree.parse(paths['config']).getroot()
    assert config.find('Image').get('value') == '$image'
    assert [label.get('value') for label in config.find('KeyPointLabels')] == list(NAMES)
  else:
    assert any('from the <meta> labels' in note for note in data.notes)
    with open(paths['labels'], encoding='utf-8') as f:
      labels = [(label['name'], label['type']) for label in json.load(f)]
    assert labels == [(n, 'points') for n in NAMES] + [('reviewed', 'tag')]


@pytest.mark.parametrize('tool', TOOLS)
def test_make_records_reads_the_written_folder(tool, tmp_path):
  """The whole make_records path (image sizes checked, crops written) on the written folder."""
  from records import schema
  from records.make_records import make_records
  from tests.support.records_io import read_records, to_original
  output_dir = str(tmp_path / 'out')
  items = _items(output_dir)
  paths = write_for_labelling(tool, output_dir, items, NAMES)
  classes = tmp_path / 'classes.txt'
  classes.write_text('\n'.join(NAMES) + '\n')
  extra = {} if tool == 'cvat' else {'classes_path': str(classes)}
  if tool == 'label_studio':
    extra['annotation_path'] = _label_studio_export(paths, str(tmp_path))
  manifest = make_records(MakeRecordsConfig(
      source=tool, output_dir=str(tmp_path / 'records'), dataset_path=output_dir,
      input_shape=(32, 32), num_workers=1, progress=False, val_fraction=0.0, shuffle=False,
      box_min_side=8.0, accept_unreviewed=True, **extra))
  assert manifest.definition.names == NAMES and manifest.raw['skipped'] == []
  records = {r[schema.ORIGINAL_PATH].decode(): r for r in read_records(manifest, 'train')}
  assert sorted(records) == ['a.png', 'frames/b.png']
  for item in items[:2]:
    record = records[item.image]
    present = np.isfinite(item.keypoints).all(1)
    np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY] > 0, present)
    np.testing.assert_allclose(to_original(record)[present], item.keypoints[present],
                               atol=1e-3)


def test_cvat_names_come_from_meta_even_for_keypoints_never_predicted(tmp_path):
  """The first image lacks the first name and no image has the last: <meta> keeps the order."""
  output_dir = str(tmp_path / 'out')
  items = _items(output_dir)
  names = NAMES + ('never',)
  for item in items:
    item.keypoints = np.vstack([item.keypoints, [[NAN, NAN]]])
    item.scores = np.append(item.scores, 0.0)
  paths = write_for_labelling('cvat', output_dir, items, names)
  _check_round_trip(items, _read_back('cvat', output_dir, paths, str(tmp_path), names),
                    output_dir, names)


def test_label_studio_precision_on_a_large_image(tmp_path):
  """Percent with 6 decimals keeps 1e-3 px on a 4000 x 3000 image (even at its far edge)."""
  output_dir = str(tmp_path / 'out')
  os.makedirs(output_dir)
  open(os.path.join(output_dir, 'big.jpg'), 'wb').close()  # the reader never decodes it
  xy = np.array([[3999.0001, 2999.9999], [1234.5678, 0.0004], [0.3333, 1777.7777], [NAN, NAN]])
  items = [LabelItem('big.jpg', 4000, 3000, xy, np.ones(4))]
  paths = write_for_labelling('label_studio', output_dir, items, NAMES)
  _check_round_trip(items, _read_back('label_studio', output_dir, paths, str(tmp_path)),
                    output_dir)


def test_bad_calls_are_user_errors_naming_the_problem(tmp_path):
  output_dir = str(tmp_path / 'out')
  items = _items(output_dir)
  with pytest.raises(UserInputError, match="'vgg'.*labelme, label_studio, cvat"):
    write_for_labelling('vgg', output_dir, items, NAMES)
  cases = [
      ([LabelItem('missing.png', 4, 4, np.zeros((4, 2)), np.zeros(4))], NAMES, 'no such image'),
      ([LabelItem('../a.png', 4, 4, np.zeros((4, 2)), np.zeros(4))], NAMES, 'relative'),
      ([LabelItem('a.png', 40, 30, np.zeros((3, 2)), np.zeros(3))], NAMES, 'expected'),
      (items, ('nose', 'nose', 'a', 'b'), 'repeat'),
      ([items[0], items[0]], NAMES, 'the same image'),
  ]
  for bad_items, names, message in cases:
    with pytest.raises(UserInputError, match=message):
      write_for_labelling('labelme', output_dir, bad_items, names)
  with pytest.raises(UserInputError, match='skeleton'):
    write_for_labelling('cvat', output_dir, items, NAMES, skeleton=[('nose', 'wing')])


_SIZES = st.tuples(st.integers(1, 5000), st.integers(1, 5000))


@st.composite
def _random_items(draw):
  """1-3 images of random sizes with keypoints anywhere inside them, some absent."""
  items = []
  for i in range(draw(st.integers(1, 3))):
    width, height = draw(_SIZES)
    rows = []
    for _ in NAMES:
      if draw(st.booleans()):
        rows.append([draw(st.floats(0, width - 1)), draw(st.floats(0, height - 1))])
      else:
        rows.append([NAN, NAN])
    items.append(LabelItem(f'img{i}.png', width, height, np.array(rows, np.float64),
                           np.full(len(NAMES), 0.5)))
  return items


@pytest.mark.parametrize('tool', TOOLS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=_random_items())
def test_random_coordinates_inside_the_image_round_trip(tool, items):
  scratch = tempfile.mkdtemp()
  try:
    output_dir = os.path.join(scratch, 'out')
    os.makedirs(output_dir)
    for item in items:
      open(os.path.join(output_dir, item.image), 'wb').close()
    if not any(np.isfinite(item.keypoints).all(1).any() for item in items):
      return  # nothing to read back (the readers refuse a file set without any keypoint)
    paths = write_for_labelling(tool, output_dir, items, NAMES)
    data = _read_back(tool, output_dir, paths, scratch)
    _check_round_trip(items, data, output_dir)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)
