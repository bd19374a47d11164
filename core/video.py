"""The project's one video output: OpenCV's writer behind an atomic, checked file.

    with VideoWriter('walk.mp4', fps=30.0) as writer:
      for rgb in frames:                 # uint8 [H, W, 3]
        writer.write_rgb(rgb)

Frames go to a temporary name beside the final path (core.files.temporary_path: same folder,
same extension, so OpenCV picks the same container); the file is renamed onto the path only on
a clean close, and removed on any failure, so a killed or failing run never leaves a truncated
video that looks complete. OpenCV reports a writer it cannot open only through `isOpened()`
(no exception), so that is checked at the first frame, before any frame is lost.

The codec follows the extension (`fourcc_for`): MPEG-4 Part 2 ('mp4v') in MPEG-4 containers,
Motion JPEG ('MJPG') in every other (AVI and others), the two codecs every OpenCV build writes.
"""

import contextlib
import os

import cv2

from core import files
from core.errors import StorageError

MPEG4_EXTENSIONS = ('.mp4', '.m4v', '.mov')


def fourcc_for(path):
  """The fourcc code of the codec a video at `path` is written with (see the module doc)."""
  codec = 'mp4v' if os.fspath(path).lower().endswith(MPEG4_EXTENSIONS) else 'MJPG'
  return cv2.VideoWriter_fourcc(*codec)


def _remove(path):
  with contextlib.suppress(FileNotFoundError):
    os.remove(path)


class VideoWriter:
  """Writes BGR or RGB frames to a video file atomically; also a context manager.

  The writer opens at the first frame (its width and height are the video's); `close()` renames
  the finished video onto `path`, `abort()` (and any exception leaving a `with` block, Ctrl-C
  included) removes the temporary file and leaves `path` as it was. Closing a writer that got no
  frame writes nothing.

  Attributes:
    path: the final path.
    fps: frames per second written in the container.
    frames: frames written so far.
    size: (width, height) of the frames, None before the first.
  """

  def __init__(self, path, fps):
    self.path = os.path.normpath(os.fspath(path))
    self.fps = float(fps)
    self.frames = 0
    self.size = None
    self._tmp = files.temporary_path(self.path)
    self._writer = None
    self._done = False

  def _open(self, width, height):
    _remove(self._tmp)  # a leftover of a killed earlier process with the same id
    writer = cv2.VideoWriter(self._tmp, fourcc_for(self.path), self.fps, (width, height))
    if not writer.isOpened():
      writer.release()
      _remove(self._tmp)
      folder = os.path.dirname(os.path.abspath(self.path))
      why = ('its folder does not exist' if not os.path.isdir(folder) else
             'no codec for this extension, or no permission to write there')
      raise StorageError(f'{self.path}: OpenCV cannot write this video ({why}); nothing was '
                         f'written')
    self._writer, self.size = writer, (width, height)

  def write(self, bgr):
    """Appends one frame: uint8 [H, W, 3] BGR (OpenCV's order)."""
    if self._done:
      raise ValueError(f'{self.path}: the video writer is closed')
    if self._writer is None:
      self._open(bgr.shape[1], bgr.shape[0])
    self._writer.write(bgr)
    self.frames += 1

  def write_rgb(self, rgb):
    """Appends one frame: uint8 [H, W, 3] RGB (the project's order everywhere but OpenCV)."""
    self.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))

  def close(self):
    """Finishes the video and renames it onto `path` (nothing when no frame was written).

    Raises:
      StorageError: the finished file cannot be found or renamed (the temporary is removed).
    """
    if self._done:
      return
    self._done = True
    if self._writer is None:
      return
    self._writer.release()
    try:
      os.replace(self._tmp, self.path)
    except OSError as e:
      _remove(self._tmp)
      raise StorageError(f'{self.path}: cannot write the video ({e.strerror or e}); nothing '
                         f'was written') from None

  def abort(self):
    """Drops the video: releases OpenCV's writer and removes the temporary file."""
    self._done = True
    if self._writer is not None:
      self._writer.release()
    _remove(self._tmp)

  def __enter__(self):
    return self

  def __exit__(self, kind, value, traceback):
    if kind is None:
      self.close()
    else:
      self.abort()
    return False
