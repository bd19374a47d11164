"""MNN export: Keras -> ONNX -> MNN with MNN's converter, and uint8 (int8) through its quantizer.

Both MNN tools run in a child Python process through the `_tools` extension, directly:
- never the `mnnconvert`/`mnnquant` console scripts or `MNN.tools`: importing those modules
  pip-installs a logging SDK and sends usage data (design.md section 4);
- `_tools.mnnquant` takes an argv-style list (MNN's own wrapper passes three strings and
  crashes with std::length_error);
- `_tools` and TensorFlow register the same protobuf descriptors: loaded into one process they
  abort, hence the child process.
The MNN file has no free-form metadata field: the metadata goes into a sidecar `<file>.json`.
Calibration uses MNN's 'sequence' input type (one folder per sample with the raw float input as
text), which feeds the exact NHWC float tensor the model takes; its 'image' type assumes NCHW.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from hourglass.exporters import metadata as metadata_lib
from records.errors import UserInputError

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
  tmp = f'{mnn_path}.tmp-{os.getpid()}'
  _run_tool('mnnconvert', ['-f', 'ONNX', '--modelFile', onnx_path, '--MNNModel', tmp,
                           '--bizCode', biz_code], tmp)
  os.replace(tmp, mnn_path)


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


def quantize(float_mnn, quant_mnn, calibration_images, *, method='ADMM', nchw=False):
  """Float MNN -> int8 MNN calibrated on the images (float input and output kept).

  Args:
    calibration_images: float32 [N, H, W, 3] RGB 0..255, N >= 1.
    method: MNN feature quantization method: 'KL', 'ADMM' or 'EMA'.
  """
  if calibration_images is None or not len(calibration_images):
    raise UserInputError('mnn_uint8 needs calibration images: give --calibration_records '
                         '(or --records_dir) with a non-empty split')
  work = tempfile.mkdtemp(prefix='mnn_calib_')
  try:
    samples = os.path.join(work, 'samples')
    write_calibration(samples, calibration_images, nchw=nchw)
    height, width = np.asarray(calibration_images[0]).shape[:2]
    config = {'format': 'RGB', 'mean': [0.0, 0.0, 0.0], 'normal': [1.0, 1.0, 1.0],
              'width': int(width), 'height': int(height), 'path': samples + os.sep,
              'used_sample_num': len(calibration_images), 'input_type': 'sequence',
              'feature_quantize_method': method, 'weight_quantize_method': 'MAX_ABS'}
    config_path = os.path.join(work, 'quant.json')
    with open(config_path, 'w', encoding='utf-8') as f:
      json.dump(config, f)
    tmp = f'{quant_mnn}.tmp-{os.getpid()}'
    try:
      _run_tool('mnnquant', [float_mnn, tmp, config_path], tmp)
      os.replace(tmp, quant_mnn)
    finally:
      # The quantizer also writes the feature scales it chose to `<output>.json` (a debug dump).
      if os.path.exists(f'{tmp}.json'):
        os.remove(f'{tmp}.json')
  finally:
    shutil.rmtree(work, ignore_errors=True)


def export_mnn(path, onnx_path, format_name, onnx_meta, calibration_images=None,
               float_mnn=None, method='ADMM'):
  """Writes an MNN model (float or uint8) and its sidecar metadata.

  Args:
    path: output .mnn path.
    onnx_path: a heatmaps-only ONNX export of the model (metadata `onnx_meta`).
    format_name: 'mnn' or 'mnn_uint8'.
    calibration_images: float32 [N, H, W, 3] for 'mnn_uint8'.
    float_mnn: an existing float MNN file of the same model to quantize (else converted here).
    method: MNN's feature quantization method for 'mnn_uint8'.
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
      quantize(float_mnn, path, calibration_images, method=method, nchw=nchw)
    finally:
      if work:
        shutil.rmtree(work, ignore_errors=True)
  meta = dict(onnx_meta, format_name=format_name, decoder=None)
  meta['outputs'] = [o for o in onnx_meta['outputs'] if o['name'] == 'heatmaps']
  metadata_lib.write_json(metadata_lib.sidecar_path(path), meta)
  return meta
