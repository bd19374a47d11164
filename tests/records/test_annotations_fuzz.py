"""Property tests: any annotation file (seed JSON, COCO, labelme, Label Studio, CVAT XML,
DeepLabCut CSV) and any manifest
either goes through or raises our UserInputError family; never another exception.

Each generated annotation runs the whole make_records path in this process (source parsing,
definition and split choice, the crop of a real image, shard and manifest writing), so values
that parse but break a later stage (huge ids, boxes of 1e300 pixels, NaN scales) are found too.
What succeeds must be a records directory the reader accepts, with as many records as the
manifest says. Example counts stay modest: the whole file runs in well under a minute.
"""

import csv
import io
import json
import os
import shutil
import tempfile
from xml.sax.saxutils import quoteattr

import cv2
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
import pytest

from core.errors import RecordsError, UserInputError
from records.make_records import make_records, MakeRecordsConfig
from records.reader import load_manifest

# FUZZ_EXAMPLES=1000 for a long bug hunt; the default keeps the suite fast.
EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '50'))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Values an annotation field may hold: mostly plausible pixel coordinates, plus every kind of
# JSON value a broken exporter writes (strings, nulls, NaN, 1e308, huge integers, nested lists).
PLAUSIBLE = st.one_of(st.integers(0, 63), st.floats(-5, 70))
JUNK = st.one_of(st.none(), st.booleans(), st.text(max_size=4),
                 st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-2**70, 2**70), st.sampled_from([1e308, -1e308, 2**63, -2**63 - 1,
                                                              '12', '1e999', 'nan']))
# Extremes that parse as numbers but broke later stages: a 1e305 box overflowed the crop
# geometry, an id of 2**70 the int64 record field.
EXTREME = st.sampled_from([1e305, -1e305, 1e-300, 2**70, 2**63, -2**63 - 1, 0, -1, 0.5])
NUMBER = st.one_of(PLAUSIBLE, PLAUSIBLE, PLAUSIBLE, EXTREME, JUNK)
JSON_VALUE = st.recursive(JUNK, lambda c: st.one_of(st.lists(c, max_size=3),
                                                    st.dictionaries(st.text(max_size=3), c,
                                                                    max_size=3)), max_leaves=8)
ANY = st.one_of(NUMBER, NUMBER, NUMBER, JSON_VALUE)
VIS = st.one_of(st.sampled_from([0, 1, 2, 2, 2]), NUMBER)
IMAGE_PATH = st.one_of(st.sampled_from(['a.jpg', 'images/a.jpg', 'b.png', 'missing.jpg',
                                        '../a.jpg', '../../etc/passwd', '/etc/hostname', '',
                                        '.', 'images', 'a.jpg\x00x', 'not_an_image.txt',
                                        'images/../a.jpg', 'sub\\a.jpg']),
                       st.text(max_size=6), JUNK)


@pytest.fixture(scope='module')
def dataset():
  """A dataset folder with real images: images/a.jpg (48x64), images/b.png, a text file."""
  root = tempfile.mkdtemp(prefix='fuzz-dataset-')
  os.makedirs(os.path.join(root, 'images'))
  rng = np.random.default_rng(0)
  image = rng.integers(0, 255, (48, 64, 3), np.uint8)
  cv2.imwrite(os.path.join(root, 'images', 'a.jpg'), image)
  cv2.imwrite(os.path.join(root, 'images', 'b.png'), image[:40, :40])
  with open(os.path.join(root, 'images', 'not_an_image.txt'), 'w') as f:
    f.write('hello')
  yield root
  shutil.rmtree(root, ignore_errors=True)


