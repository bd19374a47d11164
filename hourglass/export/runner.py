"""Exports a Keras inference model to several formats in one go (the work behind export.py).

The SavedModel is written first (to the output or a temporary folder) and every TFLite variant
converts from it; MNN converts from a heatmaps-only ONNX export (the `onnx` output itself when it
has no decoder, else a temporary one).
"""

import dataclasses
import logging
import os
import shutil
import tempfile
from typing import Optional, Sequence, Tuple

from hourglass.export import FORMATS
from hourglass.model import fold_bn
from hourglass.model import fuse_separable
from hourglass.export import mnn_export
from hourglass.export import onnx_export
from hourglass.export import saved_model as saved_model_lib
from hourglass.export import tflite as tflite_lib
from hourglass.keypoints import DECODERS
from hourglass.model import PREDICTION_LAYER_PATTERNS
from core.errors import UserInputError

FILE_NAMES = {'saved_model': 'saved_model', 'tflite': 'model_float32.tflite',
              'tflite_fp16': 'model_float16.tflite', 'tflite_uint8': 'model_uint8.tflite',
              'onnx': 'model.onnx', 'mnn': 'model.mnn', 'mnn_uint8': 'model_uint8.mnn'}


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """Plain export settings (export.py fills them from flags).

  Attributes:
    formats: a subset of hourglass.export.FORMATS, in the order to write them.
    output_dir: where the files go (FILE_NAMES).
    with_decoder: SavedModel, TFLite (float) and ONNX also output decoded keypoints and scores.
    decoder: the in-graph decoder and the decoder of the parity and PCK checks.
    nchw: ONNX and MNN take [B, 3, H, W] and return [B, K, h, w].
    dynamic_batch: a free batch dimension in TFLite, ONNX and MNN, else batch 1 (the SavedModel
      always has one).
    opset: ONNX opset (>= 13).
    mnn_quant_method: MNN's feature quantization method ('KL', 'ADMM', 'EMA').
    mnn_float_layers: fnmatch patterns of conv layers that mnn_uint8 keeps in float (default:
      the heatmap prediction convs; MNN's int8 is symmetric, so an int8 heatmap has 127 levels
      and its sub-pixel peak moves).
    fold_batch_norm: export the model with its BN layers folded into the convs (fold_bn.py:
      the same function, and what keeps the uint8 formats close to Keras).
    fuse_separable: write 1x1 separable convs as plain 1x1 convs (fuse_separable.py: the same
      function with one op, hence one 8-bit rounding, less per conv).
  """
  formats: Tuple[str, ...]
  output_dir: str
  with_decoder: bool = False
  decoder: str = 'dark'
  nchw: bool = False
  dynamic_batch: bool = False
  opset: int = onnx_export.DEFAULT_OPSET
  mnn_quant_method: str = 'ADMM'
  mnn_float_layers: Tuple[str, ...] = PREDICTION_LAYER_PATTERNS
  fold_batch_norm: bool = True
  fuse_separable: bool = True

  def __post_init__(self):
    unknown = [f for f in self.formats if f not in FORMATS]
    if unknown or not self.formats:
      raise UserInputError(f'--formats: unknown {unknown or "(empty)"}; choose from '
                           f'{",".join(FORMATS)}')
    if self.decoder not in DECODERS:
      raise UserInputError(f'--decoder={self.decoder!r}: choose argmax, quarter or dark')
    if self.opset < 13:
      raise UserInputError(f'--opset={self.opset}: tf2onnx exports need opset >= 13')


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
