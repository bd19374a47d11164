"""Video analysis benchmark: tracking, re-search and smoothing against ground truth (the synthetic
video), or speed and agreement on a real video (openfield's m3v1mp4.mp4).

    python benchmarks/video_tracking.py --model_path=runs/quickstart/model --synthetic=/tmp/walk
    python benchmarks/video_tracking.py --model_path=runs/openfield/model \
        --video=../shared/data/openfield/m3v1mp4.mp4

Synthetic (records/sources/synthetic_video.py, 600 frames 640x480): per-frame mean error of
tracking against the same model on the true boxes (the training box rule on the true keypoints),
frames until the creature is found again after it re-enters, and the jitter (RMS of the second
difference) and mean error of the raw and the smoothed track.
Real video: frames/s end to end with the labelled video and keypoints only (--nodraw), ms per
stage, the fraction of frames whose every keypoint reaches --pcutoff, and how often tracking and
an independent whole-frame search agree within 5 px (on every 10th frame).
"""

import dataclasses
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def _errors(xy, truth):
  """Mean keypoint distance per frame over the true points (NaN where none)."""
  d = np.linalg.norm(xy - truth, axis=-1)
  with warnings.catch_warnings():  # frames with no true point: NaN, on purpose
    warnings.simplefilter('ignore', RuntimeWarning)
    return np.nanmean(np.where(np.isfinite(truth[..., 0]), d, np.nan), axis=1)


def synthetic(args, predictor):
  """Tracking on the synthetic walk against the same model on the true boxes."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference import (config as inference_config, frame_sources, smoothing,
                                   video_analysis)
  from hourglass.inference.search import FrameSearch
  from records import dlc_csv
  from records.sources import synthetic_video
  # pylint: enable=g-import-not-at-top
  path = os.path.join(args.synthetic, 'walk.mp4')
  info = synthetic_video.write_video(path, frames=args.frames)
  _, _, truth, likelihood = dlc_csv.read_dlc_csv(info['truth_csv'])
  truth = np.where(likelihood[..., None] >= 1.0, truth, np.nan)  # visible points only
  config = inference_config.AnalysisConfig()
  result, _ = video_analysis.analyze_and_write(predictor, path, config,
                                               os.path.join(args.synthetic, 'walk_keypoints'))
  # The same model on the true boxes (frames with at least two visible points).
  search, rule = FrameSearch(predictor), predictor.crop_rule
  true_box = np.full(result.keypoints.shape, np.nan)
  for frame in frame_sources.Source(path):
    seen = np.isfinite(truth[frame.index, :, 0])
    if seen.sum() >= 2:
      box = rule.keypoint_box(np.nan_to_num(truth[frame.index]), seen)
      true_box[frame.index] = search.predict_boxes(frame.rgb, np.array([box]))[0][0]
  both = np.isfinite(_errors(true_box, truth))
  tracked_error = np.nanmean(_errors(result.keypoints, truth)[both])
  box_error = np.nanmean(_errors(true_box, truth)[both])
  (start, end), = info['outside']
  back = end + np.flatnonzero(np.isfinite(truth[end:, :, 0]).sum(1) >= 2)[0]
  after = _errors(result.keypoints, truth)[back:back + 30]
  box_after = _errors(true_box, truth)[back:back + 30]
  found = np.flatnonzero(after < 2.0 * np.maximum(box_after, 1.0))
  smoothed = result.smoothed
  confident = result.scores >= config.pcutoff
  raw = np.where(confident[..., None], result.keypoints, np.nan)
  print(f'synthetic video: {result.frames} frames, out of view {start}-{end}, occluded '
        f'{info["occluded"]}; {result.searches} searches ({result.researches} after a loss)')
  print(f'  mean error per frame: tracking {tracked_error:.2f} px, true boxes {box_error:.2f} px '
        f'(ratio {tracked_error / box_error:.2f}) over {both.sum()} frames')
  print(f'  re-entry: the creature is back in view at frame {back}; tracking is within 2x the '
        f'true-box error {found[0] if len(found) else "never"} frame(s) later')
  print(f'  jitter (RMS second difference, confident points): raw {smoothing.jitter(raw):.3f}, '
        f'smoothed {smoothing.jitter(smoothed):.3f} px/frame^2 '
        f'(ratio {smoothing.jitter(raw) / smoothing.jitter(smoothed):.2f}); mean error raw '
        f'{np.nanmean(_errors(raw, truth)):.2f}, smoothed '
        f'{np.nanmean(_errors(smoothed, truth)):.2f} px')
  print('  ' + video_analysis.summary_line(result, config))


def real(args, predictor):
  """Speed of a real video's analysis and its agreement with an independent search."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference import (config as inference_config, frame_sources, smoothing,
                                   video_analysis)
  from hourglass.inference.search import FrameSearch
  # pylint: enable=g-import-not-at-top
  config = inference_config.AnalysisConfig(
      smoothing=smoothing.SmoothingConfig(min_score=args.pcutoff))
  out = os.path.join(args.out, os.path.splitext(os.path.basename(args.video))[0])
  rows = []
  for draw in (True, False):
    start = time.perf_counter()
    result, written = video_analysis.analyze_and_write(
        predictor, args.video, dataclasses.replace(
            config, draw=draw, max_frames=args.frames), out + ('' if draw else '_bare'))
    seconds = time.perf_counter() - start
    rows.append((draw, result, seconds, written))
  search = FrameSearch(predictor)
  agree = total = 0
  for frame in frame_sources.Source(args.video, args.frames):
    if frame.index % 10 == 0:
      found = search.find(frame.rgb)
      d = np.linalg.norm(found.keypoints - rows[1][1].keypoints[frame.index], axis=-1).mean()
      agree, total = agree + int(d < 5.0), total + 1
  for draw, result, seconds, written in rows:
    what = 'with the labelled video' if draw else 'keypoints only (--nodraw)'
    print(f'{predictor.name}: {result.frames / seconds:.1f} frames/s end to end, {what}')
    print('  ' + video_analysis.summary_line(result, config))
  print(f'  tracking and an independent whole-frame search agree within 5 px on {agree} of '
        f'{total} frames (every 10th); labelled video: {rows[0][3].get("video")}')


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_path', required=True)
  result.add_argument('--synthetic', help='folder for the synthetic video and its results')
  result.add_argument('--video', help='a real video to analyse')
  result.add_argument('--out', default='/tmp/video_tracking')
  result.add_argument('--frames', type=int, default=None)
  result.add_argument('--pcutoff', type=float, default=0.4)
  result.add_argument('--threads', type=int, default=None,
                      help='CPU threads of a .tflite/.onnx/.mnn runtime (default: its own)')
  return result


def main(argv=None):
  args = harness.start(parser(), argv)
  from hourglass.inference.loading import load_predictor  # pylint: disable=g-import-not-at-top
  predictor = load_predictor(args.model_path, batch_size=64, num_threads=args.threads)
  if args.synthetic:
    args.frames = args.frames or 600
    synthetic(args, predictor)
  if args.video:
    os.makedirs(args.out, exist_ok=True)
    real(args, predictor)


if __name__ == '__main__':
  main()
