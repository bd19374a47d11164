"""Identity-tracking metrics against hand-counted scripted videos, against py-motmetrics (the pinned
reference for IDF1, IDP, IDR and the switch count) and OKS against pycocotools' computeOks.

The scripted videos keep the creatures far apart and give each creature at most one following
track per frame, so each frame's assignment is unambiguous: there motmetrics' num_switches
(CLEAR MOT, which first keeps a still-valid previous pair) counts what id_switches counts.
"""

import collections

import motmetrics
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from hourglass.evaluation import identity_metrics as im
from hourglass.keypoints.metrics import coco_oks

K = 4
SIGMAS = np.array([0.08, 0.08, 0.1, 0.06])
SIDE = 60.0  # creature size (px): area SIDE^2
POSE = np.array([[-20.0, -25.0], [20.0, -25.0], [0.0, 5.0], [0.0, 28.0]])
FAR = np.array([-5000.0, -5000.0])  # where false tracks are: no creature is near


def _truth(frames, creatures):
  """Creatures 400 px apart, drifting 2 px a frame: xy [T, G, K, 2], visible, area [T, G]."""
  t = np.arange(frames, dtype=np.float64)[:, None, None, None]
  g = np.arange(creatures, dtype=np.float64)[None, :, None, None]
  xy = POSE + np.concatenate([200.0 + 400.0 * g + 2.0 * t, 300.0 + 0.0 * g + t], axis=-1)
  visible = np.ones((frames, creatures, K), bool)
  return xy, visible, np.full((frames, creatures), SIDE ** 2)


def _tracks(truth_xy, follows, noise=None, seed=0):
  """follows [T, M]: the creature that track column m follows, -1 absent, -2 a false track far
  away. noise: [T, M] px of Gaussian noise on the followed points (default 0.5)."""
  rng = np.random.default_rng(seed)
  frames, tracks = follows.shape
  noise = np.full(follows.shape, 0.5) if noise is None else noise
  xy = np.full((frames, tracks, K, 2), np.nan)
  for t, m in zip(*np.nonzero(follows >= 0)):
    xy[t, m] = truth_xy[t, follows[t, m]] + rng.normal(0.0, noise[t, m], (K, 2))
  false = follows == -2
  xy[false] = FAR + POSE + rng.normal(0.0, 3.0, (int(false.sum()), K, 2))
  return xy, follows != -1


def _motmetrics(similarity, truth_present, tracked_present, track_ids, min_oks=0.5):
  """py-motmetrics' scores, fed per frame the distance 1 - OKS, NaN where OKS < min_oks."""
  accumulator = motmetrics.MOTAccumulator(auto_id=True)
  for t in range(similarity.shape[0]):
    rows, cols = np.flatnonzero(truth_present[t]), np.flatnonzero(tracked_present[t])
    pair = similarity[t][np.ix_(rows, cols)]
    accumulator.update(rows, np.asarray(track_ids)[cols],
                       np.where(pair >= min_oks, 1.0 - pair, np.nan))
  names = ['idf1', 'idp', 'idr', 'idtp', 'idfp', 'idfn', 'num_switches', 'num_matches']
  frame = motmetrics.metrics.create().compute(accumulator, metrics=names, name='video')
  return {n: float(frame.loc['video', n]) for n in names}


def _check_against_motmetrics(truth, tracked_xy, tracked_present, track_ids, unambiguous=True):
  """Our metrics equal motmetrics' on one video (the switch and match counts only where each
  frame's assignment is unambiguous: see the module docstring); returns the summary."""
  xy, visible, area = truth
  similarity = im.pairwise_oks(xy, visible, area, tracked_xy, tracked_present, SIGMAS)
  ours = im.summary(xy, visible, area, tracked_xy, tracked_present, track_ids, SIGMAS)
  ref = _motmetrics(similarity, im.creatures_present(visible), tracked_present, track_ids)
  got = ours.identity
  assert (got.idtp, got.idfp, got.idfn) == (ref['idtp'], ref['idfp'], ref['idfn'])
  np.testing.assert_allclose([got.idf1, got.idp, got.idr], [ref['idf1'], ref['idp'], ref['idr']],
                             rtol=1e-12)
  if unambiguous:
    assert ours.id_switches == ref['num_switches']
    # motmetrics' MATCH and SWITCH events are the matched pairs.
    assert ours.matches == ref['num_matches'] + ref['num_switches']
  return ours


