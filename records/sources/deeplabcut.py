"""DeepLabCut labelled data (`--source=deeplabcut`, single animal): a project folder or CSVs.

- Files: --annotation_path, else every `labeled-data/<video>/CollectedData_<scorer>.csv` of a
  project folder (one per labelled video; the notes count the frames of each), else the
  CollectedData_*.csv files in or under --dataset_path. Every file must label the same body
  parts. A project's `config.yaml` gives the body-part order (when it lists the CSVs' parts) and
  the skeleton.
- Frames are told apart by video: `--val_list` takes `video/img0000.png` or a whole video
  (`m4s1` or `labeled-data/m4s1`: its frames are near-duplicates, so hold the video out); a bare
  file name that several videos share is an error.
- Three header rows: `scorer`, `bodyparts`, `coords` (x, y per body part); the body part names
  become the keypoint names (DeepLabCut records no left/right pairs: they come from the names,
  leftear <-> rightear, unless --matchpoint_path gives them).
  A fourth `individuals` row means a multi-animal project: refused with a clear error.
- Rows: the image path (one column `labeled-data/<video>/img.png`, or the three index columns of
  newer DeepLabCut versions), then x, y per body part; empty (or NaN) cells are unlabelled points.
- Image paths resolve against --dataset_path; else, with one CSV, the file name under
  <dataset>/images/ (frames exported without their labeled-data folders) or beside the CSV;
  with several, beside its CSV only.
- The object box is the extent of the labelled points, enlarged by --box_margin, never below
  --box_min_side.
"""

import csv
import glob
import io
import math
import os

import numpy as np

from core.errors import AnnotationError, UserInputError
from records.example import BadExample, Example, Skip
from records.keypoint_definition import KeypointDefinition
from records.sources.common import (SourceData, relative_to, require_dir, resolve_image,
                                    side_colour)

_EMPTY = ('', 'nan', 'NaN', 'NAN')


def load(config) -> SourceData:
  root = require_dir(config.dataset_path)
  paths = _csv_files(config, root)
  project = _project_config(root)
  tables = []  # (path, leading path columns, body parts in the CSV's order, rows)
  for path in paths:
    header, rows = _read_csv(path)
    tables.append((path, *_parse_header(header, path), rows))
  names = _body_parts(tables, project)
  k = len(names)
  data = SourceData([], KeypointDefinition(tuple(names), skeleton=_skeleton(project, names)),
                    k)
  image_ids, counts = {}, {}
  for path, lead, parts, rows in tables:
    order = [parts.index(n) for n in names]
    csv_dir = os.path.dirname(path)
    # With several videos a frame is found by its own path or beside its CSV, never by its base
    # name in images/ (every video has an img0000.png).
    fallback = [csv_dir] if len(tables) > 1 else [os.path.join(root, 'images'), csv_dir]
    for row_no, row in rows:
      try:
        example = _parse_row(row, lead, len(parts), root, fallback, config)
      except BadExample as e:
        data.skipped.append(Skip(path, f'line {row_no}', str(e)))
        continue
      example.keypoints, example.visibility = example.keypoints[order], example.visibility[order]
      if not example.labelled.any():
        data.filter('no_keypoints')
        continue
      example.image_id = image_ids.setdefault(example.rel_path, len(image_ids))
      example.object_id = row_no
      example.source_file, example.record = path, f'line {row_no}'
      counts[example.video] = counts.get(example.video, 0) + 1
      data.examples.append(example)
  if len(tables) > 1:
    data.notes.append(f'{len(tables)} labelled videos: ' + ', '.join(
        f'{video or "?"} {n} frames' for video, n in counts.items()))
  return data


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
  `bodyparts` order when it lists exactly those, else in the first CSV's order."""
  first_path, _, names, _ = tables[0]
  for path, _, parts, _ in tables[1:]:
    if set(parts) != set(names):
      raise AnnotationError(f'{path}: body parts {parts} differ from {first_path}\'s {names}; '
                            f'every labelled video of a project must label the same parts')
  listed = project.get('bodyparts')
  if isinstance(listed, list) and sorted(map(str, listed)) == sorted(names):
    return [str(n) for n in listed]
  return names


