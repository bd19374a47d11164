"""SavedModel export through keras.export.ExportArchive (weights tracked, so TFLite converts it).

Endpoints (also signatures) of an exported SavedModel:
  serve(image float32 [B, H, W, 3] RGB 0..255) -> {'heatmaps': float32 [B, h, w, K]}
  serve_uint8(image uint8 [B, H, W, 3]) -> {'heatmaps'}
  serve_keypoints(image float32 [B, H, W, 3]) -> {'heatmaps', 'keypoints' [B, K, 2] input px,
      'scores' [B, K]}, decoded in the graph with the codec.
The bundle's model_info.json and keypoints.json are written into the directory, so
hourglass.inference.loading.load_predictor(dir) works on the exported folder alone.
"""

import os

import keras
import tensorflow as tf

from hourglass.model import bundle as bundle_lib
from hourglass.export import metadata as metadata_lib
from hourglass.model import metadata as model_metadata
from core import files


def serving_functions(model, codec, decoder='dark'):
  """The functions exported: (heatmaps_fn, keypoints_fn), both image float [B,H,W,3] -> ..."""
  def heatmaps_fn(image):
    return tf.identity(tf.cast(model(image, training=False), tf.float32), name='heatmaps')

  def keypoints_fn(image):
    heatmaps = heatmaps_fn(image)
    keypoints, scores = codec.decode(heatmaps, decoder)
    return {'heatmaps': heatmaps, 'keypoints': tf.identity(keypoints, name='keypoints'),
            'scores': tf.identity(scores, name='scores')}
  return heatmaps_fn, keypoints_fn


def input_spec(codec, batch=None, dtype=tf.float32, layout='NHWC'):
  height, width = codec.input_size
  shape = [batch, 3, height, width] if layout == 'NCHW' else [batch, height, width, 3]
  return tf.TensorSpec(shape, dtype, name='image')


def write_archive(directory, model, endpoints):
  """Writes a SavedModel with the given endpoints {name: (fn, TensorSpec)} into `directory`."""
  archive = keras.export.ExportArchive()
  archive.track(model)
  for name, (fn, spec) in endpoints.items():
    archive.add_endpoint(name, fn, input_signature=[spec])
  archive.write_out(directory, verbose=False)


def export_saved_model(path, model, *, model_config, definition, codec, decoder='dark',
                       crop=None, flip=None):
  """Exports the SavedModel described in the module docstring.

  Args:
    path: the output directory (replaced when it exists).
    model: the Keras inference model (RGB 0..255 in, heatmaps out).
    model_config, definition, codec, crop: what the bundle carries (crop: its box margin,
      written into the metadata and model_info.json; None when unknown; flip: its
      horizontal flip support, written alike).
    decoder: 'quarter' or 'dark', for serve_keypoints.
  The batch dimension is always free (TF serves any batch); the TFLite files converted from
  this SavedModel get batch 1 unless resized (hourglass.export.tflite).

  Returns:
    the metadata dict written beside the model.
  """
  batch = None
  heatmaps_fn, keypoints_fn = serving_functions(model, codec, decoder)
  endpoints = {
      'serve': (lambda image: {'heatmaps': heatmaps_fn(image)}, input_spec(codec, batch)),
      'serve_uint8': (lambda image: {'heatmaps': heatmaps_fn(tf.cast(image, tf.float32))},
                      input_spec(codec, batch, tf.uint8)),
      'serve_keypoints': (keypoints_fn, input_spec(codec, batch)),
  }
  meta_batch = -1
  outputs = ([metadata_lib.heatmap_output(codec, definition.num_keypoints, batch=meta_batch)] +
             metadata_lib.decoder_outputs(definition.num_keypoints, meta_batch))
  meta = metadata_lib.build_metadata(format_name='saved_model', definition=definition,
                                     codec=codec, model_config=model_config, batch=meta_batch,
                                     outputs=outputs, decoder=decoder, crop=crop, flip=flip)
  # The whole folder is built under a temporary name; an old `path` is deleted just before the
  # rename (a rename cannot replace a non-empty folder).
  with files.atomic_path(path) as tmp:
    write_archive(tmp, model, endpoints)
    metadata_lib.write_json(os.path.join(tmp, model_metadata.SAVED_MODEL_METADATA_FILE), meta)
    bundle_lib.write_description(tmp, model_config, definition, codec.to_dict(), crop, flip)
  return meta
