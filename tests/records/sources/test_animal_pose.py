"""--source=animal_pose on a small keypoints.json in the Animal-Pose layout (dogs, cats and a cow
on the shared COCO sample images): counts, the category filter, boxes, the file's definition,
a --classes_path in mmpose's order mapped by name, and the errors for bad input."""

import json
import os

import numpy as np
import pytest

from core.errors import AnnotationError, RecordsError, UserInputError
from records import schema
from records.example import Example
from records.keypoint_definition import KeypointDefinition
from records.make_records import make_records
from records.sources import animal_pose
from records.sources.common import SourceData
from records.sources.resolve import choose_definition
from tests.support.paths import ROOT
from tests.support.records_io import read_records, records_config, to_original

# The names and skeleton of the released keypoints.json (0-based edges).
NAMES = ['left_eye', 'right_eye', 'nose', 'left_ear', 'right_ear', 'left_front_elbow',
         'right_front_elbow', 'left_back_elbow', 'right_back_elbow', 'left_front_knee',
         'right_front_knee', 'left_back_knee', 'right_back_knee', 'left_front_paw',
         'right_front_paw', 'left_back_paw', 'right_back_paw', 'throat', 'withers', 'tailbase']
SKELETON = [[0, 1], [0, 2], [1, 2], [0, 3], [1, 4], [2, 17], [18, 19], [5, 9], [6, 10],
            [7, 11], [8, 12], [9, 13], [10, 14], [11, 15], [12, 16]]
IMAGES = {'1': '000000000785.jpg', '2': '000000040083.jpg', '3': '000000196141.jpg'}
# (image_id, category_id, [xmin, ymin, xmax, ymax], labelled): dog 1, cat 2, cow 3.
OBJECTS = [(1, 1, [281, 45, 499, 391], True), (2, 1, [38, 111, 213, 286], True),
           (2, 2, [258, 139, 398, 293], True), (3, 2, [248, 74, 417, 375], True),
           (3, 1, [37, 68, 66, 163], False), (3, 3, [454, 207, 631, 417], True)]


def _keypoints(box, labelled):
  """20 integer points on a 5 x 4 grid in the box; points 3 and 12 unlabelled."""
  xmin, ymin, xmax, ymax = box
  rows = []
  for i in range(20):
    x = round(xmin + (i % 5 + 0.5) * (xmax - xmin) / 5)
    y = round(ymin + (i // 5 + 0.5) * (ymax - ymin) / 4)
    rows.append([x, y, 1] if labelled and i not in (3, 12) else [0, 0, 0])
  return rows


def _document(objects=OBJECTS):
  categories = [{'supercategory': 'animal', 'id': cid, 'name': name, 'keypoints': NAMES,
                 'skeleton': SKELETON} for cid, name in ((1, 'dog'), (2, 'cat'), (3, 'cow'))]
  annotations = [{'image_id': image, 'category_id': category, 'bbox': box,
                  'keypoints': _keypoints(box, labelled), 'num_keypoints': 18 if labelled else 0}
                 for image, category, box, labelled in objects]
  return {'images': dict(IMAGES), 'annotations': annotations, 'categories': categories}


@pytest.fixture
def dataset(shared_data, tmp_path):
  """A dataset folder: keypoints.json, one image beside it and the others in images/."""
  root = tmp_path / 'animalpose'
  (root / 'images').mkdir(parents=True)
  src = os.path.join(shared_data, 'coco_sample', 'images')
  for i, name in enumerate(IMAGES.values()):
    os.symlink(os.path.join(src, name), (root if i == 0 else root / 'images') / name)
  (root / 'keypoints.json').write_text(json.dumps(_document()))
  return root


def _config(tmp_path, root, **kwargs):
  kwargs.setdefault('input_shape', (64, 64))
  return records_config(tmp_path, source='animal_pose', dataset_path=str(root), **kwargs)


def _by_object(manifest):
  return {int(r[schema.OBJECT_ID]): r for r in read_records(manifest, 'train')}


def test_every_category_boxes_points_and_the_files_definition(dataset, tmp_path):
  manifest = make_records(_config(tmp_path, dataset))
  assert manifest.count('train') == 5 and manifest.skipped == []
  assert manifest.filtered == {'no_keypoints': 1}
  assert any('every category): cat 2, cow 1, dog 2' in n for n in manifest.notes)
  definition = manifest.definition
  assert definition.names == tuple(NAMES)
  assert [list(e[:2]) for e in definition.skeleton] == SKELETON  # 0-based, as in the file
  assert (0, 1) in definition.flip_pairs_h and (3, 4) in definition.flip_pairs_h
  records = _by_object(manifest)
  assert sorted(records) == [0, 1, 2, 3, 5]
  for index, record in records.items():
    xmin, ymin, xmax, ymax = OBJECTS[index][2]
    np.testing.assert_allclose(record[schema.OBJECT_BBOX], [xmin, ymin, xmax - xmin,
                                                            ymax - ymin])
    rows = np.array(_keypoints(OBJECTS[index][2], True), np.float64)
    # v 1 (labelled, not occluded) is our 2; coordinates are kept as written.
    np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY], rows[:, 2] * 2)
    labelled = rows[:, 2] > 0
    np.testing.assert_allclose(to_original(record)[labelled], rows[labelled, :2], atol=1e-3)
  assert records[0][schema.ORIGINAL_PATH] == b'000000000785.jpg'
  assert records[1][schema.ORIGINAL_PATH] == b'images/000000040083.jpg'


