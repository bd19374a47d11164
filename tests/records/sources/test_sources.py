"""Every source on real data (../shared/data) and on small fixtures: counts, splits, definitions."""

import json
import logging
import os

import numpy as np
import pytest

from core.errors import DefinitionError, UserInputError
from records import schema
from records.keypoint_definition import builtin_definition
from records.make_records import make_records, MakeRecordsConfig
from records.reader import load_manifest
from tests.support.records_io import read_records, to_original


def _config(tmp_path, **kwargs):
  kwargs.setdefault('input_shape', (64, 64))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  return MakeRecordsConfig(output_dir=str(tmp_path / 'records'), **kwargs)


def test_coco_sample_counts_and_definition(shared_data, tmp_path):
  manifest = make_records(_config(tmp_path, source='coco',
                                  dataset_path=os.path.join(shared_data, 'coco_sample')))
  assert manifest.count('train') + manifest.count('val') == 12
  assert manifest.raw['filtered'] == {'no_keypoints': 2}
  assert manifest.raw['skipped'] == []
  coco = builtin_definition('coco')
  assert manifest.definition == coco and manifest.definition.sigmas[0] == 0.026
  # Split by image (no train/val in the file name): whole images go to one side.
  paths = {split: {r[schema.ORIGINAL_PATH] for r in read_records(manifest, split)}
           for split in ('train', 'val')}
  assert paths['val'] and paths['train'] and not paths['val'] & paths['train']


def test_coco_split_from_file_names(shared_data, tmp_path):
  src = os.path.join(shared_data, 'coco_sample', 'person_keypoints_sample.json')
  coco = json.load(open(src))
  val = tmp_path / 'person_keypoints_val2017.json'
  val.write_text(json.dumps(coco))
  manifest = make_records(_config(tmp_path, source='coco', annotation_path=str(val),
                                  dataset_path=os.path.join(shared_data, 'coco_sample')))
  assert (manifest.count('train'), manifest.count('val')) == (0, 12)


def test_coco_custom_category_without_builtin_names(shared_data, tmp_path, caplog):
  coco = json.load(open(os.path.join(shared_data, 'coco_sample',
                                     'person_keypoints_sample.json')))
  coco['categories'][0]['keypoints'] = [f'p{i}' for i in range(16)] + ['left_paw']
  path = tmp_path / 'hands.json'
  path.write_text(json.dumps(coco))
  with caplog.at_level(logging.WARNING):
    manifest = make_records(_config(tmp_path, source='coco', annotation_path=str(path),
                                    dataset_path=os.path.join(shared_data, 'coco_sample'),
                                    val_fraction=0.5))
  assert manifest.definition.names[-1] == 'left_paw' and manifest.definition.sigmas is None
  assert manifest.definition.skeleton[0][:2] == (15, 13)  # COCO skeletons are 1-based
  assert 'left_paw' in caplog.text and 'no flip pair' in caplog.text


@pytest.mark.parametrize('source', ['mpii', 'json'])
def test_mpii_sample_all_validation(shared_data, tmp_path, source):
  manifest = make_records(_config(tmp_path, source=source,
                                  dataset_path=os.path.join(shared_data, 'mpii_sample')))
  assert (manifest.count('train'), manifest.count('val')) == (0, 5)
  assert manifest.shard_paths('train') == []
  assert manifest.definition == builtin_definition('mpii')
  records = read_records(manifest, 'val')
  annotations = {r['img_paths']: r for r in json.load(open(
      os.path.join(shared_data, 'mpii_sample', 'annotations.json')))}
  for record in records:
    ann = annotations[record[schema.ORIGINAL_PATH].decode()[len('images/'):]]
    joints = np.array(ann['joint_self'])
    labelled = joints[:, 2] > 0
    np.testing.assert_allclose(to_original(record)[labelled], joints[labelled, :2], atol=1e-3)
    assert bool(record['object/has_headbox'])
    np.testing.assert_allclose(record[schema.OBJECT_HEADBOX], np.ravel(ann['headboxes']))
    # The box: json takes side = scale x 200; mpii 1.25x that, centre lowered by 15 x scale.
    side = ann['scale_provided'] * 200 * (1.25 if source == 'mpii' else 1.0)
    a = record[schema.CROP_TO_ORIGINAL]
    assert a[0, 0] * 64 == pytest.approx(side, rel=1e-5)
    centre = a[:, :2] @ [47.5, 47.5] + a[:, 2]
    dy = 15 * ann['scale_provided'] if source == 'mpii' else 0.0
    np.testing.assert_allclose(centre, [ann['objpos'][0], ann['objpos'][1] + dy], atol=1e-3)


