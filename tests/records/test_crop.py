"""Crop geometry: exact box mapping, aspect expansion, sub-pixel read-back, and the dot test (an
independent check through the pixels: catches half-pixel and flip offsets)."""

import csv
import json
import os

import cv2
import numpy as np
import pytest

from core.geometry import apply_affine, expand_to_aspect
from records import schema
from records.crop import crop_geometry, crop_shape, warp_crop
from records.example import ObjectBox
from records.make_records import make_records, MakeRecordsConfig
from tests.support.records_io import read_records, to_original


def test_crop_shape_even_margin():
  assert crop_shape((256, 192), 1.5) == (384, 288)
  assert crop_shape((64, 64), 1.5) == (96, 96)
  assert crop_shape((64, 64), 1.0) == (64, 64)
  h, w = crop_shape((96, 64), 1.37)
  assert (h - 96) % 2 == 0 and (w - 64) % 2 == 0


@pytest.mark.parametrize('input_shape', [(64, 64), (256, 192), (128, 256)])
def test_box_maps_onto_model_input_exactly(input_shape):
  box = ObjectBox(321.3, 117.8, 90.0, 200.0)
  geo = crop_geometry(box, input_shape, 1.5)
  wide = ObjectBox(box.cx, box.cy, *expand_to_aspect(box.width, box.height, input_shape))
  assert wide.width / wide.height == pytest.approx(input_shape[1] / input_shape[0])
  assert wide.width >= box.width - 1e-9 and wide.height >= box.height - 1e-9
  # The box edges land on the edges of box_in_crop; its centre on the crop centre.
  x0, y0, w, h = geo.box_in_crop
  corners = np.array([[wide.cx - wide.width / 2, wide.cy - wide.height / 2],
                      [wide.cx + wide.width / 2, wide.cy + wide.height / 2]])
  np.testing.assert_allclose(apply_affine(geo.original_to_crop, corners),
                             [[x0, y0], [x0 + w, y0 + h]], atol=1e-9)
  assert (w, h) == (input_shape[1], input_shape[0])
  # The schema's model-input formula: u = 0 is the first crop pixel inside the margin.
  assert x0 + 0.5 == (geo.crop_shape[1] - input_shape[1]) // 2
  # The two transforms are inverse.
  pts = np.random.default_rng(0).uniform(-50, 500, (20, 2))
  np.testing.assert_allclose(
      apply_affine(geo.crop_to_original, apply_affine(geo.original_to_crop, pts)), pts,
      atol=1e-9)


def test_warp_follows_pixel_centre_convention():
  """A single bright pixel lands where the affine says, with and without area reduction."""
  image = np.zeros((400, 600, 3), np.uint8)
  cv2.circle(image, (300, 200), 20, (255, 255, 255), -1)
  for side in (40.0, 300.0):  # upscale; 4x+ reduction through INTER_AREA
    geo = crop_geometry(ObjectBox(310.0, 190.0, side, side), (64, 64), 1.5)
    crop = warp_crop(image, geo).astype(np.float64)[:, :, 0]
    ys, xs = np.mgrid[:crop.shape[0], :crop.shape[1]]
    centroid = np.array([(crop * xs).sum(), (crop * ys).sum()]) / crop.sum()
    np.testing.assert_allclose(apply_affine(geo.crop_to_original, centroid), [300, 200],
                               atol=0.3)


def test_degenerate_box_is_bad_example():
  from records.example import BadExample
  with pytest.raises(BadExample, match='zero, negative'):
    crop_geometry(ObjectBox(10, 10, 0.0, 5.0), (64, 64), 1.5)
  with pytest.raises(BadExample):
    crop_geometry(ObjectBox(float('nan'), 10, 5.0, 5.0), (64, 64), 1.5)


def test_coco_points_read_back_within_1e3(shared_data, tmp_path):
  root = os.path.join(shared_data, 'coco_sample')
  manifest = make_records(MakeRecordsConfig(
      source='coco', dataset_path=root, output_dir=str(tmp_path), input_shape=(256, 192),
      val_fraction=1.0, num_workers=1, progress=False))
  coco = json.load(open(os.path.join(root, 'person_keypoints_sample.json')))
  by_id = {a['id']: a for a in coco['annotations']}
  records = read_records(manifest, 'val')
  assert len(records) == 12
  for record in records:
    ann = by_id[int(record[schema.OBJECT_ID])]
    expected = np.array(ann['keypoints'], np.float64).reshape(-1, 3)
    labelled = expected[:, 2] > 0
    np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY], expected[:, 2])
    np.testing.assert_allclose(to_original(record)[labelled], expected[labelled, :2], atol=1e-3)
    assert int(record[schema.ORIGINAL_ID]) == ann['image_id']
    np.testing.assert_allclose(record[schema.OBJECT_BBOX], ann['bbox'], atol=1e-3)
    assert record[schema.OBJECT_AREA] == pytest.approx(ann['area'], rel=1e-6)
    assert record['image'].shape == (384, 288, 3)
    np.testing.assert_allclose(record[schema.BOX_IN_CROP], [47.5, 63.5, 192, 256])


def _dot_image(image, points, sigma, amplitude=170.0):
  """The image darkened, plus a Gaussian dot at each sub-pixel point (no clipping)."""
  h, w = image.shape[:2]
  ys, xs = np.mgrid[:h, :w].astype(np.float64)
  dots = np.zeros((h, w))
  for x, y in points:
    dots += amplitude * np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2))
  return np.clip(image * 0.25 + dots[:, :, None], 0, 255).round().astype(np.uint8)


