"""DeepLabCut labelled data (`--source=deeplabcut`): a project folder or CSVs, single- or
multi-animal.

- Files: --annotation_path, else every `labeled-data/<video>/CollectedData_<scorer>.csv` of a
  project folder (one per labelled video; the notes count the frames of each), else the
  CollectedData_*.csv files in or under --dataset_path. Every file must label the same body
  parts, and all are single-animal or all multi-animal. A project's `config.yaml` gives the
  body-part order (`bodyparts`, or `multianimalbodyparts` in a multi-animal project, when it
  lists the CSVs' parts) and the skeleton.
- Frames are told apart by video: `--val_list` takes `video/img0000.png` or a whole video
  (`m4s1` or `labeled-data/m4s1`: its frames are near-duplicates, so hold the video out); a bare
  file name that several videos share is an error.
- Single-animal: three header rows `scorer`, `bodyparts`, `coords` (x, y per body part); the
  body part names become the keypoint names (DeepLabCut records no left/right pairs: they come
  from the names, leftear <-> rightear, unless --matchpoint_path gives them). One object per
  frame.
- Multi-animal (config.yaml `multianimalproject: true`): four header rows `scorer`,
  `individuals`, `bodyparts`, `coords`; each individual's x, y columns together, one after the
  other, every individual with the same body parts (the keypoints). Each individual labelled in
  a frame is one object of that frame, as COCO's people are (same image, own box, own record):
  records, detector and training see several objects per image. Its unlabelled points have
  visibility 0. An individual with no labelled point in a frame is no object there (an animal
  out of view is normal): one warning counts such frames per individual ("mouse2 has no label in
  14 of 120 frames"), since an animal in view but unlabelled is learnt as background.
- Unique body parts (individual `single`, config.yaml `uniquebodyparts`: an arena corner, a
  LED) belong to no animal: they are left out, with one note saying so and how many points were
  labelled; skeleton edges that name them are dropped. A file with only `single` is an error.
- Rows: the image path (one column `labeled-data/<video>/img.png`, or the three index columns of
  newer DeepLabCut versions), then x, y per body part; empty (or NaN) cells are unlabelled points.
- Image paths resolve against --dataset_path; else, with one CSV, the file name under
  <dataset>/images/ (frames exported without their labeled-data folders) or beside the CSV;
  with several, beside its CSV only.
- The object box is the extent of the labelled points, enlarged by --box_margin, never below
  --box_min_side.
- Header errors (rows, individuals, body parts, columns out of order) are one AnnotationError
  naming the file, line and column.
"""

import collections
import csv
import dataclasses
import glob
import io
import logging
import math
import os
from typing import Dict, List, Tuple

import numpy as np

from core.errors import AnnotationError, UserInputError
from records.example import BadExample, Example, Skip
from records.keypoint_definition import KeypointDefinition
from records.sources.common import (SourceData, relative_to, require_dir, resolve_image,
                                    side_colour)

log = logging.getLogger(__name__)

_EMPTY = ('', 'nan', 'NaN', 'NAN')
# The first column of the header rows: single-animal (False) and multi-animal (True) files.
_HEADER = {False: ('scorer', 'bodyparts', 'coords'),
           True: ('scorer', 'individuals', 'bodyparts', 'coords')}
_UNIQUE = 'single'  # DeepLabCut's individual for the unique body parts


@dataclasses.dataclass
class _Table:
  """One CollectedData CSV.

  Attributes:
    path: the file.
    multi: whether it has the `individuals` header row.
    lead: the number of leading image-path columns.
    pairs: (individual, body part) per x/y column pair (the unique body parts' included).
    columns: individual ('' in a single-animal file) -> {body part: index of its x/y pair}, in
      the CSV's order; the unique body parts are not in it.
    unique: {unique body part: pair index} (the individual `single`), else {}.
    rows: [(line number, cells)] of the data rows.
  """
  path: str
  multi: bool
  lead: int
  pairs: List[Tuple[str, str]]
  columns: Dict[str, Dict[str, int]]
  unique: Dict[str, int]
  rows: List[Tuple[int, List[str]]]

  @property
  def parts(self) -> List[str]:
    return list(next(iter(self.columns.values())))


