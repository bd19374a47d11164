"""Loads any trained model file or directory as a Predictor (hourglass.inference.predictors).

    from hourglass.inference.loading import load_predictor
    predictor = load_predictor('runs/my_model')   # model dir, bundle, .keras, SavedModel,
                                                  # .tflite, .onnx, .mnn
"""

import os

from hourglass.inference import runtime_predictors
from hourglass.inference.predictors import KerasPredictor, SavedModelPredictor
from core.errors import UserInputError
from hourglass.model import bundle as bundle_lib
from hourglass.model import seed_import

RUNTIME_SUFFIXES = ('.tflite', '.onnx', '.mnn')


def _from_bundle(directory, batch_size):
  model, config, definition, codec_settings, info = bundle_lib.load_bundle(directory,
                                                                          with_info=True)
  codec = bundle_lib.codec_from_settings(codec_settings, (config.input_height, config.input_width))
  return KerasPredictor(model, definition, codec, f'keras:{directory}', batch_size,
                        bundle_lib.CropRule.from_info(info), bundle_lib.flip_support(info))


def _from_seed_file(path, batch_size):
  """A model of the seed project (Keras 2 .h5), imported in memory with the shipped definition
  of its keypoint count (--mode=import_seed takes the seed's config files)."""
  from hourglass.model.network import inference_model  # pylint: disable=g-import-not-at-top
  model, config, _ = seed_import.import_model(path)
  keypoints = seed_import.definition(path, config.num_keypoints)
  codec = bundle_lib.codec_from_settings(seed_import.codec_settings(config))
  flip = bundle_lib.flip_support({bundle_lib.FLIP_KEY: seed_import.flip_setting(keypoints)})
  return KerasPredictor(inference_model(model), keypoints, codec, f'seed:{path}', batch_size,
                        bundle_lib.CropRule(), flip)


def _metadata_dir(path):
  """The folder holding model_info.json + keypoints.json for a model file or SavedModel dir."""
  candidates = [path, os.path.join(path, 'assets'), os.path.dirname(os.path.abspath(path))]
  for c in candidates:
    if os.path.isdir(c) and bundle_lib.is_bundle(c):
      return c
  raise UserInputError(f'{path}: no {bundle_lib.INFO_FILE} and {bundle_lib.DEFINITION_FILE} '
                       f'found beside the model (needed for the keypoint definition and codec)')


def _read_metadata(directory):
  """(KeypointDefinition, HeatmapCodec, CropRule, flip support dict) from a folder's
  model_info.json + keypoints.json."""
  info, definition = bundle_lib.read_description(directory)
  model = info.get('model', {})
  shape = (model.get('input_height'), model.get('input_width')) if model else None
  return (definition, bundle_lib.codec_from_settings(info.get('codec', {}), shape),
          bundle_lib.CropRule.from_info(info), bundle_lib.flip_support(info))


def load_predictor(path, batch_size=32, num_threads=None):
  """Loads any trained model as a Predictor.

  Args:
    path: a training model_dir (its best_model bundle), a bundle dir, a `.keras` file (bundle
      files beside it), a SavedModel dir (bundle files inside, in assets/ or beside it), a
      `.tflite` / `.onnx` / `.mnn` file (hourglass.inference.runtime_predictors), or a Keras 2
      `.h5` model of the seed project (hourglass/model/seed_import.py; MPII or COCO keypoints).
    batch_size: the largest batch sent to the model at once.
    num_threads: CPU threads of a .tflite / .onnx / .mnn runtime (None: its default).
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
    return runtime_predictors.load_runtime_predictor(path, num_threads)
  if os.path.isdir(path):
    if os.path.isfile(os.path.join(path, 'saved_model.pb')):
      definition, codec, rule, flip = _read_metadata(_metadata_dir(path))
      return SavedModelPredictor(path, definition, codec, batch_size, rule, flip)
    found = bundle_lib.find_bundle(path)
    if found:
      return _from_bundle(found, batch_size)
    raise UserInputError(f'{path}: not a model directory (no {bundle_lib.BEST_MODEL_DIR}/ '
                         f'bundle, no {bundle_lib.INFO_FILE}, no saved_model.pb); has training '
                         f'saved a best model yet?')
  if path.lower().endswith('.keras'):
    definition, codec, rule, flip = _read_metadata(_metadata_dir(path))
    import keras  # pylint: disable=g-import-not-at-top
    try:
      model = keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for a file that is not a model
      raise UserInputError(f'{path}: not a loadable Keras model ({type(e).__name__}: {e})'
                           ) from None
    return KerasPredictor(model, definition, codec, f'keras:{path}', batch_size, rule, flip)
  if path.lower().endswith('.h5'):
    return _from_seed_file(path, batch_size)
  raise UserInputError(f'{path}: unknown model format; expected a model directory, .keras, a '
                       f'SavedModel directory, .tflite, .onnx, .mnn or a seed project .h5')
