"""--mode=select_frames end to end (modes/select_frames.py, hourglass/labelling/handout.py,
tracks.py) on the shared openfield video with a tiny untrained COCO model, and the corrected
frames read back by make_records; the reading of a --mode=predict analysis JSON."""

import csv
import dataclasses
import json
import os

import cv2
import numpy as np
import pytest

from core.errors import RecordsError, UserInputError
from hourglass.labelling import tracks
from tests.support.flag_parsing import parse_flags


@pytest.mark.parametrize('tool', ['labelme', 'cvat'])
def test_select_frames_writes_the_tool_files_and_they_read_back(shared_data, tiny_bundle_dir,
                                                                 tmp_path, tool, capsys):
  from modes import select_frames
  from records.make_records import make_records, MakeRecordsConfig
  clip = os.path.join(shared_data, 'openfield', 'm3v1mp4.mp4')
  out = str(tmp_path / 'to_label')
  # --pcutoff=0: the untrained model's keypoints all become pre-annotations.
  values = parse_flags(f'--model_path={tiny_bundle_dir}', f'--input={clip}', '--num_frames=3',
                        f'--label_tool={tool}', f'--output_dir={out}', '--max_frames=12',
                        '--pcutoff=0', '--search_every=0')
  results = select_frames.run(values)
  picks, written = results[clip]
  printed = capsys.readouterr().out
  assert f'{clip}: 3 of 12 frames chosen' in printed and 'flip check on' in printed
  assert f'--source={tool} --dataset_path={out}' in printed
  for p in picks:
    assert f'  frame {p.frame}: trouble {p.trouble:.2f}: ' in printed and p.reasons
  names = [f'm3v1mp4_{p.frame:06d}.png' for p in picks]
  assert set(names) <= set(os.listdir(out))
  first = cv2.imread(os.path.join(out, names[0]))
  assert first.shape == (480, 640, 3)
  with open(written['selection']) as f:
    rows = list(csv.DictReader(f))
  assert [r['image'] for r in rows] == names and all(r['reasons'] for r in rows)
  with open(os.path.join(out, 'classes.txt')) as f:
    classes = f.read().split()
  assert classes[0] == 'nose' and len(classes) == 17
  # Nothing corrected: the untouched pre-annotations are no labels, and the error says so.
  annotation = {'labelme': None, 'cvat': os.path.join(out, 'annotations.xml')}[tool]
  config = MakeRecordsConfig(
      source=tool, dataset_path=out, annotation_path=annotation,
      classes_path=os.path.join(out, 'classes.txt'), output_dir=str(tmp_path / 'records'),
      val_fraction=0.0, input_shape=(64, 64), num_workers=1, box_min_side=4.0)
  with pytest.raises(RecordsError, match=r'no example was written[^$]*3 of 3 frames had '
                                         r'untouched model points: \d+ points left '
                                         r'unlabelled, 3 frames skipped'):
    make_records(config)
  # Accepted as they are, they read back into records.
  manifest = make_records(dataclasses.replace(config, accept_unreviewed=True))
  assert manifest.count('train') + manifest.count('val') == 3
  assert manifest.definition.names == tuple(classes)


def test_a_predict_analysis_json_is_read_with_its_raw_and_smoothed_points(tmp_path):
  clip = tmp_path / 'clip.mp4'
  clip.write_bytes(b'')  # only its existence is checked here
  frames = [{'frame': t, 'how': 'track',
             'keypoints': {'a': [1.0 + t, 2.0, 0.9], 'b': None},
             'smoothed': {'a': [1.5 + t, 2.0, 0.9], 'b': None}} for t in range(3)]
  doc = {'keypoint_names': ['a', 'b'], 'input': str(clip), 'frames': frames}
  path = tmp_path / 'clip_keypoints.json'
  path.write_text(json.dumps(doc))
  track = tracks.from_analysis_json(str(path))
  assert track.kind == 'video' and track.names == ['a', 'b'] and track.spec == str(clip)
  np.testing.assert_allclose(track.keypoints[:, 0], [[1, 2], [2, 2], [3, 2]])
  np.testing.assert_allclose(track.scores, [[0.9, 0.0]] * 3)
  assert np.all(np.isnan(track.keypoints[:, 1])) and np.all(np.isnan(track.smoothed[:, 1]))
  np.testing.assert_allclose(track.smoothed[:, 0, 0], [1.5, 2.5, 3.5])
  path.write_text(json.dumps({'frames': []}))
  with pytest.raises(UserInputError, match='not a --mode=predict video analysis JSON'):
    tracks.from_analysis_json(str(path))
  doc['input'] = str(tmp_path / 'gone.mp4')
  path.write_text(json.dumps(doc))
  with pytest.raises(UserInputError, match='gone.mp4 .field "input". does not exist'):
    tracks.from_analysis_json(str(path))


