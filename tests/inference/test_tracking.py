"""Whole-frame search, tracking, smoothing and the video results (hourglass/inference/search.py,
tracking.py, smoothing.py, video_analysis.py; records/dlc_csv.py, records/sources/synthetic_video.py).

The search and the tracker are driven by an oracle predictor on frames whose pixels are their own
coordinates (R = x, G = y, B = 1 inside the frame, float32): it recovers each crop's affine from
the pixels and renders the codec's Gaussians at the true keypoints, with the peak falling off as
the crop's scale departs from the training box's, so that scores behave as a trained model's do.
"""

import copy
import csv
import dataclasses
import json
import math
import os

import numpy as np
import pytest

from core import geometry
from hourglass.inference import smoothing
from hourglass.inference.predictors import Predictor
from hourglass.inference.search import FrameSearch, window_sides, windows
from hourglass.inference.config import TrackConfig
from hourglass.inference.tracking import Tracker
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model.bundle import CropRule
from records import dlc_csv
from records.sources import synthetic, synthetic_video

INPUT = (64, 64)
FRAME = (120, 160)  # the synthetic video's 640x480 path, scaled by 1/4
RULE = CropRule(box_margin=1.25, box_min_side=4.0, object_scale=(0.15, 0.2, 0.25))


def coordinate_frame(shape=FRAME):
  ys, xs = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
  return np.stack([xs, ys, np.ones_like(xs)], -1)


class CoordinateOracle(Predictor):
  """Heatmaps of `truth` ([K, 2] frame px of the current frame, None: no object) in any crop of
  a coordinate_frame."""

  def __init__(self, num_keypoints=9):
    from records.keypoint_definition import KeypointDefinition
    super().__init__(KeypointDefinition(tuple(f'k{i}' for i in range(num_keypoints))), INPUT,
                     HeatmapCodec(INPUT, 4, 2.0), 'oracle', crop_rule=RULE)
    self.truth = None

  def _heatmaps(self, images):
    h, w = self.codec.heatmap_size
    out = np.zeros((len(images), h, w, self.definition.num_keypoints), np.float32)
    if self.truth is None:
      return out
    inside = np.all(np.isfinite(self.truth), axis=1) & (self.truth[:, 0] >= 0) & (
        self.truth[:, 1] >= 0) & (self.truth[:, 0] <= FRAME[1] - 1) & (
            self.truth[:, 1] <= FRAME[0] - 1)
    box = RULE.keypoint_box(self.truth, inside)
    box_side = max(geometry.expand_to_aspect(box[2], box[3], INPUT))
    vs, us = np.mgrid[0:INPUT[0]:3, 0:INPUT[1]:3]  # a sample of pixels fixes the affine
    for n, image in enumerate(images):
      image = image[::3, ::3]
      valid = image[..., 2] > 0.999
      if valid.sum() < 3 or not inside.any():
        continue
      design = np.stack([us[valid], vs[valid], np.ones(valid.sum())], 1)
      to_frame = np.linalg.lstsq(design, image[valid][:, :2], rcond=None)[0].T  # [2, 3]
      to_crop = np.linalg.inv(np.vstack([to_frame, [0, 0, 1]]))[:2]
      points = geometry.apply_affine(to_crop, np.nan_to_num(self.truth))
      crop_side = abs(to_frame[0, 0]) * INPUT[1]
      amplitude = math.exp(-math.log(crop_side / box_side) ** 2 / (2 * 0.3 ** 2))
      heatmaps, _ = self.codec.encode(points[None].astype(np.float32),
                                      inside[None].astype(np.int32) * 2)
      out[n] = amplitude * np.asarray(heatmaps)[0]
    return out


def test_windows_tile_the_frame_at_the_object_scale_first():
  levels = window_sides(RULE.object_scale, FRAME)
  assert levels[0] == pytest.approx([1.4 * 0.2 * 160, 2.0 * 0.2 * 160, 1.4 * 0.25 * 160][:2])
  assert levels[1][0] == 160  # then the whole frame
  boxes = windows(FRAME, 44.8, INPUT, 0.5)
  assert boxes[:, 0].min() == -0.5 and boxes[:, 1].min() == -0.5  # flush with both edges
  np.testing.assert_allclose((boxes[:, 0] + boxes[:, 2]).max(), FRAME[1] - 0.5)
  np.testing.assert_allclose((boxes[:, 1] + boxes[:, 3]).max(), FRAME[0] - 0.5)
  steps = np.diff(np.unique(boxes[:, 0]))
  assert steps.max() <= 0.5 * 44.8 + 1e-9  # neighbours overlap by at least half


@pytest.fixture(scope='module')
def walk():
  keypoints, _ = synthetic_video.scene_keypoints(240)
  return keypoints / 4.0  # [T, 9, 2] in the 160x120 frame


