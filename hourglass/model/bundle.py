"""A self-contained model directory: the Keras inference model plus everything eval, predict and
export need (keypoint definition, model config, codec settings), so they need no other flag.

Layout of a bundle directory:
  model.keras       the inference model (last stack's heatmaps), RGB [0, 255] input
  keypoints.json    the KeypointDefinition (names, flip pairs, skeleton, sigmas)
  model_info.json   {"model": ModelConfig dict, "codec": codec settings dict, "format": 1,
                     "crop": CropRule dict: how the training crops were cut,
                     "horizontal_flip": {"supported": bool, "reason": str}: whether the
                     records set allows horizontal flips (the flip test obeys it)}

The crop rule is the records' (records/crop.py): an object box (or the box of the labelled
keypoints, enlarged by box_margin and never under box_min_side) grown to the model aspect. Eval,
predict, the whole-frame search and tracking cut their crops by the rule the model was trained
with (`CropRule.from_info`).

The flip setting is the records manifest's 'horizontal_flip' (records.sources.resolve
horizontal_flip_support): a set whose pixels tell left from right, or whose side-named keypoints
lack a flip pair, must not be averaged with flipped heatmaps (`flip_support`). Bundles saved
before it was recorded count as supporting flips.
"""

import dataclasses
import os
from typing import Optional, Tuple

import keras
import numpy as np

from core import files
from core.errors import UserInputError
from hourglass.keypoints.codec import HeatmapCodec
# Imported to register SeparableConv1x1 and FusedBatchNorm for load_model.
from hourglass.model import fuse_separable, fused_batch_norm  # noqa: F401
from hourglass.model.config import ModelConfig
from records import reader as records_reader
from records.crop import CropSettings
from records.example import keypoint_box
from records.keypoint_definition import KeypointDefinition

MODEL_FILE = 'model.keras'
DEFINITION_FILE = 'keypoints.json'
INFO_FILE = 'model_info.json'
# Where training saves the best model inside a model directory.
BEST_MODEL_DIR = 'best_model'
DEFAULT_BOX_MARGIN = CropSettings.box_margin
FLIP_KEY = records_reader.FLIP_KEY  # the records manifest's key, copied into model_info.json
# The reason given for a model description that does not record its records' flip setting.
FLIP_UNRECORDED = 'not recorded in the model description (saved before bundles recorded it)'


@dataclasses.dataclass(frozen=True)
class CropRule:
  """How the model's training crops were cut, so that inference cuts its crops alike.

  Attributes:
    box_margin: boxes (detector boxes, keypoint extents) are enlarged by it about their centre.
    box_min_side: the smallest side (original px) of a box derived from keypoints.
    object_scale: (low, median, high), the 5th/50th/95th percentile of the training boxes' larger
      side (margin included, grown to the model aspect) over their image's larger side; where
      the whole-frame search looks first. None when the records did not record it.
  """
  box_margin: float = DEFAULT_BOX_MARGIN
  box_min_side: float = CropSettings.box_min_side
  object_scale: Optional[Tuple[float, float, float]] = None

  def to_dict(self):
    out = {'box_margin': float(self.box_margin), 'box_min_side': float(self.box_min_side)}
    if self.object_scale:
      out['object_scale'] = [round(float(v), 5) for v in self.object_scale]
    return out

  @classmethod
  def from_info(cls, info):
    """The rule of a model_info.json (or export metadata) dict; the records' defaults for
    models saved before bundles recorded it.

    Raises:
      UserInputError: for a malformed or out-of-range crop entry.
    """
    crop = info.get('crop') or {}
    try:
      rule = cls(float(crop.get('box_margin', DEFAULT_BOX_MARGIN)),
                 float(crop.get('box_min_side', CropSettings.box_min_side)),
                 tuple(float(v) for v in crop['object_scale']) if crop.get('object_scale')
                 else None)
    except (AttributeError, TypeError, ValueError):
      raise UserInputError(f'malformed crop settings {crop!r} in the model description'
                           ) from None
    if not rule.box_margin > 0:
      raise UserInputError(f'the model description\'s box_margin must be > 0, got '
                           f'{rule.box_margin}')
    if not rule.box_min_side > 0:
      raise UserInputError(f'the model description\'s box_min_side must be > 0, got '
                           f'{rule.box_min_side}')
    if rule.object_scale is not None and (len(rule.object_scale) != 3 or
                                          not all(0 < v for v in rule.object_scale)):
      raise UserInputError(f'the model description\'s object_scale must be 3 positive '
                           f'fractions, got {list(rule.object_scale)}')
    return rule

  def keypoint_box(self, keypoints, confident):
    """The object box [x, y, w, h] (original px) of the confident keypoints, by the records'
    rule for boxes derived from keypoints (records.example.keypoint_box).

    Args:
      keypoints: [K, 2] original px; confident: [K] bool (all keypoints when none is).
    """
    confident = np.asarray(confident, bool)
    if not confident.any():
      confident = np.ones_like(confident)
    box = keypoint_box(np.asarray(keypoints, np.float64), confident.astype(np.int32),
                       self.box_margin, self.box_min_side)
    return box.xywh()


