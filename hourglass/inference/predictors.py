"""One predictor interface for every trained model format (documented Python API).

    from hourglass.inference.loading import load_predictor
    predictor = load_predictor('runs/my_model')          # model dir, bundle, .keras, SavedModel,
                                                         # .tflite, .onnx, .mnn
    heatmaps = predictor(images)                         # uint8/float [B, H, W, 3] RGB 0..255
    keypoints, scores = predictor.predict(images, decoder='dark', flip_test=True)

`keypoints` are in model-input pixels (integer = pixel centre); map them to the original image
with the crop's affine transform. Keras models run batched in graph mode through one
`tf.function` with a free batch dimension (no retracing per batch size).
"""

import dataclasses
import logging
import os

import numpy as np
import tensorflow as tf

from core import files
from core.errors import UserInputError
from hourglass.model import metadata as model_metadata
from hourglass.model.bundle import CropRule, FLIP_KEY, flip_support


class Predictor:
  """Base class: images -> heatmaps (`__call__`), plus decoding and the flip test (`predict`).

  Subclasses implement `_heatmaps(images float32 [B, H, W, 3]) -> np.float32 [B, h, w, K]`.

  Attributes:
    definition: KeypointDefinition of the K heatmap channels.
    input_shape: (H, W) model input.
    codec: HeatmapCodec (stride, sigma) that decodes the heatmaps.
    name: a short description (format and path) for logs and reports.
    batch_size: the largest batch sent to the model at once; larger inputs are split.
    crop_rule: hourglass.model.bundle.CropRule, how the training crops were cut: detector,
      searched and tracked boxes are cut by it (the records' defaults when the model's
      description has none).
    box_margin: crop_rule.box_margin, the enlargement of detector and tracked boxes.
    flip_supported: (read-only) whether the model's records set allows horizontal flips
      (hourglass.model.bundle.flip_support); when not, a flip test asked for is not run (a
      flip would swap or blur the labels): the plain prediction, with a warning once.
    flip_reason: (read-only) why, as the records set recorded it.
    format: (class attribute) the model's file format: 'keras', 'saved_model', 'tflite',
      'onnx' or 'mnn'; None for a predictor of no file.
    backend: (class attribute) what runs it: 'tensorflow' (whose thread pools are fixed once it
      has run an op, so a process times one thread count: hourglass.export.latency),
      'litert', 'onnxruntime' or 'mnn' (threads per loaded model).
    in_graph_decoder: (read-only) the decoder of the keypoints the file computes in its graph
      (`outputs`), or None when it has none.
  """
  format = None
  backend = 'tensorflow'

  def __init__(self, definition, input_shape, codec, name, batch_size=32, crop_rule=None,
               flip=None):
    """`flip`: {'supported': bool, 'reason': str} of the model's records, or None (supported)."""
    self.crop_rule = crop_rule or CropRule()
    self._flip = flip_support({FLIP_KEY: flip})
    self._flip_warned = False
    self.definition = definition
    self.input_shape = tuple(int(v) for v in input_shape)
    self.codec = codec
    self.name = name
    self.batch_size = int(batch_size)
    self._decoders = {}

  @property
  def box_margin(self):
    return self.crop_rule.box_margin

  @box_margin.setter
  def box_margin(self, margin):
    self.crop_rule = dataclasses.replace(self.crop_rule, box_margin=float(margin))

  @property
  def flip_supported(self):
    return self._flip['supported']

  @property
  def flip_reason(self):
    return self._flip['reason']

  def flip_test_used(self, flip_test, log=None):
    """Whether a flip test asked for (`flip_test`) runs: only where the model's records set
    supports horizontal flips. When it is turned off, says so once per predictor: to `log` (a
    print-like function) when given, else as a logged warning."""
    if flip_test and not self.flip_supported:
      if not self._flip_warned:
        self._flip_warned = True
        message = (f'flip_test: this model\'s records set does not support horizontal flips: '
                   f'{self.flip_reason}; predicting without the flip test')
        if log is None:
          logging.warning('%s: %s', self.name, message)
        else:
          log(message)
      return False
    return bool(flip_test)

  @property
  def in_graph_decoder(self):
    return None

  def _heatmaps(self, images):
    raise NotImplementedError

  def _check(self, images):
    images = np.asarray(images)
    if images.ndim == 3:
      images = images[None]
    if images.ndim != 4 or tuple(images.shape[1:]) != self.input_shape + (3,):
      raise ValueError(f'{self.name}: expected images [B, {self.input_shape[0]}, '
                       f'{self.input_shape[1]}, 3] RGB, got shape {images.shape}')
    return images.astype(np.float32, copy=False)

  def __call__(self, images):
    """Heatmaps of a batch.

    Args:
      images: uint8 or float [B, H, W, 3] RGB in 0..255 (numpy or tf tensor).
    Returns:
      np.float32 [B, h, w, K].
    """
    images = self._check(images)
    if len(images) <= self.batch_size:
      return np.asarray(self._heatmaps(images), np.float32)
    parts = [self._heatmaps(images[i:i + self.batch_size])
             for i in range(0, len(images), self.batch_size)]
    return np.concatenate(parts, axis=0).astype(np.float32, copy=False)

  def outputs(self, images):
    """Every output of the model for a batch, as float32 numpy.

    Args:
      images: uint8 or float [B, H, W, 3] RGB in 0..255.
    Returns:
      {'heatmaps': [B, h, w, K]}, and for a file with an in-graph decoder (in_graph_decoder)
      also 'keypoints' [B, K, 2] model-input px and 'scores' [B, K].
    """
    return {'heatmaps': self(images)}

  def heatmaps(self, images, flip_test=False):
    """Heatmaps, averaged with those of the horizontally flipped images when `flip_test` (and
    the model supports flips: flip_test_used)."""
    images = self._check(images)
    heatmaps = self(images)
    if self.flip_test_used(flip_test):
      flipped = self(images[:, :, ::-1])
      heatmaps = self.codec.merge_flip(heatmaps, flipped,
                                       self.definition.flip_permutation('h')).numpy()
    return heatmaps

  def decode(self, heatmaps, decoder='dark'):
    """[B, h, w, K] heatmaps -> (keypoints [B, K, 2] model-input px, scores [B, K]) numpy."""
    if decoder not in self._decoders:
      codec = self.codec
      # One trace for every batch size: the signature leaves all dimensions free.
      self._decoders[decoder] = tf.function(
          lambda hm: codec.decode(hm, decoder),
          input_signature=[tf.TensorSpec([None, None, None, None], tf.float32)],
          autograph=False)  # no tensor-dependent Python control flow; converting costs seconds
    keypoints, scores = self._decoders[decoder](tf.convert_to_tensor(heatmaps, tf.float32))
    return keypoints.numpy(), scores.numpy()

  def decodes_in_graph(self, decoder, flip_test=False):
    """Whether `predict` takes keypoints from the model's own decoder outputs (an export made
    with --with_decoder: no separate decoding step)."""
    return False

  def predict(self, images, decoder='dark', flip_test=False):
    """Keypoints of a batch of model-input images.

    Args:
      images: uint8 or float [B, H, W, 3] RGB 0..255.
      decoder: 'argmax', 'quarter' or 'dark'.
      flip_test: average with the heatmaps of the horizontally flipped images (off, with a
        warning, for a model whose records set does not support flips).
    Returns:
      (keypoints np.float32 [B, K, 2] model-input px, scores np.float32 [B, K] heatmap peaks).
    """
    return self.decode(self.heatmaps(images, flip_test), decoder)


