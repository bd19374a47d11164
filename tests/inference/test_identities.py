"""Identity tracking on scripted objects (hourglass.inference.identities): crossing paths, an
object that vanishes and returns, one-frame false objects, a known number of objects."""

import numpy as np

from hourglass.inference.config import IdentityConfig
from hourglass.inference.identities import IdentityTracker

SIGMAS = [0.05, 0.05, 0.05, 0.05]
# A 40x40 px creature: head, tail, left, right around its centre.
SHAPE = np.array([[0.0, -15.0], [0.0, 15.0], [-12.0, 0.0], [12.0, 0.0]])


def creature(centre, scores=0.9):
  points = SHAPE + np.asarray(centre, np.float64)
  return {'keypoints': points, 'scores': np.full(4, scores),
          'box': [centre[0] - 20.0, centre[1] - 20.0, 40.0, 40.0], 'box_score': 0.9}


def run(tracker, frames):
  """frames: per frame a list of (name, centre); returns {name: [ids over the frames seen]}."""
  seen = {}
  for t, objects in enumerate(frames):
    tracker.update(t, [creature(c) for _, c in objects])
  for t, objects in enumerate(frames):
    for (name, _), track_id in zip(objects, tracker.ids[t]):
      seen.setdefault(name, []).append(int(track_id))
  return seen


def crossing_frames(gap=range(50, 70), jump=(0.0, 0.0)):
  """A and B cross head on (boxes overlap for ~16 frames), C walks alone and is gone for the
  frames of `gap`, coming back moved by `jump` px from where it would be."""
  frames = []
  for t in range(100):
    objects = [('a', (40.0 + 4 * t, 100.0)), ('b', (440.0 - 4 * t, 108.0))]
    if t not in gap:
      c = (100.0 + 2 * t + (jump[0] if t >= gap.stop else 0),
           300.0 + (jump[1] if t >= gap.stop else 0))
      objects.append(('c', c))
    frames.append(objects)
  return frames


def test_crossing_and_return_keep_ids():
  tracker = IdentityTracker(SIGMAS, IdentityConfig(confirm_frames=3))
  seen = run(tracker, crossing_frames())
  # The first frames get their id once the track is confirmed (3 frames).
  for name in 'abc':
    assert len(set(seen[name])) == 1 and seen[name][0] >= 0, (name, seen[name])
  assert len({seen[n][0] for n in 'abc'}) == 3
  c = seen['c'][0]
  assert tracker.spans[c].refound == 1 and not tracker.spans[c].ended
  assert tracker.doubt[70] == 1.0  # C found again: an identity in doubt there
  assert all(tracker.doubt[t] < 1.0 for t in range(3, 45))


def test_far_return_new_id_without_count_old_id_with_count():
  frames = crossing_frames(gap=range(40, 85), jump=(200.0, -150.0))
  free = IdentityTracker(SIGMAS, IdentityConfig(lost_frames=30))
  seen = run(free, frames)
  before, after = seen['c'][:40], seen['c'][40:]
  assert len(set(before)) == 1 and len(set(after)) == 1 and before[0] != after[0]
  assert free.spans[before[0]].ended and free.spans[after[0]].first == 85
  known = IdentityTracker(SIGMAS, IdentityConfig(num_objects=3, lost_frames=30))
  seen = run(known, frames)
  assert set(seen['c']) == {seen['c'][0]} and len(known.spans) == 3
  assert set(known.spans) == {0, 1, 2}


def test_one_frame_object_and_duplicate_get_no_id():
  frames = crossing_frames(gap=range(0))
  frames[30] = frames[30] + [('ghost', (300.0, 400.0))]
  # The same animal found twice (a second box 2 px away): one object, one id.
  frames[40] = frames[40] + [('twin', (frames[40][0][1][0] + 2.0, 100.0))]
  tracker = IdentityTracker(SIGMAS, IdentityConfig(num_objects=None))
  seen = run(tracker, frames)
  assert seen['ghost'] == [-1] and seen['twin'] == [-1]
  assert len(tracker.spans) == 3 and len(set(seen['a'])) == 1


def test_num_objects_caps_the_tracks():
  frames = [objects + [('extra', (500.0, 50.0 + t))] for t, objects in
            enumerate(crossing_frames(gap=range(0)))]
  tracker = IdentityTracker(SIGMAS, IdentityConfig(num_objects=2))
  seen = run(tracker, frames)
  assert len(tracker.spans) == 2
  assert sum(len(set(ids) - {-1}) for ids in seen.values()) == 2


def test_two_animals_in_one_object():
  """B walks over a resting A and the detector gives one object while they overlap. When it is
  B's pose, continuing B's track, it keeps B's id; when it is neither's (a pose between the
  two), it gets no id and moves no track. Either way each has its own id once they part."""
  for blended in (False, True):
    frames = []
    for t in range(60):
      b = (100.0 + 5 * t, 200.0)
      objects = [('b', b)]
      if abs(b[0] - 250.0) > 40:
        objects.insert(0, ('a', (250.0, 205.0)))
      elif blended and abs(b[0] - 250.0) <= 10:
        objects = [('b', ((b[0] + 250.0) / 2, 202.5))]
      frames.append(objects)
    tracker = IdentityTracker(SIGMAS, IdentityConfig())
    seen = run(tracker, frames)
    assert len(set(seen['a'])) == 1 and seen['a'][0] >= 0
    # B's box (40 px) holds A's resting centre when they are at most 14 px apart.
    over = [t for t in range(60) if abs(100 + 5 * t - 250) <= 10]
    apart = [i for t, i in zip(range(60), seen['b']) if abs(100 + 5 * t - 250) > 40]
    assert set(apart) == {apart[0]} and apart[0] not in (-1, seen['a'][0])
    assert {seen['b'][t] for t in over} == ({-1} if blended else {apart[0]})
    assert all(tracker.doubt[t] == 1.0 for t in over)
