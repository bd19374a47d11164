"""--mode=visualize: what the network is fed, as one PNG grid.

    python main.py --mode=visualize --records_dir=records/coco [--num_examples=16] \
        [--output_dir=visualize] [--model_input_shape=256x192] [augmentation flags ...]

N examples straight from the training pipeline (pipelines.dataset.build_train_dataset, epoch 0,
the same flags as training): the augmented image with the target heatmaps blended on top and the
keypoints and skeleton drawn where the pipeline says they are (only keypoints with weight 1).
"""

from modes import configs
from workflows import visualize


def run(flag_values):
  """Draws the grid and prints where it is; returns its path."""
  path, count = visualize.run(configs.visualize_config(flag_values))
  print(f'wrote {count} augmented training examples to {path}')
  return path
