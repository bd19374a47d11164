"""--mode=train: train a Stacked Hourglass model on a records directory.

    python main.py --mode=train --records_dir=records/coco --model_dir=runs/coco \
        --num_stacks=2 --mobile --tiny --batch_size=16 [--train_steps=2000] [--strategy=mirrored]

The run is --train_steps steps (or --total_epoch epochs), validated every --validation_steps;
<model_dir>/best_model holds the lowest val mean error, <model_dir>/last_model the model it ended
with. Restarting the same command resumes from the latest checkpoint in --model_dir (exactly, at
step granularity). The model's K and definition come from the records' manifest; the input shape is
the manifest's unless --model_input_shape is given.
"""

import sys

from flags.common import save_resolved_flags
from hourglass.training import precision as precision_lib, strategy as strategy_lib
from modes.configs import (follow_flip_support, input_shape_or, model_config, pipeline_config,
                           resolved_flag_overrides, strategy_config)
from core.errors import UserInputError


def run_length(flag_values, steps_per_epoch):
  """(total_epochs, train_steps) of TrainConfig: --train_steps, else --total_epoch epochs, else
  the larger of DEFAULT_TRAIN_STEPS steps and DEFAULT_EPOCHS epochs."""
  from hourglass.training import DEFAULT_EPOCHS, DEFAULT_TRAIN_STEPS
  if flag_values.train_steps:
    return -(-flag_values.train_steps // steps_per_epoch), flag_values.train_steps
  if flag_values.total_epoch:
    return flag_values.total_epoch, None
  return DEFAULT_EPOCHS, max(DEFAULT_TRAIN_STEPS, DEFAULT_EPOCHS * steps_per_epoch)


def train_config(flag_values, steps_per_epoch, compute_dtype):
  from hourglass.training.trainer import TrainConfig
  decoder = flag_values.decoder if 'decoder' in flag_values else 'dark'
  total_epochs, train_steps = run_length(flag_values, steps_per_epoch)
  return TrainConfig(
      model_dir=flag_values.model_dir, global_batch_size=flag_values.batch_size,
      steps_per_epoch=steps_per_epoch, total_epochs=total_epochs, train_steps=train_steps,
      validation_steps=flag_values.validation_steps, train_minutes=flag_values.train_minutes,
      patience=flag_values.early_stopping_patience,
      bn_statistics_batches=flag_values.bn_statistics_batches,
      init_epoch=flag_values.init_epoch, loss_type=flag_values.loss_type,
      huber_delta=flag_values.huber_delta, optimizer=flag_values.optimizer,
      learning_rate=flag_values.learning_rate, momentum=flag_values.momentum,
      weight_decay=flag_values.weight_decay, decay_type=flag_values.decay_type,
      warmup_epochs=flag_values.warmup_epochs, final_lr_ratio=flag_values.final_lr_ratio,
      steps_per_loop=flag_values.steps_per_loop, checkpoint_steps=flag_values.checkpoint_steps,
      keep_checkpoints=flag_values.keep_checkpoints, score_threshold=flag_values.score_threshold,
      decoder=decoder, max_nonfinite_steps=flag_values.max_nonfinite_steps,
      jit_compile=flag_values.jit_compile,
      compute_dtype=compute_dtype, loss_scale_growth_steps=flag_values.loss_scale_growth_steps,
      quantization_aware=flag_values.quantization_aware)


def _strategy_and_precision(flag_values, log):
  """(tf.distribute strategy, compute dtype) from the flags; the Keras policy set, the precision
  and its reason logged."""
  settings = strategy_config(flag_values)
  try:
    # Logical CPU devices must exist before TensorFlow touches its devices.
    # (MultiWorkerMirroredStrategy must also come before anything initialises the context.)
    strategy = strategy_lib.build_strategy(settings)
    import keras
    import tensorflow as tf
    if flag_values.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(flag_values.seed)
    precision = precision_lib.choose_here(settings)
  except ValueError as e:
    names = f'--strategy/--cpu_replicas/--mixed_precision/{precision_lib.DEFAULT_ENV}'
    raise UserInputError(f'{names}: {e}') from None
  precision_lib.set_precision_policy(precision.dtype)
  log(f'{"warning: " if precision.slow else ""}precision {precision.dtype}: {precision.reason}')
  return strategy, precision.dtype


def build_trainer(flag_values, log=print):
  """Everything from flags to a ready Trainer. Returns (trainer, manifest)."""
  if not flag_values.records_dir:
    raise UserInputError('--mode=train needs --records_dir (made by --mode=make_records)')
  if not flag_values.model_dir:
    raise UserInputError('--mode=train needs --model_dir (checkpoints, logs and the best model)')
  strategy, compute_dtype = _strategy_and_precision(flag_values, log)
  from pipelines.dataset import build_eval_dataset, build_train_dataset, codec_for
  from records.reader import load_manifest
  from hourglass.model import bundle as bundle_lib
  from hourglass.training import faults, run_plan
  from hourglass.training.trainer import Trainer
  manifest = load_manifest(flag_values.records_dir)
  input_shape = input_shape_or(flag_values, manifest.input_shape)
  replicas = strategy.num_replicas_in_sync
  sync_bn = flag_values.sync_bn if flag_values.sync_bn is not None else replicas > 1
  model = model_config(flag_values, manifest.num_keypoints, input_shape, sync_bn)
  if flag_values.batch_size % replicas:
    raise UserInputError(f'--batch_size={flag_values.batch_size} (the global batch) must be a '
                         f'multiple of the {replicas} replicas')
  steps = flag_values.steps_per_epoch or manifest.count('train') // flag_values.batch_size
  if steps < 1:
    raise UserInputError(f'{manifest.records_dir}: {manifest.count("train")} training examples, '
                         f'fewer than one --batch_size={flag_values.batch_size} batch')
  pipeline = follow_flip_support(pipeline_config(flag_values, input_shape), manifest.raw,
                                 flag_values, log)
  records_dir = flag_values.records_dir
  codec = codec_for(records_dir, pipeline)
  train_fn = lambda epoch, ctx: build_train_dataset(records_dir, pipeline, epoch=epoch,
                                                    input_context=ctx)
  eval_fn = None
  if flag_values.validate and manifest.count('val') > 0:
    eval_fn = lambda ctx: build_eval_dataset(records_dir, pipeline, split='val',
                                             input_context=ctx)
  if strategy_lib.is_chief(strategy):
    save_resolved_flags(flag_values, flag_values.model_dir,
                        resolved_flag_overrides(flag_values, pipeline, manifest.raw))
  config = train_config(flag_values, steps, compute_dtype)
  log(f'training {model} on {manifest.count("train")} examples: {config.total_steps} steps '
      f'({config.total_steps / steps:g} epochs of {steps} steps), validation every '
      f'{run_plan.validation_interval(config)} steps, global batch {flag_values.batch_size} over '
      f'{replicas} replica(s), {compute_dtype}')
  trainer = Trainer(config, strategy, model,
                    manifest.definition, codec, train_fn, eval_fn,
                    weights_path=flag_values.weights_path, log=log,
                    faults=faults.from_environment(),
                    crop=bundle_lib.crop_settings(manifest.raw),
                    flip=bundle_lib.flip_settings(manifest.raw))
  return trainer, manifest


def run(flag_values):
  """Trains; returns the last epoch's metrics dict."""
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.training.trainer import NonFiniteLossError, TrainingInterrupted
  trainer, _ = build_trainer(flag_values)
  try:
    result = trainer.train()
  except NonFiniteLossError as e:
    sys.exit(f'error: {e}')
  except TrainingInterrupted as e:
    print(e, file=sys.stderr, flush=True)
    sys.exit(128 + e.signum)  # the shell's convention for "ended by signal N"
  from hourglass.training.run_outputs import last_model_dir
  model_dir = flag_values.model_dir
  error = float(trainer.best_error.numpy())
  judged = (f' (val mean error {error:.2f} px, PCK {float(trainer.best_pck.numpy()):.4f})'
            if error < float('inf') else '')
  print(f'best model{judged}: {bundle_lib.best_model_dir(model_dir)}; the model it ended with: '
        f'{last_model_dir(model_dir)}; checkpoints, logs/ (TensorBoard), metrics.csv and '
        f'training_curves.png in {model_dir}')
  return result
