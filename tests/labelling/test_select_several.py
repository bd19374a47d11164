"""--mode=select_frames with several objects per frame (workflows/select_frames.py, hourglass/
labelling/tracks.py): a short synthetic 3-creature clip whose boxes file leaves creature 2 out of
some frames, analysed with identities (--detections) by the tiny untrained model or read from
predict's identity JSON; the count changes are picked, every animal of a picked frame is handed
out with its track id, and the labelme files read back per object once reviewed."""

import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from hourglass.labelling import tracks
from records.sources import synthetic_herd_video
from tests.support.flag_parsing import parse_flags

FRAMES = 30
GONE = range(12, 17)  # creature 2 has no box here: 3 -> 2 objects at 12, 2 -> 3 at 17


@pytest.fixture(scope='module')
def herd(tmp_path_factory):
  """(video path, boxes file of the true boxes without creature 2 in GONE)."""
  root = tmp_path_factory.mktemp('herd')
  video = str(root / 'herd.mp4')
  info = synthetic_herd_video.write_video(video, frames=FRAMES, seed=0, progress=False)
  with open(info['truth_json']) as f:
    boxes = json.load(f)['boxes']
  entries = {str(t): [list(b) + [0.9] for g, b in enumerate(boxes[t])
                      if not (g == 2 and t in GONE)] for t in range(FRAMES)}
  with open(root / 'boxes.json', 'w') as f:
    json.dump(entries, f)
  return video, str(root / 'boxes.json')


# The untrained model's keypoints are noise: its scores (about +-0.004) must not keep objects
# from tracks, so the boxes carry the identities.
_NOISE = '--track_min_score=-100'


@pytest.fixture(scope='module')
def predicted(tiny_bundle_dir, herd, tmp_path_factory):
  """The identity JSON --mode=predict writes for the clip with the boxes file (a dict)."""
  from modes import predict as predict_mode  # pylint: disable=g-import-not-at-top
  video, boxes = herd
  out = str(tmp_path_factory.mktemp('predicted') / 'herd.mp4')
  summary = predict_mode.run(parse_flags(
      '--mode=predict', f'--model_path={tiny_bundle_dir}', f'--input={video}',
      f'--detections={boxes}', f'--output={out}', _NOISE, '--nodraw'))
  with open(summary.json) as f:
    return dict(json.load(f), path=summary.json)


def _frame_ids(document, t):
  return sorted(o['track_id'] for o in document['frames'][t]['objects'])


def _labelme(out, t):
  with open(os.path.join(out, f'herd_{t:06d}.json')) as f:
    return json.load(f)


def _check_objects(out, t, document):
  """The labelme file of frame t holds every object of the frame as one group named by its
  track id, with the predicted keypoints; returns the file's path."""
  shapes = _labelme(out, t)['shapes']
  groups = sorted({s['group_id'] for s in shapes})
  assert groups == _frame_ids(document, t)
  names = document['keypoint_names']
  for obj in document['frames'][t]['objects']:
    written = {s['label']: s['points'][0] for s in shapes if s['group_id'] == obj['track_id']}
    assert sorted(written) == sorted(names)  # pcutoff -1: every point pre-annotated
    np.testing.assert_allclose([written[n] for n in names],
                               [obj['keypoints'][n][:2] for n in names], atol=0.011)
  return os.path.join(out, f'herd_{t:06d}.json')