def _skeleton(project, names):
  """config.yaml's `skeleton` ([[part, part], ...]) as definition edges; () when it has none."""
  edges = []
  for n, edge in enumerate(project.get('skeleton') or []):
    if not (isinstance(edge, list) and len(edge) == 2 and all(str(e) in names for e in edge)):
      raise AnnotationError(f'{project["path"]}, skeleton entry {n + 1}: expected a pair of '
                            f'body parts from {names}, got {edge!r}')
    a, b = str(edge[0]), str(edge[1])
    edges.append((names.index(a), names.index(b), side_colour(a, b)))
  return tuple(edges)


def _read_csv(path):
  try:
    with open(path, 'rb') as f:
      text = f.read().decode('utf-8-sig')
    lines = list(csv.reader(io.StringIO(text)))
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise AnnotationError(f'{path}: cannot read the DeepLabCut CSV ({e})') from None
  numbered = [(i + 1, row) for i, row in enumerate(lines) if any(c.strip() for c in row)]
  if len(numbered) < 3:
    raise AnnotationError(f'{path}: a DeepLabCut CSV needs three header rows (scorer, '
                          f'bodyparts, coords), found {len(numbered)} rows')
  return [row for _, row in numbered[:4]], numbered[3:]


def _parse_header(header, path):
  """-> (number of leading path columns, body part names) from the header rows."""
  first = [row[0].strip().lower() if row else '' for row in header]
  if len(first) > 1 and first[1] == 'individuals':
    raise AnnotationError(f'{path}: this is a multi-animal DeepLabCut project (header row '
                          f'"individuals"); only single-animal projects are supported: export '
                          f'one animal per CSV or use the COCO/labelme sources')
  if first[:3] != ['scorer', 'bodyparts', 'coords']:
    raise AnnotationError(f'{path}: the first column of the three header rows must read '
                          f'scorer, bodyparts, coords; got {first[:3]}')
  parts, coords = header[1], header[2]
  lead = next((i for i, c in enumerate(coords) if c.strip() in ('x', 'y', 'likelihood')), None)
  if lead is None or lead < 1:
    raise AnnotationError(f'{path}, line 3: no x/y columns in the coords row')
  names = []
  for i in range(lead, len(coords)):
    axis = coords[i].strip()
    name = parts[i].strip() if i < len(parts) else ''
    expected = 'x' if (i - lead) % 2 == 0 else 'y'
    if axis != expected or not name:
      raise AnnotationError(f'{path}, line 3, column {i + 1}: expected coordinate {expected!r} '
                            f'of a named body part, got {axis!r} for {name!r} (likelihood '
                            f'columns mean machine labels, not a CollectedData file)')
    if expected == 'x':
      if name in names:
        raise AnnotationError(f'{path}, line 2: body part {name!r} appears twice')
      names.append(name)
    elif name != names[-1]:
      raise AnnotationError(f'{path}, line 2, column {i + 1}: y of {name!r} follows x of '
                            f'{names[-1]!r}')
  if (len(coords) - lead) % 2:
    raise AnnotationError(f'{path}, line 3: an x column without its y column')
  return lead, names


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


def _parse_row(row, lead, k, root, fallback, config) -> Example:
  if len(row) < lead + 2 * k:
    raise BadExample(f'row has {len(row)} columns, expected {lead + 2 * k}')
  rel = '/'.join(c.strip() for c in row[:lead] if c.strip())
  image_path = resolve_image(root, rel, config.allow_outside_paths, fallback)
  xy, vis = np.zeros((k, 2)), np.zeros((k,), np.int32)
  for j in range(k):
    x = _cell(row[lead + 2 * j], f'column {lead + 2 * j + 1} (x of point {j})')
    y = _cell(row[lead + 2 * j + 1], f'column {lead + 2 * j + 2} (y of point {j})')
    if (x is None) != (y is None):
      raise BadExample(f'point {j} has only one of x and y')
    if x is not None:
      xy[j], vis[j] = (x, y), 2
  # The video is the labelled path's folder (labeled-data/<video>/img.png), whatever folder the
  # image was found in.
  video = rel.split('/')[-2] if '/' in rel else ''
  return Example(image_path=image_path, rel_path=relative_to(image_path, root), keypoints=xy,
                 visibility=vis, video=video)
