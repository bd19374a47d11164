"""The export settings, as plain values (no TensorFlow: flags/export.py reads its defaults here).

ExportConfig says what runner.export_all writes, ProofConfig how proof.prove checks it.
"""

import dataclasses
from typing import Tuple

from core.errors import UserInputError
from hourglass.export import FORMATS
from hourglass.keypoints import DECODERS
from hourglass.model import PREDICTION_LAYER_PATTERNS

DEFAULT_OPSET = 13


@dataclasses.dataclass(frozen=True)
class ExportConfig:
  """Plain export settings (modes/configs.py fills them from flags).

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
  opset: int = DEFAULT_OPSET
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


@dataclasses.dataclass(frozen=True)
class ProofConfig:
  """Settings of the checks.

  Attributes:
    decoder: decoder of the parity and PCK checks ('argmax', 'quarter', 'dark').
    parity_tolerance: largest max-abs heatmap difference allowed for float32 formats, in units of
      the Keras heatmaps' scale (their largest magnitude, at least 1): float rounding is relative,
      and an untrained model's heatmaps can reach thousands (a trained one's peak near 1, where
      this is the absolute difference).
    parity_tolerance_fp16: the same for tflite_fp16 (float16 weights).
    decoder_tolerance_px: largest gap (input px) between an in-graph decoder's keypoints and
      the codec's decode of the same file's heatmaps (float32 formats).
    latency_threads: thread counts to time; () skips timing.
    latency_runs: timed runs per measurement (median reported).
    score_threshold: the PCK threshold (also reported: PCK@0.1 from the curve).
    confident_score: where the check images have no labels, the keypoint distances count the
      keypoints whose Keras heatmap peak reaches this score (DeepLabCut's pcutoff, as eval's).
  """
  decoder: str = 'dark'
  parity_tolerance: float = 1e-3
  parity_tolerance_fp16: float = 2e-2
  decoder_tolerance_px: float = 0.05
  latency_threads: Tuple[int, ...] = (1, 2)
  latency_runs: int = 30
  score_threshold: float = 0.5
  confident_score: float = 0.4
