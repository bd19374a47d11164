"""Detector targets and loss (TensorFlow, graph-safe; shapes fixed per input size).

Boxes are [x, y, w, h] in model-input pixels with the project's convention (integer = pixel
centre, so the box centre is (x + w / 2, y + h / 2)), mapped to heatmap pixels as the keypoint
codec maps points: heatmap coordinate = (u - (stride - 1) / 2) / stride.

Targets [h, w, 3]:
  0: the centre heatmap, the largest of the objects' Gaussians (peak 1 at the sub-pixel centre,
     standard deviations SIGMA_FACTOR x the box sides in heatmap pixels, never under MIN_SIGMA;
     the box-shaped Gaussian of TTFNet, Liu et al. 2019);
  1, 2: log(box width), log(box height) in heatmap pixels of the object whose Gaussian is the
     largest there.
Size weights [h, w]: that Gaussian's value, so the sizes are learned around each centre.
"""

import tensorflow as tf

SIGMA_FACTOR = 0.54 / 6.0
MIN_SIGMA = 0.8
# The size loss's weight against the centre loss (each is O(1) per object).
SIZE_WEIGHT = 1.0


def encode(boxes, count, heatmap_shape, stride):
  """Target maps of one frame.

  Args:
    boxes: float32 [M, 4] x, y, w, h model-input px; the first `count` are objects, the rest
      padding.
    count: int32 [], the number of objects.
    heatmap_shape: (h, w) of the output maps.
    stride: model-input pixels per heatmap pixel.
  Returns:
    (maps float32 [h, w, 3], size_weights float32 [h, w]).
  """
  height, width = heatmap_shape
  boxes = tf.convert_to_tensor(boxes, tf.float32)
  real = tf.range(tf.shape(boxes)[0]) < count                                  # [M]
  size = tf.maximum(boxes[:, 2:] / stride, 1e-3)                               # [M, 2] hm px
  centre = (boxes[:, :2] + boxes[:, 2:] / 2.0 - (stride - 1) / 2.0) / stride   # [M, 2] hm px
  sigma = tf.maximum(SIGMA_FACTOR * size, MIN_SIGMA)
  xs = tf.range(width, dtype=tf.float32)
  ys = tf.range(height, dtype=tf.float32)
  gx = tf.exp(-tf.square(xs[None] - centre[:, :1]) / (2.0 * tf.square(sigma[:, :1])))  # [M, w]
  gy = tf.exp(-tf.square(ys[None] - centre[:, 1:]) / (2.0 * tf.square(sigma[:, 1:])))  # [M, h]
  gaussians = gy[:, :, None] * gx[:, None, :] * tf.cast(real, tf.float32)[:, None, None]
  gaussians = tf.concat([gaussians, tf.zeros([1, height, width])], 0)  # no object: all zero
  heat = tf.reduce_max(gaussians, 0)                                            # [h, w]
  owner = tf.argmax(gaussians, 0, output_type=tf.int32)
  log_size = tf.concat([tf.math.log(size), tf.zeros([1, 2])], 0)
  sizes = tf.gather(log_size, owner)                                            # [h, w, 2]
  return tf.concat([heat[..., None], sizes], -1), heat


def ignore_weights(boxes, count, heatmap_shape, stride):
  """[h, w] centre-map weights: 0 at map pixels whose centre lies in one of the first `count`
  ignore boxes [M, 4] (x, y, w, h model-input px: objects that are no labels), else 1."""
  height, width = heatmap_shape
  boxes = tf.convert_to_tensor(boxes, tf.float32)
  real = tf.range(tf.shape(boxes)[0]) < count
  xs = tf.range(width, dtype=tf.float32) * stride + (stride - 1) / 2.0   # input px
  ys = tf.range(height, dtype=tf.float32) * stride + (stride - 1) / 2.0
  in_x = (xs[None] >= boxes[:, :1]) & (xs[None] <= boxes[:, :1] + boxes[:, 2:3])  # [M, w]
  in_y = (ys[None] >= boxes[:, 1:2]) & (ys[None] <= boxes[:, 1:2] + boxes[:, 3:4])  # [M, h]
  inside = in_y[:, :, None] & in_x[:, None, :] & real[:, None, None]
  return 1.0 - tf.cast(tf.reduce_any(inside, 0), tf.float32)


def per_example_loss(outputs, maps, size_weights, counts, centre_weights=None):
  """The detector loss of a batch, per example and per stack.

  Centre: squared error summed over the map, per object (as the keypoint heatmap loss, whose
  Gaussian peaks it shares); sizes: L1 of the log sizes weighted by size_weights.

  Args:
    outputs: a list of num_stacks tensors [B, h, w, 3] (or one tensor).
    maps: [B, h, w, 3] targets; size_weights: [B, h, w]; counts: [B] objects per frame.
    centre_weights: [B, h, w] weights of the centre loss (ignore_weights), or None (all 1).
  Returns:
    (total [B], [per stack [B]]).
  """
  outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
  objects = tf.maximum(tf.cast(counts, tf.float32), 1.0)
  weight_sum = tf.maximum(tf.reduce_sum(size_weights, [1, 2]), 1e-6)
  per_stack = []
  for out in outputs:
    out = tf.cast(out, tf.float32)
    centre_error = tf.square(out[..., 0] - maps[..., 0])
    if centre_weights is not None:
      centre_error *= centre_weights
    centre = tf.reduce_sum(centre_error, [1, 2]) / objects
    sizes = tf.reduce_sum(tf.abs(out[..., 1:] - maps[..., 1:]), -1) * size_weights
    per_stack.append(centre + SIZE_WEIGHT * tf.reduce_sum(sizes, [1, 2]) / weight_sum)
  return tf.add_n(per_stack), per_stack
