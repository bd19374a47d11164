"""export.py flags: formats, calibration, parity checks, layout and batch of the exported files.

Shared flags used by export: --model_dir (input), --records_dir (val records for parity and PCK),
--output_dir, --seed, --batch_size (eval batches), --decoder (in-graph decoder and checks).
"""

from absl import flags as absl_flags

from flags.common import field_defaults
from hourglass.export import FORMATS
from hourglass.export.config import ExportConfig, ProofConfig
from workflows.config import ExportRunConfig

_EXPORT = field_defaults(ExportConfig)
_PROOF = field_defaults(ProofConfig)
_RUN = field_defaults(ExportRunConfig)

absl_flags.DEFINE_list('formats', list(FORMATS),
                       f'Formats to export, comma-separated: {",".join(FORMATS)}.')
absl_flags.DEFINE_string('calibration_records', None,
                         'Records directory whose images calibrate the uint8 formats '
                         '(default: --records_dir).')
absl_flags.DEFINE_string('calibration_split', _RUN['calibration_split'],
                         'Split of --calibration_records to calibrate on (falls back to val '
                         'when it is empty).')
absl_flags.DEFINE_integer('calibration_samples', _RUN['calibration_samples'],
                          'Calibration images for tflite_uint8 and mnn_uint8.', lower_bound=1)
absl_flags.DEFINE_integer('check_samples', _RUN['check_samples'],
                          'Val examples of the parity check against the Keras model.',
                          lower_bound=1)
absl_flags.DEFINE_bool('with_decoder', _EXPORT['with_decoder'],
                       'SavedModel, float TFLite and ONNX also output keypoints (x, y in input '
                       'pixels) and scores decoded in the graph with --decoder.')
absl_flags.DEFINE_bool('nchw', _EXPORT['nchw'],
                       'ONNX and MNN take [B, 3, H, W] and return [B, K, h, w].')
absl_flags.DEFINE_bool('dynamic_batch', _EXPORT['dynamic_batch'],
                       'A free batch dimension in every format (default: batch 1).')
absl_flags.DEFINE_integer('opset', _EXPORT['opset'], 'ONNX opset (>= 13).', lower_bound=13)
absl_flags.DEFINE_float('parity_tolerance', _PROOF['parity_tolerance'],
                        'Largest max-abs heatmap difference from Keras for float32 formats, '
                        'in units of the Keras heatmaps\' largest magnitude (at least 1); '
                        'beyond it the export fails.')
absl_flags.DEFINE_float('parity_tolerance_fp16', _PROOF['parity_tolerance_fp16'],
                        'The same for tflite_fp16 (float16 weights).')
absl_flags.DEFINE_list('latency_threads', [str(t) for t in _PROOF['latency_threads']],
                       'Thread counts of the latency measurement; empty skips it.')
absl_flags.DEFINE_integer('latency_runs', _PROOF['latency_runs'],
                          'Timed single-image runs per latency figure.',
                          lower_bound=1)
absl_flags.DEFINE_bool('fold_batch_norm', _EXPORT['fold_batch_norm'],
                       'Fold the BN layers into the convs before exporting (the same function; '
                       'without it every BN is a per-tensor quantized MUL in the uint8 models and '
                       'they drift far from Keras).')
absl_flags.DEFINE_bool('fuse_separable', _EXPORT['fuse_separable'],
                       'Write 1x1 separable convs as plain 1x1 convs (the same function; one op '
                       'less each, so one 8-bit rounding less in the uint8 models: quickstart '
                       'tflite_uint8 keypoints 0.94 -> 0.40 px from Keras).')
absl_flags.DEFINE_enum('mnn_quant_method', _EXPORT['mnn_quant_method'], ['KL', 'ADMM', 'EMA'],
                       'MNN feature quantization method of mnn_uint8 (ADMM: 4-5x smaller '
                       'heatmap error than KL on our models).')
absl_flags.DEFINE_list('mnn_float_layers', list(_EXPORT['mnn_float_layers']),
                       'Conv layers (fnmatch patterns of Keras layer names) that mnn_uint8 keeps '
                       'in float; empty quantizes every one. Default: the heatmap prediction '
                       'convs (1x1, a tiny share of the compute): MNN quantizes features '
                       'symmetrically, so an int8 heatmap gets 127 levels and its sub-pixel peak '
                       'moves.')
