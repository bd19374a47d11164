"""MNN export: Keras -> ONNX -> MNN with MNN's converter, and uint8 (int8) through its quantizer.

Both MNN tools run in a child Python process through the `_tools` extension, directly:
- never the `mnnconvert`/`mnnquant` console scripts or `MNN.tools`: importing those modules
  pip-installs a logging SDK and sends usage data;
- `_tools.mnnquant` takes an argv-style list (MNN's own wrapper passes three strings and
  crashes with std::length_error);
- `_tools` and TensorFlow register the same protobuf descriptors: loaded into one process they
  abort, hence the child process.
The MNN file has no free-form metadata field: the metadata goes into a sidecar `<file>.json`.
Calibration uses MNN's 'sequence' input type (one folder per sample with the raw float input as
text), which feeds the exact NHWC float tensor the model takes; its 'image' type assumes NCHW.
"""

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from hourglass.export import metadata as metadata_lib
from hourglass.model import metadata as model_metadata
from core import console, files
from core.errors import UserInputError

_CHILD = ('import sys, _tools\n'
          'tool = getattr(_tools, sys.argv[1])\n'
          'ok = tool(sys.argv[1:])\n'
          'sys.exit(0 if ok in (None, True, 0) else 3)\n')


def _run_tool(tool, args, output_path, timeout=1800):
  """Runs `_tools.<tool>(argv)` in a child process; raises RuntimeError with its log on failure."""
  env = dict(os.environ)
  env['OMP_NUM_THREADS'] = env.get('OMP_NUM_THREADS', '2')
  proc = subprocess.run([sys.executable, '-c', _CHILD, tool] + list(args), env=env,
                        capture_output=True, text=True, timeout=timeout, check=False)
  if proc.returncode != 0 or not os.path.isfile(output_path):
    log = (proc.stdout + proc.stderr)[-3000:]
    raise RuntimeError(f'MNN {tool} failed (exit {proc.returncode}) writing {output_path}:\n{log}')
  return proc.stdout


def convert_onnx(onnx_path, mnn_path, biz_code='hourglass'):
  """ONNX file -> MNN file (float32 weights), via a temporary name."""
  with files.atomic_path(mnn_path) as tmp:
    _run_tool('mnnconvert', ['-f', 'ONNX', '--modelFile', onnx_path, '--MNNModel', tmp,
                             '--bizCode', biz_code], tmp)


def write_calibration(directory, images, input_name='image', output_name='heatmaps', nchw=False):
  """Writes MNN 'sequence' calibration samples: <dir>/<i>/{input.json, image.txt}.

  Args:
    images: float32 [N, H, W, 3] RGB 0..255.
  """
  for i, image in enumerate(images):
    sample = os.path.join(directory, f'{i:05d}')
    os.makedirs(sample, exist_ok=True)
    x = np.asarray(image, np.float32)[None]
    if nchw:
      x = x.transpose(0, 3, 1, 2)
    np.savetxt(os.path.join(sample, f'{input_name}.txt'), x.reshape(-1), fmt='%.1f')
    with open(os.path.join(sample, 'input.json'), 'w', encoding='utf-8') as f:
      json.dump({'inputs': [{'name': input_name, 'shape': list(x.shape)}],
                 'outputs': [output_name]}, f)


def float_op_names(onnx_path, layer_names):
  """MNN op names of the ONNX Conv nodes that the Keras layers `layer_names` became.

  tf2onnx names a node after the TensorFlow op, whose path holds the layer's name (with Keras'
  call suffix `_N`, e.g. `model/hg0_conv_1x1_predict_1/BiasAdd`); MNN's ONNX converter names each
  op after its first output tensor, and after fusing a Conv with the Relu that alone reads it,
  after the Relu's output. Raises RuntimeError when a layer has no Conv node: the quantizer
  ignores unknown names, and a silently quantized layer is what this must not hide.
  """
  if not layer_names:  # all int8: no need to read the ONNX file
    return []
  import onnx  # pylint: disable=g-import-not-at-top
  graph = onnx.load(onnx_path, load_external_data=False).graph
  readers = {}
  for node in graph.node:
    for tensor in node.input:
      readers.setdefault(tensor, []).append(node)

  def mnn_name(conv):
    after = readers.get(conv.output[0], [])
    if len(after) == 1 and after[0].op_type == 'Relu':
      return after[0].output[0]
    return conv.output[0]

  nodes = [n for n in graph.node if n.op_type == 'Conv']
  names = []
  for layer in layer_names:
    pattern = re.compile(r'(^|/)' + re.escape(layer) + r'(_\d+)?/')
    found = [mnn_name(n) for n in nodes if pattern.search(n.name)]
    if not found:
      raise RuntimeError(f'{onnx_path}: no Conv node of layer {layer!r} (tf2onnx naming changed?)')
    names += found
  return names


