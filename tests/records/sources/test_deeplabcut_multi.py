"""The DeepLabCut source (records/sources/deeplabcut.py) on a small multi-animal project: each
labelled individual in a frame one object, absent individuals counted once, unique body parts
left out, malformed multi-animal headers one AnnotationError naming file, line and column."""

import logging
import os

import cv2
import numpy as np
import pytest

from core.errors import AnnotationError
from records import schema
from records.make_records import make_records, MakeRecordsConfig
from records.sources import deeplabcut
from tests.support.records_io import read_records, to_original

ANIMALS = ('mouse1', 'mouse2', 'mouse3')
PARTS = ('nose', 'ear', 'tail')  # the CSV's order; config.yaml lists tail, nose, ear
ORDER = [2, 0, 1]  # the CSV's parts in config.yaml's order
EMPTY = None


def _config(tmp_path, **kwargs):
  kwargs.setdefault('input_shape', (64, 64))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  return MakeRecordsConfig(source='deeplabcut', output_dir=str(tmp_path / 'records'), **kwargs)


def _points(frame, animal):
  """[3, 2] points of an animal in a frame (CSV part order), apart from one another."""
  base = np.array([[40.0, 30.0], [48.0, 36.0], [60.0, 50.0]])
  return base + [30.0 * animal + 2.0 * frame, 20.0 * animal + frame]


# Per frame: per animal 'full', 'absent' or the CSV indices of its unlabelled parts; and whether
# the unique body part (led) is labelled. Frame 1: mouse2 has no ear; frame 3: no animal at all.
FRAMES = [(('full', 'full', 'full'), True), (('full', (1,), 'absent'), True),
          (('full', 'full', 'absent'), False), (('absent', 'absent', 'absent'), True)]


def _csv_lines(frames, individuals=ANIMALS, parts=PARTS):
  """The CollectedData CSV as DeepLabCut 2.2+ writes it (pandas to_csv: three index columns,
  four header rows, individual-major x, y, the unique `single` last). Returns (lines, truth):
  truth maps (file, animal) -> ([3, 2] points, [3] visibility) in the CSV's part order."""
  blocks = [(who, p) for who in individuals for p in parts] + [('single', 'led')]
  lines = [','.join(['scorer', '', ''] + ['me'] * 2 * len(blocks)),
           ','.join(['individuals', '', ''] + [w for w, _ in blocks for _ in 'xy']),
           ','.join(['bodyparts', '', ''] + [p for _, p in blocks for _ in 'xy']),
           ','.join(['coords', '', ''] + ['x', 'y'] * len(blocks))]
  truth = {}
  for n, (animals, led) in enumerate(frames):
    name, cells = f'img{n:04d}.png', []
    for a, state in enumerate(animals):
      xy, vis = _points(n, a), np.full(len(parts), 2)
      if state != 'full':
        vis[list(range(len(parts))) if state == 'absent' else list(state)] = 0
      if vis.any():
        truth[(name, individuals[a])] = xy, vis
      cells += [f'{c:.1f}' if v else '' for p, v in zip(xy, vis) for c in p]
    cells += ['150.0', '10.0'] if led else ['', '']
    lines.append(','.join(['labeled-data', 'v1', name] + cells))
  return lines, truth


def _project(root, lines, frames=len(FRAMES)):
  """A multi-animal project: config.yaml, labeled-data/v1/ frames (written with cv2) and its
  CollectedData_me.csv holding `lines`."""
  folder = root / 'labeled-data' / 'v1'
  folder.mkdir(parents=True)
  (root / 'config.yaml').write_text(
      'Task: mice\nscorer: me\nmultianimalproject: true\nindividuals:\n- mouse1\n- mouse2\n'
      '- mouse3\nuniquebodyparts:\n- led\nmultianimalbodyparts:\n- tail\n- nose\n- ear\n'
      'bodyparts: MULTI!\nskeleton:\n- - nose\n  - ear\n- - nose\n  - led\n')
  rng = np.random.default_rng(0)
  for n in range(frames):
    cv2.imwrite(str(folder / f'img{n:04d}.png'), rng.integers(0, 255, (120, 160, 3), np.uint8))
  (folder / 'CollectedData_me.csv').write_text('\n'.join(lines) + '\n')
  return folder / 'CollectedData_me.csv'