def _check_dots(plain, dotted, annotated, sigma, tolerance=0.5):
  """Centroid of each dot in (dotted - plain) crop, mapped back, vs. the annotation.

  The centroid is taken over a disc of radius 3.5 sigma; dots closer than 10 sigma to another,
  or 3.5 sigma to the image border, are left out (a neighbour's tail or the frame would bias it).
  """
  checked = 0
  for rp, rd in zip(plain, dotted):
    diff = rd['image'].astype(np.float64).mean(-1) - rp['image'].astype(np.float64).mean(-1)
    a = rd[schema.CROP_TO_ORIGINAL].astype(np.float64)
    scale = 1.0 / a[0, 0]
    truth = annotated[rd[schema.ORIGINAL_PATH].decode()]
    crop_pts = apply_affine(np.linalg.inv(np.vstack([a, [0, 0, 1]]))[:2], truth)
    radius_crop = 3.5 * sigma * scale
    radius = int(np.ceil(radius_crop)) + 1
    for i, (cx, cy) in enumerate(crop_pts):
      others = np.delete(truth, i, 0)
      if len(others) and np.min(np.linalg.norm(others - truth[i], axis=1)) < 10 * sigma:
        continue
      height, width = rd[schema.ORIGINAL_HEIGHT], rd[schema.ORIGINAL_WIDTH]
      tx, ty = truth[i]
      if min(tx, ty, width - 1 - tx, height - 1 - ty) < 3.5 * sigma:  # dot cut by the frame
        continue
      x0, y0, x1, y1 = int(cx) - radius, int(cy) - radius, int(cx) + radius + 1, \
          int(cy) + radius + 1
      if x0 < 0 or y0 < 0 or x1 > diff.shape[1] or y1 > diff.shape[0]:
        continue
      ys, xs = np.mgrid[y0:y1, x0:x1]
      disc = (xs - cx) ** 2 + (ys - cy) ** 2 <= radius_crop ** 2
      window = np.clip(diff[y0:y1, x0:x1], 0, None) * disc
      centroid = np.array([(window * xs).sum(), (window * ys).sum()]) / window.sum()
      back = apply_affine(a, centroid)
      assert np.linalg.norm(back - truth[i]) < tolerance, (rd[schema.ORIGINAL_PATH], i, back, truth[i])
      checked += 1
  return checked


def test_dot_test_openfield_upscaled(shared_data, tmp_path):
  """DeepLabCut frames (crops enlarge the image ~2x): dots found within 0.1 px (the issue asks
  0.5; a half-pixel slip in the crop would move them by ~0.3 px here)."""
  src = os.path.join(shared_data, 'openfield')
  rows = list(csv.reader(open(os.path.join(src, 'CollectedData_Pranav.csv'))))
  header, body = rows[:3], rows[3:8]
  annotated = {}
  for variant in ('plain', 'dotted'):
    folder = tmp_path / variant
    (folder / 'images').mkdir(parents=True)
    for row in body:
      name = os.path.basename(row[0])
      pts = np.array(row[1:], np.float64).reshape(-1, 2)
      image = cv2.imread(os.path.join(src, 'images', name))
      out = _dot_image(image, pts, 1.0, 170.0 if variant == 'dotted' else 0.0)
      cv2.imwrite(str(folder / 'images' / name), out)
      annotated[f'images/{name}'] = pts
    with open(folder / 'CollectedData_x.csv', 'w', newline='') as f:
      csv.writer(f).writerows(header + body)
  manifests = [make_records(MakeRecordsConfig(
      source='deeplabcut', dataset_path=str(tmp_path / v), output_dir=str(tmp_path / f'r_{v}'),
      input_shape=(256, 256), val_fraction=0.0, image_format='png', num_workers=1,
      shuffle=False, progress=False)) for v in ('plain', 'dotted')]
  assert 1.0 / read_records(manifests[0], "train")[0][schema.CROP_TO_ORIGINAL][0, 0] > 1.2
  checked = _check_dots(read_records(manifests[0], 'train'), read_records(manifests[1], 'train'),
                        annotated, sigma=1.0, tolerance=0.1)  # measured: 0.014 max
  assert checked >= 10


def test_dot_test_mpii_reduced(shared_data, tmp_path):
  """MPII people (crops shrink the image ~3x through the area path): within 0.5 px."""
  src = os.path.join(shared_data, 'mpii_sample')
  records = json.load(open(os.path.join(src, 'annotations.json')))
  annotated = {}
  for variant in ('plain', 'dotted'):
    folder = tmp_path / variant
    (folder / 'images').mkdir(parents=True)
    for rec in records:
      pts = np.array(rec['joint_self'], np.float64)
      pts = pts[pts[:, 2] > 0, :2]
      image = cv2.imread(os.path.join(src, 'images', rec['img_paths']))
      out = _dot_image(image, pts, 6.0, 170.0 if variant == 'dotted' else 0.0)
      cv2.imwrite(str(folder / 'images' / (rec['img_paths'][:-4] + '.png')), out)
      annotated[f'images/{rec["img_paths"][:-4]}.png'] = pts
    with open(folder / 'annotations.json', 'w') as f:
      json.dump([dict(r, img_paths=r['img_paths'][:-4] + '.png') for r in records], f)
  manifests = [make_records(MakeRecordsConfig(
      source='mpii', dataset_path=str(tmp_path / v), output_dir=str(tmp_path / f'r_{v}'),
      input_shape=(256, 256), image_format='png', num_workers=1, progress=False))
      for v in ('plain', 'dotted')]
  plain, dotted = read_records(manifests[0], 'val'), read_records(manifests[1], 'val')
  # Really reduced (through the area path), with dots of ~2 crop pixels sigma: smaller dots
  # are undersampled and their centroids move by sampling alone.
  assert sum(r[schema.CROP_TO_ORIGINAL][0, 0] >= 2.0 for r in plain) >= 3
  assert _check_dots(plain, dotted, annotated, sigma=6.0) >= 15
