"""What a training run writes beside its checkpoints: the metrics rows (metrics.csv and the
curve plot), the best and last model bundles, and the int8 simulation's calibration."""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from hourglass.training import LAST_MODEL_DIR, train_logging


def last_model_dir(model_dir):
  """The bundle directory of the model a run ended with; export, eval and predict read it as
  --model_dir / --model_path (a bundle directory)."""
  return os.path.join(model_dir, LAST_MODEL_DIR)


def write_metrics_row(model_dir, row):
  """Adds `row` to <model_dir>/metrics.csv (dropping rows at or after its step, which a resumed
  run trains again) and redraws training_curves.png."""
  path = os.path.join(model_dir, 'metrics.csv')
  rows = [r for r in train_logging.read_metrics_csv(path) if int(r['step']) < row['step']]
  rows.append(row)
  train_logging.write_metrics_csv(path, rows)
  train_logging.plot_curves(os.path.join(model_dir, 'training_curves.png'), rows)


class BundleWriter:
  """Writes the training model's current weights as float32, plain-BN inference bundles.

  The plain copy is built once and refreshed with set_weights: building it again at every best
  validation cost ~2 s (2-stack 192x192 model, measured), on 12-step epochs of ~12 s.

  Args:
    build_training_model: ModelConfig -> a training Keras model (the trainer's builder).
    model_config: the trained model's ModelConfig.
    definition, codec, crop, flip: written into the bundle (crop: the records' box margin,
      flip: their horizontal flip support; each None when unknown).
  """

  def __init__(self, build_training_model, model_config, definition, codec, crop=None,
               flip=None):
    self.build, self.model_config = build_training_model, model_config
    self.definition, self.codec, self.crop, self.flip = definition, codec, crop, flip
    self._plain = None  # (training, inference) float32 plain-BN copies

  def export_model(self, model):
    """A float32, plain-BN inference model holding `model`'s current weights."""
    import keras
    from hourglass.model.network import inference_model
    if self._plain is None:
      policy = keras.config.dtype_policy()
      keras.config.set_dtype_policy('float32')
      try:
        plain = self.build(dataclasses.replace(self.model_config, sync_bn=False))
      finally:
        keras.config.set_dtype_policy(policy)
      self._plain = (plain, inference_model(plain))
    plain, inference = self._plain
    plain.set_weights([np.asarray(w) for w in model.get_weights()])
    return inference

  def save(self, directory, model):
    from hourglass.model import bundle
    bundle.save_bundle(directory, self.export_model(model), self.model_config, self.definition,
                       self.codec.to_dict(), self.crop, self.flip)


def calibrate_fake_quant(fake_quant, train_dataset_fn, count, log):
  """Sets the int8 simulation's bounds from the first `count` training images (augmented)."""
  batches, seen = [], 0
  for images, _ in train_dataset_fn(0, tf.distribute.InputContext()):
    batches.append(images.numpy())
    seen += len(batches[-1])
    if seen >= count:
      break
  images = np.concatenate(batches)[:count]
  bounds = fake_quant.calibrate(images)
  log(f'quantization-aware: {len(bounds)} tensors rounded to int8, bounds from '
      f'{len(images)} training images (median {float(np.median(bounds)):.3g}); '
      'validation runs the int8 simulation')


def metrics_row(step, steps_per_epoch, span, metrics, learning_rate, elapsed_s):
  """The metrics.csv row of a validation at `step`.

  Args:
    span: [loss sum, steps, images, seconds] of the training since the previous validation.
    metrics: the Validator's dict ({} without validation).
  """
  loss_sum, steps, images, seconds = span
  return dict(epoch=round(step / steps_per_epoch, 2), step=step,
              train_loss=loss_sum / steps if steps else float('nan'),
              val_loss=metrics.get('loss', ''), val_pck=metrics.get('pck', ''),
              val_mean_error_px=metrics.get('mean_error_px', ''),
              val_mean_error_input_px=metrics.get('mean_error_input_px', ''),
              val_ap=metrics.get('ap', ''), val_ap50=metrics.get('ap50', ''),
              val_recall50=metrics.get('recall50', ''),
              learning_rate=learning_rate,
              images_per_s=images / seconds if seconds else float('nan'),
              elapsed_s=round(elapsed_s, 1))
