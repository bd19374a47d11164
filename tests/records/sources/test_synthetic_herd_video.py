"""The synthetic video of 3 look-alike creatures (records/sources/synthetic_herd_video.py): the
900-frame plan's crossings, leaving, speeds and occlusions (no pixels), and a short rendered clip
with its truth CSV (DeepLabCut's multi-animal layout) and JSON."""

import json
import math

import cv2
import numpy as np
import pytest

from records import dlc_csv
from records.sources import synthetic, synthetic_herd_video as herd_video

HEAD_BGR = (60, 210, 235)
CLIP = 60


@pytest.fixture(scope='module')
def herd():
  return herd_video.plan(900, seed=0)


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
  folder = tmp_path_factory.mktemp('herd')
  return herd_video.write_video(str(folder / 'herd.mp4'), frames=CLIP, seed=0, progress=False)


def _centres(herd):
  return herd.keypoints[:, :, [1, 6]].mean(2)  # the middle of neck and hip


def _decoded(path):
  capture = cv2.VideoCapture(path)
  frames = []
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    frames.append(frame)
  fps = capture.get(cv2.CAP_PROP_FPS)
  capture.release()
  return np.stack(frames), fps


def test_plan_shapes_and_creature_scale(herd):
  assert herd.keypoints.shape == (900, 3, len(synthetic.NAMES), 2)
  assert herd.visibility.shape == (900, 3, len(synthetic.NAMES))
  assert herd.torso.shape == herd.order.shape == (900, 3)
  assert set(np.unique(herd.visibility)) <= {0, 1, 2}
  assert (np.sort(herd.order, axis=1) == [0, 1, 2]).all()
  # The multi-creature images' torso (14..28 px at 320x240), scaled 2x.
  assert 28 <= herd.torso.min() and herd.torso.max() <= 56


def test_pairs_cross_at_least_six_times_within_a_body_length(herd):
  crossings = herd.events['crossings']
  assert len(crossings) >= 6
  assert len({tuple(c['pair']) for c in crossings}) == 3  # every pair meets
  centres = _centres(herd)
  for c in crossings:
    a, b = c['pair']
    distance = np.linalg.norm(centres[c['frame'], a] - centres[c['frame'], b])
    length = herd_video.BODY_LENGTH * herd.torso[c['frame'], [a, b]].mean()
    assert distance == pytest.approx(c['distance'], abs=0.01) and distance < length


def _turn_or_speed_change(centres, frame, j, span=20):
  """(degrees between the headings, speed ratio) of creature j before and after the frame."""
  before = centres[frame, j] - centres[max(frame - span, 0), j]
  after = centres[min(frame + span, len(centres) - 1), j] - centres[frame, j]
  norms = np.linalg.norm(before), np.linalg.norm(after)
  cosine = before @ after / max(norms[0] * norms[1], 1e-9)
  return math.degrees(math.acos(np.clip(cosine, -1, 1))), max(norms) / max(min(norms), 1e-9)


def test_creatures_turn_or_change_speed_as_they_cross(herd):
  centres, changed = _centres(herd), 0
  for c in herd.events['crossings']:
    changes = [_turn_or_speed_change(centres, c['frame'], j) for j in c['pair']]
    changed += any(turn >= 20 or ratio >= 1.3 for turn, ratio in changes)
  assert changed >= 6


def test_one_creature_leaves_for_45_frames_and_comes_back(herd):
  outside = herd.events['outside']
  leaver = herd.events['leaving']['individual']
  assert [name for name, runs in outside.items() if runs] == [leaver]
  (first, last), = outside[leaver]
  j = herd_video.INDIVIDUALS.index(leaver)
  assert last - first + 1 >= 45
  assert (herd.visibility[first:last + 1, j] == 0).all()
  assert (herd.visibility[first - 1, j] > 0).any() and (herd.visibility[last + 1, j] > 0).any()
  back = herd.visibility[last + 1:, j]
  assert (back == 2).all(1).any()  # fully back in view later
  assert herd.events['leaving']['side'] in ('left', 'right')