def _run(dataset, source, name, content, **extra):
  """Writes the annotation into the dataset, runs make_records; checks the outcome."""
  path = os.path.join(dataset, name)
  with open(path, 'wb' if isinstance(content, bytes) else 'w') as f:
    f.write(content)
  out = tempfile.mkdtemp(prefix='fuzz-records-')
  try:
    config = MakeRecordsConfig(source=source, output_dir=out, input_shape=(32, 32),
                               dataset_path=dataset, annotation_path=path, num_workers=1,
                               max_skip_fraction=1.0, progress=False, **extra)
    try:
      manifest = make_records(config)
    except UserInputError as e:
      assert str(e), 'an error without a message'
      # Nothing half-written: a failed run leaves no manifest a reader accepts.
      with pytest.raises(RecordsError):
        load_manifest(out)
      return None
    reread = load_manifest(out, verify_checksums=True)
    total = reread.count('train') + reread.count('val')
    assert total >= 1 and total == manifest.count('train') + manifest.count('val')
    assert reread.num_keypoints >= 1
    _assert_records_finite(reread)
    return reread
  finally:
    os.remove(path)
    shutil.rmtree(out, ignore_errors=True)


def _assert_records_finite(manifest):
  """Every stored float (keypoints, boxes, matrices, areas) is finite, every count right."""
  import tensorflow as tf
  for split in ('train', 'val'):
    n = 0
    for raw in tf.data.TFRecordDataset(manifest.shard_paths(split)).as_numpy_iterator():
      features = tf.train.Example.FromString(raw).features.feature
      for key, feature in features.items():
        assert np.all(np.isfinite(feature.float_list.value)), (key, feature.float_list.value)
      n += 1
    assert n == manifest.count(split)


# -- mutation of valid documents ---------------------------------------------------------------

DELETE = object()
MUTATION = st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=5),
                     st.one_of(ANY, ANY, st.just(DELETE), IMAGE_PATH))


def mutate(value, path, replacement):
  """`value` with the element at `path` (indices taken modulo the container's length) replaced,
  or removed for replacement=DELETE. A path that ends early replaces the whole sub-value."""
  if not path or not isinstance(value, (dict, list)) or not value:
    return None if replacement is DELETE else replacement
  index = path[0] % len(value)
  key = sorted(value)[index] if isinstance(value, dict) else index
  copy = dict(value) if isinstance(value, dict) else list(value)
  if replacement is DELETE and len(path) == 1:
    del copy[key]
  else:
    copy[key] = mutate(value[key], path[1:], replacement)
  return copy


def mutated(valid, junk_weight=1):
  """Valid documents with 0-3 mutations each, plus (rarely) any JSON value at all."""
  def apply(document, mutations):
    for path, replacement in mutations:
      document = mutate(document, path, replacement)
    return document
  return st.one_of(*[st.builds(apply, valid, st.lists(MUTATION, max_size=3))] * 4,
                   *[JSON_VALUE] * junk_weight)


POINT = st.tuples(st.floats(0, 63), st.floats(0, 47))


# -- seed JSON (also the mpii source) ------------------------------------------------------------

def _seed_record(points, vis, split, image):
  return {'img_paths': image, 'joint_self': [[x, y, v] for (x, y), v in zip(points, vis)],
          'objpos': [32, 24], 'scale_provided': 0.25, 'isValidation': float(split),
          'headboxes': [[10, 10], [20, 22]], 'bbox': [4, 4, 40, 30], 'image_id': 7,
          'dataset': 'fuzz'}


SEED_RECORD = st.builds(_seed_record, st.lists(POINT, min_size=2, max_size=2),
                        st.lists(st.sampled_from([0, 1, 2]), min_size=2, max_size=2),
                        st.integers(0, 1), st.sampled_from(['a.jpg', 'b.png']))
SEED_FILE = st.one_of(mutated(st.lists(SEED_RECORD, min_size=1, max_size=4)),
                      mutated(st.lists(SEED_RECORD, min_size=1, max_size=3).map(
                          lambda r: {'root': r}), junk_weight=0))


