"""Metrics against hand-computed cases and against pycocotools called directly."""

import copy
import json
import os

import numpy as np
import pytest

from hourglass.keypoints import metrics
from records.keypoint_definition import builtin_definition


def test_pck_seed_normalisation_is_strict_and_uses_mean_heatmap_side():
  # 64x64 heatmap: normalize 6.4, threshold 0.5 -> correct below 3.2 heatmap pixels.
  errors = np.array([[3.19, 3.2, 0.0], [10.0, 0.5, 99.0]])
  mask = np.array([[True, True, True], [True, True, False]])
  result = metrics.pck(errors, mask, (64, 64), 0.5)
  np.testing.assert_allclose(result['per_joint'], [0.5, 0.5, 1.0])
  assert result['total'] == pytest.approx(3 / 5)
  # 64x48: normalize (64 + 48) / 2 / 10 = 5.6 -> correct below 2.8.
  result = metrics.pck(np.array([[2.79, 2.81]]), np.ones((1, 2), bool), (64, 48), 0.5)
  np.testing.assert_allclose(result['per_joint'], [1.0, 0.0])
  # A joint never labelled is NaN, not 0.
  result = metrics.pck(np.zeros((2, 2)), np.array([[True, False], [True, False]]), (64, 64))
  assert np.isnan(result['per_joint'][1]) and result['total'] == 1.0


def test_pck_curve_and_auc():
  # Errors 0, 3.2, 6.4 (normalised 0, 0.5, 1.0) over thresholds [0, 1].
  errors = np.array([[0.0, 3.2, 6.4]])
  thresholds, values, auc = metrics.pck_curve(errors, np.ones((1, 3), bool), (64, 64),
                                              np.linspace(0, 1, 101))
  assert values[0] == 0.0  # strict: error 0 is not < 0
  assert values[1] == pytest.approx(1 / 3) and values[-1] == pytest.approx(2 / 3)
  # Exact area of the step function: 1/3 on (0, 0.5], 2/3 on (0.5, 1]; trapezoids smear two
  # steps over 0.01 each.
  assert auc == pytest.approx(0.5, abs=0.01)
  assert len(thresholds) == 101


def test_mean_error():
  pred = np.array([[[3.0, 4.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 2.0]]])
  true = np.zeros((2, 2, 2))
  mask = np.array([[True, False], [False, True]])
  total, per_joint = metrics.mean_error(pred, true, mask)
  assert total == pytest.approx(3.5)
  np.testing.assert_allclose(per_joint, [5.0, 2.0])


def _offset(n, k, dx, dy):
  out = np.zeros((n, k, 2))
  out[:, :, 0], out[:, :, 1] = dx, dy
  return out


def test_pckh_hand_computed_with_known_head_boxes():
  names = builtin_definition('mpii').names
  idx = {n: i for i, n in enumerate(names)}
  k = len(names)
  true = np.random.RandomState(0).uniform(0, 200, (2, k, 2))
  err = np.zeros((2, k))  # errors along x, in original pixels
  # Object 0: head box 30 x 40 -> diagonal 50 -> head size 30; @0.5 -> 15 px, @0.1 -> 3 px.
  err[0, idx['head_top']] = 14.9
  err[0, idx['left_shoulder']] = 15.0   # == threshold counts as correct (MPII's <=)
  err[0, idx['right_shoulder']] = 15.1
  err[0, idx['pelvis']] = 100.0         # wrong, but pelvis is not in the mean
  # Object 1: head box 60 x 80 -> diagonal 100 -> head size 60; @0.5 -> 30 px, @0.1 -> 6 px.
  err[1, idx['head_top']] = 31.0
  err[1, idx['left_wrist']] = 5.0
  mask = np.ones((2, k), bool)
  mask[0, idx['thorax']] = False
  pred = true + np.stack([err, np.zeros_like(err)], axis=-1)
  headboxes = np.array([[10, 20, 40, 60], [0, 0, 60, 80]], float)
  out = metrics.pckh(pred, true, mask, headboxes, names)
  g5, g1 = out[0.5]['groups'], out[0.1]['groups']
  assert g5['Head'] == pytest.approx(50.0)
  assert g5['Shoulder'] == pytest.approx((100.0 + 50.0) / 2)
  assert g5['Wrist'] == pytest.approx(100.0)
  assert g5['Hip'] == g5['Knee'] == g5['Ankle'] == g5['Elbow'] == pytest.approx(100.0)
  # 14 in-mean joints per object; wrong: right_shoulder (0), head_top (1).
  assert g5['Mean'] == pytest.approx(100.0 * 26 / 28)
  assert out[0.5]['per_joint']['pelvis'] == pytest.approx(50.0)
  assert out[0.5]['per_joint']['thorax'] == pytest.approx(100.0)  # only object 1's, exact
  # @0.1: object 0 loses head_top, both shoulders; object 1 loses head_top (wrist 5 <= 6 is ok).
  assert g1['Mean'] == pytest.approx(100.0 * (11 + 13) / 28)
  assert g1['Shoulder'] == pytest.approx(50.0)
  assert g1['Wrist'] == pytest.approx(100.0)
  assert set(g5) == {'Head', 'Shoulder', 'Elbow', 'Wrist', 'Hip', 'Knee', 'Ankle', 'Mean'}


