"""Object box -> crop geometry, the anti-aliased warp, and the per-example crop worker.

Geometry (all in the project convention, integer = pixel centre; see records/schema.py):
- The object box is first expanded to the model aspect ratio W_in / H_in around its centre (its
  shorter side grows; nothing is distorted).
- The crop is the model input enlarged by `crop_margin` on each axis (default 1.5: room for
  +-30 degree rotation and zooming out in training), at model resolution: crop_h = H_in + 2 m_y
  with m_y = round(H_in (crop_margin - 1) / 2), likewise crop_w. The even difference makes model
  input pixels fall exactly on crop pixels.
- original -> crop is the similarity crop = s (orig - c) + c_crop with s = W_in / box_w, which
  maps the box centre c onto the crop centre ((crop_w - 1) / 2, (crop_h - 1) / 2) and the box
  onto `box_in_crop` = [m_x - 0.5, m_y - 0.5, W_in, H_in] exactly.
"""

import dataclasses
import math
from typing import Optional, Tuple

import cv2
import numpy as np

from records.example import BadExample, ObjectBox
from core.geometry import apply_affine, expand_to_aspect, warp

# Labelled points farther outside their image than this fraction of the image's larger side are
# taken for annotation errors (MPII and COCO put truncated limbs a little outside the frame).
MAX_OUTSIDE_FRACTION = 0.5
INT64_MIN, INT64_MAX = -2**63, 2**63 - 1


@dataclasses.dataclass(frozen=True)
class CropSettings:
  """What the crop worker needs (plain values: it is pickled to worker processes).

  Attributes:
    input_shape: (H_in, W_in) of the model input.
    crop_margin: crop side / model input side (>= 1).
    box_margin: enlargement of boxes derived from keypoints (labelme, DeepLabCut, synthetic).
    box_min_side: the smallest side (original px) of a box derived from keypoints.
    image_format: 'jpeg' or 'png' for the stored crops.
    jpeg_quality: 1-100.
  """
  input_shape: Tuple[int, int]
  crop_margin: float = 1.5
  box_margin: float = 1.25
  box_min_side: float = 32.0
  image_format: str = 'jpeg'
  jpeg_quality: int = 95


@dataclasses.dataclass(frozen=True)
class CropGeometry:
  """original_to_crop / crop_to_original: float64 [2, 3]; box_in_crop: [x0, y0, w, h]."""
  original_to_crop: np.ndarray
  crop_to_original: np.ndarray
  box_in_crop: Tuple[float, float, float, float]
  crop_shape: Tuple[int, int]
  scale: float


def crop_shape(input_shape, crop_margin: float) -> Tuple[int, int]:
  """(crop_h, crop_w): the model input plus an even margin of about (crop_margin - 1) x side."""
  if not crop_margin >= 1.0:
    raise ValueError(f'crop_margin must be >= 1, got {crop_margin}')
  h, w = (int(v) for v in input_shape)
  return (h + 2 * int(round(h * (crop_margin - 1) / 2)),
          w + 2 * int(round(w * (crop_margin - 1) / 2)))


def crop_geometry(box: ObjectBox, input_shape, crop_margin: float) -> CropGeometry:
  """The transforms between original and crop pixels for an object box.

  Raises:
    BadExample: when the box is degenerate (zero, negative or non-finite size or centre).
  """
  values = (box.cx, box.cy, box.width, box.height)
  if not all(math.isfinite(v) for v in values) or box.width <= 0 or box.height <= 0:
    raise BadExample(f'object box has a zero, negative or non-finite size or scale: '
                     f'centre ({box.cx:.4g}, {box.cy:.4g}), size {box.width:.4g} x '
                     f'{box.height:.4g}')
  h_in, w_in = (int(v) for v in input_shape)
  box = ObjectBox(box.cx, box.cy, *expand_to_aspect(box.width, box.height, input_shape))
  crop_h, crop_w = crop_shape(input_shape, crop_margin)
  s = w_in / box.width
  # A box of 1e305 pixels passes the checks above but overflows here (found by fuzzing).
  if not (math.isfinite(box.width) and math.isfinite(box.height) and 0 < s < math.inf and
          math.isfinite(1 / s)):
    raise BadExample(f'object box size {box.width:.4g} x {box.height:.4g} is out of range')
  ccx, ccy = (crop_w - 1) / 2.0, (crop_h - 1) / 2.0
  to_crop = np.array([[s, 0.0, ccx - s * box.cx], [0.0, s, ccy - s * box.cy]], np.float64)
  to_orig = np.array([[1 / s, 0.0, box.cx - ccx / s], [0.0, 1 / s, box.cy - ccy / s]], np.float64)
  box_in_crop = ((crop_w - w_in) / 2.0 - 0.5, (crop_h - h_in) / 2.0 - 0.5, float(w_in),
                 float(h_in))
  return CropGeometry(to_crop, to_orig, box_in_crop, (crop_h, crop_w), s)


def warp_crop(image: np.ndarray, geometry: CropGeometry) -> np.ndarray:
  """Cuts the crop out of `image` ([h, w, 3] uint8), anti-aliased when shrinking (see
  core.geometry.warp); outside the image the crop is black."""
  return warp(image, geometry.crop_to_original, geometry.crop_shape)