class KerasPredictor(Predictor):
  """A Keras inference model run through one graph-mode `tf.function` per predictor."""
  format = 'keras'

  def __init__(self, model, definition, codec, name, batch_size=32, crop_rule=None, flip=None):
    height, width = model.input_shape[1:3]
    super().__init__(definition, (height, width), codec, name, batch_size, crop_rule, flip)
    self.model = model
    spec = tf.TensorSpec([None, height, width, 3], tf.float32)
    self._function = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32),
                                 input_signature=[spec], autograph=False)

  def _heatmaps(self, images):
    return self._function(tf.convert_to_tensor(images, tf.float32)).numpy()


class SavedModelPredictor(Predictor):
  """A SavedModel's serving function (exported with `model.export` or `tf.saved_model.save`).

  The exports of hourglass.export.saved_model also have a `serve_keypoints` endpoint (keypoints
  decoded in the graph): `outputs` returns its outputs, and in_graph_decoder is the decoder named
  in the folder's export metadata.
  """
  format = 'saved_model'

  def __init__(self, path, definition, codec, batch_size=32, crop_rule=None, flip=None):
    try:
      loaded = tf.saved_model.load(path)
    except Exception as e:  # TF raises several types for a folder that is not a SavedModel
      raise UserInputError(f'{path}: not a loadable SavedModel ({type(e).__name__}: {e})'
                           ) from None
    self._loaded = loaded  # keep the trackable alive: the functions reference its variables
    function = getattr(loaded, 'serve', None)
    if function is None:
      signatures = getattr(loaded, 'signatures', {})
      if 'serving_default' not in signatures:
        raise UserInputError(f'{path}: the SavedModel has neither a `serve` endpoint nor a '
                             f'serving_default signature')
      signature = signatures['serving_default']
      function = lambda x: next(iter(signature(x).values()))
    self._function = function
    self._as_list = None
    self._keypoints_fn = getattr(loaded, 'serve_keypoints', None)
    self._decoder = _export_decoder(path) if self._keypoints_fn is not None else None
    super().__init__(definition, codec.input_size, codec, f'saved_model:{path}', batch_size,
                     crop_rule, flip)

  def _heatmaps(self, images):
    x = tf.convert_to_tensor(images, tf.float32)
    if self._as_list is None:  # Keras exports of a model built with `inputs=[...]` take a list
      try:
        out, self._as_list = self._function(x), False
      except (TypeError, ValueError):
        out, self._as_list = self._function([x]), True
    else:
      out = self._function([x] if self._as_list else x)
    if isinstance(out, dict):
      out = next(iter(out.values()))
    return np.asarray(out, np.float32)

  @property
  def in_graph_decoder(self):
    return self._decoder

  def outputs(self, images):
    """As Predictor.outputs; with the serve_keypoints endpoint, every output of it."""
    if self._keypoints_fn is None:
      return super().outputs(images)
    images = self._check(images)
    parts = [self._keypoints_fn(tf.convert_to_tensor(images[i:i + self.batch_size], tf.float32))
             for i in range(0, len(images), self.batch_size)]
    return {k: np.concatenate([np.asarray(p[k], np.float32) for p in parts], axis=0)
            for k in parts[0]}


def _export_decoder(path):
  """The in-graph decoder named in a SavedModel folder's export metadata, or None."""
  meta_path = os.path.join(path, model_metadata.SAVED_MODEL_METADATA_FILE)
  if not os.path.isfile(meta_path):
    return None
  meta = files.read_json(meta_path, 'the export metadata')
  return meta.get('decoder') if isinstance(meta, dict) else None
