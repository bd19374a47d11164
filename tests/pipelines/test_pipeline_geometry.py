"""Geometry of the training and eval pipelines, checked on painted dots (not on our matrices)."""

import dataclasses

import numpy as np
import pytest

from hourglass.keypoints.codec import HeatmapCodec
from pipelines.config import PipelineConfig
from pipelines.dataset import build_eval_dataset, build_train_dataset
from tests.support.dot_records import INPUT_SHAPE, make_dot_records

# Strong geometric augmentation, no colour change (the dots' colours identify them).
MARKER_CONFIG = PipelineConfig(
    batch_size=8, deterministic=True, seed=5, scale_min=0.8, scale_max=1.2, rotation=30.0,
    translate=0.05, flip_prob=0.5, color_prob=0.0, grayscale_prob=0.0, blur_prob=0.0)


@pytest.fixture(scope='module')
def dot_records(tmp_path_factory):
  directory = tmp_path_factory.mktemp('dots')
  truth = make_dot_records(directory, num_train=32, num_val=5)
  return str(directory), truth


def centroid(channel):
  """Intensity-weighted centroid (x, y) of a channel, integer = pixel centre."""
  weights = channel.astype(np.float64)
  weights[weights < 8] = 0  # ignore interpolation dust far from the dot
  ys, xs = np.mgrid[0:channel.shape[0], 0:channel.shape[1]]
  total = weights.sum()
  return np.array([(weights * xs).sum() / total, (weights * ys).sum() / total])


@pytest.mark.parametrize('input_shape', [(64, 64), (64, 48)])
def test_marker_dots_land_where_the_pipeline_says(dot_records, input_shape):
  """Dots painted at the keypoints end up (after warp) at the keypoints the pipeline reports.

  The red dot is the physical left eye: without a flip it is channel 0 ('left_eye'); after a
  horizontal flip it is on the right of the object and must be reported as channel 1.
  """
  records_dir, _ = dot_records
  config = dataclasses.replace(MARKER_CONFIG, input_shape=input_shape)
  ds = build_train_dataset(records_dir, config)
  flipped_seen = unflipped_seen = 0
  errors = []
  for images, targets in ds:
    assert images.shape[1:3] == input_shape
    # Non-square inputs: the targets stay aligned with the image (decoded peak = keypoint).
    decoded, _ = HeatmapCodec(input_shape, 4, 2.0).decode(targets['heatmaps'][..., :3], 'dark')
    np.testing.assert_allclose(decoded, targets['keypoints'][:, :3], atol=0.01)
    images, keypoints = images.numpy(), targets['keypoints'].numpy()
    weights = targets['weights'].numpy()
    for b in range(images.shape[0]):
      red, green, blue = (centroid(images[b, :, :, c]) for c in range(3))
      # Which reported channel sits on the red dot tells whether this example was flipped.
      flipped = np.linalg.norm(red - keypoints[b, 1]) < np.linalg.norm(red - keypoints[b, 0])
      left, right = (keypoints[b, 1], keypoints[b, 0]) if flipped else (keypoints[b, 0],
                                                                        keypoints[b, 1])
      errors += [np.linalg.norm(red - left), np.linalg.norm(green - right),
                 np.linalg.norm(blue - keypoints[b, 2])]
      flipped_seen += flipped
      unflipped_seen += not flipped
      assert weights[b, 3] == 0 and np.all(weights[b, :3] == 1)
  errors = np.array(errors)
  print(f'\nmarker {input_shape}: {errors.size} dots, mean {errors.mean():.3f} px, max {errors.max():.3f} px; '
        f'{flipped_seen} flipped, {unflipped_seen} not')
  assert errors.max() < 0.5
  assert flipped_seen >= 3 and unflipped_seen >= 3


def test_flip_puts_the_left_dot_in_the_right_channel(dot_records):
  """Flip always, nothing else: the red (left) dot is reported as 'right_eye' on the right."""
  records_dir, truth = dot_records
  config = dataclasses.replace(MARKER_CONFIG, flip_prob=1.0, scale_prob=0.0, rotation_prob=0.0,
                               translate=0.0, shuffle_buffer=1)
  images, targets = next(iter(build_train_dataset(records_dir, config)))
  keypoints = targets['keypoints'].numpy()
  for b in range(images.shape[0]):
    red = centroid(images.numpy()[b, :, :, 0])
    assert np.linalg.norm(red - keypoints[b, 1]) < 0.5
    # Mirrored: the left eye (smaller x in the crop) is now on the right (larger x).
    assert keypoints[b, 1, 0] > keypoints[b, 0, 0]


def test_eval_pipeline_geometry(dot_records):
  records_dir, truth = dot_records
  config = PipelineConfig(batch_size=2)
  batches = list(build_eval_dataset(records_dir, config))
  assert [int(b['image'].shape[0]) for b in batches] == [2, 2, 1]  # no drop remainder
  batch = {k: np.concatenate([b[k].numpy() for b in batches]) for k in batches[0]}
  for i, (crop_keypoints, visibility) in enumerate(truth['val']):
    # box [15.5, 15.5, 64, 64] onto 64 x 64: input = crop - 16; original = crop + (100, 50).
    np.testing.assert_allclose(batch['keypoints'][i], crop_keypoints - 16, atol=1e-4)
    np.testing.assert_allclose(batch['original_keypoints'][i], crop_keypoints + [100, 50],
                               atol=1e-4)
    mapped = batch['keypoints'][i] @ batch['input_to_original'][i][:, :2].T + \
        batch['input_to_original'][i][:, 2]
    np.testing.assert_allclose(mapped, crop_keypoints + [100, 50], atol=1e-3)
    np.testing.assert_array_equal(batch['visibility'][i], visibility)
    red = centroid(batch['image'][i, :, :, 0])
    assert np.linalg.norm(red - batch['keypoints'][i, 0]) < 0.3
  assert batch['image'].shape[1:] == INPUT_SHAPE + (3,)
  np.testing.assert_array_equal(batch['image_id'], 1000 + np.arange(5))
  assert not batch['has_headbox'].any()
  assert batch['path'][0] == b'images/0000.png'
