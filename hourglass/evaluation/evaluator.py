"""Evaluation: run a predictor over an eval dataset, decode, map to original pixels, score, report.

The dataset is built by the caller (pipelines.dataset.build_eval_dataset; hourglass never imports
pipelines). Its elements are dicts of batched tensors: 'image' uint8 [B, H, W, 3],
'keypoints' [B, K, 2] model-input px, 'visibility' [B, K], 'input_to_original' [B, 2, 3],
'original_keypoints' [B, K, 2], 'image_id', 'object_id' [B], 'bbox' [B, 4], 'area' [B],
'headbox' [B, 4], 'has_headbox' [B], 'path' [B].

Every object is cropped by its ground-truth box (the protocol of COCO and MPII evaluation), so
there is one prediction per record.
"""

import logging
import time

import numpy as np

from core.geometry import apply_affine
from hourglass.evaluation import report
from hourglass.evaluation.config import EvalConfig  # noqa: F401  (evaluate takes one)
from hourglass.keypoints import metrics

_KEYS = ('keypoints', 'visibility', 'input_to_original', 'original_keypoints', 'image_id',
         'object_id', 'bbox', 'area', 'headbox', 'has_headbox', 'path')

# Keypoint name tuples already warned about having no OKS sigmas file.
_WARNED_NO_SIGMAS = set()


def collect_predictions(predictor, dataset, config, overlays=None):
  """Runs the predictor batched over the dataset.

  Args:
    predictor: hourglass.inference.predictors.Predictor.
    dataset: eval tf.data.Dataset (see the module docstring).
    config: EvalConfig (decoder, flip_test).
    overlays: a list to append (crop uint8 [H, W, 3], true [K, 2], visibility [K], predicted
      [K, 2], scores [K]) to, for the first config.max_result_images objects; None for none.
  Returns:
    dict of numpy arrays concatenated over the dataset: the _KEYS of the records plus
    'predicted' [N, K, 2] model-input px, 'predicted_original' [N, K, 2], 'scores' [N, K],
    and 'seconds' (model + decode time) and 'count'.
  """
  parts = {k: [] for k in _KEYS + ('predicted', 'scores')}
  seconds = 0.0
  for batch in dataset:
    images = batch['image'].numpy()
    start = time.perf_counter()
    heatmaps = predictor.heatmaps(images, config.flip_test)
    predicted, scores = predictor.decode(heatmaps, config.decoder)
    seconds += time.perf_counter() - start
    for k in _KEYS:
      parts[k].append(batch[k].numpy())
    parts['predicted'].append(predicted)
    parts['scores'].append(scores)
    if overlays is not None:
      for i in range(len(images)):
        if len(overlays) >= config.max_result_images:
          break
        overlays.append((images[i], batch['keypoints'][i].numpy(),
                         batch['visibility'][i].numpy(), predicted[i], scores[i]))
  if not parts['predicted']:
    raise ValueError('the eval dataset is empty: no records to evaluate')
  out = {k: np.concatenate(v, axis=0) for k, v in parts.items()}
  out['predicted_original'] = apply_affine(out['input_to_original'], out['predicted'])
  out['seconds'] = seconds
  out['count'] = len(out['predicted'])
  return out


def collect_ground_truth(dataset, with_extra=False):
  """The records' ground truth only (no predictions): dict of numpy arrays plus 'count'.

  with_extra adds 'path', 'headbox', 'has_headbox', and the record box's input:
  'record_keypoints' [N, K, 2] (model-input px) and 'record_input_to_original' [N, 2, 3].
  """
  keys = ('image_id', 'object_id', 'original_keypoints', 'visibility', 'bbox', 'area')
  renamed = {'record_keypoints': 'keypoints', 'record_input_to_original': 'input_to_original'}
  if with_extra:
    keys += ('path', 'headbox', 'has_headbox') + tuple(renamed)
  parts = {k: [] for k in keys}
  for batch in dataset:
    for k in keys:
      parts[k].append(batch[renamed.get(k, k)].numpy())
  if not parts['image_id']:
    raise ValueError('the eval dataset is empty: no records to evaluate')
  out = {k: np.concatenate(v, axis=0) for k, v in parts.items()}
  out['count'] = len(out['image_id'])
  return out


def coco_results(collected, keypoint_threshold=0.2):
  """One COCO result per object: original-pixel keypoints, instance score = mmpose rescoring
  with a ground-truth box score of 1."""
  instance = metrics.rescore(np.ones(collected['count']), collected['scores'], keypoint_threshold)
  return [metrics.coco_result(collected['image_id'][n], collected['predicted_original'][n],
                              collected['scores'][n], instance[n])
          for n in range(collected['count'])]


def coco_ground_truth(collected, names):
  objects = [{'image_id': collected['image_id'][n], 'object_id': collected['object_id'][n],
              'keypoints': collected['original_keypoints'][n],
              'visibility': collected['visibility'][n], 'bbox': collected['bbox'][n],
              'area': collected['area'][n]} for n in range(collected['count'])]
  return metrics.coco_ground_truth(objects, names)