@pytest.fixture(scope='module')
def classes(dataset):
  path = os.path.join(dataset, 'classes.txt')
  with open(path, 'w') as f:
    f.write('left_paw\nright_paw\n')
  with open(os.path.join(dataset, 'match.txt'), 'w') as f:
    f.write('left_paw,right_paw,h\n')
  return path


@SETTINGS
@given(document=SEED_FILE, source=st.sampled_from(['json', 'mpii']), outside=st.booleans())
def test_seed_json_parses_or_raises_user_input_error(dataset, classes, document, source,
                                                     outside):
  _run(dataset, source, 'annotations.json', json.dumps(document), allow_outside_paths=outside,
       classes_path=classes, matchpoint_path=os.path.join(dataset, 'match.txt'))


@settings(max_examples=25, deadline=None)
@given(content=st.one_of(st.binary(max_size=60), st.text(max_size=60)))
def test_seed_json_bytes_parse_or_raise(dataset, content):
  _run(dataset, 'json', 'annotations.json', content)


@pytest.mark.parametrize('field, value', [('image_id', 2**70), ('image_id', 1e300),
                                          ('scale_provided', 1e305), ('objpos', [1e308, -1e308]),
                                          ('bbox', [1e308] * 4), ('scale_provided', 1e-300)])
def test_regressions_found_by_fuzzing(dataset, classes, field, value):
  """Values that once escaped as ValueError / ZeroDivisionError or were stored as inf: now a
  skipped record."""
  bad = _seed_record([(10, 10), (20, 20)], [2, 2], 0, 'a.jpg')
  bad[field] = value
  good = _seed_record([(12, 11), (30, 20)], [2, 2], 0, 'a.jpg')
  manifest = _run(dataset, 'json', 'annotations.json', json.dumps([bad, good]),
                  classes_path=classes)
  assert manifest is not None and manifest.count('train') + manifest.count('val') >= 1
  if value != 1e-300:
    assert len(manifest.skipped) == 1 and manifest.skipped[0]['record'] == 0


# -- COCO ------------------------------------------------------------------------------------------

def _coco(points, vis, names):
  anns = [{'id': i, 'image_id': 1, 'category_id': 1, 'iscrowd': 0,
           'keypoints': [c for (x, y), v in zip(p, w) for c in (x, y, v)],
           'bbox': [4, 4, 40, 30], 'area': 1200, 'num_keypoints': 2}
          for i, (p, w) in enumerate(zip(points, vis))]
  return {'images': [{'id': 1, 'file_name': 'a.jpg', 'height': 48, 'width': 64},
                     {'id': 2, 'file_name': 'b.png', 'height': 40, 'width': 40}],
          'annotations': anns,
          'categories': [{'id': 1, 'name': 'thing', 'keypoints': names, 'skeleton': [[1, 2]]}]}


COCO_FILE = mutated(st.builds(
    _coco, st.lists(st.lists(POINT, min_size=2, max_size=2), min_size=1, max_size=3),
    st.lists(st.lists(st.sampled_from([0, 1, 2]), min_size=2, max_size=2), min_size=3,
             max_size=3),
    st.sampled_from([['nose', 'tail'], ['left_ear', 'right_ear']])))


@SETTINGS
@given(document=COCO_FILE, name=st.sampled_from(['coco.json', 'person_keypoints_train.json']))
def test_coco_parses_or_raises_user_input_error(dataset, document, name):
  _run(dataset, 'coco', name, json.dumps(document))


# -- labelme ---------------------------------------------------------------------------------------

def _labelme(points, groups, rectangle):
  shapes = [{'label': name, 'points': [list(p)], 'group_id': g, 'shape_type': 'point'}
            for name, p, g in zip(['nose', 'tail', 'nose', 'tail'], points, groups)]
  if rectangle:
    shapes.append({'label': 'box', 'points': [[2, 2], [50, 40]], 'group_id': groups[0],
                   'shape_type': 'rectangle'})
  return {'shapes': shapes, 'imagePath': 'images/a.jpg', 'imageHeight': 48, 'imageWidth': 64}


