"""TFLite export: float32, float16 weights, and full-integer uint8 (uint8 input and output).

Converted from the SavedModel of saved_model.py, written by keras.export.ExportArchive
(converting a bare concrete function leaves the weights unfrozen and gives NaN). The
export metadata JSON is stored in the flatbuffer's metadata table under
model.metadata.METADATA_KEY, so the file alone is enough.
"""

import json
import warnings

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema_fb
from tensorflow.lite.tools import flatbuffer_utils

from hourglass.export import metadata as metadata_lib
from hourglass.model import metadata as model_metadata
from core import console, files

KINDS = {'tflite': 'float32', 'tflite_fp16': 'float16', 'tflite_uint8': 'uint8'}


def _representative(images):
  """Calibration generator over float32 [N, H, W, 3] images in 0..255.

  The first sample gets one pixel at 0 and one at 255 so that the uint8 input quantization is
  exactly scale 1, zero point 0: raw camera bytes go straight into the model.
  """
  def gen():
    for i, image in enumerate(images):
      x = np.asarray(image, np.float32)[None].copy()
      if i == 0:
        x[0, 0, 0, :] = 0.0
        x[0, 0, 1, :] = 255.0
      yield {'image': x}
  return gen


def convert(saved_model_dir, signature, kind, calibration_images=None):
  """Converts one signature of a SavedModel to TFLite flatbuffer bytes.

  Args:
    kind: 'float32', 'float16' or 'uint8'.
    calibration_images: float32 [N, H, W, 3] for 'uint8'.
  """
  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[signature])
  if kind == 'float16':
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif kind == 'uint8':
    if calibration_images is None or not len(calibration_images):
      raise ValueError('uint8 TFLite needs calibration images')
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = _representative(calibration_images)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
  with warnings.catch_warnings(), console.quiet_native_output():
    # TensorFlow's own calibrator still runs tf.lite.Interpreter and warns that it is
    # deprecated; this project runs its files with ai_edge_litert's interpreter.
    warnings.filterwarnings('ignore', message=r'\s*Warning: tf\.lite\.Interpreter is deprecated')
    return converter.convert()


def add_metadata(flatbuffer, meta):
  """Returns the flatbuffer bytes with `meta` stored as a metadata entry (replacing an old one)."""
  model = flatbuffer_utils.read_model_from_bytearray(bytearray(flatbuffer))
  buffer = schema_fb.BufferT()
  buffer.data = np.frombuffer(metadata_lib.to_json(meta).encode('utf-8'), np.uint8)
  model.buffers.append(buffer)
  entry = schema_fb.MetadataT()
  entry.name = model_metadata.METADATA_KEY.encode()
  entry.buffer = len(model.buffers) - 1
  model.metadata = [m for m in (model.metadata or [])
                    if m.name != entry.name] + [entry]
  return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _quantization(path):
  """((input scale, zero point), (heatmap output scale, zero point)) of a quantized model."""
  from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
  interpreter = Interpreter(model_path=path)
  runner_details = interpreter.get_signature_list()
  signature = next(iter(runner_details))
  runner = interpreter.get_signature_runner(signature)
  inp = runner.get_input_details()['image']['quantization']
  out = runner.get_output_details()['heatmaps']['quantization']
  return tuple(float(v) for v in inp), tuple(float(v) for v in out)


def export_tflite(path, saved_model_dir, format_name, saved_model_meta, *,
                  calibration_images=None, with_decoder=False, dynamic_batch=False):
  """Exports one TFLite file, with its metadata, from a SavedModel of saved_model.py.

  Args:
    path: output .tflite path (written to a temporary name, then renamed).
    saved_model_dir: written by saved_model.export_saved_model (endpoints serve and
      serve_keypoints), with a free batch dimension.
    format_name: 'tflite', 'tflite_fp16' or 'tflite_uint8'.
    saved_model_meta: the metadata that export_saved_model returned.
    calibration_images: float32 [N, H, W, 3] RGB 0..255 for 'tflite_uint8'.
    with_decoder: also output keypoints and scores decoded in the graph (float formats only:
      the full-integer model keeps heatmaps only, decoding them takes float maths).
    dynamic_batch: declare the batch free (the file's shape signature has -1 either way; its
      tensors are allocated for batch 1 until resized).
  Returns:
    the metadata dict.
  """
  kind = KINDS[format_name]
  with_decoder = with_decoder and kind != 'uint8'
  signature = 'serve_keypoints' if with_decoder else 'serve'
  flatbuffer = convert(saved_model_dir, signature, kind, calibration_images)
  with files.atomic_path(path) as tmp:
    in_q = out_q = None
    if kind == 'uint8':  # the interpreter reads the scales the converter chose from the file
      with open(tmp, 'wb') as f:
        f.write(flatbuffer)
      in_q, out_q = _quantization(tmp)
    meta = _file_metadata(saved_model_meta, format_name, with_decoder, dynamic_batch, in_q, out_q)
    with open(tmp, 'wb') as f:
      f.write(add_metadata(flatbuffer, meta))
  return meta


def _file_metadata(saved_model_meta, format_name, with_decoder, dynamic_batch, in_q, out_q):
  """The SavedModel's metadata adapted to one TFLite file (batch, outputs, quantization)."""
  meta = json.loads(json.dumps(saved_model_meta))  # a deep copy
  meta['format_name'] = format_name
  batch = -1 if dynamic_batch else 1
  for entry in [meta['input']] + meta['outputs']:
    entry['shape'][0] = batch
  heatmaps = meta['outputs'][0]
  if out_q:
    heatmaps.update(dtype='uint8', quantization=list(out_q))
  meta['outputs'] = meta['outputs'] if with_decoder else [heatmaps]
  meta['decoder'] = meta['decoder'] if with_decoder else None
  if in_q:
    meta['input'].update(dtype='uint8', quantization=list(in_q))
  return meta
