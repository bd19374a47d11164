"""Training and evaluation datasets built from a records directory (records/reader.py).

Training: shard files per input pipeline -> interleave parallel reads -> shuffle -> batch the
serialized examples -> per batch, vectorised: parse, draw every augmentation of the batch at
once (stateless, keyed by (seed, epoch, batch index)), compose each example's matrix, move the
keypoints, swap match-point channels on flips -> unbatch -> per example, in parallel: decode ->
batch (drop remainder) -> per batch: ONE warp of each crop to the model input and the colour
jitter (both XLA-compiled kernels, pipelines/augment.py), optional blur, heatmap targets
(HeatmapCodec) -> prefetch.
Small ops cost microseconds each inside a tf.data map, per call: per-example draws and matrix
algebra cost more than the warp, hence the per-batch preparation. All TF graph code.
"""

import dataclasses
import functools
from typing import Optional

import tensorflow as tf

from core.errors import RecordsError
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.keypoints.geometry import apply_affine
from pipelines import augment
from pipelines.config import PipelineConfig
from records import schema
from records.reader import load_manifest

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class _Setup:
  """What every stage needs: the manifest, the resolved input shape and the codec."""
  manifest: object
  input_shape: tuple
  codec: HeatmapCodec


def _setup(records_dir, config):
  manifest = load_manifest(records_dir)
  input_shape = tuple(config.input_shape or manifest.input_shape)
  return _Setup(manifest, input_shape, HeatmapCodec(input_shape, config.stride, config.sigma))


def codec_for(records_dir: str, config: PipelineConfig) -> HeatmapCodec:
  """The codec the pipelines render targets with (input shape from config or manifest)."""
  return _setup(records_dir, config).codec