def test_search_finds_the_object_as_well_as_the_record_box(walk):
  """The coarse-to-fine search against the record box (the training box rule on the truth) on
  the same frames: the same error (the oracle's), with the object at any place of the frame."""
  predictor, frame = CoordinateOracle(), coordinate_frame()
  search = FrameSearch(predictor)
  for t in (0, 40, 80, 100, 160, 220):
    predictor.truth = walk[t]
    found = search.find(frame)
    box = RULE.keypoint_box(walk[t], np.ones(9, bool))
    record_kp, _ = search.predict_boxes(frame, np.array([box]))
    record_error = np.linalg.norm(record_kp[0] - walk[t], axis=1).mean()
    error = np.linalg.norm(found.keypoints - walk[t], axis=1).mean()
    assert record_error < 0.1, t
    assert error < record_error + 0.05, (t, error, record_error)
    assert found.score > 0.9
  # Windows at the object scale suffice: no frame needed the finer levels.
  assert search.crops_run / 6 < 60


def test_tracking_follows_loses_and_finds_again(walk):
  predictor, frame = CoordinateOracle(), coordinate_frame()
  tracker = Tracker(predictor, TrackConfig(check_every=50))
  outside = np.all(walk[:, :, 0] > FRAME[1] - 1, axis=1)
  gone = np.flatnonzero(outside)
  assert len(gone) >= 20
  errors, hows = [], []
  for t, truth in enumerate(walk):
    predictor.truth = None if outside[t] else truth
    step = tracker.step(frame)
    hows.append(step.how)
    in_view = np.all(truth[:, 0] <= FRAME[1] - 1)
    errors.append(np.linalg.norm(step.keypoints - truth, axis=1).mean() if in_view else np.nan)
    if step.box is not None:  # the next crop holds this frame's confident keypoints
      confident = step.keypoints[step.scores >= 0.2]
      box = RULE.keypoint_box(confident, np.ones(len(confident), bool))
      assert step.box[0] <= box[0] + 1e-9 and step.box[1] <= box[1] + 1e-9
      assert step.box[0] + step.box[2] >= box[0] + box[2] - 1e-9
      assert step.box[1] + step.box[3] >= box[1] + box[3] - 1e-9
    if outside[t]:
      assert step.box is None and step.scores.max() < 0.3  # lost while out of the frame
  back = gone[-1] + 1
  assert hows[0] == 'search' and hows[back] == 'search'  # found again on re-entry
  errors = np.array(errors)
  full = errors[np.isfinite(errors)]
  # The oracle's precision on the frames with the whole object in view, but for a frame or two
  # where a limb swung out of the crop (it is back in the next frame: the box remembers it).
  assert np.mean(full < 0.5) >= 0.98 and np.median(full) < 0.01
  in_view_again = back + np.flatnonzero(np.isfinite(errors[back:]))[0]
  assert np.nanmin(errors[in_view_again:in_view_again + 5]) < 0.5  # found within 5 frames
  assert tracker.checks >= 3 and tracker.agreements == tracker.checks
  # A search on the first frame, on every frame out of view and on some partly in view (they
  # score under min_score), plus the checks.
  assert len(gone) < tracker.researches <= len(gone) + 10
  assert tracker.searches == 1 + tracker.researches + tracker.checks


def test_savgol_keeps_a_ramp_and_averages_noise_away():
  t = np.arange(200, dtype=np.float64)
  ramp = np.stack([3.0 * t + 5, -0.5 * t], 1)[:, None]  # [T, 1, 2]
  smoothed, _ = smoothing.savgol_track(ramp, np.ones((200, 1), bool), 9, 2, 10)
  np.testing.assert_allclose(smoothed, ramp, atol=1e-9)  # exact on polynomials to its order
  rng = np.random.default_rng(0)
  noisy = 100.0 + rng.normal(0, 1.0, (200, 1, 2))
  smoothed, _ = smoothing.savgol_track(noisy, np.ones((200, 1), bool), 9, 2, 10)
  assert np.std(smoothed[10:-10] - 100.0) < 0.65 * np.std(noisy - 100.0)
  assert smoothing.jitter(smoothed) < smoothing.jitter(noisy) / 4
  with pytest.raises(ValueError, match='odd'):
    smoothing.savgol_track(noisy, np.ones((200, 1), bool), 8, 2, 10)


def test_gaps_are_interpolated_up_to_max_gap_and_longer_ones_stay_missing():
  t = np.arange(60, dtype=np.float64)
  track = np.stack([t, 2 * t], 1)[:, None]
  valid = np.ones((60, 1), bool)
  valid[10:15] = False  # 5 frames: filled
  valid[30:50] = False  # 20 frames: missing
  smoothed, interpolated = smoothing.savgol_track(track, valid, 5, 1, max_gap=10)
  np.testing.assert_allclose(smoothed[10:15, 0], track[10:15, 0], atol=1e-9)
  assert interpolated[10:15, 0].all() and not interpolated[30:50, 0].any()
  assert np.isnan(smoothed[30:50]).all() and np.isfinite(smoothed[50:]).all()


