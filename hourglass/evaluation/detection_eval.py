"""COCO keypoint AP from person detector boxes (the top-down protocol of mmpose/HRNet).

Each detector box (COCO detection results format: image_id, category_id, bbox, score) is
enlarged by the records' box margin, grown to the model aspect and cropped from the original
image; the predicted pose is scored box score x mean confidence of its keypoints above 0.2
(mmpose's rescoring), then poses are OKS-NMSed per image (threshold 0.9) and scored by COCOeval.
The eval dataset supplies the images to evaluate (image_id -> path) and, when no annotation file
is given, the ground truth.
"""

import logging
import os
import time

import cv2
import numpy as np

from core import files, geometry
from core.errors import UserInputError
from core.progress import Progress
from hourglass.evaluation import evaluator, report
from hourglass.inference import box_files
from hourglass.keypoints import metrics


def load_detections(path, category_id=1, score_threshold=0.0):
  """COCO detection results json -> {image_id: [(bbox [4], score)]} (boxes of positive size)."""
  out = {}
  for image_id, bbox, score in box_files.coco_results(
      files.read_json(path, 'the detections json'), path, category_id):
    if score >= score_threshold and bbox[2] > 0 and bbox[3] > 0:
      out.setdefault(image_id, []).append((bbox, score))
  return out


def _images(dataset):
  """image_id -> relative path, from the eval dataset's records."""
  paths = {}
  for batch in dataset:
    for image_id, path in zip(batch['image_id'].numpy(), batch['path'].numpy()):
      paths[int(image_id)] = path.decode('utf-8')
  return paths


def predict_detections(predictor, detections, image_paths, dataset_root, config, box_scale):
  """Poses for every detection on the evaluated images.

  Returns:
    list of (image_id, keypoints [K, 2] original px, scores [K], box score, box area).
  """
  shape = predictor.input_shape
  poses = []
  for image_id, rel_path in sorted(image_paths.items()):
    boxes = detections.get(image_id, [])
    if not boxes:
      continue
    path = os.path.join(dataset_root, rel_path)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
      raise UserInputError(f'{path}: cannot read the original image for detection crops')
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    matrices = [geometry.input_to_image(b, shape, box_scale) for b, _ in boxes]
    crops = np.stack([geometry.warp(rgb, m, shape) for m in matrices])
    keypoints, scores = predictor.predict(crops, config.decoder, config.flip_test)
    for (box, box_score), m, kp, sc in zip(boxes, matrices, keypoints, scores):
      original = geometry.apply_affine(m, kp)
      # The input region's area in original pixels (mmpose uses its padded box for OKS NMS).
      area = float(abs(np.linalg.det(m[:, :2]))) * shape[0] * shape[1]
      poses.append((image_id, original, sc, box_score, area))
  return poses


def rescore_and_nms(poses, sigmas, keypoint_threshold=0.2, nms_threshold=0.9):
  """mmpose's rescoring, then OKS NMS per image. Returns COCO result dicts."""
  results = []
  by_image = {}
  for pose in poses:
    by_image.setdefault(pose[0], []).append(pose)
  for image_id, group in by_image.items():
    scores = metrics.rescore([p[3] for p in group], np.stack([p[2] for p in group]),
                             keypoint_threshold)
    keep = metrics.oks_nms(np.stack([p[1] for p in group]), scores, [p[4] for p in group],
                           sigmas, nms_threshold)
    for i in keep:
      results.append(metrics.coco_result(image_id, group[i][1], group[i][2], scores[i]))
  return results


