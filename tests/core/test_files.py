"""core.files: atomic writes (rename on success, nothing left on failure, extension kept) and
JSON reading whose errors name the file."""

import json
import os
import re

import cv2
import numpy as np
import pytest

from core import files
from core.errors import DefinitionError, UserInputError


def test_atomic_path_renames_onto_the_path_on_success(tmp_path):
  path = tmp_path / 'out.txt'
  path.write_text('old')
  with files.atomic_path(str(path)) as tmp:
    assert os.path.dirname(tmp) == str(tmp_path) and tmp != str(path)
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write('new')
    assert path.read_text() == 'old'  # not replaced before the block ends
  assert path.read_text() == 'new'
  assert os.listdir(tmp_path) == ['out.txt']


def test_atomic_path_keeps_the_old_file_and_no_temporary_on_an_exception(tmp_path):
  path = tmp_path / 'out.json'
  path.write_text('{"old": 1}')
  with pytest.raises(RuntimeError, match='half-way'):
    with files.atomic_path(str(path)) as tmp:
      with open(tmp, 'w', encoding='utf-8') as f:
        f.write('{"ne')
      raise RuntimeError('half-way')
  assert path.read_text() == '{"old": 1}'
  assert os.listdir(tmp_path) == ['out.json']
  with pytest.raises(ValueError):  # a failing json.dump (allow_nan=False) leaves nothing either
    files.write_json(str(tmp_path / 'nan.json'), [float('nan')], allow_nan=False)
  assert os.listdir(tmp_path) == ['out.json']


def test_atomic_path_keeps_the_extension_so_writers_pick_the_format(tmp_path):
  assert files.temporary_path('a/x.png') == f'a/x.tmp-{os.getpid()}.png'
  assert files.temporary_path('a/dir/') == f'a/dir.tmp-{os.getpid()}'
  path = str(tmp_path / 'image.png')
  image = np.full((4, 5, 3), 200, np.uint8)
  with files.atomic_path(path) as tmp:
    assert tmp.endswith('.png')
    assert cv2.imwrite(tmp, image)
  np.testing.assert_array_equal(cv2.imread(path), image)
  assert os.listdir(tmp_path) == ['image.png']


def test_atomic_path_replaces_a_directory(tmp_path):
  path = tmp_path / 'saved_model'
  path.mkdir()
  (path / 'old.pb').write_text('old')
  with files.atomic_path(str(path)) as tmp:
    os.makedirs(tmp)
    with open(os.path.join(tmp, 'new.pb'), 'w', encoding='utf-8') as f:
      f.write('new')
  assert os.listdir(path) == ['new.pb']
  with pytest.raises(KeyboardInterrupt):
    with files.atomic_path(str(path)) as tmp:
      os.makedirs(tmp)
      raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ['saved_model'] and os.listdir(path) == ['new.pb']


def test_write_text_and_write_json(tmp_path):
  files.write_text(str(tmp_path / 'a.txt'), 'héllo\n', fsync=True)
  assert (tmp_path / 'a.txt').read_text(encoding='utf-8') == 'héllo\n'
  files.write_json(str(tmp_path / 'b.json'), {'x': (1, 2)}, indent=1, fsync=True)
  assert (tmp_path / 'b.json').read_text() == json.dumps({'x': [1, 2]}, indent=1)
  assert files.read_json(str(tmp_path / 'b.json'), 'b') == {'x': [1, 2]}


def test_read_json_errors_name_the_file(tmp_path):
  missing = str(tmp_path / 'nope.json')
  with pytest.raises(UserInputError, match=f'^{re.escape(missing)}: cannot read the metadata '):
    files.read_json(missing, 'the metadata')
  with pytest.raises(UserInputError, match=f'^{re.escape(missing)}: missing; not a model dir$'):
    files.read_json(missing, 'the metadata', missing='not a model dir')
  bad = tmp_path / 'bad.json'
  start = f'^{re.escape(str(bad))}: cannot read '
  bad.write_text('{"a": ')
  with pytest.raises(DefinitionError, match=start + r'the definition \(JSONDecodeError: '):
    files.read_json(str(bad), 'the definition', error=DefinitionError)
  bad.write_bytes(b'\xff\xfe{}')  # not UTF-8
  with pytest.raises(UserInputError, match=start + 'x'):
    files.read_json(str(bad), 'x')
  bad.write_text('[' * 100000)  # nested too deeply for the parser
  with pytest.raises(UserInputError, match=start + 'x'):
    files.read_json(str(bad), 'x')
  with pytest.raises(UserInputError, match=f'^{re.escape(str(tmp_path))}: cannot read x'):
    files.read_json(str(tmp_path), 'x')  # a folder
