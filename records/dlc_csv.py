"""DeepLabCut's CSV layout for keypoint tracks (results, and ground truth of the synthetic videos).

Single animal: three header rows, `scorer` (the model) / `bodyparts` / `coords`, then one row per
frame: the frame index, and x, y, likelihood per keypoint; a missing point is two empty cells and
likelihood 0. It parses with `pandas.read_csv(path, header=[0, 1, 2], index_col=0)`;
`read_dlc_csv` reads it without pandas.

Multi-animal (DeepLabCut 2.2+ maDLC results): four header rows, `scorer` / `individuals` /
`bodyparts` / `coords`, the columns individual-major (x, y, likelihood of every keypoint of the
first individual, then of the second, ...). It parses with `pandas.read_csv(path,
header=[0, 1, 2, 3], index_col=0)`; `read_multi_animal_csv` reads it without pandas.
"""

import csv
import dataclasses
import io
from typing import List

import numpy as np

from core import files
from core.errors import UserInputError

_COORDS = ['x', 'y', 'likelihood']


def dlc_csv_text(scorer, names, xy, scores, individuals=None):
  """The CSV text.

  Args:
    scorer: the model's name (first header row).
    names: K keypoint names.
    xy: [T, K, 2] frame px, NaN where missing ([T, N, K, 2] with individuals).
    scores: [T, K] ([T, N, K] with individuals), written 0 where missing.
    individuals: None for the single-animal layout, else the N individuals' names (the
      multi-animal layout).
  """
  xy, scores = np.asarray(xy, np.float64), np.asarray(scores, np.float64)
  columns = [n for n in names for _ in _COORDS]
  header = [['scorer'], ['bodyparts'] + columns, ['coords'] + _COORDS * len(names)]
  if individuals is not None:
    if xy.shape[1:2] != (len(individuals),) or scores.shape[1:2] != (len(individuals),):
      raise ValueError(f'{len(individuals)} individuals, but xy {xy.shape} and scores '
                       f'{scores.shape}')
    header = [['scorer'], ['individuals'] + [i for i in individuals for _ in columns],
              ['bodyparts'] + columns * len(individuals),
              ['coords'] + _COORDS * len(names) * len(individuals)]
  header[0] += [scorer] * (len(header[-1]) - 1)
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerows(header)
  count = (len(header[-1]) - 1) // 3  # points per frame
  for t, (points, likelihoods) in enumerate(zip(xy.reshape(len(xy), count, 2),
                                                scores.reshape(len(scores), count))):
    row = [t]
    for (x, y), p in zip(points, likelihoods):
      if np.isfinite(x) and np.isfinite(y):
        row += [f'{x:.3f}', f'{y:.3f}', f'{p:.4f}']
      else:
        row += ['', '', '0']
    writer.writerow(row)
  return out.getvalue()


def write_dlc_csv(path, scorer, names, xy, scores, individuals=None):
  """Writes the CSV (dlc_csv_text's arguments) atomically (temporary name, then rename)."""
  with files.atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8', newline='') as f:
      f.write(dlc_csv_text(scorer, names, xy, scores, individuals))


def _read_rows(path):
  try:
    with open(path, encoding='utf-8', newline='') as f:
      return list(csv.reader(f))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise UserInputError(f'{path}: cannot read the CSV ({getattr(e, "strerror", None) or e})'
                         ) from None


def _parse_body(path, rows, first_row, points):
  """The frame rows after the header (rows, the first numbered first_row from 1).

  Returns:
    (frame indices int64 [T], xy [T, points, 2] NaN where empty, likelihood [T, points], 0
    where empty).
  """
  frames, values = [], []
  for n, row in enumerate(rows, start=first_row):
    if len(row) != 1 + 3 * points:
      raise UserInputError(f'{path}, row {n}: {len(row)} cells, expected {1 + 3 * points}')
    try:
      frames.append(int(row[0]))
      values.append([float(v) if v != '' else np.nan for v in row[1:]])
    except ValueError as e:
      raise UserInputError(f'{path}, row {n}: not a number ({e})') from None
  values = np.array(values, np.float64).reshape(-1, points, 3)
  return np.array(frames, np.int64), values[..., :2], np.nan_to_num(values[..., 2])


def read_dlc_csv(path):
  """Reads a CSV in DeepLabCut's single-animal layout (results, or ground truth).

  Returns:
    (names [K], frame indices [T] int, xy [T, K, 2] NaN where empty, likelihood [T, K]).
  Raises:
    UserInputError: naming the file and row of a malformed CSV.
  """
  rows = _read_rows(path)
  if len(rows) < 3 or [r[:1] for r in rows[:3]] != [['scorer'], ['bodyparts'], ['coords']]:
    raise UserInputError(f'{path}: not DeepLabCut\'s CSV layout (header rows scorer, '
                         f'bodyparts, coords)')
  names = rows[1][1::3]
  frames, xy, likelihood = _parse_body(path, rows[3:], 4, len(names))
  return names, frames, xy, likelihood


@dataclasses.dataclass
class MultiAnimalCsv:
  """A multi-animal CSV's content: N individuals, K keypoints, T frames."""
  individuals: List[str]
  names: List[str]
  frames: np.ndarray      # int64 [T]: the index column
  xy: np.ndarray          # float64 [T, N, K, 2], NaN where empty
  likelihood: np.ndarray  # float64 [T, N, K], 0 where empty


def read_multi_animal_csv(path):
  """Reads a CSV in DeepLabCut's multi-animal layout (maDLC results, or ground truth).

  Returns:
    MultiAnimalCsv.
  Raises:
    UserInputError: naming the file and row of a malformed CSV (a single-animal CSV included).
  """
  rows = _read_rows(path)
  labels = [r[:1] for r in rows[:4]]
  if labels != [['scorer'], ['individuals'], ['bodyparts'], ['coords']]:
    single = labels[:3] == [['scorer'], ['bodyparts'], ['coords']]
    raise UserInputError(
        f'{path}: not DeepLabCut\'s multi-animal CSV layout (header rows scorer, individuals, '
        f'bodyparts, coords)' + ('; this is the single-animal layout, without the individuals '
                                 'row' if single else ''))
  individuals = list(dict.fromkeys(rows[1][1:]))
  columns = len(rows[1]) - 1
  if not individuals or columns % (3 * len(individuals)):
    raise UserInputError(f'{path}, row 2: {columns} individuals cells, not 3 per keypoint of '
                         f'each individual')
  names = rows[2][1:columns // len(individuals) + 1:3]
  expected = (['individuals'] + [i for i in individuals for _ in range(3 * len(names))],
              ['bodyparts'] + [n for n in names for _ in _COORDS] * len(individuals),
              ['coords'] + _COORDS * len(names) * len(individuals))
  for n, (row, want) in enumerate(zip(rows[1:4], expected), start=2):
    if row != want:
      raise UserInputError(f'{path}, row {n}: expected {len(individuals)} individuals with the '
                           f'same {len(names)} bodyparts each, in blocks (x, y, likelihood)')
  frames, xy, likelihood = _parse_body(path, rows[4:], 5, len(individuals) * len(names))
  shape = (len(frames), len(individuals), len(names))
  return MultiAnimalCsv(individuals, names, frames, xy.reshape(shape + (2,)),
                        likelihood.reshape(shape))
