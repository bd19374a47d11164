"""Choosing frames to label (hourglass/labelling/criteria.py, selection.py) on made-up tracks
whose troubles are known, and the flip disagreement of a predictor that mirrors badly."""

import numpy as np
import pytest

from hourglass.inference.predictors import Predictor
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.labelling import criteria, selection
from hourglass.model.bundle import CropRule
from records.keypoint_definition import KeypointDefinition

NAMES = ['head', 'left_hand', 'right_hand', 'tail']
T, K = 300, len(NAMES)


def steady_track(frames=T):
  """A square object 40 px wide walking right at 1 px a frame, every keypoint confident, and its
  smoothed track equal to it."""
  base = np.array([[0.0, 0.0], [0.0, 40.0], [40.0, 0.0], [40.0, 40.0]])
  keypoints = base[None] + np.stack([np.arange(frames) + 100.0, np.full(frames, 100.0)], 1)[:, None]
  return keypoints, np.full((frames, K), 0.9), keypoints.copy()


def test_one_pick_per_bad_moment_and_the_rest_spread_by_coverage():
  keypoints, scores, smoothed = steady_track()
  scores[100:120, 1:] = 0.1      # a bad stretch of 20 frames: 3 of 4 keypoints unsure
  scores[250, 3] = 0.2            # one frame with the tail unsure
  keypoints[50, 0] += [12.0, 0.0]  # a one-frame jump of the head: 12 px on a 40 px object
  trouble = criteria.measure(keypoints, scores, smoothed, 0.4)
  picks = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=5))
  frames = [p.frame for p in picks]
  assert frames == sorted(frames) and len(frames) == 5
  assert sum(100 <= f < 120 for f in frames) == 1, frames  # not 5 neighbours of one moment
  by_frame = {p.frame: p for p in picks}
  assert by_frame[50].kind == 'jump' and 'head 12.0 px' in by_frame[50].reasons[0]
  assert by_frame[250].kind == 'confidence'
  assert '1 of 4 keypoints under pcutoff 0.4 (tail 0.20)' == by_frame[250].reasons[0]
  bad = [p for p in picks if 100 <= p.frame < 120][0]
  assert bad.reasons[0].startswith('3 of 4 keypoints under pcutoff')
  coverage = [p for p in picks if p.kind == 'coverage']
  assert len(coverage) == 2, picks
  assert selection.counts(picks) == {'confidence': 2, 'jump': 1, 'coverage': 2}
  # Coverage fills the longest stretches without a pick, not next to the others.
  others = [p.frame for p in picks if p.kind != 'coverage']
  assert min(abs(c.frame - o) for c in coverage for o in others) > 40


def test_jitter_of_the_filter_is_not_a_jump_and_empty_frames_rank_under_partial_ones():
  keypoints, scores, smoothed = steady_track()
  keypoints = keypoints + np.random.default_rng(0).normal(0, 0.4, keypoints.shape)  # 0.5 px
  scores[10:20] = 0.05            # nothing confident: not found or not in view
  scores[200, :2] = 0.1           # half the keypoints unsure
  trouble = criteria.measure(keypoints, scores, smoothed, 0.4)
  values = selection.trouble_values(trouble, selection.SelectConfig())
  assert values[:, 1].max() == 0.0  # jitter under half the jump threshold: not a jump
  picks = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=1))
  assert [p.frame for p in picks] == [200]
  two = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=2))
  empty = [p for p in two if p.frame != 200][0]
  assert 10 <= empty.frame < 20 and 'no keypoint reaches pcutoff' in empty.reasons[0]


def test_a_folder_without_spacing_may_take_neighbours_and_a_short_video_gives_all():
  keypoints, scores, smoothed = steady_track(12)
  scores[3:6, 0] = 0.0
  trouble = criteria.measure(keypoints, scores, None, 0.4)
  assert np.all(np.isnan(trouble.jump_px))
  picks = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=3, spacing=0))
  assert [p.frame for p in picks] == [3, 4, 5]
  assert len(selection.select(trouble, NAMES, selection.SelectConfig(num_frames=50))) == 12


def test_object_size_follows_the_confident_keypoints():
  keypoints, scores, _ = steady_track(4)
  keypoints[2] = keypoints[2] * 0 + [[0, 0], [0, 80], [80, 0], [80, 80]]
  scores[3, 1:] = 0.0  # one confident keypoint: the median of the others
  sizes = criteria.object_sizes(keypoints, scores, 0.4)
  np.testing.assert_allclose(sizes, [40, 40, 80, 40])


class MirrorSwapper(Predictor):
  """Heatmaps of fixed keypoints in input px that ignore the image, so that the mirrored crop's
  prediction, un-mirrored, lands at W - 1 - x: it agrees with the plain one only for keypoints
  on the crop's centre line; `swap` puts the two hands' heatmaps in each other's channels."""

  def __init__(self, points, visible=(1, 1, 1, 1)):
    definition = KeypointDefinition(tuple(NAMES), flip_pairs_h=((1, 2),))
    super().__init__(definition, (64, 64), HeatmapCodec((64, 64), 4, 2.0), 'mirror',
                     crop_rule=CropRule(box_margin=1.25, box_min_side=4.0))
    self.points = np.asarray(points, np.float64)  # [K, 2] input px
    self.visible = np.asarray(visible, np.int32)  # [K]: 0 gives a flat heatmap (score 0)

  def _heatmaps(self, images):
    maps = self.codec.encode(self.points.astype(np.float32), self.visible)[0].numpy()
    return np.repeat(maps[None], len(images), 0)


