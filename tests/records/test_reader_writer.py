"""The sharded writer and the manifest reader: round trip, clean reruns, half-written dirs refused."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from core.errors import RecordsError
from records import schema
from records.keypoint_definition import builtin_definition
from records.reader import load_manifest, MANIFEST_NAME
from records.writer import ShardWriter, write_shards


def _example(i, k=17):
  return schema.make_example(
      encoded_image=b'img%d' % i, image_format='jpeg', crop_height=96, crop_width=96,
      keypoints_xy=[[i + 0.25, 2.5 * j] for j in range(k)], visibility=[2] * k,
      box_in_crop=[15.5, 15.5, 64, 64], crop_to_original=[[2, 0, 1], [0, 2, 3]], image_id=i,
      image_path=f'images/{i}.jpg', original_height=480, original_width=640, object_id=100 + i,
      bbox=[1, 2, 3, 4], area=12.0).SerializeToString()


def _write(directory, n_train=5, n_val=3, per_shard=2):
  return write_shards(str(directory), {'train': [_example(i) for i in range(n_train)],
                                       'val': [_example(50 + i) for i in range(n_val)]},
                      definition=builtin_definition('coco'), input_shape=(64, 64),
                      crop_shape=(96, 96), source='test', settings={'a': 1},
                      skipped=[{'file': 'f.json', 'record': 3, 'reason': 'bad'}],
                      filtered={'crowd': 2}, examples_per_shard=per_shard)


def _read_ids(paths, k=17):
  ids = []
  for serialized in tf.data.TFRecordDataset(paths):
    parsed = schema.parse_example(serialized, k)
    ids.append(int(parsed[schema.ORIGINAL_ID]))
  return ids


def test_round_trip_counts_names_and_content(tmp_path):
  manifest = _write(tmp_path)
  assert manifest.count('train') == 5 and manifest.count('val') == 3
  names = sorted(os.listdir(tmp_path))
  assert names == ['manifest.json', 'train-00000-of-00003.tfrecord',
                   'train-00001-of-00003.tfrecord', 'train-00002-of-00003.tfrecord',
                   'val-00000-of-00002.tfrecord', 'val-00001-of-00002.tfrecord']
  again = load_manifest(str(tmp_path), verify_checksums=True)
  assert again.definition == builtin_definition('coco')
  assert again.num_keypoints == 17 and again.input_shape == (64, 64)
  assert again.crop_shape == (96, 96) and again.source == 'test'
  assert again.raw['skipped'][0]['reason'] == 'bad' and again.raw['filtered'] == {'crowd': 2}
  assert _read_ids(again.shard_paths('train')) == [0, 1, 2, 3, 4]
  assert _read_ids(again.shard_paths('val')) == [50, 51, 52]
  parsed = schema.parse_example(next(iter(tf.data.TFRecordDataset(again.shard_paths('val')))), 17)
  np.testing.assert_allclose(parsed[schema.KEYPOINTS_XY].numpy()[3], [50.25, 7.5])


def test_empty_split_has_no_shards(tmp_path):
  manifest = _write(tmp_path, n_train=0, n_val=2)
  assert manifest.count('train') == 0 and manifest.shard_paths('train') == []
  assert load_manifest(str(tmp_path)).count('val') == 2


def test_rerun_replaces_output_cleanly(tmp_path):
  _write(tmp_path, n_train=9, per_shard=2)
  (tmp_path / 'notes.txt').write_text('kept')
  manifest = _write(tmp_path, n_train=3, per_shard=2)
  assert sorted(os.listdir(tmp_path)) == [
      'manifest.json', 'notes.txt', 'train-00000-of-00002.tfrecord',
      'train-00001-of-00002.tfrecord', 'val-00000-of-00002.tfrecord',
      'val-00001-of-00002.tfrecord']
  assert _read_ids(manifest.shard_paths('train')) == [0, 1, 2]


def test_interrupted_writer_leaves_nothing_a_reader_accepts(tmp_path):
  _write(tmp_path)
  writer = ShardWriter(str(tmp_path), 2)  # a new run starts: the old manifest goes first
  writer.add('train', _example(0))
  with pytest.raises(RecordsError, match='no manifest'):
    load_manifest(str(tmp_path))
  writer.abort()
  assert not [n for n in os.listdir(tmp_path) if n.endswith('.tfrecord') or 'tmp' in n]


@pytest.mark.parametrize('damage, message', [
    ('no_manifest', 'no manifest'),
    ('incomplete', 'not marked complete'),
    ('truncated_json', 'cannot read the manifest'),
    ('missing_shard', 'missing'),
    ('truncated_shard', 'differs'),
    ('wrong_format', 'format'),
    ('count_mismatch', 'counts'),
    ('malformed_shard', 'malformed'),
    ('bad_definition', 'definition'),
])
def test_half_written_directory_is_refused(tmp_path, damage, message):
  _write(tmp_path)
  path = tmp_path / MANIFEST_NAME
  raw = json.loads(path.read_text())
  shard = tmp_path / raw['splits']['train']['shards'][1]['file']
  if damage == 'no_manifest':
    path.unlink()
  elif damage == 'incomplete':
    raw['complete'] = False
  elif damage == 'truncated_json':
    path.write_text(path.read_text()[:100])
  elif damage == 'missing_shard':
    shard.unlink()
  elif damage == 'truncated_shard':
    shard.write_bytes(shard.read_bytes()[:-7])
  elif damage == 'wrong_format':
    raw['format'] = 'something-else/9'
  elif damage == 'count_mismatch':
    raw['splits']['train']['count'] = 99
  elif damage == 'malformed_shard':
    raw['splits']['val']['shards'][0]['bytes'] = 'many'
  elif damage == 'bad_definition':
    raw['definition']['flip_pairs_h'] = [['nose', 'tail']]
  if damage in ('incomplete', 'wrong_format', 'count_mismatch', 'malformed_shard',
                'bad_definition'):
    path.write_text(json.dumps(raw))
  with pytest.raises(RecordsError, match=message) as info:
    load_manifest(str(tmp_path))
  assert str(tmp_path) in str(info.value)


def test_checksum_mismatch_found_only_when_verifying(tmp_path):
  _write(tmp_path)
  raw = json.loads((tmp_path / MANIFEST_NAME).read_text())
  shard = tmp_path / raw['splits']['val']['shards'][0]['file']
  data = bytearray(shard.read_bytes())
  data[20] ^= 0xFF  # same size, one flipped byte
  shard.write_bytes(bytes(data))
  load_manifest(str(tmp_path))  # sizes match: accepted without verification
  with pytest.raises(RecordsError, match='SHA-256') as info:
    load_manifest(str(tmp_path), verify_checksums=True)
  assert shard.name in str(info.value)


def test_missing_directory(tmp_path):
  with pytest.raises(RecordsError, match='not found'):
    load_manifest(str(tmp_path / 'nope'))
