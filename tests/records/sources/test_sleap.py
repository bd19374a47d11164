"""The SLEAP source (records/sources/sleap.py) on the shared .slp samples and on changed copies."""

import os

import cv2
import h5py
import numpy as np
import pytest

from core.errors import AnnotationError, RecordsError, UserInputError
from core.geometry import warp
from records import schema
from records.example import BadExample
from records.make_records import make_records, MakeRecordsConfig
from records.sources import sleap
from tests.support import sleap_files
from tests.support.records_io import read_records, to_original

MINIMAL = 'minimal_instance.slp'
DANCE = 'dance.mp4.labels.slp'
ROBOT = 'small_robot_minimal.slp'
PREDICTIONS = 'centered_pair_predictions.slp'
FLIES_VIDEO = 'centered_pair_low_quality.mp4'


@pytest.fixture(scope='module')
def sample(shared_data):
  """The folder of the SLEAP samples (read-only)."""
  return os.path.join(shared_data, 'sleap_sample')


def _config(tmp_path, **kwargs):
  kwargs.setdefault('input_shape', (64, 64))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  return MakeRecordsConfig(source='sleap', output_dir=str(tmp_path / 'records'), **kwargs)


def _load(tmp_path, root, *files, **kwargs):
  paths = ','.join(str(f) for f in files) or None
  return sleap.load(_config(tmp_path, dataset_path=str(root), annotation_path=paths, **kwargs))


def _user_points(path):
  """[(frame index, xy [K, 2] in pixel-centre coordinates, labelled [K])] of the file's user
  instances in file order, read with h5py (format_id < 1.1: the origin was the pixel corner)."""
  with h5py.File(path, 'r') as f:
    frames, instances, points = f['frames'][()], f['instances'][()], f['points'][()]
    shift = 0.5 if f['metadata'].attrs['format_id'] < 1.1 else 0.0
  out = []
  for frame in frames:
    for instance in instances[frame['instance_id_start']:frame['instance_id_end']]:
      if instance['instance_type'] == 0:
        p = points[instance['point_id_start']:instance['point_id_end']]
        xy = np.stack([p['x'], p['y']], axis=1) - shift
        out.append((int(frame['frame_idx']), xy, p['visible'] & np.isfinite(xy).all(axis=1)))
  return out


def _frames_in_order(path, count):
  """The first `count` frames of a video, read one after the other (no seeking)."""
  capture = cv2.VideoCapture(path)
  frames = [capture.read()[1] for _ in range(count)]
  capture.release()
  return frames


@pytest.mark.parametrize('name, objects, frames, predicted', [
    (MINIMAL, 2, 1, 0), (DANCE, 3, 3, 450), (ROBOT, 2, 2, 0), (PREDICTIONS, 0, 0, 2274)])
def test_sample_counts(sample, tmp_path, name, objects, frames, predicted):
  data = _load(tmp_path, sample, os.path.join(sample, name))
  assert len(data.examples) == objects and not data.skipped
  assert len({ex.image_id for ex in data.examples}) == frames
  assert len({ex.rel_path for ex in data.examples}) == frames
  assert sorted(ex.object_id for ex in data.examples) == list(range(1, objects + 1))
  assert data.filtered == ({'predicted': predicted} if predicted else {})
  skipped_note = [n for n in data.notes if 'predicted instances skipped' in n]
  if predicted:
    assert skipped_note == [(f'pre-annotations: sleap: {predicted} predicted instances '
                             f'skipped (predictions are not labels; in SLEAP, double-click one '
                             f'to make it a user instance)')]
  else:
    assert not skipped_note


@pytest.mark.parametrize('name', [MINIMAL, DANCE, ROBOT])
def test_keypoints_are_the_files_points(sample, tmp_path, name):
  path = os.path.join(sample, name)
  data = _load(tmp_path, sample, path)
  expected = _user_points(path)
  assert len(expected) == len(data.examples)
  for ex, (frame, xy, labelled) in zip(data.examples, expected, strict=True):
    np.testing.assert_array_equal(ex.visibility, np.where(labelled, 2, 0))
    np.testing.assert_allclose(ex.keypoints[labelled], xy[labelled], atol=1e-3)
    assert ex.rel_path == f'{ex.video}/{frame:06d}.png'
    assert ex.render == sleap.VideoFrame(ex.image_path, frame)
  if name == DANCE:  # right_ankle is unlabelled in every frame
    assert data.examples[0].visibility.sum() == 2 * 16


