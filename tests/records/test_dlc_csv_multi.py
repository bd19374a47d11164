"""DeepLabCut's multi-animal CSV layout (records/dlc_csv.py): the header rows as maDLC writes them,
a round trip with missing points, the single-animal text unchanged, malformed files refused."""

import csv

import numpy as np
import pytest

from core.errors import UserInputError
from records import dlc_csv

NAMES = ['snout', 'tail']
INDIVIDUALS = ['individual0', 'individual1', 'individual2']


def _multi_data(frames=5, seed=0):
  """xy [T, 3, 2, 2] with NaNs, scores [T, 3, 2]."""
  rng = np.random.default_rng(seed)
  xy = rng.uniform(-20, 660, (frames, len(INDIVIDUALS), len(NAMES), 2))
  xy[rng.random(xy.shape[:3]) < 0.3] = np.nan
  return xy, rng.uniform(0, 1, xy.shape[:3])


def _rows(path):
  with open(path, newline='', encoding='utf-8') as f:
    return list(csv.reader(f))


def _write_rows(path, rows):
  with open(path, 'w', newline='', encoding='utf-8') as f:
    csv.writer(f, lineterminator='\n').writerows(rows)


def test_header_rows_are_deeplabcuts_multi_animal_ones(tmp_path):
  xy = np.full((2, 2, 2, 2), np.nan)
  xy[0, 0] = [[1.25, 2.5], [3, 4]]
  xy[1, 1, 1] = [5.5, 6.5]
  scores = np.full((2, 2, 2), 0.5)
  path = str(tmp_path / 'm.csv')
  dlc_csv.write_dlc_csv(path, 'DLC_resnet50', NAMES, xy, scores, individuals=['mouse1', 'mouse2'])
  rows = _rows(path)
  assert rows[0] == ['scorer'] + ['DLC_resnet50'] * 12
  assert rows[1] == ['individuals'] + ['mouse1'] * 6 + ['mouse2'] * 6
  assert rows[2] == ['bodyparts'] + ['snout'] * 3 + ['tail'] * 3 + ['snout'] * 3 + ['tail'] * 3
  assert rows[3] == ['coords'] + ['x', 'y', 'likelihood'] * 4
  assert rows[4] == (['0', '1.250', '2.500', '0.5000', '3.000', '4.000', '0.5000']
                     + ['', '', '0'] * 2)
  assert rows[5] == ['1'] + ['', '', '0'] * 3 + ['5.500', '6.500', '0.5000']
  assert len(rows) == 6


def test_multi_animal_round_trip_with_missing_points(tmp_path):
  xy, scores = _multi_data(frames=30)
  path = str(tmp_path / 'm.csv')
  dlc_csv.write_dlc_csv(path, 'synthetic', NAMES, xy, scores, individuals=INDIVIDUALS)
  read = dlc_csv.read_multi_animal_csv(path)
  assert isinstance(read, dlc_csv.MultiAnimalCsv)
  assert read.individuals == INDIVIDUALS and read.names == NAMES
  assert read.frames.dtype == np.int64 and list(read.frames) == list(range(30))
  assert read.xy.shape == (30, 3, 2, 2) and read.likelihood.shape == (30, 3, 2)
  np.testing.assert_array_equal(np.isnan(read.xy), np.isnan(xy))
  np.testing.assert_allclose(read.xy, xy, atol=1e-3)  # NaN compares equal to NaN
  missing = np.isnan(xy[..., 0])
  assert (read.likelihood[missing] == 0).all()
  np.testing.assert_allclose(read.likelihood[~missing], scores[~missing], atol=1e-4)


def test_multi_animal_without_frames_and_one_individual(tmp_path):
  path = str(tmp_path / 'm.csv')
  dlc_csv.write_dlc_csv(path, 's', NAMES, np.zeros((0, 1, 2, 2)), np.zeros((0, 1, 2)), ['a'])
  read = dlc_csv.read_multi_animal_csv(path)
  assert read.individuals == ['a'] and read.xy.shape == (0, 1, 2, 2)


def test_single_animal_text_is_unchanged():
  xy = np.array([[[1.25, 2.5], [np.nan, np.nan]], [[3.0, 4.0], [5.5, 6.5]]])
  scores = np.array([[0.9, 0.0], [0.8, 0.7]])
  expected = ('scorer,keras:m,keras:m,keras:m,keras:m,keras:m,keras:m\n'
              'bodyparts,snout,snout,snout,tail,tail,tail\n'
              'coords,x,y,likelihood,x,y,likelihood\n'
              '0,1.250,2.500,0.9000,,,0\n'
              '1,3.000,4.000,0.8000,5.500,6.500,0.7000\n')
  assert dlc_csv.dlc_csv_text('keras:m', NAMES, xy, scores) == expected
  assert dlc_csv.dlc_csv_text('keras:m', NAMES, xy, scores, individuals=None) == expected
  assert dlc_csv.dlc_csv_text('keras:m', NAMES, list(xy), list(scores)) == expected


