"""Frames for prediction: images, folders, video files and webcams as RGB frames, boxes files,
and the drawing and JSON of the predicted objects.

The object box is the whole frame letterboxed to the model's aspect ratio (no distortion), or
boxes from a detections file. Frames are read by OpenCV as BGR and converted to RGB once: the
model and the drawing functions see RGB, and only the writers convert back to BGR.
Coordinates: integer = pixel centre (records/schema.py), the convention of cv2.warpAffine.
"""

import dataclasses
import math
import os
from typing import Optional, Sequence

import cv2
import numpy as np

from core import files
from core.errors import UserInputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg', '.wmv', '.webm')


@dataclasses.dataclass
class Frame:
  """One image or video frame: RGB pixels, its index and a name for outputs."""
  index: int
  name: str
  rgb: np.ndarray


def _read_image(path):
  data = np.fromfile(path, np.uint8) if os.path.isfile(path) else None
  image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
  if image is None:
    raise UserInputError(f'{path}: cannot read the image (missing, corrupt or not an image)')
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def list_images(folder):
  names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
  if not names:
    raise UserInputError(f'{folder}: no images ({", ".join(IMAGE_EXTENSIONS)}) in the folder')
  return [os.path.join(folder, n) for n in names]


class Source:
  """Frames of an image, a folder of images, a video file or a webcam index.

  Attributes:
    kind: 'image', 'folder', 'video' or 'webcam'.
    fps: frames per second for videos (30 when the container does not say), else None.
    size: (width, height) of video frames, else None.
    total: number of frames when known, else None.
  """

  @staticmethod
  def is_webcam(spec):
    """A webcam index (0, 1, ...) that is not also a file's name."""
    return str(spec).isdigit() and not os.path.exists(str(spec))

  @staticmethod
  def is_video_file(spec):
    return os.path.isfile(str(spec)) and str(spec).lower().endswith(VIDEO_EXTENSIONS)

  def __init__(self, spec: str, max_frames: Optional[int] = None):
    self.spec, self.max_frames = str(spec), max_frames
    self.fps = self.size = self.total = None
    self._capture = None
    if self.is_webcam(self.spec):
      self.kind = 'webcam'
      self._open_capture(int(self.spec))
    elif os.path.isdir(self.spec):
      self.kind, self._paths = 'folder', list_images(self.spec)
      self.total = len(self._paths)
    elif not os.path.isfile(self.spec):
      raise UserInputError(f'--input {self.spec}: no such file, folder or webcam index')
    elif self.spec.lower().endswith(IMAGE_EXTENSIONS):
      self.kind, self._paths, self.total = 'image', [self.spec], 1
    else:
      self.kind = 'video'
      self._open_capture(self.spec)
    if self.total is not None and max_frames:
      self.total = min(self.total, max_frames)

  def _open_capture(self, what):
    capture = cv2.VideoCapture(what)
    if not capture.isOpened():
      raise UserInputError(f'--input {self.spec}: cannot open it as a video or webcam')
    ok, first = capture.read()
    if not ok or first is None:
      capture.release()
      raise UserInputError(f'--input {self.spec}: opened, but no frame could be read from it')
    self._capture, self._first = capture, first
    fps = capture.get(cv2.CAP_PROP_FPS)
    self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 30.0
    self.size = (first.shape[1], first.shape[0])
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    self.total = count if count > 0 else None

  def __iter__(self):
    if self._capture is None:
      for index, path in enumerate(self._paths[:self.max_frames]):
        yield Frame(index, os.path.basename(path), _read_image(path))
      return
    index, frame = 0, self._first
    try:
      while frame is not None and (self.max_frames is None or index < self.max_frames):
        yield Frame(index, f'frame_{index:06d}', cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        index += 1
        ok, frame = self._capture.read()
        frame = frame if ok else None
    finally:
      self._capture.release()


def video_inputs(spec):
  """The videos of a predict --input when it names videos: a webcam index, a video file, a
  comma-separated list of video files, or a folder holding videos and no images; else [] (an
  image or a folder of images).

  Raises:
    UserInputError: a listed file that does not exist or is not a video.
  """
  spec = str(spec)
  if Source.is_webcam(spec) or Source.is_video_file(spec):
    return [spec]
  if ',' in spec and not os.path.exists(spec):
    videos = [p.strip() for p in spec.split(',') if p.strip()]
    for path in videos:
      if not Source.is_video_file(path):
        raise UserInputError(f'--input: {path} is not a video file ({", ".join(VIDEO_EXTENSIONS)})')
    return videos
  if os.path.isdir(spec):
    names = sorted(os.listdir(spec))
    if not any(n.lower().endswith(IMAGE_EXTENSIONS) for n in names):
      return [os.path.join(spec, n) for n in names if n.lower().endswith(VIDEO_EXTENSIONS)]
  return []


def coco_results(raw, path, category_id=None):
  """Checks COCO detection results: a list of {image_id, category_id, bbox, score}.

  Args:
    raw: the parsed JSON.
    path: the file it came from (for messages).
    category_id: keep only detections of this category (None: every category).
  Returns:
    list of (image_id int, bbox [x, y, w, h] floats, score float); score 1 when absent.
  Raises:
    UserInputError: naming the file, the record and the field.
  """
  if not isinstance(raw, list):
    raise UserInputError(f'{path}: expected a COCO detection results list '
                         f'[{{"image_id", "category_id", "bbox", "score"}}, ...]')
  out = []
  for n, det in enumerate(raw):
    try:
      image_id, score = int(det['image_id']), float(det.get('score', 1.0))
      bbox = [float(v) for v in det['bbox']]
      category = det.get('category_id')
    except (KeyError, TypeError, ValueError, AttributeError) as e:
      raise UserInputError(f'{path}, record {n}: malformed detection ({e!r})') from None
    if len(bbox) != 4:
      raise UserInputError(f'{path}, record {n}, field \'bbox\': expected [x, y, w, h]')
    if category_id is None or category is None or int(category) == category_id:
      out.append((image_id, bbox, score))
  return out


def _coco_file_names(annotation_path):
  """image id -> file base name, from a COCO annotation file's `images`."""
  raw = files.read_json(annotation_path, 'the COCO annotation JSON')
  try:
    return {int(im['id']): os.path.basename(str(im['file_name'])) for im in raw['images']}
  except (KeyError, TypeError, ValueError) as e:
    raise UserInputError(f'{annotation_path}, field \'images\': expected a COCO annotation '
                         f'file with id and file_name per image ({e!r})') from None


class Boxes:
  """Detection boxes per image or frame, read from a boxes file.

  Two layouts: {"name.jpg" or "frame index": [[x, y, w, h(, score)], ...]}, or COCO detection
  results (a list of {image_id, bbox, score}), matched to files by the image id <-> file name
  of a COCO annotation file when one is given, else by the integer file stem
  (000000000785.jpg is image 785).

  Attributes:
    path: the boxes file.
    by_key: name, frame index (str) or image id (int) -> float array [M, 5] (x, y, w, h, score).
  """

  def __init__(self, path, by_key):
    self.path, self.by_key = path, by_key

  def __len__(self):
    return len(self.by_key)

  def lookup(self, frame):
    """The [M, 5] boxes of a Frame, or None when the file has no entry for it."""
    for key in (frame.name, str(frame.index)):
      if key in self.by_key:
        return self.by_key[key]
    stem = os.path.splitext(frame.name)[0]
    return self.by_key.get(int(stem)) if stem.isdigit() else None


def load_boxes(path: Optional[str], annotation_path: Optional[str] = None) -> Optional[Boxes]:
  """Reads a boxes file for predict (see Boxes); None when path is None.

  Raises:
    UserInputError: naming the file and record of a malformed entry.
  """
  if not path:
    return None
  raw = files.read_json(path, 'the detections JSON')
  if isinstance(raw, list):
    names = _coco_file_names(annotation_path) if annotation_path else {}
    by_key = {}
    for image_id, bbox, score in coco_results(raw, path):
      key = names.get(image_id, image_id)
      by_key.setdefault(key, []).append(bbox + [score])
    return Boxes(path, {k: np.array(v, np.float64).reshape(-1, 5) for k, v in by_key.items()})
  if not isinstance(raw, dict):
    raise UserInputError(f'{path}: predict expects {{"image name": [[x, y, w, h, score], ...]}} '
                         f'or a COCO detection results list')
  out = {}
  for name, boxes in raw.items():
    try:
      array = np.array([list(b) + [1.0] * (5 - len(b)) for b in boxes], np.float64).reshape(-1, 5)
    except (TypeError, ValueError):
      raise UserInputError(f'{path}, record {name!r}: boxes must be [x, y, w, h(, score)]'
                           ) from None
    out[str(name)] = array
  return Boxes(path, out)


def draw_objects(frame_rgb, objects, definition, conf_threshold):
  """Draws every object's skeleton on a copy of the frame (RGB)."""
  from hourglass.keypoints import drawing  # pylint: disable=g-import-not-at-top
  canvas = frame_rgb
  for obj in objects:
    canvas = drawing.draw_keypoints(canvas, obj['keypoints'], obj['scores'], definition,
                                    conf_threshold)
  return canvas if objects else frame_rgb.copy()


def objects_json(objects, conf_threshold, names: Sequence[str]):
  """JSON-ready objects: keypoints [x, y, score] (null under the threshold) by name."""
  out = []
  for obj in objects:
    keypoints = {}
    for n, (xy, s) in zip(names, zip(obj['keypoints'], obj['scores'])):
      keypoints[n] = ([round(float(xy[0]), 2), round(float(xy[1]), 2), round(float(s), 4)]
                      if s >= conf_threshold else None)
    out.append({'box': [round(float(v), 2) for v in obj['box']],
                'box_score': float(obj['box_score']), 'keypoints': keypoints})
  return out