def test_openfield_deeplabcut_with_val_list(shared_data, tmp_path):
  match = tmp_path / 'match.txt'
  match.write_text('leftear,rightear,h\n')
  root = os.path.join(shared_data, 'openfield')
  manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=root,
                                  val_list=os.path.join(root, 'val_frames.txt'),
                                  matchpoint_path=str(match), num_workers=2,
                                  examples_per_shard=40))
  assert (manifest.count('train'), manifest.count('val')) == (99, 17)
  assert len(manifest.shard_paths('train')) == 3
  definition = load_manifest(manifest.records_dir).definition
  assert definition.names == ('snout', 'leftear', 'rightear', 'tailbase')
  assert definition.flip_pairs_h == ((1, 2),) and not definition.unpaired_left_right_names()
  val_names = set(open(os.path.join(root, 'val_frames.txt')).read().split())
  val = read_records(manifest, 'val')
  assert {os.path.basename(r[schema.ORIGINAL_PATH].decode()) for r in val} == val_names
  rows = {}
  for line in open(os.path.join(root, 'CollectedData_Pranav.csv')).read().splitlines()[3:]:
    cells = line.split(',')
    rows[os.path.basename(cells[0])] = np.array(cells[1:], np.float64).reshape(-1, 2)
  for record in val:
    expected = rows[os.path.basename(record[schema.ORIGINAL_PATH].decode())]
    np.testing.assert_allclose(to_original(record), expected, atol=1e-3)


def _write_dlc(folder, lines):
  folder.mkdir(parents=True, exist_ok=True)
  (folder / 'CollectedData_me.csv').write_text('\n'.join(lines) + '\n')


def test_deeplabcut_empty_cells_are_unlabelled(shared_data, tmp_path):
  root = tmp_path / 'dlc'
  (root / 'images').mkdir(parents=True)
  src = os.path.join(shared_data, 'openfield', 'images')
  for name in ('img0000.png', 'img0001.png', 'img0002.png'):
    os.symlink(os.path.join(src, name), root / 'images' / name)
  _write_dlc(root, [
      'scorer,me,me,me,me,me,me',
      'bodyparts,nose,nose,left_ear,left_ear,right_ear,right_ear',
      'coords,x,y,x,y,x,y',
      'labeled-data/v/img0000.png,21.5,265.4,,,19.9,250.0',
      'labeled-data/v/img0001.png,,,,,,',
      'labeled-data/v/img0002.png,10.0,abc,1,2,3,4'])
  manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(root),
                                  val_fraction=0.0, max_skip_fraction=0.5))
  assert manifest.count('train') == 1
  assert manifest.raw['filtered'] == {'no_keypoints': 1}
  assert len(manifest.raw['skipped']) == 1
  skip = manifest.raw['skipped'][0]
  assert skip['record'] == 'line 6' and 'not a number' in skip['reason']
  assert skip['file'].endswith('CollectedData_me.csv')
  record = read_records(manifest, 'train')[0]
  np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY], [2, 0, 2])
  np.testing.assert_allclose(to_original(record)[[0, 2]], [[21.5, 265.4], [19.9, 250.0]],
                             atol=1e-3)


def _labelme_doc(image_name, shapes):
  return {'version': '5.2.1', 'flags': {}, 'imagePath': image_name, 'imageData': None,
          'imageHeight': 480, 'imageWidth': 640, 'shapes': [
              {'label': label, 'points': points, 'group_id': group,
               'shape_type': kind, 'flags': {}} for label, points, group, kind in shapes]}