def test_coco_oks_is_pycocotools_compute_oks():
  rng = np.random.default_rng(3)
  truth = rng.uniform(0, 200, (3, K, 2))
  predicted = np.concatenate([truth + rng.normal(0, s, truth.shape) for s in (2.0, 9.0)])
  visible = rng.uniform(size=(3, K)) < 0.7
  visible[:, 0] = True
  area = rng.uniform(500, 5000, 3)
  gts, dts = collections.defaultdict(list), collections.defaultdict(list)
  for g in range(3):
    flat = np.concatenate([truth[g], np.where(visible[g], 2, 0)[:, None]], axis=1)
    gts[1, 1].append({'keypoints': flat.ravel().tolist(), 'area': area[g],
                      'bbox': [0, 0, 200, 200]})
  for d, points in enumerate(predicted):  # descending scores: computeOks keeps this order
    flat = np.concatenate([points, np.ones((K, 1))], axis=1)
    dts[1, 1].append({'keypoints': flat.ravel().tolist(), 'score': 1.0 - d / 10})
  # computeOks reads only the params and the per-image lists that evaluate() would fill.
  evaluator = COCOeval(iouType='keypoints')
  evaluator.params.kpt_oks_sigmas = SIGMAS
  evaluator._gts, evaluator._dts = gts, dts  # pylint: disable=protected-access
  expected = evaluator.computeOks(1, 1)  # [D, G]
  ours = coco_oks(predicted[None], truth[:, None], visible[:, None], area[:, None], SIGMAS)
  np.testing.assert_allclose(ours, expected.T, rtol=1e-12)
  assert np.all((ours > 0.0) & (ours <= 1.0))


def test_coco_oks_no_visible_point_is_zero_and_nan_point_scores_zero():
  truth = np.zeros((K, 2))
  assert coco_oks(truth, truth, np.zeros(K, bool), 100.0, SIGMAS) == 0.0
  predicted = truth.copy()
  predicted[1] = np.nan
  assert coco_oks(predicted, truth, np.ones(K, bool), 100.0, SIGMAS) == pytest.approx(0.75)


def test_assignment_is_optimal_not_greedy_and_drops_pairs_under_min_oks():
  # Creature 0 prefers track 10 (0.9) but the optimum gives it 11 and track 10 to creature 1.
  similarity = np.array([[[0.9, 0.8], [0.85, 0.4]], [[0.49, 0.0], [0.0, 0.5]]])
  matched = im.assign_frames(similarity, [10, 11])
  np.testing.assert_array_equal(matched, [[11, 10], [-1, 11]])
  with pytest.raises(ValueError):
    im.assign_frames(similarity, [10, 10])


def test_perfect_tracking():
  truth = _truth(20, 3)
  follows = np.tile(np.arange(3), (20, 1))
  tracked_xy, present = _tracks(truth[0], follows)
  ours = _check_against_motmetrics(truth, tracked_xy, present, [5, 6, 7])
  np.testing.assert_array_equal(ours.matched, np.tile([5, 6, 7], (20, 1)))
  assert ours.id_switches == 0 and ours.identity.idf1 == 1.0
  assert ours.identity.mapping == {0: 5, 1: 6, 2: 7}
  assert ours.mean_error < 2.0


