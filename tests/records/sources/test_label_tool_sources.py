"""The Label Studio (JSON export) and CVAT (for images 1.1 XML) sources: known pixel keypoints
written as each tool exports them come back from make_records unchanged; bad records are named
and counted; unreadable files are errors naming the file."""

import json

import numpy as np
from PIL import Image
import pytest

from core.errors import AnnotationError, RecordsError
from records import schema
from records.make_records import make_records
from tests.support.records_io import read_records, records_config, to_original

W, H = 96, 72  # every generated image


def _images(root, *names, size=(W, H)):
  for i, name in enumerate(names):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size[1], size[0], 3), 40 * i, np.uint8)
    Image.fromarray(pixels).save(path)


def _records(manifest):
  """{object id: (keypoints [K, 2] original px, visibility [K], bbox, original path)}."""
  return {int(r[schema.OBJECT_ID]): (to_original(r), r[schema.KEYPOINTS_VISIBILITY],
                                     r[schema.OBJECT_BBOX], r[schema.ORIGINAL_PATH].decode())
          for r in read_records(manifest, 'train')}


# -- Label Studio ---------------------------------------------------------------------------------

def _ls_point(label, x, y, size=(W, H), rid=None, parent=None):
  """A keypointlabels result at pixel (x, y), in percent of the image as Label Studio writes it."""
  result = {'type': 'keypointlabels', 'from_name': 'kp', 'to_name': 'image', 'id': rid or label,
            'original_width': size[0], 'original_height': size[1], 'image_rotation': 0,
            'value': {'x': x / size[0] * 100, 'y': y / size[1] * 100, 'width': 0.5,
                      'keypointlabels': [label]}}
  if parent is not None:
    result['parentID'] = parent
  return result


def _ls_rect(rid, x, y, w, h, size=(W, H)):
  return {'type': 'rectanglelabels', 'from_name': 'box', 'to_name': 'image', 'id': rid,
          'original_width': size[0], 'original_height': size[1], 'image_rotation': 0,
          'value': {'x': x / size[0] * 100, 'y': y / size[1] * 100, 'width': w / size[0] * 100,
                    'height': h / size[1] * 100, 'rotation': 0, 'rectanglelabels': ['mouse']}}


def _ls_task(task_id, image, *results_lists, cancelled=()):
  return {'id': task_id, 'data': {'image': image}, 'predictions': [],
          'annotations': [{'id': 100 * task_id + i, 'result': list(results),
                           'was_cancelled': i in cancelled}
                          for i, results in enumerate(results_lists)]}


def test_label_studio_round_trip(tmp_path):
  root = tmp_path / 'ls'
  _images(root, 'a.png', 'sub/b.png', 'images/c.png')
  tasks = [
      # An upload: Label Studio's 8-hex prefix is not in the dataset's file name.
      _ls_task(1, '/data/upload/3/1a2b3c4d-a.png',
               [_ls_point('nose', 10.25, 20.5), _ls_point('tail', 50.75, 40.125),
                _ls_rect('r1', 5, 15, 60, 30)]),
      # Three annotations: the last one is cancelled, so the middle one is read.
      _ls_task(2, '/data/local-files/?d=sub%2Fb.png',
               [_ls_point('nose', 1, 1)], [_ls_point('nose', 33.3, 44.4)],
               [_ls_point('nose', 2, 2)], cancelled=(2,)),
      # Keypoints assigned to rectangles by parentID: one object per rectangle.
      _ls_task(3, 'http://localhost:8080/static/c.png',
               [_ls_rect('left', 2, 2, 40, 40), _ls_rect('right', 50, 20, 40, 40),
                _ls_point('nose', 12.5, 13.5, rid='p1', parent='left'),
                _ls_point('tail', 30, 31, rid='p2', parent='left'),
                _ls_point('nose', 70.5, 55.25, rid='p3', parent='right')]),
      {'id': 4, 'data': {'image': 'a.png'}, 'annotations': [],
       'predictions': [{'result': [_ls_point('nose', 5, 5)]}]},
  ]
  (root / 'export.json').write_text(json.dumps(tasks))
  classes = tmp_path / 'classes.txt'
  classes.write_text('tail\nnose\n')
  manifest = make_records(records_config(tmp_path, source='label_studio', dataset_path=str(root),
                                  classes_path=str(classes)))
  assert manifest.definition.names == ('tail', 'nose') and manifest.raw['skipped'] == []
  assert manifest.raw['filtered'] == {'no_annotation': 1}
  notes = ' '.join(manifest.raw['notes'])
  assert '1 tasks have several annotations' in notes and 'predictions are not read' in notes
  got = _records(manifest)
  assert [got[i][3] for i in range(4)] == ['a.png', 'sub/b.png', 'images/c.png', 'images/c.png']
  expected = [[[50.75, 40.125], [10.25, 20.5]], [[0, 0], [33.3, 44.4]],
              [[30, 31], [12.5, 13.5]], [[0, 0], [70.5, 55.25]]]
  for i, want in enumerate(expected):
    vis = got[i][1]
    np.testing.assert_array_equal(vis, [2 if w != [0, 0] else 0 for w in want])
    np.testing.assert_allclose(got[i][0][vis > 0], np.array(want)[vis > 0], atol=1e-3)
  np.testing.assert_allclose(got[0][2], [5, 15, 60, 30], atol=1e-3)
  np.testing.assert_allclose(got[3][2], [50, 20, 40, 40], atol=1e-3)


