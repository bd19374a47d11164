"""The synthetic source with several creatures per image (synthetic_objects > 1): deterministic,
2..N creatures, overlapping boxes, mutual occlusion in labels and pixels, a record per creature."""

import json
import math
import os
import pickle

import numpy as np
import pytest

from core.errors import UserInputError
from records import schema
from records.make_records import MakeRecordsConfig, make_records
from records.sources import synthetic
from tests.support.records_io import read_records

N_SCENES = 200
MAX_OBJECTS = 4
_I = {n: k for k, n in enumerate(synthetic.NAMES)}
# The drawing colours (BGR) the module promises: limbs by side, the head, joint markers.
RED, BLUE, GREEN, HEAD = (40, 40, 225), (225, 90, 30), (60, 170, 60), (60, 210, 235)
LIMBS = (('head', 'neck', GREEN), ('neck', 'left_elbow', RED), ('left_elbow', 'left_hand', RED),
         ('neck', 'right_elbow', BLUE), ('right_elbow', 'right_hand', BLUE),
         ('neck', 'hip', GREEN), ('hip', 'left_foot', RED), ('hip', 'right_foot', BLUE))
# What a point shows where nothing covers it: the head disc, the neck's limbs, joint markers.
OWN = {'head': HEAD, 'neck': GREEN, 'hip': (30, 110, 30), 'left_elbow': (90, 90, 255),
       'right_elbow': (255, 170, 110), 'left_hand': (20, 20, 150), 'right_hand': (150, 50, 10),
       'left_foot': (20, 20, 150), 'right_foot': (150, 50, 10)}
PALETTE = np.array([RED, BLUE, GREEN] + list(OWN.values()), np.float64)


@pytest.fixture(scope='module')
def scenes():
  return [synthetic.make_multi_scene(3, 'train', i, MAX_OBJECTS) for i in range(N_SCENES)]


def _width(thickness):
  return max(2, int(round(thickness)))  # the drawn line width in px


def _to_limbs(point, kp):
  """[8] distances of point [2] to the limb segments of kp [9, 2] (LIMBS' order)."""
  out = []
  for a, b, _ in LIMBS:
    p, q = kp[_I[a]], kp[_I[b]]
    t = float(np.clip(np.dot(point - p, q - p) / max(np.dot(q - p, q - p), 1e-9), 0, 1))
    out.append(float(np.linalg.norm(point - (p + t * (q - p)))))
  return out


def _under_limb(point, kp, thickness, extra=1.5):
  """Within the later creature's line half width + extra of a limb, or inside its head disc."""
  near_limb = min(_to_limbs(point, kp)) <= _width(thickness) / 2 + extra
  return near_limb or np.linalg.norm(point - kp[_I['head']]) < 1.6 * thickness


def _off_discs(point, kp, thickness):
  """Clear of the head disc (1.6 thickness) and the joint markers (at most 0.9) by 1.5 px."""
  radii = np.where(np.arange(len(kp)) == _I['head'], 1.6, 0.9) * thickness + 1.5
  return bool(np.all(np.linalg.norm(kp - point, axis=1) > radii))


def _near_occluder(point, occluder, margin=3.0):
  return bool(occluder) and (np.linalg.norm(point - occluder[:2]) <
                             math.hypot(occluder[2], occluder[3]) + margin)


def test_deterministic_by_seed_and_apart_from_single_scenes(tmp_path):
  a, va = synthetic.make_multi_scene(5, 'train', 17, 5)
  b, vb = synthetic.make_multi_scene(5, 'train', 17, 5)
  c, _ = synthetic.make_multi_scene(6, 'train', 17, 5)
  single, _ = synthetic.make_scene(5, 'train', 17)
  assert len(a.keypoints) == len(va) and a.size == synthetic.MULTI_FRAME_SIZE == (240, 320)
  for x, y, vx, vy in zip(a.keypoints, b.keypoints, va, vb):
    np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(vx, vy)
  a.save_path = str(tmp_path / 'a.jpg')
  image = a.render()
  assert image.shape == (240, 320, 3) and image.dtype == np.uint8
  np.testing.assert_array_equal(image, pickle.loads(pickle.dumps(b)).render())
  written = os.stat(a.save_path).st_mtime_ns
  np.testing.assert_array_equal(a.render(), image)
  assert os.stat(a.save_path).st_mtime_ns == written  # written once
  assert not np.allclose(a.keypoints[0], c.keypoints[0])
  assert not np.allclose(a.keypoints[0], single.keypoints)
  v, _ = synthetic.make_multi_scene(5, 'val', 17, 5)
  assert not np.allclose(a.keypoints[0], v.keypoints[0])


