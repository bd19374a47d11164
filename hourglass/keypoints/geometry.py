"""In-graph twin of core/geometry.py: affine maps applied to points inside a tf.function (the
input pipeline moves labels with them, validation maps decoded keypoints to original pixels per
batch). Tested against the numpy `apply_affine` in tests/core/test_geometry.py."""

import tensorflow as tf


def apply_affine(matrix, points):
  """Applies affine maps to points, with the numpy `core.geometry.apply_affine`'s name.

  Args:
    matrix: [..., 2, 3] or [..., 3, 3] (bottom row 0 0 1); leading dims broadcast with points'.
    points: [..., K, 2], cast to float32.
  Returns:
    float32 [..., K, 2].
  """
  points = tf.cast(points, tf.float32)
  return tf.linalg.matvec(matrix[..., None, :2, :2], points) + matrix[..., None, :2, 2]
