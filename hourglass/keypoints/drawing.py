"""Drawing keypoints, skeletons and heatmaps on RGB images (OpenCV, anti-aliased).

Every function takes and returns RGB uint8 arrays: colours in a KeypointDefinition are (r, g, b)
and are drawn as such. Convert to BGR only when handing an image to `cv2.imwrite` or a
`cv2.VideoWriter` (`save_grid` does that itself).

Coordinates follow records/schema.py: integer coordinates are pixel centres. OpenCV's drawing
functions take fixed-point coordinates (`shift` fractional bits) in that same convention, so
sub-pixel keypoints are drawn where they are instead of rounded to a pixel.
"""

import os

import cv2
import numpy as np

from core import files

_SHIFT = 4  # fractional bits for sub-pixel drawing
_SCALE = 1 << _SHIFT
_POINT_COLOUR = (255, 255, 0)  # keypoints drawn without a skeleton edge colour: yellow


def _fixed(point):
  """(x, y) float -> fixed-point int tuple for cv2 drawing with shift=_SHIFT."""
  return int(round(float(point[0]) * _SCALE)), int(round(float(point[1]) * _SCALE))


def _default_sizes(shape, radius, thickness):
  side = min(shape[0], shape[1])
  if radius is None:
    radius = max(2, int(round(side / 120)))
  if thickness is None:
    thickness = max(1, int(round(side / 200)))
  return radius, thickness


def draw_keypoints(image_rgb, keypoints, scores_or_visible, definition, conf_threshold=0.0,
                   radius=None, thickness=None, colour=None):
  """Draws the skeleton and keypoints of one object on a copy of an RGB image.

  Args:
    image_rgb: np.uint8 [H, W, 3] RGB.
    keypoints: [K, 2] x, y in the image's pixel coordinates (integer = pixel centre).
    scores_or_visible: [K] confidences or visibility flags; a keypoint is drawn when its value
      is above `conf_threshold` (a visibility flag of 0 is never drawn) and it is finite.
    definition: KeypointDefinition (skeleton edges and their colours).
    conf_threshold: keypoints whose score is not above this are not drawn, nor their edges.
    radius: keypoint circle radius in pixels; default scales with the image size.
    thickness: skeleton line thickness in pixels; default scales with the image size.
    colour: (r, g, b) for every edge and point (an identity's colour); None: the definition's.
  Returns:
    np.uint8 [H, W, 3] RGB: a new image; the input is not modified.
  """
  image = np.ascontiguousarray(np.array(image_rgb, dtype=np.uint8, copy=True))
  if image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f'draw_keypoints expects an [H, W, 3] image, got shape {image.shape}')
  keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
  scores = np.asarray(scores_or_visible, dtype=np.float64).reshape(-1)
  if len(keypoints) != definition.num_keypoints or len(scores) != definition.num_keypoints:
    raise ValueError(f'draw_keypoints: {len(keypoints)} keypoints and {len(scores)} scores for '
                     f'a definition of {definition.num_keypoints}')
  radius, thickness = _default_sizes(image.shape, radius, thickness)
  # A visibility flag of 0 must never be drawn, even with the default threshold of 0.
  shown = (scores > conf_threshold) & np.all(np.isfinite(keypoints), axis=1)
  # Keep coordinates inside the int32 range cv2 accepts; far-away points are clipped by cv2.
  limit = 1e5
  point_colour = keypoint_colours(definition)
  for i, j, edge_colour in definition.skeleton:
    if shown[i] and shown[j] and np.all(np.abs(keypoints[[i, j]]) < limit):
      cv2.line(image, _fixed(keypoints[i]), _fixed(keypoints[j]),
               tuple(int(c) for c in colour or edge_colour), thickness, cv2.LINE_AA, _SHIFT)
  for k in np.flatnonzero(shown):
    if np.all(np.abs(keypoints[k]) < limit):
      point = tuple(int(c) for c in colour) if colour else point_colour[int(k)]
      # A dark disc one pixel larger underneath: a rim that keeps points visible on
      # backgrounds of their own colour, without eating into the coloured centre.
      cv2.circle(image, _fixed(keypoints[k]), (radius + 1) * _SCALE, (0, 0, 0), -1, cv2.LINE_AA,
                 _SHIFT)
      cv2.circle(image, _fixed(keypoints[k]), radius * _SCALE, point, -1, cv2.LINE_AA, _SHIFT)
  return image


# Identity colours (r, g, b): Tableau's ten, told apart on video and by most colour-blind eyes.
_IDENTITY_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
                     (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
                     (188, 189, 34), (23, 190, 207))


def identity_colour(track_id):
  """(r, g, b) of a track id (the ten colours repeat from id 10)."""
  return _IDENTITY_COLOURS[int(track_id) % len(_IDENTITY_COLOURS)]