def flip_support(info):
  """{'supported': bool, 'reason': str} of a model_info.json (or export metadata) dict's
  'horizontal_flip' entry; supported when the description has none (as before it was recorded).

  Raises:
    UserInputError: for a malformed entry.
  """
  flip = info.get(FLIP_KEY) if isinstance(info, dict) else None
  if flip is None:
    return {'supported': True, 'reason': FLIP_UNRECORDED}
  if not isinstance(flip, dict) or not isinstance(flip.get('supported'), bool):
    raise UserInputError(f'malformed horizontal_flip entry {flip!r} in the model description '
                         f'(expected {{"supported": true|false, "reason": "..."}})')
  return {'supported': flip['supported'], 'reason': str(flip.get('reason') or '')}


def flip_settings(manifest):
  """The bundle's horizontal_flip entry from a records Manifest, or None when the manifest does
  not say (readers then count flips as supported)."""
  flip = manifest.horizontal_flip
  return flip_support({FLIP_KEY: flip}) if flip is not None else None


def save_bundle(directory, model, model_config, definition, codec_settings, crop=None,
                flip=None):
  """Writes a bundle; each file goes to a temporary name first, then is renamed into place.

  Args:
    model: the Keras inference model.
    model_config: ModelConfig.
    definition: KeypointDefinition.
    codec_settings: dict of the heatmap codec's settings (e.g. stride, sigma, input size).
    crop: CropRule.to_dict() of the records the model was trained on (crop_settings), or None
      (unknown: readers assume the records' defaults).
    flip: {'supported': bool, 'reason': str} of the records (flip_settings), or None (unknown:
      readers count flips as supported).
  """
  os.makedirs(directory, exist_ok=True)
  with files.atomic_path(os.path.join(directory, MODEL_FILE)) as tmp:
    model.save(tmp)  # Keras wants the '.keras' extension, which the temporary name keeps
  write_description(directory, model_config, definition, codec_settings, crop, flip)


def write_description(directory, model_config, definition, codec_settings, crop=None,
                      flip=None):
  """Writes keypoints.json and model_info.json, what eval, predict and export read beside a
  model (a bundle, or an exported SavedModel)."""
  files.write_json(os.path.join(directory, DEFINITION_FILE), definition.to_dict(), indent=2)
  info = {'format': 1, 'model': model_config.to_dict(), 'codec': dict(codec_settings)}
  if crop:
    info['crop'] = CropRule.from_info({'crop': crop}).to_dict()
  if flip is not None:
    info[FLIP_KEY] = flip_support({FLIP_KEY: flip})
  files.write_json(os.path.join(directory, INFO_FILE), info, indent=2)


def crop_settings(manifest):
  """The bundle's crop entry (CropRule.to_dict()) from a records Manifest: the settings
  make_records ran with and the object scale it measured."""
  settings = manifest.settings
  scale = manifest.object_scale
  return CropRule(float(settings.get('box_margin', DEFAULT_BOX_MARGIN)),
                  float(settings.get('box_min_side', CropSettings.box_min_side)),
                  tuple(scale[k] for k in ('low', 'median', 'high')) if scale else None
                  ).to_dict()


def read_description(directory):
  """(model_info.json dict, KeypointDefinition) of what write_description wrote.

  Raises:
    UserInputError: naming the missing or unreadable file.
  """
  info = _read_json(os.path.join(directory, INFO_FILE))
  definition_path = os.path.join(directory, DEFINITION_FILE)
  definition = KeypointDefinition.from_dict(_read_json(definition_path), origin=definition_path)
  return info, definition


def load_bundle(directory, compile=False, with_info=False):
  """Loads a bundle (safe mode on).

  Returns:
    (keras model, ModelConfig, KeypointDefinition, codec settings dict), and the
    model_info.json dict last when `with_info`.
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
  return (model, config, definition, codec) + ((info,) if with_info else ())


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