def test_counts_sizes_and_frame(scenes):
  counts = [len(vis) for _, vis in scenes]
  assert set(counts) == set(range(2, MAX_OBJECTS + 1))
  kps = [kp for scene, _ in scenes for kp in scene.keypoints]
  torso = [np.linalg.norm(kp[_I['hip']] - kp[_I['neck']]) for kp in kps]
  assert 14 - 1e-6 <= min(torso) < 15.5 and 26.5 < max(torso) <= 28 + 1e-6
  angles = [math.degrees(math.atan2(*(kp[_I['hip']] - kp[_I['neck']]))) for kp in kps]
  assert min(angles) < -40 and max(angles) > 40 and max(np.abs(angles)) <= 45.001
  cut = np.mean([(vis == 0).any() for _, v in scenes for vis in v])
  assert 0.04 <= cut <= 0.2, cut  # about 10% of the creatures partly outside, the rest inside
  h, w = synthetic.MULTI_FRAME_SIZE
  for scene, vis in scenes:
    for kp, v in zip(scene.keypoints, vis):
      outside = (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] > w - 1) | (kp[:, 1] > h - 1)
      np.testing.assert_array_equal(v == 0, outside)


def test_overlapping_boxes(scenes):
  def overlap(scene):
    boxes = [(kp.min(0), kp.max(0)) for kp in scene.keypoints]
    return any(np.all((lo < hi2) & (hi > lo2)) for i, (lo, hi) in enumerate(boxes)
               for lo2, hi2 in boxes[i + 1:])
  fraction = np.mean([overlap(scene) for scene, _ in scenes])
  assert 0.15 <= fraction <= 0.5, fraction


def test_points_under_later_creatures_are_occluded(scenes):
  """Geometry: a point under a creature drawn later is v=1; a v=1 point is under one (or under
  the occluder)."""
  mutual = 0
  for scene, vis in scenes:
    kps, thick = scene.keypoints, scene.thickness
    for j, (kp, v) in enumerate(zip(kps, vis)):
      for k, point in enumerate(kp):
        under = [_under_limb(point, kps[n], thick[n]) for n in range(j + 1, len(kps))]
        if any(under) and v[k] > 0:
          assert v[k] == 1, (scene.render_seed, j, k)
          mutual += 1
        if v[k] == 1 and not any(under) and not synthetic.occluded(kp[k:k + 1], scene.occluder):
          # Only a later creature's joint marker (at most 0.9 thickness) is left to cover it.
          assert any(np.min(np.linalg.norm(kps[n] - point, axis=1)) < 0.9 * thick[n]
                     for n in range(j + 1, len(kps))), (scene.render_seed, j, k)
  assert mutual >= 40, mutual


def test_covered_points_show_the_covering_limb(scenes):
  """Pixels: a point deep inside a later creature's limb shows that limb's colour, not its own."""
  checked = 0
  for scene, vis in scenes:
    image, kps, thick = None, scene.keypoints, scene.thickness
    for j, (kp, v) in enumerate(zip(kps, vis)):
      for k, point in enumerate(kp):
        if v[k] != 1 or _near_occluder(point, scene.occluder):
          continue
        top = [n for n in range(j + 1, len(kps)) if _under_limb(point, kps[n], thick[n], 3.0)]
        if not top:
          continue
        n = top[-1]  # the last creature drawn over the point
        deep = {LIMBS[e][2] for e, d in enumerate(_to_limbs(point, kps[n]))
                if d <= _width(thick[n]) / 2 - 0.3 and _off_discs(point, kps[n], thick[n])}
        if len(deep) != 1:
          continue  # on a disc, or between two limbs of different colours
        image = scene.render().astype(np.float64) if image is None else image
        x, y = np.round(point).astype(int)
        pixel, cover, own = image[y, x], np.array(deep.pop()), np.array(OWN[synthetic.NAMES[k]])
        assert np.linalg.norm(pixel - cover) < 40, (scene.render_seed, j, k, pixel, cover)
        if np.linalg.norm(cover - own) > 60:
          assert np.linalg.norm(pixel - cover) < np.linalg.norm(pixel - own)
        checked += 1
  assert checked >= 10, checked


