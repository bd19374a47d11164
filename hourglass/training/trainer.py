"""The custom training loop (Orbit style) that runs unchanged under any tf.distribute strategy.

A one-replica `train_step` is run by `strategy.run`; `train_loop` runs up to `steps_per_loop`
steps inside one `tf.function` over `tf.range`, and the loss sums it accumulates are read eagerly
between loops. The run is a number of steps; validation (one graph call per batch), the best
model and a checkpoint come every run_plan.validation_interval steps. The trainer takes dataset
FUNCTIONS (it never builds pipelines): `train_dataset_fn(epoch, input_context)` must return one
epoch of per-replica batches whose content depends only on (seed, epoch), which is what lets a
resumed run `.skip()` the batches already trained on and end bit-identical to a run that was
never stopped (run_plan chains the epochs into one dataset).
"""

import math
import os
import signal
import time
from typing import Callable, Optional

import numpy as np
import tensorflow as tf

from core.errors import UserInputError
from core.progress import Progress
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_training_model
from hourglass.training import (checkpointing, losses, optimizers, quantization_aware, run_outputs,
                                run_plan, schedules, tasks)
from hourglass.training import strategy as strategy_lib
from hourglass.training.faults import Faults
from hourglass.training.faults import warning as fault_warning
from hourglass.training.interruption import NonFiniteLossError, stop_signals, TrainingInterrupted
from hourglass.training.train_config import TrainConfig


