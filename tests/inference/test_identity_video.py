"""A short synthetic 3-creature clip tracked end to end by --mode=predict with a boxes file
(hourglass.inference.identity_files): identities kept through the clip, the multi-animal CSVs,
the JSON with track ids, the labelled video and plot, and what a wrong --num_objects says."""

import json
import logging
import os

import cv2
import numpy as np
import pytest

from records import dlc_csv
from records.sources import synthetic_herd_video
from tests.support.flag_parsing import parse_flags

FRAMES = 40


@pytest.fixture(scope='module')
def herd_clip(tmp_path_factory):
  """(video path, truth boxes [T, 3, 4]) of the first FRAMES frames of the synthetic video, and a
  boxes file of the true boxes in which creature 2 is missing from frames 20-24."""
  root = tmp_path_factory.mktemp('herd')
  video = str(root / 'herd.mp4')
  info = synthetic_herd_video.write_video(video, frames=FRAMES, seed=0, progress=False)
  with open(info['truth_json']) as f:
    boxes = np.array(json.load(f)['boxes'], np.float64)
  entries = {str(t): [list(b) + [0.9] for g, b in enumerate(boxes[t])
                      if not (g == 2 and 20 <= t < 25)] for t in range(FRAMES)}
  with open(root / 'boxes.json', 'w') as f:
    json.dump(entries, f)
  return video, boxes, str(root / 'boxes.json')


def _predict(tiny_bundle_dir, herd_clip, out, *flags):
  from modes import predict as predict_mode  # pylint: disable=g-import-not-at-top
  video, _, boxes = herd_clip
  # The untrained model's keypoints are noise: its scores must not keep objects from tracks
  # (--track_min_score), so the boxes carry the identities here.
  return predict_mode.run(parse_flags(
      '--mode=predict', f'--model_path={tiny_bundle_dir}', f'--input={video}',
      f'--detections={boxes}', f'--output={out}', '--track_min_score=-100', *flags))


def test_identities_through_a_clip(tiny_bundle_dir, herd_clip, tmp_path):
  _, truth_boxes, _ = herd_clip
  out = str(tmp_path / 'tracked.mp4')
  summary = _predict(tiny_bundle_dir, herd_clip, out)
  assert summary.frames == FRAMES and summary.objects == 3 * FRAMES - 5
  stem = str(tmp_path / 'tracked')
  with open(f'{stem}.json') as f:
    document = json.load(f)
  frames = document['frames']
  assert [f['frame'] for f in frames] == list(range(FRAMES))
  # Each creature keeps one id through the clip, also after its 5 frames without a box.
  ids = {}
  for t, frame in enumerate(frames):
    for obj in frame['objects']:
      g = int(np.argmin(np.abs(truth_boxes[t, :, :2] - obj['box'][:2]).sum(axis=1)))
      ids.setdefault(g, set()).add(obj['track_id'])
  assert [len(ids[g]) for g in range(3)] == [1, 1, 1] and None not in set.union(*ids.values())
  assert len(set.union(*ids.values())) == 3
  tracks = {t['id']: t for t in document['tracks']}
  assert sum(t['refound'] for t in tracks.values()) == 1
  # The raw CSV in DeepLabCut's multi-animal layout holds each identity's keypoints of the JSON.
  csv = dlc_csv.read_multi_animal_csv(f'{stem}.csv')
  assert csv.individuals == document['individuals'] == [f'individual{i}' for i in sorted(tracks)]
  assert csv.xy.shape == (FRAMES, 3, 17, 2) and list(csv.frames) == list(range(FRAMES))
  names = document['keypoint_names']
  for t in (0, 22, FRAMES - 1):
    for obj in frames[t]['objects']:
      n = csv.individuals.index(f'individual{obj["track_id"]}')
      xy = np.array([obj['keypoints'][k][:2] for k in names])
      np.testing.assert_allclose(csv.xy[t, n], xy, atol=0.01)
  g2 = csv.individuals.index(f'individual{ids[2].pop()}')
  assert np.isnan(csv.xy[20:25, g2]).all() and (csv.likelihood[20:25, g2] == 0).all()
  filtered = dlc_csv.read_multi_animal_csv(f'{stem}_filtered.csv')
  assert filtered.individuals == csv.individuals
  # The labelled video (every frame) and the plot.
  capture = cv2.VideoCapture(out)
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
  assert os.path.getsize(f'{stem}_tracking.png') > 10000
  assert '3 identities' in summary.summaries[0] and 'objects per frame 2.88' in summary.summaries[0]


def test_num_objects_above_what_the_frames_show(tiny_bundle_dir, herd_clip, tmp_path, caplog):
  out = str(tmp_path / 'five.mp4')
  with caplog.at_level(logging.WARNING):
    summary = _predict(tiny_bundle_dir, herd_clip, out, '--num_objects=5', '--nodraw')
  assert summary.frames == FRAMES
  assert any('--num_objects=5, but no frame shows more than 3' in r.message
             for r in caplog.records)
  csv = dlc_csv.read_multi_animal_csv(str(tmp_path / 'five.csv'))
  assert len(csv.individuals) == 3 and len(csv.frames) == FRAMES
  assert not os.path.exists(out)


def test_a_frame_without_boxes_and_one_file_for_several_videos(tiny_bundle_dir, herd_clip,
                                                               tmp_path):
  from core.errors import UserInputError  # pylint: disable=g-import-not-at-top
  video, _, boxes = herd_clip
  with open(boxes) as f:
    entries = json.load(f)
  del entries['7']
  partial = str(tmp_path / 'partial.json')
  with open(partial, 'w') as f:
    json.dump(entries, f)
  herd = (video, None, partial)
  with pytest.raises(UserInputError, match='no boxes for .* \\(frame 7\\)'):
    _predict(tiny_bundle_dir, herd, str(tmp_path / 'a.mp4'), '--nodraw', '--max_frames=10')
  # --missing_boxes=frame: that frame's whole image is searched (one object), none is lost.
  summary = _predict(tiny_bundle_dir, herd, str(tmp_path / 'b.mp4'), '--nodraw',
                     '--max_frames=10', '--missing_boxes=frame')
  with open(tmp_path / 'b.json') as f:
    frames = json.load(f)['frames']
  assert summary.frames == 10 and [len(f['objects']) for f in frames] == [3] * 7 + [1] + [3] * 2
  with pytest.raises(UserInputError, match='one boxes file for 2 videos'):
    _predict(tiny_bundle_dir, (f'{video},{video}', None, boxes), str(tmp_path / 'c'))
