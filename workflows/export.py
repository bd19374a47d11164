"""Exporting a trained model's bundle to every asked format and proving each file: the check and
calibration images chosen from the records, the files written, the report."""

import dataclasses
import logging
import os

import numpy as np

from core.errors import UserInputError
from hourglass.detection import DETECTOR_DIR, is_detector
from hourglass.export import proof as proof_lib
from hourglass.export import proof_report, runner
from hourglass.inference import predictors
from hourglass.inference.detectors import find_detector
from hourglass.model import bundle as bundle_lib
from workflows import datasets


def bundle_dir(model_dir):
  """The bundle of a training model directory (its best model), or model_dir when it is one."""
  found = bundle_lib.find_bundle(model_dir)
  if found:
    return found
  raise UserInputError(f'--model_dir={model_dir}: no best_model/ bundle (model_info.json) in it; '
                       f'has training saved a best model yet?')


def check_inputs(codec, config):
  """(check images, their labelled keypoints bool [N, K] or None, eval dataset or None,
  calibration images or None) of an ExportRunConfig."""
  check, labelled, dataset = None, None, None
  if config.records_dir:
    check, labelled = datasets.split_crops(config.records_dir, 'val', codec,
                                           config.check_samples, labelled=True)
    if len(check):
      dataset = datasets.eval_dataset(config.records_dir, codec, config.batch_size, 'val')
  if check is None or not len(check):
    logging.warning('no val records (--records_dir): parity on random images, no PCK')
    rng = np.random.RandomState(config.seed)
    check = rng.randint(0, 256, (config.check_samples,) + tuple(codec.input_size) + (3,))
    check, labelled = check.astype(np.float32), None
  calibration = None
  if any(f.endswith('uint8') for f in config.export.formats):
    records = config.calibration_records or config.records_dir
    if not records:
      raise UserInputError('tflite_uint8 and mnn_uint8 need --calibration_records '
                           '(or --records_dir)')
    calibration = datasets.split_crops(records, config.calibration_split, codec,
                                       config.calibration_samples)
    if not len(calibration):
      calibration = datasets.split_crops(records, 'val', codec, config.calibration_samples)
  return check, labelled, dataset, calibration


def detector_inputs(codec, config):
  """check_inputs for a detector: the val frames letterboxed to its input (parity, and its
  eval dataset for box AP) and training frames for calibration, from config.records_dir."""
  from pipelines import detector_dataset  # pylint: disable=g-import-not-at-top
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  if not config.records_dir:
    raise UserInputError('exporting a detector needs --records_dir (its val frames prove each '
                         'file and calibrate the uint8 formats)')
  pipeline = PipelineConfig(input_shape=codec.input_size, batch_size=config.batch_size,
                            stride=codec.stride)

  def frames(split, count):
    dataset = detector_dataset.build_eval_dataset(config.records_dir, pipeline,
                                                  codec.input_size, split)
    images = np.concatenate([b['image'].numpy() for b in dataset.take(
        -(-count // config.batch_size))]).astype(np.float32)
    return images[:count]
  dataset = detector_dataset.build_eval_dataset(config.records_dir, pipeline, codec.input_size)
  calibration = None
  if any(f.endswith('uint8') for f in config.export.formats):
    calibration = frames('train', config.calibration_samples)
  return frames('val', config.check_samples), dataset, calibration


def run(config):
  """Exports and proves; writes export_report.md/.json into config.export.output_dir. A model
  directory that keeps a detector (<model_dir>/detector) has it exported and proved too, into
  <output_dir>/detector (report['detector']; its failures count as the model's).

  Returns:
    the report dict ('failures' lists the float formats beyond tolerance).
  Raises:
    UserInputError: no bundle in config.model_dir, or no calibration records for uint8.
  """
  found = bundle_dir(config.model_dir)
  model, model_config, definition, codec_settings = bundle_lib.load_bundle(found)
  codec = bundle_lib.codec_from_settings(
      codec_settings, (model_config.input_height, model_config.input_width))
  if config.record_settings:
    config.record_settings(config.export.output_dir)
  detector = is_detector(definition)
  if detector:
    check, dataset, calibration = detector_inputs(codec, config)
    # Parity's keypoint distance counts the centre map only (the strongest object's centre).
    labelled = np.zeros((len(check), 3), bool)
    labelled[:, 0] = True
  else:
    check, labelled, dataset, calibration = check_inputs(codec, config)
  info = bundle_lib.read_description(found)[0]
  flip = bundle_lib.flip_support(info) if bundle_lib.FLIP_KEY in info else None
  exports, rewrites = runner.export_all(model, model_config, definition, codec, config.export,
                                        calibration, info.get('crop'), flip)
  keras = predictors.KerasPredictor(model, definition, codec, f'keras:{found}', flip=flip)
  report = proof_lib.prove(exports, keras, found, check, dataset, config.proof, labelled,
                           proof_lib.detector_accuracy if detector else proof_lib.accuracy)
  if detector:
    report['check_images'] = 'val frames (letterboxed to the detector input)'
    report['keypoints_counted_as'] = 'of the centre map: each frame\'s strongest object centre'
    report['accuracy_from'] = ('box AP (pycocotools) and recall at IoU 0.5 of the decoded boxes '
                               'on the val frames, in original pixels')
  report['calibration_samples'] = 0 if calibration is None else int(len(calibration))
  report.update(rewrites)
  proof_report.write_report(config.export.output_dir, report, config.command)
  beside = None if detector else find_detector(config.model_dir)
  if beside:  # the model directory's detector goes along, into <output_dir>/detector
    sub = run(dataclasses.replace(config, model_dir=beside, export=dataclasses.replace(
        config.export, output_dir=os.path.join(config.export.output_dir, DETECTOR_DIR))))
    report['detector'] = os.path.join(config.export.output_dir, DETECTOR_DIR)
    report['failures'] += [f'detector: {failure}' for failure in sub['failures']]
  return report