def test_the_category_filter(dataset, tmp_path):
  manifest = make_records(_config(tmp_path, dataset, categories='Dog, cat'))
  assert manifest.count('train') == 4
  assert manifest.filtered == {'no_keypoints': 1, 'other_category': 1}
  assert any('--categories=Dog, cat): cat 2, dog 2' in n for n in manifest.notes)
  assert sorted(_by_object(manifest)) == [0, 1, 2, 3]
  with pytest.raises(UserInputError) as info:
    animal_pose.load(_config(tmp_path, dataset, categories='dog,zebra'))
  message = str(info.value)
  assert 'zebra' in message and 'keypoints.json' in message and 'cat, cow, dog' in message


def test_a_classes_file_in_mmpose_order_is_mapped_by_name(dataset, tmp_path):
  configs = os.path.join(ROOT, 'configs')
  manifest = make_records(_config(
      tmp_path, dataset, categories='dog',
      classes_path=os.path.join(configs, 'animal_pose_classes.txt'),
      matchpoint_path=os.path.join(configs, 'animal_pose_match_point.txt'),
      skeleton_path=os.path.join(configs, 'animal_pose_skeleton.txt')))
  names = manifest.definition.names
  assert names[:6] == ('left_eye', 'right_eye', 'left_earbase', 'right_earbase', 'nose',
                       'throat')
  assert any('left_ear = left_earbase' in n for n in manifest.notes)
  assert not any(n.startswith('warning') and 'by position' in n for n in manifest.notes)
  spelt = {'left_earbase': 'left_ear', 'right_earbase': 'right_ear'}
  order = [NAMES.index(spelt.get(n, n)) for n in names]
  for index, record in _by_object(manifest).items():
    rows = np.array(_keypoints(OBJECTS[index][2], True), np.float64)[order]
    np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY], rows[:, 2] * 2)
    labelled = rows[:, 2] > 0
    np.testing.assert_allclose(to_original(record)[labelled], rows[labelled, :2], atol=1e-3)
    # Channel 4 (nose in configs/) holds the file's point 2 (its nose), not its left_ear.
    np.testing.assert_allclose(to_original(record)[4], _keypoints(OBJECTS[index][2], True)[2][:2],
                               atol=1e-3)


def test_a_classes_file_naming_other_points_still_goes_by_position(tmp_path):
  xy = np.arange(6, dtype=np.float64).reshape(3, 2)
  example = Example('a.jpg', 'a.jpg', xy.copy(), np.array([2, 2, 2], np.int32))
  data = SourceData([example], KeypointDefinition(('head', 'left_ear', 'tail')), 3)
  classes = tmp_path / 'classes.txt'
  classes.write_text('tail\nleft_earbase\nhead\n')
  definition = choose_definition(data, records_config(tmp_path, source='json',
                                                      classes_path=str(classes)))
  assert definition.names == ('tail', 'left_earbase', 'head')
  np.testing.assert_array_equal(example.keypoints, xy[[2, 1, 0]])  # by name, with the alias
  classes.write_text('tail\nleft_earbase\nneck\n')
  example.keypoints = xy.copy()
  choose_definition(data, records_config(tmp_path, source='json', classes_path=str(classes)))
  np.testing.assert_array_equal(example.keypoints, xy)  # other points: by position, warned
  assert data.notes[-1].startswith('warning:') and 'taken by position' in data.notes[-1]