def conv_layers_matching(model, patterns):
  """Names of the conv layers of `model` matching any fnmatch pattern; each pattern must match.

  Args:
    model: the Keras model exported to MNN.
    patterns: e.g. ('*_conv_1x1_predict',) for the heatmap prediction convs.
  """
  import keras  # pylint: disable=g-import-not-at-top
  convs = [layer.name for layer in model.layers
           if isinstance(layer, (keras.layers.Conv2D, keras.layers.SeparableConv2D,
                                 keras.layers.DepthwiseConv2D))]
  names = []
  for pattern in patterns:
    matched = [name for name in convs if fnmatch.fnmatchcase(name, pattern)]
    if not matched:
      raise UserInputError(f'--mnn_float_layers: {pattern!r} matches no conv layer of the model '
                           f'(conv layers: {", ".join(convs[:5])}, ...)')
    names += [name for name in matched if name not in names]
  return names


def _check_float_ops_exist(float_mnn, float_ops):
  """Raises RuntimeError unless every op of `float_ops` is an op of the float MNN model.

  The quantizer silently ignores names it does not know (and its `<output>.json` lists scales for
  every tensor, skipped or not), so a misnamed op would quietly end up int8.
  """
  if not float_ops:
    return
  with console.quiet_native_output():  # MNN reports the CPU's features when it loads
    import MNN  # pylint: disable=g-import-not-at-top  (the runtime module; never MNN.tools)
  unknown = sorted(set(float_ops) - set(MNN.expr.load_as_dict(float_mnn)))
  if unknown:
    raise RuntimeError(f'{float_mnn} has no ops {unknown} to keep in float')


def quantize(float_mnn, quant_mnn, calibration_images, *, method='ADMM', nchw=False,
             float_ops=()):
  """Float MNN -> int8 MNN calibrated on the images (float input and output kept).

  Args:
    calibration_images: float32 [N, H, W, 3] RGB 0..255, N >= 1.
    method: MNN feature quantization method: 'KL', 'ADMM' or 'EMA'.
    float_ops: MNN op names (float_op_names) the quantizer leaves in float.
  """
  if calibration_images is None or not len(calibration_images):
    raise UserInputError('mnn_uint8 needs calibration images: give --calibration_records '
                         '(or --records_dir) with a non-empty split')
  _check_float_ops_exist(float_mnn, float_ops)
  work = tempfile.mkdtemp(prefix='mnn_calib_')
  try:
    samples = os.path.join(work, 'samples')
    write_calibration(samples, calibration_images, nchw=nchw)
    height, width = np.asarray(calibration_images[0]).shape[:2]
    config = {'format': 'RGB', 'mean': [0.0, 0.0, 0.0], 'normal': [1.0, 1.0, 1.0],
              'width': int(width), 'height': int(height), 'path': samples + os.sep,
              'used_sample_num': len(calibration_images), 'input_type': 'sequence',
              'feature_quantize_method': method, 'weight_quantize_method': 'MAX_ABS',
              'skip_quant_op_names': list(float_ops)}
    config_path = os.path.join(work, 'quant.json')
    with open(config_path, 'w', encoding='utf-8') as f:
      json.dump(config, f)
    with files.atomic_path(quant_mnn) as tmp:
      try:
        _run_tool('mnnquant', [float_mnn, tmp, config_path], tmp)
      finally:
        # The quantizer also writes the feature scales it chose to `<output>.json` (a debug
        # dump).
        if os.path.exists(f'{tmp}.json'):
          os.remove(f'{tmp}.json')
  finally:
    shutil.rmtree(work, ignore_errors=True)


def export_mnn(path, onnx_path, format_name, onnx_meta, calibration_images=None,
               float_mnn=None, method='ADMM', float_layers=()):
  """Writes an MNN model (float or uint8) and its sidecar metadata.

  Args:
    path: output .mnn path.
    onnx_path: a heatmaps-only ONNX export of the model (metadata `onnx_meta`).
    format_name: 'mnn' or 'mnn_uint8'.
    calibration_images: float32 [N, H, W, 3] for 'mnn_uint8'.
    float_mnn: an existing float MNN file of the same model to quantize (else converted here).
    method: MNN's feature quantization method for 'mnn_uint8'.
    float_layers: Keras conv layer names that 'mnn_uint8' keeps in float (listed in its
      metadata under 'float_layers').
  Returns:
    the metadata dict (also in `<path>.json`).
  """
  nchw = onnx_meta['input']['layout'] == 'NCHW'
  if format_name == 'mnn':
    convert_onnx(onnx_path, path)
  else:
    work = None
    if float_mnn is None:
      work = tempfile.mkdtemp(prefix='mnn_float_')
      float_mnn = os.path.join(work, 'float.mnn')
      convert_onnx(onnx_path, float_mnn)
    try:
      quantize(float_mnn, path, calibration_images, method=method, nchw=nchw,
               float_ops=float_op_names(onnx_path, float_layers))
    finally:
      if work:
        shutil.rmtree(work, ignore_errors=True)
  meta = dict(onnx_meta, format_name=format_name, decoder=None)
  meta['outputs'] = [o for o in onnx_meta['outputs'] if o['name'] == 'heatmaps']
  if format_name == 'mnn_uint8':
    meta['float_layers'] = list(float_layers)
    meta['feature_quantize_method'] = method
  metadata_lib.write_json(model_metadata.sidecar_path(path), meta)
  return meta
