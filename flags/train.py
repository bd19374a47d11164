"""Training flags (--mode=train and the quickstart): the seed's names where it had the concept."""

from absl import flags as absl_flags

from flags.common import field_defaults
from hourglass import training
from hourglass.training.train_config import StrategyConfig, TrainConfig
from workflows.config import TrainRunConfig

_TRAIN = field_defaults(TrainConfig)
_STRATEGY = field_defaults(StrategyConfig)
_RUN = field_defaults(TrainRunConfig)

# The seed's training flags.
absl_flags.DEFINE_enum('optimizer', _TRAIN['optimizer'], list(training.OPTIMIZERS), 'Optimizer.')
absl_flags.DEFINE_enum('loss_type', _TRAIN['loss_type'], list(training.LOSS_TYPES),
                       'Heatmap loss: mse, mae, weighted_mse (MSE weighted by the target '
                       'weights), smooth_l1 (beta 1), huber (--huber_delta).')
absl_flags.DEFINE_float('learning_rate', _TRAIN['learning_rate'],
                        'Peak learning rate (after any warmup).',
                        lower_bound=0.0)
absl_flags.DEFINE_enum('decay_type', _TRAIN['decay_type'], list(training.DECAY_TYPES),
                       'Learning-rate decay over the whole run (see '
                       'hourglass/training/schedules.py).')
absl_flags.DEFINE_integer('init_epoch', _TRAIN['init_epoch'],
                          'Epoch to start a NEW run at (step init_epoch * '
                          'steps per epoch; the schedule starts there too); a resumed run '
                          'continues from its checkpoint.', lower_bound=0)
absl_flags.DEFINE_integer('train_steps', _TRAIN['train_steps'],
                          'Train this many steps in all; the LR schedule (decay and warmup) '
                          'follows it, and epochs (train examples // --batch_size steps) only '
                          'order the data. Overrides --total_epoch. Default: --total_epoch '
                          f'epochs when given, else the larger of {training.DEFAULT_TRAIN_STEPS} '
                          f'steps and {training.DEFAULT_EPOCHS} epochs (a set of 50-200 frames at '
                          'batch 8: 1000-2500 steps).', lower_bound=1)
absl_flags.DEFINE_integer('total_epoch', None, 'Train up to this many epochs (the length in '
                          'epochs instead of --train_steps).', lower_bound=1)
absl_flags.DEFINE_float('train_minutes', _TRAIN['train_minutes'],
                        'Time budget: stop once this process has trained this many minutes, '
                        'validating, checkpointing and writing <model_dir>/last_model first. The '
                        'LR schedule still follows the run length (--train_steps): when the '
                        'budget stops a run early its rate was not decayed to the end.',
                        lower_bound=0.0)
absl_flags.DEFINE_integer('validation_steps', _TRAIN['validation_steps'],
                          'Validate every N steps and at the end (the best model, by the lowest '
                          'val mean pixel error, and a checkpoint come with each validation); '
                          '0: every epoch, but at least 100 steps apart.', lower_bound=0)
absl_flags.DEFINE_integer('early_stopping_patience', _TRAIN['early_stopping_patience'],
                          'Stop after N validations in a row without a lower val mean error '
                          '(then as at the end: checkpoint and last_model); 0: never.',
                          lower_bound=0)
absl_flags.DEFINE_integer('bn_statistics_batches', _TRAIN['bn_statistics_batches'],
                          'Before each validation, set BatchNorm\'s moving statistics to the '
                          'average over this many training batches at the current weights (the '
                          'moving averages lag fast-changing weights: on openfield they gave a '
                          'val error 5 x that of recomputed statistics at step 60); the best and '
                          'last models keep them. 0: keep the moving averages. One replica only.',
                          lower_bound=0)
absl_flags.DEFINE_string('weights_path', _RUN['weights_path'],
                         'Start from these weights, matched by layer name: a model directory, a '
                         'bundle, or a .keras/.weights.h5 file; layers whose shapes differ (e.g. '
                         'another keypoint count) are skipped and listed.')
# New concepts.
absl_flags.DEFINE_bool('quantization_aware', _TRAIN['quantization_aware'],
                       'Fine-tune --weights_path through a simulation of the int8 export '
                       '(mnn_uint8, tflite_uint8: int8 weights and tensors, BN frozen) so the '
                       'uint8 models lose less accuracy; use a low --learning_rate (e.g. 1e-4). '
                       'Validation (and the best model) uses the simulation; the saved model '
                       'stays float. See hourglass/training/quantization_aware.py.')
absl_flags.DEFINE_float('huber_delta', _TRAIN['huber_delta'],
                        'Huber loss threshold (heatmap values lie in [0, 1]).', lower_bound=0.0)