def test_motion_is_smooth_and_bounded(herd):
  speeds = np.linalg.norm(np.diff(_centres(herd), axis=0), axis=-1)
  assert speeds.max() <= herd_video.MAX_SPEED
  assert herd.events['max_speed'] == pytest.approx(speeds.max())
  acceleration = np.linalg.norm(np.diff(_centres(herd), 2, axis=0), axis=-1)
  assert acceleration.max() < 1.0  # px/frame^2: smoothed waypoints, no jumps
  assert np.abs(np.diff(herd.torso, axis=0)).max() < 0.2


def test_creatures_cover_each_other(herd):
  covered = herd.visibility == 1
  assert all(covered[:, j].any() for j in range(3))  # each one is under another at times
  for n, j in zip(*np.nonzero(covered.any(2))[:2]):  # only under a creature drawn later
    later = list(herd.order[n]).index(j) + 1 < 3
    assert later
  occluded = herd.events['occluded']
  for j, name in enumerate(herd_video.INDIVIDUALS):
    for first, last in occluded[name]:
      assert covered[first:last + 1, j].any(1).all()


def test_plan_is_deterministic_and_short_plans_are_its_start(herd):
  again = herd_video.plan(900, seed=0)
  np.testing.assert_array_equal(again.keypoints, herd.keypoints)
  assert again.events == herd.events
  short = herd_video.plan(CLIP, seed=0)
  np.testing.assert_array_equal(short.keypoints, herd.keypoints[:CLIP])
  np.testing.assert_array_equal(short.visibility, herd.visibility[:CLIP])
  assert not np.allclose(herd_video.plan(CLIP, seed=1).keypoints, short.keypoints)


def test_truth_boxes_hold_the_points_in_the_frame(herd):
  boxes = herd_video.truth_boxes(herd.keypoints, herd.visibility)
  assert boxes.shape == (900, 3, 4)
  (first, last), = [r for r in herd.events['outside'].values() if r][0]
  j = herd_video.INDIVIDUALS.index(herd.events['leaving']['individual'])
  assert np.isnan(boxes[first:last + 1, j]).all()
  n = 10
  inside = herd.keypoints[n, 0][herd.visibility[n, 0] > 0]
  np.testing.assert_allclose(boxes[n, 0, :2], inside.min(0))
  np.testing.assert_allclose(boxes[n, 0, 2:], inside.max(0) - inside.min(0))


def test_clip_is_640x480_at_30_fps(clip):
  frames, fps = _decoded(clip['video'])
  assert frames.shape == (CLIP, 480, 640, 3) and fps == pytest.approx(30.0)


def test_clip_truth_csv_matches_the_plan(clip):
  short = herd_video.plan(CLIP, seed=0)
  truth = dlc_csv.read_multi_animal_csv(clip['truth_csv'])
  assert truth.individuals == ['individual0', 'individual1', 'individual2']
  assert truth.names == list(synthetic.NAMES) and list(truth.frames) == list(range(CLIP))
  seen = short.visibility > 0
  np.testing.assert_array_equal(np.isnan(truth.xy[..., 0]), ~seen)
  np.testing.assert_allclose(truth.xy[seen], short.keypoints[seen], atol=1e-3)
  np.testing.assert_allclose(truth.likelihood, short.visibility / 2.0)
  with open(clip['truth_json'], encoding='utf-8') as f:
    events = json.load(f)
  assert events['crossings'] == short.events['crossings'] and len(events['boxes']) == CLIP
  assert events['size'] == [640, 480] and events['fps'] == 30.0


def test_clip_shows_the_creatures_where_the_truth_says(clip):
  short = herd_video.plan(CLIP, seed=0)
  frames, _ = _decoded(clip['video'])
  head = synthetic.NAMES.index('head')
  distances = []
  for n in range(0, CLIP, 5):
    for j in range(3):
      if short.visibility[n, j, head] == 2:
        x, y = np.round(short.keypoints[n, j, head]).astype(int)
        patch = frames[n, y - 1:y + 2, x - 1:x + 2].reshape(-1, 3).mean(0)
        distances.append(np.linalg.norm(patch - HEAD_BGR))
  assert len(distances) >= 20 and np.median(distances) < 40


def test_same_seed_renders_the_same_frames(clip, tmp_path):
  again = herd_video.write_video(str(tmp_path / 'again.mp4'), frames=CLIP, seed=0,
                                 progress=False)
  first, _ = _decoded(clip['video'])
  second, _ = _decoded(again['video'])
  np.testing.assert_array_equal(first, second)
