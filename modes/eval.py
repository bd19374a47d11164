"""--mode=eval: score a trained model on the val records (PCK, PCKh, COCO AP) and write reports.

    python main.py --mode=eval --model_path=runs/m --records_dir=records/coco \
        [--decoder=dark] [--flip_test] [--score_threshold=0.5] [--save_result] \
        [--detections=person_detections.json] [--output_dir=runs/m/eval]
"""

import dataclasses
import logging
import os

from flags.common import save_resolved_flags
from hourglass.evaluation import evaluator
from hourglass.evaluation import report
from hourglass.inference.loading import load_predictor
from modes.configs import announce_flip_test
from core.errors import UserInputError
from records.reader import load_manifest


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


def eval_config(flag_values, output_dir, coco_ground_truth=None):
  return evaluator.EvalConfig(
      decoder=flag_values.decoder, flip_test=flag_values.flip_test,
      pck_threshold=flag_values.score_threshold, output_dir=output_dir,
      save_result=flag_values.save_result, conf_threshold=flag_values.conf_threshold,
      pcutoff=flag_values.pcutoff, coco_ground_truth=coco_ground_truth)


def build_dataset(records_dir, codec, batch_size, split):
  """The eval dataset of a records split for a model with this HeatmapCodec (eval and export)."""
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  from pipelines.dataset import build_eval_dataset  # pylint: disable=g-import-not-at-top
  config = PipelineConfig(input_shape=codec.input_size, stride=codec.stride, sigma=codec.sigma,
                          batch_size=batch_size, augment=False)
  return build_eval_dataset(records_dir, config, split=split)


def training_error(predictor, flag_values, manifest, config):
  """The record-box figures of the first --train_error_examples training examples, or None.

  DeepLabCut reports the training error beside the test error: a large gap is overfitting, a
  large training error is underfitting. Returns a dict for metrics.json['train'].
  """
  limit = min(flag_values.train_error_examples, manifest.count('train'))
  if limit <= 0 or flag_values.eval_split == 'train':
    return None
  dataset = build_dataset(flag_values.records_dir, predictor.codec, flag_values.batch_size,
                          'train').unbatch().take(limit).batch(flag_values.batch_size)
  result = evaluator.evaluate(predictor, dataset, dataclasses.replace(
      config, output_dir=None, save_result=False))
  return {'split': 'train', 'num_objects': result['num_objects'],
          'mean_error_px': result['mean_error_px'], 'pck': result['pck']['total'],
          'pck_threshold': result['pck']['threshold'], 'confident': result['confident']}


def run(flag_values):
  if not flag_values.records_dir:
    raise UserInputError('--mode=eval needs --records_dir (the records to evaluate on)')
  manifest = load_manifest(flag_values.records_dir)
  split = flag_values.eval_split
  if split not in manifest.raw.get('splits', {}) or manifest.count(split) == 0:
    raise UserInputError(f'{flag_values.records_dir}: the records have no {split!r} examples '
                         f'to evaluate (--eval_split)')
  predictor = load_predictor(flag_values.model_path, batch_size=flag_values.batch_size,
                             num_threads=flag_values.num_threads)
  check_definitions(predictor.definition, manifest.definition, flag_values.model_path,
                    flag_values.records_dir)
  announce_flip_test(flag_values, predictor)
  output_dir = flag_values.output_dir or default_output_dir(flag_values.model_path)
  save_resolved_flags(flag_values, output_dir)
  config = eval_config(flag_values, output_dir, coco_annotation_file(manifest))
  dataset = build_dataset(flag_values.records_dir, predictor.codec, flag_values.batch_size, split)
  if flag_values.detections:
    from hourglass.evaluation import detection_eval  # pylint: disable=g-import-not-at-top
    # Detector boxes are enlarged by the margin the model was trained with (its bundle's).
    result = detection_eval.evaluate_with_detections(
        predictor, dataset, flag_values.detections, _dataset_root(manifest), config,
        flag_values.detection_score_threshold, predictor.box_margin)
  elif flag_values.eval_box in ('frame', 'letterbox'):
    from hourglass.evaluation import detection_eval  # pylint: disable=g-import-not-at-top
    result = detection_eval.evaluate_whole_frame(predictor, dataset, _dataset_root(manifest),
                                                 config, flag_values.eval_box)
  else:
    train = training_error(predictor, flag_values, manifest, config)
    result = evaluator.evaluate(predictor, dataset, config, {'train': train} if train else None)
  print(report.format_summary(result))
  print(f'reports written to {output_dir}')
  logging.info('eval done: %s', output_dir)
  return result


def coco_annotation_file(manifest):
  """The COCO annotation file the records came from, to score AP against the official ground
  truth (crowd regions and unannotated people included); None when the source is not COCO, the
  records came from several files, or the file is not here (then the records are the truth)."""
  settings = manifest.raw.get('settings', {}) or {}
  path = settings.get('annotation_path')
  overridden = settings.get('classes_path')  # another keypoint set than the file's
  if (manifest.source != 'coco' or overridden or not path or ',' in path or
      not os.path.isfile(path)):
    return None
  return path


def _dataset_root(manifest):
  """The dataset folder the records were made from (original images for detection crops)."""
  settings = manifest.raw.get('settings', {}) or {}
  root = settings.get('dataset_path')
  if not root or not os.path.isdir(root):
    raise UserInputError(f'{manifest.records_dir}: --detections and --eval_box=frame|letterbox '
                         f'need the original images, but '
                         f'the manifest\'s settings.dataset_path ({root!r}) is not a folder here')
  return root
