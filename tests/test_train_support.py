"""Helpers for the training tests (no tests here): a tiny learnable in-memory dataset with the
element structure of pipelines.dataset, a tiny trainer factory, and a subprocess entry point for
multi-replica runs (logical CPU devices must be configured before TensorFlow initialises).

Run as a script: `python tests/test_train_support.py <json settings>` trains with those settings
and prints one JSON line `RESULT {...}` with losses, weights digest and checkpoint info.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

SIZE = 64
K = 3


def make_examples(count, seed, size=SIZE, k=K):
  """Images with a bright square at each of K keypoints (learnable), keypoints in input px.

  Returns:
    images uint8 [N, size, size, 3], keypoints float32 [N, K, 2], visibility int32 [N, K].
  """
  import numpy as np
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 60, (count, size, size, 3)).astype(np.uint8)
  keypoints = rng.uniform(6, size - 7, (count, k, 2)).astype(np.float32)
  visibility = np.ones((count, k), np.int32)
  visibility[rng.uniform(size=(count, k)) < 0.1] = 0
  for n in range(count):
    for j in range(k):
      x, y = np.round(keypoints[n, j]).astype(int)
      images[n, y - 2:y + 3, x - 2:x + 3, j] = 255
  return images, keypoints, visibility


def codec_and_definition(size=SIZE, k=K):
  from hourglass.codec import HeatmapCodec
  from records.keypoint_definition import KeypointDefinition
  names = tuple(f'p{i}' for i in range(k))
  return HeatmapCodec((size, size), 4, 2.0), KeypointDefinition(names=names)


def train_dataset_fn(examples, codec, global_batch, shuffle_seed=None):
  """(epoch, input_context) -> one epoch of per-replica training batches, a pure function of
  (shuffle_seed, epoch): the order is a seeded permutation per epoch."""
  import numpy as np
  import tensorflow as tf
  images, keypoints, visibility = examples

  def fn(epoch, input_context=None):
    order = np.arange(len(images))
    if shuffle_seed is not None:
      order = np.random.default_rng([shuffle_seed, epoch]).permutation(len(images))
    batch = input_context.get_per_replica_batch_size(global_batch) if input_context else \
        global_batch
    ds = tf.data.Dataset.from_tensor_slices((images[order], keypoints[order], visibility[order]))
    if input_context and input_context.num_input_pipelines > 1:
      ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def to_element(image, kp, vis):
      heatmaps, weights = codec.encode(kp, vis)
      return image, {'heatmaps': heatmaps, 'weights': weights, 'keypoints': kp}
    return ds.map(to_element).batch(batch, drop_remainder=True)
  return fn


def eval_dataset_fn(examples, codec, global_batch):
  import tensorflow as tf
  images, keypoints, visibility = examples

  def fn(input_context=None):
    batch = input_context.get_per_replica_batch_size(global_batch) if input_context else \
        global_batch
    ds = tf.data.Dataset.from_tensor_slices((images, keypoints, visibility))
    if input_context and input_context.num_input_pipelines > 1:
      ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def to_element(image, kp, vis):
      heatmaps, weights = codec.encode(kp, vis)
      # input_to_original: the identity plus a shift of 10 px, as a crop from a larger frame.
      affine = tf.constant([[1.0, 0.0, 10.0], [0.0, 1.0, 10.0]])
      return {'image': image, 'heatmaps': heatmaps, 'weights': weights, 'keypoints': kp,
              'visibility': vis, 'input_to_original': affine,
              'original_keypoints': kp + 10.0}
    return ds.map(to_element).batch(batch)
  return fn
