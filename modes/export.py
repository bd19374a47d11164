"""`python export.py`: exports a trained model to SavedModel, TFLite, ONNX and MNN and proves each
file (parity with Keras, PCK, latency), writing export_report.md/.json and the resolved flags.
"""

import logging
import sys

from flags.common import save_resolved_flags
from modes.eval import build_dataset
from core.errors import UserInputError


def _bundle_dir(model_dir):
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  if not model_dir:
    raise UserInputError('--model_dir is required: a training model directory or a bundle')
  found = bundle_lib.find_bundle(model_dir)
  if found:
    return found
  raise UserInputError(f'--model_dir={model_dir}: no best_model/ bundle (model_info.json) in it; '
                       f'has training saved a best model yet?')


def _images(records_dir, split, codec, count, labelled=False):
  """Up to `count` model-input crops float32 [N, H, W, 3] of a split ([] when empty), and with
  `labelled` their labelled keypoints bool [N, K] (visibility > 0) too."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
  if not load_manifest(records_dir).count(split):
    empty = np.zeros((0,) + tuple(codec.input_size) + (3,), np.float32)
    return (empty, np.zeros((0, 0), bool)) if labelled else empty
  parts, visible, total = [], [], 0
  for batch in build_dataset(records_dir, codec, 32, split):
    parts.append(batch['image'].numpy().astype(np.float32))
    visible.append(batch['visibility'].numpy() > 0)
    total += len(parts[-1])
    if total >= count:
      break
  images = np.concatenate(parts)[:count]
  return (images, np.concatenate(visible)[:count]) if labelled else images


def _check_inputs(codec, fv):
  """(check images, their labelled keypoints bool [N, K] or None, eval dataset or None,
  calibration images or None)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  check, labelled, dataset = None, None, None
  if fv.records_dir:
    check, labelled = _images(fv.records_dir, 'val', codec, fv.check_samples, labelled=True)
    if len(check):
      dataset = build_dataset(fv.records_dir, codec, fv.batch_size, 'val')
  if check is None or not len(check):
    logging.warning('no val records (--records_dir): parity on random images, no PCK')
    rng = np.random.RandomState(fv.seed)
    check = rng.randint(0, 256, (fv.check_samples,) + tuple(codec.input_size) + (3,))
    check, labelled = check.astype(np.float32), None
  calibration = None
  if any(f.endswith('uint8') for f in fv.formats):
    records = fv.calibration_records or fv.records_dir
    if not records:
      raise UserInputError('tflite_uint8 and mnn_uint8 need --calibration_records '
                           '(or --records_dir)')
    calibration = _images(records, fv.calibration_split, codec, fv.calibration_samples)
    if not len(calibration):
      calibration = _images(records, 'val', codec, fv.calibration_samples)
  return check, labelled, dataset, calibration


def run(fv):
  """Exports and proves; returns the report dict. Raises UserInputError on bad input."""
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.export import proof as export_report  # pylint: disable=g-import-not-at-top
  from hourglass.export import proof_report  # pylint: disable=g-import-not-at-top
  from hourglass.export import runner  # pylint: disable=g-import-not-at-top
  from hourglass.inference import predictors  # pylint: disable=g-import-not-at-top
  if not fv.output_dir:
    raise UserInputError('--output_dir is required: where the exported files go')
  config = runner.ExportConfig(
      formats=tuple(fv.formats), output_dir=fv.output_dir, with_decoder=fv.with_decoder,
      decoder=fv.decoder,
      nchw=fv.nchw, dynamic_batch=fv.dynamic_batch, opset=fv.opset,
      mnn_quant_method=fv.mnn_quant_method, mnn_float_layers=tuple(fv.mnn_float_layers),
      fold_batch_norm=fv.fold_batch_norm, fuse_separable=fv.fuse_separable)
  bundle_dir = _bundle_dir(fv.model_dir)
  model, model_config, definition, codec_settings = bundle_lib.load_bundle(bundle_dir)
  codec = bundle_lib.codec_from_settings(
      codec_settings, (model_config.input_height, model_config.input_width))
  save_resolved_flags(fv, fv.output_dir)
  check, labelled, dataset, calibration = _check_inputs(codec, fv)
  info = bundle_lib.read_description(bundle_dir)[0]
  flip = bundle_lib.flip_support(info) if bundle_lib.FLIP_KEY in info else None
  exports, rewrites = runner.export_all(model, model_config, definition, codec, config,
                                        calibration, info.get('crop'), flip)
  try:
    threads = tuple(int(t) for t in fv.latency_threads)
  except ValueError:
    raise UserInputError(f'--latency_threads={fv.latency_threads}: expected integers') from None
  proof = export_report.ProofConfig(
      decoder=fv.decoder, tolerance=fv.parity_tolerance, tolerance_fp16=fv.parity_tolerance_fp16,
      latency_threads=threads, latency_runs=fv.latency_runs, pck_threshold=fv.score_threshold)
  keras = predictors.KerasPredictor(model, definition, codec, f'keras:{bundle_dir}',
                                    flip=flip)
  report = export_report.prove(exports, keras, bundle_dir, check, dataset, proof, labelled)
  report['calibration_samples'] = 0 if calibration is None else int(len(calibration))
  report.update(rewrites)
  proof_report.write_report(fv.output_dir, report, ' '.join(['python'] + sys.argv))
  return report
