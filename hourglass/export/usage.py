"""A few lines per exported format on how to run it on a device: input, outputs, reading them."""


def _keypoint_lines(meta):
  stride = meta['codec']['stride']
  names = ', '.join(meta['keypoints']['names'])
  return [f'Keypoint k (channels in order: {names}) is the heatmap maximum at column j, row i: '
          f'x = {stride} * j + {(stride - 1) / 2:g}, y = {stride} * i + {(stride - 1) / 2:g} '
          f'in input pixels; its confidence is the peak value (refine with DARK or a quarter '
          f'pixel towards the higher neighbour).']


def _input_line(meta):
  i = meta['input']
  q = i.get('quantization')
  quant = (f'; quantized with scale {q[0]:g}, zero point {q[1]:g} (raw RGB bytes go in '
           f'unchanged when scale is 1 and zero point 0)' if q else '')
  batch = 'any batch' if i['shape'][0] == -1 else f'batch {i["shape"][0]}'
  return (f'Input `{i["name"]}`: {i["dtype"]} {i["layout"]} {i["shape"]} ({batch}), RGB in '
          f'0..255, not normalised (the model normalises){quant}.')


def _output_lines(meta):
  lines = []
  for o in meta['outputs']:
    q = o.get('quantization')
    deq = f', dequantize: (q - {q[1]:g}) * {q[0]:g}' if q else ''
    lines.append(f'Output `{o["name"]}`: {o["dtype"]} {o["shape"]}{deq}: {o["meaning"]}.')
  return lines


_CALLS = {
    'saved_model': ('m = tf.saved_model.load(path); out = m.serve_keypoints(image_float32)  '
                    '# or m.serve(...) / m.serve_uint8(...) for heatmaps only'),
    'tflite': ('from ai_edge_litert.interpreter import Interpreter; '
               'runner = Interpreter(model_path=path).get_signature_runner(); '
               'out = runner(image=x)'),
    'onnx': ('import onnxruntime as ort; s = ort.InferenceSession(path); '
             'out = s.run(None, {"image": x})'),
    'mnn': ('import MNN; net = MNN.nn.load_module_from_file(path, [], []); '
            'y = net.forward([MNN.expr.const(x, list(x.shape), MNN.expr.NCHW)])  # the tag is '
            'MNN\'s, the data keeps the layout above; metadata in <file>.json'),
}


def usage_lines(format_name, meta):
  """Markdown lines (no bullets) describing on-device use of one exported format."""
  family = format_name.split('_')[0] if format_name != 'saved_model' else 'saved_model'
  lines = [f'`{_CALLS[family]}`', _input_line(meta)] + _output_lines(meta)
  if meta.get('decoder'):
    lines.append(f'`keypoints` are decoded in the graph ({meta["decoder"]}); no '
                 f'post-processing needed.')
  else:
    lines += _keypoint_lines(meta)
  if meta.get('float_layers'):
    lines.append(f'int8 inside except {", ".join(meta["float_layers"])}, kept float (float input '
                 f'and output either way).')
  lines.append('Metadata (names, flip pairs, skeleton, stride, sigma): ' + {
      'saved_model': 'export_metadata.json in the folder',
      'tflite': 'flatbuffer metadata entry "hourglass_metadata" (JSON)',
      'onnx': 'metadata_props key "hourglass_metadata" (JSON)',
      'mnn': 'the sidecar <file>.json'}[family] + '.')
  return lines
