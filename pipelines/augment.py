"""Augmentations as small pure TF functions (graph-safe, no Python per example).

Geometry: every step is a 3x3 matrix on pixel coordinates (integer = pixel centre, as in
records/schema.py); the steps are multiplied into ONE matrix per example, the image is warped once
with `tf.raw_ops.ImageProjectiveTransformV3` and the keypoints move with the same matrix.
Colour: brightness, saturation, hue and grayscale are all linear in RGB, so they fold into one
3x3 colour matrix; contrast (a blend with the mean gray) adds a per-image offset. Applying them is
one small matmul over the image instead of HSV round trips.

Randomness is stateless: every draw is keyed by a [2] seed derived from (seed, epoch, example
index), so a deterministic pipeline is a pure function of (seed, epoch).
"""

import math

import tensorflow as tf

# ITU-R BT.601 luma weights, the gray of tf.image.rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))


# -- geometric matrices: each maps pixel coordinates [x, y, 1] to new ones --------------------

def translation(tx, ty):
  """[3, 3]: x + tx, y + ty."""
  tx, ty = tf.cast(tx, tf.float32), tf.cast(ty, tf.float32)
  one, zero = tf.ones_like(tx), tf.zeros_like(tx)
  return tf.stack([tf.stack([one, zero, tx]), tf.stack([zero, one, ty]),
                   tf.stack([zero, zero, one])])


def _about(matrix2x2, centre):
  """[3, 3]: the linear map [2, 2] applied about centre (cx, cy)."""
  cx, cy = centre
  lin = tf.pad(tf.cast(matrix2x2, tf.float32), [[0, 1], [0, 1]]) + tf.constant(
      [[0., 0., 0.], [0., 0., 0.], [0., 0., 1.]])
  return translation(cx, cy) @ lin @ translation(-cx, -cy)


def scaling(scale, centre):
  """[3, 3]: zoom by `scale` (> 1 enlarges) about centre (cx, cy)."""
  s = tf.cast(scale, tf.float32)
  return _about(tf.stack([tf.stack([s, 0. * s]), tf.stack([0. * s, s])]), centre)


def rotation(angle, centre):
  """[3, 3]: rotation by `angle` radians about centre (cx, cy) (clockwise on screen, y down)."""
  a = tf.cast(angle, tf.float32)
  c, s = tf.cos(a), tf.sin(a)
  return _about(tf.stack([tf.stack([c, -s]), tf.stack([s, c])]), centre)


def hflip(width, flip=True):
  """[3, 3]: x -> width - 1 - x when `flip` (a bool tensor or Python bool), else identity."""
  sign = tf.where(tf.cast(flip, tf.bool), -1.0, 1.0)
  shift = tf.where(tf.cast(flip, tf.bool), tf.cast(width, tf.float32) - 1.0, 0.0)
  return translation(shift, 0.0) @ _about(tf.stack([tf.stack([sign, 0.]), [0., 1.]]), (0., 0.))


def vflip(height, flip=True):
  """[3, 3]: y -> height - 1 - y when `flip`, else identity."""
  sign = tf.where(tf.cast(flip, tf.bool), -1.0, 1.0)
  shift = tf.where(tf.cast(flip, tf.bool), tf.cast(height, tf.float32) - 1.0, 0.0)
  return translation(0.0, shift) @ _about(tf.stack([[1., 0.], tf.stack([0., sign])]), (0., 0.))


def box_to_input(box, input_shape):
  """[3, 3]: crop px -> model-input px, mapping box [x0, y0, w, h] onto the H x W input.

  Inverse of records/schema.py's crop_x = x0 + (u + 0.5) * w / W.
  """
  box = tf.cast(box, tf.float32)
  height, width = input_shape
  sx, sy = width / box[2], height / box[3]
  return tf.stack([tf.stack([sx, 0., -box[0] * sx - 0.5]),
                   tf.stack([0., sy, -box[1] * sy - 0.5]), [0., 0., 1.]])


def downscaled_to_full(ratio):
  """[3, 3]: px of an image decoded at 1/ratio (JPEG DCT scaling) -> px of the full image."""
  r = float(ratio)
  return tf.constant([[r, 0., (r - 1) / 2], [0., r, (r - 1) / 2], [0., 0., 1.]])


