"""A generated data set (`--source=synthetic`) for the quickstart and tests, deterministic by seed.

Each image holds one stick creature with 9 keypoints (head, neck, left/right elbow, left/right
hand, hip, left/right foot; three left/right pairs). Left limbs are red, right limbs blue, so the
side is visible in the pixels. That colour code does not survive a horizontal flip augmentation
(it swaps the labels, so red would be "right" in flipped images): the source declares flips
unsupported, so the manifest says so and training leaves them off unless --flip_prob is given.
Variation: object size over 2x, rotation +-45 degrees, random limb angles, low-frequency
textured backgrounds with noise and muted distractor shapes (lines, discs, boxes), an occluder
drawn over a random keypoint in about half of the images (points under it are labelled v=1), and
creatures placed partly outside the frame (points outside get v=0).

With `synthetic_objects` N > 1 (make_multi_scene), for detection and multi-object work, each
320x240 image holds 2..N look-alike creatures (one colour scheme: identity cannot come from
colour), each with its own pose, rotation and size; ~30% of the images put one onto another's
box, ~10% of the creatures are cut by the frame, and points under a creature drawn later get v=1.
Each creature is one example; those of an image share its path and image_id.

The scenes (keypoints, occluder) are drawn in the main process; the pixels are rendered by the
crop workers (`render()`), which also write the images to `<folder>/images/`. The folder also
receives `annotations.json` in the seed format and the definition files, so the set can be read
again with `--source=json --classes_path=<folder>/classes.txt ...`.
"""

import dataclasses
import math
import os
from typing import List, Tuple

import cv2
import numpy as np

from core import files
from core.errors import UserInputError
from records.example import TRAIN, VAL, Example
from records.keypoint_definition import KeypointDefinition
from records.sources.common import SourceData

NAMES = ('head', 'neck', 'left_elbow', 'left_hand', 'right_elbow', 'right_hand', 'hip',
         'left_foot', 'right_foot')
_I = {n: i for i, n in enumerate(NAMES)}
_RED, _BLUE, _GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
_EDGES = (('head', 'neck', _GREEN), ('neck', 'left_elbow', _RED),
          ('left_elbow', 'left_hand', _RED), ('neck', 'right_elbow', _BLUE),
          ('right_elbow', 'right_hand', _BLUE), ('neck', 'hip', _GREEN),
          ('hip', 'left_foot', _RED), ('hip', 'right_foot', _BLUE))
# BGR drawing colours: left limbs red, right limbs blue, torso green, head yellow.
_LIMB_BGR = {_RED: (40, 40, 225), _BLUE: (225, 90, 30), _GREEN: (60, 170, 60)}
_HEAD_BGR = (60, 210, 235)
_SHIFT = 4  # cv2 fixed-point bits: shapes land at sub-pixel positions (no rounding of labels)


# OKS sigmas for COCO AP: those of the COCO keypoint each part stands for (head: nose, neck:
# shoulders, elbows, hands: wrists, hip: hips, feet: ankles), so AP on the creature weighs its
# parts as on people.
_SIGMAS = {'head': 0.026, 'neck': 0.079, 'elbow': 0.072, 'hand': 0.062, 'hip': 0.107,
           'foot': 0.089}


def definition() -> KeypointDefinition:
  """The creature's keypoint definition (names, three h flip pairs, coloured skeleton, OKS
  sigmas)."""
  pairs = tuple((_I[f'left_{p}'], _I[f'right_{p}']) for p in ('elbow', 'hand', 'foot'))
  skeleton = tuple((_I[a], _I[b], c) for a, b, c in _EDGES)
  sigmas = tuple(_SIGMAS[name.split('_')[-1]] for name in NAMES)
  return KeypointDefinition(NAMES, flip_pairs_h=pairs, skeleton=skeleton, sigmas=sigmas)


@dataclasses.dataclass
class Scene:
  """Everything needed to render one image (picklable; rendered in a worker)."""
  size: Tuple[int, int]          # (height, width)
  keypoints: np.ndarray          # float64 [9, 2]
  thickness: float
  occluder: Tuple                # () or (cx, cy, half_w, half_h, angle_deg, bgr)
  render_seed: Tuple[int, ...]
  save_path: str = ''

  def render(self) -> np.ndarray:
    """Draws the BGR uint8 image and writes it to save_path (if set)."""
    return _render(self, [self.keypoints], [self.thickness])