def test_old_format_points_move_to_pixel_centres(sample, tmp_path):
  old = sleap_files.copy_slp(os.path.join(sample, MINIMAL), tmp_path / 'old' / MINIMAL,
                             format_id=1.0)
  data = _load(tmp_path, sample, old)
  stored = _user_points(os.path.join(sample, MINIMAL))  # format 1.1: as written
  assert len(data.examples) == 2
  for ex, (_, xy, _) in zip(data.examples, stored, strict=True):
    np.testing.assert_allclose(ex.keypoints, xy - 0.5, atol=1e-9)
  for ex, (_, xy, _) in zip(data.examples, _user_points(old), strict=True):
    np.testing.assert_allclose(ex.keypoints, xy, atol=1e-9)


def test_skeletons_nodes_edges_and_symmetries(sample, tmp_path):
  # small_robot stores its nodes as B, A and its skeleton as [A, B]: the skeleton's order counts.
  data = _load(tmp_path, sample, os.path.join(sample, MINIMAL), os.path.join(sample, ROBOT))
  assert data.definition.names == ('A', 'B') and data.definition.flip_pairs_h == ()
  assert data.definition.skeleton == ((0, 1, (0, 255, 0)),)
  assert len(data.examples) == 4 and len({ex.image_id for ex in data.examples}) == 3
  assert {ex.video for ex in data.examples} == {FLIES_VIDEO, 'small_robot.mp4'}
  dance = _load(tmp_path, sample, os.path.join(sample, DANCE)).definition
  assert dance.names[:3] == ('nose', 'left_eye', 'right_eye') and len(dance.skeleton) == 15
  paired = sleap_files.copy_slp(os.path.join(sample, MINIMAL), tmp_path / 'sym' / MINIMAL,
                                edit_metadata=sleap_files.add_symmetry(1, 0))
  assert _load(tmp_path, sample, paired).definition.flip_pairs_h == ((0, 1),)
  two = sleap_files.copy_slp(os.path.join(sample, MINIMAL), tmp_path / 'two' / MINIMAL,
                             edit_metadata=sleap_files.duplicate_skeleton)
  with pytest.raises(AnnotationError, match='has 2 skeletons') as info:
    _load(tmp_path, sample, two)
  assert two in str(info.value)
  # Every .slp of the folder: the fly predictions' skeleton is not the dancer's.
  with pytest.raises(AnnotationError, match='same skeleton') as info:
    _load(tmp_path, sample)
  assert str(info.value).startswith(os.path.join(sample, DANCE))


def test_video_frame_reads_frame_n(sample):
  video = os.path.join(sample, 'small_robot.mp4')
  frames = _frames_in_order(video, 81)
  image = sleap.VideoFrame(video, 79).render()
  np.testing.assert_array_equal(image, frames[79])
  assert np.abs(image.astype(int) - frames[78]).max() > 0
  assert np.abs(image.astype(int) - frames[80]).max() > 0
  grey = sleap.VideoFrame(os.path.join(sample, FLIES_VIDEO), 3).render()
  assert grey.shape == (384, 384, 3) and grey.dtype == np.uint8
  with pytest.raises(BadExample, match='frame 5000'):
    sleap.VideoFrame(video, 5000).render()


def test_make_records_crops_the_labelled_frame(sample, tmp_path):
  path = os.path.join(sample, MINIMAL)
  config = _config(tmp_path, dataset_path=sample, annotation_path=path, image_format='png',
                   val_fraction=0.0)
  # The stored video path (tests/data/json_format_v1/...) does not exist: found by file name.
  data = sleap.load(config)
  video = os.path.join(sample, FLIES_VIDEO)
  assert {ex.image_path for ex in data.examples} == {video}
  first, second = _frames_in_order(video, 2)
  np.testing.assert_array_equal(data.examples[0].render.render(), first)
  manifest = make_records(config)
  assert (manifest.count('train'), manifest.count('val')) == (2, 0)
  assert manifest.definition.names == ('A', 'B') and manifest.raw['skipped'] == []
  records = read_records(manifest, 'train')
  expected = [xy for _, xy, _ in _user_points(path)]
  for record in records:
    assert record[schema.ORIGINAL_PATH] == f'{FLIES_VIDEO}/000000.png'.encode()
    assert (record[schema.ORIGINAL_HEIGHT], record[schema.ORIGINAL_WIDTH]) == (384, 384)
    assert min(np.abs(to_original(record) - xy).max() for xy in expected) < 1e-3
    matrix = record[schema.CROP_TO_ORIGINAL].astype(np.float64)
    crop = record['image'][..., ::-1].astype(int)  # records decode to RGB
    same = np.abs(crop - warp(first, matrix, crop.shape[:2])).mean()
    next_frame = np.abs(crop - warp(second, matrix, crop.shape[:2])).mean()
    assert same < 0.05 and next_frame > 1.0, (same, next_frame)
  assert len({int(r[schema.OBJECT_ID]) for r in records}) == 2
  assert len({int(r[schema.ORIGINAL_ID]) for r in records}) == 1


