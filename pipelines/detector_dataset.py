"""The detector's datasets: whole original frames with every object's box, from the records.

A records directory stores one crop per object; the detector needs whole frames. The frame
index (`frame_index`) reads the records' metadata once (original path, image id, object box)
and groups the objects of each original image; the pipeline then reads the originals through
the manifest's dataset path. Per frame, in graph mode: read -> decode -> shrink to fit the
detector input (anti-aliased, as predict's letterbox is) -> pad to the input shape; per batch:
one warp (zoom about the centre, shift, horizontal flip: boxes stay axis-aligned, and a flip
suits a detector whatever the keypoint set's sides) and the colour jitter (pipelines/augment.py)
-> target maps (hourglass/detection/targets.py).

Boxes are each record's object box (records/schema.py OBJECT_BBOX: the annotation's bbox, or
the labelled keypoints' box enlarged by the box margin). `crop_scale` is how much larger the
keypoint model's training crops were than those boxes (the records' box margin for sources
with boxes, 1 for boxes made from keypoints): detector boxes are enlarged by it for the crops.
Objects of the records' kind that are no labels (the manifest's ignore_boxes: COCO crowds,
people without keypoints) are ignore regions: the centre loss is off there, so the detector
learns them neither as objects nor as background.
"""

import dataclasses
import functools
import os

import numpy as np
import tensorflow as tf

from core.errors import RecordsError
from core.geometry import expand_to_aspect
from hourglass.detection import MAX_TRAINING_BOXES
from hourglass.detection import targets as detection_targets
from pipelines import augment
from pipelines.config import PipelineConfig
from pipelines.dataset import dataset_options
from records import schema
from records.reader import load_manifest

AUTOTUNE = tf.data.AUTOTUNE
_INDEX_KEYS = (schema.ORIGINAL_PATH, schema.ORIGINAL_ID, schema.OBJECT_BBOX, schema.BOX_IN_CROP,
               schema.CROP_TO_ORIGINAL)


@dataclasses.dataclass
class FrameIndex:
  """The original frames of a records split and their objects.

  Attributes:
    paths: [N] absolute paths of the original images.
    image_ids: int64 [N].
    boxes: float32 [N, MAX_TRAINING_BOXES, 4] x, y, w, h original px (zero rows pad).
    counts: int32 [N] objects per frame.
    crop_scale: the median over objects of crop box / object box (the module docstring).
    dropped: objects beyond MAX_TRAINING_BOXES in a frame (left out of the targets).
    ignore: float32 [N, MAX_TRAINING_BOXES, 4] boxes of objects that are no labels (the
      manifest's ignore_boxes: COCO crowds, people without keypoints), original px.
    ignore_counts: int32 [N].
  """
  paths: list
  image_ids: np.ndarray
  boxes: np.ndarray
  counts: np.ndarray
  crop_scale: float
  dropped: int
  ignore: np.ndarray
  ignore_counts: np.ndarray


def original_root(manifest):
  """The folder of the records' original images.

  Raises:
    RecordsError: the manifest names none, or it is not a folder here.
  """
  root = manifest.dataset_path
  if not root or not os.path.isdir(root):
    raise RecordsError(
        f'{manifest.records_dir}: the detector trains on the original frames, but the '
        f'manifest\'s settings.dataset_path ({root!r}) is not a folder here; run make_records '
        f'again with the original images at hand')
  return root


@functools.lru_cache(maxsize=8)
def frame_index(records_dir, split):
  """The FrameIndex of a split (read once per process and split).

  Raises:
    RecordsError: no examples in the split, or an original image is missing.
  """
  manifest = load_manifest(records_dir)
  paths = manifest.shard_paths(split)
  if not paths:
    raise RecordsError(f'{records_dir}: the {split!r} split has no examples')
  root = original_root(manifest)
  spec = {k: schema.FEATURES[k] for k in _INDEX_KEYS}
  frames, ratios = {}, []
  for batch in tf.data.TFRecordDataset(paths).batch(1024).map(
      lambda s: tf.io.parse_example(s, spec)):
    for path, image_id, bbox, in_crop, to_original in zip(
        *(batch[k].numpy() for k in _INDEX_KEYS)):
      frames.setdefault(path.decode('utf-8'), (int(image_id), []))[1].append(bbox)
      ratios.append(_crop_ratio(bbox, in_crop, to_original, manifest.input_shape))
  for rel_path in frames:
    if not os.path.isfile(os.path.join(root, rel_path)):
      raise RecordsError(f'{records_dir}: original image {os.path.join(root, rel_path)} of the '
                         f'{split!r} split is missing; the detector trains on the original '
                         f'frames (run make_records again with them at hand)')
  names = sorted(frames)
  boxes, counts, dropped = _padded([frames[n][1] for n in names])
  ignore_boxes = manifest.ignore_boxes
  ignore, ignore_counts, _ = _padded([ignore_boxes.get(n, []) for n in names])
  return FrameIndex([os.path.join(root, n) for n in names],
                    np.array([frames[n][0] for n in names], np.int64), boxes, counts,
                    float(np.median(ratios)), dropped, ignore, ignore_counts)