def test_each_labelled_individual_is_one_object(tmp_path):
  """Objects per image, keypoints in config.yaml's order, visibility 0 for a partially labelled
  individual's missing point, absent individuals and the unique part left out (noted once), a
  bad cell skipping its frame with the individual's body part named."""
  lines, truth = _csv_lines(FRAMES)
  lines.append(lines[-1].replace('labeled-data,v1,img0003.png,', 'labeled-data,v1,img0004.png,',
                                 1).replace(',,,,,,', ',abc,1,,,,', 1))
  root = tmp_path / 'project'
  _project(root, lines, frames=5)
  data = deeplabcut.load(_config(tmp_path, dataset_path=str(root)))
  assert data.definition.names == ('tail', 'nose', 'ear')
  assert [edge[:2] for edge in data.definition.skeleton] == [(1, 2)]  # nose-led dropped
  per_image = {}
  for ex in data.examples:
    per_image.setdefault(ex.rel_path, []).append(ex)
  assert {p: [ex.record for ex in exs] for p, exs in per_image.items()} == {
      'labeled-data/v1/img0000.png': ['line 5, mouse1', 'line 5, mouse2', 'line 5, mouse3'],
      'labeled-data/v1/img0001.png': ['line 6, mouse1', 'line 6, mouse2'],
      'labeled-data/v1/img0002.png': ['line 7, mouse1', 'line 7, mouse2']}
  for exs in per_image.values():
    assert len({ex.image_id for ex in exs}) == 1 and {ex.video for ex in exs} == {'v1'}
  assert len({ex.image_id for ex in data.examples}) == 3
  assert sorted(ex.object_id for ex in data.examples) == list(range(1, 8))
  for ex in data.examples:
    xy, vis = truth[(os.path.basename(ex.rel_path), ex.record.split(', ')[1])]
    np.testing.assert_array_equal(ex.visibility, vis[ORDER])
    np.testing.assert_allclose(ex.keypoints[ex.visibility > 0], xy[ORDER][vis[ORDER] > 0])
  partial = next(ex for ex in data.examples if ex.record == 'line 6, mouse2')
  np.testing.assert_array_equal(partial.visibility, [2, 2, 0])
  assert data.filtered == {'no_keypoints': 1}  # img0003: only the led
  assert [(s.record, s.reason) for s in data.skipped] == [
      ('line 9', "column 4 (x of mouse1's 'nose') is not a number: 'abc'")]
  notes = '\n'.join(data.notes)
  assert ('mouse1 has no label in 1 of 4 frames; mouse2 has no label in 1 of 4 frames; '
          'mouse3 has no label in 3 of 4 frames') in notes
  assert "unique body parts ['led'] (individual \"single\") belong to no animal: left out of " \
         'the objects (3 labelled points)' in notes


def test_make_records_writes_several_objects_per_image_and_warns_once(tmp_path, caplog):
  """Through make_records: one record per labelled individual, those of a frame sharing its
  path and image id, each with its own points; the absent individuals are one warning."""
  lines, truth = _csv_lines(FRAMES)
  root = tmp_path / 'project'
  _project(root, lines)
  with caplog.at_level(logging.INFO):
    manifest = make_records(_config(tmp_path, dataset_path=str(root), val_fraction=0.0))
  assert (manifest.count('train'), manifest.count('val')) == (7, 0)
  assert manifest.raw['filtered'] == {'no_keypoints': 1} and manifest.raw['skipped'] == []
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
              and 'no label in' in r.getMessage()]
  assert len(warnings) == 1
  assert 'mouse3 has no label in 3 of 4 frames' in warnings[0]
  assert 'learnt as background' in warnings[0]
  ids, objects = {}, {}
  for record in read_records(manifest, 'train'):
    name = os.path.basename(record[schema.ORIGINAL_PATH].decode())
    ids.setdefault(name, set()).add(int(record[schema.ORIGINAL_ID]))
    objects[name] = objects.get(name, 0) + 1
    vis = record[schema.KEYPOINTS_VISIBILITY]
    # Which individual: the one whose labelled points these are (they lie apart).
    matches = [a for a in ANIMALS if (name, a) in truth and np.allclose(
        to_original(record)[vis > 0], truth[(name, a)][0][ORDER][vis > 0], atol=1e-3)]
    assert len(matches) == 1
    np.testing.assert_array_equal(vis, truth[(name, matches[0])][1][ORDER])
  assert objects == {'img0000.png': 3, 'img0001.png': 2, 'img0002.png': 2}
  assert all(len(v) == 1 for v in ids.values()) and len(set().union(*ids.values())) == 3