def test_label_studio_image_key_beside_other_text_fields(tmp_path):
  # The keypoint template's `<Image name="img-1" value="$img"/>`: to_name is the tag's name, not
  # the data key, and a caption sits beside the image in `data`.
  root = tmp_path / 'ls'
  _images(root, 'a.png')
  point = dict(_ls_point('nose', 10.5, 20.25), to_name='img-1')
  task = _ls_task(1, None, [point])
  task['data'] = {'img': '/data/local-files/?d=a.png', 'caption': 'a mouse, seen from above'}
  (root / 'export.json').write_text(json.dumps([task]))
  manifest = make_records(records_config(tmp_path, source='label_studio', dataset_path=str(root)))
  assert manifest.raw['skipped'] == []
  (xy, vis, _, path), = _records(manifest).values()
  assert path == 'a.png' and list(vis) == [2]
  np.testing.assert_allclose(xy[0], [10.5, 20.25], atol=1e-3)


def test_label_studio_bad_records_are_named_and_counted(tmp_path):
  root = tmp_path / 'ls'
  _images(root, 'a.png', 'b.png')
  bad_point = _ls_point('tail', 5, 5)
  bad_point['value']['x'] = 'left'
  tasks = [
      _ls_task(1, 'a.png', [_ls_point('nose', 10, 10), _ls_point('tail', 20, 20)]),
      _ls_task(2, 'a.png', [_ls_point('nose', 10, 10), _ls_point('wing', 20, 20)]),
      _ls_task(3, '/data/upload/1/0badc0de-missing.png', [_ls_point('nose', 10, 10)]),
      _ls_task(4, 'b.png', [_ls_point('nose', 10, 10), bad_point]),
      _ls_task(5, 'b.png', [_ls_point('nose', 10, 10, size=(W + 4, H))]),
      _ls_task(6, 'b.png', [_ls_point('nose', 10, 10, parent='nothing')]),
  ]
  path = root / 'export.json'
  path.write_text(json.dumps(tasks))
  classes = tmp_path / 'classes.txt'
  classes.write_text('nose\ntail\n')
  common = dict(source='label_studio', dataset_path=str(root), classes_path=str(classes))
  with pytest.raises(RecordsError, match='task 2, annotation 200'):
    make_records(records_config(tmp_path, **common))
  manifest = make_records(records_config(tmp_path, max_skip_fraction=0.9, **common))
  assert manifest.count('train') == 1
  skipped = {s['record']: s['reason'] for s in manifest.raw['skipped']}
  assert all(s['file'] == str(path) for s in manifest.raw['skipped'])
  assert skipped['task 2, annotation 200'] == "unknown keypoint name 'wing'"
  assert "'/data/upload/1/0badc0de-missing.png' not found" in skipped['task 3, annotation 300']
  assert 'value.x' in skipped['task 4, annotation 400']
  assert skipped['task 5, annotation 500'] == (f'image is {W}x{H} but the annotation says '
                                               f'{W + 4}x{H}')
  assert 'parentID' in skipped['task 6, annotation 600']
  assert len(skipped) == 5


def test_label_studio_unreadable_files_name_the_file(tmp_path):
  root = tmp_path / 'ls'
  _images(root, 'a.png')
  broken = root / 'broken.json'
  broken.write_text('[{"id": 1, "data": {')
  with pytest.raises(AnnotationError, match='broken.json: cannot read annotation JSON'):
    make_records(records_config(tmp_path, source='label_studio', dataset_path=str(root)))
  broken.write_text(json.dumps([{'image': 'a.png', 'kp-1': []}]))  # a JSON-MIN export
  with pytest.raises(AnnotationError, match='broken.json: not a Label Studio JSON export'):
    make_records(records_config(tmp_path, source='label_studio', dataset_path=str(root)))