def test_swap_mid_video_is_two_switches_and_halves_idf1():
  truth = _truth(20, 2)
  follows = np.tile([0, 1], (20, 1))
  follows[10:] = [1, 0]
  tracked_xy, present = _tracks(truth[0], follows)
  ours = _check_against_motmetrics(truth, tracked_xy, present, [7, 9])
  assert ours.id_switches == 2
  assert (ours.identity.idtp, ours.identity.idfp, ours.identity.idfn) == (20, 20, 20)
  assert ours.identity.idf1 == pytest.approx(0.5)


@pytest.mark.parametrize('new_track_from,refound', [(12, 0), (14, 2)])
def test_creature_lost_and_refound_under_a_new_id(new_track_from, refound):
  truth = _truth(20, 2)
  truth[1][10:12, 1] = False  # creature 1 leaves for frames 10-11
  follows = np.tile([0, 1, -1], (20, 1))
  follows[10:, 1] = -1
  follows[new_track_from:, 2] = 1
  tracked_xy, present = _tracks(truth[0], follows)
  ours = _check_against_motmetrics(truth, tracked_xy, present, [1, 2, 3])
  assert ours.id_switches == 1
  present_truth = im.creatures_present(truth[1])
  assert im.refound_after(ours.matched, 1, 10, present_truth) == refound  # returns at 12
  assert im.refound_after(ours.matched, 1, 12) == refound
  assert im.summary(*truth, tracked_xy, present, [1, 2, 3], SIGMAS,
                    returning=(1, 10)).refound == refound
  # Creature 1 (present 18 frames): 10 on track 2 (mapped), then 20 - new_track_from on track 3.
  assert ours.identity.mapping == {0: 1, 1: 2}
  assert (ours.identity.idfn, ours.identity.idfp) == (8, 20 - new_track_from)


def test_idf1_counts_every_pair_over_min_oks_not_only_the_assignment():
  # Track 1 hugs the creature for 3 frames and wins them; track 2 follows it, less closely, all
  # 10: the mapping takes track 2, and its 3 lost frames still count as IDTP (Ristani's rule).
  truth = _truth(10, 1)
  follows = np.array([[0, 0]] * 3 + [[-1, 0]] * 7)
  noise = np.tile([0.2, 3.0], (10, 1))
  tracked_xy, present = _tracks(truth[0], follows, noise)
  ours = _check_against_motmetrics(truth, tracked_xy, present, [1, 2], unambiguous=False)
  np.testing.assert_array_equal(ours.matched[:, 0], [1] * 3 + [2] * 7)
  assert ours.identity.mapping == {0: 2}
  assert (ours.identity.idtp, ours.identity.idfp, ours.identity.idfn) == (10, 3, 0)


def test_refound_none_when_never_matched_and_error_when_never_back():
  matched = np.array([[4], [-1], [-1]])
  assert im.refound_after(matched, 0, 1) is None
  with pytest.raises(ValueError):
    im.refound_after(matched, 0, 1, np.array([[True], [False], [False]]))


def test_false_tracks_and_missing_frames():
  truth = _truth(30, 3)
  truth[1][5:9, 2] = False  # creature 2 unseen
  truth[1][20:, 0, :2] = False  # some points of creature 0 unseen: still present
  follows = np.tile([0, 1, 2, -2, -1], (30, 1))
  follows[12:17, 1] = -1  # the tracker misses creature 1
  follows[12:17, 4] = -2  # a second false track, only for a while
  follows[5:9, 2] = -2  # the track of the unseen creature stays on, far away
  tracked_xy, present = _tracks(truth[0], follows)
  ours = _check_against_motmetrics(truth, tracked_xy, present, [0, 1, 2, 3, 4])
  assert ours.id_switches == 0
  # IDFP: the false track's 30 frames, the second's 5, track 2's 4 far ones; IDFN: the 5 missed.
  assert (ours.identity.idfp, ours.identity.idfn) == (30 + 5 + 4, 5)
  assert ours.detections == 30 * 3 - 4 and ours.matches == ours.detections - 5


