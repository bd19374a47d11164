"""The TFRecord schema: every feature key lives here, and nowhere else.

One `tf.train.Example` per object instance. Coordinate convention, used everywhere in the
project: continuous pixel coordinates in which the centre of pixel (column i, row j) is at (i, j),
so a W-pixel-wide image spans [-0.5, W - 0.5] (the convention of OpenCV's warpAffine and of
`tf.raw_ops.ImageProjectiveTransformV3`). Boxes are [x, y, w, h] in that same system.

The stored image is a crop around the object, already at model resolution, larger than the
object box by a margin (room for rotation and zoom-out in training). The model input (H_in x W_in
pixels) maps onto `object/box_in_crop` = [x0, y0, w, h]:
    crop_x = x0 + (u + 0.5) * w / W_in,   crop_y = y0 + (v + 0.5) * h / H_in
for model input pixel centres (u, v). `transform/crop_to_original` maps crop coordinates back:
    [orig_x, orig_y] = A @ [crop_x, crop_y, 1],  A = reshape(transform/crop_to_original, [2, 3]).
"""

import tensorflow as tf

IMAGE_ENCODED = 'image/encoded'            # bytes: JPEG or PNG of the crop
IMAGE_FORMAT = 'image/format'              # bytes: b'jpeg' or b'png'
IMAGE_HEIGHT = 'image/height'              # int64: crop height
IMAGE_WIDTH = 'image/width'                # int64: crop width
KEYPOINTS_XY = 'keypoints/xy'              # float [K * 2]: x0, y0, x1, y1, ... in crop coordinates
KEYPOINTS_VISIBILITY = 'keypoints/visibility'  # int64 [K]: 0 unlabelled, 1 labelled occluded, 2 visible
BOX_IN_CROP = 'object/box_in_crop'         # float [4]: the object box in crop coordinates
CROP_TO_ORIGINAL = 'transform/crop_to_original'  # float [6]: row-major 2x3 affine crop -> original
ORIGINAL_ID = 'original/image_id'          # int64: image id (COCO image_id, else a stable index)
ORIGINAL_PATH = 'original/path'            # bytes: image path relative to the dataset folder
ORIGINAL_HEIGHT = 'original/height'        # int64
ORIGINAL_WIDTH = 'original/width'          # int64
OBJECT_ID = 'object/id'                    # int64: instance id (COCO annotation id, else an index)
OBJECT_BBOX = 'object/bbox'                # float [4]: x, y, w, h in original coordinates
OBJECT_AREA = 'object/area'                # float: COCO area (segment area), else box w * h
OBJECT_HEADBOX = 'object/headbox'          # float [4] x1, y1, x2, y2 original coords, or [] if none
# Parsed, not stored: whether OBJECT_HEADBOX holds a box (parse_example adds it).
OBJECT_HAS_HEADBOX = 'object/has_headbox'  # bool []

# The parse spec. Variable-length lists use VarLen so that K comes from the manifest, not the schema.
FEATURES = {
    IMAGE_ENCODED: tf.io.FixedLenFeature([], tf.string),
    IMAGE_FORMAT: tf.io.FixedLenFeature([], tf.string, default_value=b'jpeg'),
    IMAGE_HEIGHT: tf.io.FixedLenFeature([], tf.int64),
    IMAGE_WIDTH: tf.io.FixedLenFeature([], tf.int64),
    KEYPOINTS_XY: tf.io.VarLenFeature(tf.float32),
    KEYPOINTS_VISIBILITY: tf.io.VarLenFeature(tf.int64),
    BOX_IN_CROP: tf.io.FixedLenFeature([4], tf.float32),
    CROP_TO_ORIGINAL: tf.io.FixedLenFeature([6], tf.float32),
    ORIGINAL_ID: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    ORIGINAL_PATH: tf.io.FixedLenFeature([], tf.string, default_value=b''),
    ORIGINAL_HEIGHT: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    ORIGINAL_WIDTH: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    OBJECT_ID: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    OBJECT_BBOX: tf.io.FixedLenFeature([4], tf.float32, default_value=[0.0] * 4),
    OBJECT_AREA: tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    OBJECT_HEADBOX: tf.io.VarLenFeature(tf.float32),
}


def parse_example(serialized, num_keypoints):
  """Parses one serialized example into a dict of dense tensors (image still encoded).

  Args:
    serialized: scalar tf.string.
    num_keypoints: K, from the records manifest.
  Returns:
    dict with the keys above; KEYPOINTS_XY float32 [K, 2], KEYPOINTS_VISIBILITY int32 [K],
    CROP_TO_ORIGINAL float32 [2, 3], OBJECT_HEADBOX float32 [4] (zeros when absent) plus
    'object/has_headbox' bool [].
  """
  f = tf.io.parse_single_example(serialized, FEATURES)
  out = dict(f)
  out[KEYPOINTS_XY] = tf.reshape(tf.sparse.to_dense(f[KEYPOINTS_XY]), [num_keypoints, 2])
  out[KEYPOINTS_VISIBILITY] = tf.cast(
      tf.reshape(tf.sparse.to_dense(f[KEYPOINTS_VISIBILITY]), [num_keypoints]), tf.int32)
  out[CROP_TO_ORIGINAL] = tf.reshape(f[CROP_TO_ORIGINAL], [2, 3])
  headbox = tf.sparse.to_dense(f[OBJECT_HEADBOX])
  out[OBJECT_HAS_HEADBOX] = tf.equal(tf.size(headbox), 4)
  out[OBJECT_HEADBOX] = tf.cond(out[OBJECT_HAS_HEADBOX], lambda: tf.reshape(headbox, [4]),
                                lambda: tf.zeros([4], tf.float32))
  return out


def _floats(values):
  return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def _ints(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _bytes(value):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def make_example(*, encoded_image, image_format, crop_height, crop_width, keypoints_xy,
                 visibility, box_in_crop, crop_to_original, image_id, image_path,
                 original_height, original_width, object_id, bbox, area, headbox=None):
  """Builds the tf.train.Example for one object instance (arguments as the keys above)."""
  feature = {
      IMAGE_ENCODED: _bytes(encoded_image),
      IMAGE_FORMAT: _bytes(image_format.encode()),
      IMAGE_HEIGHT: _ints([crop_height]),
      IMAGE_WIDTH: _ints([crop_width]),
      KEYPOINTS_XY: _floats([c for xy in keypoints_xy for c in xy]),
      KEYPOINTS_VISIBILITY: _ints(visibility),
      BOX_IN_CROP: _floats(box_in_crop),
      CROP_TO_ORIGINAL: _floats([c for row in crop_to_original for c in row]),
      ORIGINAL_ID: _ints([image_id]),
      ORIGINAL_PATH: _bytes(str(image_path).encode('utf-8')),
      ORIGINAL_HEIGHT: _ints([original_height]),
      ORIGINAL_WIDTH: _ints([original_width]),
      OBJECT_ID: _ints([object_id]),
      OBJECT_BBOX: _floats(bbox),
      OBJECT_AREA: _floats([area]),
      OBJECT_HEADBOX: _floats(headbox if headbox is not None else []),
  }
  return tf.train.Example(features=tf.train.Features(feature=feature))