absl_flags.DEFINE_float('weight_decay', _TRAIN['weight_decay'],
                        'Decoupled weight decay of adamw.', lower_bound=0.0)
absl_flags.DEFINE_float('momentum', _TRAIN['momentum'], 'Momentum of sgd.', lower_bound=0.0)
absl_flags.DEFINE_float('warmup_epochs', _TRAIN['warmup_epochs'],
                        'Linear learning-rate warmup, in epochs.',
                        lower_bound=0.0)
absl_flags.DEFINE_float('final_lr_ratio', _TRAIN['final_lr_ratio'],
                        'Learning rate at the end of the decay, as a '
                        'fraction of --learning_rate.', lower_bound=0.0)
absl_flags.DEFINE_integer('steps_per_loop', _TRAIN['steps_per_loop'],
                          'Training steps run inside one tf.function '
                          'call; the progress line is printed after each.', lower_bound=1)
absl_flags.DEFINE_bool('jit_compile', _TRAIN['jit_compile'],
                       'Compile each training step with XLA (as Keras '
                       'model.fit does by default): on CPU slower for small inputs, faster at '
                       '256x256; see docs/benchmarks.md.')
absl_flags.DEFINE_integer('checkpoint_steps', _TRAIN['checkpoint_steps'],
                          'Write a checkpoint every N steps (and at '
                          'every validation and the end).', lower_bound=1)
absl_flags.DEFINE_integer('keep_checkpoints', _TRAIN['keep_checkpoints'],
                          'Checkpoints kept in <model_dir>/checkpoints.',
                          lower_bound=1)
absl_flags.DEFINE_integer('max_nonfinite_steps', _TRAIN['max_nonfinite_steps'],
                          'Stop training after this many non-finite '
                          'losses in a row (each is skipped); 0 = never stop.', lower_bound=0)
absl_flags.DEFINE_integer('steps_per_epoch', None, 'Steps per epoch; default: train examples // '
                          '--batch_size.', lower_bound=1)
absl_flags.DEFINE_bool('validate', _RUN['validate'],
                       'Validate on the val split (every --validation_steps); '
                       'without it the best model is the latest one at each --validation_steps.')
absl_flags.DEFINE_bool('detector', _RUN['detector'],
                       'Train the records\' detector instead of the keypoint model: it finds '
                       'every object of a whole frame (its box), learned from the original '
                       'frames and every labelled object\'s box, into <model_dir>/detector, '
                       'where eval, predict and export find it beside the keypoint model. '
                       'Input --model_input_shape, default 128x160; the model flags '
                       '(--num_stacks, --mobile, --tiny) apply; best model by val box AP.')
# Distribution and precision (issue: scale-out).
absl_flags.DEFINE_enum('strategy', _STRATEGY['name'], list(training.STRATEGIES),
                       'default: one device (the first GPU, else the CPU; refuses '
                       '--cpu_replicas > 1); mirrored: the local GPUs (--gpu_num) or the '
                       '--cpu_replicas logical CPUs; multi_worker: MultiWorkerMirroredStrategy '
                       'from TF_CONFIG. --batch_size is the GLOBAL batch over all replicas.')
absl_flags.DEFINE_integer('gpu_num', _STRATEGY['gpu_num'],
                          'Use the first N GPUs (0: all).', lower_bound=0)
absl_flags.DEFINE_integer('cpu_replicas', _STRATEGY['cpu_replicas'],
                          '--strategy=mirrored on a machine without GPUs: '
                          'split the CPU into N logical devices, one replica each.', lower_bound=1)
absl_flags.DEFINE_bool('mixed_precision', _STRATEGY['mixed_precision'],
                       'Mixed precision: float16 with loss scaling on '
                       'GPU, bfloat16 on CPU (fast only on CPUs with AVX512_BF16 or AMX; a warning '
                       'elsewhere); heatmaps and loss stay float32. Unset: bfloat16 on a CPU with '
                       'AVX512_BF16 or AMX, float32 elsewhere (HOURGLASS_DEFAULT_PRECISION=float32 '
                       'in the environment: float32 everywhere). --nomixed_precision: float32.')
absl_flags.DEFINE_enum('mixed_precision_dtype', _STRATEGY['mixed_precision_dtype'],
                       ['float16', 'bfloat16'],
                       'Force this 16-bit compute dtype (e.g. float16 on CPU for tests).')
absl_flags.DEFINE_integer('loss_scale_growth_steps', _TRAIN['loss_scale_growth_steps'],
                          'float16: finite steps after which '
                          'the loss scale doubles.', lower_bound=1)
# The quickstart.
absl_flags.DEFINE_bool('smoke', False, 'Quickstart: run the same chain tiny (seconds).')