class Trainer:
  """Builds model, optimizer and state in the strategy's scope, then trains and validates.

  Args:
    config: TrainConfig.
    strategy: a tf.distribute.Strategy.
    model_config: ModelConfig (K from the records' definition).
    definition: KeypointDefinition (for the best-model bundle and image summaries).
    codec: HeatmapCodec (decoding in validation; its settings go into the bundle).
    train_dataset_fn: (epoch, InputContext) -> tf.data.Dataset of (images uint8 [B,H,W,3],
      {'heatmaps' [B,h,w,K], 'weights' [B,K], 'keypoints' [B,K,2]}) per-replica batches.
    eval_dataset_fn: InputContext -> tf.data.Dataset of eval dicts, or None (no validation).
    weights_path: start from these weights (checkpointing.load_weights_by_name), or None.
    log: a print-like function.
    faults: test hooks (hourglass.training.faults), or None in a production run.
    crop: the records' crop settings for the bundles ({'box_margin': m},
      hourglass.model.bundle.crop_settings), or None when unknown.
    flip: the records' horizontal flip support for the bundles ({'supported', 'reason'},
      hourglass.model.bundle.flip_settings), or None when unknown (counted as supported).
    task: what is learned (hourglass.training.tasks): KeypointTask (None) or DetectorTask,
      whose datasets give {'maps', 'size_weights', 'count'} targets.
  """

  def __init__(self, config: TrainConfig, strategy, model_config: ModelConfig, definition, codec,
               train_dataset_fn: Callable, eval_dataset_fn: Optional[Callable] = None,
               weights_path: Optional[str] = None, log=print, faults: Optional[Faults] = None,
               crop: Optional[dict] = None, flip: Optional[dict] = None, task=None):
    self.config, self.strategy, self.model_config = config, strategy, model_config
    self.task = task or tasks.KeypointTask()
    self.definition, self.codec, self.log = definition, codec, log
    self.train_dataset_fn, self.eval_dataset_fn = train_dataset_fn, eval_dataset_fn
    self.chief = strategy_lib.is_chief(strategy)
    self.faults = faults or Faults()
    announced = fault_warning(faults)
    if announced:
      log(announced)
    losses.validate_loss_type(config.loss_type, config.huber_delta)
    if (config.jit_compile and strategy.num_replicas_in_sync > 1
        and not tf.config.list_logical_devices('GPU')):
      # Replica-context all-reduces (gradients, SyncBN) on CPUs go through merge_call, which
      # XLA-compiled code cannot make (TF skips merge_call under XLA only when all devices are
      # GPUs; that combination is not tested here).
      raise UserInputError(f'--jit_compile with {strategy.num_replicas_in_sync} CPU replicas: '
                           'XLA steps run on one CPU replica or on GPUs only')
    checkpointing.check_model_config(config.model_dir, model_config, self.chief)
    if config.quantization_aware:  # before anything is built
      quantization_aware.check_can_fine_tune(
          config.model_dir, tf.train.latest_checkpoint(
              os.path.join(config.model_dir, checkpointing.CHECKPOINT_DIR)), weights_path)
    with strategy.scope():
      self._build_state(config, model_config)
    if weights_path:
      checkpointing.load_weights_by_name(self.model, weights_path, log=log,
                                         input_normalization=model_config.input_normalization)
    self.keeper = self._checkpoint_keeper(weights_path)
    self._signal = None  # set by SIGTERM/SIGINT while train() runs
    self.validator = None
    if eval_dataset_fn:
      # A quantization-aware run is judged (and its best model chosen) on its int8 simulation:
      # its float model matters through the uint8 export.
      judged = self.fake_quant.model if self.fake_quant else self.model
      self.validator = self.task.validator(judged, strategy, eval_dataset_fn, config, codec,
                                           definition, self.chief)
    self._writer = None
    # The trainer module's builder, looked up at build time (tests replace it).
    self._bundles = run_outputs.BundleWriter(lambda c: build_training_model(c), model_config,
                                             definition, codec, crop, flip)
    self.history = []  # (step, mean finite loss of the loop or NaN, loss scale) after each loop
    # XLA compiles the step, not the loop: the loop holds the iterator, which XLA cannot.
    # A plain closure, not the bound method: tf.function of a bound method, called through
    # strategy.run from the autograph-converted loop, makes autograph call Trainer.__init__.
    # The step has no Python control flow, so autograph is off.
    replica_step = self._replica_step
    self._step_fn = (tf.function(lambda batch, step: replica_step(batch, step), jit_compile=True,
                                 autograph=False) if config.jit_compile else replica_step)
    # train_loop(iterator, num_steps): public for benchmarks/train_throughput.py, which times it.
    self.train_loop = tf.function(self._train_loop_impl)

  def _build_state(self, config, model_config):
    """The model, optimizer and loop state (in the strategy's scope)."""
    self.model = build_training_model(model_config)
    schedule = schedules.build_schedule(
        config.decay_type, config.learning_rate, config.total_steps,
        warmup_steps=int(round(config.warmup_epochs * config.steps_per_epoch)),
        final_lr_ratio=config.final_lr_ratio)
    inner = optimizers.build_optimizer(config.optimizer, schedule, config.momentum,
                                       config.weight_decay)
    self.optimizer = optimizers.wrap_loss_scale(inner, config.compute_dtype == 'float16',
                                                config.loss_scale_growth_steps,
                                                config.initial_loss_scale)
    # Keras 3 under a strategy: slots must exist before the first (traced) step.
    self.optimizer.build(self.model.trainable_variables)
    self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name='global_step')
    self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name='epoch')
    self.best_pck = tf.Variable(-1.0, dtype=tf.float32, trainable=False, name='best_pck')
    # Tie-break for equal PCK (small val sets saturate at PCK 1.0 long before training ends).
    self.best_error = tf.Variable(float('inf'), dtype=tf.float32, trainable=False,
                                  name='best_error')
    self.nonfinite_run = tf.Variable(0, dtype=tf.int64, trainable=False, name='nonfinite_run')
    # Validations in a row without a better model (early stopping).
    self.stale_validations = tf.Variable(0, dtype=tf.int64, trainable=False,
                                         name='stale_validations')
    self.loss_sums = tf.Variable(tf.zeros([model_config.num_stacks + 2]), trainable=False,
                                 name='loss_sums')  # [total, per stack..., finite steps]
    # The int8 simulation's graph shares the model's variables; its bounds are checkpointed.
    self.fake_quant = (quantization_aware.FakeQuantModel(self.model)
                       if config.quantization_aware else None)

  def _checkpoint_keeper(self, weights_path):
    """The CheckpointKeeper of model_dir."""
    config = self.config
    extra = {'fake_quant_bounds': self.fake_quant.bounds} if self.fake_quant else {}
    checkpoint = tf.train.Checkpoint(model=self.model, optimizer=self.optimizer, step=self.step,
                                     epoch=self.epoch, best_pck=self.best_pck,
                                     best_error=self.best_error,
                                     nonfinite_run=self.nonfinite_run,
                                     stale_validations=self.stale_validations, **extra)
    keeper = checkpointing.CheckpointKeeper(config.model_dir, checkpoint, self.chief,
                                            config.keep_checkpoints, faults=self.faults)
    return keeper

  # -- one step on one replica ------------------------------------------------------------------

  def _replica_step(self, batch, step):
    images, targets = batch
    images = tf.cast(images, tf.float32)
    with tf.GradientTape() as tape:
      if self.fake_quant:
        # BN frozen: the export folds the moving statistics, and the simulation rounds them.
        outputs = self.fake_quant.model(images, training=False)
      else:
        outputs = self.model(images, training=True)
      total, per_stack = self.task.loss(self.config, outputs, targets)
      loss = losses.global_average(total, self.config.batch_size)
      if self.faults.nonfinite_steps:  # a test hook; a production step has no such op
        loss = self.faults.poison(loss, step)
      scaled = self.optimizer.scale_loss(loss)
    variables = self.model.trainable_variables
    grads = tape.gradient(scaled, variables)
    self.optimizer.apply_gradients(zip(grads, variables))
    stack_losses = [losses.global_average(s, self.config.batch_size) for s in per_stack]
    return tf.stack([loss] + stack_losses)

  def _train_loop_impl(self, iterator, num_steps):
    """Runs up to num_steps steps; stops early after max_nonfinite_steps bad losses in a row."""
    limit = self.config.max_nonfinite_steps
    for _ in tf.range(num_steps):
      if limit > 0 and self.nonfinite_run >= limit:
        break
      per_replica = self.strategy.run(self._step_fn, args=(next(iterator), self.step))
      values = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
      finite = tf.math.is_finite(values[0])
      self.nonfinite_run.assign(tf.where(finite, tf.constant(0, tf.int64),
                                         self.nonfinite_run + 1))
      kept = tf.where(finite, values, tf.zeros_like(values))
      self.loss_sums.assign_add(tf.concat([kept, [tf.cast(finite, tf.float32)]], 0))
      self.step.assign_add(1)

  # -- the run ----------------------------------------------------------------------------------

  def _chain_iterator(self, step):
    """(iterator, end step) of the chained dataset that starts at `step` (run_plan)."""
    config = self.config
    first, count, end = run_plan.chain_span(config, step)
    done = step - first * config.steps_per_epoch
    dataset_fn = lambda ctx: run_plan.chained_dataset(
        self.train_dataset_fn, config.steps_per_epoch, first, count, done, ctx)
    return iter(self.strategy.distribute_datasets_from_function(dataset_fn)), end

  def _restore_or_start(self):
    path = self.keeper.restore_latest()
    if path:
      self.log(f'resumed from {path}: step {int(self.step.numpy())} of '
               f'{self.config.total_steps}')
      return path
    if self.config.init_epoch > 0:
      start = self.config.init_epoch * self.config.steps_per_epoch
      self.step.assign(start)
      self.epoch.assign(self.config.init_epoch)
      self.optimizer.iterations.assign(start)
    if self.fake_quant:
      run_outputs.calibrate_fake_quant(self.fake_quant, self.train_dataset_fn,
                                       self.config.calibration_images, self.log)
    return None

  def _recompute_bn(self):
    """Before a validation: BN statistics from bn_statistics_batches training batches of the
    current epoch (run_plan.recompute_batch_norm). Not in a quantization-aware run (BN frozen)
    nor under several replicas (one eager pass outside strategy.run cannot update them)."""
    count = self.config.bn_statistics_batches
    if (not count or self.fake_quant or self.strategy.num_replicas_in_sync > 1
        or getattr(self.strategy, 'cluster_resolver', None) is not None):
      return
    dataset = self.train_dataset_fn(int(self.epoch.numpy()), tf.distribute.InputContext())
    run_plan.recompute_batch_norm(self.model, (images for images, _ in dataset.take(count)))

  def train(self):
    """Trains to config.total_steps (resuming when model_dir has a checkpoint), validating every
    run_plan.validation_interval steps and at the end; stops early at --train_minutes or after
    `patience` validations without a better model. Writes last_model when it stops.

    Returns:
      the last validation's row (metrics.csv fields and val_* metrics); None when nothing was
      left to do or a test hook stopped it.
    """
    config = self.config
    self._restore_or_start()
    if self.chief:
      self._writer = tf.summary.create_file_writer(os.path.join(config.model_dir, 'logs'))
    else:
      self._writer = tf.summary.create_noop_writer()
    self._started = time.time()
    first_step = int(self.step.numpy())
    self._progress = Progress(config.total_steps, 'train', 'steps', done=first_step,
                              every_s=0, write=self.log)
    self._span = [0.0, 0, 0, 0.0]  # since the last validation: loss sum, steps, images, seconds
    last, iterator, chain_end = None, None, 0
    with stop_signals(self._on_signal):
      while int(self.step.numpy()) < config.total_steps:
        step = int(self.step.numpy())
        if iterator is None or step >= chain_end:
          iterator, chain_end = self._chain_iterator(step)
        self._run_loop(iterator, run_plan.loop_length(config, step, chain_end))
        self._stop_if_signalled()
        if self._interrupted():
          return None
        step = int(self.step.numpy())
        stop = run_plan.budget_spent(config, self._started)
        if run_plan.validation_due(config, step) or stop:
          last = self._evaluate(step)
          stop = stop or (self.validator and run_plan.patience_spent(
              config, int(self.stale_validations.numpy())))
        elif step % config.checkpoint_steps == 0 and int(self.nonfinite_run.numpy()) == 0:
          self.keeper.save(step)
        self._stop_if_signalled()
        if stop:
          self.log(f'stopped at step {step} of {config.total_steps}: {stop}')
          break
    if self.chief and (int(self.step.numpy()) > first_step
                       or not os.path.isdir(run_outputs.last_model_dir(config.model_dir))):
      self.save_last_model()
    return last

  def _on_signal(self, signum):
    self._signal = signum
    self.log(f'{signal.Signals(signum).name}: saving a checkpoint after the current loop')

  def _stop_if_signalled(self):
    """After a SIGTERM/SIGINT: saves a checkpoint of the current step, raises
    TrainingInterrupted."""
    if self._signal is None:
      return
    step, path = int(self.step.numpy()), self.keeper.latest
    if int(self.nonfinite_run.numpy()) == 0 and not (path and path.endswith(f'-{step}')):
      path = self.keeper.save(step)
    raise TrainingInterrupted(self._signal, step, path)

  def _run_loop(self, iterator, steps):
    """One tf.function loop of up to `steps` steps (fewer where a test hook's step ends it)."""
    config = self.config
    step = int(self.step.numpy())
    steps = self.faults.loop_length(step, steps)
    self.loss_sums.assign(tf.zeros_like(self.loss_sums))
    started = time.time()
    self.train_loop(iterator, tf.constant(steps, tf.int32))
    sums = self.loss_sums.numpy()  # reading it waits for the loop
    elapsed = time.time() - started
    ran = int(self.step.numpy()) - step
    self.epoch.assign(int(self.step.numpy()) // config.steps_per_epoch)
    finite = sums[-1]
    means = sums / finite if finite else np.full_like(sums, np.nan)
    span = self._span
    span[0] += float(sums[0]) / max(finite, 1.0) * ran
    span[1] += ran
    span[2] += ran * config.batch_size
    span[3] += elapsed
    self._log_loop(means, ran * config.batch_size / max(elapsed, 1e-9))
    self._check_nonfinite()
    self.faults.after_loop(int(self.step.numpy()))

  def _interrupted(self):
    return self.faults.stopped(int(self.step.numpy()))

  def _check_nonfinite(self):
    limit = self.config.max_nonfinite_steps
    run = int(self.nonfinite_run.numpy())
    if limit > 0 and run >= limit:
      raise NonFiniteLossError(
          f'training stopped at step {int(self.step.numpy())}: {run} non-finite losses in a row '
          f'(--max_nonfinite_steps={limit}); each was skipped without changing the weights. The '
          f'latest checkpoint ({self.keeper.latest or "none yet"}) holds the last good state. '
          'Lower --learning_rate, check the records, or train without --mixed_precision.')

  def _log_loop(self, means, images_per_s):
    config = self.config
    step = int(self.step.numpy())
    epoch = step / config.steps_per_epoch
    learning_rate = float(self.optimizer.learning_rate.numpy())
    scale = float(self.optimizer.dynamic_scale.numpy())
    self.history.append((step, float(means[0]), scale))
    note = (f'epoch {epoch:.1f} loss {float(means[0]):.6f} '
            f'lr {learning_rate:.2e} {images_per_s:.1f} img/s')
    if config.compute_dtype == 'float16':
      note += f' loss_scale {scale:g}'
    self._progress.update(step - self._progress.done, note)
    with self._writer.as_default(step=step):
      tf.summary.scalar('train/loss', means[0])
      for i, value in enumerate(means[1:-1]):
        tf.summary.scalar(f'train/loss_stack{i}', value)
      tf.summary.scalar('train/learning_rate', learning_rate)
      tf.summary.scalar('train/images_per_s', images_per_s)
      tf.summary.scalar('train/loss_scale', scale)

  def _evaluate(self, step):
    """Validation at `step`: the best model, the patience count, a checkpoint, the metrics row.
    Returns the row with the val_* metrics."""
    config = self.config
    self._recompute_bn()
    metrics = self.validator.run(step, self._writer) if self.validator else {}
    error = self.task.error(metrics)
    improved = not self.validator or self._better(error)
    if improved:
      pck = self.task.score(metrics)
      self.best_pck.assign(pck if not math.isnan(pck) else 0.0)
      self.best_error.assign(error if not math.isnan(error) else math.inf)
      self.stale_validations.assign(0)
      if self.chief:
        self.save_best_model()
    else:
      self.stale_validations.assign_add(1)
    if int(self.nonfinite_run.numpy()) == 0 and not (self.keeper.latest or '').endswith(f'-{step}'):
      self.keeper.save(step)
    row = run_outputs.metrics_row(step, config.steps_per_epoch, self._span, metrics,
                                  float(self.optimizer.learning_rate.numpy()),
                                  time.time() - self._started)
    self._span = [0.0, 0, 0, 0.0]
    if self.chief:
      run_outputs.write_metrics_row(config.model_dir, row)
    self.log(f'step {step}/{config.total_steps} (epoch {row["epoch"]:g}): train loss '
             f'{row["train_loss"]:.6f}' + ''.join(f', val {k} {v:.4f}' for k, v in metrics.items())
             + (' (best, saved)' if improved and self.validator else ''))
    return dict(row, **{f'val_{k}': v for k, v in metrics.items()})

  def _better(self, error):
    """A lower validation error (the task's: mean pixel error, or 1 - box AP; as stored in
    float32) than the best so far.

    The mean error, not PCK@0.5: on a few validation frames PCK moves in steps of one keypoint
    and saturates at 1.0 early, so it kept early models over later, more accurate ones.
    """
    if math.isnan(error):
      return False
    return float(np.float32(error)) < float(self.best_error.numpy())

  def export_model(self):
    """A float32, plain-BN inference model holding the current weights (for bundles/export)."""
    return self._bundles.export_model(self.model)

  def save_best_model(self):
    from hourglass.model import bundle
    self._bundles.save(bundle.best_model_dir(self.config.model_dir), self.model)

  def save_last_model(self):
    """The current weights as a bundle in <model_dir>/last_model (beside best_model)."""
    self._bundles.save(run_outputs.last_model_dir(self.config.model_dir), self.model)
