"""Predictors for exported files: .tflite (ai_edge_litert), .onnx (onnxruntime), .mnn (MNN).

Each reads the export metadata the file carries (hourglass.export.metadata): keypoint
definition, codec, input layout and quantization, so `load_runtime_predictor(path)` needs
nothing else. All take RGB 0..255 images [B, H, W, 3] (NHWC) and return float heatmaps
[B, h, w, K]; layout changes and (de)quantization happen here. `outputs(images)` also returns
the in-graph decoder's keypoints and scores when the file has them.
"""

import os

import numpy as np

from core import console
from core.errors import UserInputError
from hourglass.inference.predictors import Predictor
from hourglass.model import bundle
from hourglass.model import metadata as metadata_lib


class RuntimePredictor(Predictor):
  """Common part: layout, quantization, batching of fixed-batch models.

  Subclasses implement `_run(x) -> dict name -> np.ndarray` on an input already in the file's
  layout and dtype.
  """

  def __init__(self, path, meta, kind, num_threads=None):
    definition, codec, meta = metadata_lib.parse_metadata(meta, path)
    self.meta = meta
    self.path = path
    self.num_threads = num_threads
    batch = int(meta['input']['shape'][0])
    super().__init__(definition, codec.input_size, codec, f'{kind}:{path}',
                     batch_size=batch if batch > 0 else 32,
                     crop_rule=bundle.CropRule.from_info(meta),
                     flip=bundle.flip_support(meta))
    self.layout = meta['input']['layout']
    self.input_quantization = meta['input'].get('quantization')
    heatmap_entry = next(o for o in meta['outputs'] if o['name'] == 'heatmaps')
    self.output_quantization = heatmap_entry.get('quantization')
    self.has_decoder = bool(meta.get('decoder'))

  def _prepare(self, images):
    x = np.asarray(images, np.float32)
    if self.input_quantization:
      scale, zero = self.input_quantization
      x = np.clip(np.round(x / scale + zero), 0, 255).astype(np.uint8)
    if self.layout == 'NCHW':
      x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return x

  def _finish(self, out):
    heatmaps = np.asarray(out['heatmaps'])
    if self.output_quantization:
      scale, zero = self.output_quantization
      heatmaps = (heatmaps.astype(np.float32) - zero) * scale
    if self.layout == 'NCHW':
      heatmaps = heatmaps.transpose(0, 2, 3, 1)
    out = dict(out, heatmaps=np.ascontiguousarray(heatmaps, np.float32))
    return out

  @property
  def in_graph_decoder(self):
    return self.meta.get('decoder') if self.has_decoder else None

  def outputs(self, images):
    """As Predictor.outputs: {'heatmaps' [B, h, w, K] and, with a decoder, 'keypoints'
    [B, K, 2] input px and 'scores' [B, K]} as float32 numpy."""
    images = self._check(images)
    parts = [self._finish(self._run(self._prepare(images[i:i + self.batch_size])))
             for i in range(0, len(images), self.batch_size)]
    return {k: np.concatenate([p[k] for p in parts], axis=0).astype(np.float32)
            for k in parts[0]}

  def _heatmaps(self, images):
    return self._finish(self._run(self._prepare(images)))['heatmaps']

  def decodes_in_graph(self, decoder, flip_test=False):
    # A flip test merges heatmaps before decoding, so it needs the heatmaps path.
    return (self.has_decoder and self.meta.get('decoder') == decoder and
            not self.flip_test_used(flip_test))

  def predict(self, images, decoder='dark', flip_test=False):
    """As Predictor.predict; the in-graph decoder's outputs when decodes_in_graph (the TF
    decode of one small batch costs about as much as a third of the network on 2 cores)."""
    if not self.decodes_in_graph(decoder, flip_test):
      return super().predict(images, decoder, flip_test)
    out = self.outputs(images)
    return out['keypoints'], out['scores']

  def _run(self, x):
    raise NotImplementedError


