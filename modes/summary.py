"""--mode=summary: parameter counts and FLOPs of the configured model."""

import os

from modes.configs import model_config
from records.keypoint_definition import load_definition


def run(flag_values):
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  from hourglass.model.summary import format_summary, model_summary  # heavy import after env is set
  num_keypoints = flag_values.num_keypoints
  if num_keypoints is None and flag_values.classes_path:
    num_keypoints = load_definition(flag_values.classes_path).num_keypoints
  if num_keypoints is None:
    num_keypoints = 16
  config = model_config(flag_values, num_keypoints)
  print(format_summary(config, model_summary(config)))
