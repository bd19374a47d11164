"""Image identity across videos and growing a records set (issue 21, items 5 and 6): --val_list
entries name one image or are an error naming the images they could mean; images without a
split are split by the hash of their identity, so adding images moves none; --add_to merges a
new annotation set (the newer label of an image wins, counted; old images keep their split; a
failed add leaves the old directory byte for byte)."""

import json
import os

import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from core.errors import RecordsError, UserInputError
from records import schema
from records.make_records import make_records, MakeRecordsConfig
from records.reader import load_manifest
from records.sources.resolve import hash_fraction
from tests.support.flag_parsing import parse_flags
from tests.support.records_io import read_records, to_original

W, H = 48, 40  # every generated image
NAMES = ('nose', 'tail')


def _config(tmp_path, out='records', **kwargs):
  kwargs.setdefault('input_shape', (32, 32))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  kwargs.setdefault('box_min_side', 8.0)
  return MakeRecordsConfig(output_dir=str(tmp_path / out), **kwargs)


def _image(path, shade):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((H, W, 3), shade % 256, np.uint8)).save(path)


def _points(n, shift=0.0):
  return np.array([[8 + n % 20 + shift, 10.5], [30.25, 20 + n % 10 + shift]])


def _labelme_set(root, names, shift=0.0, labels=NAMES):
  """A labelme folder: for each relative image name, the image and its JSON beside it (point
  shapes `labels` at _points(i, shift)). Returns {name: points}."""
  truth = {}
  for i, name in enumerate(names):
    image = root / name
    _image(image, 30 * i + 7)
    points = _points(i, shift)
    doc = {'version': '5.2.1', 'flags': {}, 'imagePath': image.name, 'imageData': None,
           'imageHeight': H, 'imageWidth': W,
           'shapes': [{'label': label, 'points': [list(p)], 'group_id': None,
                       'shape_type': 'point', 'flags': {}} for label, p in zip(labels, points)]}
    image.with_suffix('.json').write_text(json.dumps(doc))
    truth[name] = points
  return truth


def _dlc_project(root, videos):
  """A DeepLabCut project: labeled-data/<video>/CollectedData_me.csv and its frames, for
  {video: [file names]}. Returns {'video/file': points}."""
  truth = {}
  for video, frames in videos.items():
    folder = root / 'labeled-data' / video
    lines = ['scorer,me,me,me,me', 'bodyparts,nose,nose,tail,tail', 'coords,x,y,x,y']
    for n, name in enumerate(frames):
      _image(folder / name, 50 * n + len(video))
      points = _points(n, 1.5)
      truth[f'{video}/{name}'] = points
      lines.append(','.join([f'labeled-data/{video}/{name}'] + [f'{v:g}' for v in points.ravel()]))
    (folder / 'CollectedData_me.csv').write_text('\n'.join(lines) + '\n')
  return truth


def _write_list(tmp_path, *names):
  path = tmp_path / f'val_{len(list(tmp_path.glob("val_*")))}.txt'
  path.write_text('\n'.join(names) + '\n')
  return str(path)


def _paths(manifest):
  """split -> the stored image paths of its records, in order (images not decoded)."""
  return {split: [tf.train.Example.FromString(r.numpy()).features.feature[
      schema.ORIGINAL_PATH].bytes_list.value[0].decode()
      for r in tf.data.TFRecordDataset(manifest.shard_paths(split))]
      for split in ('train', 'val') if manifest.shard_paths(split)}


def _split_of(manifest):
  return {path: split for split, paths in _paths(manifest).items() for path in paths}


def _snapshot(folder):
  out = {}
  for base, _, names in os.walk(folder):
    for name in names:
      path = os.path.join(base, name)
      with open(path, 'rb') as f:
        out[os.path.relpath(path, folder)] = f.read()
  return out


