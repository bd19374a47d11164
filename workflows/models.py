"""Loading the model a run predicts with, and saying once why its flip test is off."""

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
