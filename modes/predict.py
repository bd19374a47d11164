"""--mode=predict: keypoints on an image, a folder, a video file or a webcam.

    python main.py --mode=predict --model_path=runs/m --input=clip.mp4 [--output=out.mp4] \
        [--conf_threshold=0.1] [--detections=boxes.json] [--flip_test] [--max_frames=100] \
        [--smoothing=auto|savgol|one_euro|off] [--nodraw] [--trail=10]
"""

from core.errors import UserInputError
from modes import configs
from workflows import predict


def run(flag_values):
  """Predicts and prints counts, speed and outputs; returns the PredictSummary."""
  if flag_values.input is None:
    raise UserInputError('--mode=predict needs --input (an image, a folder, a video file or a '
                         'webcam index)')
  summary = predict.run(configs.predict_run_config(flag_values))
  print(predict.summary(summary))
  return summary