def transform_points(points, matrix):
  """Applies a 3x3 affine matrix: points [..., K, 2], matrix [..., 3, 3] -> [..., K, 2]."""
  points = tf.cast(points, tf.float32)
  return (tf.linalg.matvec(matrix[..., None, :2, :2], points) + matrix[..., None, :2, 2])


def warp(image, matrix, output_shape):
  """Resamples `image` so that output pixel p shows source point matrix^-1 p (bilinear).

  Args:
    image: [H, W, C] or [B, H, W, C], any dtype the op supports (uint8 stays uint8).
    matrix: [3, 3] or [B, 3, 3] affine, source px -> output px.
    output_shape: (H_out, W_out).
  Returns:
    [H_out, W_out, C] or [B, H_out, W_out, C], same dtype; outside the source is 0.
  """
  image = tf.convert_to_tensor(image)
  batched = image.shape.rank == 4
  images = image if batched else image[None]
  inverse = tf.linalg.inv(tf.reshape(tf.cast(matrix, tf.float32), [-1, 3, 3]))
  # The op wants the output -> source map as 8 numbers [a0 a1 a2 b0 b1 b2 c0 c1].
  transforms = tf.concat([tf.reshape(inverse[:, :2, :], [-1, 6]),
                          tf.zeros([tf.shape(inverse)[0], 2])], axis=1)
  out = tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=transforms, output_shape=tf.constant(output_shape, tf.int32),
      fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
  return out if batched else out[0]


def swap_channels(values, permutation, flip):
  """values[perm] along axis 0 when `flip`: match-point swap of keypoints [K, ...]."""
  return tf.where(tf.cast(flip, tf.bool), tf.gather(values, permutation, axis=0), values)


# -- colour --------------------------------------------------------------------------------

def colour_matrix(brightness=1.0, saturation=1.0, hue=0.0, grayscale=False):
  """[3, 3] RGB -> RGB matrix: factors 1/1/0/False are the identity.

  Args:
    brightness: multiplies every channel (a blend with black).
    saturation: blend with the gray image (0 = gray, 1 = unchanged).
    hue: rotation of the chroma plane (YIQ) by `hue` turns of the colour circle.
    grayscale: bool; replaces the result by its gray.
  """
  b = tf.cast(brightness, tf.float32)
  s = tf.cast(saturation, tf.float32)
  gray = tf.tile(tf.constant([LUMA]), [3, 1])
  eye = tf.eye(3)
  sat = s * eye + (1.0 - s) * gray
  theta = 2.0 * math.pi * tf.cast(hue, tf.float32)
  c, n = tf.cos(theta), tf.sin(theta)
  rot = tf.stack([[1., 0., 0.], tf.stack([0., c, -n]), tf.stack([0., n, c])])
  yiq = tf.constant(_RGB_TO_YIQ)
  hue_m = tf.linalg.inv(yiq) @ rot @ yiq
  m = b * (sat @ hue_m)
  return tf.where(tf.cast(grayscale, tf.bool), gray @ m, m)


def apply_colour(images, matrix, contrast=1.0):
  """Colour matrix then contrast (blend with the image's mean gray), clipped to 0..255.

  Args:
    images: uint8 or float [..., H, W, 3] (0..255).
    matrix: [..., 3, 3] from colour_matrix.
    contrast: [...] factor (0 = flat mean gray, 1 = unchanged).
  Returns:
    uint8 [..., H, W, 3].
  """
  x = tf.cast(images, tf.float32)
  c = tf.cast(contrast, tf.float32)[..., None]                                  # [..., 1]
  mean_rgb = tf.reduce_mean(x, axis=[-3, -2])                                   # [..., 3]
  mean_gray = tf.reduce_sum(tf.linalg.matvec(matrix, mean_rgb) * LUMA, -1, keepdims=True)
  m = matrix * c[..., None]
  offset = (1.0 - c) * mean_gray                                                # [..., 1]
  y = tf.einsum('...hwc,...dc->...hwd', x, m) + offset[..., None, None, :]
  return tf.cast(tf.clip_by_value(y + 0.5, 0.0, 255.0), tf.uint8)