def _folder_of_frames(folder, frames=3, width=96, height=64):
  os.makedirs(folder)
  for t in range(frames):
    cv2.imwrite(os.path.join(folder, f'frame{t}.png'), np.zeros((height, width, 3), np.uint8))
  return folder


def test_several_objects_are_handed_out_each_with_its_track_id(tmp_path):
  """keypoints [T, N, K, 2] with N = 3 (track ids 3, 7, 9), the second absent in frame 1: every
  present object is one group of the tool's file, and selection.png draws them all."""
  from hourglass.labelling import handout, selection
  from records.keypoint_definition import KeypointDefinition
  spec = _folder_of_frames(str(tmp_path / 'frames'))
  definition = KeypointDefinition(('a', 'b', 'c'),
                                  skeleton=((0, 1, (255, 0, 0)), (1, 2, (0, 255, 0))))
  base = np.array([[4.0, 30.0], [10.0, 30.0], [10.0, 38.0]])  # under the sheet's title strip
  keypoints = np.stack([np.stack([base + [30.0 * j + t, 20.0 * (j % 2)] for j in range(3)])
                        for t in range(3)])  # [T, N, K, 2]
  scores = np.full((3, 3, 3), 0.9)
  keypoints[1, 1], scores[1, 1] = np.nan, 0.0  # object 1 absent in frame 1
  scores[0, 2, 2] = 0.1  # under pcutoff: no pre-annotation
  boxes = np.concatenate([keypoints.min(2) - 2, keypoints.max(2) - keypoints.min(2) + 4], -1)
  picks = [selection.Pick(0, 0.5, 'count', ['count: 3 objects (2 in the frame before)']),
           selection.Pick(1, 0.4, 'confidence', ['x'])]
  out = str(tmp_path / 'out')
  written = handout.hand_out(spec, picks, keypoints, scores, 0.4, 'labelme', out, definition,
                             track_ids=[3, 7, 9], boxes=boxes)
  groups = []
  for path in sorted(written['labelme']):
    with open(path) as f:
      shapes = json.load(f)['shapes']
    groups.append({g: sorted(s['label'] for s in shapes if s['group_id'] == g)
                   for g in {s['group_id'] for s in shapes}})
  assert groups == [{3: ['a', 'b', 'c'], 7: ['a', 'b', 'c'], 9: ['a', 'b']},
                    {3: ['a', 'b', 'c'], 9: ['a', 'b', 'c']}]
  with open(written['selection']) as f:
    rows = list(csv.DictReader(f))
  assert rows[0]['kind'] == 'count' and rows[0]['reasons'].startswith('count: ')
  # The sheet: every present object drawn (its points' pixels no longer black).
  sheet = cv2.imread(written['sheet'])
  assert sheet is not None
  pixels = {t: np.zeros((64, 96, 3), np.uint8) for t in (0, 1)}
  drawn = handout.contact_sheet(str(tmp_path / 'sheet.png'), picks[:1], pixels, keypoints,
                                scores, definition, 0.4, width=96, track_ids=[3, 7, 9])
  tile = cv2.imread(drawn)
  for j in range(3):
    x, y = keypoints[0, j, 0].round().astype(int)
    assert tile[y - 1:y + 2, x - 1:x + 2].any(), j
  # Label Studio: one rectangle per present object, named by its track id, parents of its points.
  written = handout.hand_out(spec, picks, keypoints, scores, 0.4, 'label_studio',
                             str(tmp_path / 'ls'), definition, track_ids=[3, 7, 9], boxes=boxes)
  with open(written['tasks']) as f:
    tasks = json.load(f)
  assert [[r['id'] for r in t['predictions'][0]['result'] if r['type'] == 'rectanglelabels']
          for t in tasks] == [['obj0_3', 'obj0_7', 'obj0_9'], ['obj1_3', 'obj1_9']]
  # The one-object arrays [T, K, 2] / [T, K] still give one ungrouped object.
  written = handout.hand_out(spec, picks, keypoints[:, 0], scores[:, 0], 0.4, 'labelme',
                             str(tmp_path / 'one'), definition)
  with open(sorted(written['labelme'])[0]) as f:
    assert {s['group_id'] for s in json.load(f)['shapes']} == {None}
