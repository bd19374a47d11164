"""Keypoint metrics: PCK (the seed's normalisation), MPII PCKh, mean error, COCO keypoint AP.

Pure numpy (and pycocotools for AP). Conventions:
- N objects, K keypoints; `mask` [N, K] bool marks the keypoints that count (labelled ones).
- PCK (seed-compatible): a keypoint is correct when
  error / normalize < threshold, error in heatmap pixels of the crop, normalize = mean heatmap
  side / 10 (6.4 for a 64x64 heatmap).
- PCKh (MPII): correct when error <= threshold x 0.6 x head-box diagonal, in original pixels
  (the `<=` of the MPII evaluation code). Head = head_top; each limb group is the mean of its left
  and right joint; Mean = over all labelled joints except pelvis and thorax (weighted by joint
  counts, as the MPII evaluation code and mmpose compute it).
- COCO AP: pycocotools COCOeval(iouType='keypoints') with the definition's per-keypoint sigmas.
- OKS: `coco_oks` is pycocotools' computeOks (the similarity AP matches by), for identity
  tracking's per-frame matching; `oks` is mmpose's variant (mean of both areas) for OKS NMS.
"""

import contextlib
import copy
import io

import numpy as np

# MPII PCKh report: group name -> joint names (standard MPII names as in configs/mpii_classes.txt).
PCKH_GROUPS = (
    ('Head', ('head_top',)),
    ('Shoulder', ('left_shoulder', 'right_shoulder')),
    ('Elbow', ('left_elbow', 'right_elbow')),
    ('Wrist', ('left_wrist', 'right_wrist')),
    ('Hip', ('left_hip', 'right_hip')),
    ('Knee', ('left_knee', 'right_knee')),
    ('Ankle', ('left_ankle', 'right_ankle')),
)
PCKH_EXCLUDED_FROM_MEAN = ('pelvis', 'thorax')
PCKH_HEAD_FACTOR = 0.6
DEFAULT_CURVE_THRESHOLDS = np.linspace(0.0, 1.0, 101)


def _ratio(correct, count):
  """Per-joint ratio, NaN where a joint has no labelled instance."""
  with np.errstate(invalid='ignore', divide='ignore'):
    return np.where(count > 0, correct / np.maximum(count, 1), np.nan)


def euclidean_errors(predicted, true):
  """[N, K, 2], [N, K, 2] -> [N, K] Euclidean distances (same units as the input)."""
  predicted = np.asarray(predicted, np.float64)
  true = np.asarray(true, np.float64)
  return np.sqrt(np.sum((predicted - true) ** 2, axis=-1))


def pck_normalize(heatmap_size):
  """The seed's PCK normaliser: mean of the heatmap's height and width, divided by 10."""
  return (float(heatmap_size[0]) + float(heatmap_size[1])) / 2.0 / 10.0


def pck_correct(errors_heatmap_px, mask, heatmap_size, threshold):
  """[N, K] bool: the labelled keypoints within threshold * pck_normalize(heatmap_size)."""
  errors = np.asarray(errors_heatmap_px, np.float64)
  return (errors / pck_normalize(heatmap_size) < threshold) & np.asarray(mask, bool)


def pck(errors_heatmap_px, mask, heatmap_size, threshold=0.5):
  """Percentage of correct keypoints with the seed's normalisation.

  Args:
    errors_heatmap_px: [N, K] errors in heatmap pixels of the crop.
    mask: [N, K] bool, the keypoints that count (labelled).
    heatmap_size: (h, w) of the model's heatmaps.
    threshold: correct when error / normalize < threshold.
  Returns:
    dict: 'per_joint' [K] (NaN for a joint never labelled), 'total' (correct / labelled over all
    joints, NaN when nothing is labelled), 'count' [K] labelled instances per joint.
  """
  mask = np.asarray(mask, bool)
  correct = pck_correct(errors_heatmap_px, mask, heatmap_size, threshold)
  count = mask.sum(axis=0)
  total = correct.sum() / count.sum() if count.sum() else float('nan')
  return {'per_joint': _ratio(correct.sum(axis=0), count), 'total': float(total),
          'count': count}


