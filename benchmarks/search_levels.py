"""Which search level finds the object: per validation frame, for each level of
hourglass.inference.search.window_sides, the best window's score and, refined, its score and
mean error (original px); then the search's own choice.

    python benchmarks/search_levels.py MODEL_DIR RECORDS_DIR
"""

import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hourglass.evaluation import evaluator  # noqa: E402
from hourglass.inference.loading import load_predictor  # noqa: E402
from hourglass.inference.search import FrameSearch, window_sides, windows  # noqa: E402
from pipelines.config import PipelineConfig  # noqa: E402
from pipelines.dataset import build_eval_dataset  # noqa: E402
from records.reader import load_manifest  # noqa: E402


def main(model_dir, records_dir):
  predictor = load_predictor(model_dir)
  root = load_manifest(records_dir).raw['settings']['dataset_path']
  dataset = build_eval_dataset(records_dir, PipelineConfig(input_shape=predictor.input_shape,
                                                           batch_size=8))
  truth = evaluator.collect_ground_truth(dataset, with_extra=True)
  search, errors = FrameSearch(predictor), []
  for path, keypoints, visibility in zip(truth['path'], truth['original_keypoints'],
                                         truth['visibility']):
    rgb = cv2.cvtColor(cv2.imread(os.path.join(root, path.decode())), cv2.COLOR_BGR2RGB)
    error = lambda found: np.linalg.norm(found - keypoints, axis=1)[visibility > 0].mean()
    line = []
    for sides in window_sides(predictor.crop_rule.object_scale, rgb.shape):
      boxes = np.concatenate([windows(rgb.shape, s, predictor.input_shape, 0.5) for s in sides])
      found, scores = search.predict_boxes(rgb, boxes)
      best = int(np.argmax(scores.mean(1)))
      refined = search.refine(rgb, found[[best]], scores[[best]])[0]
      line.append(f'{len(boxes)} windows: best {scores.mean(1)[best]:.2f}, refined '
                  f'{refined.score:.2f} at {error(refined.keypoints):.1f} px')
    chosen = search.find(rgb)
    errors.append(error(chosen.keypoints))
    print(' | '.join(line), f'=> search {chosen.score:.2f} at {errors[-1]:.1f} px')
  print(f'mean error of the search {np.mean(errors):.2f} px over {len(errors)} objects')


if __name__ == '__main__':
  main(*sys.argv[1:3])
