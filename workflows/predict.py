"""Predicting keypoints on images, videos or a webcam with one model (and its detector)."""

from hourglass.inference.prediction import predict_source
from workflows.models import load_detector_for, load_model


def run(config, log=print):
  """Loads config.model_path (and the detector: config.predict.detector_path, else the model
  directory's own unless config.predict.detections) and predicts config.predict.input.
  Returns the PredictSummary."""
  settings = config.predict
  predictor = load_model(config.model_path, config.batch_size, config.num_threads,
                         settings.flip_test, log)
  detector = None
  if not settings.detections:
    detector = load_detector_for(config.model_path, settings.detector_path,
                                 settings.detection_score_threshold, settings.max_objects,
                                 config.num_threads)
  return predict_source(predictor, settings, detector)


def summary(result):
  """The line printed after a prediction: counts, speed and where the outputs are."""
  return (f'{result.frames} frames, {result.objects} objects, '
          f'{result.frames_per_second:.1f} frames/s -> {result.output} '
          f'(keypoints: {result.json})')
