"""Which search level finds the object: per validation frame, for each level of
hourglass.inference.search.window_sides, the best window's score and, refined, its score and
mean error (original px); then the search's own choice.

    python benchmarks/search_levels.py MODEL_DIR RECORDS_DIR
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('model_dir', help='a model directory, bundle or export')
  result.add_argument('records_dir', help='records whose validation frames are searched')
  return result


def level_line(search, rgb, error):
  """One line: per level of window sides, the windows' best score and its refined result."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.search import window_sides, windows
  # pylint: enable=g-import-not-at-top
  predictor, line = search.predictor, []
  for sides in window_sides(predictor.crop_rule.object_scale, rgb.shape):
    boxes = np.concatenate([windows(rgb.shape, s, predictor.input_shape, 0.5) for s in sides])
    found, scores = search.predict_boxes(rgb, boxes)
    best = int(np.argmax(scores.mean(1)))
    refined = search.refine(rgb, found[[best]], scores[[best]])[0]
    line.append(f'{len(boxes)} windows: best {scores.mean(1)[best]:.2f}, refined '
                f'{refined.score:.2f} at {error(refined.keypoints):.1f} px')
  return ' | '.join(line)


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  import cv2

  from hourglass.evaluation import evaluator
  from hourglass.inference.loading import load_predictor
  from hourglass.inference.search import FrameSearch
  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  from records.reader import load_manifest
  # pylint: enable=g-import-not-at-top
  predictor = load_predictor(args.model_dir)
  root = load_manifest(args.records_dir).raw['settings']['dataset_path']
  dataset = build_eval_dataset(args.records_dir, PipelineConfig(
      input_shape=predictor.input_shape, batch_size=8))
  truth = evaluator.collect_ground_truth(dataset, with_extra=True)
  search, errors = FrameSearch(predictor), []
  for path, keypoints, visibility in zip(truth['path'], truth['original_keypoints'],
                                         truth['visibility']):
    rgb = cv2.cvtColor(cv2.imread(os.path.join(root, path.decode())), cv2.COLOR_BGR2RGB)
    error = lambda found, k=keypoints, v=visibility: (
        np.linalg.norm(found - k, axis=1)[v > 0].mean())
    line = level_line(search, rgb, error)
    chosen = search.find(rgb)
    errors.append(error(chosen.keypoints))
    print(line, f'=> search {chosen.score:.2f} at {errors[-1]:.1f} px')
  print(f'mean error of the search {np.mean(errors):.2f} px over {len(errors)} objects')


if __name__ == '__main__':
  main()