def test_single_animal_reader_reads_and_refuses_as_before(tmp_path):
  xy = np.array([[[1.25, 2.5], [np.nan, np.nan]]])
  path = str(tmp_path / 's.csv')
  dlc_csv.write_dlc_csv(path, 'm', NAMES, xy, np.array([[0.9, 0.0]]))
  names, frames, read_xy, likelihood = dlc_csv.read_dlc_csv(path)
  assert names == NAMES and frames.dtype == np.int64 and read_xy.shape == (1, 2, 2)
  np.testing.assert_allclose(read_xy, xy, atol=1e-3)
  np.testing.assert_allclose(likelihood, [[0.9, 0.0]])
  rows = _rows(path)
  _write_rows(path, rows + [['1', '2', 'x', '1', '', '', '0']])
  with pytest.raises(UserInputError, match=r's\.csv, row 5: not a number'):
    dlc_csv.read_dlc_csv(path)
  multi = str(tmp_path / 'm.csv')
  dlc_csv.write_dlc_csv(multi, 'm', NAMES, *_multi_data(2), individuals=INDIVIDUALS)
  with pytest.raises(UserInputError, match='not DeepLabCut'):
    dlc_csv.read_dlc_csv(multi)


def _malformed(rows, case):
  """The rows of a good 3-individual CSV, broken as `case` says."""
  rows = [list(r) for r in rows]
  if case == 'single_animal':
    del rows[1]
  elif case == 'short_row':
    rows[5] = rows[5][:-1]
  elif case == 'long_row':
    rows[6] = rows[6] + ['1']
  elif case == 'not_a_number':
    rows[5][4] = '12,5px'
  elif case == 'frame_not_integer':
    rows[6][0] = '1.5'
  elif case == 'individuals_interleaved':
    rows[1][4:7] = ['individual1'] * 3
  elif case == 'bodyparts_differ':
    rows[2][-3:] = ['ear'] * 3
  elif case == 'coords_order':
    rows[3][1:3] = ['y', 'x']
  return rows


@pytest.mark.parametrize('case, message', [
    ('single_animal', r'not DeepLabCut\'s multi-animal CSV layout .*single-animal layout'),
    ('short_row', r'row 6: 18 cells, expected 19'),
    ('long_row', r'row 7: 20 cells, expected 19'),
    ('not_a_number', r'row 6: not a number'),
    ('frame_not_integer', r'row 7: not a number'),
    ('individuals_interleaved', r'row 2: expected 3 individuals'),
    ('bodyparts_differ', r'row 3: expected 3 individuals with the same 2 bodyparts'),
    ('coords_order', r'row 4: expected'),
])
def test_malformed_multi_animal_csv_is_refused(tmp_path, case, message):
  good = str(tmp_path / 'good.csv')
  dlc_csv.write_dlc_csv(good, 'm', NAMES, *_multi_data(4), individuals=INDIVIDUALS)
  path = str(tmp_path / 'bad.csv')
  _write_rows(path, _malformed(_rows(good), case))
  with pytest.raises(UserInputError, match=r'bad\.csv(, |: )' + message):
    dlc_csv.read_multi_animal_csv(path)


def test_missing_and_undecodable_files_are_refused(tmp_path):
  with pytest.raises(UserInputError, match=r'nothing\.csv: cannot read the CSV'):
    dlc_csv.read_multi_animal_csv(str(tmp_path / 'nothing.csv'))
  binary = tmp_path / 'binary.csv'
  binary.write_bytes(b'scorer,\xff\xfe\n')
  with pytest.raises(UserInputError, match=r'binary\.csv: cannot read the CSV'):
    dlc_csv.read_multi_animal_csv(str(binary))


def test_pandas_reads_the_multi_animal_layout(tmp_path):
  pandas = pytest.importorskip('pandas')  # not a dependency: checked where it is installed
  xy, scores = _multi_data(frames=6)
  path = str(tmp_path / 'm.csv')
  dlc_csv.write_dlc_csv(path, 'synthetic', NAMES, xy, scores, individuals=INDIVIDUALS)
  frame = pandas.read_csv(path, header=[0, 1, 2, 3], index_col=0)
  assert list(frame.columns.names) == ['scorer', 'individuals', 'bodyparts', 'coords']
  assert list(frame.index) == list(range(6))
  x = frame[('synthetic', 'individual1', 'tail', 'x')].to_numpy()
  np.testing.assert_allclose(x, xy[:, 1, 1, 0], atol=1e-3)