def load_image(example) -> np.ndarray:
  """Reads (or renders) the example's original image as BGR uint8 [h, w, 3].

  Raises:
    BadExample: missing, unreadable, corrupt, truncated or unsupported image, or one whose size
      differs from the size the annotation states.
  """
  if example.render is not None:
    image = example.render.render()
  else:
    try:
      with open(example.image_path, 'rb') as f:
        data = f.read()
    except FileNotFoundError:
      raise BadExample(f'image not found: {example.image_path}') from None
    except OSError as e:
      raise BadExample(f'cannot read image {example.image_path}: {e.strerror}') from None
    if data[:2] == b'\xff\xd8' and b'\xff\xd9' not in data[-4096:]:
      raise BadExample(f'truncated JPEG (no end marker): {example.image_path}')
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None or image.size == 0:
      raise BadExample(f'corrupt or unsupported image: {example.image_path}')
  if example.expected_size is not None and tuple(image.shape[:2]) != tuple(example.expected_size):
    raise BadExample(f'image is {image.shape[1]}x{image.shape[0]} but the annotation says '
                     f'{example.expected_size[1]}x{example.expected_size[0]}')
  return image


def check_points_inside(example, image_shape) -> None:
  """Raises BadExample when a labelled keypoint lies far outside its image."""
  img_h, img_w = image_shape[:2]
  limit = MAX_OUTSIDE_FRACTION * max(img_h, img_w)
  for k in np.nonzero(example.visibility > 0)[0]:
    x, y = example.keypoints[k]
    if x < -limit or y < -limit or x > img_w - 1 + limit or y > img_h - 1 + limit:
      raise BadExample(f'keypoint {k} at ({x:.1f}, {y:.1f}) is far outside the '
                       f'{img_w}x{img_h} image')


def object_box(example, settings: CropSettings) -> ObjectBox:
  """The example's own box, else the box of its labelled keypoints (box_margin, box_min_side)."""
  if example.box is not None:
    return example.box
  from records.example import keypoint_box  # local: keeps the worker's import list short
  return keypoint_box(example.keypoints, example.visibility, settings.box_margin,
                      settings.box_min_side)


def encode_image(crop: np.ndarray, settings: CropSettings) -> bytes:
  """Encodes a BGR crop as JPEG or PNG (the stored bytes decode to RGB as usual)."""
  if settings.image_format == 'png':
    ok, buf = cv2.imencode('.png', crop, [cv2.IMWRITE_PNG_COMPRESSION, 3])
  else:
    ok, buf = cv2.imencode('.jpg', crop, [cv2.IMWRITE_JPEG_QUALITY, int(settings.jpeg_quality)])
  if not ok:
    raise BadExample('cannot encode the crop')
  return buf.tobytes()


def process_example(example, settings: CropSettings) -> dict:
  """Worker entry: loads, checks and crops one example.

  Returns:
    the keyword arguments of records.schema.make_example (numbers and bytes, no TensorFlow).
  Raises:
    BadExample: for bad input (the caller records it as skipped).
  """
  for name in ('image_id', 'object_id'):
    # Records store ids as int64; an id of 2**70 in an annotation would fail the write.
    if not INT64_MIN <= int(getattr(example, name)) <= INT64_MAX:
      raise BadExample(f'{name} {getattr(example, name)} does not fit in 64 bits')
  image = load_image(example)
  check_points_inside(example, image.shape)
  box = object_box(example, settings)
  geometry = crop_geometry(box, settings.input_shape, settings.crop_margin)
  crop = warp_crop(image, geometry)
  crop_h, crop_w = geometry.crop_shape
  keypoints = apply_affine(geometry.original_to_crop, example.keypoints)
  keypoints[example.visibility <= 0] = 0.0
  bbox = list(example.bbox) if example.bbox is not None else box.xywh()
  area = example.area if example.area is not None else float(bbox[2] * bbox[3])
  _check_float32(keypoints[example.visibility > 0], bbox, [area], example.headbox or [],
                 geometry.crop_to_original)
  return dict(
      encoded_image=encode_image(crop, settings), image_format=settings.image_format,
      crop_height=crop_h, crop_width=crop_w, keypoints_xy=keypoints.tolist(),
      visibility=[int(v) for v in example.visibility], box_in_crop=list(geometry.box_in_crop),
      crop_to_original=geometry.crop_to_original.tolist(), image_id=int(example.image_id),
      image_path=example.rel_path, original_height=int(image.shape[0]),
      original_width=int(image.shape[1]), object_id=int(example.object_id),
      bbox=[float(v) for v in bbox], area=float(area),
      headbox=list(example.headbox) if example.headbox is not None else None)


def _check_float32(*values) -> None:
  """Raises BadExample when a value to store in a float32 record field would not fit (e.g. an
  object centre of 1e308 that leaves the keypoints at -inf in the crop; found by fuzzing)."""
  for value in values:
    array = np.asarray(value, np.float64)
    if array.size and not np.all(np.abs(array) < np.finfo(np.float32).max):
      raise BadExample(f'a coordinate, box or area is out of range: {array.ravel()[:6]}')


def init_worker():
  """Pool initializer: one OpenCV thread per worker process (there is a process per core)."""
  cv2.setNumThreads(1)


def try_process(args) -> Tuple[int, Optional[dict], Optional[str]]:
  """Pool wrapper: (index, example, settings) -> (index, result or None, skip reason or None)."""
  index, example, settings = args
  try:
    return index, process_example(example, settings), None
  except BadExample as e:
    return index, None, str(e)
  except (cv2.error, ValueError, OverflowError, MemoryError, OSError) as e:
    return index, None, f'cannot process the image: {type(e).__name__}: {e}'


def try_process_many(jobs):
  """Pool task: a list of try_process arguments -> the list of their outcomes."""
  return [try_process(job) for job in jobs]
