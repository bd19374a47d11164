"""The heatmap codec: keypoints <-> Gaussian heatmaps, one object for pipeline, eval and export.

Coordinates: model-input pixels with integer = pixel centre (records/schema.py). Heatmap pixel j
covers input pixels s*j .. s*j + s - 1 (s = stride), so its centre is input pixel s*j + (s-1)/2:
    heatmap coordinate = (u - (s - 1) / 2) / s,   u = s * heatmap coordinate + (s - 1) / 2.
With this centred convention a horizontal flip of the input is exactly a reversal of the heatmap
columns (no one-pixel shift is needed in the flip test, unlike the seed's u / s convention).

Targets are unnormalised Gaussians (peak 1 at the sub-pixel keypoint), rendered separably as the
outer product of two 1-D Gaussians; they are never truncated, so a keypoint near the crop edge
keeps its partial Gaussian. Decoders: 'argmax'; 'quarter' (pose-hg-train: a quarter heatmap pixel
towards the higher neighbour); 'dark' (DARK, Zhang et al. 2020: Gaussian modulation of the
heatmap, then a second-order Taylor step on its logarithm around the maximum).
"""

import math
from typing import Dict, Sequence, Tuple

import tensorflow as tf

from hourglass.keypoints import DECODERS, OUTPUT_STRIDE

_LOG_EPS = 1e-10


