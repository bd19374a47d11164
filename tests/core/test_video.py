"""core/video.py: the atomic, checked video writer."""

import os

import cv2
import numpy as np
import pytest

from core import video
from core.errors import StorageError, UserInputError


def _frames(count, width=64, height=48):
  """uint8 [height, width, 3] frames of a moving square."""
  out = []
  for n in range(count):
    frame = np.full((height, width, 3), 40, np.uint8)
    frame[10:20, 4 + 2 * n:14 + 2 * n] = 220
    out.append(frame)
  return out


def _read_back(path):
  """(frame count, (width, height)) of a video as cv2.VideoCapture decodes it."""
  capture = cv2.VideoCapture(str(path))
  assert capture.isOpened()
  count, size = 0, None
  while True:
    ok, frame = capture.read()
    if not ok:
      break
    count, size = count + 1, (frame.shape[1], frame.shape[0])
  capture.release()
  return count, size


@pytest.mark.parametrize('name', ['clip.mp4', 'clip.avi'])
def test_written_video_reads_back_with_its_frames_and_size(tmp_path, name):
  path = tmp_path / name
  with video.VideoWriter(path, fps=25.0) as writer:
    for frame in _frames(7):
      writer.write_rgb(frame)
  assert writer.frames == 7 and writer.size == (64, 48)
  assert _read_back(path) == (7, (64, 48))
  assert os.listdir(tmp_path) == [name]  # no temporary left beside it


def test_one_codec_rule_by_extension():
  mp4v, mjpg = cv2.VideoWriter_fourcc(*'mp4v'), cv2.VideoWriter_fourcc(*'MJPG')
  assert [video.fourcc_for(p) for p in ('a.mp4', 'b.M4V', 'c.mov')] == [mp4v] * 3
  assert [video.fourcc_for(p) for p in ('a.avi', 'b.mkv')] == [mjpg] * 2


def test_a_failing_write_leaves_neither_the_video_nor_a_temporary(tmp_path):
  path = tmp_path / 'clip.mp4'
  with pytest.raises(RuntimeError, match='drawing failed'):
    with video.VideoWriter(path, fps=30.0) as writer:
      for n, frame in enumerate(_frames(5)):
        if n == 3:
          raise RuntimeError('drawing failed')
        writer.write(frame)
  assert not os.listdir(tmp_path)


def test_a_failing_write_keeps_the_old_video(tmp_path):
  path = tmp_path / 'clip.avi'
  with video.VideoWriter(path, fps=30.0) as writer:
    for frame in _frames(3):
      writer.write(frame)
  with pytest.raises(KeyboardInterrupt):
    with video.VideoWriter(path, fps=30.0) as writer:
      writer.write(_frames(1)[0])
      raise KeyboardInterrupt
  assert os.listdir(tmp_path) == ['clip.avi'] and _read_back(path)[0] == 3


def test_a_path_that_cannot_be_opened_gives_one_clear_error(tmp_path):
  path = tmp_path / 'missing_folder' / 'clip.mp4'
  writer = video.VideoWriter(path, fps=30.0)
  with pytest.raises(StorageError, match='OpenCV cannot write this video .its folder does not '
                                         'exist.') as caught:
    writer.write(_frames(1)[0])
  assert isinstance(caught.value, UserInputError) and str(path) in str(caught.value)
  writer.abort()
  assert not os.path.exists(path.parent)


def test_closing_without_frames_writes_nothing(tmp_path):
  with video.VideoWriter(tmp_path / 'clip.mp4', fps=30.0):
    pass
  assert not os.listdir(tmp_path)
