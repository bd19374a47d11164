"""Exports a Keras inference model to several formats in one go (the work behind export.py).

The SavedModel is written first (to the output or a temporary folder) and every TFLite variant
converts from it; MNN converts from a heatmaps-only ONNX export (the `onnx` output itself when it
has no decoder, else a temporary one).
"""

import logging
import os
import shutil
import tempfile
from typing import Optional, Sequence

from core.errors import UserInputError
from hourglass.export import mnn_export, onnx_export
from hourglass.export import saved_model as saved_model_lib
from hourglass.export import tflite as tflite_lib
from hourglass.export.config import ExportConfig  # noqa: F401  (export_all takes one)
from hourglass.model import fold_bn, fuse_separable

FILE_NAMES = {'saved_model': 'saved_model', 'tflite': 'model_float32.tflite',
              'tflite_fp16': 'model_float16.tflite', 'tflite_uint8': 'model_uint8.tflite',
              'onnx': 'model.onnx', 'mnn': 'model.mnn', 'mnn_uint8': 'model_uint8.mnn'}


def export_all(model, model_config, definition, codec, config: ExportConfig,
               calibration_images: Optional[Sequence] = None, crop=None, flip=None):
  """Writes every requested format.

  Args:
    model: the Keras inference model (RGB 0..255 NHWC in, heatmaps out).
    model_config, definition, codec: from the bundle.
    config: ExportConfig.
    calibration_images: float32 [N, H, W, 3] RGB 0..255, needed by the uint8 formats.
    crop: the bundle's crop settings ({'box_margin': m}), carried by every format's metadata so
      predict crops detector boxes as the training crops were; None when the bundle has none.
    flip: the bundle's horizontal flip support ({'supported', 'reason'}), carried alike so the
      runtime predictors' flip test obeys it; None when the bundle has none.
  Returns:
    ({format: (path, metadata dict)} in config.formats order,
     {'batch_norm_folding': fold summary dict or None (that of the model behind SavedModel,
      TFLite and ONNX, with MNN's under 'mnn' when written),
      'fused_separable_convs': 1x1 separable convs written as plain convs}).
  """
  os.makedirs(config.output_dir, exist_ok=True)
  needs_quant = any(f.endswith('uint8') for f in config.formats)
  if needs_quant and (calibration_images is None or not len(calibration_images)):
    raise UserInputError('the uint8 formats need calibration images: give '
                         '--calibration_records (or --records_dir) with examples')
  kw = dict(model_config=model_config, definition=definition, codec=codec, crop=crop,
            flip=flip)
  model, mnn_model, rewrites = _rewrite(model, config)
  out = {}
  work = tempfile.mkdtemp(prefix='export_', dir=config.output_dir)
  try:
    if any(f == 'saved_model' or f.startswith('tflite') for f in config.formats):
      sm_dir = (os.path.join(config.output_dir, FILE_NAMES['saved_model'])
                if 'saved_model' in config.formats else os.path.join(work, 'saved_model'))
      logging.info('exporting SavedModel to %s', sm_dir)
      sm_meta = saved_model_lib.export_saved_model(
          sm_dir, model, decoder=config.decoder, **kw)
      if 'saved_model' in config.formats:
        out['saved_model'] = (sm_dir, sm_meta)
      for name in ('tflite', 'tflite_fp16', 'tflite_uint8'):
        if name in config.formats:
          path = os.path.join(config.output_dir, FILE_NAMES[name])
          logging.info('exporting %s to %s', name, path)
          out[name] = (path, tflite_lib.export_tflite(
              path, sm_dir, name, sm_meta, calibration_images=calibration_images,
              with_decoder=config.with_decoder, dynamic_batch=config.dynamic_batch))
    onnx_kw = dict(kw, opset=config.opset, nchw=config.nchw, decoder=config.decoder,
                   dynamic_batch=config.dynamic_batch)
    if 'onnx' in config.formats:
      path = os.path.join(config.output_dir, FILE_NAMES['onnx'])
      logging.info('exporting ONNX to %s', path)
      out['onnx'] = (path, onnx_export.export_onnx(path, model, with_decoder=config.with_decoder,
                                                   **onnx_kw))
    _export_mnn(mnn_model, config, onnx_kw, out, work, calibration_images)
  finally:
    shutil.rmtree(work, ignore_errors=True)
  return {f: out[f] for f in config.formats}, rewrites


def _rewrite(model, config):
  """The same function in fewer, rounding-friendlier ops: (model, MNN's model, rewrites dict)."""
  fused = 0
  if config.fuse_separable:  # first: both folds below then start from the fused model
    model, fused = fuse_separable.fuse_separable_1x1(model)
    logging.info('1x1 separable convs written as plain 1x1 convs: %d', fused)
  fold_summary = None
  mnn_model = model
  if config.fold_batch_norm:
    mnn_summary = None
    if any(f.startswith('mnn') for f in config.formats):
      mnn_model, mnn_summary = fold_bn.fold_batch_norm(model, shift='conv', carry_shifts=False)
    model, fold_summary = fold_bn.fold_batch_norm(model, shift='add')
    if mnn_summary:
      fold_summary['mnn'] = mnn_summary
    logging.info('batch norm folded for export: %s', fold_summary)
  return model, mnn_model, {'batch_norm_folding': fold_summary, 'fused_separable_convs': fused}


def _export_mnn(model, config, onnx_kw, out, work, calibration_images):
  """The MNN formats, from a heatmaps-only ONNX export of `model`.

  `model` is folded with shift='conv' and no carried shifts (fold_bn.py: MNN's converter gets
  ReLU -> Add(constant) wrong, and its symmetric int8 wants the BN shifts in place), so MNN
  always gets an ONNX file of its own.
  """
  wanted = [f for f in ('mnn', 'mnn_uint8') if f in config.formats]
  if not wanted:
    return
  float_layers = (mnn_export.conv_layers_matching(model, config.mnn_float_layers)
                  if 'mnn_uint8' in wanted else ())
  onnx_path = os.path.join(work, 'for_mnn.onnx')
  onnx_meta = onnx_export.export_onnx(onnx_path, model, with_decoder=False, **onnx_kw)
  float_mnn = None
  for name in wanted:
    path = os.path.join(config.output_dir, FILE_NAMES[name])
    logging.info('exporting %s to %s', name, path)
    out[name] = (path, mnn_export.export_mnn(path, onnx_path, name, onnx_meta,
                                             calibration_images=calibration_images,
                                             float_mnn=float_mnn,
                                             method=config.mnn_quant_method,
                                             float_layers=float_layers))
    if name == 'mnn':
      float_mnn = path