class HeatmapCodec:
  """Encodes keypoints into heatmaps and decodes heatmaps into keypoints (all TF, graph-safe).

  Attributes:
    input_size: (H, W) model input.
    stride: input pixels per heatmap pixel.
    sigma: Gaussian standard deviation in heatmap pixels.
  """

  def __init__(self, input_size: Sequence[int], stride: int = OUTPUT_STRIDE, sigma: float = 2.0):
    height, width = (int(v) for v in input_size)
    if height <= 0 or width <= 0 or height % stride or width % stride:
      raise ValueError(f'input size {height}x{width} must be positive multiples of the stride '
                       f'{stride}')
    if not sigma > 0:
      raise ValueError(f'sigma must be positive, got {sigma}')
    self.input_size = (height, width)
    self.stride = int(stride)
    self.sigma = float(sigma)

  @property
  def heatmap_size(self) -> Tuple[int, int]:
    return self.input_size[0] // self.stride, self.input_size[1] // self.stride

  def to_dict(self) -> Dict:
    return {'input_size': list(self.input_size), 'stride': self.stride, 'sigma': self.sigma}

  @classmethod
  def from_dict(cls, d: Dict) -> 'HeatmapCodec':
    return cls(tuple(d['input_size']), int(d.get('stride', 4)), float(d.get('sigma', 2.0)))

  def __repr__(self):
    return f'HeatmapCodec({self.to_dict()})'

  # -- coordinates ----------------------------------------------------------------------------

  def to_heatmap_coords(self, keypoints):
    """Model-input px [..., 2] -> heatmap px [..., 2] (same centred convention)."""
    return (tf.convert_to_tensor(keypoints, tf.float32) - (self.stride - 1) / 2) / self.stride

  def to_input_coords(self, heatmap_xy):
    """Heatmap px [..., 2] -> model-input px [..., 2]."""
    return tf.convert_to_tensor(heatmap_xy, tf.float32) * self.stride + (self.stride - 1) / 2

  # -- encode ---------------------------------------------------------------------------------

  def target_weights(self, keypoints, visibility):
    """1.0 where labelled (visibility > 0) and inside the input, else 0.0.

    Args:
      keypoints: float [..., K, 2] model-input px.
      visibility: int [..., K].
    Returns:
      float32 [..., K].
    """
    keypoints = tf.convert_to_tensor(keypoints, tf.float32)
    height, width = self.input_size
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = ((x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5) &
              tf.math.is_finite(x) & tf.math.is_finite(y))
    labelled = tf.convert_to_tensor(visibility) > 0
    return tf.cast(inside & labelled, tf.float32)

  def encode(self, keypoints, visibility):
    """Renders one Gaussian per keypoint.

    Args:
      keypoints: float [..., K, 2] (x, y) model-input px.
      visibility: int [..., K]; 0 = unlabelled.
    Returns:
      heatmaps float32 [..., h, w, K] (all zero where the weight is 0), weights float32 [..., K].
    """
    weights = self.target_weights(keypoints, visibility)
    # Unlabelled keypoints may carry garbage coordinates: render them at 0 and zero them out.
    centres = tf.where(weights[..., None] > 0, self.to_heatmap_coords(keypoints), 0.0)
    h, w = self.heatmap_size
    scale = -0.5 / (self.sigma * self.sigma)
    # Separable: two 1-D Gaussians laid out so that one broadcast multiply gives [..., h, w, K].
    xs = tf.range(w, dtype=tf.float32)[:, None]                                # [w, 1]
    ys = tf.range(h, dtype=tf.float32)[:, None]                                # [h, 1]
    cx = centres[..., None, :, 0]                                              # [..., 1, K]
    cy = centres[..., None, :, 1]
    gx = tf.exp(scale * tf.square(xs - cx))                                    # [..., w, K]
    gy = tf.exp(scale * tf.square(ys - cy)) * weights[..., None, :]            # [..., h, K]
    heatmaps = gy[..., :, None, :] * gx[..., None, :, :]
    return heatmaps, weights

  # -- decode ---------------------------------------------------------------------------------

  def decode(self, heatmaps, method: str = 'dark', *, blur: bool = True):
    """Heatmaps -> keypoints and scores.

    Args:
      heatmaps: float [B, h, w, K].
      method: 'argmax', 'quarter' or 'dark'.
      blur: for 'dark', the DARK modulation (a Gaussian blur with the codec's sigma that keeps
        each map's maximum) before the log; off only for ideal, noise-free heatmaps.
    Returns:
      keypoints float32 [B, K, 2] model-input px; scores float32 [B, K] = each map's peak value.
    """
    if method not in DECODERS:
      raise ValueError(f'unknown decoder {method!r}; choose one of {", ".join(DECODERS)}')
    heatmaps = tf.cast(tf.convert_to_tensor(heatmaps), tf.float32)
    maps = tf.transpose(heatmaps, [0, 3, 1, 2])                               # [B, K, h, w]
    shape = tf.shape(maps)
    h, w = shape[2], shape[3]
    flat = tf.reshape(maps, [shape[0], shape[1], -1])
    index = tf.argmax(flat, axis=-1, output_type=tf.int32)
    scores = tf.reduce_max(flat, axis=-1)
    px, py = index % w, index // w
    xy = tf.cast(tf.stack([px, py], axis=-1), tf.float32)                     # [B, K, 2]
    if method == 'quarter':
      patch = _patch3x3(maps, px, py)
      # On the map's edge one neighbour is missing (the clamped stencil would compare the peak
      # with itself and point outwards): no step there, as in pose-hg-train.
      inside = tf.stack([(px > 0) & (px < w - 1), (py > 0) & (py < h - 1)], axis=-1)
      step = tf.stack([tf.sign(patch[..., 1, 2] - patch[..., 1, 0]),
                       tf.sign(patch[..., 2, 1] - patch[..., 0, 1])], axis=-1)
      xy += 0.25 * tf.where(inside, step, 0.0)
    elif method == 'dark':
      xy = self._dark(maps, px, py, w, h, blur)
    return self.to_input_coords(xy), scores

  def _dark(self, maps, px, py, w, h, blur):
    """DARK refinement around the argmax (px, py) [B, K] -> heatmap px [B, K, 2].

    The Taylor step uses a 3x3 stencil centred at the argmax moved one pixel inwards at the map's
    edge (the log of a Gaussian is quadratic, so the step from a neighbour is just as exact); the
    result stays within one heatmap pixel of the argmax. The blurred map is used only where the
    blur kernel fits inside the map: reflected padding would bend a Gaussian cut by the edge.
    """
    cx, cy = tf.clip_by_value(px, 1, w - 2), tf.clip_by_value(py, 1, h - 2)
    offset = _dark_offset(_patch3x3(tf.math.log(tf.maximum(maps, _LOG_EPS)), cx, cy))
    if blur:
      radius = self._blur_radius()
      blurred = _dark_offset(_patch3x3(tf.math.log(tf.maximum(self._modulate(maps), _LOG_EPS)),
                                       cx, cy))
      inner = (px > radius) & (px < w - 1 - radius) & (py > radius) & (py < h - 1 - radius)
      offset = tf.where(inner[..., None], blurred, offset)
    centre = tf.cast(tf.stack([cx, cy], axis=-1), tf.float32)
    argmax = tf.cast(tf.stack([px, py], axis=-1), tf.float32)
    return tf.clip_by_value(centre + offset, argmax - 1.0, argmax + 1.0)

  def _blur_radius(self):
    return max(1, int(math.ceil(3.0 * self.sigma)))

  def _modulate(self, maps):
    """DARK's distribution modulation: separable Gaussian blur (reflect padding), max kept."""
    radius = self._blur_radius()
    taps = [math.exp(-0.5 * (i / self.sigma) ** 2) for i in range(-radius, radius + 1)]
    kernel = tf.constant([t / sum(taps) for t in taps], tf.float32)
    shape = tf.shape(maps)
    x = tf.reshape(maps, [-1, shape[2], shape[3], 1])
    x = tf.pad(x, [[0, 0], [radius, radius], [radius, radius], [0, 0]], mode='REFLECT')
    x = tf.nn.conv2d(x, tf.reshape(kernel, [1, -1, 1, 1]), 1, 'VALID')
    x = tf.nn.conv2d(x, tf.reshape(kernel, [-1, 1, 1, 1]), 1, 'VALID')
    x = tf.reshape(x, shape)
    old_max = tf.reduce_max(maps, axis=[2, 3], keepdims=True)
    new_max = tf.reduce_max(x, axis=[2, 3], keepdims=True)
    return x * old_max / tf.maximum(new_max, _LOG_EPS)

  # -- flip test ------------------------------------------------------------------------------

  def merge_flip(self, heatmaps, flipped_heatmaps, flip_permutation: Sequence[int]):
    """Averages heatmaps with those of the horizontally flipped image, mapped back.

    Args:
      heatmaps: float [B, h, w, K] of the image.
      flipped_heatmaps: float [B, h, w, K] of the horizontally flipped image.
      flip_permutation: K channel indices (KeypointDefinition.flip_permutation('h')).
    Returns:
      float32 [B, h, w, K]. With the centred convention the column reversal is exact: no shift.
    """
    back = tf.gather(tf.reverse(tf.cast(flipped_heatmaps, tf.float32), axis=[2]),
                     list(flip_permutation), axis=3)
    return 0.5 * (tf.cast(heatmaps, tf.float32) + back)