class TFLitePredictor(RuntimePredictor):
  """A .tflite file run by ai_edge_litert (XNNPACK on CPU)."""
  format, backend = 'tflite', 'litert'

  def __init__(self, path, num_threads=None):
    from ai_edge_litert.interpreter import Interpreter  # pylint: disable=g-import-not-at-top
    meta = metadata_lib.read_tflite_metadata(path)
    super().__init__(path, meta, 'tflite', num_threads)
    try:
      self._interpreter = Interpreter(model_path=path, num_threads=num_threads)
    except (ValueError, RuntimeError) as e:
      raise UserInputError(f'{path}: not a loadable TFLite model ({e})') from None
    self._signature = next(iter(self._interpreter.get_signature_list()))
    self._runner = self._interpreter.get_signature_runner(self._signature)
    self._batch = None
    self._ran = False

  def _run(self, x):
    if self.meta['input']['shape'][0] == -1 and self._batch != len(x):
      # A dynamic-batch model: re-create the runner for the new batch size. The old runner holds
      # the interpreter's internal data, which LiteRT refuses to resize under it.
      index = self._runner.get_input_details()['image']['index']
      self._runner = None
      with console.quiet_native_output():  # re-applying XNNPACK announces it again
        self._interpreter.resize_tensor_input(index, list(x.shape), strict=False)
        self._interpreter.allocate_tensors()
        self._runner = self._interpreter.get_signature_runner(self._signature)
      self._batch = len(x)
    if self._ran:
      return self._runner(image=x)
    with console.quiet_native_output():  # the first run applies XNNPACK and announces it
      outputs = self._runner(image=x)
    self._ran = True
    return outputs


class OnnxPredictor(RuntimePredictor):
  """An .onnx file run by onnxruntime on CPU."""
  format, backend = 'onnx', 'onnxruntime'

  def __init__(self, path, num_threads=None):
    import onnxruntime as ort  # pylint: disable=g-import-not-at-top
    options = ort.SessionOptions()
    if num_threads:
      options.intra_op_num_threads = int(num_threads)
      options.inter_op_num_threads = 1
    try:
      self._session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
      raise UserInputError(f'{path}: not a loadable ONNX model ({type(e).__name__}: {e})'
                           ) from None
    super().__init__(path, metadata_lib.read_onnx_metadata(self._session), 'onnx', num_threads)
    self._names = [o.name for o in self._session.get_outputs()]

  def _run(self, x):
    values = self._session.run(self._names, {self.meta['input']['name']: x})
    return dict(zip(self._names, values))


class MNNPredictor(RuntimePredictor):
  """An .mnn file run by MNN's Python module API; metadata from the `<file>.json` sidecar."""
  format, backend = 'mnn', 'mnn'

  def __init__(self, path, num_threads=None):
    with console.quiet_native_output():  # MNN reports the CPU's features when it loads
      import MNN  # pylint: disable=g-import-not-at-top  (never MNN.tools: see mnn_export)
    meta = metadata_lib.read_json(metadata_lib.sidecar_path(path))
    super().__init__(path, meta, 'mnn', num_threads)
    self._mnn = MNN
    config = {'precision': 'high', 'backend': 0, 'numThread': int(num_threads or 2)}
    try:
      with console.quiet_native_output():  # and its precision on every load
        runtime = MNN.nn.create_runtime_manager((config,))
        self._module = MNN.nn.load_module_from_file(path, [], [], runtime_manager=runtime)
    except Exception as e:  # MNN raises SystemError/RuntimeError on unreadable files
      raise UserInputError(f'{path}: not a loadable MNN model ({type(e).__name__}: {e})'
                           ) from None

  def _run(self, x):
    expr = self._mnn.expr
    # Models converted from ONNX take their tensors as written in the ONNX graph; MNN tags
    # those NCHW whatever the actual order of the dimensions is.
    y = self._module.forward([expr.const(x, list(x.shape), expr.NCHW)])
    if isinstance(y, (list, tuple)):
      y = y[0]
    y = expr.convert(y, expr.NCHW)
    return {'heatmaps': np.array(y.read(), np.float32).reshape(y.shape)}


_LOADERS = {'.tflite': TFLitePredictor, '.onnx': OnnxPredictor, '.mnn': MNNPredictor}


def load_runtime_predictor(path, num_threads=None):
  """Loads an exported .tflite, .onnx or .mnn file as a Predictor.

  Args:
    path: the model file (an .mnn needs its `<file>.json` sidecar beside it).
    num_threads: CPU threads of the runtime (None: its default; MNN: 2).
  Returns:
    RuntimePredictor (a hourglass.inference.predictors.Predictor).
  Raises:
    UserInputError: for a missing, unreadable or metadata-less file.
  """
  suffix = os.path.splitext(path)[1].lower()
  if suffix not in _LOADERS:
    raise UserInputError(f'{path}: unknown runtime model type {suffix!r}; expected '
                         f'{", ".join(_LOADERS)}')
  if not os.path.isfile(path):
    raise UserInputError(f'{path}: no such model file')
  return _LOADERS[suffix](path, num_threads)