@dataclasses.dataclass
class MultiScene:
  """One image of several creatures (picklable), shared by their examples: every render gives
  the same pixels, the file is written once."""
  size: Tuple[int, int]          # (height, width): MULTI_FRAME_SIZE
  keypoints: List[np.ndarray]    # float64 [9, 2] per creature, in drawing order
  thickness: List[float]         # per creature
  occluder: Tuple                # () or (cx, cy, half_w, half_h, angle_deg, bgr)
  render_seed: Tuple[int, ...]
  save_path: str = ''

  def render(self) -> np.ndarray:
    """Draws the BGR uint8 image [H, W, 3] and writes it to save_path (if set)."""
    return _render(self, self.keypoints, self.thickness)


def _render(scene, keypoints, thickness):
  """The scene's image with the creatures (lists, in drawing order); writes save_path once."""
  rng = np.random.default_rng(scene.render_seed)
  image = background(rng, scene.size)
  for kp, t in zip(keypoints, thickness):
    _draw_creature(image, kp, t)
  image = _finish(image, scene.occluder, rng)
  if scene.save_path and not os.path.exists(scene.save_path):
    with files.atomic_path(scene.save_path) as tmp:  # a .jpg: imwrite goes by the extension
      cv2.imwrite(tmp, image, [cv2.IMWRITE_JPEG_QUALITY, 95])
  return image


def _fixed(points):
  return np.round(np.asarray(points) * (1 << _SHIFT)).astype(np.int32)


def _rect(cx, cy, hw, hh, angle):
  a = math.radians(angle)
  c, s = math.cos(a), math.sin(a)
  corners = np.array([[-hw, -hh], [hw, -hh], [hw, hh], [-hw, hh]])
  return corners @ np.array([[c, s], [-s, c]]) + [cx, cy]


