"""Loading the model a run predicts with, and saying once why its flip test is off."""

from core.errors import UserInputError
from hourglass.inference.loading import load_predictor


def announce_flip_test(flip_test, predictor, log=print):
  """Logs why the asked-for flip test is off for a model whose records set does not support
  horizontal flips (Predictor.flip_supported); the predictor then predicts without it, warning
  no more."""
  if flip_test:
    predictor.flip_test_used(True, log=lambda message: log(f'warning: --{message}'))


def load_model(model_path, batch_size, num_threads, flip_test=False, log=print):
  """The Predictor of a model directory or file, its flip test announced (announce_flip_test)."""
  predictor = load_predictor(model_path, batch_size=batch_size, num_threads=num_threads)
  announce_flip_test(flip_test, predictor, log)
  return predictor


def load_detector_for(model_path, detector_path, score_threshold, max_objects, num_threads=None,
                      required=False):
  """The Detector paired with a keypoint model: `detector_path` when given, else the one the
  model directory keeps (<model_dir>/detector); None when there is none and not `required`.

  Args:
    score_threshold: the detection score threshold flag (0: the detector's default).
  Raises:
    UserInputError: `detector_path` is not a detector, or none is found and `required`.
  """
  from hourglass import detection  # pylint: disable=g-import-not-at-top
  from hourglass.inference import detectors  # pylint: disable=g-import-not-at-top
  path = detector_path or detectors.find_detector(model_path)
  if path is None:
    if required:
      raise UserInputError(
          f'{model_path}: no detector (no {detection.DETECTOR_DIR}/ in the model directory); '
          f'train one with --mode=train --detector --model_dir=<the same directory>, or give '
          f'--detector_path')
    return None
  return detectors.load_detector(path, num_threads=num_threads, max_objects=max_objects,
                                 score_threshold=score_threshold or detection.SCORE_THRESHOLD)
