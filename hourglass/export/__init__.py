"""Exporters: the Keras inference model to SavedModel, TFLite, ONNX and MNN files.

One module per format family; `metadata` defines what every exported file carries so that the
bare file is enough for eval and predict (hourglass.inference.runtime_predictors reads it back), and
`runner` exports a bundle to several formats and proves each one (hourglass.export.proof).
"""

FORMATS = ('saved_model', 'tflite', 'tflite_fp16', 'tflite_uint8', 'onnx', 'mnn', 'mnn_uint8')
FLOAT_FORMATS = ('saved_model', 'tflite', 'tflite_fp16', 'onnx', 'mnn')
