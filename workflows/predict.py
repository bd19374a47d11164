"""Predicting keypoints on images, videos or a webcam with one model."""

from hourglass.inference.prediction import predict_source
from workflows.models import load_model


def run(config, log=print):
  """Loads config.model_path and predicts config.predict.input. Returns the PredictSummary."""
  predictor = load_model(config.model_path, config.batch_size, config.num_threads,
                         config.predict.flip_test, log)
  return predict_source(predictor, config.predict)


def summary(result):
  """The line printed after a prediction: counts, speed and where the outputs are."""
  return (f'{result.frames} frames, {result.objects} objects, '
          f'{result.frames_per_second:.1f} frames/s -> {result.output} '
          f'(keypoints: {result.json})')
