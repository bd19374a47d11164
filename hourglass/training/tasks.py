"""What the trainer learns: keypoint heatmaps or the detector's maps.

A task gives the trainer its loss, its validator and how a validation is judged; the loop,
checkpoints, resume, precision and bundles are the same for both.
"""

import math

from hourglass.detection import targets as detection_targets
from hourglass.training import detector_validation, losses, validation


class KeypointTask:
  """Heatmaps of the records' keypoints (targets {'heatmaps', 'weights', 'keypoints'}); the
  best model has the lowest val mean pixel error."""

  def loss(self, config, outputs, targets):
    """(per-example total [B], per-stack losses [[B]...]) of one replica's batch."""
    return losses.per_example_loss(config.loss_type, outputs, targets['heatmaps'],
                                   targets['weights'], config.huber_delta)

  def validator(self, model, strategy, dataset_fn, config, codec, definition, chief):
    return validation.Validator(model, strategy, dataset_fn, config, codec, definition, chief)

  def error(self, metrics):
    """The figure a better model lowers (NaN: no judgement)."""
    return metrics.get('mean_error_px', math.nan)

  def score(self, metrics):
    """The figure kept as the best model's (`best_pck`)."""
    return metrics.get('pck', math.nan)


class DetectorTask:
  """The detector's maps (targets {'maps', 'size_weights', 'centre_weights', 'count'},
  hourglass/detection/targets.py); the best model has the highest val box AP."""

  def loss(self, config, outputs, targets):
    return detection_targets.per_example_loss(outputs, targets['maps'],
                                              targets['size_weights'], targets['count'],
                                              targets['centre_weights'])

  def validator(self, model, strategy, dataset_fn, config, codec, definition, chief):
    return detector_validation.DetectorValidator(model, dataset_fn, codec.stride)

  def error(self, metrics):
    return 1.0 - metrics['ap'] if 'ap' in metrics else math.nan

  def score(self, metrics):
    return metrics.get('ap', math.nan)