def pck_curve(errors_heatmap_px, mask, heatmap_size, thresholds=DEFAULT_CURVE_THRESHOLDS):
  """Total PCK over a range of thresholds, and the normalised area under that curve.

  Returns:
    (thresholds [T], pck [T], auc): auc is the trapezoidal area divided by the threshold range,
    so a perfect model scores 1.0.
  """
  thresholds = np.asarray(thresholds, np.float64)
  values = np.array([pck(errors_heatmap_px, mask, heatmap_size, t)['total'] for t in thresholds])
  span = thresholds[-1] - thresholds[0]
  area = np.sum((values[1:] + values[:-1]) / 2.0 * np.diff(thresholds))
  auc = float(area / span) if span > 0 else float(values[0])
  return thresholds, values, auc


def mean_error(predicted, true, mask):
  """Mean Euclidean error over the masked keypoints, total and per joint.

  Args:
    predicted, true: [N, K, 2] in the same coordinates (e.g. original image pixels).
    mask: [N, K] bool.
  Returns:
    (total float (NaN when nothing is masked), per_joint [K] with NaN for unlabelled joints).
  """
  errors = euclidean_errors(predicted, true)
  mask = np.asarray(mask, bool)
  per_joint = _ratio(np.where(mask, errors, 0.0).sum(axis=0), mask.sum(axis=0))
  total = float(errors[mask].mean()) if mask.any() else float('nan')
  return total, per_joint


def head_sizes(headboxes):
  """[N, 4] head boxes (x1, y1, x2, y2) -> [N] MPII head sizes: 0.6 x the box diagonal."""
  boxes = np.asarray(headboxes, np.float64).reshape(-1, 4)
  return PCKH_HEAD_FACTOR * np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


def pckh(predicted, true, mask, headboxes, names, thresholds=(0.5, 0.1)):
  """MPII PCKh in original image pixels.

  Args:
    predicted, true: [N, K, 2] original image pixels.
    mask: [N, K] bool, labelled keypoints (objects without a head box must be left out by the
      caller).
    headboxes: [N, 4] x1, y1, x2, y2.
    names: K keypoint names (groups are found by the standard MPII names; groups whose joints are
      missing from the definition are left out of the table).
    thresholds: PCKh thresholds to report.
  Returns:
    dict threshold -> {'per_joint': {name: %}, 'groups': {'Head': %, ..., 'Mean': %}},
    percentages (0-100), NaN for joints never labelled.
  """
  names = list(names)
  mask = np.asarray(mask, bool)
  sizes = head_sizes(headboxes)
  scaled = euclidean_errors(predicted, true) / np.maximum(sizes, 1e-12)[:, None]
  count = mask.sum(axis=0)
  in_mean = np.array([n not in PCKH_EXCLUDED_FROM_MEAN for n in names])
  out = {}
  for thr in thresholds:
    correct = ((scaled <= thr) & mask).sum(axis=0)
    per_joint = 100.0 * _ratio(correct, count)
    groups = {}
    for group, members in PCKH_GROUPS:
      if all(m in names for m in members):
        groups[group] = float(np.mean([per_joint[names.index(m)] for m in members]))
    used = count[in_mean].sum()
    groups['Mean'] = float(100.0 * correct[in_mean].sum() / used) if used else float('nan')
    out[float(thr)] = {'per_joint': {n: float(v) for n, v in zip(names, per_joint)},
                       'groups': groups}
  return out


