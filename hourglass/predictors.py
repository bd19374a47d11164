"""One predictor interface for every trained model format (documented Python API).

    from hourglass.predictors import load_predictor
    predictor = load_predictor('runs/my_model')          # model dir, bundle, .keras, SavedModel,
                                                         # .tflite, .onnx, .mnn
    heatmaps = predictor(images)                         # uint8/float [B, H, W, 3] RGB 0..255
    keypoints, scores = predictor.predict(images, decoder='dark', flip_test=True)

`keypoints` are in model-input pixels (integer = pixel centre); map them to the original image
with the crop's affine transform. Keras models run batched in graph mode through one
`tf.function` with a free batch dimension (no retracing per batch size).
"""

import json
import os

import numpy as np
import tensorflow as tf

from hourglass import bundle as bundle_lib
from hourglass.codec import HeatmapCodec
from records.errors import UserInputError
from records.keypoint_definition import KeypointDefinition

RUNTIME_SUFFIXES = ('.tflite', '.onnx', '.mnn')
BEST_MODEL_DIR = 'best_model'


class Predictor:
  """Base class: images -> heatmaps (`__call__`), plus decoding and the flip test (`predict`).

  Subclasses implement `_heatmaps(images float32 [B, H, W, 3]) -> np.float32 [B, h, w, K]`.

  Attributes:
    definition: KeypointDefinition of the K heatmap channels.
    input_shape: (H, W) model input.
    codec: HeatmapCodec (stride, sigma) that decodes the heatmaps.
    name: a short description (format and path) for logs and reports.
    batch_size: the largest batch sent to the model at once; larger inputs are split.
  """

  def __init__(self, definition, input_shape, codec, name, batch_size=32):
    self.definition = definition
    self.input_shape = tuple(int(v) for v in input_shape)
    self.codec = codec
    self.name = name
    self.batch_size = int(batch_size)
    self._decoders = {}

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

  def heatmaps(self, images, flip_test=False):
    """Heatmaps, averaged with those of the horizontally flipped images when `flip_test`."""
    images = self._check(images)
    heatmaps = self(images)
    if flip_test:
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

  def predict(self, images, decoder='dark', flip_test=False):
    """Keypoints of a batch of model-input images.

    Args:
      images: uint8 or float [B, H, W, 3] RGB 0..255.
      decoder: 'argmax', 'quarter' or 'dark'.
      flip_test: average with the heatmaps of the horizontally flipped images.
    Returns:
      (keypoints np.float32 [B, K, 2] model-input px, scores np.float32 [B, K] heatmap peaks).
    """
    return self.decode(self.heatmaps(images, flip_test), decoder)


class KerasPredictor(Predictor):
  """A Keras inference model run through one graph-mode `tf.function` per predictor."""

  def __init__(self, model, definition, codec, name, batch_size=32):
    height, width = model.input_shape[1:3]
    super().__init__(definition, (height, width), codec, name, batch_size)
    self.model = model
    spec = tf.TensorSpec([None, height, width, 3], tf.float32)
    self._function = tf.function(lambda x: tf.cast(model(x, training=False), tf.float32),
                                 input_signature=[spec], autograph=False)

  def _heatmaps(self, images):
    return self._function(tf.convert_to_tensor(images, tf.float32)).numpy()


class SavedModelPredictor(Predictor):
  """A SavedModel's serving function (exported with `model.export` or `tf.saved_model.save`)."""

  def __init__(self, path, definition, codec, batch_size=32):
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
    super().__init__(definition, codec.input_size, codec, f'saved_model:{path}', batch_size)

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


def codec_from_settings(settings, input_shape=None):
  """HeatmapCodec from a bundle's codec settings dict (input size from the model when absent)."""
  settings = dict(settings)
  if 'input_size' not in settings:
    if input_shape is None:
      raise UserInputError(f'codec settings {settings} have no input_size')
    settings['input_size'] = list(input_shape)
  return HeatmapCodec.from_dict(settings)


def _from_bundle(directory, batch_size):
  model, config, definition, codec_settings = bundle_lib.load_bundle(directory)
  codec = codec_from_settings(codec_settings, (config.input_height, config.input_width))
  return KerasPredictor(model, definition, codec, f'keras:{directory}', batch_size)


def _metadata_dir(path):
  """The folder holding model_info.json + keypoints.json for a model file or SavedModel dir."""
  candidates = [path, os.path.join(path, 'assets'), os.path.dirname(os.path.abspath(path))]
  for c in candidates:
    if os.path.isdir(c) and bundle_lib.is_bundle(c):
      return c
  raise UserInputError(f'{path}: no {bundle_lib.INFO_FILE} and {bundle_lib.DEFINITION_FILE} '
                       f'found beside the model (needed for the keypoint definition and codec)')


def _read_json(path):
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (OSError, ValueError) as e:
    raise UserInputError(f'{path}: cannot read the model metadata ({e})') from None


def _read_metadata(directory):
  """(KeypointDefinition, HeatmapCodec) from a folder's model_info.json + keypoints.json."""
  info = _read_json(os.path.join(directory, bundle_lib.INFO_FILE))
  definition_path = os.path.join(directory, bundle_lib.DEFINITION_FILE)
  definition = KeypointDefinition.from_dict(_read_json(definition_path), origin=definition_path)
  model = info.get('model', {})
  shape = (model.get('input_height'), model.get('input_width')) if model else None
  return definition, codec_from_settings(info.get('codec', {}), shape)


def load_predictor(path, batch_size=32):
  """Loads any trained model as a Predictor.

  Args:
    path: a training model_dir (its best_model bundle), a bundle dir, a `.keras` file (bundle
      files beside it), a SavedModel dir (bundle files inside, in assets/ or beside it), or a
      `.tflite` / `.onnx` / `.mnn` file (hourglass.runtime_predictors).
    batch_size: the largest batch sent to the model at once.
  Returns:
    Predictor.
  Raises:
    UserInputError: naming the path when it is missing or not a model this can load.
  """
  if not path:
    raise UserInputError('--model_path is required: a model directory or a model file')
  path = os.path.normpath(path)
  if not os.path.exists(path):
    raise UserInputError(f'{path}: no such model file or directory')
  if path.lower().endswith(RUNTIME_SUFFIXES):
    from hourglass import runtime_predictors  # pylint: disable=g-import-not-at-top
    return runtime_predictors.load_runtime_predictor(path)
  if os.path.isdir(path):
    if os.path.isfile(os.path.join(path, 'saved_model.pb')):
      definition, codec = _read_metadata(_metadata_dir(path))
      return SavedModelPredictor(path, definition, codec, batch_size)
    if bundle_lib.is_bundle(path):
      return _from_bundle(path, batch_size)
    best = os.path.join(path, BEST_MODEL_DIR)
    if bundle_lib.is_bundle(best):
      return _from_bundle(best, batch_size)
    raise UserInputError(f'{path}: not a model directory (no {BEST_MODEL_DIR}/ bundle, no '
                         f'{bundle_lib.INFO_FILE}, no saved_model.pb); has training saved a '
                         f'best model yet?')
  if path.lower().endswith('.keras'):
    definition, codec = _read_metadata(_metadata_dir(path))
    import keras  # pylint: disable=g-import-not-at-top
    try:
      model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for a file that is not a model
      raise UserInputError(f'{path}: not a loadable Keras model ({type(e).__name__}: {e})'
                           ) from None
    return KerasPredictor(model, definition, codec, f'keras:{path}', batch_size)
  raise UserInputError(f'{path}: unknown model format; expected a model directory, .keras, a '
                       f'SavedModel directory, .tflite, .onnx or .mnn')