LABELME_FILE = mutated(st.builds(
    _labelme, st.lists(POINT, min_size=1, max_size=4),
    st.lists(st.sampled_from([None, 1, 2]), min_size=4, max_size=4), st.booleans()))


@SETTINGS
@given(document=LABELME_FILE, outside=st.booleans())
def test_labelme_parses_or_raises_user_input_error(dataset, document, outside):
  _run(dataset, 'labelme', 'frame.json', json.dumps(document), allow_outside_paths=outside)


# -- Label Studio JSON export ----------------------------------------------------------------------

def _label_studio(points, image, cancelled):
  result = [{'id': f'k{i}', 'type': 'keypointlabels', 'from_name': 'keypoints',
             'to_name': 'image', 'original_width': 64, 'original_height': 48,
             'value': {'x': 100 * x / 64, 'y': 100 * y / 48, 'width': 0.5,
                       'keypointlabels': [name]}}
            for i, (name, (x, y)) in enumerate(zip(['nose', 'tail', 'nose'], points))]
  return [{'id': 1, 'data': {'image': image},
           'annotations': [{'id': 1, 'was_cancelled': cancelled, 'result': result}]}]


LABEL_STUDIO_FILE = mutated(st.builds(
    _label_studio, st.lists(POINT, min_size=1, max_size=3),
    st.one_of(st.sampled_from(['/data/local-files/?d=images/a.jpg', '/data/upload/3/0a1b2c3d-a.jpg',
                               'http://host/images/b.png']), IMAGE_PATH),
    st.sampled_from([False, False, True])))


@SETTINGS
@given(document=LABEL_STUDIO_FILE)
def test_label_studio_parses_or_raises_user_input_error(dataset, document):
  _run(dataset, 'label_studio', 'export.json', json.dumps(document))


# -- CVAT for images 1.1 XML -----------------------------------------------------------------------

def _text(value):
  return quoteattr(value if isinstance(value, str) else json.dumps(value))


def _cvat(points, image, width, subset, occluded, cut):
  shapes = ''.join(f'<points label={_text(n)} points={_text(f"{x},{y}")} occluded={_text(o)} '
                   f'outside="0" group_id="1" source="manual" z_order="0"/>'
                   for n, (x, y), o in zip(['nose', 'tail', 'nose'], points, occluded))
  xml = (f'<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task>'
         f'<labels><label><name>nose</name><type>points</type></label><label><name>tail</name>'
         f'<type>points</type></label></labels></task></meta><image id="0" name={_text(image)} '
         f'width={_text(width)} height="48" subset={_text(subset)}>{shapes}</image>'
         f'</annotations>')
  return xml[:cut] if cut else xml


CVAT_FILE = st.builds(
    _cvat, st.lists(st.one_of(POINT, st.tuples(NUMBER, NUMBER)), min_size=1, max_size=3),
    st.one_of(st.sampled_from(['images/a.jpg', 'a.jpg', 'b.png']), IMAGE_PATH),
    st.one_of(st.just(64), NUMBER), st.sampled_from(['Train', 'Validation', 'default', '']),
    st.lists(st.sampled_from(['0', '1', 'x', '']), min_size=3, max_size=3),
    st.one_of(st.just(0), st.just(0), st.integers(1, 600)))


@SETTINGS
@given(document=CVAT_FILE)
def test_cvat_parses_or_raises_user_input_error(dataset, document):
  _run(dataset, 'cvat', 'annotations.xml', document)


# -- DeepLabCut CSV --------------------------------------------------------------------------------

CELL = st.one_of(st.sampled_from(['', 'nan', 'NaN', '1e400', 'inf', '-1e300', 'x', 'y',
                                  'likelihood', 'snout', 'individuals', '../a.jpg',
                                  '/etc/hostname', 'images', 'a.jpg']),
                 NUMBER.map(str), st.text(max_size=4))