def oks(reference, candidates, area_ref, area_candidates, sigmas):
  """Object keypoint similarity of one pose with several (mmpose's oks_iou, all keypoints).

  Args:
    reference: [K, 2]; candidates: [M, 2K or (M, K, 2)]; areas: scalar and [M]; sigmas: [K].
  Returns:
    [M] OKS values.
  """
  ref = np.asarray(reference, np.float64).reshape(-1, 2)
  cand = np.asarray(candidates, np.float64).reshape(len(area_candidates), -1, 2)
  variances = (2.0 * np.asarray(sigmas, np.float64)) ** 2
  d2 = np.sum((cand - ref[None]) ** 2, axis=-1)
  scale = (area_ref + np.asarray(area_candidates, np.float64)) / 2.0 + np.spacing(1)
  e = d2 / variances[None] / scale[:, None] / 2.0
  return np.mean(np.exp(-e), axis=1)


def coco_oks(a, b, visible, area, sigmas):
  """COCO object keypoint similarity, exactly pycocotools' COCOeval.computeOks where the truth has
  a visible point: e = d^2 / (2 sigma)^2 / (area + eps) / 2, mean of exp(-e) over visible points.

  Where the truth has no visible point, computeOks measures to an enlarged truth box; here the
  similarity is 0 (a creature with nothing visible is absent). A NaN predicted point scores 0.
  Broadcasts: pairwise [G, M] similarities with a[None], b[:, None], visible[:, None],
  area[:, None].

  Args:
    a: [..., K, 2] predicted points; b: [..., K, 2] truth points (same px as area).
    visible: [..., K] bool, the truth points that count.
    area: [...] truth object area (px^2, COCO's 'area').
    sigmas: [K] per-keypoint OKS sigmas.
  Returns:
    [...] float64 OKS in [0, 1].
  """
  d2 = np.sum((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2, axis=-1)
  variances = (2.0 * np.asarray(sigmas, np.float64)) ** 2
  scale = np.asarray(area, np.float64)[..., None] + np.spacing(1)
  e = d2 / variances / scale / 2.0
  visible = np.asarray(visible, bool)
  # isfinite: a NaN point (missing in the prediction) counts as infinitely far, not as NaN.
  similar = np.where(visible & np.isfinite(e), np.exp(-np.where(np.isfinite(e), e, 0.0)), 0.0)
  count = np.sum(visible, axis=-1)
  return np.where(count > 0, np.sum(similar, axis=-1) / np.maximum(count, 1), 0.0)


def oks_nms(keypoints, scores, areas, sigmas, threshold=0.9):
  """Greedy OKS non-maximum suppression of the poses of ONE image.

  Args:
    keypoints: [M, K, 2]; scores: [M]; areas: [M] (box areas); sigmas: [K].
    threshold: a pose is dropped when its OKS with a kept higher-scored pose exceeds this.
  Returns:
    indices of the kept poses, highest score first.
  """
  keypoints = np.asarray(keypoints, np.float64)
  areas = np.asarray(areas, np.float64)
  order = np.argsort(-np.asarray(scores, np.float64), kind='stable')
  keep = []
  while len(order):
    i = order[0]
    keep.append(int(i))
    rest = order[1:]
    if not len(rest):
      break
    overlap = oks(keypoints[i], keypoints[rest], areas[i], areas[rest], sigmas)
    order = rest[overlap <= threshold]
  return keep


def rescore(box_scores, keypoint_scores, keypoint_threshold=0.2):
  """mmpose's rescoring: box score x mean confidence of the keypoints above the threshold.

  Args:
    box_scores: [M]; keypoint_scores: [M, K].
  Returns:
    [M] instance scores (0 when no keypoint is above the threshold).
  """
  kp = np.asarray(keypoint_scores, np.float64)
  above = kp > keypoint_threshold
  mean = np.where(above.any(axis=1), np.where(above, kp, 0.0).sum(axis=1) /
                  np.maximum(above.sum(axis=1), 1), 0.0)
  return np.asarray(box_scores, np.float64) * mean


def coco_result(image_id, keypoints, keypoint_scores, score, category_id=1):
  """One entry of a COCO keypoint results json (official format) from [K, 2] and [K] arrays."""
  flat = []
  for (x, y), s in zip(np.asarray(keypoints, np.float64), np.asarray(keypoint_scores)):
    flat += [round(float(x), 3), round(float(y), 3), round(float(s), 5)]
  return {'image_id': int(image_id), 'category_id': int(category_id), 'keypoints': flat,
          'score': float(score)}


def coco_ground_truth(objects, names, category_id=1, category_name='object'):
  """A COCO keypoint ground-truth dict from per-object records.

  Args:
    objects: iterable of dicts with 'image_id', 'object_id', 'keypoints' [K, 2] (original px),
      'visibility' [K], 'bbox' [4] x, y, w, h, 'area'; optional 'width', 'height'.
    names: K keypoint names.
  Returns:
    dict in the COCO annotation format (images, annotations, categories).
  """
  images, annotations = {}, []
  for n, obj in enumerate(objects):
    vis = np.asarray(obj['visibility']).astype(int)
    flat = []
    for (x, y), v in zip(np.asarray(obj['keypoints'], np.float64), vis):
      flat += [float(x), float(y), int(v)] if v > 0 else [0.0, 0.0, 0]
    image_id = int(obj['image_id'])
    images.setdefault(image_id, {'id': image_id, 'width': int(obj.get('width', 0)),
                                 'height': int(obj.get('height', 0))})
    object_id = int(obj.get('object_id', -1))
    annotations.append({
        'id': object_id if object_id >= 0 else n + 1, 'image_id': image_id,
        'category_id': category_id, 'keypoints': flat, 'num_keypoints': int((vis > 0).sum()),
        'bbox': [float(v) for v in obj['bbox']], 'area': float(obj['area']), 'iscrowd': 0})
  ids = [a['id'] for a in annotations]
  # pycocotools takes annotation id 0 for 'unmatched': ids must be unique and positive.
  if len(set(ids)) != len(ids) or min(ids, default=1) < 1:
    for n, a in enumerate(annotations):
      a['id'] = n + 1
  return {'images': list(images.values()), 'annotations': annotations,
          'categories': [{'id': category_id, 'name': category_name, 'keypoints': list(names),
                          'skeleton': []}]}


COCO_STAT_NAMES = ('AP', 'AP50', 'AP75', 'APm', 'APl', 'AR', 'AR50', 'AR75', 'ARm', 'ARl')


def coco_keypoint_ap(ground_truth, results, sigmas, image_ids=None):
  """COCO keypoint AP through pycocotools with per-keypoint OKS sigmas.

  Args:
    ground_truth: a COCO annotation dict or the path of a COCO annotation json.
    results: list of result dicts (see `coco_result`) or the path of a results json.
    sigmas: [K] OKS sigmas of the keypoint definition.
    image_ids: evaluate on these images only (e.g. the val split of a larger annotation file);
      None for every image of the ground truth.
  Returns:
    dict COCO_STAT_NAMES -> value (AP in 0..1; -1 where pycocotools has nothing to average),
    plus 'summary': the text pycocotools prints.
  """
  from pycocotools.coco import COCO  # pylint: disable=g-import-not-at-top
  from pycocotools.cocoeval import COCOeval  # pylint: disable=g-import-not-at-top
  text = io.StringIO()
  with contextlib.redirect_stdout(text):
    if isinstance(ground_truth, str):
      gt = COCO(ground_truth)
    else:
      gt = COCO()
      gt.dataset = ground_truth
      gt.createIndex()
    if isinstance(results, list) and not results:
      return dict({k: 0.0 for k in COCO_STAT_NAMES}, summary='no results')
    # loadRes adds ids, areas and boxes to the result dicts in place: give it a copy.
    dt = gt.loadRes(copy.deepcopy(results) if isinstance(results, list) else results)
    evaluator = COCOeval(gt, dt, iouType='keypoints')
    evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
    if image_ids is not None:
      evaluator.params.imgIds = sorted(int(i) for i in set(image_ids))
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  out = {k: float(v) for k, v in zip(COCO_STAT_NAMES, evaluator.stats)}
  out['summary'] = text.getvalue()
  return out
