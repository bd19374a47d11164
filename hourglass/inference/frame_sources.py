"""Frames for prediction: images, folders, video files and webcams as RGB frames.

Frames are read by OpenCV as BGR and converted to RGB once: the model and the drawing functions
see RGB, and only the writers convert back to BGR (core.video). A predict `--input` naming
videos (a file, a list, a folder of them) is told apart from images by `video_inputs`.
Coordinates: integer = pixel centre (records/schema.py), the convention of cv2.warpAffine.
"""

import dataclasses
import math
import os
from typing import Optional

import cv2
import numpy as np

from core.errors import UserInputError

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.mpg', '.mpeg', '.wmv', '.webm')


@dataclasses.dataclass
class Frame:
  """One image or video frame: RGB pixels, its index and a name for outputs."""
  index: int
  name: str
  rgb: np.ndarray


def read_image(path):
  """An image file as RGB uint8 [H, W, 3], decoded as predict decodes it (OpenCV, EXIF
  orientation applied). Raises UserInputError for a missing or undecodable file."""
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

  def size_error(self, frame):
    """The message for a video frame of another size than the first (None when it fits)."""
    if frame.rgb.shape[:2] == (self.size[1], self.size[0]):
      return None
    return (f'{self.spec}, frame {frame.index}: {frame.rgb.shape[1]}x{frame.rgb.shape[0]} '
            f'pixels, but the video started at {self.size[0]}x{self.size[1]}')

  def __iter__(self):
    if self._capture is None:
      for index, path in enumerate(self._paths[:self.max_frames]):
        yield Frame(index, os.path.basename(path), read_image(path))
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
