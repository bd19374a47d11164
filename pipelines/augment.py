"""Augmentations as small pure TF functions (graph-safe, no Python per example).

Geometry: every step is a 3x3 matrix on pixel coordinates (integer = pixel centre, as in
records/schema.py); the steps are multiplied into ONE matrix per example, the image is warped once
(bilinear, the geometry of `tf.raw_ops.ImageProjectiveTransformV3`, by an XLA-compiled kernel
that is ~1.7x cheaper than that op) and the keypoints move with the same matrix
(hourglass/keypoints/geometry.py's `apply_affine`). Each matrix builder is named by what it does
or by its direction (`crop_to_input`, `downscaled_to_full`).
Colour: brightness, saturation, hue and grayscale are all linear in RGB, so they fold into one
3x3 colour matrix; contrast (a blend with the mean gray) adds a per-image offset. Applying them is
one fused channel mix over the image (XLA-compiled) instead of HSV round trips.
XLA kernels run inside tf.data maps like any other op (no Python per call); each compiles once
per input shape (~0.2 s), and the pipeline gives them fixed shapes.

Every parameter may carry leading batch dimensions ([] for one example, [B] for a batch): the
pipeline draws and composes the matrices of a whole batch at once, because each small op costs
microseconds of overhead inside a tf.data map, per call, and per-example draws cost more than
the warp itself. Randomness is stateless (keyed by a [2] seed), so a deterministic pipeline is a
pure function of (seed, epoch).
"""

import functools
import math

import numpy as np
import tensorflow as tf

# ITU-R BT.601 luma weights, the gray of tf.image.rgb_to_grayscale.
LUMA = (0.299, 0.587, 0.114)
_RGB_TO_YIQ = ((0.299, 0.587, 0.114), (0.596, -0.274, -0.322), (0.211, -0.523, 0.312))
_YIQ_TO_RGB = np.linalg.inv(np.array(_RGB_TO_YIQ, np.float64)).astype(np.float32)


# -- geometric matrices: each maps pixel coordinates [x, y, 1] to new ones --------------------

def affine(a, b, c, d, e, f):
  """[..., 3, 3] with rows [a b c], [d e f], [0 0 1]; arguments broadcast together."""
  parts = [tf.cast(v, tf.float32) for v in (a, b, c, d, e, f)]
  shape = tf.shape(parts[0])
  for v in parts[1:]:
    shape = tf.broadcast_dynamic_shape(shape, tf.shape(v))
  parts = [tf.broadcast_to(v, shape) for v in parts]
  zero, one = tf.zeros(shape), tf.ones(shape)
  return tf.reshape(tf.stack(parts + [zero, zero, one], axis=-1), tf.concat([shape, [3, 3]], 0))


def translation(tx, ty):
  """[..., 3, 3]: x + tx, y + ty."""
  return affine(1.0, 0.0, tx, 0.0, 1.0, ty)


def scaling(scale, centre):
  """[..., 3, 3]: zoom by `scale` (> 1 enlarges) about centre (cx, cy)."""
  s = tf.cast(scale, tf.float32)
  cx, cy = centre
  return affine(s, 0.0, cx * (1.0 - s), 0.0, s, cy * (1.0 - s))


def rotation(angle, centre):
  """[..., 3, 3]: rotation by `angle` radians about (cx, cy) (clockwise on screen, y down)."""
  a = tf.cast(angle, tf.float32)
  c, s = tf.cos(a), tf.sin(a)
  cx, cy = centre
  return affine(c, -s, cx - c * cx + s * cy, s, c, cy - s * cx - c * cy)


def hflip(width, flip=True):
  """[..., 3, 3]: x -> width - 1 - x where `flip` (bool), else identity."""
  flip = tf.cast(flip, tf.bool)
  return affine(tf.where(flip, -1.0, 1.0), 0.0, tf.where(flip, float(width) - 1.0, 0.0),
                0.0, 1.0, 0.0)


def vflip(height, flip=True):
  """[..., 3, 3]: y -> height - 1 - y where `flip` (bool), else identity."""
  flip = tf.cast(flip, tf.bool)
  return affine(1.0, 0.0, 0.0, 0.0, tf.where(flip, -1.0, 1.0),
                tf.where(flip, float(height) - 1.0, 0.0))


