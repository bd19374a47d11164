"""HeatmapCodec against an independent numpy rendering of the same Gaussians."""

import numpy as np
import pytest
import tensorflow as tf

from hourglass.keypoints.codec import HeatmapCodec

SIZE, STRIDE, SIGMA = (256, 256), 4, 2.0


def numpy_heatmaps(keypoints, input_size=SIZE, stride=STRIDE, sigma=SIGMA):
  """Reference: one unnormalised Gaussian per keypoint, evaluated pixel by pixel in float64.

  keypoints [B, K, 2] model-input px -> [B, h, w, K]. Heatmap pixel j is centred on input pixel
  stride * j + (stride - 1) / 2 (the agreed convention).
  """
  h, w = input_size[0] // stride, input_size[1] // stride
  out = np.zeros((keypoints.shape[0], h, w, keypoints.shape[1]))
  for b in range(keypoints.shape[0]):
    for k in range(keypoints.shape[1]):
      for row in range(h):
        for col in range(w):
          px = stride * col + (stride - 1) / 2
          py = stride * row + (stride - 1) / 2
          d2 = (px - keypoints[b, k, 0]) ** 2 + (py - keypoints[b, k, 1]) ** 2
          out[b, row, col, k] = np.exp(-d2 / (2 * (sigma * stride) ** 2))
  return out.astype(np.float32)


@pytest.fixture(scope='module')
def random_points():
  rng = np.random.default_rng(7)
  return rng.uniform(-0.5, 255.5, size=(16, 8, 2)).astype(np.float32)


@pytest.fixture(scope='module')
def reference(random_points):
  return numpy_heatmaps(random_points)


def test_encoder_matches_numpy(random_points, reference):
  codec = HeatmapCodec(SIZE, STRIDE, SIGMA)
  heatmaps, weights = codec.encode(random_points, np.full(random_points.shape[:2], 2))
  assert heatmaps.shape == (16, 64, 64, 8)
  np.testing.assert_allclose(heatmaps.numpy(), reference, atol=2e-6)
  np.testing.assert_array_equal(weights.numpy(), 1.0)
  # Unbatched input gives the same maps.
  single, _ = codec.encode(random_points[3], np.full([8], 1))
  np.testing.assert_allclose(single.numpy(), reference[3], atol=2e-6)


def test_weights_zero_for_unlabelled_and_outside():
  codec = HeatmapCodec((64, 64), 4, 2.0)
  keypoints = np.array([[[10.0, 10.0], [-0.6, 30.0], [30.0, 63.6], [5.0, 5.0], [63.5, -0.5]]],
                       np.float32)
  visibility = np.array([[2, 2, 2, 0, 1]])
  heatmaps, weights = codec.encode(keypoints, visibility)
  np.testing.assert_array_equal(weights.numpy(), [[1, 0, 0, 0, 1]])
  assert np.all(heatmaps.numpy()[0, :, :, 1:4] == 0)
  # The occluded-but-labelled corner keypoint (v=1) is trained, not zeroed.
  assert heatmaps.numpy()[0, 0, 15, 4] > 0.5


def test_edge_keypoint_keeps_partial_gaussian():
  codec = HeatmapCodec((64, 64), 4, 2.0)
  keypoints = np.array([[[-0.4, 31.5], [63.4, 2.0]]], np.float32)
  heatmaps, weights = codec.encode(keypoints, np.array([[2, 2]]))
  np.testing.assert_array_equal(weights.numpy(), [[1, 1]])
  want = numpy_heatmaps(keypoints, (64, 64), 4, 2.0)
  np.testing.assert_allclose(heatmaps.numpy(), want, atol=2e-6)
  # Columns of the left-edge map keep the Gaussian's tail (not dropped, not renormalised).
  column = heatmaps.numpy()[0, :, :, 0]
  assert column[7, 0] > 0.9 and column[7, 3] > 0.2 and column[7, 6] < column[7, 3]


# Bounds for 128 points uniform over the input. Argmax lands on the nearest heatmap pixel
# centre: the error is the distance from a uniform point of a 4x4 px cell to its centre, mean
# 4 * 0.3826 = 1.53 px and standard deviation 0.57 px, so the sample mean stays under
# 1.53 + 4 * 0.57 / sqrt(128) = 1.73 and no point is farther than the half diagonal 2 * sqrt(2).
# Quarter moves a quarter pixel towards the higher neighbour: the cell halves, mean about 0.77,
# bound 0.87 (4 standard errors), maximum sqrt(2) where both neighbours exist; on the map's edge
# it does not move (the argmax bound). DARK is sub-pixel exact on clean Gaussians.
DECODER_BOUNDS = {'argmax': (1.73, 2 * np.sqrt(2), 2 * np.sqrt(2)),
                  'quarter': (0.87, np.sqrt(2), 2 * np.sqrt(2)), 'dark': (0.05, 0.05, 0.05)}


