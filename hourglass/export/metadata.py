"""What every exported model file carries: the keypoint definition and how to feed and read it.

The same JSON dict goes into every format: the TFLite flatbuffer's metadata table (entry
`METADATA_KEY`), the ONNX `metadata_props` (key `METADATA_KEY`, plus a few flat keys for
viewers such as Netron) and, for MNN (whose file has no free-form field), a sidecar
`<file>.json`. A SavedModel directory gets the bundle's `model_info.json` + `keypoints.json`
(what hourglass.inference.predictors reads) and the same `export_metadata.json`.

Content (format "hourglass-export/1"):
  keypoints: KeypointDefinition.to_dict() (names, flip pairs, skeleton, sigmas)
  codec: HeatmapCodec.to_dict() (input_size [H, W], stride, sigma)
  model: ModelConfig.to_dict()
  input: {name, layout 'NHWC'|'NCHW', shape (-1 = dynamic batch), dtype, range [0, 255],
          colour 'RGB', quantization [scale, zero_point] or null}
  outputs: [{name, shape, dtype, meaning}], heatmaps first
  decoder: 'quarter' | 'dark' | null (keypoints decoded in the graph)
  format_name: e.g. 'tflite_uint8'
  crop: the bundle's crop settings (hourglass.model.bundle.CropRule), when it has them
  horizontal_flip: {supported, reason}, whether the records set allows horizontal flips (the
    runtime predictors' flip test obeys it), when the bundle records it
"""

import json

from core import files
from hourglass.model.metadata import FORMAT, METADATA_KEY
from records.reader import FLIP_KEY


def build_metadata(*, format_name, definition, codec, model_config, input_name='image',
                   layout='NHWC', batch=1, input_dtype='float32', input_quantization=None,
                   outputs=(), decoder=None, crop=None, flip=None):
  """Builds the metadata dict of one exported file.

  Args:
    format_name: one of hourglass.export.FORMATS.
    definition: KeypointDefinition.
    codec: HeatmapCodec.
    model_config: hourglass.model.config.ModelConfig.
    layout: 'NHWC' or 'NCHW' (input and heatmap output alike).
    batch: the fixed batch size, or -1 for a dynamic batch.
    input_dtype: 'float32' or 'uint8'.
    input_quantization: (scale, zero_point) of a quantized input, or None.
    outputs: dicts {name, shape, dtype, meaning}.
    decoder: the in-graph decoder ('quarter' or 'dark') or None.
    crop: the bundle's crop settings ({'box_margin': m}, hourglass.model.bundle), or None.
    flip: the bundle's horizontal flip support ({'supported', 'reason'},
      hourglass.model.bundle.flip_support), or None (readers count flips as supported).
  Returns:
    a JSON-ready dict.
  """
  height, width = codec.input_size
  shape = [batch, 3, height, width] if layout == 'NCHW' else [batch, height, width, 3]
  meta = {
      'format': FORMAT,
      'format_name': format_name,
      'keypoints': definition.to_dict(),
      'codec': codec.to_dict(),
      'model': model_config.to_dict(),
      'input': {'name': input_name, 'layout': layout, 'shape': shape, 'dtype': input_dtype,
                'range': [0, 255], 'colour': 'RGB',
                'quantization': list(input_quantization) if input_quantization else None},
      'outputs': [dict(o) for o in outputs],
      'decoder': decoder,
  }
  if crop:
    meta['crop'] = dict(crop)
  if flip is not None:
    meta[FLIP_KEY] = {'supported': bool(flip['supported']),
                               'reason': str(flip.get('reason') or '')}
  return meta


def heatmap_output(codec, num_keypoints, layout='NHWC', batch=1, name='heatmaps',
                   dtype='float32', quantization=None):
  """The output entry of the heatmaps: [B, h, w, K] (NHWC) or [B, K, h, w] (NCHW)."""
  h, w = codec.heatmap_size
  shape = [batch, num_keypoints, h, w] if layout == 'NCHW' else [batch, h, w, num_keypoints]
  entry = {'name': name, 'shape': shape, 'dtype': dtype,
           'meaning': 'heatmaps; keypoint = argmax, input px = stride * heatmap px + '
                      '(stride - 1) / 2; confidence = peak value'}
  if quantization:
    entry['quantization'] = list(quantization)
  return entry


def decoder_outputs(num_keypoints, batch=1):
  """The output entries of the in-graph decoder."""
  return [{'name': 'keypoints', 'shape': [batch, num_keypoints, 2], 'dtype': 'float32',
           'meaning': '(x, y) in model-input pixels, integer = pixel centre'},
          {'name': 'scores', 'shape': [batch, num_keypoints], 'dtype': 'float32',
           'meaning': 'heatmap peak value per keypoint'}]


def to_json(meta):
  return json.dumps(meta, indent=2, sort_keys=True)


def write_json(path, meta):
  """Writes `meta` as JSON to `path` (temporary name, then rename)."""
  files.write_text(path, to_json(meta) + '\n')


def onnx_props(meta):
  """ONNX metadata_props entries: the full JSON plus flat keys readable in model viewers."""
  return {
      METADATA_KEY: to_json(meta),
      'keypoint_names': ','.join(meta['keypoints']['names']),
      'input_layout': meta['input']['layout'],
      'input_range': '0..255 RGB',
      'stride': str(meta['codec']['stride']),
      'sigma': str(meta['codec']['sigma']),
  }