def crop_to_input(box, input_shape):
  """[..., 3, 3]: crop px -> model-input px, mapping box [..., 4] = [x0, y0, w, h] onto H x W.

  Inverse of records/schema.py's crop_x = x0 + (u + 0.5) * w / W.
  """
  box = tf.cast(box, tf.float32)
  height, width = input_shape
  sx, sy = width / box[..., 2], height / box[..., 3]
  return affine(sx, 0.0, -box[..., 0] * sx - 0.5, 0.0, sy, -box[..., 1] * sy - 0.5)


def downscaled_to_full(ratio):
  """[3, 3]: px of an image decoded at 1/ratio (JPEG DCT scaling) -> px of the full image."""
  r = float(ratio)
  return tf.constant([[r, 0., (r - 1) / 2], [0., r, (r - 1) / 2], [0., 0., 1.]])


def projective_transform(matrix):
  """[..., 3, 3] affine, source px -> output px  ->  [..., 8]: the op's output -> source
  parameters (the inverse's top two rows, then two zeros).

  The inverse is written out for an affine matrix (bottom row 0 0 1): XLA compiles
  tf.linalg.inv into an LU loop that took ~2 s to compile in the pipeline's label kernel.
  """
  m = tf.cast(matrix, tf.float32)
  a, b, c = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
  d, e, f = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
  det = a * e - b * d
  zero = tf.zeros_like(a)
  return tf.stack([e / det, -b / det, (b * f - c * e) / det,
                   -d / det, a / det, (c * d - a * f) / det, zero, zero], axis=-1)


def warp(image, matrix, output_shape, transform=None):
  """Resamples `image` so that output pixel p shows source point matrix^-1 p (bilinear).

  The same geometry as `tf.raw_ops.ImageProjectiveTransformV3` (BILINEAR, CONSTANT fill 0),
  computed by an XLA-compiled gather kernel (`_warp_kernel`): ~1.9 instead of ~3.3 CPU ms per
  256x256 RGB output here, the single largest cost of the training pipeline. uint8 output is
  rounded to nearest (the op truncates).

  Args:
    image: [H, W, C] or [B, H, W, C], uint8 or float.
    matrix: [3, 3] or [B, 3, 3] affine, source px -> output px (ignored if `transform`).
    output_shape: (H_out, W_out), Python ints.
    transform: optional precomputed projective_transform(matrix), [8] or [B, 8] (affine: its
      last two entries are 0).
  Returns:
    [H_out, W_out, C] or [B, H_out, W_out, C], the input's dtype; outside the source is 0.
  """
  image = tf.convert_to_tensor(image)
  batched = image.shape.rank == 4
  if transform is None:
    transform = projective_transform(matrix)
  inverse = tf.reshape(tf.cast(transform, tf.float32), [-1, 8])[:, :6]
  images = image if batched else image[None]
  out = _warp_kernel(int(output_shape[0]), int(output_shape[1]))(images, inverse)
  out = _round_to(out, image.dtype)
  return out if batched else out[0]


def _round_to(x, dtype):
  """float32 -> dtype; uint8 rounds to nearest and clips to 0..255."""
  if dtype == tf.uint8:
    return tf.cast(tf.clip_by_value(x + 0.5, 0.0, 255.0), tf.uint8)
  return tf.cast(x, dtype)