def background(rng, size):
  """A textured background [H, W, 3] BGR with muted distractors (as the images have)."""
  h, w = size
  # Textured but muted: a grey level plus a weaker colour field, so limb colours stay distinct.
  base = (rng.uniform(60, 190, (4, 4, 1)) + rng.uniform(-45, 45, (4, 4, 3))).astype(np.float32)
  image = cv2.resize(base, (w, h), interpolation=cv2.INTER_CUBIC)
  fine = cv2.resize(rng.normal(0, 18, (h // 6 + 1, w // 6 + 1, 3)).astype(np.float32), (w, h))
  image = np.clip(image + fine, 0, 255).astype(np.uint8)
  for _ in range(rng.integers(3, 9)):  # muted distractors: grey/brown, never pure red or blue
    grey = rng.uniform(50, 200)
    colour = tuple(float(np.clip(grey + rng.uniform(-30, 30), 0, 255)) for _ in range(3))
    kind, p = rng.integers(3), rng.uniform([0, 0], [w, h], (2, 2))
    if kind == 0:
      cv2.line(image, tuple(_fixed(p[0])), tuple(_fixed(p[1])), colour,
               int(rng.integers(2, 6)), cv2.LINE_AA, _SHIFT)
    elif kind == 1:
      cv2.circle(image, tuple(_fixed(p[0])), int(rng.uniform(4, 16) * (1 << _SHIFT)), colour,
                 -1, cv2.LINE_AA, _SHIFT)
    else:
      cv2.fillPoly(image, [_fixed(_rect(*p[0], *rng.uniform(3, 14, 2), rng.uniform(0, 90)))],
                   colour, cv2.LINE_AA, _SHIFT)
  return image


# Discs (name, BGR, radius / thickness) over the limbs: the head, then joint markers, hands and
# feet last so a visible end point always shows its own side's colour (elbows: lighter, smaller).
_DISCS = (('head', _HEAD_BGR, 1.6), ('hip', (30, 110, 30), 0.9),
          ('left_elbow', (90, 90, 255), 0.7), ('right_elbow', (255, 170, 110), 0.7),
          ('left_hand', (20, 20, 150), 0.9), ('right_hand', (150, 50, 10), 0.9),
          ('left_foot', (20, 20, 150), 0.9), ('right_foot', (150, 50, 10), 0.9))


def _draw_creature(image, kp, thickness):
  t = max(2, int(round(thickness)))
  for a, b, colour in _EDGES:
    if a == 'head':
      continue
    cv2.line(image, tuple(_fixed(kp[_I[a]])), tuple(_fixed(kp[_I[b]])), _LIMB_BGR[colour], t,
             cv2.LINE_AA, _SHIFT)
  cv2.line(image, tuple(_fixed(kp[_I['head']])), tuple(_fixed(kp[_I['neck']])),
           _LIMB_BGR[_GREEN], t, cv2.LINE_AA, _SHIFT)
  for name, colour, factor in _DISCS:
    cv2.circle(image, tuple(_fixed(kp[_I[name]])), int(thickness * factor * (1 << _SHIFT)),
               colour, -1, cv2.LINE_AA, _SHIFT)


def covered(points, keypoints, thickness):
  """[P] bool: the points [P, 2] under a creature (keypoints [9, 2], thickness) drawn over
  them: within its line's half width + 1.5 px of a limb, or inside its head disc or a marker."""
  pts = np.asarray(points, np.float64)[:, None]                        # [P, 1, 2]
  a = keypoints[[_I[e[0]] for e in _EDGES]]
  ab = keypoints[[_I[e[1]] for e in _EDGES]] - a                       # [E, 2]
  t = np.clip(((pts - a) * ab).sum(-1) / np.maximum((ab * ab).sum(-1), 1e-9), 0, 1)
  to_limb = np.linalg.norm(pts - (a + t[..., None] * ab), axis=-1).min(1)
  to_disc = (np.linalg.norm(pts - keypoints[[_I[d[0]] for d in _DISCS]], axis=-1)
             - thickness * np.array([d[2] for d in _DISCS]))
  return (to_limb <= max(2, int(round(thickness))) / 2 + 1.5) | (to_disc.min(1) < 0)


# Limb angle ranges (degrees, y down): left arm, left forearm bend, right arm, right forearm
# bend, left leg, right leg.
LIMB_RANGES = ((-70, 80), (-70, 70), (100, 250), (-70, 70), (45, 85), (95, 135))


def _pose(rng, torso):
  """Keypoints [9, 2] of an upright creature with random limbs, the neck at the origin."""
  # Drawn in this order (both arms first), so that every seed keeps the images it always had.
  order = (0, 2, 1, 3, 4, 5)
  drawn = {i: rng.uniform(*LIMB_RANGES[i]) for i in order}
  return pose_from_angles(torso, [drawn[i] for i in range(len(LIMB_RANGES))])


def pose_from_angles(torso, angles):
  """Keypoints [9, 2] of an upright creature (neck at the origin, y down) with the limb angles
  of LIMB_RANGES' order (degrees)."""
  def ray(start, length, degrees):
    a = math.radians(degrees)
    return start + length * np.array([math.cos(a), math.sin(a)])
  left_arm, left_bend, right_arm, right_bend, left_leg, right_leg = angles
  kp = np.zeros((len(NAMES), 2))
  kp[_I['head']] = (0.0, -0.6 * torso)
  kp[_I['hip']] = (0.0, torso)
  kp[_I['left_elbow']] = ray(kp[1], 0.65 * torso, left_arm)
  kp[_I['left_hand']] = ray(kp[_I['left_elbow']], 0.6 * torso, left_arm + left_bend)
  kp[_I['right_elbow']] = ray(kp[1], 0.65 * torso, right_arm)
  kp[_I['right_hand']] = ray(kp[_I['right_elbow']], 0.6 * torso, right_arm + right_bend)
  kp[_I['left_foot']] = ray(kp[_I['hip']], 0.95 * torso, left_leg)
  kp[_I['right_foot']] = ray(kp[_I['hip']], 0.95 * torso, right_leg)
  return kp


def render_frame(background, keypoints, thickness, occluder, rng):
  """One BGR frame: the creature drawn on a copy of `background`, then the occluder
  ((cx, cy, half_w, half_h, angle_deg, bgr) or ()) and sensor noise."""
  image = background.copy()
  _draw_creature(image, keypoints, thickness)
  return _finish(image, occluder, rng)


def _finish(image, occluder, rng):
  """The occluder drawn over `image` (in place), then sensor noise: the BGR uint8 frame."""
  if occluder:
    cx, cy, hw, hh, angle, colour = occluder
    cv2.fillPoly(image, [_fixed(_rect(cx, cy, hw, hh, angle))], colour, cv2.LINE_AA, _SHIFT)
  noise = rng.normal(0, 5, image.shape)
  return np.clip(image.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def occluded(keypoints, occluder):
  """[K] bool: the points under the occluder (more than 1.5 px inside)."""
  if not occluder:
    return np.zeros(len(keypoints), bool)
  corners = _rect(*occluder[:5]).astype(np.float32)
  return np.array([cv2.pointPolygonTest(corners, (float(x), float(y)), True) > 1.5
                   for x, y in keypoints])


def make_scene(seed: int, split: str, index: int):
  """One scene and its visibility [9] (0 outside the frame, 1 occluded, 2 visible)."""
  rng = np.random.default_rng([seed, 0 if split == TRAIN else 1, index])
  h, w = (int(v) for v in rng.integers(140, 201, 2))
  torso = rng.uniform(16, 32)  # 2x range of object size
  kp = _body(rng, torso)
  # 35% partly out of frame: the centre anywhere in the image.
  kp = kp + (rng.uniform([0, 0], [w, h]) if rng.random() < 0.35 else
             _inside(rng, kp, np.array([w, h])))
  vis = np.full((len(NAMES),), 2, np.int32)
  occluder = ()
  if rng.random() < 0.5:
    occluder = _occluder(rng, kp[rng.integers(len(NAMES))], torso)
    vis[occluded(kp, occluder)] = 1
  vis[_outside(kp, w, h)] = 0
  scene = Scene((h, w), kp, torso * 0.2, occluder, (seed, 7, 0 if split == TRAIN else 1, index))
  return scene, vis


def _body(rng, torso):
  """A random creature [9, 2], rotated +-45 degrees about its torso's middle at the origin."""
  kp = _pose(rng, torso)
  angle = math.radians(rng.uniform(-45, 45))
  rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
  return (kp - kp[[1, 6]].mean(0)) @ rot.T


def _inside(rng, kp, size):
  """A centre [2] that puts the box of kp [9, 2] 4 px inside a frame of size (w, h)."""
  return rng.uniform(-kp.min(0) + 4, np.maximum(size - kp.max(0) - 4, -kp.min(0) + 5))


def _outside(kp, w, h):
  return (kp[:, 0] < 0) | (kp[:, 1] < 0) | (kp[:, 0] > w - 1) | (kp[:, 1] > h - 1)


def _occluder(rng, target, torso):
  """An occluder tuple (cx, cy, half_w, half_h, angle_deg, bgr) over the point target [2]."""
  hw, hh = rng.uniform(0.3, 0.5, 2) * torso
  cx, cy = target + rng.uniform(-0.5, 0.5, 2) * [hw, hh]
  return (cx, cy, hw, hh, rng.uniform(0, 90), tuple(float(v) for v in rng.uniform(60, 190, 3)))


MULTI_FRAME_SIZE = (240, 320)  # (height, width) of the images with several creatures
_P_ONTO = 0.3  # images with a creature put onto another (the rest avoid overlap: ~30% for any N)
_P_CUT = 0.1  # creatures cut by the frame edge


def make_multi_scene(seed: int, split: str, index: int, max_objects: int):
  """One image of 2..max_objects look-alike creatures (uniform count), drawn in list order:
  (the MultiScene, [visibility [9] int32 per creature]: 0 outside the frame, 1 under a creature
  drawn later or under the occluder, 2 visible)."""
  rng = np.random.default_rng([seed, 0 if split == TRAIN else 1, index, 2])
  h, w = MULTI_FRAME_SIZE
  count = int(rng.integers(2, max_objects + 1))
  onto = int(rng.integers(1, count)) if rng.random() < _P_ONTO else -1
  keypoints, torsos = [], []
  for j in range(count):
    torso = rng.uniform(14, 28)
    kp = _body(rng, torso)
    keypoints.append(kp + _place(rng, kp, keypoints, np.array([w, h], np.float64), j == onto))
    torsos.append(torso)
  occluder = ()
  if rng.random() < 0.5:
    j = int(rng.integers(count))
    occluder = _occluder(rng, keypoints[j][rng.integers(len(NAMES))], torsos[j])
  vis = [np.full((len(NAMES),), 2, np.int32) for _ in range(count)]
  for j, (kp, v) in enumerate(zip(keypoints, vis)):
    for later in range(j + 1, count):  # drawn over kp
      v[covered(kp, keypoints[later], torsos[later] * 0.2)] = 1
    v[occluded(kp, occluder)] = 1
    v[_outside(kp, w, h)] = 0
  scene = MultiScene((h, w), keypoints, [t * 0.2 for t in torsos], occluder,
                     (seed, 8, 0 if split == TRAIN else 1, index))
  return scene, vis


def _place(rng, kp, others, size, onto):
  """A centre [2] for kp [9, 2] in a frame of size (w, h): onto one of `others`' boxes, cut by an
  edge (_P_CUT), else inside, off the others' boxes if 20 tries find such a place."""
  lo, hi = kp.min(0), kp.max(0)
  if onto:
    other = others[rng.integers(len(others))]
    o_lo, o_hi = other.min(0), other.max(0)
    # The boxes overlap for centres in (o_lo - hi, o_hi - lo); keep to its middle 70%.
    centre = (o_lo - hi + o_hi - lo) / 2 + rng.uniform(-0.35, 0.35, 2) * (o_hi - o_lo + hi - lo)
    return np.clip(centre, -lo + 4, np.maximum(size - hi - 4, -lo + 5))
  if rng.random() < _P_CUT:  # one edge cuts 15-60% of the box off: some points get v=0
    centre = _inside(rng, kp, size)
    axis, cut = int(rng.integers(2)), rng.uniform(0.15, 0.6) * (hi - lo)
    centre[axis] = (-lo[axis] - cut[axis] if rng.random() < 0.5
                    else size[axis] - 1 - hi[axis] + cut[axis])
    return centre
  for _ in range(20):
    centre = _inside(rng, kp, size)
    if not any(np.all((lo + centre < o.max(0)) & (hi + centre > o.min(0))) for o in others):
      break
  return centre


def load(config) -> SourceData:
  folder = os.path.abspath(config.dataset_path or os.path.join(config.output_dir,
                                                               'synthetic_data'))
  try:
    os.makedirs(os.path.join(folder, 'images'), exist_ok=True)
  except OSError as e:
    raise UserInputError(f'{folder}: cannot create the synthetic data folder ({e.strerror})'
                         ) from None
  data = SourceData([], definition(), len(NAMES), generated_dir=folder,
                    flips_unsupported='left limbs are red and right limbs blue: a flip '
                    'would show a red right arm')
  records, image_id, object_id = [], 0, 0
  for split, count in ((TRAIN, config.synthetic_count), (VAL, config.synthetic_val_count)):
    for index in range(int(count)):
      scene, creatures = _image(config, split, index)
      rel = f'images/{split}_{index:06d}.jpg'
      scene.save_path = os.path.join(folder, rel)
      if os.path.exists(scene.save_path):  # a rerun with another seed must not reuse pixels
        os.remove(scene.save_path)
      for keypoints, vis, name in creatures:
        kp = np.where(vis[:, None] > 0, keypoints, 0.0)
        records.append(_seed_record(rel, kp, vis, split, image_id))
        if vis.any():
          data.examples.append(Example(
              image_path=scene.save_path, rel_path=rel, keypoints=kp, visibility=vis,
              image_id=image_id, object_id=object_id, split=split, source_file='synthetic',
              record=name, expected_size=scene.size, render=scene))
        else:
          data.filter('no_keypoints')
        object_id += 1
      image_id += 1
  try:
    definition().write_files(folder)
    files.write_json(os.path.join(folder, 'annotations.json'), records)
  except OSError as e:
    raise UserInputError(f'{folder}: cannot write annotations.json ({e.strerror})') from None
  data.notes.append(f'synthetic: {config.synthetic_count} training and '
                    f'{config.synthetic_val_count} validation images in {folder}')
  return data


def _image(config, split, index):
  """(scene, [(keypoints [9, 2], visibility [9], record name)] per creature) of one image."""
  if config.synthetic_objects > 1:
    scene, vis = make_multi_scene(config.seed, split, index, config.synthetic_objects)
    return scene, [(kp, v, f'{split} {index} creature {j}')
                   for j, (kp, v) in enumerate(zip(scene.keypoints, vis))]
  scene, vis = make_scene(config.seed, split, index)
  return scene, [(scene.keypoints, vis, f'{split} {index}')]


def _seed_record(rel, kp, vis, split, image_id):
  pts = kp[vis > 0]
  lo, hi = (pts.min(0), pts.max(0)) if len(pts) else (np.zeros(2), np.zeros(2))
  side = float(max(hi - lo) * 1.25 + 1e-3)
  return {'img_paths': rel[len('images/'):], 'dataset': 'synthetic',
          'isValidation': 1.0 if split == VAL else 0.0, 'image_id': image_id,
          'joint_self': [[float(x), float(y), int(v)] for (x, y), v in zip(kp, vis)],
          'objpos': [float(v) for v in (lo + hi) / 2], 'scale_provided': side / 200.0,
          'bbox': [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]}
