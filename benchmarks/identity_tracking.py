"""Identities through a video: the synthetic 3-creature video (records/sources/
synthetic_herd_video.py, 900 frames, seed 0) tracked with a detector, against its ground truth.

    python benchmarks/identity_tracking.py --model_path=KEYPOINTS.tflite \
        --detector_path=DETECTOR.tflite --out=/tmp/herd [--detect_every=1,5]

For each setting (without and with --num_objects=3, for each --detect_every), keypoints only:
- identity switches and IDF1 (hourglass/evaluation/identity_metrics.py: creatures matched to
  tracks per frame at OKS >= 0.5); goals <= 2 switches, IDF1 >= 0.9;
- the mean keypoint error of the tracked creatures against the error with true boxes (each
  creature cropped by the training box rule around its true visible keypoints); goal <= 1.25x;
- frames until the creature that leaves the frame (wholly outside for 59 frames of seed 0) is
  matched again once back; goal <= 5;
- speed: frames/s of the tracked pass against the detector + crops pass without identities
  (hourglass.inference.objects.predict_objects over the same frames, same batches), taking turns
  in one run; goal: tracking costs <= 10%.
"""

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_path', required=True, help='keypoint model of the creatures')
  result.add_argument('--detector_path', required=True)
  result.add_argument('--out', required=True, help='folder for the video and the results')
  result.add_argument('--frames', type=int, default=900)
  result.add_argument('--seed', type=int, default=0)
  result.add_argument('--detect_every', default='1', help='comma-separated values to compare')
  result.add_argument('--threads', type=int, default=2)
  return result


def herd_video(args):
  """(video path, truth: MultiAnimalCsv, events dict) of the synthetic video, made once."""
  # pylint: disable=g-import-not-at-top
  from core import files
  from records import dlc_csv
  from records.sources import synthetic_herd_video
  # pylint: enable=g-import-not-at-top
  path = os.path.join(args.out, f'herd_{args.frames}_{args.seed}.mp4')
  stem = os.path.splitext(path)[0]
  if not os.path.exists(f'{stem}_truth.json'):
    os.makedirs(args.out, exist_ok=True)
    synthetic_herd_video.write_video(path, frames=args.frames, seed=args.seed)
  return path, dlc_csv.read_multi_animal_csv(f'{stem}_truth.csv'), files.read_json(
      f'{stem}_truth.json', 'ground truth')


def true_box_error(predictor, video, truth):
  """Mean keypoint error (px, visible truth points) with every creature cropped by its true
  box."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference import frame_sources
  from hourglass.inference.config import PredictConfig
  from hourglass.inference.objects import FixedBoxes, predict_objects
  # pylint: enable=g-import-not-at-top
  config, errors = PredictConfig(input=video, box_scale=1.0), []
  visible_all = truth.likelihood > 0
  for frame in frame_sources.Source(video):
    visible = visible_all[frame.index]
    present = [g for g in range(visible.shape[0]) if visible[g].any()]
    boxes = [predictor.crop_rule.keypoint_box(truth.xy[frame.index, g], visible[g])
             for g in present]
    found = predict_objects(predictor, [frame], FixedBoxes(boxes, 'true boxes'), config,
                            None)[frame.index]
    assert len(found) == len(present), 'a true box was dropped'
    for g, obj in zip(present, found):
      d = np.linalg.norm(obj['keypoints'] - truth.xy[frame.index, g], axis=-1)
      errors.append(d[visible[g]])
  return float(np.mean(np.concatenate(errors)))


def untracked_seconds(predictor, detector, video, frames):
  """Seconds of the detector + crops pass over the video, no identities (batches of 8)."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference import frame_sources
  from hourglass.inference.config import PredictConfig
  from hourglass.inference.detectors import DetectorBoxes
  from hourglass.inference.objects import predict_objects
  # pylint: enable=g-import-not-at-top
  config, boxes, batch = PredictConfig(input=video), DetectorBoxes(detector), []
  start = time.perf_counter()
  for frame in frame_sources.Source(video, frames):
    batch.append(frame)
    if len(batch) == config.batch_frames:
      predict_objects(predictor, batch, boxes, config, None)
      batch = []
  if batch:
    predict_objects(predictor, batch, boxes, config, None)
  return time.perf_counter() - start


