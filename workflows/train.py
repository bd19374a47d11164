"""Training a model on a records directory: the strategy and precision, the model, pipeline and
run length the records call for, the datasets, and the Trainer."""

import dataclasses

from core.errors import UserInputError
from hourglass.training import DEFAULT_EPOCHS, DEFAULT_TRAIN_STEPS
from hourglass.training import precision as precision_lib
from hourglass.training import strategy as strategy_lib
from records.reader import FLIP_NO_PAIRS_KEY


def run_length(training, steps_per_epoch):
  """(total_epoch, train_steps) of a TrainConfig: its train_steps, else total_epoch epochs, else
  the larger of DEFAULT_TRAIN_STEPS steps and DEFAULT_EPOCHS epochs."""
  if training.train_steps:
    return -(-training.train_steps // steps_per_epoch), training.train_steps
  if training.total_epoch:
    return training.total_epoch, None
  return DEFAULT_EPOCHS, max(DEFAULT_TRAIN_STEPS, DEFAULT_EPOCHS * steps_per_epoch)


def sized(training, steps_per_epoch, compute_dtype):
  """The TrainConfig with its epoch size, run length (run_length) and compute dtype."""
  total_epoch, train_steps = run_length(training, steps_per_epoch)
  return dataclasses.replace(training, steps_per_epoch=steps_per_epoch, total_epoch=total_epoch,
                             train_steps=train_steps, compute_dtype=compute_dtype)


def follow_flip_support(pipeline, flip, flip_prob_given, log=print):
  """The pipeline with horizontal flips off when the records say a flip would swap labels
  (`flip`: the manifest's horizontal_flip, records.sources.resolve.horizontal_flip_support),
  unless flip_prob was asked for explicitly (then a warning)."""
  flip = flip or {'supported': True}
  if flip['supported'] or not pipeline.flip_prob:
    return pipeline
  if flip_prob_given:
    if flip.get(FLIP_NO_PAIRS_KEY):  # what the records' note asks for a set without sides
      log(f'horizontal flips on (--flip_prob={pipeline.flip_prob:g}): no keypoint names make a '
          f'left/right pair in these records')
    else:
      log(f'warning: --flip_prob={pipeline.flip_prob:g} although these records do not support '
          f'horizontal flips: {flip["reason"]}')
    return pipeline
  log(f'horizontal flips off: {flip["reason"]} (--flip_prob overrides)')
  return dataclasses.replace(pipeline, flip_prob=0.0)


def changed_settings(asked, pipeline, flip):
  """{setting: (value used, why)} of the settings training changed: flip_prob when the records
  turned horizontal flips off (follow_flip_support); `asked` is the pipeline asked for."""
  if pipeline.flip_prob == asked.flip_prob:
    return {}
  return {'flip_prob': (pipeline.flip_prob, f'horizontal flips off (the flag said '
                        f'{asked.flip_prob:g}): {(flip or {}).get("reason", "")}')}


def _strategy_and_precision(config, log):
  """(tf.distribute strategy, compute dtype); the Keras policy set, the precision and its reason
  logged."""
  try:
    # Logical CPU devices must exist before TensorFlow touches its devices.
    # (MultiWorkerMirroredStrategy must also come before anything initialises the context.)
    strategy = strategy_lib.build_strategy(config.strategy)
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if config.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    precision = precision_lib.choose_here(config.strategy, config.default_precision)
  except ValueError as e:
    names = f'--strategy/--cpu_replicas/--mixed_precision/{precision_lib.DEFAULT_ENV}'
    raise UserInputError(f'{names}: {e}') from None
  precision_lib.set_precision_policy(precision.dtype)
  log(f'{"warning: " if precision.slow else ""}precision {precision.dtype}: {precision.reason}')
  return strategy, precision.dtype


def _model(config, manifest, replicas):
  """The ModelConfig: config.model with the records' K and the input shape (config.input_shape
  or the records'), synchronized BN by config.sync_bn (None: with several replicas)."""
  height, width = config.input_shape or manifest.input_shape
  sync_bn = config.sync_bn if config.sync_bn is not None else replicas > 1
  return dataclasses.replace(config.model, input_height=height, input_width=width,
                             num_keypoints=manifest.num_keypoints, sync_bn=bool(sync_bn))


def _steps_per_epoch(config, manifest, replicas):
  batch = config.training.batch_size
  if batch % replicas:
    raise UserInputError(f'--batch_size={batch} (the global batch) must be a '
                         f'multiple of the {replicas} replicas')
  steps = config.training.steps_per_epoch or manifest.count('train') // batch
  if steps < 1:
    raise UserInputError(f'{manifest.records_dir}: {manifest.count("train")} training examples, '
                         f'fewer than one --batch_size={batch} batch')
  return steps


def _datasets(config, manifest, pipeline):
  """(train_fn, eval_fn or None) of the Trainer."""
  from pipelines.dataset import build_eval_dataset, build_train_dataset  # pylint: disable=g-import-not-at-top
  records_dir = config.records_dir
  train_fn = lambda epoch, ctx: build_train_dataset(records_dir, pipeline, epoch=epoch,
                                                    input_context=ctx)
  eval_fn = None
  if config.validate and manifest.count('val') > 0:
    eval_fn = lambda ctx: build_eval_dataset(records_dir, pipeline, split='val',
                                             input_context=ctx)
  return train_fn, eval_fn


def build_trainer(config, log=print):
  """Everything from a TrainRunConfig to a ready Trainer. Returns (trainer, manifest)."""
  strategy, compute_dtype = _strategy_and_precision(config, log)
  if config.detector:
    from workflows.train_detector import build_detector_trainer  # pylint: disable=g-import-not-at-top
    return build_detector_trainer(config, strategy, compute_dtype, sized, log)
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.training import faults, run_plan  # pylint: disable=g-import-not-at-top
  from hourglass.training.trainer import Trainer  # pylint: disable=g-import-not-at-top
  from pipelines.dataset import codec_for  # pylint: disable=g-import-not-at-top
  from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
  manifest = load_manifest(config.records_dir)
  replicas = strategy.num_replicas_in_sync
  model = _model(config, manifest, replicas)
  steps = _steps_per_epoch(config, manifest, replicas)
  asked = dataclasses.replace(config.pipeline,
                              input_shape=tuple(config.input_shape or manifest.input_shape))
  pipeline = follow_flip_support(asked, manifest.horizontal_flip, config.flip_prob_given, log)
  codec = codec_for(config.records_dir, pipeline)
  train_fn, eval_fn = _datasets(config, manifest, pipeline)
  if config.record_settings and strategy_lib.is_chief(strategy):
    config.record_settings(config.model_dir,
                           changed_settings(asked, pipeline, manifest.horizontal_flip))
  training = sized(dataclasses.replace(config.training, model_dir=config.model_dir), steps,
                   compute_dtype)
  log(f'training {model} on {manifest.count("train")} examples: {training.total_steps} steps '
      f'({training.total_steps / steps:g} epochs of {steps} steps), validation every '
      f'{run_plan.validation_interval(training)} steps, global batch {training.batch_size} over '
      f'{replicas} replica(s), {compute_dtype}')
  trainer = Trainer(training, strategy, model, manifest.definition, codec, train_fn, eval_fn,
                    weights_path=config.weights_path, log=log, faults=faults.from_environment(),
                    crop=bundle_lib.crop_settings(manifest),
                    flip=bundle_lib.flip_settings(manifest))
  return trainer, manifest


def run(config, log=print):
  """Trains. Returns (the last epoch's metrics dict, the Trainer).

  Raises:
    hourglass.training.trainer.NonFiniteLossError, TrainingInterrupted: as Trainer.train.
  """
  trainer, _ = build_trainer(config, log)
  return trainer.train(), trainer


def summary(trainer):
  """The line printed after training: the best model and its figures, and the run's files."""
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.training.run_outputs import last_model_dir  # pylint: disable=g-import-not-at-top
  from hourglass.training.tasks import DetectorTask  # pylint: disable=g-import-not-at-top
  model_dir = trainer.config.model_dir
  error, best = float(trainer.best_error.numpy()), float(trainer.best_pck.numpy())
  judged = ''
  if error < float('inf'):
    judged = (f' (val box AP {best:.4f})' if isinstance(trainer.task, DetectorTask) else
              f' (val mean error {error:.2f} px, PCK {best:.4f})')
  return (f'best model{judged}: {bundle_lib.best_model_dir(model_dir)}; the model it ended with: '
          f'{last_model_dir(model_dir)}; checkpoints, logs/ (TensorBoard), metrics.csv and '
          f'training_curves.png in {model_dir}')