def test_labelme_group_ids_make_objects(shared_data, tmp_path):
  root = tmp_path / 'lm'
  root.mkdir()
  src = os.path.join(shared_data, 'openfield', 'images')
  os.symlink(os.path.join(src, 'img0000.png'), root / 'a.png')
  os.symlink(os.path.join(src, 'img0001.png'), root / 'b.png')
  (root / 'a.json').write_text(json.dumps(_labelme_doc('a.png', [
      ('head', [[100.5, 100.25]], 1, 'point'), ('tail', [[150, 180]], 1, 'point'),
      ('head', [[300, 300]], 2, 'point'), ('tail', [[340, 290]], 2, 'point'),
      ('box', [[280, 270], [360, 330]], 2, 'rectangle')])))
  (root / 'b.json').write_text(json.dumps(_labelme_doc('b.png', [
      ('head', [[50, 60]], None, 'point'), ('wing', [[70, 60]], None, 'point')])))
  classes = tmp_path / 'classes.txt'
  classes.write_text('tail\nhead\n')
  manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(root),
                                  classes_path=str(classes), val_fraction=0.0,
                                  max_skip_fraction=0.5, shuffle=False))
  assert manifest.definition.names == ('tail', 'head')
  assert manifest.count('train') == 2
  assert manifest.raw['skipped'][0]['reason'] == "unknown keypoint name 'wing'"
  records = read_records(manifest, 'train')
  np.testing.assert_allclose(to_original(records[0]), [[150, 180], [100.5, 100.25]], atol=1e-3)
  np.testing.assert_allclose(to_original(records[1]), [[340, 290], [300, 300]], atol=1e-3)
  np.testing.assert_allclose(records[1][schema.OBJECT_BBOX], [280, 270, 80, 60])
  # Without a classes file, names come in order of first appearance.
  manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(root),
                                  val_fraction=0.0, max_skip_fraction=0.5))
  assert manifest.definition.names == ('head', 'tail', 'wing')
  assert manifest.count('train') == 3


def test_box_margin_and_box_min_side_size_the_keypoint_box(shared_data, tmp_path):
  """A labelme object without a box: its keypoints' extent (40 x 20 px) times --box_margin, each
  side at least --box_min_side; the crop (and so the model input) covers that box."""
  root = tmp_path / 'lm'
  root.mkdir()
  os.symlink(os.path.join(shared_data, 'openfield', 'images', 'img0000.png'), root / 'a.png')
  (root / 'a.json').write_text(json.dumps(_labelme_doc('a.png', [
      ('head', [[300, 200]], None, 'point'), ('tail', [[340, 220]], None, 'point')])))

  def box(**kwargs):
    manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(root),
                                    val_fraction=0.0, **kwargs))
    return read_records(manifest, 'train')[0][schema.OBJECT_BBOX]

  np.testing.assert_allclose(box(box_margin=1.25, box_min_side=8), [295, 197.5, 50, 25])
  np.testing.assert_allclose(box(box_margin=2.0, box_min_side=8), [280, 190, 80, 40])
  np.testing.assert_allclose(box(box_margin=2.0, box_min_side=64), [280, 178, 80, 64])


def test_json_without_names_needs_classes(shared_data, tmp_path):
  records = json.load(open(os.path.join(shared_data, 'mpii_sample', 'annotations.json')))
  for r in records:
    r['joint_self'] = r['joint_self'][:5]
  (tmp_path / 'images').symlink_to(os.path.join(shared_data, 'mpii_sample', 'images'))
  (tmp_path / 'annotations.json').write_text(json.dumps(records))
  with pytest.raises(UserInputError, match='--classes_path'):
    make_records(_config(tmp_path, source='json', dataset_path=str(tmp_path)))
  classes = tmp_path / 'c.txt'
  classes.write_text('a\nb\nc\nd\n')
  with pytest.raises(DefinitionError, match='4 keypoint names but the annotations have 5'):
    make_records(_config(tmp_path, source='json', dataset_path=str(tmp_path),
                         classes_path=str(classes)))
  classes.write_text('a\nb\nc\nleft_d\nright_d\n')
  match = tmp_path / 'm.txt'
  match.write_text('left_d,right_d,h\n')
  manifest = make_records(_config(tmp_path, source='json', dataset_path=str(tmp_path),
                                  classes_path=str(classes), matchpoint_path=str(match)))
  assert manifest.definition.flip_pairs_h == ((3, 4),) and manifest.count('val') == 5


def test_unknown_source():
  with pytest.raises(UserInputError, match='not a known annotation source'):
    make_records(MakeRecordsConfig(source='yolo', output_dir='/nonexistent'))


def test_manifest_notes_tell_the_split_and_warnings(shared_data, tmp_path):
  root = os.path.join(shared_data, 'openfield')
  manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=root,
                                  val_list='openfield/val_frames.txt', input_shape=(32, 32)))
  notes = ' '.join(manifest.raw['notes'])
  assert 'flip pairs from the names (no --matchpoint_path): leftear <-> rightear' in notes
  assert manifest.definition.flip_pairs_h == ((1, 2),) and manifest.raw['horizontal_flip'][
      'supported']
  assert 'split by --val_list=' in notes and '17 validation images' in notes
  assert manifest.raw['settings']['val_list'] == 'openfield/val_frames.txt'


