"""hourglass/keypoints/drawing.py: RGB in, RGB out, colours from the definition, files written as BGR."""

import cv2
import numpy as np
import pytest

from hourglass.keypoints import drawing
from records.keypoint_definition import KeypointDefinition

DEFINITION = KeypointDefinition(names=('a', 'b', 'c'),
                                skeleton=((0, 1, (255, 0, 0)), (1, 2, (0, 0, 255))))


def test_draw_keypoints_copies_and_uses_definition_colours():
  image = np.zeros((60, 80, 3), np.uint8)
  points = np.array([[10.0, 30.0], [40.0, 30.0], [70.0, 30.0]])
  drawn = drawing.draw_keypoints(image, points, [1, 1, 1], DEFINITION, thickness=3)
  assert not image.any()  # the input is untouched
  assert tuple(drawn[30, 25]) == (255, 0, 0)   # middle of the red edge a-b
  assert tuple(drawn[30, 55]) == (0, 0, 255)   # middle of the blue edge b-c
  # Visibility 0 hides a point and its edges even with the default threshold.
  hidden = drawing.draw_keypoints(image, points, [1, 1, 0], DEFINITION, thickness=3)
  assert not hidden[30, 55].any() and not hidden[30, 70].any()
  # Sub-pixel positions are kept (not rounded): the drawn disc is centred where the point is.
  one = KeypointDefinition(names=('p',))
  for x in (40.0, 40.25, 40.5):
    dot = drawing.draw_keypoints(np.zeros((20, 81, 3), np.uint8), [[x, 10.0]], [1], one,
                                 radius=3)[10, :, 0].astype(float)
    assert (dot * np.arange(81)).sum() / dot.sum() == pytest.approx(x, abs=0.05)
  with pytest.raises(ValueError):
    drawing.draw_keypoints(image, points[:2], [1, 1], DEFINITION)


def test_heatmap_overlay_and_grid(tmp_path):
  image = np.full((64, 48, 3), 100, np.uint8)
  heatmaps = np.zeros((16, 12, 2), np.float32)
  heatmaps[8, 6, 1] = 1.0
  blended = drawing.heatmap_overlay(image, heatmaps)
  assert blended.shape == image.shape and blended.dtype == np.uint8
  # Hot where the peak is (resized to the image), unchanged colour balance far from it.
  assert blended[33, 25, 0] > blended[33, 25, 2]
  assert blended[2, 2, 2] > blended[2, 2, 0]  # jet's cold end is blue
  red = np.zeros((10, 10, 3), np.uint8)
  red[..., 0] = 255
  path = str(tmp_path / 'grid.png')
  drawing.save_grid([red, image[:10, :10], red], path, columns=2)
  grid = cv2.imread(path)  # BGR on disk
  assert grid.shape == (20, 20, 3)
  assert tuple(grid[0, 0]) == (0, 0, 255) and tuple(grid[15, 5]) == (0, 0, 255)
  assert not grid[15, 15].any()  # the empty fourth cell is black