def test_val_list_names_one_image_or_is_an_error_naming_them(tmp_path):
  """A bare file name that frames of two videos (or files of two folders) share is an error
  naming both; video/file, a whole video and a file name one image has work."""
  project = tmp_path / 'project'
  _dlc_project(project, {'v1': ['img0000.png', 'img0001.png'], 'v2': ['img0000.png']})
  with pytest.raises(UserInputError, match=r"'img0000.png' is a frame of 2 videos \(v1, v2\)"):
    make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(project),
                         val_list=_write_list(tmp_path, 'img0000.png')))
  for names, val in ((['v2/img0000.png'], {'labeled-data/v2/img0000.png'}),
                     (['img0001.png'], {'labeled-data/v1/img0001.png'}),
                     (['v1'], {'labeled-data/v1/img0000.png', 'labeled-data/v1/img0001.png'})):
    manifest = make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(project),
                                    val_list=_write_list(tmp_path, *names)))
    assert set(_paths(manifest)['val']) == val, names

  folder = tmp_path / 'lm'
  _labelme_set(folder, ['a/x.png', 'b/x.png', 'b/y.png'])
  with pytest.raises(UserInputError, match=r"'x.png' names 2 images \(a/x.png, b/x.png\)"):
    make_records(_config(tmp_path, source='labelme', dataset_path=str(folder),
                         val_list=_write_list(tmp_path, 'x.png')))
  manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(folder),
                                  val_list=_write_list(tmp_path, 'y.png', 'a/x.png')))
  assert set(_paths(manifest)['val']) == {'a/x.png', 'b/y.png'}
  _labelme_set(folder, ['a/x.png', 'b/x.png', 'b/y.png', 'x.png'])  # a name that is a path
  manifest = make_records(_config(tmp_path, source='labelme', dataset_path=str(folder),
                                  val_list=_write_list(tmp_path, 'x.png')))
  assert _paths(manifest)['val'] == ['x.png']


def test_the_hash_split_keeps_every_image_where_it_was_when_images_are_added(tmp_path):
  folder = tmp_path / 'lm'
  first = [f'seq/img{i:04d}.png' for i in range(40)]
  _labelme_set(folder, first)
  before = _split_of(make_records(_config(tmp_path, 'r1', source='labelme',
                                          dataset_path=str(folder), val_fraction=0.25)))
  assert before == {name: 'val' if hash_fraction(name) < 0.25 else 'train' for name in first}
  assert 4 <= list(before.values()).count('val') <= 16
  # More images in the same folder, the set made again from scratch (another seed too).
  more = [f'seq/img{i:04d}.png' for i in range(40, 70)]
  _labelme_set(folder, first + more)
  after = _split_of(make_records(_config(tmp_path, 'r2', source='labelme', seed=5,
                                         dataset_path=str(folder), val_fraction=0.25)))
  assert {name: after[name] for name in first} == before
  assert {name: after[name] for name in more} == {
      name: 'val' if hash_fraction(name) < 0.25 else 'train' for name in more}