def test_coco_official_layout(shared_data, tmp_path):
  """<root>/annotations/person_keypoints_val2017.json with images in <root>/val2017/."""
  src = os.path.join(shared_data, 'coco_sample')
  root = tmp_path / 'coco'
  (root / 'annotations').mkdir(parents=True)
  (root / 'val2017').symlink_to(os.path.join(src, 'images'))
  coco = json.load(open(os.path.join(src, 'person_keypoints_sample.json')))
  (root / 'annotations' / 'person_keypoints_val2017.json').write_text(json.dumps(coco))
  manifest = make_records(_config(tmp_path, source='coco', dataset_path=str(root)))
  assert (manifest.count('train'), manifest.count('val')) == (0, 12)
  paths = {r[schema.ORIGINAL_PATH].decode() for r in read_records(manifest, 'val')}
  assert all(p.startswith('val2017/') for p in paths)


def test_flip_pairs_come_from_the_names_and_a_lone_side_turns_flips_off(shared_data, tmp_path,
                                                                        caplog):
  """labelme names left_paw / right_paw / Left Ear / Right Ear, no --matchpoint_path: both
  pairs are inferred and printed, and flips are supported. A lone `tail_l` (no `tail_r`):
  flips are off for the set, with a warning naming it, and the manifest says so."""
  root = tmp_path / 'lm'
  root.mkdir()
  os.symlink(os.path.join(shared_data, 'openfield', 'images', 'img0000.png'), root / 'a.png')
  names = ['nose', 'left_paw', 'Right Ear', 'right_paw', 'Left Ear']
  shapes = [(n, [[100 + 20 * i, 100 + 10 * i]], None, 'point') for i, n in enumerate(names)]
  (root / 'a.json').write_text(json.dumps(_labelme_doc('a.png', shapes)))
  with caplog.at_level('INFO'):
    manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(root),
                                    val_fraction=0.0))
  assert manifest.definition.names == tuple(names)
  assert manifest.definition.flip_pairs_h == ((1, 3), (2, 4))
  assert 'flip pairs from the names (no --matchpoint_path): left_paw <-> right_paw, ' \
      'Right Ear <-> Left Ear' in caplog.text
  assert load_manifest(manifest.records_dir).raw['horizontal_flip']['supported']

  shapes.append(('tail_l', [[200, 200]], None, 'point'))
  (root / 'a.json').write_text(json.dumps(_labelme_doc('a.png', shapes)))
  caplog.clear()
  with caplog.at_level('INFO'):
    manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(root),
                                    val_fraction=0.0))
  flip = load_manifest(manifest.records_dir).raw['horizontal_flip']
  assert not flip['supported'] and "['tail_l'] say a side but have no flip pair" in flip['reason']
  assert 'horizontal flips are off for this records set' in caplog.text


def test_training_follows_the_records_flip_setting_unless_flip_prob_is_given():
  """workflows.train.follow_flip_support: flips off for records that do not support them (the
  synthetic source declares so), kept with a warning when --flip_prob is on the command line."""
  import copy  # pylint: disable=g-import-not-at-top

  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top

  import flags  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from modes.configs import pipeline_config  # pylint: disable=g-import-not-at-top
  from records.sources import synthetic  # pylint: disable=g-import-not-at-top
  from records.sources.common import SourceData  # pylint: disable=g-import-not-at-top
  from records.sources.resolve import horizontal_flip_support  # pylint: disable=g-import-not-at-top
  from workflows.train import follow_flip_support  # pylint: disable=g-import-not-at-top
  data = SourceData([], synthetic.definition(), 9, flips_unsupported='colours')
  raw = {'horizontal_flip': horizontal_flip_support(data, synthetic.definition())}
  assert raw['horizontal_flip'] == {'supported': False, 'reason': 'colours'}
  lines = []
  for argv, expected in ((['main.py'], 0.0), (['main.py', '--flip_prob=0.5'], 0.5)):
    values = copy.deepcopy(absl_flags.FLAGS)
    values(argv)
    pipeline = follow_flip_support(pipeline_config(values, (64, 64)), raw['horizontal_flip'],
                                   values['flip_prob'].present, lines.append)
    assert pipeline.flip_prob == expected
  assert lines[0] == 'horizontal flips off: colours (--flip_prob overrides)'
  assert lines[1].startswith('warning: --flip_prob=0.5 although these records do not support')
  values = copy.deepcopy(absl_flags.FLAGS)
  values(['main.py'])
  supported = {'supported': True, 'reason': ''}
  assert follow_flip_support(pipeline_config(values, (64, 64)), supported,
                             values['flip_prob'].present).flip_prob == 0.5