def test_one_euro_smooths_rest_and_follows_motion():
  rng = np.random.default_rng(1)
  rest = 50.0 + rng.normal(0, 1.0, (300, 1, 2))
  valid = np.ones((300, 1), bool)
  filtered = smoothing.one_euro_track(rest, valid, 30, min_cutoff=1.0, beta=0.0)
  assert np.std(filtered[30:] - 50.0) < 0.5 * np.std(rest - 50.0)
  t = np.arange(300, dtype=np.float64)
  ramp = np.stack([5.0 * t, 0 * t], 1)[:, None]
  fast = smoothing.one_euro_track(ramp, valid, 30, min_cutoff=1.0, beta=0.05)
  slow = smoothing.one_euro_track(ramp, valid, 30, min_cutoff=1.0, beta=0.0)
  lag_fast, lag_slow = (abs(f[-1, 0, 0] - ramp[-1, 0, 0]) for f in (fast, slow))
  assert lag_fast < 0.5 * lag_slow  # beta lets the cutoff rise with speed: less lag
  valid[100] = False
  out = smoothing.one_euro_track(rest, valid, 30)
  assert np.isnan(out[100]).all() and out[101, 0, 0] == rest[101, 0, 0]  # restarts afresh


def test_dlc_csv_layout_round_trip(tmp_path):
  names = ['snout', 'tail']
  xy = np.array([[[1.25, 2.5], [np.nan, np.nan]], [[3.0, 4.0], [5.5, 6.5]]])
  scores = np.array([[0.9, 0.0], [0.8, 0.7]])
  path = str(tmp_path / 'r.csv')
  dlc_csv.write_dlc_csv(path, 'keras:m', names, xy, scores)
  with open(path, newline='') as f:
    rows = list(csv.reader(f))
  assert rows[0] == ['scorer'] + ['keras:m'] * 6
  assert rows[1] == ['bodyparts', 'snout', 'snout', 'snout', 'tail', 'tail', 'tail']
  assert rows[2] == ['coords'] + ['x', 'y', 'likelihood'] * 2
  assert rows[3] == ['0', '1.250', '2.500', '0.9000', '', '', '0']  # missing: empty, p 0
  read_names, frames, read_xy, likelihood = dlc_csv.read_dlc_csv(path)
  assert read_names == names and list(frames) == [0, 1]
  np.testing.assert_allclose(read_xy, xy, atol=1e-3)
  np.testing.assert_allclose(likelihood, scores, atol=1e-4)


