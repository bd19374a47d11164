"""One geometry: the numpy box <-> input maps (core/geometry.py) against their in-graph twins
(hourglass/keypoints/geometry.py, pipelines/augment.py) and against the crops they cut; one verb,
`apply_affine`, applies a map in numpy and in the graph."""

import numpy as np
import pytest
import tensorflow as tf

from core import geometry
from hourglass.keypoints import geometry as graph_geometry
from pipelines import augment


def test_in_graph_affine_matches_numpy():
  rng = np.random.RandomState(0)
  matrices = rng.uniform(-3, 3, (5, 2, 3))
  points = rng.uniform(-100, 300, (5, 7, 2))
  expected = geometry.apply_affine(matrices, points)
  got = graph_geometry.apply_affine(tf.constant(matrices, tf.float32),
                                    tf.constant(points, tf.float32))
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-3)
  one = geometry.apply_affine(matrices[0], points[0])  # one matrix: any point shape
  np.testing.assert_allclose(one, expected[0], atol=1e-9)


def test_apply_affine_takes_3x3_matrices_in_numpy_and_in_the_graph():
  """The pipeline's [3, 3] matrices (bottom row 0 0 1) map like their top two rows."""
  rng = np.random.RandomState(1)
  matrices = np.concatenate([rng.uniform(-3, 3, (4, 2, 3)), np.tile([[[0, 0, 1]]], (4, 1, 1))], 1)
  points = rng.uniform(-100, 300, (4, 6, 2))
  expected = geometry.apply_affine(matrices[:, :2], points)
  np.testing.assert_allclose(geometry.apply_affine(matrices, points), expected, atol=1e-9)
  got = graph_geometry.apply_affine(tf.constant(matrices, tf.float32), points)
  np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-3)
  one = graph_geometry.apply_affine(tf.constant(matrices[0], tf.float32), points[0])
  np.testing.assert_allclose(one.numpy(), expected[0], rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize('input_shape', [(64, 64), (256, 192)])
def test_crop_to_input_inverts_input_to_image(input_shape):
  """pipelines' crop px -> input px and core's input px -> image px are inverse maps for a box
  of the model aspect (the records store box_in_crop at that aspect)."""
  h_in, w_in = input_shape
  box = np.array([13.5, -4.25, 3.0 * w_in, 3.0 * h_in])
  to_box = np.vstack([geometry.input_to_image(box, input_shape), [0, 0, 1]])
  to_input = augment.crop_to_input(tf.constant(box, tf.float32), input_shape).numpy()
  np.testing.assert_allclose(to_input @ to_box, np.eye(3), atol=1e-4)


def test_input_to_image_centres_and_grows_to_the_aspect():
  m = geometry.input_to_image([10, 20, 40, 80], (64, 32), 1.25)
  centre = geometry.apply_affine(m, [(32 - 1) / 2, (64 - 1) / 2])
  np.testing.assert_allclose(centre, [30, 60])          # the box centre
  assert m[0, 0] == pytest.approx(100 / 64)             # 80 * 1.25 px over 64 input rows
  with pytest.raises(ValueError, match='degenerate'):
    geometry.input_to_image([0, 0, 0, 5], (64, 64))


def test_warp_samples_where_the_affine_says_also_when_shrinking():
  """A bright pixel lands where the inverse map puts it, at 1x and through the area reduction."""
  image = np.zeros((400, 600, 3), np.uint8)
  image[200:204, 300:304] = 255                           # a 4x4 spot centred at (301.5, 201.5)
  for box in ([280, 180, 48, 48], [100, 50, 400, 300]):  # 0.75 and ~6 original px per input px
    m = geometry.input_to_image(box, (64, 64))
    crop = geometry.warp(image, m, (64, 64)).astype(np.float64)[..., 0]
    ys, xs = np.nonzero(crop)
    weights = crop[ys, xs]
    found = [np.sum(xs * weights) / weights.sum(), np.sum(ys * weights) / weights.sum()]
    # Area averaging sees the spot through blocks of `factor` pixels: within half a block.
    factor = max(1, int(m[0, 0]))
    np.testing.assert_allclose(geometry.apply_affine(m, found), [301.5, 201.5],
                               atol=0.6 * factor)