def draw_label(image_rgb, text, anchor, colour):
  """Writes `text` in place (white on a box of `colour`) with its lower-left corner at anchor
  (x, y) px, kept inside the image. image_rgb: uint8 [H, W, 3], modified."""
  scale = max(0.4, min(image_rgb.shape[:2]) / 800)
  (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
  x = int(np.clip(anchor[0], 0, max(0, image_rgb.shape[1] - w - 2)))
  y = int(np.clip(anchor[1], h + base + 2, image_rgb.shape[0] - 1))
  cv2.rectangle(image_rgb, (x, y - h - base - 2), (x + w + 2, y), tuple(int(c) for c in colour),
                -1)
  cv2.putText(image_rgb, text, (x + 1, y - base), cv2.FONT_HERSHEY_SIMPLEX, scale,
              (255, 255, 255), 1, cv2.LINE_AA)
  return image_rgb


def draw_objects(image_rgb, objects, definition, conf_threshold):
  """Draws every object's skeleton on a copy of the image.

  Args:
    image_rgb: uint8 [H, W, 3] RGB.
    objects: dicts with 'keypoints' [K, 2] image px and 'scores' [K].
    conf_threshold: keypoints whose score is not above it are not drawn (draw_keypoints).
  Returns:
    uint8 [H, W, 3] RGB, a new array.
  """
  canvas = image_rgb
  for obj in objects:
    canvas = draw_keypoints(canvas, obj['keypoints'], obj['scores'], definition, conf_threshold)
  return canvas if objects else image_rgb.copy()


def keypoint_colours(definition):
  """[K] (r, g, b) int tuples: each keypoint's colour, that of its first skeleton edge (yellow
  without one)."""
  colours = {}
  for i, j, colour in definition.skeleton:
    colours.setdefault(int(i), colour)
    colours.setdefault(int(j), colour)
  return [tuple(int(c) for c in colours.get(k, _POINT_COLOUR))
          for k in range(definition.num_keypoints)]


def heatmap_overlay(image_rgb, heatmaps, alpha=0.5):
  """Blends the maximum over keypoint heatmaps, colour-mapped, onto an RGB image.

  Args:
    image_rgb: np.uint8 [H, W, 3] RGB.
    heatmaps: float [h, w, K] (any stride: resized to the image).
    alpha: weight of the heatmap colours in the blend.
  Returns:
    np.uint8 [H, W, 3] RGB.
  """
  image = np.asarray(image_rgb, dtype=np.uint8)
  heat = np.asarray(heatmaps, dtype=np.float32)
  if heat.ndim == 3:
    heat = heat.max(axis=-1)
  heat = np.nan_to_num(np.clip(heat, 0.0, 1.0))
  heat = cv2.resize(heat, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
  coloured_bgr = cv2.applyColorMap(np.uint8(np.round(heat * 255)), cv2.COLORMAP_JET)
  coloured = cv2.cvtColor(coloured_bgr, cv2.COLOR_BGR2RGB)
  return cv2.addWeighted(image, 1.0 - alpha, coloured, alpha, 0.0)


def make_grid(images, columns):
  """Tiles RGB images row-major into one RGB image; smaller images are padded with black.

  Args:
    images: list of np.uint8 [H_i, W_i, 3].
    columns: images per row, >= 1.
  Returns:
    np.uint8 [rows * H_max, columns * W_max, 3].
  """
  if not images:
    raise ValueError('make_grid: no images')
  columns = max(1, min(int(columns), len(images)))
  rows = (len(images) + columns - 1) // columns
  cell_h = max(im.shape[0] for im in images)
  cell_w = max(im.shape[1] for im in images)
  grid = np.zeros((rows * cell_h, columns * cell_w, 3), np.uint8)
  for n, im in enumerate(images):
    r, c = divmod(n, columns)
    grid[r * cell_h:r * cell_h + im.shape[0], c * cell_w:c * cell_w + im.shape[1]] = im
  return grid


def save_grid(images, path, columns):
  """Writes RGB images tiled into one picture at `path` (format from the extension).

  Args:
    images: list of np.uint8 [H_i, W_i, 3] RGB.
    path: output file, e.g. 'grid.png'; written to a temporary name then renamed.
    columns: images per row.
  """
  grid = make_grid(images, columns)
  write_rgb(path, grid)


def write_rgb(path, image_rgb):
  """Writes one RGB image with OpenCV (which expects BGR), atomically; the format follows the
  extension, PNG when there is none."""
  directory = os.path.dirname(os.path.abspath(path))
  os.makedirs(directory, exist_ok=True)
  ok, data = cv2.imencode(os.path.splitext(path)[1] or '.png',
                          cv2.cvtColor(np.asarray(image_rgb, np.uint8), cv2.COLOR_RGB2BGR))
  if not ok:
    raise OSError(f'{path}: OpenCV could not encode the image (unknown extension?)')
  with files.atomic_path(path) as tmp, open(tmp, 'wb') as f:
    f.write(data.tobytes())