def test_label_studio_paths_stay_inside_the_dataset(tmp_path):
  root = tmp_path / 'ls'
  _images(root, 'a.png')
  _images(tmp_path, 'outside.png')
  for image in ('../outside.png', str(tmp_path / 'outside.png')):
    (root / 'export.json').write_text(json.dumps([
        _ls_task(1, image, [_ls_point('nose', 10, 10)])]))
    common = dict(source='label_studio', dataset_path=str(root))
    with pytest.raises(RecordsError, match='outside the dataset folder'):
      make_records(records_config(tmp_path, **common))
    manifest = make_records(records_config(tmp_path, allow_outside_paths=True, **common))
    assert manifest.count('train') == 1


# -- CVAT ------------------------------------------------------------------------------------------

def _cvat(*images):
  body = '\n'.join(f'  <image id="{i}" name="{name}" width="{w}" height="{h}">\n{shapes}\n'
                   f'  </image>' for i, (name, w, h, shapes) in enumerate(images))
  return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
          f'{body}\n</annotations>\n')


def _pt(label, x, y, occluded=0, **attrs):
  extra = ''.join(f' {k}="{v}"' for k, v in attrs.items())
  return (f'<points label="{label}" source="manual" occluded="{occluded}" points="{x},{y}"'
          f'{extra}/>')


def test_cvat_round_trip(tmp_path):
  root = tmp_path / 'cvat'
  _images(root, 'a.png', 'images/b.png', 'c.png')
  skeleton = ('<skeleton label="mouse" source="manual" z_order="0" group_id="7">'
              f'{_pt("nose", 10.25, 20.5, outside=0)}'
              f'{_pt("tail", 50.75, 40.125, occluded=1, outside=0)}'
              f'{_pt("ear", 1, 1, outside=1)}</skeleton>'
              '<box label="mouse" occluded="0" xtl="5" ytl="15" xbr="65" ybr="45" group_id="7"/>')
  grouped = (f'{_pt("nose", 12.5, 13.5, group_id=1)}{_pt("tail", 30, 31, group_id=1)}'
             f'{_pt("nose", 70.5, 55.25, group_id=2)}'
             '<box label="mouse" xtl="50" ytl="20" xbr="90" ybr="60" group_id="2"/>'
             '<polygon label="arena" points="0,0;10,0;10,10"/>')
  loose = (f'{_pt("ear", 3.5, 4.5)}{_pt("nose", 8, 9)}'
           '<box label="m" xtl="1" ytl="2" xbr="20" ybr="30"/>')
  (root / 'annotations.xml').write_text(_cvat(
      ('a.png', W, H, skeleton), ('b.png', W, H, grouped), ('c.png', W, H, loose),
      ('empty.png', W, H, '')))
  manifest = make_records(records_config(tmp_path, source='cvat', dataset_path=str(root)))
  assert manifest.definition.names == ('nose', 'tail', 'ear') and manifest.raw['skipped'] == []
  assert 'first appearance' in ' '.join(manifest.raw['notes'])
  got = _records(manifest)
  assert [got[i][3] for i in range(4)] == ['a.png', 'images/b.png', 'images/b.png', 'c.png']
  expected = [([[10.25, 20.5], [50.75, 40.125], [0, 0]], [2, 1, 0]),
              ([[12.5, 13.5], [30, 31], [0, 0]], [2, 2, 0]),
              ([[70.5, 55.25], [0, 0], [0, 0]], [2, 0, 0]),
              ([[8, 9], [0, 0], [3.5, 4.5]], [2, 0, 2])]
  for i, (want, vis) in enumerate(expected):
    np.testing.assert_array_equal(got[i][1], vis)
    labelled = np.array(vis) > 0
    np.testing.assert_allclose(got[i][0][labelled], np.array(want)[labelled], atol=1e-3)
  np.testing.assert_allclose(got[0][2], [5, 15, 60, 30], atol=1e-3)
  np.testing.assert_allclose(got[2][2], [50, 20, 40, 40], atol=1e-3)
  np.testing.assert_allclose(got[3][2], [1, 2, 19, 28], atol=1e-3)


def test_cvat_bad_records_are_named_and_counted(tmp_path):
  root = tmp_path / 'cvat'
  _images(root, 'a.png', 'b.png')
  path = root / 'annotations.xml'
  path.write_text(_cvat(
      ('a.png', W, H, f'{_pt("nose", 10, 10)}{_pt("tail", 20, 20)}'),
      ('b.png', W, H, f'{_pt("nose", 10, 10, group_id=1)}{_pt("wing", 20, 20, group_id=1)}'
                      f'{_pt("nose", 10, 10, group_id=2)}'
                      '<points label="tail" occluded="0" points="1,2;3,4" group_id="2"/>'
                      '<points label="nose" occluded="0" points="1,x" group_id="3"/>'),
      ('missing.png', W, H, _pt('nose', 10, 10)),
      ('a.png', W + 4, H, _pt('nose', 10, 10))))
  classes = tmp_path / 'classes.txt'
  classes.write_text('nose\ntail\n')
  common = dict(source='cvat', dataset_path=str(root), classes_path=str(classes))
  with pytest.raises(RecordsError, match="image 'b.png', group_id '1'"):
    make_records(records_config(tmp_path, **common))
  manifest = make_records(records_config(tmp_path, max_skip_fraction=0.9, **common))
  assert manifest.count('train') == 1
  skipped = {s['record']: s['reason'] for s in manifest.raw['skipped']}
  assert all(s['file'] == str(path) for s in manifest.raw['skipped'])
  assert skipped["image 'b.png', group_id '1'"] == "unknown keypoint name 'wing'"
  assert '2 points' in skipped["image 'b.png', group_id '2'"]
  assert 'malformed points' in skipped["image 'b.png', group_id '3'"]
  assert "'missing.png' not found" in skipped["image 'missing.png'"]
  assert skipped["image 'a.png', ungrouped points"] == (f'image is {W}x{H} but the annotation '
                                                        f'says {W + 4}x{H}')
  assert len(skipped) == 5