@dataclasses.dataclass
class _Tally:
  """Per individual, the frames read and those it has no label in; labelled unique points."""
  frames: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  absent: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  unique_points: int = 0


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  tables = [_read_table(path) for path in _csv_files(config, root)]
  project = _project_config(root)
  names = _body_parts(tables, project)
  unique = list(dict.fromkeys(n for t in tables for n in t.unique))
  data = SourceData([], KeypointDefinition(tuple(names), skeleton=_skeleton(
      project, names, set(unique) - set(names))), len(names))
  image_ids, counts, tally = {}, collections.Counter(), _Tally()
  for table in tables:
    csv_dir = os.path.dirname(table.path)
    # With several videos a frame is found by its own path or beside its CSV, never by its base
    # name in images/ (every video has an img0000.png).
    fallback = [csv_dir] if len(tables) > 1 else [os.path.join(root, 'images'), csv_dir]
    for row_no, row in table.rows:
      try:
        frame = _parse_row(row, table.lead, table.pairs, root, fallback, config)
      except BadExample as e:
        data.skipped.append(Skip(table.path, f'line {row_no}', str(e)))
        continue
      objects = _objects(frame, table, names, tally)
      if not objects:
        data.filter('no_keypoints')
        continue
      image_id = image_ids.setdefault(frame.rel_path, len(image_ids))
      for individual, example in objects:
        # Single-animal records keep their line as object id; individuals are numbered 1...
        example.object_id = len(data.examples) + 1 if table.multi else row_no
        example.image_id, example.source_file = image_id, table.path
        example.record = f'line {row_no}, {individual}' if table.multi else f'line {row_no}'
        data.examples.append(example)
      counts[frame.video] += 1
  _add_notes(data, tables, counts, tally, unique)
  return data


def _objects(frame: Example, table: _Table, names, tally: _Tally):
  """[(individual, Example)] of the individuals labelled in a frame read with every x/y pair of
  its row (keypoints [P, 2], visibility [P]); each Example holds [K, 2] / [K] in `names`'
  order, visibility 0 where that individual's point is unlabelled."""
  objects = []
  for individual, columns in table.columns.items():
    order = [columns[n] for n in names]
    visibility = frame.visibility[order]
    tally.frames[individual] += 1
    if not visibility.any():
      tally.absent[individual] += 1
      continue
    objects.append((individual, dataclasses.replace(frame, keypoints=frame.keypoints[order],
                                                    visibility=visibility)))
  tally.unique_points += int((frame.visibility[list(table.unique.values())] > 0).sum())
  return objects


def _add_notes(data, tables, counts, tally, unique) -> None:
  if len(tables) > 1:
    data.notes.append(f'{len(tables)} labelled videos: ' + ', '.join(
        f'{video or "?"} {n} frames' for video, n in counts.items()))
  if not tables[0].multi:
    return
  data.notes.append(f'multi-animal DeepLabCut: {len(tally.frames)} individuals '
                    f'({", ".join(tally.frames)}); each one labelled in a frame is an object: '
                    f'{len(data.examples)} objects in {sum(counts.values())} frames')
  missing = [f'{who} has no label in {tally.absent[who]} of {n} frames'
             for who, n in tally.frames.items() if tally.absent[who]]
  if missing:
    data.notes.append(f'warning: individuals without a label in some frames are no object '
                      f'there (fine for an animal out of view; one in view but unlabelled is '
                      f'learnt as background): {"; ".join(missing)}')
    log.warning(data.notes[-1])
  if unique:
    data.notes.append(f'unique body parts {unique} (individual "{_UNIQUE}") belong to no '
                      f'animal: left out of the objects ({tally.unique_points} labelled points)')


def _csv_files(config, root):
  """--annotation_path, else every labeled-data/<video>/CollectedData_*.csv of a project (one
  per labelled video), else the CollectedData_*.csv files in or under --dataset_path."""
  if config.annotation_path:
    if not os.path.isfile(config.annotation_path):
      raise UserInputError(f'--annotation_path={config.annotation_path}: not a file')
    return [os.path.abspath(config.annotation_path)]
  found = sorted(glob.glob(os.path.join(root, 'labeled-data', '*', 'CollectedData_*.csv')) or
                 glob.glob(os.path.join(root, 'CollectedData_*.csv')) or
                 glob.glob(os.path.join(root, '**', 'CollectedData_*.csv'), recursive=True))
  if not found:
    raise UserInputError(f'--dataset_path={root}: no CollectedData_*.csv found; give '
                         f'--annotation_path (DeepLabCut .h5 files are not read: export CSV)')
  return found