def _header_error(tmp_path, lines):
  root = tmp_path / 'bad'
  path = _project(root, lines, frames=1)
  with pytest.raises(AnnotationError) as info:
    deeplabcut.load(_config(tmp_path, dataset_path=str(root)))
  message = str(info.value)
  assert message.startswith(f'{path}, line ') and '\n' not in message
  return message[len(str(path)) + 2:]


def test_individuals_with_different_body_parts_are_an_error(tmp_path):
  lines, _ = _csv_lines(FRAMES[:1])
  lines[2] = lines[2].replace('tail,tail,nose', 'paw,paw,nose', 1)  # mouse1's tail -> paw
  assert _header_error(tmp_path, lines) == (
      "line 2, column 10: individual 'mouse2' labels body parts ['nose', 'ear', 'tail'], "
      "'mouse1' labels ['nose', 'ear', 'paw']; every individual must label the same body parts "
      '(those of no animal go under "single")')


@pytest.mark.parametrize('edit, expected', [
    # mouse1's columns, then mouse2's, then mouse1's again.
    (lambda h: h[:1] + [h[1].replace('mouse2,mouse2,mouse2', 'mouse2,mouse2,mouse1', 1)] + h[2:],
     "line 2, column 12: individual 'mouse1' again after 'mouse2'; each individual's columns "
     'must be together'),
    (lambda h: h[:1] + [h[1].replace(',mouse1', ',', 1)] + h[2:],
     "line 2, column 4: no individual named for body part 'nose'"),
    (lambda h: h[:2] + [h[2].replace('nose,nose,ear', 'nose,ear,ear', 1)] + h[3:],
     "line 3, column 5: y of mouse1's 'ear' follows x of mouse1's 'nose'"),
    (lambda h: h[:3] + [h[3].replace('x,y', 'y,x', 1)] + h[4:],
     "line 4, column 4: expected coordinate 'x' of a named body part, got 'y' for 'nose' "
     '(likelihood columns mean machine labels, not a CollectedData file)'),
    (lambda h: [','.join(c for c in row.split(',')[:3] + row.split(',')[-2:]) for row in h],
     'line 2: only unique body parts (individual "single"); no animal to read'),
])
def test_a_malformed_multi_animal_header_names_line_and_column(tmp_path, edit, expected):
  lines, _ = _csv_lines(FRAMES[:1])
  assert _header_error(tmp_path, edit(lines[:4]) + lines[4:]) == expected


def test_single_and_multi_animal_files_do_not_mix(tmp_path):
  lines, _ = _csv_lines(FRAMES[:1])
  root = tmp_path / 'mixed'
  _project(root, lines, frames=1)
  other = root / 'labeled-data' / 'v2'
  other.mkdir()
  (other / 'CollectedData_me.csv').write_text(
      'scorer,,,me,me\nbodyparts,,,nose,nose\ncoords,,,x,y\nlabeled-data,v2,img0000.png,1,2\n')
  with pytest.raises(AnnotationError, match=r'v2/CollectedData_me.csv: a single-animal CSV, but '
                     r'\S+v1/CollectedData_me.csv is multi-animal \(individuals row\)'):
    deeplabcut.load(_config(tmp_path, dataset_path=str(root)))
