"""The parallel crop workers: same records as the in-process path; a dying worker is a clear
error, not a hang. (This module imports no TensorFlow at the top: spawned workers import it to
unpickle the renderers below.)"""

import os

import numpy as np
import pytest

from records.crop import CropSettings
from records.example import Example


class _Renderer:
  """A picklable stand-in for a generated image: a grey frame, or a worker crash."""

  def __init__(self, crash=False):
    self.crash = crash

  def render(self):
    if self.crash:
      os._exit(3)  # what a segfaulting decoder looks like to the pool
    return np.full((120, 160, 3), 90, np.uint8)


def _jobs(n, crash_at=None):
  settings = CropSettings((64, 64))
  kp = np.array([[40.0, 50.0], [90.0, 70.0]])
  return [(i, Example(image_path='', rel_path=f'{i}.png', keypoints=kp + i % 7,
                      visibility=np.array([2, 2], np.int32), render=_Renderer(i == crash_at)),
           settings) for i in range(n)]


def test_workers_match_in_process_results():
  from records.make_records import _outcomes
  serial = list(_outcomes(_jobs(40), 1))
  parallel = list(_outcomes(_jobs(40), 2))
  assert [o[0] for o in parallel] == list(range(40))
  for (_, a, _), (_, b, _) in zip(serial, parallel):
    assert a['encoded_image'] == b['encoded_image']
    np.testing.assert_array_equal(a['keypoints_xy'], b['keypoints_xy'])


def test_dying_worker_is_a_clear_error():
  from core.errors import RecordsError
  from records.make_records import _outcomes
  with pytest.raises(RecordsError, match='worker process died'):
    list(_outcomes(_jobs(60, crash_at=37), 2))
