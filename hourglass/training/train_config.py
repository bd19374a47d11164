"""TrainConfig and StrategyConfig: the settings of one training run, as plain values.

modes/configs.py fills them from flags; flags/train.py reads its defaults here, so this module
imports no TensorFlow.
"""

import dataclasses
from typing import Optional

from hourglass.training import DEFAULT_HUBER_DELTA, FLOAT16_INITIAL_SCALE


@dataclasses.dataclass
class TrainConfig:
  """Settings of one training run (plain values; modes/configs.py fills them from flags).

  Attributes:
    batch_size: the global batch: examples per step over all replicas.
    steps_per_epoch: steps per epoch (train examples // global batch).
    jit_compile: compile each replica's step (forward, backward, optimizer update) with XLA, as
      Keras' model.fit does by default. On 2 CPU cores it is slower at 96x96 and faster at
      256x256 (docs/benchmarks.md, "Training throughput"), so it is a choice, off by default.
    quantization_aware: train through hourglass/training/quantization_aware.py's int8
      simulation (BN frozen); fine-tunes a trained model (--weights_path, or a resumed checkpoint).
    calibration_images: training images that set the simulation's bounds before the first step.
    train_steps: the run's length in steps; None: total_epoch * steps_per_epoch. The LR
      schedule (and warmup_epochs * steps_per_epoch warmup steps) follows it.
    validation_steps: validate (choose the best model, checkpoint) every N steps and at the end;
      0: every epoch, at least run_plan.MIN_AUTO_VALIDATION_STEPS steps apart.
    train_minutes: stop (validating, checkpointing and writing last_model) once this process has
      trained this long; None: no budget. The schedule still follows train_steps.
    early_stopping_patience: stop after this many validations in a row without a lower mean
      error; 0: never.
    bn_statistics_batches: before each validation BN's moving statistics are recomputed from this
      many training batches at the current weights (run_plan.recompute_batch_norm); 0: the
      moving averages as training left them.
  """
  model_dir: str
  batch_size: int
  steps_per_epoch: int
  total_epoch: int = 10
  init_epoch: int = 0
  loss_type: str = 'mse'
  huber_delta: float = DEFAULT_HUBER_DELTA
  optimizer: str = 'adam'
  learning_rate: float = 1e-3
  momentum: float = 0.9
  weight_decay: float = 1e-4
  decay_type: str = 'cosine'
  warmup_epochs: float = 0.0
  final_lr_ratio: float = 0.01
  steps_per_loop: int = 20
  checkpoint_steps: int = 500
  keep_checkpoints: int = 3
  score_threshold: float = 0.5
  decoder: str = 'dark'
  max_nonfinite_steps: int = 20
  jit_compile: bool = False
  compute_dtype: str = 'float32'
  loss_scale_growth_steps: int = 2000
  initial_loss_scale: float = FLOAT16_INITIAL_SCALE
  image_summaries: int = 4
  quantization_aware: bool = False
  calibration_images: int = 64
  train_steps: Optional[int] = None
  validation_steps: int = 0
  train_minutes: Optional[float] = None
  early_stopping_patience: int = 0
  bn_statistics_batches: int = 8

  @property
  def total_steps(self):
    if self.train_steps:
      return int(self.train_steps)
    return self.steps_per_epoch * self.total_epoch


@dataclasses.dataclass(frozen=True)
class StrategyConfig:
  """How to distribute training.

  Attributes:
    name: one of STRATEGIES.
    gpu_num: use the first gpu_num GPUs (0: all visible ones).
    cpu_replicas: split the CPU into this many logical devices (no-GPU machines).
    mixed_precision: compute in a 16-bit float (True), in float32 (False), or as
      hourglass/training/precision.py chooses for the machine (None).
    mixed_precision_dtype: None (float16 on GPU, bfloat16 on CPU), 'float16' or 'bfloat16'.
  """
  name: str = 'default'
  gpu_num: int = 0
  cpu_replicas: int = 1
  mixed_precision: Optional[bool] = None
  mixed_precision_dtype: str = None