def test_a_coco_file_is_refused_with_the_source_to_use(shared_data, tmp_path):
  path = os.path.join(shared_data, 'coco_sample', 'person_keypoints_sample.json')
  with pytest.raises(AnnotationError, match='use --source=coco') as info:
    animal_pose.load(_config(tmp_path, os.path.dirname(path), annotation_path=path))
  assert path in str(info.value)
  (tmp_path / 'list.json').write_text('{"images": {}, "annotations": {}}')
  with pytest.raises(AnnotationError, match='needs images'):
    animal_pose.load(_config(tmp_path, tmp_path, annotation_path=str(tmp_path / 'list.json')))


def test_bad_records_are_named_by_file_and_record(dataset, tmp_path):
  doc = _document()
  doc['annotations'][1]['keypoints'] = doc['annotations'][1]['keypoints'][:17]
  doc['annotations'][2]['bbox'] = [258, 139, 258, 293]
  doc['annotations'][3]['keypoints'] = [v for row in doc['annotations'][3]['keypoints']
                                        for v in row]
  doc['annotations'][5]['image_id'] = 9
  doc['images']['1'] = '../outside.jpg'
  (dataset / 'keypoints.json').write_text(json.dumps(doc))
  data = animal_pose.load(_config(tmp_path, dataset))
  reasons = {s.record: s.reason for s in data.skipped}
  assert {s.file for s in data.skipped} == {str(dataset / 'keypoints.json')}
  assert reasons[0].startswith("image path '../outside.jpg' leads outside")
  assert reasons[1] == 'field keypoints must hold 20 [x, y, v] points, got 17'
  assert 'bbox [xmin, ymin, xmax, ymax] is degenerate' in reasons[2] and 'width 0' in reasons[2]
  assert 'flat list of 60 numbers' in reasons[3] and '--source=coco' in reasons[3]
  assert reasons[5] == 'image_id 9 is not in the images dict'
  allowed = animal_pose.load(_config(tmp_path, dataset, allow_outside_paths=True))
  assert 0 not in {s.record for s in allowed.skipped}
  with pytest.raises(RecordsError) as info:
    make_records(_config(tmp_path, dataset))
  assert f'{dataset / "keypoints.json"}, record 2: field bbox' in str(info.value)


def test_file_level_errors(dataset, tmp_path):
  doc = _document()
  doc['categories'][1]['keypoints'] = NAMES[::-1]
  (dataset / 'keypoints.json').write_text(json.dumps(doc))
  with pytest.raises(AnnotationError, match="'dog' and 'cat' name different keypoints"):
    animal_pose.load(_config(tmp_path, dataset))
  doc = _document()
  for category in doc['categories']:
    category['skeleton'] = [[a + 1, b + 1] for a, b in SKELETON]
  (dataset / 'keypoints.json').write_text(json.dumps(doc))
  data = animal_pose.load(_config(tmp_path, dataset))  # never 0, uses 20: 1-based
  assert [list(e[:2]) for e in data.definition.skeleton][:2] == [[0, 1], [0, 2]]
  assert any('read as 1-based' in n for n in data.notes)
  doc['categories'][0]['skeleton'] = [[0, 20]]
  (dataset / 'keypoints.json').write_text(json.dumps(doc))
  with pytest.raises(AnnotationError, match=r'skeleton edge \[0, 20\] out of range'):
    animal_pose.load(_config(tmp_path, dataset))


def test_visibility_two_is_read_as_coco(dataset, tmp_path):
  doc = _document()
  doc['annotations'][0]['keypoints'][0][2] = 2
  (dataset / 'keypoints.json').write_text(json.dumps(doc))
  data = animal_pose.load(_config(tmp_path, dataset))
  assert list(data.examples[0].visibility[:3]) == [2, 1, 1]
  assert any("COCO's convention" in n for n in data.notes)
