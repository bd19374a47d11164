"""Each augmentation: the same result eagerly and inside Dataset.map; reference values in numpy."""

import math

import numpy as np
import pytest
import tensorflow as tf

from hourglass.keypoints.geometry import apply_affine
from pipelines import augment
from pipelines.config import PipelineConfig

RNG = np.random.default_rng(11)
IMAGE = RNG.integers(0, 256, size=(20, 24, 3)).astype(np.uint8)
BATCH = RNG.integers(0, 256, size=(3, 20, 24, 3)).astype(np.uint8)
POINTS = RNG.uniform(0, 20, size=(5, 2)).astype(np.float32)
KEY = np.array([3, 4], np.int64)
CONFIG = PipelineConfig(grayscale_prob=0.5, blur_prob=0.5)
MATRIX = np.array([[0.9, -0.2, 3.0], [0.25, 1.1, -2.0], [0, 0, 1]], np.float32)

# name -> (function, arguments): every pure function of pipelines/augment.py, and the in-graph
# apply_affine that moves the keypoints with its matrices.
CASES = {
    'translation': (augment.translation, (2.5, -1.0)),
    'scaling': (lambda s: augment.scaling(s, (11.5, 9.5)), (1.2,)),
    'rotation': (lambda a: augment.rotation(a, (11.5, 9.5)), (0.4,)),
    'hflip': (lambda f: augment.hflip(24, f), (True,)),
    'vflip': (lambda f: augment.vflip(20, f), (True,)),
    'crop_to_input': (lambda b: augment.crop_to_input(b, (64, 48)),
                      (np.float32([3, 4, 30, 40]),)),
    'apply_affine': (apply_affine, (MATRIX, POINTS)),
    'warp': (lambda im, m: augment.warp(im, m, (16, 16)), (IMAGE, MATRIX)),
    'warp_batch': (lambda im, m: augment.warp(im, m, (16, 16)), (BATCH, np.stack([MATRIX] * 3))),
    'swap_channels': (lambda p, f: augment.swap_channels(p, [1, 0, 2, 4, 3], f), (POINTS, True)),
    'colour_matrix': (augment.colour_matrix, (1.1, 0.7, 0.05, False)),
    'apply_colour': (augment.apply_colour, (IMAGE, np.eye(3, dtype=np.float32) * 1.1, 0.8)),
    'gaussian_blur': (lambda im, s: augment.gaussian_blur(im, s, 1.5),
                      (BATCH, np.float32([0.0, 0.8, 1.5]))),
    'random_geometry': (lambda k: augment.random_geometry(k, [5], CONFIG, (64, 64), True),
                        (KEY,)),
    'random_colour': (lambda k: augment.random_colour(k, [5], CONFIG), (KEY,)),
    'batch_key': (lambda i: augment.batch_key(7, 2, i), (np.int64(13),)),
    'projective_transform': (augment.projective_transform, (np.stack([MATRIX] * 2),)),
    'colour_matrix_batch': (augment.colour_matrix, (np.float32([1.1, 0.9]), np.float32([0.7, 1.2]),
                                                    np.float32([0.05, -0.02]), [False, True])),
    'rotation_batch': (lambda a: augment.rotation(a, (11.5, 9.5)), (np.float32([0.4, -1.0]),)),
    'swap_batch': (lambda p, f: augment.swap_channels(p, [1, 0, 2, 4, 3], f),
                   (np.stack([POINTS] * 2), [True, False])),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_eager_equals_dataset_map(name):
  fn, args = CASES[name]
  eager = tf.nest.map_structure(lambda t: t.numpy(), fn(*args))
  ds = tf.data.Dataset.from_tensors(tuple(tf.convert_to_tensor(a) for a in args)).map(fn)
  mapped = tf.nest.map_structure(lambda t: t.numpy(), next(iter(ds)))
  tf.nest.assert_same_structure(eager, mapped)
  for e, m in zip(tf.nest.flatten(eager), tf.nest.flatten(mapped)):
    np.testing.assert_allclose(m, e, rtol=1e-6, atol=1e-6)


def test_matrices_against_hand_values():
  p = np.array([[5.0, 2.0]], np.float32)
  np.testing.assert_allclose(apply_affine(augment.hflip(24), p).numpy(), [[18, 2]])
  np.testing.assert_allclose(apply_affine(augment.hflip(24, False), p).numpy(), p)
  np.testing.assert_allclose(apply_affine(augment.vflip(20), p).numpy(), [[5, 17]])
  # A quarter turn about (10, 10): (5, 2) -> (18, 5) with y pointing down.
  rotated = apply_affine(augment.rotation(math.pi / 2, (10.0, 10.0)), p).numpy()
  np.testing.assert_allclose(rotated, [[18, 5]], atol=1e-5)
  np.testing.assert_allclose(
      apply_affine(augment.scaling(2.0, (1.0, 1.0)), p).numpy(), [[9, 3]])
  # records/schema.py: crop_x = x0 + (u + 0.5) * w / W  <=>  u = (crop_x - x0) * W / w - 0.5.
  m = augment.crop_to_input(np.float32([3, 4, 30, 40]), (80, 60)).numpy()
  np.testing.assert_allclose(m @ [3 + 0.5 * 30 / 60, 4 + 0.5 * 40 / 80, 1], [0, 0, 1], atol=1e-5)
  # DCT downscaling by 2: decoded pixel 0 covers full pixels 0 and 1, centred at 0.5.
  np.testing.assert_allclose(augment.downscaled_to_full(2).numpy() @ [0, 0, 1], [0.5, 0.5, 1])


def test_warp_samples_the_inverse_map():
  """Output pixel p shows source point M^-1 p (checked on an integer shift and numpy)."""
  shift = augment.translation(3.0, 2.0)
  out = augment.warp(IMAGE, shift, (20, 24)).numpy()
  np.testing.assert_array_equal(out[2:, 3:], IMAGE[:-2, :-3])
  assert np.all(out[:2] == 0) and np.all(out[:, :3] == 0)


def test_warp_matches_tensorflows_projective_transform_op():
  """The XLA kernel against tf.raw_ops.ImageProjectiveTransformV3 (bilinear, fill 0): rotations,
  zooms, flips and maps that land partly or wholly outside the source. The op truncates where
  the kernel rounds, so they differ by at most one level (and by 0.5 on average)."""
  rng = np.random.default_rng(5)
  matrices = [MATRIX, augment.hflip(24).numpy(), augment.translation(-30.0, 5.0).numpy()]
  for _ in range(5):
    angle, scale = rng.uniform(-1, 1), rng.uniform(0.5, 2)
    matrices.append((augment.translation(*rng.uniform(-8, 8, 2)) @ augment.rotation(
        angle, (11.5, 9.5)) @ augment.scaling(scale, (11.5, 9.5))).numpy())
  matrices = np.stack(matrices).astype(np.float32)
  images = np.stack([IMAGE] * len(matrices))
  ours = augment.warp(images, matrices, (18, 26)).numpy().astype(int)
  op = tf.raw_ops.ImageProjectiveTransformV3(
      images=images, transforms=augment.projective_transform(matrices),
      output_shape=[18, 26], fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
  exact = tf.raw_ops.ImageProjectiveTransformV3(
      images=images.astype(np.float32), transforms=augment.projective_transform(matrices),
      output_shape=[18, 26], fill_value=0.0, interpolation='BILINEAR', fill_mode='CONSTANT')
  assert np.abs(ours - op.numpy().astype(int)).max() <= 1
  assert np.abs(ours - exact.numpy()).max() <= 0.5 + 1e-3  # rounded to nearest
  floats = augment.warp(images.astype(np.float32), matrices, (18, 26)).numpy()
  np.testing.assert_allclose(floats, exact.numpy(), atol=1e-3)


def test_colour_against_numpy():
  x = IMAGE.astype(np.float64)
  gray = x @ np.array(augment.LUMA)
  # saturation 0 = gray in all three channels; contrast 0.5 blends with the mean gray.
  out = augment.apply_colour(IMAGE, augment.colour_matrix(1.0, 0.0, 0.0), 0.5).numpy()
  want = 0.5 * gray + 0.5 * gray[::4, ::4].mean()  # the blend target: a 1/16 subsample's mean
  np.testing.assert_allclose(out, np.repeat(np.round(want)[..., None], 3, -1), atol=1)
  # brightness 1.2, clipped.
  out = augment.apply_colour(IMAGE, augment.colour_matrix(1.2), 1.0).numpy()
  np.testing.assert_allclose(out, np.clip(np.round(x * 1.2), 0, 255), atol=1)
  # A full hue turn is the identity; a hue shift keeps the luma.
  ident = augment.colour_matrix(1.0, 1.0, 1.0).numpy()
  np.testing.assert_allclose(ident, np.eye(3), atol=1e-5)
  hue = augment.colour_matrix(1.0, 1.0, 0.3).numpy()
  np.testing.assert_allclose(np.array(augment.LUMA) @ hue, augment.LUMA, atol=1e-3)
  grayscale = augment.colour_matrix(1.0, 1.0, 0.0, True).numpy()
  np.testing.assert_allclose(grayscale, np.tile(augment.LUMA, (3, 1)), atol=1e-6)


def test_blur_zero_sigma_is_identity_and_blur_smooths():
  out = augment.gaussian_blur(BATCH, np.float32([0.0, 1.5, 0.0]), 1.5).numpy()
  np.testing.assert_array_equal(out[0], BATCH[0])
  np.testing.assert_array_equal(out[2], BATCH[2])
  assert np.abs(np.diff(out[1].astype(float), axis=1)).mean() < \
      0.5 * np.abs(np.diff(BATCH[1].astype(float), axis=1)).mean()


def test_random_draws_respect_ranges_and_probabilities():
  config = PipelineConfig(scale_min=0.9, scale_max=1.1, rotation=10, translate=0.0,
                          flip_prob=0.0, vflip_prob=1.0)
  matrices, h, v = augment.random_geometry(augment.batch_key(0, 0, 0), [64], config, (64, 64),
                                           False)
  assert not h.numpy().any() and not v.numpy().any()  # no 'v' pairs: never a vertical flip
  scales, angles = [], []
  for matrix in matrices.numpy():
    linear = matrix[:2, :2]
    scales.append(math.sqrt(abs(np.linalg.det(linear))))
    angles.append(math.degrees(math.atan2(linear[1, 0], linear[0, 0])))
    # The centre moves only by the (zero) translation: scale and rotation are about it.
    np.testing.assert_allclose(matrix @ [31.5, 31.5, 1], [31.5, 31.5, 1], atol=1e-4)
  assert 0.9 - 1e-5 <= min(scales) and max(scales) <= 1.1 + 1e-5 and np.std(scales) > 0.03
  assert max(np.abs(angles)) <= 10 + 1e-3 and np.std(angles) > 3
  keys = [augment.batch_key(0, 0, i).numpy() for i in range(3)]
  assert len({tuple(k) for k in keys}) == 3
  np.testing.assert_array_equal(augment.batch_key(0, 0, 1), keys[1])
  # Probabilities: about half of 400 draws flip at flip_prob 0.5.
  _, h, _ = augment.random_geometry(augment.batch_key(1, 0, 0), [400], PipelineConfig(),
                                    (64, 64), False)
  assert 150 < int(h.numpy().sum()) < 250


def test_batched_builders_equal_per_example():
  angles, scales = np.float32([0.3, -0.7, 1.1]), np.float32([0.8, 1.0, 1.2])
  flips = np.array([True, False, True])
  boxes = np.float32([[3, 4, 30, 40], [0, 0, 64, 64], [-5, 2.5, 100, 80]])
  batched = (augment.rotation(angles, (5.0, 7.0)) @ augment.scaling(scales, (5.0, 7.0)) @
             augment.hflip(24, flips) @ augment.crop_to_input(boxes, (64, 48))).numpy()
  for i in range(3):
    single = (augment.rotation(angles[i], (5.0, 7.0)) @ augment.scaling(scales[i], (5.0, 7.0)) @
              augment.hflip(24, flips[i]) @ augment.crop_to_input(boxes[i], (64, 48))).numpy()
    np.testing.assert_allclose(batched[i], single, rtol=1e-6, atol=1e-5)
