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
