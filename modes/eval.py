"""--mode=eval: score a trained model on the val records (PCK, PCKh, COCO AP) and write reports.

    python main.py --mode=eval --model_path=runs/m --records_dir=records/coco \
        [--decoder=dark] [--flip_test] [--score_threshold=0.5] [--save_result] \
        [--detections=person_detections.json] [--output_dir=runs/m/eval]
"""

import logging

from modes import configs
from workflows import evaluate


def run(flag_values):
  """Evaluates and prints the figures; returns the evaluator's result dict."""
  result, output_dir = evaluate.run(configs.evaluate_config(flag_values))
  print(evaluate.summary(result, output_dir))
  logging.info('eval done: %s', output_dir)
  return result
