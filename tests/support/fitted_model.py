"""A tiny model fitted on dot records, for the export tests (no tests here).

The records hold 64x64 crops of noise with a dot of one colour per keypoint; the model is a
1-stack mobile tiny hourglass with a Glorot heatmap head, fitted for a few hundred steps so that
its heatmaps have real peaks (the uint8 formats' keypoints are bounded against the float
model's).
"""

import keras
import numpy as np
import tensorflow as tf

from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model import bundle as bundle_lib
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_inference_model
from records import schema
from records.keypoint_definition import KeypointDefinition
from records.writer import write_shards

SIZE = 64
FP16_TOLERANCE = 0.1  # export.py's --parity_tolerance_fp16 (export/conftest.py's `exported`)
BOX_MARGIN = 1.4  # the bundle's, not the default 1.25: every format must carry it
COLOURS = np.array([[255, 40, 40], [40, 255, 40], [40, 40, 255], [255, 255, 40]], np.float32)
DEFINITION = KeypointDefinition(('nose', 'tail', 'left_ear', 'right_ear'), ((2, 3),), (),
                                ((0, 1, (255, 0, 0)), (0, 2, (0, 255, 0)), (0, 3, (0, 0, 255))))


def scene(rng, visible=(True,) * 4):
  """A 64x64 crop with a coloured dot per visible keypoint; returns (uint8 image,
  keypoints [4, 2])."""
  image = rng.uniform(0, 90, (SIZE, SIZE, 3)).astype(np.float32)
  keypoints = rng.uniform(6, SIZE - 7, (4, 2)).astype(np.float32)
  yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
  for (x, y), colour, shown in zip(keypoints, COLOURS, visible):
    disk = ((xx - x) ** 2 + (yy - y) ** 2 <= 9.0)[..., None] & shown
    image = np.where(disk, colour, image)
  return image.astype(np.uint8), keypoints


def _example(rng, index, blank=False):
  # right_ear is absent (not drawn, visibility 0) from 3 of every 4 val examples: the export
  # report's keypoint distances must count only the labelled ones.
  visibility = [2, 2, 2, 0 if index >= 1000 and index % 4 else 2]
  image, keypoints = scene(rng, [v > 0 for v in visibility])
  if blank:  # a broken calibration set: black frames
    image = np.zeros_like(image)
  encoded = tf.io.encode_png(image).numpy()
  return schema.make_example(
      encoded_image=encoded, image_format='png', crop_height=SIZE, crop_width=SIZE,
      keypoints_xy=keypoints.tolist(), visibility=visibility,
      box_in_crop=[-0.5, -0.5, SIZE, SIZE], crop_to_original=[[1, 0, 0], [0, 1, 0]],
      image_id=index, image_path=f'img{index}.png', original_height=SIZE, original_width=SIZE,
      object_id=index, bbox=[0, 0, SIZE, SIZE], area=SIZE * SIZE).SerializeToString(), (
          image, keypoints)


def make_records(directory, train=16, val=12, seed=0, blank_train=False):
  """Writes real records (black train images with `blank_train`); returns (train images uint8
  [N,64,64,3], train keypoints [N,4,2])."""
  rng = np.random.RandomState(seed)
  train_items = [_example(rng, i, blank_train) for i in range(train)]
  val_items = [_example(rng, 1000 + i) for i in range(val)]
  write_shards(directory, {'train': [s for s, _ in train_items], 'val': [s for s, _ in val_items]},
               definition=DEFINITION, input_shape=(SIZE, SIZE), crop_shape=(SIZE, SIZE),
               source='test', examples_per_shard=16)
  images = np.stack([x for _, (x, _) in train_items])
  keypoints = np.stack([k for _, (_, k) in train_items])
  return images, keypoints


def make_bundle(directory, images, keypoints, steps=0):
  """A tiny model (fitted for `steps` steps on the images when > 0), saved as a bundle."""
  keras.utils.set_random_seed(0)
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=SIZE,
                       input_width=SIZE, num_keypoints=4)
  codec = HeatmapCodec((SIZE, SIZE), 4, 1.5)
  model = build_inference_model(config)
  # The product starts its heatmap head near zero (hourglass/blocks.head); parity checks need
  # outputs of a trained model's O(1) scale, so the untrained test model gets a Glorot head.
  head = model.get_layer('hg0_conv_1x1_predict')
  kernel, bias = head.get_weights()
  head.set_weights([np.asarray(keras.initializers.GlorotUniform(seed=0)(kernel.shape)), bias])
  heatmaps, _ = codec.encode(keypoints, np.full(keypoints.shape[:2], 2))
  if steps:
    model.compile(keras.optimizers.Adam(2e-3), 'mse', jit_compile=False)
    data = tf.data.Dataset.from_tensor_slices((images.astype(np.float32),
                                               heatmaps.numpy() * 10.0))
    model.fit(data.shuffle(64, seed=0).repeat().batch(16), steps_per_epoch=steps, epochs=1,
              verbose=0)
  bundle_lib.save_bundle(directory, model, config, DEFINITION, codec.to_dict(),
                         {'box_margin': BOX_MARGIN})
  return model, config, codec