def _patch3x3(maps, px, py):
  """The 3x3 values around (px, py), edges clamped: maps [B, K, h, w] -> [B, K, 3(dy), 3(dx)]."""
  shape = tf.shape(maps)
  h, w = shape[2], shape[3]
  flat = tf.reshape(maps, [shape[0], shape[1], -1])
  rows = []
  for dy in (-1, 0, 1):
    yy = tf.clip_by_value(py + dy, 0, h - 1)
    cols = [tf.gather(flat, yy * w + tf.clip_by_value(px + dx, 0, w - 1), axis=2, batch_dims=2)
            for dx in (-1, 0, 1)]
    rows.append(tf.stack(cols, axis=-1))
  return tf.stack(rows, axis=-2)


def _dark_offset(logs):
  """Newton step -H^-1 g on a 3x3 log patch [B, K, 3, 3]: offset [B, K, 2] (x, y) in heatmap px.

  Zero where the Hessian is not negative definite (no maximum to refine, e.g. a flat map).
  """
  dx = 0.5 * (logs[..., 1, 2] - logs[..., 1, 0])
  dy = 0.5 * (logs[..., 2, 1] - logs[..., 0, 1])
  dxx = logs[..., 1, 2] - 2 * logs[..., 1, 1] + logs[..., 1, 0]
  dyy = logs[..., 2, 1] - 2 * logs[..., 1, 1] + logs[..., 0, 1]
  dxy = 0.25 * (logs[..., 2, 2] - logs[..., 2, 0] - logs[..., 0, 2] + logs[..., 0, 0])
  det = dxx * dyy - dxy * dxy
  valid = (dxx < 0) & (det > 1e-12)
  safe_det = tf.where(valid, det, tf.ones_like(det))
  ox = -(dyy * dx - dxy * dy) / safe_det
  oy = -(dxx * dy - dxy * dx) / safe_det
  return tf.stack([ox, oy], axis=-1) * tf.cast(valid, tf.float32)[..., None]
