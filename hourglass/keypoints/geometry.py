"""In-graph twin of core/geometry.py: affines applied to keypoints inside a tf.function
(validation maps decoded keypoints to original pixels per batch). Tested against the numpy
version in tests/test_geometry.py."""

import tensorflow as tf


def apply_affine(matrices, points):
  """[B, 2, 3] affine maps applied to [B, K, 2] points -> [B, K, 2]."""
  linear = matrices[:, :, :2]
  return tf.einsum('bij,bkj->bki', linear, points) + matrices[:, None, :, 2]
