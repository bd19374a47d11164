"""Tiny real records for the pipeline tests (no tests here): PNG crops with painted dots.

Each crop is 96 x 96 for a 64 x 64 model input; the object box is the central 64 x 64
(box_in_crop = [15.5, 15.5, 64, 64], as records/crop.py makes it with crop_margin 1.5). Keypoint
0 ('left_eye') is a red dot, 1 ('right_eye') green, 2 ('nose') blue; 3 ('tail') is unlabelled.
"""

import cv2
import numpy as np

from records import schema
from records.keypoint_definition import KeypointDefinition
from records.writer import write_shards

INPUT_SHAPE = (64, 64)
CROP = 96
BOX_IN_CROP = (15.5, 15.5, 64.0, 64.0)
DOT_SIGMA = 1.5
DEFINITION = KeypointDefinition(
    names=('left_eye', 'right_eye', 'nose', 'tail'), flip_pairs_h=((0, 1),),
    skeleton=((0, 2, (255, 0, 0)), (1, 2, (0, 255, 0))))


def dot_image(keypoints, visibility, size=CROP):
  """uint8 [size, size, 3]: a Gaussian dot per labelled keypoint, in channel k (k < 3)."""
  ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
  image = np.zeros((size, size, 3), np.float64)
  for k, ((x, y), v) in enumerate(zip(keypoints, visibility)):
    if v > 0 and k < 3:
      image[..., k] += 255 * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * DOT_SIGMA ** 2))
  return np.clip(np.round(image), 0, 255).astype(np.uint8)


def random_keypoints(rng):
  """Three well separated labelled keypoints near the box centre plus an unlabelled one."""
  centre = np.array([47.5, 47.5])
  base = np.array([[-12.0, -8.0], [12.0, -8.0], [0.0, 10.0], [0.0, 0.0]])
  keypoints = centre + base + rng.uniform(-2.5, 2.5, size=(4, 2))
  return keypoints.astype(np.float32), np.array([2, 2, 1, 0], np.int64)


def serialized_example(keypoints, visibility, index, image_format='png', image=None):
  image = dot_image(keypoints, visibility) if image is None else image
  ext = '.png' if image_format == 'png' else '.jpg'
  ok, encoded = cv2.imencode(ext, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
  assert ok
  # crop -> original: a pure shift by (100, 50), so original = crop + (100, 50).
  return schema.make_example(
      encoded_image=encoded.tobytes(), image_format=image_format, crop_height=CROP,
      crop_width=CROP, keypoints_xy=keypoints.tolist(), visibility=visibility.tolist(),
      box_in_crop=BOX_IN_CROP, crop_to_original=[[1, 0, 100], [0, 1, 50]], image_id=1000 + index,
      image_path=f'images/{index:04d}.png', original_height=400, original_width=400,
      object_id=index, bbox=[115.5, 65.5, 64, 64], area=64.0 * 64.0).SerializeToString()


def make_dot_records(directory, num_train=24, num_val=5, seed=0, image_format='png',
                     examples_per_shard=8):
  """Writes train/val records of dot images; returns {split: [(keypoints, visibility)]}."""
  rng = np.random.default_rng(seed)
  truth = {'train': [], 'val': []}
  serialized = {'train': [], 'val': []}
  for split, count in (('train', num_train), ('val', num_val)):
    for i in range(count):
      keypoints, visibility = random_keypoints(rng)
      truth[split].append((keypoints, visibility))
      serialized[split].append(serialized_example(keypoints, visibility, i, image_format))
  write_shards(str(directory), serialized, definition=DEFINITION, input_shape=INPUT_SHAPE,
               crop_shape=(CROP, CROP), source='test', examples_per_shard=examples_per_shard)
  return truth