def compute_metrics(collected, definition, codec, config):
  """All metrics of the collected predictions (see hourglass/keypoints/metrics.py for definitions).

  Returns:
    (metrics dict ready for JSON, COCO results list).
  """
  names = list(definition.names)
  mask = collected['visibility'] > 0
  stride = codec.stride
  errors_hm = metrics.euclidean_errors(collected['predicted'], collected['keypoints']) / stride
  result = {'num_objects': int(collected['count']), 'num_labelled_keypoints': int(mask.sum())}
  pck = metrics.pck(errors_hm, mask, codec.heatmap_size, config.score_threshold)
  thresholds, curve, auc = metrics.pck_curve(errors_hm, mask, codec.heatmap_size,
                                             config.curve_thresholds)
  result['pck'] = {'threshold': config.score_threshold, 'total': pck['total'],
                   'per_joint': dict(zip(names, pck['per_joint'].tolist())),
                   'normalize_heatmap_px': metrics.pck_normalize(codec.heatmap_size)}
  result['pck_curve'] = {'thresholds': thresholds.tolist(), 'pck': curve.tolist(), 'auc': auc}
  total, per_joint = metrics.mean_error(collected['predicted_original'],
                                        collected['original_keypoints'], mask)
  result['mean_error_px'] = total
  result['mean_error_px_per_joint'] = dict(zip(names, per_joint.tolist()))
  confident = mask & (collected['scores'] >= config.pcutoff)
  result['confident'] = {
      'pcutoff': config.pcutoff,
      'mean_error_px': metrics.mean_error(collected['predicted_original'],
                                          collected['original_keypoints'], confident)[0],
      'fraction': float(confident.sum() / max(mask.sum(), 1))}
  has_head = collected['has_headbox'].astype(bool)
  if has_head.any():
    table = metrics.pckh(collected['predicted_original'][has_head],
                         collected['original_keypoints'][has_head], mask[has_head],
                         collected['headbox'][has_head], names, config.pckh_thresholds)
    result['pckh'] = {f'{t:g}': v for t, v in table.items()}
    result['pckh_num_objects'] = int(has_head.sum())
  results = coco_results(collected, config.coco_keypoint_threshold)
  if definition.sigmas is None and definition.names not in _WARNED_NO_SIGMAS:
    _WARNED_NO_SIGMAS.add(definition.names)  # once per process: export evaluates every format
    logging.warning('the keypoint definition has no OKS sigmas file: COCO AP uses the default '
                    'sigma %.4f for every keypoint and is comparable only within this project',
                    definition.oks_sigmas()[0])
  if config.coco_ground_truth:  # the source's annotation file, restricted to these images
    coco = metrics.coco_keypoint_ap(config.coco_ground_truth, results, definition.oks_sigmas(),
                                    image_ids=collected['image_id'])
  else:
    coco = metrics.coco_keypoint_ap(coco_ground_truth(collected, names), results,
                                    definition.oks_sigmas())
  coco.pop('summary', None)
  coco['sigmas'] = 'definition' if definition.sigmas is not None else 'default'
  coco['ground_truth'] = config.coco_ground_truth or 'records'
  result['coco'] = coco
  return result, results


def flip_test_entries(predictor, config):
  """The metrics' 'flip_test' entry: whether the flip test ran (asked for, and the model's
  records set supports horizontal flips), plus 'flip_test_off' (the reason) when asked for
  but off."""
  used = predictor.flip_test_used(config.flip_test)
  if config.flip_test and not used:
    return {'flip_test': False, 'flip_test_off': predictor.flip_reason}
  return {'flip_test': used}


def evaluate(predictor, dataset, config=None, extra=None):
  """Evaluates a predictor on an eval dataset and writes the reports.

  Args:
    predictor: hourglass.inference.predictors.Predictor.
    dataset: the eval tf.data.Dataset (pipelines.dataset.build_eval_dataset).
    config: EvalConfig.
    extra: more entries for the metrics dict (e.g. the training-set error), or None.
  Returns:
    the metrics dict (also written to `<output_dir>/metrics.json` when output_dir is set).
  """
  config = config or EvalConfig()
  overlays = [] if (config.save_result and config.output_dir) else None
  collected = collect_predictions(predictor, dataset, config, overlays)
  result, results = compute_metrics(collected, predictor.definition, predictor.codec, config)
  result.update({'model': predictor.name, 'decoder': config.decoder,
                 **flip_test_entries(predictor, config),
                 'images_per_second': collected['count'] / max(collected['seconds'], 1e-9)})
  result.update(extra or {})
  if config.output_dir:
    report.write_reports(config.output_dir, result, results, predictor.definition)
    if overlays:
      report.write_overlays(config.output_dir, overlays, predictor.definition,
                            config.conf_threshold)
  return result