def tracked(predictor, detector, video, num_objects, detect_every):
  """(IdentityAnalysis, seconds) of the tracked pass, keypoints only."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.config import AnalysisConfig, IdentityConfig, PredictConfig
  from hourglass.inference.detectors import DetectorBoxes
  from hourglass.inference.identity_analysis import analyze_objects
  # pylint: enable=g-import-not-at-top
  analysis = AnalysisConfig(identity=IdentityConfig(num_objects=num_objects,
                                                    detect_every=detect_every), draw=False)
  config = PredictConfig(input=video, analysis=analysis, log_every_s=30.0)
  start = time.perf_counter()
  result = analyze_objects(predictor, video, DetectorBoxes(detector), config)
  return result, time.perf_counter() - start


def scores(result, truth, events, sigmas):
  """hourglass.evaluation.identity_metrics.summary of a tracked pass."""
  from hourglass.evaluation import identity_metrics  # pylint: disable=g-import-not-at-top
  visible = truth.likelihood > 0
  # OKS area: the box of each creature's in-frame points (None while it is outside).
  area = np.array([[b[2] * b[3] if b else 0.0 for b in frame] for frame in events['boxes']])
  leaver = events['leaving']['individual']
  returning = None
  if events['outside'][leaver]:  # (creature, the first frame after it was wholly outside)
    returning = (truth.individuals.index(leaver), events['outside'][leaver][0][1] + 1)
  return identity_metrics.summary(truth.xy, visible, area, result.keypoints, result.present,
                                  result.track_ids, sigmas, returning=returning)


def switch_frames(matched):
  """[(frame, creature, old id, new id)] of every identity switch (matched [T, G])."""
  out = []
  for g in range(matched.shape[1]):
    last = -1
    for t, track_id in enumerate(matched[:, g]):
      if track_id >= 0:
        if last >= 0 and track_id != last:
          out.append((t, g, int(last), int(track_id)))
        last = track_id
  return out


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.detectors import load_detector
  from hourglass.inference.loading import load_predictor
  # pylint: enable=g-import-not-at-top
  video, truth, events = herd_video(args)
  predictor = load_predictor(args.model_path, num_threads=args.threads)
  detector = load_detector(args.detector_path, num_threads=args.threads)
  sigmas = predictor.definition.oks_sigmas()
  reference = true_box_error(predictor, video, truth)
  print(f'{video}: {len(truth.frames)} frames; keypoint error with true boxes {reference:.2f} px')
  for every in [int(v) for v in args.detect_every.split(',')]:
    for num_objects in (None, 3):
      plain = untracked_seconds(predictor, detector, video, args.frames)
      result, seconds = tracked(predictor, detector, video, num_objects, every)
      print(report(f'detect_every={every}, num_objects={num_objects}',
                   scores(result, truth, events, sigmas), result, seconds, plain, reference,
                   events))
      if num_objects is None:
        bound = scores(oracle(result, truth, events, sigmas), truth, events, sigmas)
        print(f'  the same objects given the true identities (per frame, OKS >= 0.5): IDF1 '
              f'{bound.identity.idf1:.3f}, {bound.matches} of {bound.detections} creature-frames '
              f'matched')


def report(name, s, result, seconds, plain, reference, events):
  """The line of one tracked pass against the goals."""
  leaver = events['leaving']['individual']
  ok = (s.id_switches <= 2 and s.identity.idf1 >= 0.9 and s.mean_error <= 1.25 * reference
        and (not events['outside'][leaver] or (s.refound is not None and s.refound <= 5))
        and plain / seconds >= 1 / 1.1)
  identities_ms = 1000 * result.timings['identities'] / result.frames
  return (f'{name}: {s.id_switches} switches, IDF1 {s.identity.idf1:.3f} (IDP '
          f'{s.identity.idp:.3f}, IDR {s.identity.idr:.3f}), {len(result.track_ids)} ids, '
          f'error {s.mean_error:.2f} px = {s.mean_error / reference:.2f}x true boxes, '
          f're-found after {s.refound} frames; {result.frames / seconds:.1f} frames/s tracked '
          f'against {result.frames / plain:.1f} without identities (ratio {plain / seconds:.2f}; '
          f'identities {identities_ms:.2f} ms/frame); goals {"met" if ok else "NOT met"}; '
          f'switches (frame, creature, id before, id after): {switch_frames(s.matched)}')


def oracle(result, truth, events, sigmas):
  """The tracked pass's objects with the true identities: each frame's objects matched to the
  creatures by the metric's own rule (an upper bound of what association can reach with these
  objects). Returns an object with the fields `scores` reads."""
  # pylint: disable=g-import-not-at-top
  import dataclasses
  from hourglass.evaluation import identity_metrics
  from hourglass.inference.identity_analysis import identity_arrays
  # pylint: enable=g-import-not-at-top
  visible = truth.likelihood > 0
  area = np.array([[b[2] * b[3] if b else 0.0 for b in frame] for frame in events['boxes']])
  objects = [[dict(o, track_id=-1) for o in frame] for frame in result.objects]
  for t, frame in enumerate(objects):
    if frame:
      xy = np.array([o['keypoints'] for o in frame])[None]
      present = np.ones((1, len(frame)), bool)
      similarity = identity_metrics.pairwise_oks(truth.xy[t:t + 1], visible[t:t + 1],
                                                 area[t:t + 1], xy, present, sigmas)
      matched = identity_metrics.assign_frames(similarity, np.arange(len(frame)))[0]
      for g, m in enumerate(matched):
        if m >= 0:
          frame[m]['track_id'] = g
  track_ids, keypoints, _, boxes = identity_arrays(objects, truth.xy.shape[2])
  return dataclasses.replace(result, track_ids=track_ids, keypoints=keypoints, boxes=boxes)


if __name__ == '__main__':
  main()