def evaluate_with_detections(predictor, dataset, detections_path, dataset_root, config,
                             score_threshold=0.0, box_scale=1.25):
  """COCO keypoint AP of a predictor on detector boxes; writes metrics and results json.

  Args:
    predictor: Predictor.
    dataset: the eval dataset (which images to evaluate, and the ground truth).
    detections_path: COCO detection results json.
    dataset_root: the folder the records' image paths are relative to.
    config: evaluator.EvalConfig (decoder, flip_test, output_dir, coco_ground_truth).
    score_threshold: detections under this score are ignored.
    box_scale: enlargement of detector boxes (the model's box margin, Predictor.box_margin).
  Returns:
    metrics dict with 'coco' and counts.
  """
  start = time.perf_counter()
  detections = load_detections(detections_path, score_threshold=score_threshold)
  return _evaluate_boxes(predictor, dataset, detections, detections_path, _images(dataset),
                         dataset_root, config, box_scale, start)


def detect_images(detector, image_paths, dataset_root):
  """{image_id: [(bbox [4], score)]}: the detector's boxes on each evaluated original image
  (hourglass.inference.detectors.Detector)."""
  out = {}
  progress = Progress(len(image_paths), 'detect', 'images')
  for image_id, rel_path in sorted(image_paths.items()):
    (boxes, scores), = detector.detect([_read_rgb(dataset_root, rel_path)])
    out[image_id] = [(list(box), float(score)) for box, score in zip(boxes, scores)]
    progress.update()
  progress.close()
  return out


def evaluate_with_detector(predictor, dataset, detector, dataset_root, config):
  """COCO keypoint AP of a predictor on the boxes a detector finds in the original images
  (crops enlarged by the detector's crop scale); as evaluate_with_detections otherwise, with
  the detector's name in 'detector'."""
  start = time.perf_counter()
  image_paths = _images(dataset)
  detections = detect_images(detector, image_paths, dataset_root)
  result = _evaluate_boxes(predictor, dataset, detections, detector.name, image_paths,
                           dataset_root, config, detector.crop_scale, start)
  result['boxes'] = 'detector'
  result['detector'] = result.pop('detections')
  return result


def _evaluate_boxes(predictor, dataset, detections, source, image_paths, dataset_root, config,
                    box_scale, start):
  """The result of evaluate_with_detections for detections {image_id: [(bbox, score)]} from
  `source` (a file or a detector)."""
  poses = predict_detections(predictor, detections, image_paths, dataset_root, config, box_scale)
  if not poses:
    raise UserInputError(f'{source}: no detection on any of the {len(image_paths)} '
                         f'evaluated images (image ids {sorted(image_paths)[:5]}...)')
  definition = predictor.definition
  results = rescore_and_nms(poses, definition.oks_sigmas(), config.coco_keypoint_threshold)
  if config.coco_ground_truth:
    gt, image_ids = config.coco_ground_truth, list(image_paths)
  else:
    gt = evaluator.coco_ground_truth(evaluator.collect_ground_truth(dataset), definition.names)
    image_ids = None
  coco = metrics.coco_keypoint_ap(gt, results, definition.oks_sigmas(), image_ids=image_ids)
  coco.pop('summary', None)
  coco['ground_truth'] = config.coco_ground_truth or 'records'
  result = {'model': predictor.name, 'decoder': config.decoder,
            **evaluator.flip_test_entries(predictor, config), 'boxes': 'detections',
            'detections': source,
            'num_detections': len(poses), 'num_results_after_nms': len(results),
            'num_images': len(image_paths), 'coco': coco,
            'seconds': time.perf_counter() - start}
  if config.output_dir:
    os.makedirs(config.output_dir, exist_ok=True)
    report.write_json(os.path.join(config.output_dir, report.METRICS_FILE), result)
    report.write_json(os.path.join(config.output_dir, report.RESULTS_FILE), results)
  logging.info('detection eval: %d poses, %d after NMS', len(poses), len(results))
  return result