def test_rescore_and_oks_nms():
  scores = metrics.rescore([0.9, 0.5, 1.0], [[0.1, 0.3, 0.5], [0.1, 0.2, 0.0], [1.0, 1.0, 1.0]])
  np.testing.assert_allclose(scores, [0.9 * 0.4, 0.0, 1.0])
  sigmas = [0.05, 0.05, 0.05]
  base = np.array([[10.0, 10.0], [50.0, 50.0], [90.0, 20.0]])
  poses = np.stack([base, base + 0.5, base + 40.0, base + 1.0])
  keep = metrics.oks_nms(poses, [0.8, 0.9, 0.7, 0.1], [5000.0] * 4, sigmas, 0.9)
  assert keep == [1, 2]  # 0 and 3 are near-duplicates of 1
  # OKS of identical poses is 1, and falls with distance.
  o = metrics.oks(base, np.stack([base, base + 10.0]), 5000.0, [5000.0, 5000.0], sigmas)
  assert o[0] == pytest.approx(1.0) and o[1] < 0.5


def _coco_files(shared_data, tmp_path, noise, seed=0):
  gt_path = os.path.join(shared_data, 'coco_sample', 'person_keypoints_sample.json')
  with open(gt_path) as f:
    gt = json.load(f)
  rng = np.random.RandomState(seed)
  results = []
  for ann in gt['annotations']:
    if ann['num_keypoints'] == 0:
      continue
    kp = np.array(ann['keypoints'], float).reshape(-1, 3)
    xy = kp[:, :2] + rng.normal(0, noise, (len(kp), 2))
    results.append(metrics.coco_result(ann['image_id'], xy, rng.uniform(0.5, 1, len(kp)),
                                       rng.uniform(0.5, 1)))
  res_path = str(tmp_path / 'results.json')
  with open(res_path, 'w') as f:
    json.dump(results, f)
  return gt, gt_path, results, res_path


def _pycocotools_direct(gt_path, res_path, sigmas=None):
  from pycocotools.coco import COCO
  from pycocotools.cocoeval import COCOeval
  gt = COCO(gt_path)
  evaluator = COCOeval(gt, gt.loadRes(res_path), iouType='keypoints')
  if sigmas is not None:
    evaluator.params.kpt_oks_sigmas = np.asarray(sigmas)
  evaluator.evaluate()
  evaluator.accumulate()
  evaluator.summarize()
  return evaluator.stats


def test_coco_ap_matches_pycocotools_called_directly(shared_data, tmp_path):
  gt, gt_path, results, res_path = _coco_files(shared_data, tmp_path, noise=6.0)
  sigmas = builtin_definition('coco').oks_sigmas()
  ours = metrics.coco_keypoint_ap(gt_path, res_path, sigmas)
  direct = _pycocotools_direct(gt_path, res_path)  # pycocotools' own built-in COCO sigmas
  np.testing.assert_allclose([ours[k] for k in metrics.COCO_STAT_NAMES], direct, atol=1e-12)
  assert 0.05 < ours['AP'] < 0.99  # the noise makes it a non-trivial number
  # The in-memory path (ground truth dict, results list) gives the same figures.
  in_memory = metrics.coco_keypoint_ap(copy.deepcopy(gt), results, sigmas)
  assert in_memory['AP'] == pytest.approx(ours['AP'], abs=1e-12)
  # Custom sigmas are really passed: wider sigmas forgive the noise, and match pycocotools.
  wide = [2.0 * s for s in sigmas]
  ours_wide = metrics.coco_keypoint_ap(gt_path, res_path, wide)
  direct_wide = _pycocotools_direct(gt_path, res_path, wide)
  assert ours_wide['AP'] == pytest.approx(direct_wide[0], abs=1e-12)
  assert ours_wide['AP'] > ours['AP']


def test_coco_ground_truth_from_records_matches_the_annotation_file(shared_data, tmp_path):
  gt, gt_path, results, res_path = _coco_files(shared_data, tmp_path, noise=4.0, seed=1)
  objects = []
  for ann in gt['annotations']:
    if ann['num_keypoints'] == 0:
      continue  # records skip objects without keypoints; COCOeval ignores them anyway
    kp = np.array(ann['keypoints'], float).reshape(-1, 3)
    objects.append({'image_id': ann['image_id'], 'object_id': ann['id'], 'keypoints': kp[:, :2],
                    'visibility': kp[:, 2], 'bbox': ann['bbox'], 'area': ann['area']})
  built = metrics.coco_ground_truth(objects, builtin_definition('coco').names)
  sigmas = builtin_definition('coco').oks_sigmas()
  from_file = metrics.coco_keypoint_ap(gt_path, res_path, sigmas)
  from_records = metrics.coco_keypoint_ap(built, res_path, sigmas)
  for k in metrics.COCO_STAT_NAMES:
    assert from_records[k] == pytest.approx(from_file[k], abs=1e-12), k