def decode_image(encoded, config):
  """Decodes one crop (JPEG or PNG) to uint8 [h, w, 3].

  JPEGs decode at 1/config.decode_ratio through DCT scaling (cheaper when the crops have more
  resolution than the model needs); augment.downscaled_to_full(ratio) maps the result back.
  """
  is_png = tf.equal(tf.strings.substr(encoded, 0, 4), b'\x89PNG')
  dct = 'INTEGER_FAST' if config.fast_dct else ''

  def jpeg():
    return tf.io.decode_jpeg(encoded, channels=3, ratio=config.decode_ratio, dct_method=dct)

  def png():
    image = tf.io.decode_png(encoded, channels=3)
    if config.decode_ratio == 1:
      return image
    # PNG has no DCT scaling: resize by area so both formats give the same geometry.
    size = -(-tf.shape(image)[:2] // config.decode_ratio)
    return tf.cast(tf.image.resize(image, size, 'area'), tf.uint8)
  image = tf.cond(is_png, png, jpeg)
  image.set_shape([None, None, 3])
  return image


# Training parses only these (per batch): the rest (paths, ids, the sparse head box) parsed per
# example cost ~10% of the whole decode-and-warp floor.
_TRAIN_KEYS = (schema.IMAGE_ENCODED, schema.KEYPOINTS_XY, schema.KEYPOINTS_VISIBILITY,
               schema.BOX_IN_CROP)


def parse_for_training(serialized, num_keypoints):
  """records.schema.parse_example restricted to what training reads, for a batch [B] of strings.

  Returns:
    dict: IMAGE_ENCODED string [B], KEYPOINTS_XY float32 [B, K, 2], KEYPOINTS_VISIBILITY int32
    [B, K], BOX_IN_CROP float32 [B, 4].
  """
  f = tf.io.parse_example(serialized, {k: schema.FEATURES[k] for k in _TRAIN_KEYS})
  out = dict(f)
  out[schema.KEYPOINTS_XY] = tf.reshape(tf.sparse.to_dense(f[schema.KEYPOINTS_XY]),
                                        [-1, num_keypoints, 2])
  out[schema.KEYPOINTS_VISIBILITY] = tf.cast(
      tf.reshape(tf.sparse.to_dense(f[schema.KEYPOINTS_VISIBILITY]), [-1, num_keypoints]),
      tf.int32)
  return out


def _prepare_batch(setup, config, seed, epoch):
  """Per-batch map: (batch index, serialized [B]) -> per-example warp parameters and labels."""
  definition = setup.manifest.definition
  kernel = _label_kernel(config, tuple(setup.input_shape), tuple(definition.flip_permutation('h')),
                         tuple(definition.flip_permutation('v'))
                         if definition.has_vertical_pairs else None)

  def fn(batch_index, serialized):
    f = parse_for_training(serialized, setup.manifest.num_keypoints)
    out = kernel(tf.cast(seed, tf.int64), tf.cast(epoch, tf.int64), batch_index,
                 f[schema.BOX_IN_CROP], f[schema.KEYPOINTS_XY], f[schema.KEYPOINTS_VISIBILITY])
    out['encoded'] = f[schema.IMAGE_ENCODED]
    return out
  return fn


@functools.lru_cache(maxsize=None)
def _label_kernel(config, input_shape, flip_h, flip_v):
  """XLA-compiled per-batch draws and geometry: (seed, epoch, batch index, boxes [B, 4],
  keypoints [B, K, 2], visibility [B, K]) -> dict of 'transform' [B, 8] (the warp's parameters),
  'keypoints' [B, K, 2] in model-input px, 'visibility' [B, K] (channels swapped on flips) and,
  when augmenting, the colour draws 'recolour' [B], 'colour' [B, 3, 3], 'contrast' [B] (and
  'blur' [B]).

  The draws, the matrix products and inverses are a few hundred tiny ops: run one by one by the
  graph executor they cost ~12 ms a batch of 16 (more than the warp); compiled, ~1 ms. Cached
  per setting, so the per-epoch datasets reuse one compiled kernel.
  `flip_v` is the vertical flip permutation, None for definitions without 'v' pairs.
  """
  decoded_to_crop = augment.downscaled_to_full(config.decode_ratio)

  @tf.function(jit_compile=True)
  def kernel(seed, epoch, batch_index, boxes, keypoints, visibility):
    crop_to_input = augment.crop_to_input(boxes, input_shape)                   # [B, 3, 3]
    out = {}
    if config.augment:
      shape = tf.shape(boxes)[:1]
      geo_key, colour_key = tf.unstack(tf.random.experimental.stateless_split(
          augment.batch_key(seed, epoch, batch_index), 2))
      aug, do_h, do_v = augment.random_geometry(geo_key, shape, config, input_shape,
                                                flip_v is not None)
      crop_to_input = aug @ crop_to_input
      keypoints = augment.swap_channels(keypoints, list(flip_h), do_h)
      visibility = augment.swap_channels(visibility, list(flip_h), do_h)
      if flip_v is not None:
        keypoints = augment.swap_channels(keypoints, list(flip_v), do_v)
        visibility = augment.swap_channels(visibility, list(flip_v), do_v)
      out['recolour'], out['colour'], out['contrast'], blur = augment.random_colour(
          colour_key, shape, config)
      if _blurring(config):
        out['blur'] = blur
    out['transform'] = augment.projective_transform(crop_to_input @ decoded_to_crop)
    out['keypoints'] = apply_affine(crop_to_input, keypoints)
    out['visibility'] = visibility
    return out
  return kernel


def decoded_shape(manifest, config):
  """(h, w) of every decoded crop: the manifest's crop_shape at 1/config.decode_ratio."""
  return tuple(-(-side // config.decode_ratio) for side in manifest.crop_shape)


def _decode_fixed(encoded, setup, config):
  """decode_image with the static shape every crop of these records has (the batched warp
  needs one shape); a crop of another size fails with a message naming the field."""
  image = decode_image(encoded, config)
  shape = decoded_shape(setup.manifest, config)
  check = tf.debugging.assert_equal(
      tf.shape(image)[:2], shape,
      message=f'{setup.manifest.records_dir}: a record\'s {schema.IMAGE_ENCODED} does not '
              f'decode to the manifest\'s crop_shape {setup.manifest.crop_shape} (at '
              f'decode_ratio {config.decode_ratio}: {shape})')
  with tf.control_dependencies([check]):
    image = tf.identity(image)
  image.set_shape(shape + (3,))
  return image


def _decode_example(setup, config):
  """Per-example map: decode the crop; everything else passes through to the batch stage."""
  def fn(example):
    example = dict(example)
    example['image'] = _decode_fixed(example.pop('encoded'), setup, config)
    return example
  return fn


def _eval_example_fn(setup, config):
  """Per-example map for eval: parse everything, decode, the plain warp, labels to input px."""
  num_keypoints = setup.manifest.num_keypoints
  decoded_to_crop = augment.downscaled_to_full(config.decode_ratio)

  def fn(serialized):
    features = schema.parse_example(serialized, num_keypoints)
    image = _decode_fixed(features[schema.IMAGE_ENCODED], setup, config)
    crop_to_input = augment.crop_to_input(features[schema.BOX_IN_CROP], setup.input_shape)
    return {'image': augment.warp(image, crop_to_input @ decoded_to_crop, setup.input_shape),
            'keypoints': apply_affine(crop_to_input, features[schema.KEYPOINTS_XY]),
            'visibility': features[schema.KEYPOINTS_VISIBILITY], 'features': features,
            'crop_to_input': crop_to_input}
  return fn


def read_serialized(manifest, split, config, input_context, shuffle_files, seed):
  """Serialized examples of `split`, sharded per input pipeline, read in parallel (the reads
  of both pipelines, public for benchmarks/pipeline_throughput.py's floor)."""
  paths = manifest.shard_paths(split)
  if not paths:
    raise RecordsError(f'{manifest.records_dir}: the {split!r} split has no examples')
  files = tf.data.Dataset.from_tensor_slices(paths)
  shard_records = False
  if input_context and input_context.num_input_pipelines > 1:
    if len(paths) >= input_context.num_input_pipelines:
      files = files.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    else:
      shard_records = True
  if shuffle_files:
    files = files.shuffle(len(paths), seed=seed, reshuffle_each_iteration=False)
  ds = files.interleave(tf.data.TFRecordDataset, cycle_length=min(config.cycle_length, len(paths)),
                        num_parallel_calls=AUTOTUNE, deterministic=True)
  if shard_records:
    ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
  return ds


def dataset_options(config):
  """The tf.data options of both pipelines (determinism, parallel maps, one thread per op)."""
  options = tf.data.Options()
  options.deterministic = bool(config.deterministic)
  options.experimental_optimization.map_parallelization = True
  # Parallelism comes from the parallel maps; ops split across threads only add overhead here.
  options.threading.max_intra_op_parallelism = 1
  return options


def _batch_size(config, input_context):
  if input_context is None:
    return config.batch_size
  return input_context.get_per_replica_batch_size(config.batch_size)


def build_train_dataset(records_dir: str, config: PipelineConfig, *, epoch: int = 0,
                        input_context: Optional[tf.distribute.InputContext] = None
                        ) -> tf.data.Dataset:
  """One epoch of augmented training batches (no repeat, drop remainder).

  Args:
    records_dir: a make_records output directory.
    config: PipelineConfig; config.batch_size is global.
    epoch: keys the shuffle and every random draw, so (config.seed, epoch) fixes the content
      in deterministic mode.
    input_context: per-replica pipeline: shards by input pipeline, per-replica batch size.
  Returns:
    Dataset of (images uint8 [B, H, W, 3], {'heatmaps': float32 [B, h, w, K],
    'weights': float32 [B, K], 'keypoints': float32 [B, K, 2] model-input px}).
  Raises:
    RecordsError: the records are missing, or hold fewer training examples than one batch.
  """
  setup = _setup(records_dir, config)
  batch = _batch_size(config, input_context)
  pipelines = input_context.num_input_pipelines if input_context else 1
  count = setup.manifest.count('train')
  if count // pipelines < batch:
    raise RecordsError(f'{records_dir}: {count} training examples cannot fill one batch of '
                       f'{batch} per replica over {pipelines} input pipeline(s); lower '
                       f'--batch_size or add data')
  shuffle_seed = int(config.seed) * 1000003 + int(epoch)
  ds = read_serialized(setup.manifest, 'train', config, input_context, True, shuffle_seed)
  ds = ds.shuffle(config.shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=False)
  ds = ds.batch(batch, drop_remainder=True).enumerate()
  ds = ds.map(_prepare_batch(setup, config, config.seed, epoch), num_parallel_calls=AUTOTUNE)
  ds = ds.unbatch().map(_decode_example(setup, config), num_parallel_calls=AUTOTUNE)
  ds = ds.batch(batch, drop_remainder=True)
  ds = ds.map(lambda b: _finish_train_batch(b, setup, config), num_parallel_calls=AUTOTUNE)
  return ds.prefetch(AUTOTUNE).with_options(dataset_options(config))


def _blurring(config):
  return config.augment and config.blur_prob > 0 and config.blur_sigma > 0


def _recolouring(config):
  return config.augment and (config.color_prob > 0 or config.grayscale_prob > 0)


def _finish_train_batch(batch, setup, config):
  """Per-batch work (vectorised, the image work XLA-compiled): the one warp of each decoded crop
  to the model input, colour jitter, optional blur, heatmap targets."""
  images = augment.warp(batch['image'], None, setup.input_shape, transform=batch['transform'])
  if _recolouring(config):
    # Images drawn without jitter get the identity (exact on uint8): one fused pass over the
    # batch costs less than splitting it.
    identity = tf.eye(3, batch_shape=tf.shape(batch['recolour']))
    recolour = batch['recolour'][:, None, None]
    images = augment.apply_colour(images, tf.where(recolour, batch['colour'], identity),
                                  tf.where(batch['recolour'], batch['contrast'], 1.0))
  if _blurring(config):
    images = augment.gaussian_blur(images, batch['blur'], config.blur_sigma)
  heatmaps, weights = setup.codec.encode(batch['keypoints'], batch['visibility'])
  return images, {'heatmaps': heatmaps, 'weights': weights, 'keypoints': batch['keypoints']}


def build_eval_dataset(records_dir: str, config: PipelineConfig, *, split: str = 'val',
                       input_context: Optional[tf.distribute.InputContext] = None
                       ) -> tf.data.Dataset:
  """Un-augmented batches in record order (no drop remainder), with what maps results back.

  Returns:
    Dataset of dicts: 'image' uint8 [B, H, W, 3], 'heatmaps' [B, h, w, K], 'weights' [B, K],
    'keypoints' [B, K, 2] model-input px, 'visibility' int32 [B, K], 'input_to_original'
    float32 [B, 2, 3] (model-input px -> original image px), 'image_id', 'object_id' int64 [B],
    'bbox' [B, 4], 'area' [B], 'headbox' [B, 4], 'has_headbox' bool [B],
    'original_keypoints' float32 [B, K, 2], 'path' string [B].
  """
  setup = _setup(records_dir, config)
  eval_config = dataclasses.replace(config, augment=False)
  ds = read_serialized(setup.manifest, split, eval_config, input_context, False, 0)
  fn = _eval_example_fn(setup, eval_config)
  ds = ds.map(lambda s: _eval_fields(fn(s), setup.codec), num_parallel_calls=AUTOTUNE)
  ds = ds.batch(_batch_size(config, input_context), drop_remainder=False)
  options = dataset_options(config)
  options.deterministic = True  # eval results are matched to records by position
  return ds.prefetch(AUTOTUNE).with_options(options)


def _eval_fields(example, codec):
  f = example['features']
  heatmaps, weights = codec.encode(example['keypoints'], example['visibility'])
  crop_to_original = tf.concat([f[schema.CROP_TO_ORIGINAL], [[0., 0., 1.]]], axis=0)
  input_to_original = crop_to_original @ tf.linalg.inv(example['crop_to_input'])
  return {
      'image': example['image'], 'heatmaps': heatmaps, 'weights': weights,
      'keypoints': example['keypoints'], 'visibility': example['visibility'],
      'input_to_original': input_to_original[:2],
      'image_id': f[schema.ORIGINAL_ID], 'object_id': f[schema.OBJECT_ID],
      'bbox': f[schema.OBJECT_BBOX], 'area': f[schema.OBJECT_AREA],
      'headbox': f[schema.OBJECT_HEADBOX], 'has_headbox': f[schema.OBJECT_HAS_HEADBOX],
      'original_keypoints': apply_affine(crop_to_original, f[schema.KEYPOINTS_XY]),
      'path': f[schema.ORIGINAL_PATH],
  }