@pytest.mark.parametrize('method', sorted(DECODER_BOUNDS))
def test_decoders_on_numpy_heatmaps(random_points, reference, method):
  codec = HeatmapCodec(SIZE, STRIDE, SIGMA)
  keypoints, scores = codec.decode(reference, method)
  error = np.linalg.norm(keypoints.numpy() - random_points, axis=-1)
  print(f'\n{method}: mean encode-decode error {error.mean():.4f} px, max {error.max():.4f} px '
        f'(256x256, stride 4, sigma 2, {error.size} random sub-pixel points)')
  mean_bound, inner_bound, edge_bound = DECODER_BOUNDS[method]
  # Points whose nearest heatmap pixel is on the map's edge (heatmap column or row 0 or 63).
  cell = np.clip(np.round((random_points - (STRIDE - 1) / 2) / STRIDE), 0, SIZE[0] // STRIDE - 1)
  edge = ((cell == 0) | (cell == SIZE[0] // STRIDE - 1)).any(axis=-1)
  assert error.mean() <= mean_bound
  assert error[~edge].max() <= inner_bound + 1e-4 and error.max() <= edge_bound + 1e-4
  np.testing.assert_allclose(scores.numpy(), reference.max(axis=(1, 2)), atol=1e-6)


def test_quarter_never_steps_off_the_map_edge():
  """On the first and last heatmap pixel the clamped stencil has no outer neighbour: quarter must
  not move away from the true point (it stays on the argmax)."""
  codec = HeatmapCodec((64, 64), 4, 2.0)
  points = np.array([[[3.2, 30.0], [60.3, 30.0], [30.0, 2.9], [30.0, 61.0]]], np.float32)
  maps = numpy_heatmaps(points, (64, 64), 4, 2.0)
  errors = {}
  for method in ('argmax', 'quarter'):
    keypoints, _ = codec.decode(maps, method)
    errors[method] = np.linalg.norm(keypoints.numpy() - points, axis=-1)
  np.testing.assert_array_less(errors['quarter'], errors['argmax'] + 1e-4)


def test_dark_without_modulation_and_error_ordering(random_points, reference):
  codec = HeatmapCodec(SIZE, STRIDE, SIGMA)
  errors = {}
  for method in ('argmax', 'quarter', 'dark'):
    keypoints, _ = codec.decode(reference, method)
    errors[method] = np.linalg.norm(keypoints.numpy() - random_points, axis=-1).mean()
  raw, _ = codec.decode(reference, 'dark', blur=False)
  errors['dark_no_blur'] = np.linalg.norm(raw.numpy() - random_points, axis=-1).mean()
  print('\nmean errors (px):', {k: round(float(v), 5) for k, v in errors.items()})
  assert errors['dark'] < errors['quarter'] < errors['argmax']
  assert errors['dark_no_blur'] <= 0.05


def test_decode_inside_tf_function_with_unknown_batch():
  codec = HeatmapCodec((64, 48), 4, 2.0)
  points = np.array([[[10.3, 20.7], [40.2, 5.5]]], np.float32)
  maps = numpy_heatmaps(points, (64, 48), 4, 2.0)
  fn = tf.function(lambda m: codec.decode(m, 'dark'),
                   input_signature=[tf.TensorSpec([None, None, None, 2], tf.float32)])
  keypoints, _ = fn(maps)
  np.testing.assert_allclose(keypoints.numpy(), points, atol=0.05)


def test_merge_flip_needs_no_shift():
  """Heatmaps of the mirrored keypoints, merged back, equal the originals exactly."""
  codec = HeatmapCodec((64, 64), 4, 2.0)
  rng = np.random.default_rng(3)
  points = rng.uniform(0, 63, size=(2, 3, 2)).astype(np.float32)
  permutation = [1, 0, 2]
  mirrored = points[:, permutation].copy()
  mirrored[..., 0] = 63 - mirrored[..., 0]
  vis = np.full((2, 3), 2)
  maps, _ = codec.encode(points, vis)
  flipped, _ = codec.encode(mirrored, vis)
  merged = codec.merge_flip(maps, flipped, permutation)
  np.testing.assert_allclose(merged.numpy(), maps.numpy(), atol=1e-6)
  # A wrong permutation would not match.
  wrong = codec.merge_flip(maps, flipped, [0, 1, 2])
  assert np.abs(wrong.numpy() - maps.numpy()).max() > 0.1


def test_dict_round_trip_and_validation():
  codec = HeatmapCodec((256, 192), 4, 1.5)
  assert codec.heatmap_size == (64, 48)
  assert codec.to_dict() == {'input_size': [256, 192], 'stride': 4, 'sigma': 1.5}
  assert HeatmapCodec.from_dict(codec.to_dict()).to_dict() == codec.to_dict()
  with pytest.raises(ValueError):
    HeatmapCodec((250, 256), 4)
  with pytest.raises(ValueError):
    codec.decode(np.zeros((1, 64, 48, 1), np.float32), 'soft-argmax')