def _padded(box_lists):
  """(float32 [N, MAX_TRAINING_BOXES, 4], counts int32 [N], boxes dropped beyond the cap)."""
  boxes = np.zeros((len(box_lists), MAX_TRAINING_BOXES, 4), np.float32)
  counts = np.zeros(len(box_lists), np.int32)
  for i, found in enumerate(box_lists):
    kept = np.asarray(found[:MAX_TRAINING_BOXES], np.float32).reshape(-1, 4)
    boxes[i, :len(kept)] = kept
    counts[i] = len(kept)
  return boxes, counts, int(sum(len(b) for b in box_lists) - counts.sum())


def _crop_ratio(bbox, box_in_crop, crop_to_original, input_shape):
  """The crop box's side over the object box's side, both grown to the model aspect."""
  scale = float(np.hypot(*np.asarray(crop_to_original)[:2]))  # original px per crop px
  crop_width = float(box_in_crop[2]) * scale
  object_width, _ = expand_to_aspect(max(float(bbox[2]), 1e-6), max(float(bbox[3]), 1e-6),
                                     input_shape)
  return crop_width / object_width


def _fitted(path, input_shape):
  """One original frame shrunk (or grown) to fit input_shape, anti-aliased, padded at the
  bottom and right with 0. Returns (uint8 [H, W, 3], content scale [2] (x, y), frame size
  [2] (w, h))."""
  height, width = input_shape
  image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
  frame = tf.cast(tf.shape(image)[:2], tf.float32)
  scale = tf.minimum(height / frame[0], width / frame[1])
  size = tf.maximum(tf.cast(tf.round(frame * scale), tf.int32), 1)
  resized = tf.image.resize(image, size, antialias=True)
  padded = tf.image.pad_to_bounding_box(resized, 0, 0, height, width)
  padded = tf.cast(tf.clip_by_value(tf.round(padded), 0, 255), tf.uint8)
  padded.set_shape([height, width, 3])
  content = tf.cast(size[::-1], tf.float32)
  return padded, content / frame[::-1], frame[::-1]


def _to_content(boxes, content_scale):
  """Boxes [M, 4] frame px -> px of the fitted image (pixel centres: c = (x + 0.5) s - 0.5)."""
  scale = tf.tile(content_scale, [2])
  shift = tf.concat([0.5 * content_scale - 0.5, [0.0, 0.0]], 0)
  return boxes * scale + shift


def _centring(content_size, input_shape):
  """[..., 3, 3]: fitted-image px -> input px, the content centred (predict's letterbox)."""
  height, width = input_shape
  return augment.translation((width - content_size[..., 0]) / 2.0,
                             (height - content_size[..., 1]) / 2.0)


def _move_boxes(matrix, boxes):
  """Boxes [..., M, 4] through affines [..., 3, 3] without rotation (flips allowed)."""
  low = boxes[..., :2]
  high = boxes[..., :2] + boxes[..., 2:]
  scale = tf.stack([matrix[..., 0, 0], matrix[..., 1, 1]], -1)[..., None, :]
  shift = tf.stack([matrix[..., 0, 2], matrix[..., 1, 2]], -1)[..., None, :]
  a, b = low * scale + shift, high * scale + shift
  return tf.concat([tf.minimum(a, b), tf.abs(b - a)], -1)


def _frames(index, input_shape, shuffle_seed=None):
  """Per-frame dataset of dicts: 'image' uint8 [H, W, 3] (fitted, padded), 'boxes' [M, 4]
  fitted-image px, 'count', 'content' [2] fitted size (w, h), 'to_frame' [3, 3] fitted ->
  frame px, 'image_id'."""
  ds = tf.data.Dataset.from_tensor_slices((index.paths, index.boxes, index.counts,
                                           index.image_ids, index.ignore, index.ignore_counts))
  if shuffle_seed is not None:
    ds = ds.shuffle(len(index.paths), seed=shuffle_seed, reshuffle_each_iteration=False)

  def load(path, boxes, count, image_id, ignore, ignore_count):
    image, content_scale, frame = _fitted(path, input_shape)
    to_frame = augment.affine(1.0 / content_scale[0], 0.0, 0.5 / content_scale[0] - 0.5,
                              0.0, 1.0 / content_scale[1], 0.5 / content_scale[1] - 0.5)
    return {'image': image, 'boxes': _to_content(boxes, content_scale), 'count': count,
            'content': tf.round(frame * content_scale), 'to_frame': to_frame,
            'image_id': image_id, 'ignore': _to_content(ignore, content_scale),
            'ignore_count': ignore_count}
  return ds.map(load, num_parallel_calls=AUTOTUNE)