@pytest.mark.parametrize('duplicates', [0.0, 0.2])
def test_random_video_matches_motmetrics(duplicates):
  """duplicates: how often an idle track follows a creature that has its own (ambiguous frames:
  then only the identity scores are compared)."""
  rng = np.random.default_rng(11)
  frames, creatures, tracks = 80, 4, 9
  truth = _truth(frames, creatures)
  truth[1][rng.uniform(size=(frames, creatures)) < 0.1] = False
  owner = np.arange(creatures)  # the track column that follows each creature
  follows = np.full((frames, tracks), -1)
  for t in range(frames):
    for g in range(creatures):
      if rng.uniform() < 0.03:  # a new id, or another creature's (then the two swap)
        new = rng.choice(np.setdiff1d(np.arange(tracks), [owner[g]]))
        owner[owner == new], owner[g] = owner[g], new
    follows[t, owner] = np.where(rng.uniform(size=creatures) < 0.9, np.arange(creatures), -1)
    idle = np.setdiff1d(np.arange(tracks), owner)
    follows[t, idle] = np.where(rng.uniform(size=len(idle)) < 0.15, -2, -1)
    copies = idle[rng.uniform(size=len(idle)) < duplicates]
    follows[t, copies] = rng.integers(0, creatures, len(copies))
  noise = rng.choice([1.0, 8.0, 40.0], size=(frames, tracks), p=[0.6, 0.3, 0.1])
  tracked_xy, present = _tracks(truth[0], follows, noise, seed=5)
  ids = rng.permutation(100)[:tracks]
  ours = _check_against_motmetrics(truth, tracked_xy, present, ids, duplicates == 0.0)
  # The case exercises every count: switches, unmatched near pairs, false and missed detections.
  assert ours.id_switches >= 5 and 0.2 < ours.identity.idf1 < 0.9
  assert min(ours.identity.idfp, ours.identity.idfn) > 20
  if duplicates:  # frames where a creature has two tracks over min_oks
    near = im.pairwise_oks(*truth, tracked_xy, present, SIGMAS) >= 0.5
    assert np.count_nonzero(near.sum(axis=2) > 1) > 10


def test_mean_keypoint_error_counts_visible_points_of_matched_pairs():
  truth_xy = np.zeros((3, 2, K, 2))
  visible = np.ones((3, 2, K), bool)
  visible[0, 0, 3] = False
  tracked = truth_xy + [0.0, 1.0]  # 1 px off
  tracked[:, 0] += [3.0, 3.0]  # 5 px off
  tracked[0, 0, 3] = [100.0, 0.0]  # an invisible truth point: left out
  tracked[1, 1, 2] = np.nan  # a missing tracked point: left out
  tracked[2] += 50.0  # frame 2 is unmatched: left out
  matched = np.array([[20, 21], [20, 21], [-1, -1]])
  total, per_keypoint = im.mean_keypoint_error(truth_xy, visible, tracked, matched, [20, 21])
  # Creature 0: 3 + 4 points at 5 px; creature 1: 4 + 3 at 1 px -> 42 / 14.
  assert total == pytest.approx(3.0)
  np.testing.assert_allclose(per_keypoint, [3.0, 3.0, 11 / 3, 7 / 3])
  none = im.mean_keypoint_error(truth_xy, visible, tracked, np.full((3, 2), -1), [20, 21])
  assert np.isnan(none[0]) and np.all(np.isnan(none[1]))


def test_summary_to_dict():
  truth = _truth(6, 2)
  tracked_xy, present = _tracks(truth[0], np.tile([0, 1], (6, 1)))
  numbers = im.summary(*truth, tracked_xy, present, [3, 4], SIGMAS).to_dict()
  assert numbers['idf1'] == 1.0 and numbers['id_switches'] == 0 and numbers['refound'] is None
  assert numbers['matches'] == numbers['detections'] == 12
  assert len(numbers['per_keypoint_error']) == K