def test_synthetic_video_has_its_events_and_truth(tmp_path):
  info = synthetic_video.write_video(str(tmp_path / 'walk.mp4'), frames=90)
  import cv2  # pylint: disable=g-import-not-at-top
  capture = cv2.VideoCapture(info['video'])
  assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 90
  assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (
      640, 480)
  names, frames, xy, likelihood = dlc_csv.read_dlc_csv(info['truth_csv'])
  assert names == list(synthetic.NAMES) and len(frames) == 90
  (start, end), = info['outside']
  assert np.isnan(xy[start:end]).all() and (likelihood[start:end] == 0).all()
  assert np.isfinite(xy[:start // 2]).all()
  assert (likelihood == 0.5).any()  # occluded points
  assert info['torso_range'] == pytest.approx([18, 36], abs=0.5)  # 2x size change
  assert info['max_extent'] <= 640 / 5
  # The full-length video leaves the frame for at least 30 frames (the benchmark's).
  # At its full length (600 frames), it leaves the frame for at least 30 frames and its centre
  # moves at most MAX_SPEED px a frame.
  keypoints, _ = synthetic_video.scene_keypoints(600)
  assert np.all(keypoints[..., 0] > 639, axis=1).sum() >= 30
  speed = np.linalg.norm(np.diff(keypoints.mean(1), axis=0), axis=1)
  assert 5 < speed.max() <= synthetic_video.MAX_SPEED


def test_predict_tracks_a_video_and_writes_its_results(tmp_path, tiny_bundle_dir):
  """--mode=predict on a video without --detections: raw and filtered CSVs in DeepLabCut's
  layout, a JSON with raw and smoothed values, the tracking plot and the labelled video; with
  --nodraw no video."""
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top
  import cv2  # pylint: disable=g-import-not-at-top

  import flags  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from modes import predict as predict_mode  # pylint: disable=g-import-not-at-top
  info = synthetic_video.write_video(str(tmp_path / 'walk.mp4'), frames=8)
  values = copy.deepcopy(absl_flags.FLAGS)
  out = tmp_path / 'out' / 'walk.mp4'
  values(['main.py', '--mode=predict', f'--model_path={tiny_bundle_dir}',
          f'--input={info["video"]}', f'--output={out}', '--trail=3', '--smooth_window=3',
          '--smooth_polyorder=1', '--track_min_score=0', '--search_every=0'])  # one search
  summary = predict_mode.run(values)
  assert summary.frames == 8 and 'whole-frame searches' in summary.summaries[0]
  stem = str(out)[:-4]
  assert int(cv2.VideoCapture(str(out)).get(cv2.CAP_PROP_FRAME_COUNT)) == 8
  assert os.path.getsize(f'{stem}_tracking.png') > 0
  names, frames, raw, likelihood = dlc_csv.read_dlc_csv(f'{stem}.csv')
  assert len(names) == 17 and list(frames) == list(range(8))
  assert np.isfinite(raw).all()  # the raw CSV keeps every keypoint, whatever its score
  _, _, filtered, filtered_p = dlc_csv.read_dlc_csv(f'{stem}_filtered.csv')
  with open(f'{stem}.json') as f:
    document = json.load(f)
  first = document['frames'][0]
  np.testing.assert_allclose(first['keypoints'][names[0]][:2], raw[0, 0], atol=0.01)
  assert document['smoothing'] == 'savgol' and 'smoothed' in first
  # A filtered point is missing (empty, p 0) exactly where the raw one is under --pcutoff and
  # no interpolation filled it.
  interpolated = np.array([[n in fr['interpolated'] for n in names]
                           for fr in document['frames']])
  missing = (likelihood < values.pcutoff) & ~interpolated
  assert (np.isnan(filtered[..., 0]) == missing).all() and (filtered_p[missing] == 0).all()
  values.draw = False
  values.output = str(tmp_path / 'bare' / 'walk.mp4')
  predict_mode.run(values)
  assert os.path.isfile(str(tmp_path / 'bare' / 'walk.csv'))
  assert not os.path.exists(values.output)


def _noise_avi(path, frames=12, size=(64, 48)):
  """An MJPG AVI of random frames (its index at the end: a truncated copy still plays)."""
  import cv2  # pylint: disable=g-import-not-at-top
  writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 30.0, size)
  rng = np.random.RandomState(0)
  for _ in range(frames):
    writer.write(rng.randint(0, 255, (size[1], size[0], 3), np.uint8))
  writer.release()
  return str(path)


def test_bad_videos_are_named_and_what_was_read_is_kept(tmp_path, monkeypatch, caplog):
  """A video that ends before the frames its header declares: a warning naming the file and
  the frame, and the results of the frames read. An object never found: a warning, and the
  summary says where. A frame of another size mid-stream: an error naming the file and the
  frame, after the results of the frames before it were written."""
  from core.errors import UserInputError  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from hourglass.inference import config as inference_config, frame_sources, video_analysis
  oracle = CoordinateOracle()  # truth None: nothing is ever found
  config = inference_config.AnalysisConfig(draw=False)
  whole = _noise_avi(tmp_path / 'whole.avi')
  with open(whole, 'rb') as f:
    data = f.read()
  cut = tmp_path / 'cut.avi'
  cut.write_bytes(data[:len(data) // 2])
  with caplog.at_level('WARNING'):
    result, written = video_analysis.analyze_and_write(oracle, str(cut), config,
                                                       str(tmp_path / 'cut' / 'r'))
  assert 3 <= result.frames < 12
  assert f'{cut}: the file declares 12 frames, but only {result.frames} could be read' in \
      caplog.text and f'ends early at frame {result.frames}' in caplog.text
  assert f'{cut}: the object was never found' in caplog.text
  assert len(dlc_csv.read_dlc_csv(written['csv'])[1]) == result.frames
  assert result.not_found(0.3) == [(0, result.frames - 1)]
  assert f'not found in {result.frames} (frames 0-{result.frames - 1})' in \
      video_analysis.summary_line(result, config)

  frames_of = frame_sources.Source.__iter__

  def resized_at_4(self):
    for frame in frames_of(self):
      yield frame if frame.index < 4 else dataclasses.replace(frame, rgb=frame.rgb[:40])
  monkeypatch.setattr(frame_sources.Source, '__iter__', resized_at_4)
  with pytest.raises(UserInputError) as error:
    video_analysis.analyze_and_write(oracle, whole, config, str(tmp_path / 'resized' / 'r'))
  assert f'{whole}, frame 4: 64x40 pixels, but the video started at 64x48' in str(error.value)
  assert len(dlc_csv.read_dlc_csv(str(tmp_path / 'resized' / 'r.csv'))[1]) == 4
  with open(tmp_path / 'resized' / 'r.json') as f:
    assert len(json.load(f)['frames']) == 4
