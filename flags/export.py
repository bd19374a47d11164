"""export.py flags: formats, calibration, parity checks, layout and batch of the exported files.

Shared flags used by export: --model_dir (input), --records_dir (val records for parity and PCK),
--output_dir, --seed, --batch_size (eval batches), --decoder (in-graph decoder and checks).
"""

from absl import flags as absl_flags

from hourglass.export import FORMATS
from hourglass.model import PREDICTION_LAYER_PATTERNS

absl_flags.DEFINE_list('formats', list(FORMATS),
                       f'Formats to export, comma-separated: {",".join(FORMATS)}.')
absl_flags.DEFINE_string('calibration_records', None,
                         'Records directory whose images calibrate the uint8 formats '
                         '(default: --records_dir).')
absl_flags.DEFINE_string('calibration_split', 'train',
                         'Split of --calibration_records to calibrate on (falls back to val '
                         'when it is empty).')
absl_flags.DEFINE_integer('calibration_samples', 200,
                          'Calibration images for tflite_uint8 and mnn_uint8.', lower_bound=1)
absl_flags.DEFINE_integer('check_samples', 32,
                          'Val examples of the parity check against the Keras model.',
                          lower_bound=1)
absl_flags.DEFINE_bool('with_decoder', False,
                       'SavedModel, float TFLite and ONNX also output keypoints (x, y in input '
                       'pixels) and scores decoded in the graph with --decoder.')
absl_flags.DEFINE_bool('nchw', False, 'ONNX and MNN take [B, 3, H, W] and return [B, K, h, w].')
absl_flags.DEFINE_bool('dynamic_batch', False,
                       'A free batch dimension in every format (default: batch 1).')
absl_flags.DEFINE_integer('opset', 13, 'ONNX opset (>= 13).', lower_bound=13)
absl_flags.DEFINE_float('parity_tolerance', 1e-3,
                        'Largest max-abs heatmap difference from Keras for float32 formats, '
                        'in units of the Keras heatmaps\' largest magnitude (at least 1); '
                        'beyond it the export fails.')
absl_flags.DEFINE_float('parity_tolerance_fp16', 2e-2,
                        'The same for tflite_fp16 (float16 weights).')
absl_flags.DEFINE_list('latency_threads', ['1', '2'],
                       'Thread counts of the latency measurement; empty skips it.')
absl_flags.DEFINE_integer('latency_runs', 30, 'Timed single-image runs per latency figure.',
                          lower_bound=1)
absl_flags.DEFINE_bool('fold_batch_norm', True,
                       'Fold the BN layers into the convs before exporting (the same function; '
                       'without it every BN is a per-tensor quantized MUL in the uint8 models and '
                       'they drift far from Keras).')
absl_flags.DEFINE_bool('fuse_separable', True,
                       'Write 1x1 separable convs as plain 1x1 convs (the same function; one op '
                       'less each, so one 8-bit rounding less in the uint8 models: quickstart '
                       'tflite_uint8 keypoints 0.94 -> 0.40 px from Keras).')
absl_flags.DEFINE_enum('mnn_quant_method', 'ADMM', ['KL', 'ADMM', 'EMA'],
                       'MNN feature quantization method of mnn_uint8 (ADMM: 4-5x smaller '
                       'heatmap error than KL on our models).')
absl_flags.DEFINE_list('mnn_float_layers', list(PREDICTION_LAYER_PATTERNS),
                       'Conv layers (fnmatch patterns of Keras layer names) that mnn_uint8 keeps '
                       'in float; empty quantizes every one. Default: the heatmap prediction '
                       'convs (1x1, a tiny share of the compute): MNN quantizes features '
                       'symmetrically, so an int8 heatmap gets 127 levels and its sub-pixel peak '
                       'moves.')
