"""Several objects per frame, speed: detector + keypoint crops on 640x480 frames with 3 objects,
against the single-object rate (openfield's video, tracked) in the same run.

    python benchmarks/detector_speed.py --model_path=KEYPOINTS.tflite \
        --detector_path=DETECTOR.tflite --single_model_path=OPENFIELD.tflite [--frames=300]

Multi: synthetic frames with exactly 3 creatures (records/sources/synthetic.py, scaled from
320x240 to 640x480), keypoints only: per batch of 8 frames the detector in one call, then the 3
crops of every frame in one call (hourglass.inference.objects.predict_objects, what predict
runs). Single: openfield's m3v1mp4.mp4 tracked, keypoints only (hourglass.inference.
video_analysis.analyze). Each rate over --frames frames after a warm-up, 2 threads per runtime.
Goal (issue 39): multi >= 0.33x single.
"""

import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402

VIDEO = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'openfield', 'm3v1mp4.mp4')


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_path', required=True, help='keypoint model of the creatures')
  result.add_argument('--detector_path', required=True)
  result.add_argument('--single_model_path', required=True, help='openfield keypoint model')
  result.add_argument('--frames', type=int, default=300)
  result.add_argument('--threads', type=int, default=2)
  return result


def three_creature_frames(count, seed=0):
  """RGB uint8 [count, 480, 640, 3]: synthetic images with exactly 3 creatures, scaled 2x."""
  import cv2  # pylint: disable=g-import-not-at-top
  from records.sources import synthetic  # pylint: disable=g-import-not-at-top
  frames, index = [], 0
  while len(frames) < count:
    scene, visibility = synthetic.make_multi_scene(seed, 'val', index, 3)
    index += 1
    if len(visibility) == 3:
      bgr = cv2.resize(scene.render(), (640, 480), interpolation=cv2.INTER_LINEAR)
      frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
  return np.stack(frames)


def multi_rate(args, frames):
  """(frames/s, mean objects per frame) of detector + crops, keypoints only."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.config import PredictConfig
  from hourglass.inference.detectors import DetectorBoxes, load_detector
  from hourglass.inference.frame_sources import Frame
  from hourglass.inference.loading import load_predictor
  from hourglass.inference.objects import predict_objects
  # pylint: enable=g-import-not-at-top
  predictor = load_predictor(args.model_path, num_threads=args.threads)
  boxes = DetectorBoxes(load_detector(args.detector_path, num_threads=args.threads))
  config = PredictConfig(input='benchmark')
  batches = [[Frame(i + j, f'{i + j}', frame) for j, frame in enumerate(frames[i:i + 8])]
             for i in range(0, len(frames), 8)]
  predict_objects(predictor, batches[0], boxes, config, None)  # warm-up
  start, objects = time.perf_counter(), 0
  for batch in batches:
    found = predict_objects(predictor, batch, boxes, config, None)
    objects += sum(len(v) for v in found.values())
  return len(frames) / (time.perf_counter() - start), objects / len(frames)


def single_rate(args):
  """Frames/s of the tracked openfield video, keypoints only."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.config import AnalysisConfig
  from hourglass.inference.loading import load_predictor
  from hourglass.inference.video_analysis import analyze
  # pylint: enable=g-import-not-at-top
  predictor = load_predictor(args.single_model_path, num_threads=args.threads)
  analyze(predictor, VIDEO, AnalysisConfig(max_frames=20))  # warm-up
  start = time.perf_counter()
  result = analyze(predictor, VIDEO, AnalysisConfig(max_frames=args.frames))
  return result.frames / (time.perf_counter() - start)


def main(argv=None):
  args = harness.start(parser(), argv)
  frames = three_creature_frames(args.frames)
  single = single_rate(args)
  multi, objects = multi_rate(args, frames)
  print(f'single object (openfield video, tracked): {single:.1f} frames/s')
  print(f'3 objects (640x480, detector + crops): {multi:.1f} frames/s, {objects:.2f} objects per '
        f'frame found; ratio {multi / single:.2f} (goal >= 0.33)')


if __name__ == '__main__':
  main()
