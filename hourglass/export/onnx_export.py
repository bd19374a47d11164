"""ONNX export through tf2onnx (opset >= 13), optionally NCHW and with the in-graph decoder.

The export metadata JSON goes into the model's metadata_props (metadata.onnx_props), which
onnxruntime reads back with `session.get_modelmeta().custom_metadata_map`.
"""

import tensorflow as tf

from core import files
from hourglass.export import metadata as metadata_lib
from hourglass.export import saved_model as saved_model_lib
from hourglass.export.config import DEFAULT_OPSET


def export_onnx(path, model, *, model_config, definition, codec, opset=DEFAULT_OPSET,
                nchw=False, with_decoder=False, decoder='dark', dynamic_batch=False,
                format_name='onnx', crop=None, flip=None):
  """Exports one ONNX file with its metadata.

  Args:
    path: output .onnx path (temporary name, then renamed).
    model: the Keras inference model (RGB 0..255 NHWC in).
    opset: ONNX opset, >= 13.
    nchw: input [B, 3, H, W] and heatmaps [B, K, h, w] instead of NHWC.
    with_decoder: also output keypoints [B, K, 2] (input px) and scores [B, K].
    decoder: 'quarter' or 'dark'.
    dynamic_batch: a free batch dimension.
    crop: the bundle's crop settings (its box margin), carried in the metadata.
    flip: the bundle's horizontal flip support, carried in the metadata (None: unknown).
  Returns:
    the metadata dict.
  """
  import onnx  # pylint: disable=g-import-not-at-top
  import tf2onnx  # pylint: disable=g-import-not-at-top
  if opset < 13:
    raise ValueError(f'ONNX opset {opset} < 13 is not supported')
  batch = None if dynamic_batch else 1
  heatmaps_fn, keypoints_fn = saved_model_lib.serving_functions(model, codec, decoder)
  fn = keypoints_fn if with_decoder else (lambda image: {'heatmaps': heatmaps_fn(image)})
  spec = saved_model_lib.input_spec(codec, batch)
  layout = 'NCHW' if nchw else 'NHWC'
  model_proto, _ = tf2onnx.convert.from_function(
      tf.function(fn, input_signature=[spec]), input_signature=[spec], opset=opset,
      inputs_as_nchw=['image'] if nchw else None,
      outputs_as_nchw=['heatmaps'] if nchw else None)
  meta_batch = -1 if dynamic_batch else 1
  k = definition.num_keypoints
  outputs = [metadata_lib.heatmap_output(codec, k, layout, meta_batch)]
  if with_decoder:
    outputs += metadata_lib.decoder_outputs(k, meta_batch)
  meta = metadata_lib.build_metadata(
      format_name=format_name, definition=definition, codec=codec, model_config=model_config,
      layout=layout, batch=meta_batch, outputs=outputs,
      decoder=decoder if with_decoder else None, crop=crop, flip=flip)
  del model_proto.metadata_props[:]
  for key, value in metadata_lib.onnx_props(meta).items():
    prop = model_proto.metadata_props.add()
    prop.key, prop.value = key, value
  with files.atomic_path(path) as tmp:
    onnx.save(model_proto, tmp)
  return meta
