"""--mode=predict: keypoints on an image, a folder, a video file or a webcam.

    python main.py --mode=predict --model_path=runs/m --input=clip.mp4 [--output=out.mp4] \
        [--conf_threshold=0.1] [--detections=boxes.json] [--flip_test] [--max_frames=100] \
        [--smoothing=auto|savgol|one_euro|off] [--nodraw] [--trail=10]
"""

from hourglass.inference.prediction import PredictConfig, predict_source
from hourglass.inference.loading import load_predictor
from hourglass.inference.smoothing import SmoothingConfig
from hourglass.inference.tracking import TrackConfig
from hourglass.inference.video_analysis import AnalysisConfig
from modes.configs import announce_flip_test
from core.errors import UserInputError


def analysis_config(flag_values):
  """The video analysis settings of the tracking and smoothing flags (predict, select_frames)."""
  return AnalysisConfig(
      track=TrackConfig(min_score=flag_values.track_min_score,
                        check_every=flag_values.search_every),
      smoothing=SmoothingConfig(flag_values.smoothing, flag_values.pcutoff,
                                flag_values.smooth_window, flag_values.smooth_polyorder,
                                flag_values.max_gap, flag_values.one_euro_min_cutoff,
                                flag_values.one_euro_beta),
      draw=flag_values.draw, trail=flag_values.trail, max_frames=flag_values.max_frames)


def run(flag_values):
  if flag_values.input is None:
    raise UserInputError('--mode=predict needs --input (an image, a folder, a video file or a '
                         'webcam index)')
  predictor = load_predictor(flag_values.model_path, batch_size=flag_values.batch_size,
                             num_threads=flag_values.num_threads)
  announce_flip_test(flag_values, predictor)
  analysis = analysis_config(flag_values)
  config = PredictConfig(input=flag_values.input, output=flag_values.output,
                         decoder=flag_values.decoder, flip_test=flag_values.flip_test,
                         conf_threshold=flag_values.conf_threshold,
                         detections=flag_values.detections,
                         annotation_path=flag_values.annotation_path,
                         missing_boxes=flag_values.missing_boxes,
                         detection_score_threshold=flag_values.detection_score_threshold,
                         max_frames=flag_values.max_frames, analysis=analysis)
  summary = predict_source(predictor, config)
  print(f'{summary["frames"]} frames, {summary["objects"]} objects, '
        f'{summary["frames_per_second"]:.1f} frames/s -> {summary["output"]} '
        f'(keypoints: {summary["json"]})')
  return summary