def _targets(batch, matrix, input_shape, stride):
  """{'maps', 'size_weights', 'centre_weights', 'count'} of a batch of fitted frames moved by
  `matrix` [B, 3, 3] into the input."""
  heatmap_shape = (input_shape[0] // stride, input_shape[1] // stride)

  def one(args):
    boxes, count, ignore, ignore_count = args
    maps, size_weights = detection_targets.encode(boxes, count, heatmap_shape, stride)
    return maps, size_weights, detection_targets.ignore_weights(ignore, ignore_count,
                                                                heatmap_shape, stride)
  maps, size_weights, centre_weights = tf.map_fn(
      one, (_move_boxes(matrix, batch['boxes']), batch['count'],
            _move_boxes(matrix, batch['ignore']), batch['ignore_count']),
      fn_output_signature=(tf.float32, tf.float32, tf.float32))
  return {'maps': maps, 'size_weights': size_weights, 'centre_weights': centre_weights,
          'count': batch['count']}


def build_train_dataset(records_dir, config: PipelineConfig, input_shape, *, epoch=0,
                        input_context=None):
  """One epoch of augmented detector batches (drop remainder).

  Args:
    config: PipelineConfig (batch size, seed, zoom, shift, colour jitter; rotation and the
      keypoint flip setting are not used: the detector flips at random with probability 0.5).
    input_shape: (H, W) detector input.
  Returns:
    Dataset of (images uint8 [B, H, W, 3], {'maps' float32 [B, h, w, 3], 'size_weights'
    [B, h, w], 'centre_weights' [B, h, w] (0 in ignore regions), 'count' int32 [B]}).
  """
  index = frame_index(records_dir, 'train')
  batch = (input_context.get_per_replica_batch_size(config.batch_size) if input_context
           else config.batch_size)
  if len(index.paths) < batch:
    raise RecordsError(f'{records_dir}: {len(index.paths)} training frames cannot fill one '
                       f'batch of {batch}; lower --batch_size or add data')
  seed = int(config.seed) * 1000003 + int(epoch)
  ds = _frames(index, input_shape, seed)
  if input_context and input_context.num_input_pipelines > 1:
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  geometry = dataclasses.replace(config, rotation_prob=0.0, flip_prob=0.5)

  def finish(batch_index, b):
    key = augment.batch_key(config.seed, epoch, batch_index)
    shape = tf.shape(b['count'])
    matrix, _, _ = augment.random_geometry(key, shape, geometry, input_shape, False)
    matrix = matrix @ _centring(b['content'], input_shape)
    images = augment.warp(b['image'], matrix, input_shape)
    changed, colour, contrast, _ = augment.random_colour(
        augment.batch_key(config.seed + 1, epoch, batch_index), shape, config)
    identity = tf.eye(3, batch_shape=shape)
    images = augment.apply_colour(images, tf.where(changed[:, None, None], colour, identity),
                                  tf.where(changed, contrast, 1.0))
    return images, _targets(b, matrix, input_shape, config.stride)
  ds = ds.batch(batch, drop_remainder=True).enumerate().map(finish, num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE).with_options(dataset_options(config))


def build_eval_dataset(records_dir, config: PipelineConfig, input_shape, split='val'):
  """Un-augmented detector batches in frame order.

  Returns:
    Dataset of dicts: 'image' uint8 [B, H, W, 3], 'maps', 'size_weights', 'centre_weights',
    'count' (as the training targets), 'input_to_frame' float32 [B, 2, 3] (input px -> original px),
    'frame_boxes' [B, M, 4] original px, 'image_id' int64 [B].
  """
  index = frame_index(records_dir, split)
  frame_boxes = tf.data.Dataset.from_tensor_slices(index.boxes)

  def finish(b, original):
    to_input = _centring(b['content'], input_shape)
    images = augment.warp(b['image'], to_input, input_shape)
    input_to_frame = b['to_frame'] @ tf.linalg.inv(to_input)
    return dict(_targets(b, to_input, input_shape, config.stride), image=images,
                input_to_frame=input_to_frame[:, :2], frame_boxes=original,
                image_id=b['image_id'])
  ds = tf.data.Dataset.zip((_frames(index, input_shape), frame_boxes))
  ds = ds.batch(config.batch_size).map(finish, num_parallel_calls=AUTOTUNE)
  options = dataset_options(config)
  options.deterministic = True
  return ds.prefetch(AUTOTUNE).with_options(options)