def _dlc_project(root, openfield_images):
  """A two-video DeepLabCut project: labeled-data/v1 (3 frames, one path column) and
  labeled-data/v2 (2 frames, newer three index columns), both with an img0000.png and
  img0001.png; config.yaml lists the body parts in another order and a skeleton. Returns
  {(video, file): the CSV's [4, 2] points in the CSV's order (snout, leftear, rightear,
  tailbase)}."""
  parts = ['snout', 'leftear', 'rightear', 'tailbase']
  root.mkdir()
  (root / 'config.yaml').write_text(
      'Task: test\nscorer: me\nbodyparts:\n- tailbase\n- snout\n- leftear\n- rightear\n'
      'skeleton:\n- - snout\n  - leftear\n- - snout\n  - rightear\n')
  truth = {}
  for video, frames, sources in (('v1', 3, ('img0000', 'img0001', 'img0002')),
                                 ('v2', 2, ('img0010', 'img0011'))):
    folder = root / 'labeled-data' / video
    folder.mkdir(parents=True)
    lead = [''] if video == 'v1' else ['', '', '']
    lines = [','.join(['scorer'] * len(lead) + ['me'] * 8),
             ','.join(['bodyparts'] + [''] * (len(lead) - 1) + [p for p in parts for _ in 'xy']),
             ','.join(['coords'] + [''] * (len(lead) - 1) + ['x', 'y'] * 4)]
    for n in range(frames):
      name = f'img{n:04d}.png'
      os.symlink(os.path.join(openfield_images, f'{sources[n]}.png'), folder / name)
      points = np.array([[100 + 10 * n, 200], [120, 210 + n], [125 + n, 190], [300, 250 - n]],
                        np.float64) + (50 if video == 'v2' else 0)
      truth[(video, name)] = points
      index = [f'labeled-data/{video}/{name}'] if video == 'v1' else ['labeled-data', video,
                                                                     name]
      lines.append(','.join(index + [f'{v:g}' for v in points.ravel()]))
    (folder / 'CollectedData_me.csv').write_text('\n'.join(lines) + '\n')
  return truth


def test_a_deeplabcut_project_reads_every_labelled_video(shared_data, tmp_path, caplog):
  """Every labeled-data/<video>/CollectedData_*.csv is read (frames counted per video), in
  config.yaml's body-part order with its skeleton; frames of two videos that share a file name
  stay apart; --val_list holds out a whole video or a video/file, and refuses a file name that
  several videos share."""
  root = tmp_path / 'project'
  truth = _dlc_project(root, os.path.join(shared_data, 'openfield', 'images'))
  manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(root),
                                  val_list=str(_write_list(tmp_path, 'v2')), shuffle=False))
  assert (manifest.count('train'), manifest.count('val')) == (3, 2)
  notes = ' '.join(manifest.raw['notes'])
  assert '2 labelled videos: v1 3 frames, v2 2 frames' in notes
  definition = manifest.definition
  assert definition.names == ('tailbase', 'snout', 'leftear', 'rightear')
  assert [edge[:2] for edge in definition.skeleton] == [(1, 2), (1, 3)]
  assert definition.flip_pairs_h == ((2, 3),)
  order = [3, 0, 1, 2]  # the CSV's columns in config.yaml's order
  seen = set()
  for record in read_records(manifest, 'train') + read_records(manifest, 'val'):
    rel = record[schema.ORIGINAL_PATH].decode()
    video, name = rel.split('/')[-2:]
    assert rel == f'labeled-data/{video}/{name}'
    np.testing.assert_allclose(to_original(record), truth[(video, name)][order], atol=1e-3)
    seen.add((video, name))
  assert seen == set(truth)

  manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(root),
                                  val_list=str(_write_list(tmp_path, 'v1/img0001.png'))))
  val = read_records(manifest, 'val')
  assert len(val) == 1 and val[0][schema.ORIGINAL_PATH].decode().endswith('v1/img0001.png')
  with pytest.raises(UserInputError, match=r"'img0000.png' is a frame of 2 videos \(v1, v2\)"):
    make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(root),
                         val_list=str(_write_list(tmp_path, 'img0000.png'))))


def _write_list(tmp_path, *names):
  path = tmp_path / f'val_{len(list(tmp_path.glob("val_*")))}.txt'
  path.write_text('\n'.join(names) + '\n')
  return path