@functools.lru_cache(maxsize=None)
def _warp_kernel(out_height, out_width):
  """XLA-compiled bilinear warp to (out_height, out_width): (images, inverse) -> float32.

  images [B, H, W, C] (any real dtype), inverse [B, 6]: the rows of each output px -> source px
  affine. Each output pixel gathers its four neighbours from the flattened batch; a neighbour
  outside the source reads 0, as the op's CONSTANT fill. XLA fuses the coordinate arithmetic,
  the four gathers and the blend into one loop, where TensorFlow's op decomposes every output
  element's index with integer divisions (~17 ns an element).
  """
  @tf.function(jit_compile=True)
  def kernel(images, inverse):
    shape = tf.shape(images)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    a = inverse[:, :, None, None]                                               # [B, 6, 1, 1]
    u = tf.range(out_width, dtype=tf.float32)[None, None, :]
    v = tf.range(out_height, dtype=tf.float32)[None, :, None]
    xs = a[:, 0] * u + a[:, 1] * v + a[:, 2]                                    # [B, Ho, Wo]
    ys = a[:, 3] * u + a[:, 4] * v + a[:, 5]
    x0f, y0f = tf.floor(xs), tf.floor(ys)
    fx, fy = (xs - x0f)[..., None], (ys - y0f)[..., None]
    x0, y0 = tf.cast(x0f, tf.int32), tf.cast(y0f, tf.int32)
    flat = tf.reshape(images, [-1, channels])
    base = (tf.range(batch) * (height * width))[:, None, None]

    def tap(y, x):
      inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
      index = base + tf.clip_by_value(y, 0, height - 1) * width + tf.clip_by_value(x, 0, width - 1)
      return tf.where(inside[..., None], tf.cast(tf.gather(flat, index), tf.float32), 0.0)
    top_left, top_right = tap(y0, x0), tap(y0, x0 + 1)
    bottom_left, bottom_right = tap(y0 + 1, x0), tap(y0 + 1, x0 + 1)
    top = top_left + fx * (top_right - top_left)
    bottom = bottom_left + fx * (bottom_right - bottom_left)
    return top + fy * (bottom - top)
  return kernel


def swap_channels(values, permutation, flip):
  """Match-point swap where `flip`: values [..., K, ...] with flip [...] (the leading dims)."""
  flip = tf.convert_to_tensor(flip, tf.bool)
  values = tf.convert_to_tensor(values)
  axis = flip.shape.rank
  where = tf.reshape(flip, tf.concat([tf.shape(flip), tf.ones([values.shape.rank - axis],
                                                              tf.int32)], 0))
  return tf.where(where, tf.gather(values, permutation, axis=axis), values)


# -- colour --------------------------------------------------------------------------------

def colour_matrix(brightness=1.0, saturation=1.0, hue=0.0, grayscale=False):
  """[..., 3, 3] RGB -> RGB matrices: factors 1/1/0/False are the identity.

  Args:
    brightness: [...] multiplies every channel (a blend with black).
    saturation: [...] blend with the gray image (0 = gray, 1 = unchanged).
    hue: [...] rotation of the chroma plane (YIQ) by `hue` turns of the colour circle.
    grayscale: [...] bool; replaces the result by its gray.
  """
  b = tf.cast(brightness, tf.float32)[..., None, None]
  s = tf.cast(saturation, tf.float32)[..., None, None]
  gray = tf.tile(tf.constant([LUMA]), [3, 1])
  sat = s * tf.eye(3) + (1.0 - s) * gray
  theta = 2.0 * math.pi * tf.cast(hue, tf.float32)
  c, n = tf.cos(theta), tf.sin(theta)
  one, zero = tf.ones_like(c), tf.zeros_like(c)
  rot = tf.reshape(tf.stack([one, zero, zero, zero, c, -n, zero, n, c], axis=-1),
                   tf.concat([tf.shape(c), [3, 3]], 0))
  yiq = tf.constant(_RGB_TO_YIQ)
  hue_m = tf.constant(_YIQ_TO_RGB) @ rot @ yiq
  m = b * (sat @ hue_m)
  return tf.where(tf.cast(grayscale, tf.bool)[..., None, None], gray @ m, m)


def apply_colour(image, matrix, contrast=1.0):
  """Colour matrix then contrast (blend with the image's mean gray), clipped to 0..255.

  One 3x3 channel mix plus a per-image offset (the contrast blend folded into the matrix and
  the offset), XLA-compiled so that the mix, the offset and the rounding run as one fused loop
  (~0.2 CPU ms for a 256x256 image here). The mean gray comes from every 4th row and column (1/16
  of the pixels): exact enough for a blend target and a sixteenth of a full pass.

  Args:
    image: uint8 or float [..., H, W, 3] (0..255), any leading batch dimensions.
    matrix: [..., 3, 3] from colour_matrix.
    contrast: [...] factor (0 = flat mean gray, 1 = unchanged).
  Returns:
    uint8 [..., H, W, 3]. The identity matrix with contrast 1 returns uint8 input unchanged.
  """
  image = tf.convert_to_tensor(image)
  matrix = tf.broadcast_to(tf.cast(matrix, tf.float32),
                           tf.concat([tf.shape(image)[:-3], [3, 3]], 0))
  contrast = tf.broadcast_to(tf.cast(contrast, tf.float32), tf.shape(image)[:-3])
  return _colour_kernel(image, matrix, contrast)