def test_a_video_with_a_boxes_file_hands_out_every_animal(tiny_bundle_dir, herd, predicted,
                                                          tmp_path, capsys):
  from modes import configs  # pylint: disable=g-import-not-at-top
  from workflows import select_frames  # pylint: disable=g-import-not-at-top
  video, boxes = herd
  out = str(tmp_path / 'to_label')
  config = configs.select_frames_config(parse_flags(
      '--mode=select_frames', f'--model_path={tiny_bundle_dir}', f'--input={video}',
      f'--detections={boxes}', f'--output_dir={out}', _NOISE, '--num_frames=4',
      '--select_spacing=2', '--jump_fraction=1000', '--flip_fraction=1000'))
  # pcutoff -1 (under the flag's bound): every noise keypoint becomes a pre-annotation. Its
  # jumps and flips, measured (per identity), are then no trouble only at huge fractions.
  analysis = config.analysis
  config = dataclasses.replace(config, analysis=dataclasses.replace(
      analysis, smoothing=dataclasses.replace(analysis.smoothing, min_score=-1.0)))
  picks, written = select_frames.run(config)[video]
  printed = capsys.readouterr().out
  assert '3 identities; flip check on, per identity (3 passes)' in printed
  kinds = {p.frame: (p.kind, p.reasons) for p in picks}
  assert set(kinds) >= {12, 17}, printed
  assert kinds[12] == ('count', ['count: 2 objects (3 in the frame before)'])
  assert kinds[17] == ('count', ['count: 3 objects (2 in the frame before)'])
  with open(written['selection']) as f:
    rows = {int(r['frame']): r for r in csv.DictReader(f)}
  assert rows[12]['kind'] == 'count' and rows[12]['image'] == 'herd_000012.png'
  # Every animal of a picked frame, with the ids predict gives them (the same tracker).
  assert len(_frame_ids(predicted, 12)) == 2 and len(_frame_ids(predicted, 17)) == 3
  for p in picks:
    _check_objects(out, p.frame, predicted)
  # Marked reviewed in labelme, frame 17's three objects read back, each its own group.
  path = _check_objects(out, 17, predicted)
  doc = _labelme(out, 17)
  doc['flags']['reviewed'] = True
  with open(path, 'w') as f:
    json.dump(doc, f)
  from records.make_records import MakeRecordsConfig  # pylint: disable=g-import-not-at-top
  from records.sources import get_source  # pylint: disable=g-import-not-at-top
  data = get_source('labelme').load(MakeRecordsConfig(
      source='labelme', dataset_path=out, classes_path=os.path.join(out, 'classes.txt'),
      output_dir=str(tmp_path / 'unused')))
  got = {int(ex.record.split()[-1]): ex for ex in data.examples}
  assert sorted(got) == _frame_ids(predicted, 17)
  assert {ex.rel_path for ex in data.examples} == {'herd_000017.png'}
  names = predicted['keypoint_names']
  for obj in predicted['frames'][17]['objects']:
    ex = got[obj['track_id']]
    assert (ex.visibility == 2).all()
    np.testing.assert_allclose(ex.keypoints, [obj['keypoints'][n][:2] for n in names],
                               atol=0.011)


def test_predicts_identity_json_is_read_with_its_objects(predicted, tmp_path, capsys):
  from workflows import select_frames  # pylint: disable=g-import-not-at-top
  from workflows.config import SelectFramesConfig  # pylint: disable=g-import-not-at-top
  from hourglass.inference.config import AnalysisConfig  # pylint: disable=g-import-not-at-top
  from hourglass.inference.smoothing import SmoothingConfig  # pylint: disable=g-import-not-at-top
  from hourglass.labelling.selection import SelectConfig  # pylint: disable=g-import-not-at-top
  track = tracks.from_analysis_json(predicted['path'])
  assert track.several and track.track_ids.tolist() == [0, 1, 2]
  assert track.keypoints.shape == (FRAMES, 3, 17, 2) and track.boxes.shape == (FRAMES, 3, 4)
  assert track.scores.shape == (FRAMES, 3, 17) and track.smoothed.shape == track.keypoints.shape
  assert track.counts.tolist() == [2 if t in GONE else 3 for t in range(FRAMES)]
  gone = [n for n in range(3) if not track.present[12:17, n].any()]
  assert len(gone) == 1 and track.present[:12].all() and track.present[17:].all()
  assert np.isnan(track.keypoints[12:17, gone[0]]).all() and not track.scores[12:17, gone[0]].any()
  # The tracker's own doubt, kept per frame in the file: 1 where the identity is re-found.
  with open(predicted['path']) as f:
    assert track.doubt.tolist() == [fr['doubt'] for fr in json.load(f)['frames']]
  assert track.doubt[17] == 1.0
  out = str(tmp_path / 'from_json')
  config = SelectFramesConfig(input=predicted['path'], output_dir=out,
                              analysis=AnalysisConfig(smoothing=SmoothingConfig(min_score=-1.0)),
                              selection=SelectConfig(num_frames=3, spacing=2))
  picks, _ = select_frames.run(config)[predicted['path']]
  assert {12, 17} <= {p.frame for p in picks if p.kind == 'count'}
  assert 'flip check skipped: no --model_path' in capsys.readouterr().out
  for p in picks:
    _check_objects(out, p.frame, predicted)