def _dlc_rows(points, lead):
  header = [['scorer'] + [''] * (lead - 1) + ['me'] * 4,
            ['bodyparts'] + [''] * (lead - 1) + ['snout', 'snout', 'tail', 'tail'],
            ['coords'] + [''] * (lead - 1) + ['x', 'y', 'x', 'y']]
  image = ['images/a.jpg'] if lead == 1 else ['labeled-data', 'images', 'a.jpg']
  rows = [image + [f'{c:.3f}' for p in pair for c in p] for pair in points]
  return header + rows


def _csv(rows):
  buffer = io.StringIO()
  csv.writer(buffer).writerows(rows)
  return buffer.getvalue()


DLC_FILE = st.one_of(
    st.builds(lambda rows, muts: _csv(_apply_all(rows, muts)),
              st.builds(_dlc_rows, st.lists(st.lists(POINT, min_size=2, max_size=2), min_size=1,
                                            max_size=3), st.sampled_from([1, 3])),
              st.lists(st.tuples(st.lists(st.integers(0, 50), min_size=1, max_size=2),
                                 st.one_of(CELL, st.just(DELETE))), max_size=3)),
    st.text(max_size=80), st.binary(max_size=40))


def _apply_all(rows, mutations):
  for path, replacement in mutations:
    rows = mutate(rows, path, replacement)
    rows = [r if isinstance(r, list) else [str(r)] for r in rows]
  return rows


@SETTINGS
@given(content=DLC_FILE)
def test_deeplabcut_parses_or_raises_user_input_error(dataset, content):
  _run(dataset, 'deeplabcut', 'CollectedData_fuzz.csv', content)


# -- the manifest reader ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def records_dir():
  """A real records directory (two examples) whose manifest the fuzz tests mutate."""
  from records.keypoint_definition import KeypointDefinition
  from records.writer import write_shards
  out = tempfile.mkdtemp(prefix='fuzz-manifest-')
  write_shards(out, {'train': [b'x' * 10, b'y' * 7], 'val': []},
               definition=KeypointDefinition(('a', 'b')), input_shape=(32, 32),
               crop_shape=(48, 48), source='json')
  yield out
  shutil.rmtree(out, ignore_errors=True)


@settings(max_examples=150, deadline=None)
@given(paths=st.lists(st.lists(st.integers(0, 50), min_size=1, max_size=5), min_size=1,
                      max_size=3),
       replacements=st.lists(st.one_of(JSON_VALUE, NUMBER, st.just(DELETE), st.sampled_from(
           ['train-00000-of-00001.tfrecord', '../manifest.json', '/etc/passwd', '',
            'hourglass-records/1', 'a'])), min_size=3, max_size=3),
       verify=st.booleans())
def test_any_manifest_loads_or_raises_records_error(records_dir, paths, replacements, verify):
  with open(os.path.join(records_dir, 'manifest.json')) as f:
    raw = json.load(f)
  for path, replacement in zip(paths, replacements):
    raw = mutate(raw, path, replacement)
  with tempfile.TemporaryDirectory() as copy:
    for name in os.listdir(records_dir):
      if name != 'manifest.json':
        shutil.copy(os.path.join(records_dir, name), copy)
    with open(os.path.join(copy, 'manifest.json'), 'w') as f:
      json.dump(raw, f)
    try:
      manifest = load_manifest(copy, verify_checksums=verify)
    except RecordsError as e:
      assert copy in str(e) or 'manifest.json' in str(e)
      return
    # Accepted: every listed shard lies inside the directory and exists.
    for split in ('train', 'val'):
      assert manifest.count(split) >= 0
      for shard in manifest.shard_paths(split):
        assert os.path.dirname(shard) == os.path.abspath(copy) and os.path.isfile(shard)
    assert manifest.num_keypoints >= 1 and min(manifest.input_shape + manifest.crop_shape) > 0
