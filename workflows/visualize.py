"""What the network is fed: examples from the training pipeline with their target heatmaps,
keypoints and skeleton drawn, as one PNG grid."""

import dataclasses
import logging
import math
import os

from hourglass.keypoints import drawing
from pipelines.dataset import build_train_dataset
from records.reader import load_manifest

GRID_NAME = 'visualize.png'


def render_examples(records_dir, config, num_examples):
  """Takes examples from the training pipeline and draws them.

  Returns:
    list of np.uint8 [H, W, 3] RGB images, at most num_examples (fewer if the split is smaller).
  """
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


def run(config):
  """Draws config.num_examples training examples into <output_dir>/visualize.png.

  Returns:
    (the grid's path, the number of examples drawn).
  """
  cells = render_examples(config.records_dir, config.pipeline, config.num_examples)
  if config.record_settings:
    config.record_settings(config.output_dir)
  path = os.path.join(config.output_dir, GRID_NAME)
  columns = int(math.ceil(math.sqrt(len(cells))))
  drawing.save_grid(cells, path, columns)
  logging.info('wrote %d training examples to %s', len(cells), path)
  return path, len(cells)
