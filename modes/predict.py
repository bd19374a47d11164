"""--mode=predict: keypoints on an image, a folder, a video file or a webcam.

    python main.py --mode=predict --model_path=runs/m --input=clip.mp4 [--output=out.mp4] \
        [--conf_threshold=0.1] [--detections=boxes.json] [--flip_test] [--max_frames=100]
"""

from hourglass.inference.prediction import PredictConfig, predict_source
from hourglass.inference.loading import load_predictor
from records.errors import UserInputError


def run(flag_values):
  if flag_values.input is None:
    raise UserInputError('--mode=predict needs --input (an image, a folder, a video file or a '
                         'webcam index)')
  predictor = load_predictor(flag_values.model_path, batch_size=flag_values.batch_size)
  config = PredictConfig(input=flag_values.input, output=flag_values.output,
                         decoder=flag_values.decoder, flip_test=flag_values.flip_test,
                         conf_threshold=flag_values.conf_threshold,
                         detections=flag_values.detections,
                         annotation_path=flag_values.annotation_path,
                         missing_boxes=flag_values.missing_boxes,
                         detection_score_threshold=flag_values.detection_score_threshold,
                         max_frames=flag_values.max_frames)
  summary = predict_source(predictor, config)
  print(f'{summary["frames"]} frames, {summary["objects"]} objects, '
        f'{summary["frames_per_second"]:.1f} frames/s -> {summary["output"]} '
        f'(keypoints: {summary["json"]})')
  return summary
