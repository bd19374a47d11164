"""DeepLabCut's CSV layout for keypoint tracks (results, and ground truth of the synthetic video).

Three header rows, `scorer` (the model) / `bodyparts` / `coords`, then one row per frame: the
frame index, and x, y, likelihood per keypoint; a missing point is two empty cells and likelihood
0. It parses with `pandas.read_csv(path, header=[0, 1, 2], index_col=0)`; `read_dlc_csv` reads it
without pandas.
"""

import csv
import io

import numpy as np

from core import files
from core.errors import UserInputError


def dlc_csv_text(scorer, names, xy, scores):
  """The CSV text.

  Args:
    scorer: the model's name (first header row).
    names: K keypoint names.
    xy: [T, K, 2] frame px, NaN where missing; scores: [T, K] (written 0 where missing).
  """
  out = io.StringIO()
  writer = csv.writer(out, lineterminator='\n')
  writer.writerow(['scorer'] + [scorer] * (3 * len(names)))
  writer.writerow(['bodyparts'] + [n for n in names for _ in range(3)])
  writer.writerow(['coords'] + ['x', 'y', 'likelihood'] * len(names))
  for t, (points, likelihoods) in enumerate(zip(xy, scores)):
    row = [t]
    for (x, y), p in zip(points, likelihoods):
      if np.isfinite(x) and np.isfinite(y):
        row += [f'{x:.3f}', f'{y:.3f}', f'{p:.4f}']
      else:
        row += ['', '', '0']
    writer.writerow(row)
  return out.getvalue()


def write_dlc_csv(path, scorer, names, xy, scores):
  """Writes the CSV atomically (temporary name, then rename)."""
  with files.atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8', newline='') as f:
      f.write(dlc_csv_text(scorer, names, xy, scores))


def read_dlc_csv(path):
  """Reads a CSV in DeepLabCut's layout (results, or ground truth in the same layout).

  Returns:
    (names [K], frame indices [T] int, xy [T, K, 2] NaN where empty, likelihood [T, K]).
  Raises:
    UserInputError: naming the file and row of a malformed CSV.
  """
  try:
    with open(path, encoding='utf-8', newline='') as f:
      rows = list(csv.reader(f))
  except OSError as e:
    raise UserInputError(f'{path}: cannot read the CSV ({e.strerror})') from None
  if len(rows) < 3 or [r[0] for r in rows[:3]] != ['scorer', 'bodyparts', 'coords']:
    raise UserInputError(f'{path}: not DeepLabCut\'s CSV layout (header rows scorer, '
                         f'bodyparts, coords)')
  names = rows[1][1::3]
  frames, xy, likelihood = [], [], []
  for n, row in enumerate(rows[3:], start=4):
    if len(row) != 1 + 3 * len(names):
      raise UserInputError(f'{path}, row {n}: {len(row)} cells, expected {1 + 3 * len(names)}')
    try:
      frames.append(int(row[0]))
      values = [float(v) if v != '' else np.nan for v in row[1:]]
    except ValueError as e:
      raise UserInputError(f'{path}, row {n}: not a number ({e})') from None
    values = np.array(values).reshape(len(names), 3)
    xy.append(values[:, :2])
    likelihood.append(np.nan_to_num(values[:, 2]))
  return (names, np.array(frames, np.int64), np.array(xy).reshape(-1, len(names), 2),
          np.array(likelihood).reshape(-1, len(names)))
