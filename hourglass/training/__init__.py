"""Training: the custom loop, validation, checkpoints, losses, optimizers, schedules, strategies,
quantization-aware fine-tuning. Its choices live here, importing nothing, for the flag
definitions."""

LOSS_TYPES = ('mse', 'mae', 'weighted_mse', 'smooth_l1', 'huber')
DEFAULT_HUBER_DELTA = 0.1
# The first loss scale of float16 training (doubled after loss_scale_growth_steps finite steps).
FLOAT16_INITIAL_SCALE = 2.0 ** 15
OPTIMIZERS = ('adam', 'rmsprop', 'sgd', 'adamw')
DECAY_TYPES = ('none', 'cosine', 'exponential', 'polynomial', 'piecewise_constant')
STRATEGIES = ('default', 'mirrored', 'multi_worker')
PRECISIONS = ('float32', 'float16', 'bfloat16')
# Beside best_model in a training model directory: the bundle of the model the run ended with.
LAST_MODEL_DIR = 'last_model'
# The run length when neither --train_steps nor --total_epoch is given: the larger of these.
DEFAULT_TRAIN_STEPS = 1000
DEFAULT_EPOCHS = 100
