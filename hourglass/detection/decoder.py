"""Detector maps -> boxes (numpy; every backend's maps go through it), IoU, NMS, box AP.

Boxes are [x, y, w, h] (integer = pixel centre: the box centre is (x + w / 2, y + h / 2)).
"""

import contextlib
import io

import numpy as np

from hourglass.detection import MIN_PEAK, NMS_IOU, SCORE_THRESHOLD


def _peaks(heat, threshold):
  """(rows, cols) of the 3x3 local maxima of heat [h, w] at or above threshold."""
  padded = np.pad(heat, 1, constant_values=-np.inf)
  h, w = heat.shape
  neighbours = np.stack([padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                         for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx])
  return np.nonzero((heat >= neighbours.max(0)) & (heat >= threshold))


def _subpixel(log_heat, rows, cols):
  """Second-order step on the log of the centre map at each peak: exact for a Gaussian peak.
  Returns offsets [N, 2] (x, y) in heatmap px, each within +-0.5."""
  h, w = log_heat.shape
  offsets = np.zeros((len(rows), 2))
  for axis, (limit, step) in enumerate(((w, (0, 1)), (h, (1, 0)))):
    inner = ((cols if axis == 0 else rows) > 0) & ((cols if axis == 0 else rows) < limit - 1)
    r, c = rows[inner], cols[inner]
    before = log_heat[r - step[0], c - step[1]]
    after = log_heat[r + step[0], c + step[1]]
    curve = before - 2.0 * log_heat[r, c] + after
    with np.errstate(divide='ignore', invalid='ignore'):
      delta = np.where(curve < 0, 0.5 * (before - after) / curve, 0.0)
    offsets[inner, axis] = np.clip(np.nan_to_num(delta), -0.5, 0.5)
  return offsets


def decode(maps, stride, score_threshold=SCORE_THRESHOLD, max_objects=100, nms_iou=NMS_IOU):
  """The boxes of one frame's maps.

  Args:
    maps: float [h, w, 3]: centre heatmap, log width, log height (hourglass.detection).
    stride: model-input pixels per heatmap pixel.
    score_threshold: the lowest centre-map peak that is an object.
    max_objects: at most this many boxes, the highest scores first.
    nms_iou: a box overlapping a higher-scoring one by more than this is dropped.
  Returns:
    (boxes float64 [N, 4] x, y, w, h model-input px, scores float64 [N] in 0..1), best first.
  """
  maps = np.asarray(maps, np.float64)
  heat = maps[..., 0]
  rows, cols = _peaks(heat, max(score_threshold, MIN_PEAK))
  order = np.argsort(-heat[rows, cols], kind='stable')
  rows, cols = rows[order], cols[order]
  offsets = _subpixel(np.log(np.maximum(heat, MIN_PEAK * 1e-3)), rows, cols)
  centre = (np.stack([cols, rows], -1) + offsets) * stride + (stride - 1) / 2.0
  size = np.exp(np.clip(maps[rows, cols, 1:], -10.0, 10.0)) * stride
  boxes = np.concatenate([centre - size / 2.0, size], -1)
  scores = np.clip(heat[rows, cols], 0.0, 1.0)
  keep = nms(boxes, scores, nms_iou)[:max_objects]
  return boxes[keep], scores[keep]


def iou(a, b):
  """IoU matrix [N, M] of boxes a [N, 4] and b [M, 4] (x, y, w, h)."""
  a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
  low = np.maximum(a[:, None, :2], b[None, :, :2])
  high = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
  inter = np.prod(np.clip(high - low, 0.0, None), -1)
  union = np.prod(a[:, 2:], -1)[:, None] + np.prod(b[:, 2:], -1)[None] - inter
  return inter / np.maximum(union, 1e-12)


def nms(boxes, scores, threshold):
  """Indices of the boxes kept by greedy non-maximum suppression, highest score first."""
  order = list(np.argsort(-np.asarray(scores), kind='stable'))
  overlaps = iou(boxes, boxes)
  keep = []
  while order:
    best = order.pop(0)
    keep.append(best)
    order = [i for i in order if overlaps[best, i] <= threshold]
  return np.asarray(keep, np.int64)


def to_frame(boxes, input_to_frame):
  """Boxes [N, 4] in model-input px -> frame px through a uniform-scale affine [2, 3] (the
  letterbox): the centre moves through the map, the sides scale."""
  boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
  m = np.asarray(input_to_frame, np.float64)
  scale = np.sqrt(abs(np.linalg.det(m[:, :2])))
  centre = (boxes[:, :2] + boxes[:, 2:] / 2.0) @ m[:, :2].T + m[:, 2]
  size = boxes[:, 2:] * scale
  return np.concatenate([centre - size / 2.0, size], -1)


def box_ap(truth, detections):
  """COCO box AP (pycocotools, iouType 'bbox', every area) and recall at IoU 0.5.

  Args:
    truth: {image_id: boxes [N, 4]} ground truth, x, y, w, h.
    detections: {image_id: (boxes [M, 4], scores [M])}.
  Returns:
    {'ap': AP@[.5:.95], 'ap50': AP@0.5, 'objects', 'detections'}.
  """
  from pycocotools.coco import COCO  # pylint: disable=g-import-not-at-top
  from pycocotools.cocoeval import COCOeval  # pylint: disable=g-import-not-at-top
  images, annotations, results = [], [], []
  for image_id, boxes in truth.items():
    images.append({'id': int(image_id)})
    for box in np.asarray(boxes, np.float64).reshape(-1, 4):
      annotations.append({'id': len(annotations) + 1, 'image_id': int(image_id),
                          'category_id': 1, 'bbox': [float(v) for v in box],
                          'area': float(box[2] * box[3]), 'iscrowd': 0})
  for image_id, (boxes, scores) in detections.items():
    for box, score in zip(np.asarray(boxes).reshape(-1, 4), np.asarray(scores).reshape(-1)):
      results.append({'image_id': int(image_id), 'category_id': 1,
                      'bbox': [float(v) for v in box], 'score': float(score)})
  counts = {'objects': len(annotations), 'detections': len(results)}
  if not results or not annotations:
    return dict(counts, ap=0.0, ap50=0.0)
  with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO()
    gt.dataset = {'images': images, 'annotations': annotations,
                  'categories': [{'id': 1, 'name': 'object'}]}
    gt.createIndex()
    evaluation = COCOeval(gt, gt.loadRes(results), iouType='bbox')
    evaluation.params.maxDets = [1, 10, 100]
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
  return dict(counts, ap=max(0.0, float(evaluation.stats[0])),
              ap50=max(0.0, float(evaluation.stats[1])))


def recall(truth, detections, threshold):
  """The share of true boxes matched one to one by a detection at IoU >= threshold."""
  matched = total = 0
  for image_id, boxes in truth.items():
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    total += len(boxes)
    found, scores = detections.get(image_id, (np.zeros((0, 4)), np.zeros(0)))
    if not len(boxes) or not len(found):
      continue
    overlaps = iou(np.asarray(found)[np.argsort(-np.asarray(scores))], boxes)
    taken = np.zeros(len(boxes), bool)
    for row in overlaps:
      row = np.where(taken, -1.0, row)
      if row.max() >= threshold:
        taken[row.argmax()] = True
    matched += int(taken.sum())
  return matched / total if total else 0.0
