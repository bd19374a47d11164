"""Bad input is skipped, counted and reported by file, record and reason; the rest is written;
too much bad input fails the run without leaving anything a reader accepts."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from core.errors import AnnotationError, RecordsError
from records.make_records import make_records, MakeRecordsConfig
from records.reader import load_manifest
from tests.support.paths import ROOT


def _config(tmp_path, **kwargs):
  kwargs.setdefault('input_shape', (64, 64))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  return MakeRecordsConfig(output_dir=str(tmp_path / 'records'), **kwargs)


def _copy(shared_data, tmp_path, name):
  dst = tmp_path / name
  shutil.copytree(os.path.join(shared_data, name), dst)
  return dst


def test_coco_corrupt_image_and_broken_annotations(shared_data, tmp_path):
  root = _copy(shared_data, tmp_path, 'coco_sample')
  path = root / 'person_keypoints_sample.json'
  coco = json.loads(path.read_text())
  (root / 'images' / '000000000785.jpg').write_bytes(b'\x00garbage, not an image' * 50)
  anns = {a['id']: a for a in coco['annotations']}
  anns[198196]['keypoints'] = anns[198196]['keypoints'][:-3]       # 16 points, not 17
  anns[230195]['keypoints'][0] = float('nan')                       # NaN x of a labelled point
  anns[460541]['bbox'] = [10, 10, 0, 50]                            # zero-width box
  anns[437295]['image_id'] = 999                                    # unknown image
  path.write_text(json.dumps(coco))  # json writes NaN as a bare token, as broken tools do
  manifest = make_records(_config(tmp_path, source='coco', dataset_path=str(root),
                                  max_skip_fraction=0.5, val_fraction=0.0))
  # 12 with keypoints: 1 on the corrupt image, 4 broken -> 7 written; filters counted apart.
  assert manifest.count('train') == 7
  assert manifest.raw['filtered'] == {'no_keypoints': 2}
  reasons = {s['record']: s['reason'] for s in manifest.raw['skipped']}
  assert set(reasons) == {442619, 198196, 230195, 460541, 437295}
  assert 'corrupt or unsupported image' in reasons[442619]
  assert '000000000785.jpg' in reasons[442619]
  assert 'must hold 51 numbers, got 48' in reasons[198196]
  assert 'non-finite' in reasons[230195]
  assert 'degenerate' in reasons[460541]
  assert 'not in the images list' in reasons[437295]
  assert all(s['file'].endswith('person_keypoints_sample.json') for s in manifest.raw['skipped'])


def test_too_many_bad_examples_fail_and_leave_no_manifest(shared_data, tmp_path):
  root = _copy(shared_data, tmp_path, 'mpii_sample')
  records = json.loads((root / 'annotations.json').read_text())
  good = make_records(_config(tmp_path, source='mpii', dataset_path=str(root)))
  assert good.count('val') == 5
  records[0]['scale_provided'] = 0.0
  records[1]['joint_self'] = records[1]['joint_self'][:15] + [[1, 2]] * 0
  records[1]['joint_self'].append('oops')
  records[2]['joint_self'][3] = [5000.0, 9000.0, 1.0]  # far outside the 1280x720 image
  records[3]['img_paths'] = '../../escape.jpg'
  del records[4]['headboxes']
  (root / 'annotations.json').write_text(json.dumps(records))
  with pytest.raises(RecordsError, match='no example was written') as info:
    make_records(_config(tmp_path, source='mpii', dataset_path=str(root)))
  message = str(info.value)
  for expected in ('scale_provided must be positive', "joint_self[15] must be [x, y, v]",
                   'far outside', 'leads outside the dataset folder', 'headboxes is missing'):
    assert expected in message
  with pytest.raises(RecordsError, match='no manifest'):  # the earlier output is gone, not stale
    load_manifest(str(tmp_path / 'records'))
  # The json source does not need head boxes; the escape is accepted when allowed (then missing).
  manifest = make_records(_config(tmp_path, source='json', dataset_path=str(root),
                                  max_skip_fraction=0.8, allow_outside_paths=True))
  assert manifest.count('val') == 1
  reasons = [s['reason'] for s in manifest.raw['skipped']]
  assert any('image not found' in r and 'escape.jpg' in r for r in reasons)


def test_skip_fraction_limit(shared_data, tmp_path):
  root = _copy(shared_data, tmp_path, 'mpii_sample')
  os.remove(root / 'images' / '004645041.jpg')
  with pytest.raises(RecordsError, match='1 of 5 examples were bad input'):
    make_records(_config(tmp_path, source='mpii', dataset_path=str(root)))
  manifest = make_records(_config(tmp_path, source='mpii', dataset_path=str(root),
                                  max_skip_fraction=0.2))
  assert manifest.count('val') == 4
  assert 'image not found' in manifest.raw['skipped'][0]['reason']


def test_truncated_jpeg_and_wrong_size(shared_data, tmp_path):
  root = _copy(shared_data, tmp_path, 'coco_sample')
  image = root / 'images' / '000000040083.jpg'
  image.write_bytes(image.read_bytes()[:len(image.read_bytes()) // 2])
  path = root / 'person_keypoints_sample.json'
  coco = json.loads(path.read_text())
  for im in coco['images']:
    if im['id'] == 196141:
      im['width'] += 1
  path.write_text(json.dumps(coco))
  manifest = make_records(_config(tmp_path, source='coco', dataset_path=str(root),
                                  max_skip_fraction=1.0))
  reasons = [s['reason'] for s in manifest.raw['skipped']]
  assert sum('truncated JPEG' in r for r in reasons) == 2
  assert sum('but the annotation says 641x' in r for r in reasons) == 4
  assert manifest.count('train') + manifest.count('val') == 12 - 6


def test_unreadable_annotation_file_is_a_clear_error(tmp_path):
  (tmp_path / 'annotations.json').write_text('[{"img_paths": ')
  with pytest.raises(AnnotationError, match='annotations.json: cannot read annotation JSON'):
    make_records(_config(tmp_path, source='json', dataset_path=str(tmp_path)))


def test_mode_make_records_cli(shared_data, tmp_path):
  """The command line: flags -> config -> records; counts, time and size printed."""
  out = tmp_path / 'cli'
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, 'main.py', '--mode=make_records', '--source=coco',
       f'--dataset_path={os.path.join(shared_data, "coco_sample")}', f'--records_dir={out}',
       '--model_input_shape=64x64', '--val_fraction=1.0', '--num_workers=1'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  assert 'val: 12 examples in 1 shards' in result.stdout
  assert 'filtered: no_keypoints 2' in result.stdout and 'MB' in result.stdout
  assert load_manifest(str(out)).count('val') == 12
  bad = subprocess.run(
      [sys.executable, 'main.py', '--mode=make_records', '--source=coco',
       f'--dataset_path={tmp_path / "nothing"}', f'--records_dir={out}'],
      cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
  assert bad.returncode != 0 and 'error: --dataset_path=' in bad.stderr
  assert 'Traceback' not in bad.stderr


_FULL_DISK_SCRIPT = r'''
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
from core.errors import RecordsError
from records.make_records import MakeRecordsConfig, make_records
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, resource.RLIM_INFINITY))
try:
  make_records(MakeRecordsConfig(source='deeplabcut', dataset_path=sys.argv[2],
                                 output_dir=sys.argv[3], input_shape=(256, 256),
                                 val_fraction=0.1, num_workers=1, progress=False))
except RecordsError as e:
  print('RecordsError:', e)
  sys.exit(3)
'''


def test_full_disk_is_a_clear_error_and_no_manifest(shared_data, tmp_path):
  """A file-size limit (as a full disk) while writing shards: RecordsError, nothing accepted."""
  out = tmp_path / 'out'
  result = subprocess.run(
      [sys.executable, '-c', _FULL_DISK_SCRIPT, ROOT, os.path.join(shared_data, 'openfield'),
       str(out)], capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2'))
  assert result.returncode == 3, result.stderr[-2000:]
  assert 'cannot write records' in result.stdout and str(out) in result.stdout
  with pytest.raises(RecordsError, match='no manifest'):
    load_manifest(str(out))
  assert not [n for n in os.listdir(out) if 'tmp' in n]


def test_unwritable_output_directory(shared_data, tmp_path):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  with pytest.raises(RecordsError, match='cannot write records'):
    make_records(MakeRecordsConfig(
        source='mpii', dataset_path=os.path.join(shared_data, 'mpii_sample'),
        output_dir=str(blocker / 'records'), num_workers=1, progress=False))