@tf.function(jit_compile=True)
def _colour_kernel(image, matrix, contrast):
  x = tf.cast(image, tf.float32)
  mean_rgb = tf.reduce_mean(x[..., ::4, ::4, :], axis=[-3, -2])                 # [..., 3]
  mean_gray = tf.reduce_sum(tf.linalg.matvec(matrix, mean_rgb) * LUMA, axis=-1)  # [...]
  offset = ((1.0 - contrast) * mean_gray)[..., None, None, None]
  m = (contrast[..., None, None] * matrix)[..., None, None, :, :]              # [..., 1, 1, 3, 3]
  # Three broadcast multiply-adds, not an einsum: XLA fuses these into one loop, a dot with an
  # inner dimension of 3 it does not.
  y = x[..., 0:1] * m[..., 0] + x[..., 1:2] * m[..., 1] + x[..., 2:3] * m[..., 2] + offset
  return _round_to(y, tf.uint8)


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

def batch_key(seed, epoch, index):
  """[2] int64 stateless seed: a pure function of (seed, epoch, index)."""
  base = tf.stack([tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64)])
  return tf.random.experimental.stateless_fold_in(base, tf.cast(index, tf.int64))


def _uniforms(key, shape, count):
  """`count` independent uniform [0, 1) tensors of `shape`, from one key."""
  return tf.unstack(tf.random.stateless_uniform(tf.concat([[count], shape], 0), key), count)


def _between(u, low, high):
  return low + (high - low) * u


def random_geometry(key, shape, config, input_shape, vertical_pairs):
  """Augmentation matrices in model-input px, about the input centre.

  Args:
    key: [2] stateless seed.
    shape: leading shape of the draws ([] one example, [B] a batch).
    config: PipelineConfig (ranges and probabilities).
    input_shape: (H, W).
    vertical_pairs: Python bool, whether the definition has 'v' pairs (else no vertical flip).
  Returns:
    (matrix [..., 3, 3], hflip bool [...], vflip bool [...]).
  """
  u = _uniforms(key, shape, 8)
  height, width = input_shape
  centre = ((width - 1) / 2.0, (height - 1) / 2.0)
  scale = tf.where(u[0] < config.scale_prob, _between(u[1], config.scale_min, config.scale_max),
                   1.0)
  angle = tf.where(u[2] < config.rotation_prob,
                   _between(u[3], -config.rotation, config.rotation) * (math.pi / 180), 0.0)
  tx = _between(u[4], -1.0, 1.0) * (config.translate * width)
  ty = _between(u[5], -1.0, 1.0) * (config.translate * height)
  do_hflip = u[6] < config.flip_prob
  do_vflip = (u[7] < config.vflip_prob) & vertical_pairs
  matrix = (translation(tx, ty) @ vflip(height, do_vflip) @ hflip(width, do_hflip) @
            rotation(angle, centre) @ scaling(scale, centre))
  return matrix, do_hflip, do_vflip


def random_colour(key, shape, config):
  """Colour jitter draws.

  Returns:
    (changed bool [...] (False: skip the colour pass), matrix [..., 3, 3], contrast [...],
     blur sigma [...]).
  """
  u = _uniforms(key, shape, 9)
  on = u[0] < config.color_prob

  def factor(v, amount):
    return tf.where(on, _between(v, 1.0 - amount, 1.0 + amount), 1.0)
  hue = tf.where(on, _between(u[1], -config.hue, config.hue), 0.0)
  gray = u[4] < config.grayscale_prob
  matrix = colour_matrix(factor(u[2], config.brightness), factor(u[3], config.saturation), hue,
                         gray)
  blur = tf.where(u[6] < config.blur_prob, _between(u[7], 0.0, config.blur_sigma), 0.0)
  return on | gray, matrix, factor(u[5], config.contrast), blur