@pytest.mark.parametrize('offset', [2.0, 10.0])
def test_flip_disagreement_is_the_distance_between_plain_and_unmirrored_predictions(offset):
  # A keypoint `offset` input px right of the crop's centre line (x = 31.5) comes back from the
  # mirrored crop 2 x offset away; the hands (a flip pair) also trade rows (y 30 and 40). Points
  # on the heatmap grid (x = 4 j + 1.5), so that argmax decodes them exactly.
  points = np.array([[31.5 + offset, 20.0], [31.5 + offset, 29.5], [31.5 + offset, 41.5],
                     [31.5 + offset, 49.5]])
  predictor = MirrorSwapper(points)
  frames = [np.zeros((120, 160, 3), np.uint8)] * 3
  keypoints = np.tile(np.array([[60.0, 40.0], [60.0, 80.0], [100.0, 40.0], [100.0, 80.0]]),
                      (3, 1, 1))
  scores = np.full((3, K), 0.9)
  flip = criteria.flip_distances(predictor, frames, keypoints, scores, 0.4, 'argmax', batch=2)
  # The crop: the keypoints' 40 px box x 1.25 margin = 50 frame px over 64 input px.
  side = 50.0 / 64.0
  np.testing.assert_allclose(flip[:, [0, 3]], 2 * offset * side, rtol=1e-5)
  np.testing.assert_allclose(flip[:, [1, 2]], np.hypot(2 * offset, 12.0) * side, rtol=1e-5)
  # A keypoint the model is unsure of (its heatmap flat) has no disagreement measure.
  unsure = MirrorSwapper(points, visible=(1, 1, 1, 0))
  flip = criteria.flip_distances(unsure, frames, keypoints, scores, 0.4, 'argmax')
  assert np.all(np.isnan(flip[:, 3])) and np.all(np.isfinite(flip[:, :3]))


def test_among_full_troubles_the_larger_measure_comes_first():
  keypoints, scores, smoothed = steady_track()
  flip = np.full((T, K), np.nan)
  flip[40, 1] = 8.0     # 0.2 of the object: full trouble
  flip[200, 2] = 30.0   # 0.75 of the object: also full, and worse
  trouble = criteria.measure(keypoints, scores, smoothed, 0.4, flip)
  picks = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=1))
  assert [(p.frame, p.kind, p.trouble) for p in picks] == [(200, 'flip', 1.0)]
  assert 'right_hand 30.0 px (0.75 of the object) between the plain and the mirrored' in (
      picks[0].reasons[0])


def test_a_count_change_is_picked_with_the_reason_count():
  """Two objects, a third appearing at frame 120 and a weak assignment at frame 200 (similarity
  0.7) beside a frame with one keypoint unsure (trouble 0.25): the count change, then the
  identity doubt (0.3) are picked first, each saying why."""
  keypoints, scores, smoothed = steady_track()
  scores[50, 0] = 0.1
  counts = np.where(np.arange(T) < 120, 2, 3)
  events = np.zeros(T)
  events[200] = 0.3
  events[10] = np.nan  # no event measured
  doubt, reasons = criteria.identity_doubt(counts, None, events)
  assert doubt[120] == 1.0 and reasons[120] == 'count: 3 objects (2 in the frame before)'
  assert reasons[200] == 'identity: assignment similarity 0.70' and doubt[10] == 0.0
  trouble = criteria.measure(keypoints, scores, smoothed, 0.4)
  picks = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=3),
                           identity_doubt=doubt, identity_reasons=reasons)
  assert [(p.frame, p.kind) for p in picks] == [(50, 'confidence'), (120, 'count'),
                                                 (200, 'identity')]
  assert picks[1].reasons == [reasons[120]] and picks[1].trouble == 1.0
  assert selection.counts(picks) == {'confidence': 1, 'count': 1, 'identity': 1}
  # Without the doubt the measures (and the picks) are those of one object.
  plain = selection.select(trouble, NAMES, selection.SelectConfig(num_frames=1))
  assert [(p.frame, p.kind) for p in plain] == [(50, 'confidence')]
  # An expected count: every frame short of it is in doubt; a re-found track counts 1.
  events[250] = 1.0
  doubt, reasons = criteria.identity_doubt(counts, 3, events)
  assert doubt[:120].min() == 1.0 and reasons[0] == 'count: 2 objects, expected 3'
  assert doubt[250] == 1.0
  assert reasons[250] == 'identity: a track re-found, started or ended, or two animals in one box'
  assert reasons[121] == '' and doubt[121] == 0.0