def test_a_newer_label_of_an_image_wins_and_old_images_keep_their_split(tmp_path, capsys):
  """A DeepLabCut project, then a labelme folder that relabels two of its frames (as
  video/file) and adds one (main.py's flags, --add_to the same directory): the merged set has the labelme labels for those two, says so, keeps
  every old frame's split and lists both annotation sets with their counts."""
  project = tmp_path / 'project'
  frames = [f'img{i:04d}.png' for i in range(6)]
  old_truth = _dlc_project(project, {'v1': frames, 'v2': frames[:2]})
  records = tmp_path / 'records'
  first = make_records(_config(tmp_path, source='deeplabcut', dataset_path=str(project),
                               val_list=_write_list(tmp_path, 'v2')))
  old_split = {p[len('labeled-data/'):]: s for p, s in _split_of(first).items()}
  assert first.raw['annotation_sets'][0]['examples'] == 8

  fixes = tmp_path / 'fixes'
  new_truth = _labelme_set(fixes, ['v1/img0002.png', 'v2/img0001.png', 'v3/new.png'],
                           shift=3.0)
  (records / 'my_notes.txt').write_text('kept')
  from modes import make_records as mode  # pylint: disable=g-import-not-at-top
  grown = mode.run(parse_flags(
      '--mode=make_records', '--source=labelme', f'--dataset_path={fixes}',
      f'--add_to={records}', f'--records_dir={records}', '--val_fraction=0',
      '--model_input_shape=32x32', '--num_workers=1', '--box_min_side=8'))
  printed = capsys.readouterr().out
  assert f'2 images relabelled by labelme:{fixes}: the newer labels are kept' in printed
  assert 'made from 2 annotation sets' in printed and 'relabelled 2 images' in printed
  assert grown.records_dir == str(records)
  load_manifest(str(records), verify_checksums=True)
  assert not [p for p in os.listdir(tmp_path) if p.startswith('.')]  # no staging folder left
  assert (records / 'my_notes.txt').read_text() == 'kept'
  notes = grown.raw['notes']
  assert any(f'2 images relabelled by labelme:{fixes}: the newer labels are kept' in n
             for n in notes), notes
  sets = grown.raw['annotation_sets']
  assert [(s['source'], s['examples'], s['relabelled']) for s in sets] == [
      ('deeplabcut', 6, 0), ('labelme', 3, 2)]
  assert grown.source == 'deeplabcut+labelme' and grown.raw['settings']['dataset_path'] is None
  assert grown.count('train') + grown.count('val') == 9
  seen = {}
  for split in ('train', 'val'):
    for record in read_records(grown, split):
      path = record[schema.ORIGINAL_PATH].decode()
      identity = path[len('labeled-data/'):] if path.startswith('labeled-data/') else path
      assert identity not in seen  # a relabelled image is there once, with its new label
      seen[identity] = split
      expected = new_truth.get(identity, old_truth.get(identity))
      np.testing.assert_allclose(to_original(record), expected, atol=1e-3)
  assert {i: seen[i] for i in old_split} == old_split  # v2/img0001.png stays in validation
  assert seen['v3/new.png'] == 'train'
  ids = [tf.train.Example.FromString(r.numpy()).features.feature[schema.ORIGINAL_ID]
         .int64_list.value[0] for split in ('train', 'val')
         for r in tf.data.TFRecordDataset(grown.shard_paths(split))]
  assert len(set(ids)) == 9  # the new set's image ids do not collide with the old ones


def test_a_failing_add_leaves_the_old_records_byte_identical(tmp_path):
  folder = tmp_path / 'lm'
  _labelme_set(folder, [f'img{i}.png' for i in range(5)])
  records = tmp_path / 'records'
  make_records(_config(tmp_path, source='labelme', dataset_path=str(folder)))
  before = _snapshot(records)

  other = tmp_path / 'other'
  _labelme_set(other, ['img0.png', 'z.png'], labels=('tail', 'nose'))
  with pytest.raises(UserInputError, match=r"keypoints \['tail', 'nose'\] differ from the "
                                           r"records set's \['nose', 'tail'\]"):
    make_records(_config(tmp_path, source='labelme', dataset_path=str(other),
                         add_to=str(records)))
  assert _snapshot(records) == before
  fine = tmp_path / 'fine'
  _labelme_set(fine, ['img0.png', 'z.png'])
  with pytest.raises(UserInputError, match=r'--box_margin=2.0 differs from the 1.25'):
    make_records(_config(tmp_path, source='labelme', dataset_path=str(fine),
                         add_to=str(records), box_margin=2.0))
  with pytest.raises(UserInputError, match=r'--model_input_shape=64x64 differs'):
    make_records(_config(tmp_path, source='labelme', dataset_path=str(fine),
                         add_to=str(records), input_shape=(64, 64)))
  # A failure while writing (every image of the new set is unreadable): nothing changes.
  for name in ('img0.png', 'z.png'):
    (fine / name).write_bytes(b'not an image')
  with pytest.raises(RecordsError, match='no example was written'):
    make_records(_config(tmp_path, source='labelme', dataset_path=str(fine),
                         add_to=str(records)))
  assert _snapshot(records) == before
  assert sorted(os.listdir(tmp_path)) == sorted(['lm', 'records', 'other', 'fine'] +
                                                [p.name for p in tmp_path.glob('val_*')])