def test_cvat_unreadable_files_name_the_file(tmp_path):
  root = tmp_path / 'cvat'
  _images(root, 'a.png')
  path = root / 'annotations.xml'
  path.write_text('<annotations>\n  <image id="0" name="a.png">\n    <points label=nose/>\n')
  with pytest.raises(AnnotationError, match=r'annotations.xml: malformed XML at line 3, column'):
    make_records(records_config(tmp_path, source='cvat', dataset_path=str(root)))
  path.write_text('<annotations><track id="0" label="nose"/></annotations>')
  with pytest.raises(AnnotationError, match='CVAT for video 1.1'):
    make_records(records_config(tmp_path, source='cvat', dataset_path=str(root)))
  path.write_text('<dataset/>')
  with pytest.raises(AnnotationError, match='not a CVAT for images XML'):
    make_records(records_config(tmp_path, source='cvat', dataset_path=str(root)))


def _meta(*labels):
  """A <meta><task><labels> block: (name, type[, parent]) per label, in the task's order."""
  body = ''.join(f'<label><name>{label[0]}</name><type>{label[1]}</type>'
                 + (f'<parent>{label[2]}</parent>' if len(label) > 2 else '') + '</label>'
                 for label in labels)
  return f'<meta><task><name>t</name><labels>{body}</labels></task></meta>'


def test_cvat_keypoint_order_follows_the_meta_labels(tmp_path):
  from records.sources import cvat
  root = tmp_path / 'cvat'
  _images(root, 'a.png')
  meta = _meta(('mouse', 'skeleton'), ('tail', 'points', 'mouse'), ('arena', 'polygon'),
               ('nose', 'points', 'mouse'), ('ear', 'points'), ('box', 'rectangle'))
  skeleton = (f'<skeleton label="mouse">{_pt("nose", 1, 2)}{_pt("tail", 3, 4)}</skeleton>'
              f'{_pt("whisker", 5, 6)}')
  text = _cvat(('a.png', W, H, skeleton)).replace('<version>1.1</version>',
                                                  f'<version>1.1</version>{meta}')
  (root / 'annotations.xml').write_text(text)
  data = cvat.load(records_config(tmp_path, source='cvat', dataset_path=str(root)))
  # <meta>'s keypoint labels first (never-labelled 'ear' too), then 'whisker' by appearance.
  assert data.definition.names == ('tail', 'nose', 'ear', 'whisker')
  assert "from the <meta> labels (then first appearance): ['tail'" in ' '.join(data.notes)
  classes = tmp_path / 'classes.txt'
  classes.write_text('nose\ntail\near\nwhisker\n')
  data = cvat.load(records_config(tmp_path, source='cvat', dataset_path=str(root),
                           classes_path=str(classes)))
  assert data.definition.names == ('nose', 'tail', 'ear', 'whisker')


def test_cvat_subset_sets_the_split(tmp_path):
  root = tmp_path / 'cvat'
  names = ['train.png', 'val.png', 'validation.png', 'test.png', 'default.png', 'none.png']
  _images(root, *names)
  subsets = ['Train', 'val', 'Validation', 'TEST', 'default', None]
  images = [(name, W, H, _pt('nose', 10 + i, 20)) for i, name in enumerate(names)]
  text = _cvat(*images)
  for name, subset in zip(names, subsets):
    if subset is not None:
      text = text.replace(f'name="{name}"', f'name="{name}" subset="{subset}"')
  (root / 'annotations.xml').write_text(text)
  # The two images without a subset are split by --val_fraction (1.0: both to validation).
  manifest = make_records(records_config(tmp_path, source='cvat', dataset_path=str(root),
                                  val_fraction=1.0))
  assert manifest.count('train') == 1 and manifest.count('val') == 5
  assert 'subset attribute: 1 train and 3 validation objects' in ' '.join(manifest.raw['notes'])
