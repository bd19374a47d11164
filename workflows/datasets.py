"""The datasets of evaluation and export, built through pipelines/ for a model's codec."""

import numpy as np

from pipelines.config import PipelineConfig
from pipelines.dataset import build_eval_dataset
from records.reader import load_manifest


def eval_dataset(records_dir, codec, batch_size, split):
  """The eval dataset of a records split for a model with this HeatmapCodec."""
  config = PipelineConfig(input_shape=codec.input_size, stride=codec.stride, sigma=codec.sigma,
                          batch_size=batch_size, augment=False)
  return build_eval_dataset(records_dir, config, split=split)


def split_crops(records_dir, split, codec, count, labelled=False):
  """Up to `count` model-input crops float32 [N, H, W, 3] of a split ([] when empty), and with
  `labelled` their labelled keypoints bool [N, K] (visibility > 0) too."""
  if not load_manifest(records_dir).count(split):
    empty = np.zeros((0,) + tuple(codec.input_size) + (3,), np.float32)
    return (empty, np.zeros((0, 0), bool)) if labelled else empty
  parts, visible, total = [], [], 0
  for batch in eval_dataset(records_dir, codec, 32, split):
    parts.append(batch['image'].numpy().astype(np.float32))
    visible.append(batch['visibility'].numpy() > 0)
    total += len(parts[-1])
    if total >= count:
      break
  images = np.concatenate(parts)[:count]
  return (images, np.concatenate(visible)[:count]) if labelled else images