def gaussian_blur(images, sigma, max_sigma):
  """Per-image separable Gaussian blur; sigma <= 0.05 leaves an image unchanged.

  Args:
    images: uint8 [B, H, W, 3].
    sigma: float [B], each <= max_sigma (pixels).
    max_sigma: Python float, fixes the kernel radius.
  Returns:
    uint8 [B, H, W, 3].
  """
  radius = max(1, int(math.ceil(2.5 * max_sigma)))
  taps = tf.range(-radius, radius + 1, dtype=tf.float32)
  s = tf.maximum(tf.cast(sigma, tf.float32), 0.05)[:, None]
  kernel = tf.exp(-0.5 * tf.square(taps[None] / s))
  kernel /= tf.reduce_sum(kernel, axis=1, keepdims=True)                       # [B, k]
  shape = tf.shape(images)
  # Fold the batch into channels so that one depthwise conv uses a different kernel per image.
  x = tf.transpose(tf.cast(images, tf.float32), [1, 2, 0, 3])
  x = tf.reshape(x, [1, shape[1], shape[2], shape[0] * 3])
  k = tf.reshape(tf.repeat(tf.transpose(kernel), 3, axis=1), [-1, 1, shape[0] * 3, 1])
  x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode='SYMMETRIC')
  x = tf.nn.depthwise_conv2d(x, tf.reshape(k, [1, -1, shape[0] * 3, 1]), [1, 1, 1, 1], 'VALID')
  x = tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], 'VALID')
  x = tf.transpose(tf.reshape(x, [shape[1], shape[2], shape[0], 3]), [2, 0, 1, 3])
  return tf.cast(tf.clip_by_value(x + 0.5, 0.0, 255.0), tf.uint8)


# -- random parameters (stateless: a pure function of the key) -----------------------------

def example_key(seed, epoch, index):
  """[2] int64 stateless seed of one example: a pure function of (seed, epoch, index)."""
  base = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
  return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def _uniform(key, low, high):
  return tf.random.stateless_uniform([], key, minval=low, maxval=high)


def _chance(key, prob):
  """Bool []: True with probability `prob` (prob 0 -> always False, 1 -> always True)."""
  return tf.random.stateless_uniform([], key) < prob


def random_geometry(key, config, input_shape, vertical_pairs):
  """The augmentation matrix of one example, in model-input px about the input centre.

  Args:
    key: [2] stateless seed.
    config: PipelineConfig (ranges and probabilities).
    input_shape: (H, W).
    vertical_pairs: Python bool, whether the definition has 'v' pairs (else no vertical flip).
  Returns:
    (matrix [3, 3], hflip bool [], vflip bool []).
  """
  k = tf.random.experimental.stateless_split(key, num=10)
  height, width = input_shape
  centre = ((width - 1) / 2.0, (height - 1) / 2.0)
  scale = tf.where(_chance(k[0], config.scale_prob),
                   _uniform(k[1], config.scale_min, config.scale_max), 1.0)
  angle = tf.where(_chance(k[2], config.rotation_prob),
                   _uniform(k[3], -config.rotation, config.rotation) * (math.pi / 180), 0.0)
  shift = config.translate * tf.constant([width, height], tf.float32)
  tx = _uniform(k[4], -1.0, 1.0) * shift[0]
  ty = _uniform(k[5], -1.0, 1.0) * shift[1]
  do_hflip = _chance(k[6], config.flip_prob)
  do_vflip = _chance(k[7], config.vflip_prob) & vertical_pairs
  matrix = (translation(tx, ty) @ vflip(height, do_vflip) @ hflip(width, do_hflip) @
            rotation(angle, centre) @ scaling(scale, centre))
  return matrix, do_hflip, do_vflip


def random_colour(key, config):
  """Colour jitter of one example: (matrix [3, 3], contrast [], blur sigma [])."""
  k = tf.random.experimental.stateless_split(key, num=10)
  on = _chance(k[0], config.color_prob)

  def factor(kk, amount):
    return tf.where(on, _uniform(kk, 1.0 - amount, 1.0 + amount), 1.0)
  hue = tf.where(on, _uniform(k[1], -config.hue, config.hue), 0.0)
  matrix = colour_matrix(factor(k[2], config.brightness), factor(k[3], config.saturation), hue,
                         _chance(k[4], config.grayscale_prob))
  blur = tf.where(_chance(k[6], config.blur_prob), _uniform(k[7], 0.0, config.blur_sigma), 0.0)
  return matrix, factor(k[5], config.contrast), blur