def _read_rgb(dataset_root, rel_path):
  path = os.path.join(dataset_root, rel_path)
  bgr = cv2.imread(path, cv2.IMREAD_COLOR)
  if bgr is None:
    raise UserInputError(f'{path}: cannot read the original image for whole-frame eval')
  return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def collect_whole_frame(predictor, dataset, dataset_root, config, search=None):
  """Like evaluator.collect_predictions, but each object's input is its WHOLE original image, not
  its record box.

  Args:
    search: a FrameSearch (hourglass.inference.search) that finds the object in each whole
      image; the predictions are then mapped into the record box's input, so that PCK is
      normalised exactly as with the record box. None: the image letterboxed to the model input
      in one pass, with the ground truth mapped into that input (PCK in its heatmap pixels).
  Returns:
    the dict evaluator.compute_metrics takes.
  """
  truth = evaluator.collect_ground_truth(dataset, with_extra=True)
  shape = predictor.input_shape
  paths = [p.decode('utf-8') for p in truth['path']]
  unique = sorted(set(paths))
  progress = Progress(len(unique), 'whole-frame eval', 'images')
  by_path, seconds = {}, 0.0
  for rel_path in unique:
    rgb = _read_rgb(dataset_root, rel_path)
    start = time.perf_counter()
    if search is not None:  # single-object: one search per image, for every object in it
      found = search.find(rgb)
      by_path[rel_path] = (found.keypoints, found.scores, None)
    else:
      m = geometry.letterbox_input_to_image(rgb.shape, shape)
      kp, sc = predictor.predict(geometry.warp(rgb, m, shape)[None], config.decoder,
                                 config.flip_test)
      by_path[rel_path] = (geometry.apply_affine(m, kp[0]), sc[0], m)
    seconds += time.perf_counter() - start
    progress.update()
  progress.close()
  truth['seconds'] = seconds
  truth['predicted_original'] = np.stack([by_path[p][0] for p in paths]).astype(np.float64)
  truth['scores'] = np.stack([by_path[p][1] for p in paths])
  if search is None:
    truth['input_to_original'] = np.stack([by_path[p][2] for p in paths])
  else:
    truth['input_to_original'] = truth['record_input_to_original']
    truth['keypoints'] = truth['record_keypoints']
  matrices = truth['input_to_original']
  inverse = np.linalg.inv(np.concatenate([matrices, np.tile([[[0.0, 0.0, 1.0]]],
                                                            (len(matrices), 1, 1))], 1))[:, :2]
  truth['predicted'] = geometry.apply_affine(inverse, truth['predicted_original'])
  if search is None:
    truth['keypoints'] = geometry.apply_affine(inverse, truth['original_keypoints'])
  return truth


WHOLE_FRAME_BOXES = {'frame': 'whole frame (searched, refined on the found keypoints)',
                     'letterbox': 'whole frame (letterboxed, one pass)'}


def evaluate_whole_frame(predictor, dataset, dataset_root, config, mode='frame', search=None):
  """Metrics (PCK, PCKh, mean error, COCO AP) with whole frames as the input.

  Args:
    mode: 'frame' (the whole-frame search: PCK normalised as with the record box) or
      'letterbox' (one pass on the letterboxed frame).
    search: the FrameSearch for mode 'frame' (None: one with default settings).
  """
  if mode == 'frame' and search is None:
    # pylint: disable-next=g-import-not-at-top
    from hourglass.inference.config import SearchConfig
    from hourglass.inference.search import FrameSearch  # pylint: disable=g-import-not-at-top
    search = FrameSearch(predictor, SearchConfig(decoder=config.decoder,
                                                 flip_test=config.flip_test))
  collected = collect_whole_frame(predictor, dataset, dataset_root, config,
                                  search if mode == 'frame' else None)
  result, results = evaluator.compute_metrics(collected, predictor.definition, predictor.codec,
                                              config)
  result.update({'model': predictor.name, 'decoder': config.decoder,
                 **evaluator.flip_test_entries(predictor, config),
                 'boxes': WHOLE_FRAME_BOXES[mode],
                 'images_per_second': collected['count'] / max(collected['seconds'], 1e-9)})
  if search is not None and mode == 'frame':
    result['search_crops_per_image'] = search.crops_run / max(1, len(set(collected['path'])))
  if config.output_dir:
    report.write_reports(config.output_dir, result, results, predictor.definition)
  return result
