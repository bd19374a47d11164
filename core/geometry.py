"""Object box <-> model-input geometry in numpy: the one implementation of these maps.

Convention (records/schema.py): integer coordinates are pixel centres. A box [x, y, w, h] has
its centre at (x + w / 2, y + h / 2); mapping it onto the model input first grows its shorter
side to the model aspect W_in / H_in (nothing is distorted), then takes the box centre onto the
input centre ((W_in - 1) / 2, (H_in - 1) / 2). Each map is named by its direction
(`input_to_image`: model-input px -> image px) and applied to points by `apply_affine`.
records/crop.py cuts the stored crops with these rules, inference and evaluation crop frames with
them; the input pipeline's in-graph map is pipelines/augment.py's `crop_to_input`, and
hourglass/keypoints/geometry.py's `apply_affine` applies affines in the graph (both tested
against this module).
"""

import math

import cv2
import numpy as np


def expand_to_aspect(width, height, input_shape):
  """(width, height) with the shorter side grown so that width / height = W_in / H_in."""
  h_in, w_in = input_shape
  if width * h_in > height * w_in:
    return width, width * h_in / w_in
  return height * w_in / h_in, height


def apply_affine(matrix, points):
  """Applies affine maps to points (in the graph: hourglass/keypoints/geometry.py, same name).

  Args:
    matrix: [2, 3] or [3, 3] (bottom row 0 0 1), or [B, 2, 3] / [B, 3, 3] for a batch.
    points: [..., 2] for one matrix, or [B, K, 2] for a batch.
  Returns:
    float64 points of the same shape.
  """
  matrix = np.asarray(matrix, np.float64)[..., :2, :]
  points = np.asarray(points, np.float64)
  if matrix.ndim == 2:
    return points @ matrix[:, :2].T + matrix[:, 2]
  return np.einsum('bij,bkj->bki', matrix[:, :, :2], points) + matrix[:, None, :, 2]


def input_to_image(box_xywh, input_shape, box_scale=1.0):
  """Affine [2, 3] from model-input px to image px for an object box.

  The box [x, y, w, h] is scaled by `box_scale` about its centre, grown to the model aspect and
  mapped exactly onto the model input.

  Raises:
    ValueError: for a box with a zero, negative or non-finite size.
  """
  x, y, w, h = (float(v) for v in box_xywh)
  if not (w > 0 and h > 0 and all(math.isfinite(v) for v in (x, y, w, h))):
    raise ValueError(f'degenerate box {list(box_xywh)}')
  h_in, w_in = input_shape
  cx, cy = x + w / 2.0, y + h / 2.0
  w, _ = expand_to_aspect(w * box_scale, h * box_scale, input_shape)
  inv_s = w / w_in  # image px per input px
  return np.array([[inv_s, 0.0, cx - inv_s * (w_in - 1) / 2.0],
                   [0.0, inv_s, cy - inv_s * (h_in - 1) / 2.0]], np.float64)


def letterbox_input_to_image(frame_shape, input_shape):
  """Affine [2, 3] model-input px -> frame px for the whole frame, letterboxed (centred)."""
  height, width = frame_shape[:2]
  return input_to_image([-0.5, -0.5, width, height], input_shape)


def warp(image, output_to_image, output_shape):
  """Samples an output image through an affine, anti-aliased when shrinking.

  Args:
    image: [h, w, C] uint8.
    output_to_image: affine [2, 3] from output px to `image` px.
    output_shape: (H, W) of the output.
  Returns:
    [H, W, C] of image's dtype, black outside the image.

  When the output shrinks the image by 2x or more, the region under it is first reduced by the
  integer factor f = floor(output_to_image scale) with area averaging, on blocks aligned to
  multiples of f (reduced pixel i is the mean of image pixels f i .. f i + f - 1, centred at
  f i + (f - 1) / 2), so that bilinear sampling never skips pixels; the affine is composed
  accordingly, so coordinates stay exact.
  """
  out_h, out_w = (int(v) for v in output_shape)
  to_image = np.asarray(output_to_image, np.float64)
  to_output = np.linalg.inv(np.vstack([to_image, [0.0, 0.0, 1.0]]))[:2]
  factor = max(1, int(math.floor(abs(to_image[0, 0]) + 1e-9)))
  img_h, img_w = image.shape[:2]
  if factor > 1:
    corners = apply_affine(to_image, [[-1, -1], [out_w, -1], [-1, out_h], [out_w, out_h]])
    x0 = int(np.clip(math.floor(corners[:, 0].min()) - 2 * factor, 0, img_w)) // factor * factor
    y0 = int(np.clip(math.floor(corners[:, 1].min()) - 2 * factor, 0, img_h)) // factor * factor
    x1 = int(np.clip(math.ceil(corners[:, 0].max()) + 2 * factor, 0, img_w))
    y1 = int(np.clip(math.ceil(corners[:, 1].max()) + 2 * factor, 0, img_h))
    small_w, small_h = (x1 - x0) // factor, (y1 - y0) // factor
    if small_w >= 1 and small_h >= 1:
      region = image[y0:y0 + small_h * factor, x0:x0 + small_w * factor]
      image = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
      offset = np.array([x0 + (factor - 1) / 2.0, y0 + (factor - 1) / 2.0])
      to_output = np.concatenate([to_output[:, :2] * factor,
                                  (to_output[:, :2] @ offset + to_output[:, 2])[:, None]], 1)
  return cv2.warpAffine(image, to_output, (out_w, out_h), flags=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_CONSTANT)