def test_predictions_only_write_nothing(sample, tmp_path):
  config = _config(tmp_path, dataset_path=sample,
                   annotation_path=os.path.join(sample, PREDICTIONS))
  with pytest.raises(RecordsError, match='no example was written') as info:
    make_records(config)
  assert '2274 predicted instances skipped (predictions are not labels' in str(info.value)
  assert not os.path.exists(os.path.join(config.output_dir, 'manifest.json'))


def test_missing_videos(sample, tmp_path):
  alone = sleap_files.copy_slp(os.path.join(sample, MINIMAL), tmp_path / 'alone' / MINIMAL)
  with pytest.raises(UserInputError, match='videos are missing') as info:
    _load(tmp_path, tmp_path / 'alone')
  assert alone in str(info.value)
  assert "'tests/data/json_format_v1/centered_pair_low_quality.mp4'" in str(info.value)
  # One .slp finds its video beside itself, the other's frames are skipped, naming it.
  robot = sleap_files.copy_slp(os.path.join(sample, ROBOT), tmp_path / 'robot' / ROBOT)
  data = _load(tmp_path, tmp_path / 'robot', os.path.join(sample, MINIMAL), robot)
  assert len(data.examples) == 2 and len(data.skipped) == 2
  assert {s.file for s in data.skipped} == {robot}
  assert [s.record for s in data.skipped] == ['small_robot.mp4 frame 0, instance 0',
                                              'small_robot.mp4 frame 79, instance 1']
  assert all("stored path 'tests/data/videos/small_robot.mp4'" in s.reason
             for s in data.skipped)


def test_video_outside_the_dataset_needs_allow_outside_paths(sample, tmp_path):
  absolute = sleap_files.copy_slp(
      os.path.join(sample, ROBOT), tmp_path / 'abs' / ROBOT,
      videos=lambda entries: [{'backend': dict(e['backend'], filename=os.path.join(
          sample, 'small_robot.mp4'))} for e in entries])
  with pytest.raises(UserInputError, match='--allow_outside_paths'):
    _load(tmp_path, tmp_path / 'abs')
  data = _load(tmp_path, tmp_path / 'abs', allow_outside_paths=True)
  assert [ex.rel_path for ex in data.examples] == ['small_robot.mp4/000000.png',
                                                   'small_robot.mp4/000079.png']
  assert {ex.source_file for ex in data.examples} == {absolute}


def test_two_videos_of_one_file_name_are_refused(sample, tmp_path):
  other = tmp_path / 'other'
  other.mkdir()
  (other / 'small_robot.mp4').symlink_to(os.path.join(sample, 'dance.mp4'))
  copy = sleap_files.copy_slp(
      os.path.join(sample, ROBOT), other / ROBOT,
      videos=lambda entries: [{'backend': dict(e['backend'], filename=str(
          other / 'small_robot.mp4'))} for e in entries])
  with pytest.raises(AnnotationError, match='has the file name of') as info:
    _load(tmp_path, sample, os.path.join(sample, ROBOT), copy)
  assert str(info.value).startswith(copy)


def test_bad_files_name_the_file(sample, tmp_path):
  text = tmp_path / 'notes.slp'
  text.write_text('not a SLEAP file\n')
  truncated = sleap_files.truncate(os.path.join(sample, DANCE), tmp_path / 'cut.slp')
  other = str(tmp_path / 'other.slp')
  with h5py.File(other, 'w') as f:
    f.create_dataset('frames', data=np.zeros(3))
  embedded = sleap_files.copy_slp(os.path.join(sample, MINIMAL), tmp_path / 'pkg.slp',
                                  videos=sleap_files.embed_videos)
  for path, message in ((str(text), 'not an HDF5 file'),
                        (truncated, 'damaged or truncated'),
                        (other, r'not a SLEAP \.slp file \(no instances, points, metadata'),
                        (embedded, r'a \.pkg\.slp package')):
    with pytest.raises(AnnotationError, match=message) as info:
      _load(tmp_path, sample, path)
    assert str(info.value).startswith(path), info.value
