"""A self-contained model directory: the Keras inference model plus everything eval, predict and
export need (keypoint definition, model config, codec settings), so they need no other flag.

Layout of a bundle directory:
  model.keras       the inference model (last stack's heatmaps), RGB [0, 255] input
  keypoints.json    the KeypointDefinition (names, flip pairs, skeleton, sigmas)
  model_info.json   {"model": ModelConfig dict, "codec": codec settings dict, "format": 1,
                     "crop": {"box_margin": m}: how much context the training crops held}

The crop rule is the records' (records/crop.py): an object box enlarged by box_margin about its
centre, grown to the model aspect. Eval, predict and tracking crop detector and tracked boxes by
the margin the model was trained with, read back by `box_margin`.
"""

import os

import keras

from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model.config import ModelConfig
from records import files
from records.crop import CropSettings
from records.errors import UserInputError
from records.keypoint_definition import KeypointDefinition

MODEL_FILE = 'model.keras'
DEFINITION_FILE = 'keypoints.json'
INFO_FILE = 'model_info.json'
# Where training saves the best model inside a model directory.
BEST_MODEL_DIR = 'best_model'
DEFAULT_BOX_MARGIN = CropSettings.box_margin


def save_bundle(directory, model, model_config, definition, codec_settings, crop=None):
  """Writes a bundle; each file goes to a temporary name first, then is renamed into place.

  Args:
    model: the Keras inference model.
    model_config: ModelConfig.
    definition: KeypointDefinition.
    codec_settings: dict of the heatmap codec's settings (e.g. stride, sigma, input size).
    crop: {'box_margin': float} of the records the model was trained on, or None (unknown:
      readers assume the records' default).
  """
  os.makedirs(directory, exist_ok=True)
  with files.atomic_path(os.path.join(directory, MODEL_FILE)) as tmp:
    model.save(tmp)  # Keras wants the '.keras' extension, which the temporary name keeps
  write_description(directory, model_config, definition, codec_settings, crop)


def write_description(directory, model_config, definition, codec_settings, crop=None):
  """Writes keypoints.json and model_info.json, what eval, predict and export read beside a
  model (a bundle, or an exported SavedModel)."""
  files.write_json(os.path.join(directory, DEFINITION_FILE), definition.to_dict(), indent=2)
  info = {'format': 1, 'model': model_config.to_dict(), 'codec': dict(codec_settings)}
  if crop:
    info['crop'] = {'box_margin': float(crop['box_margin'])}
  files.write_json(os.path.join(directory, INFO_FILE), info, indent=2)


def crop_settings(records_settings):
  """The bundle's crop entry from a records manifest's settings dict (make_records' config)."""
  return {'box_margin': float((records_settings or {}).get('box_margin', DEFAULT_BOX_MARGIN))}


def box_margin(info):
  """The box margin a model was trained with, from its model_info.json (or export metadata)
  dict; the records' default for models saved before bundles recorded it."""
  try:
    margin = float((info.get('crop') or {}).get('box_margin', DEFAULT_BOX_MARGIN))
  except (AttributeError, TypeError, ValueError):
    raise UserInputError(f'malformed crop settings {info.get("crop")!r} in the model '
                         f'description') from None
  if not margin > 0:
    raise UserInputError(f'the model description\'s box_margin must be > 0, got {margin}')
  return margin


def read_description(directory):
  """(model_info.json dict, KeypointDefinition) of what write_description wrote.

  Raises:
    UserInputError: naming the missing or unreadable file.
  """
  info = _read_json(os.path.join(directory, INFO_FILE))
  definition_path = os.path.join(directory, DEFINITION_FILE)
  definition = KeypointDefinition.from_dict(_read_json(definition_path), origin=definition_path)
  return info, definition


def load_bundle(directory, compile=False):
  """Loads a bundle (safe mode on).

  Returns:
    (keras model, ModelConfig, KeypointDefinition, codec settings dict).
  Raises:
    UserInputError: naming the directory and the missing or broken file.
  """
  info, definition = read_description(directory)
  model_path = os.path.join(directory, MODEL_FILE)
  if not os.path.isfile(model_path):
    raise UserInputError(f'{model_path}: missing; {directory} is not a complete model directory')
  try:
    model = keras.models.load_model(model_path, compile=compile, safe_mode=True)
  except Exception as e:  # Keras raises many types for a file that is not a model.
    raise UserInputError(f'{model_path}: not a loadable Keras model ({type(e).__name__}: {e})'
                         ) from None
  try:
    config = ModelConfig.from_dict(info['model'])
    codec = dict(info['codec'])
  except (KeyError, TypeError, ValueError) as e:
    raise UserInputError(f'{os.path.join(directory, INFO_FILE)}: malformed ({e!r})') from None
  return model, config, definition, codec


def is_bundle(directory):
  return os.path.isfile(os.path.join(directory, INFO_FILE))


def best_model_dir(model_dir):
  """The bundle directory where training keeps a model directory's best model."""
  return os.path.join(model_dir, BEST_MODEL_DIR)


def find_bundle(path):
  """The bundle of a training model directory (its best model) or of a bundle directory itself,
  or None when `path` is neither."""
  for candidate in (best_model_dir(path), path):
    if is_bundle(candidate):
      return candidate
  return None


def codec_from_settings(settings, input_shape=None):
  """HeatmapCodec from a bundle's codec settings dict (input size from the model when absent)."""
  settings = dict(settings)
  if 'input_size' not in settings:
    if input_shape is None:
      raise UserInputError(f'codec settings {settings} have no input_size')
    settings['input_size'] = list(input_shape)
  return HeatmapCodec.from_dict(settings)


def _read_json(path):
  return files.read_json(path, 'the model bundle JSON', missing='not a model directory')
