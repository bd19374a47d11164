"""Evaluating a model on a records split: record boxes (with the training error beside), the
whole frame, or detector boxes; what the manifest says about the original images and the COCO
ground truth."""

import dataclasses
import os

from core.errors import UserInputError
from hourglass.evaluation import evaluator, report
from records.reader import load_manifest
from workflows import datasets
from workflows.models import load_detector_for, load_model


def check_definitions(model_definition, records_definition, model_path, records_dir):
  """The model's keypoints must be the records' keypoints, in the same channel order."""
  if tuple(model_definition.names) != tuple(records_definition.names):
    raise UserInputError(
        f'{model_path}: the model predicts {list(model_definition.names)} but the records in '
        f'{records_dir} hold {list(records_definition.names)}; evaluate on records made with '
        f'the same keypoint definition')


def default_output_dir(model_path):
  """<model_dir>/eval for a model directory, else <file>_eval beside a model file."""
  path = os.path.normpath(model_path)
  if os.path.isdir(path) and not os.path.isfile(os.path.join(path, 'saved_model.pb')):
    return os.path.join(path, 'eval')
  return f'{os.path.splitext(path)[0]}_eval'


def coco_annotation_file(manifest):
  """The COCO annotation file the records came from, to score AP against the official ground
  truth (crowd regions and unannotated people included); None when the source is not COCO, the
  records came from several files, or the file is not here (then the records are the truth)."""
  path = manifest.annotation_path
  overridden = manifest.classes_path  # another keypoint set than the file's
  if (manifest.source != 'coco' or overridden or not path or ',' in path or
      not os.path.isfile(path)):
    return None
  return path


def dataset_root(manifest):
  """The dataset folder the records were made from (original images for detection crops)."""
  root = manifest.dataset_path
  if not root or not os.path.isdir(root):
    raise UserInputError(f'{manifest.records_dir}: --detections and --eval_box=frame|letterbox|'
                         f'detector need the original images, but '
                         f'the manifest\'s settings.dataset_path ({root!r}) is not a folder here')
  return root


def training_error(predictor, config, manifest, evaluation):
  """The record-box figures of the first config.train_error_examples training examples, or None.

  DeepLabCut reports the training error beside the test error: a large gap is overfitting, a
  large training error is underfitting. Returns a dict for metrics.json['train'].
  """
  limit = min(config.train_error_examples, manifest.count('train'))
  if limit <= 0 or config.eval_split == 'train':
    return None
  dataset = datasets.eval_dataset(config.records_dir, predictor.codec, config.batch_size,
                                  'train').unbatch().take(limit).batch(config.batch_size)
  result = evaluator.evaluate(predictor, dataset, dataclasses.replace(
      evaluation, output_dir=None, save_result=False))
  return {'split': 'train', 'num_objects': result['num_objects'],
          'mean_error_px': result['mean_error_px'], 'pck': result['pck']['total'],
          'pck_threshold': result['pck']['threshold'], 'confident': result['confident']}


def _score(predictor, config, manifest, evaluation):
  """The evaluator's result dict, by the boxes config.detections / config.eval_box choose."""
  dataset = datasets.eval_dataset(config.records_dir, predictor.codec, config.batch_size,
                                  config.eval_split)
  if config.detections:
    from hourglass.evaluation import detection_eval  # pylint: disable=g-import-not-at-top
    # Detector boxes are enlarged by the margin the model was trained with (its bundle's).
    return detection_eval.evaluate_with_detections(
        predictor, dataset, config.detections, dataset_root(manifest), evaluation,
        config.detection_score_threshold, predictor.box_margin)
  if config.eval_box == 'detector':
    return _score_with_detector(predictor, config, manifest, evaluation, dataset)
  if config.eval_box in ('frame', 'letterbox'):
    from hourglass.evaluation import detection_eval  # pylint: disable=g-import-not-at-top
    return detection_eval.evaluate_whole_frame(predictor, dataset, dataset_root(manifest),
                                               evaluation, config.eval_box)
  train = training_error(predictor, config, manifest, evaluation)
  return evaluator.evaluate(predictor, dataset, evaluation, {'train': train} if train else None)


def _score_with_detector(predictor, config, manifest, evaluation, dataset):
  """COCO keypoint AP with the detector's boxes, and beside it ('gt_box_coco') the AP of the
  same model with the record boxes (mmpose reports both)."""
  from hourglass.evaluation import detection_eval  # pylint: disable=g-import-not-at-top
  detector = load_detector_for(config.model_path, config.detector_path,
                               config.detection_score_threshold, config.max_objects,
                               config.num_threads, required=True)
  result = detection_eval.evaluate_with_detector(predictor, dataset, detector,
                                                 dataset_root(manifest), evaluation)
  record_boxes = evaluator.evaluate(predictor, dataset, dataclasses.replace(
      evaluation, output_dir=None, save_result=False))
  result['gt_box_coco'] = record_boxes.get('coco')
  if evaluation.output_dir:
    report.write_json(os.path.join(evaluation.output_dir, report.METRICS_FILE), result)
  return result


def run(config, log=print):
  """Evaluates config.model_path on config.eval_split of config.records_dir, writing the reports.

  Returns:
    (the evaluator's result dict, the folder of the reports).
  Raises:
    UserInputError: records without the split, or a model of other keypoints than the records.
  """
  manifest = load_manifest(config.records_dir)
  split = config.eval_split
  if split not in manifest.split_names or manifest.count(split) == 0:
    raise UserInputError(f'{config.records_dir}: the records have no {split!r} examples '
                         f'to evaluate (--eval_split)')
  predictor = load_model(config.model_path, config.batch_size, config.num_threads,
                         config.evaluation.flip_test, log)
  check_definitions(predictor.definition, manifest.definition, config.model_path,
                    config.records_dir)
  output_dir = config.output_dir or default_output_dir(config.model_path)
  if config.record_settings:
    config.record_settings(output_dir)
  evaluation = dataclasses.replace(config.evaluation, output_dir=output_dir,
                                   coco_ground_truth=coco_annotation_file(manifest))
  return _score(predictor, config, manifest, evaluation), output_dir


def summary(result, output_dir):
  """The lines printed after an evaluation: its figures and where the reports are."""
  return f'{report.format_summary(result)}\nreports written to {output_dir}'
