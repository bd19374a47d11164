"""Training the detector of a records directory (--mode=train --detector).

The same Trainer as the keypoint model (loop, checkpoints, resume, precision, TensorBoard,
bundles) with the detector's task (hourglass.training.tasks.DetectorTask), whole-frame datasets
(pipelines/detector_dataset.py) and a bundle in <model_dir>/detector whose definition is the
detector's three maps and whose crop rule's box margin is the records' crop scale (how much the
keypoint crops enlarge the object boxes the detector finds).
"""

import dataclasses
import os

from core.errors import UserInputError


def detector_dir(model_dir):
  """Where a model directory keeps its detector."""
  from hourglass.detection import DETECTOR_DIR  # pylint: disable=g-import-not-at-top
  return os.path.join(model_dir, DETECTOR_DIR)


def build_detector_trainer(config, strategy, compute_dtype, sized, log=print):
  """A ready Trainer for the detector of config.records_dir. Returns (trainer, manifest).

  Args:
    config: TrainRunConfig with detector set.
    strategy, compute_dtype: as workflows.train chose them.
    sized: workflows.train.sized (the run length rule).
  Raises:
    RecordsError: the originals are missing or too few frames for a batch.
  """
  from hourglass import detection  # pylint: disable=g-import-not-at-top
  from hourglass.keypoints.codec import HeatmapCodec  # pylint: disable=g-import-not-at-top
  from hourglass.training import faults, run_plan, tasks  # pylint: disable=g-import-not-at-top
  from hourglass.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
  from pipelines import detector_dataset  # pylint: disable=g-import-not-at-top
  from records.keypoint_definition import KeypointDefinition  # pylint: disable=g-import-not-at-top
  from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
  manifest = load_manifest(config.records_dir)
  shape = tuple(config.input_shape or detection.DEFAULT_INPUT_SHAPE)
  index = detector_dataset.frame_index(config.records_dir, 'train')
  replicas = strategy.num_replicas_in_sync
  sync_bn = config.sync_bn if config.sync_bn is not None else replicas > 1
  model = dataclasses.replace(config.model, input_height=shape[0], input_width=shape[1],
                              num_keypoints=len(detection.CHANNELS), sync_bn=bool(sync_bn))
  batch = config.training.batch_size
  steps = config.training.steps_per_epoch or len(index.paths) // batch
  if steps < 1 or batch % replicas:
    raise UserInputError(f'{config.records_dir}: {len(index.paths)} training frames and '
                         f'--batch_size={batch} over {replicas} replica(s): no whole batch')
  pipeline = dataclasses.replace(config.pipeline, input_shape=shape)
  records_dir = config.records_dir
  train_fn = lambda epoch, ctx: detector_dataset.build_train_dataset(
      records_dir, pipeline, shape, epoch=epoch, input_context=ctx)
  eval_fn = None
  if config.validate and manifest.count('val') > 0:
    eval_fn = lambda ctx: detector_dataset.build_eval_dataset(records_dir, pipeline, shape)
  model_dir = detector_dir(config.model_dir)
  training = sized(dataclasses.replace(config.training, model_dir=model_dir), steps,
                   compute_dtype)
  note = f', {index.dropped} objects beyond {detection.MAX_TRAINING_BOXES} per frame left out' \
      if index.dropped else ''
  log(f'training the detector {model} on {len(index.paths)} frames with '
      f'{int(index.counts.sum())} objects{note}: {training.total_steps} steps, validation every '
      f'{run_plan.validation_interval(training)} steps, box AP on the val frames; crops enlarge '
      f'its boxes {index.crop_scale:.3g}x; into {model_dir}')
  trainer = Trainer(training, strategy, model, KeypointDefinition(detection.CHANNELS),
                    HeatmapCodec(shape, pipeline.stride, pipeline.sigma), train_fn, eval_fn,
                    weights_path=config.weights_path, log=log, faults=faults.from_environment(),
                    crop={'box_margin': index.crop_scale}, task=tasks.DetectorTask())
  return trainer, manifest