def test_visible_points_show_creature_colours(scenes):
  distances = []
  for scene, vis in scenes[:80]:
    image = scene.render().astype(np.float64)
    for kp, v in zip(scene.keypoints, vis):
      for point in kp[v == 2]:
        x, y = np.round(point).astype(int)
        distances.append(np.min(np.linalg.norm(PALETTE - image[y, x], axis=1)))
  distances = np.array(distances)
  assert len(distances) > 1000 and np.mean(distances < 50) >= 0.97, np.mean(distances < 50)


def test_the_flag_and_its_range():
  from modes.configs import make_records_config  # pylint: disable=g-import-not-at-top
  from tests.support.flag_parsing import parse_flags  # pylint: disable=g-import-not-at-top
  values = parse_flags('--mode=make_records', '--source=synthetic', '--records_dir=out',
                       '--synthetic_objects=3')
  assert make_records_config(values).synthetic_objects == 3
  assert MakeRecordsConfig(source='synthetic', output_dir='out').synthetic_objects == 1
  for n in (0, 9):
    with pytest.raises(UserInputError, match='synthetic_objects'):
      MakeRecordsConfig(source='synthetic', output_dir='out', synthetic_objects=n).validate()


def test_make_records_writes_a_record_per_creature(tmp_path):
  config = MakeRecordsConfig(source='synthetic', output_dir=str(tmp_path / 'rec'),
                             input_shape=(128, 128), synthetic_count=12, synthetic_val_count=4,
                             synthetic_objects=3, num_workers=1, seed=2, progress=False)
  manifest = make_records(config)
  expected = {split: [(index, j) for index in range(count) for j, v in enumerate(
      synthetic.make_multi_scene(2, split, index, 3)[1]) if v.any()]
              for split, count in (('train', 12), ('val', 4))}
  assert len(expected['train']) > 12 and len(expected['val']) > 4  # several per image
  folder = tmp_path / 'rec' / 'synthetic_data'
  assert len(os.listdir(folder / 'images')) == 16
  image_ids, object_ids, per_path = {}, set(), {}
  for split in ('train', 'val'):
    records = read_records(manifest, split)
    assert len(records) == len(expected[split]) == manifest.count(split)
    for record in records:
      path = record[schema.ORIGINAL_PATH].decode()
      assert (record[schema.ORIGINAL_HEIGHT], record[schema.ORIGINAL_WIDTH]) == (240, 320)
      image_ids.setdefault(path, set()).add(int(record[schema.ORIGINAL_ID]))
      object_ids.add(int(record[schema.OBJECT_ID]))
      per_path[path] = per_path.get(path, 0) + 1
  assert all(len(v) == 1 for v in image_ids.values())  # the creatures of an image share its id
  assert len({i for v in image_ids.values() for i in v}) == len(image_ids) == 16  # unique ids
  assert len(object_ids) == sum(per_path.values()) and max(per_path.values()) > 1
  expected_per_path = {f'images/{split}_{index:06d}.jpg': sum(1 for i, _ in pairs if i == index)
                       for split, pairs in expected.items() for index, _ in pairs}
  assert per_path == expected_per_path
  # annotations.json: one seed record per creature, those of an image under its file name.
  seeds = json.loads((folder / 'annotations.json').read_text())
  names = [s['img_paths'] for s in seeds]
  assert len(seeds) == sum(len(synthetic.make_multi_scene(2, split, index, 3)[1])
                           for split, count in (('train', 12), ('val', 4))
                           for index in range(count))
  assert len(set(names)) == 16 and len(names) > 16
  assert all(len({s['image_id'] for s in seeds if s['img_paths'] == n}) == 1 for n in names)