def _project_config(root):
  """The project's config.yaml as a dict ({} when there is none)."""
  path = os.path.join(root, 'config.yaml')
  if not os.path.isfile(path):
    return {}
  import yaml  # pylint: disable=g-import-not-at-top
  try:
    with open(path, encoding='utf-8') as f:
      project = yaml.safe_load(f)
  except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
    raise AnnotationError(f'{path}: cannot read the DeepLabCut project config ({e})') from None
  if not isinstance(project, dict):
    raise AnnotationError(f'{path}: expected a DeepLabCut project config (a mapping)')
  project['path'] = path
  return project


def _body_parts(tables, project):
  """The keypoint names: the body parts of every CSV (the same set in each), in config.yaml's
  `bodyparts` (multi-animal: `multianimalbodyparts`) order when it lists exactly those, else in
  the first CSV's order."""
  first = tables[0]
  names = first.parts
  for table in tables[1:]:
    if table.multi != first.multi:
      kinds = {True: 'multi-animal (individuals row)', False: 'single-animal'}
      raise AnnotationError(f'{table.path}: a {kinds[table.multi]} CSV, but {first.path} is '
                            f'{kinds[first.multi]}; every labelled video must be of one kind')
    if set(table.parts) != set(names):
      raise AnnotationError(f'{table.path}: body parts {table.parts} differ from '
                            f'{first.path}\'s {names}; every labelled video of a project must '
                            f'label the same parts')
  listed = project.get('multianimalbodyparts' if first.multi else 'bodyparts')
  if isinstance(listed, list) and sorted(map(str, listed)) == sorted(names):
    return [str(n) for n in listed]
  return names


def _skeleton(project, names, left_out=frozenset()):
  """config.yaml's `skeleton` ([[part, part], ...]) as definition edges; () when it has none.
  Edges that name a body part in `left_out` (the unique ones) are dropped."""
  edges = []
  for n, edge in enumerate(project.get('skeleton') or []):
    if isinstance(edge, list) and any(str(e) in left_out for e in edge):
      continue
    if not (isinstance(edge, list) and len(edge) == 2 and all(str(e) in names for e in edge)):
      raise AnnotationError(f'{project["path"]}, skeleton entry {n + 1}: expected a pair of '
                            f'body parts from {names}, got {edge!r}')
    a, b = str(edge[0]), str(edge[1])
    edges.append((names.index(a), names.index(b), side_colour(a, b)))
  return tuple(edges)


def _read_table(path) -> _Table:
  """Reads a CollectedData CSV and checks its header rows."""
  try:
    with open(path, 'rb') as f:
      text = f.read().decode('utf-8-sig')
    lines = list(csv.reader(io.StringIO(text)))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise AnnotationError(f'{path}: cannot read the DeepLabCut CSV ({e})') from None
  numbered = [(i + 1, row) for i, row in enumerate(lines) if any(c.strip() for c in row)]
  first = [row[0].strip().lower() if row else '' for _, row in numbered[:4]]
  multi = len(first) > 1 and first[1] == 'individuals'
  expected = _HEADER[multi]
  if len(numbered) < len(expected):
    raise AnnotationError(f'{path}: a DeepLabCut CSV needs {len(expected)} header rows '
                          f'({", ".join(expected)}), found {len(numbered)} rows')
  if first[:len(expected)] != list(expected):
    raise AnnotationError(f'{path}: the first column of the {len(expected)} header rows must '
                          f'read {", ".join(expected)}; got {first[:len(expected)]}')
  header = dict(zip(expected, numbered))
  lead, pairs = _pairs(header, path)
  columns, unique = _individuals(pairs, header, lead, path)
  return _Table(path, multi, lead, pairs, columns, unique, numbered[len(expected):])