def _identity_document(video, tmp_path):
  """An identity JSON over the clip: ids 4 and 7 (7 leaps 40 px in frame 8, its smoothed track
  does not; 4 is lost for good after frame 24), an object without an id in frames 14-18."""
  names = ['a', 'b', 'c']
  frames = []
  for t in range(FRAMES):
    objects = []
    for track_id, x in ((4, 100.0), (7, 300.0)):
      if track_id == 4 and t > 24:
        continue
      shift = 40.0 if (track_id == 7 and t == 8) else 0.0
      points = [[x + shift, 200.0], [x + 30 + shift, 200.0], [x + shift, 230.0]]
      objects.append({'track_id': track_id, 'box': [x - 5, 195.0, 40.0, 40.0], 'box_score': 0.9,
                      'keypoints': {n: p + [0.9] for n, p in zip(names, points)},
                      'smoothed': {n: [p[0] - shift, p[1], 0.9] for n, p in zip(names, points)}})
    if 14 <= t < 19:
      objects.append({'track_id': None, 'box': [500.0, 100.0, 40.0, 40.0], 'box_score': 0.5,
                      'keypoints': {n: [510.0, 110.0 + i, 0.9] for i, n in enumerate(names)}})
    frames.append({'frame': t, 'objects': objects})
  doc = {'input': video, 'keypoint_names': names, 'individuals': ['individual4', 'individual7'],
         'tracks': [{'id': 4, 'first': 0, 'last': 24, 'refound': 0, 'ended': True},
                    {'id': 7, 'first': 0, 'last': FRAMES - 1, 'refound': 0, 'ended': False}],
         'identity_settings': {'num_objects': None}, 'frames': frames}
  path = tmp_path / 'herd.json'
  path.write_text(json.dumps(doc))
  return str(path)


def test_a_frames_trouble_is_its_most_troubled_objects_and_names_it(herd, tmp_path):
  from hourglass.inference.config import AnalysisConfig  # pylint: disable=g-import-not-at-top
  from hourglass.inference.config import IdentityConfig  # pylint: disable=g-import-not-at-top
  from workflows import select_frames  # pylint: disable=g-import-not-at-top
  from workflows.config import SelectFramesConfig  # pylint: disable=g-import-not-at-top
  from hourglass.labelling.selection import SelectConfig  # pylint: disable=g-import-not-at-top
  path = _identity_document(herd[0], tmp_path)
  track = tracks.from_analysis_json(path)
  assert track.track_ids.tolist() == [4, 7] and track.num_objects is None
  assert track.counts.tolist() == [2] * 14 + [3] * 5 + [2] * 6 + [1] * 5
  assert np.flatnonzero(track.doubt).tolist() == [24]  # id 4's end
  out = str(tmp_path / 'out')
  config = SelectFramesConfig(input=path, output_dir=out,
                              selection=SelectConfig(num_frames=5, spacing=0))
  lines = []
  picks, _ = select_frames.run(config, log=lines.append)[path]
  by_frame = {p.frame: p for p in picks}
  assert sorted(by_frame) == [8, 14, 19, 24, 25], lines
  # The jump is id 7's: id 4 is calm in that frame, and a frame is its worst object.
  assert by_frame[8].kind == 'jump'
  assert by_frame[8].reasons[0].startswith('id 7: jump: a 40.0 px (1.33 of the object)')
  assert by_frame[14].reasons == ['count: 3 objects (2 in the frame before)']
  assert by_frame[24].reasons == [
      'identity: a track re-found, started or ended, or two animals in one box']
  assert by_frame[25].reasons == ['count: 1 object (2 in the frame before)']
  # The object without an id is handed out too, with the next free id as its group; id 4 is
  # gone at 25.
  assert {s['group_id'] for s in _labelme(out, 14)['shapes']} == {4, 7, 8}
  assert {s['group_id'] for s in _labelme(out, 25)['shapes']} == {7}
  # The expected count: the analysis' --num_objects (the file's), else --num_objects.
  with open(path) as f:
    doc = json.load(f)
  doc['identity_settings']['num_objects'] = 2
  with open(path, 'w') as f:
    json.dump(doc, f)
  config = dataclasses.replace(config, output_dir=str(tmp_path / 'two'),
                               selection=SelectConfig(num_frames=2, spacing=0))
  picks, _ = select_frames.run(config, log=lines.append)[path]
  assert [(p.frame, p.reasons) for p in picks][1] == (14, ['count: 3 objects, expected 2'])
  config = dataclasses.replace(config, output_dir=str(tmp_path / 'three'), analysis=AnalysisConfig(
      identity=IdentityConfig(num_objects=3)))
  picks, _ = select_frames.run(config, log=lines.append)[path]
  assert [(p.frame, p.reasons) for p in picks][0] == (0, ['count: 2 objects, expected 3'])


def test_the_detection_flags_reach_select_frames():
  from modes import configs  # pylint: disable=g-import-not-at-top
  config = configs.select_frames_config(parse_flags(
      '--mode=select_frames', '--input=clip.mp4', '--output_dir=out', '--detections=b.json',
      '--detector_path=det', '--max_objects=5', '--detection_score_threshold=0.4',
      '--num_objects=3'))
  assert (config.detections, config.detector_path, config.max_objects,
          config.detection_score_threshold) == ('b.json', 'det', 5, 0.4)
  assert config.analysis.identity.num_objects == 3
