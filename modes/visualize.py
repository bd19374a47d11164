"""--mode=visualize: what the network is fed, as one PNG grid.

    python main.py --mode=visualize --records_dir=records/coco [--num_examples=16] \
        [--output_dir=visualize] [--model_input_shape=256x192] [augmentation flags ...]

N examples straight from the training pipeline (pipelines.dataset.build_train_dataset, epoch 0,
the same flags as training): the augmented image with the target heatmaps blended on top and the
keypoints and skeleton drawn where the pipeline says they are (only keypoints with weight 1).
"""

import dataclasses
import logging
import math
import os

from flags.common import save_resolved_flags
from modes.configs import input_shape_or, pipeline_config
from hourglass.keypoints import drawing
from core.errors import UserInputError
from records.reader import load_manifest

GRID_NAME = 'visualize.png'


def render_examples(records_dir, config, num_examples):
  """Takes examples from the training pipeline and draws them.

  Returns:
    list of np.uint8 [H, W, 3] RGB images, at most num_examples (fewer if the split is smaller).
  """
  from pipelines.dataset import build_train_dataset  # pylint: disable=g-import-not-at-top
  definition = load_manifest(records_dir).definition
  config = dataclasses.replace(config, batch_size=1)
  cells = []
  for images, targets in build_train_dataset(records_dir, config).take(num_examples):
    image = images.numpy()[0]
    blended = drawing.heatmap_overlay(image, targets['heatmaps'].numpy()[0], alpha=0.4)
    cells.append(drawing.draw_keypoints(blended, targets['keypoints'].numpy()[0],
                                        targets['weights'].numpy()[0], definition,
                                        conf_threshold=0.5))
  return cells


def run(flag_values):
  if not flag_values.records_dir:
    raise UserInputError('--mode=visualize needs --records_dir (a make_records output)')
  output_dir = flag_values.output_dir or 'visualize'
  config = pipeline_config(flag_values, input_shape_or(flag_values, None))
  cells = render_examples(flag_values.records_dir, config, flag_values.num_examples)
  save_resolved_flags(flag_values, output_dir)
  path = os.path.join(output_dir, GRID_NAME)
  columns = int(math.ceil(math.sqrt(len(cells))))
  drawing.save_grid(cells, path, columns)
  logging.info('wrote %d training examples to %s', len(cells), path)
  print(f'wrote {len(cells)} augmented training examples to {path}')
  return path