def _pairs(header, path):
  """-> (number of leading path columns, [(individual, body part)] per x/y column pair); the
  individual is '' without an individuals row.

  Args:
    header: {'scorer' | 'individuals' | 'bodyparts' | 'coords': (line number, cells)}.
  """
  (coords_no, coords), (parts_no, parts) = header['coords'], header['bodyparts']
  who_no, who_row = header.get('individuals', (parts_no, []))
  lead = next((i for i, c in enumerate(coords) if c.strip() in ('x', 'y', 'likelihood')), None)
  if lead is None or lead < 1:
    raise AnnotationError(f'{path}, line {coords_no}: no x/y columns in the coords row')
  pairs = []
  for i in range(lead, len(coords)):
    axis, name = coords[i].strip(), _cell_text(parts, i)
    pair = (_cell_text(who_row, i), name)
    expected = 'x' if (i - lead) % 2 == 0 else 'y'
    where = f'{path}, line {parts_no}, column {i + 1}'
    if axis != expected or not name:
      raise AnnotationError(f'{path}, line {coords_no}, column {i + 1}: expected coordinate '
                            f'{expected!r} of a named body part, got {axis!r} for {name!r} '
                            f'(likelihood columns mean machine labels, not a CollectedData '
                            f'file)')
    if 'individuals' in header and not pair[0]:
      raise AnnotationError(f'{path}, line {who_no}, column {i + 1}: no individual named for '
                            f'body part {name!r}')
    if expected == 'y':
      if pair != pairs[-1]:
        raise AnnotationError(f'{where}: y of {_label(pair)} follows x of {_label(pairs[-1])}')
      continue
    if pairs and pair[0] != pairs[-1][0] and any(p[0] == pair[0] for p in pairs):
      raise AnnotationError(f'{path}, line {who_no}, column {i + 1}: individual {pair[0]!r} '
                            f'again after {pairs[-1][0]!r}; each individual\'s columns must '
                            f'be together')
    if pair in pairs:
      raise AnnotationError(f'{where}: body part {_label(pair)} appears twice')
    pairs.append(pair)
  if (len(coords) - lead) % 2:
    raise AnnotationError(f'{path}, line {coords_no}: an x column without its y column')
  return lead, pairs


def _individuals(pairs, header, lead, path):
  """-> (individual -> {body part: pair index}, {unique body part: pair index}).

  Raises:
    AnnotationError: no animal (only `single`), or individuals with different body parts.
  """
  columns, unique = {}, {}
  for n, (who, name) in enumerate(pairs):
    if who == _UNIQUE:
      unique[name] = n
    else:
      columns.setdefault(who, {})[name] = n
  line = header.get('individuals', header['bodyparts'])[0]
  if not columns:
    raise AnnotationError(f'{path}, line {line}: only unique body parts (individual '
                          f'"{_UNIQUE}"); no animal to read')
  first, parts = next(iter(columns.items()))
  for who, theirs in columns.items():
    if set(theirs) != set(parts):
      column = lead + 2 * min(theirs.values()) + 1
      raise AnnotationError(f'{path}, line {line}, column {column}: individual {who!r} labels '
                            f'body parts {list(theirs)}, {first!r} labels {list(parts)}; every '
                            f'individual must label the same body parts (those of no animal '
                            f'go under "{_UNIQUE}")')
  return columns, unique


def _cell_text(row, i):
  return row[i].strip() if i < len(row) else ''


def _label(pair):
  """'nose' or mouse1's 'nose' (a body part in an error message)."""
  return f'{pair[0]}\'s {pair[1]!r}' if pair[0] else repr(pair[1])


def _cell(value, what):
  value = value.strip()
  if value in _EMPTY:
    return None
  try:
    out = float(value)
  except ValueError:
    raise BadExample(f'{what} is not a number: {value!r:.40}') from None
  if not math.isfinite(out):
    raise BadExample(f'{what} is not finite: {value!r}')
  return out


def _parse_row(row, lead, pairs, root, fallback, config) -> Example:
  """One data row -> an Example with all its x/y pairs (keypoints [P, 2], visibility [P]).

  Args:
    pairs: (individual, body part) of each of the P x/y column pairs (for the messages).
  """
  k = len(pairs)
  if len(row) < lead + 2 * k:
    raise BadExample(f'row has {len(row)} columns, expected {lead + 2 * k}')
  rel = '/'.join(c.strip() for c in row[:lead] if c.strip())
  image_path = resolve_image(root, rel, config.allow_outside_paths, fallback)
  xy, vis = np.zeros((k, 2)), np.zeros((k,), np.int32)
  for j in range(k):
    x = _cell(row[lead + 2 * j], f'column {lead + 2 * j + 1} (x of {_label(pairs[j])})')
    y = _cell(row[lead + 2 * j + 1], f'column {lead + 2 * j + 2} (y of {_label(pairs[j])})')
    if (x is None) != (y is None):
      raise BadExample(f'{_label(pairs[j])} has only one of x and y')
    if x is not None:
      xy[j], vis[j] = (x, y), 2
  # The video is the labelled path's folder (labeled-data/<video>/img.png), whatever folder the
  # image was found in.
  video = rel.split('/')[-2] if '/' in rel else ''
  return Example(image_path=image_path, rel_path=relative_to(image_path, root), keypoints=xy,
                 visibility=vis, video=video)
