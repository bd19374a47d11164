"""Training throughput (images/s): the custom loop vs plain model.fit on the same model and
tensors in the same run, the loop in each compute precision, and the loop fed from real records vs
one cached batch.

    python benchmarks/train_throughput.py [--records_dir=DIR] [--size=256] [--batch=8] \
        [--steps=20] [--repeats=3] [--models=mobile_tiny,mobile,standard] [--jit=off,on] \
        [--precisions=float32,bfloat16]

Each model runs once per --jit setting: the loop with `--jit_compile` off/on against model.fit
compiled with `jit_compile=False/True` (Keras' own default is 'auto'), so the two are always
compared like with like; model.fit trains in float32 with the seed's layers (Keras'
SeparableConv2D and BatchNormalization, not SeparableConv1x1 and FusedBatchNorm), as the seed
project does. The loop runs in
every --precisions (the Keras mixed policy: 16-bit compute, float32 variables, heatmaps and
loss). Without --records_dir the records comparison is skipped. Each figure is the median over
--repeats timed repetitions of `steps` steps after one untimed warm-up loop (tracing); the cached
and records loops take turns within each repetition. GFLOP/s counts 3x the forward pass's FLOPs
per image (forward + the two backward products), against this machine's float32 and bfloat16
matmul rates measured at the start (2048x2048, one core's share not separated).
"""

import os
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

MODELS = {'mobile_tiny': dict(mobile=True, tiny=True), 'mobile': dict(mobile=True, tiny=False),
          'standard': dict(mobile=False, tiny=False),
          'standard_tiny': dict(mobile=False, tiny=True)}


def _loop_rates(trainer, dataset_fns, steps, repeats=3):
  """images/s of Trainer.train_loop on `steps` steps for each dataset, median of `repeats`.

  The datasets take turns within each repetition, so that a slow spell of the machine hits all
  of them alike (measured one after the other, records vs cached swung between 86% and 111%).
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  iterators = [iter(trainer.strategy.distribute_datasets_from_function(
      lambda ctx, fn=fn: fn(ctx).repeat())) for fn in dataset_fns]
  for iterator in iterators:
    trainer.train_loop(iterator, tf.constant(2, tf.int32))
    trainer.loss_sums.numpy()
  rates = [[] for _ in iterators]
  for _ in range(repeats):
    for iterator, rate in zip(iterators, rates):
      start = time.perf_counter()
      trainer.train_loop(iterator, tf.constant(steps, tf.int32))
      trainer.loss_sums.numpy()
      rate.append(steps * trainer.config.batch_size / (time.perf_counter() - start))
  return [statistics.median(rate) for rate in rates]


def _matmul_peak(dtype, n=2048, reps=10):
  """GFLOP/s of an n x n matmul chain in `dtype` (the best of 3), as a ceiling for conv steps."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.normal([n, n], dtype=tf.float32)
  a = tf.cast(a, dtype)

  @tf.function
  def chain(x):
    for _ in range(reps):
      x = tf.matmul(x, a) * tf.cast(1e-2, dtype)
    return tf.reduce_sum(tf.cast(x, tf.float32))

  chain(a).numpy()
  best = harness.best_seconds(lambda: chain(a).numpy(), 3)
  return 2.0 * n ** 3 * reps / best / 1e9


def _training_flops_per_image(config):
  """3 x the forward FLOPs of the training model (every stack) at batch 1."""
  # pylint: disable=g-import-not-at-top
  from hourglass.model.network import build_training_model
  from hourglass.model.summary import profiler_flops
  from hourglass.training import precision as precision_lib
  # pylint: enable=g-import-not-at-top
  precision_lib.set_precision_policy('float32')
  return 3 * profiler_flops(build_training_model(config))[1]


def _fit_rate(model, strategy, images, heatmaps, steps, jit_compile, repeats=3):
  """images/s of model.fit (MSE on every stack) on the same cached batch."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf
  # pylint: enable=g-import-not-at-top
  outputs = model.outputs
  with strategy.scope():  # the model's variables live under the trainer's strategy
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=['mse'] * len(outputs),
                  jit_compile=jit_compile)
  targets = [heatmaps] * len(outputs)
  ds = tf.data.Dataset.from_tensors((images, tuple(targets))).repeat()
  model.fit(ds, steps_per_epoch=2, epochs=1, verbose=0)
  rates = []
  for _ in range(repeats):
    start = time.perf_counter()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    rates.append(steps * images.shape[0] / (time.perf_counter() - start))
  return statistics.median(rates)


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--records_dir')
  result.add_argument('--size', type=int, default=256)
  result.add_argument('--batch', type=int, default=8)
  result.add_argument('--steps', type=int, default=20)
  result.add_argument('--repeats', type=int, default=3, help='timed repetitions per figure')
  result.add_argument('--stacks', type=int, default=2)
  result.add_argument('--models', default='mobile_tiny,mobile,standard')
  result.add_argument('--jit', default='off,on', help='XLA settings to run: off, on or both')
  result.add_argument('--precisions', default='float32,bfloat16',
                      help='compute precisions of the custom loop')
  return result


def inputs(args):
  """(definition, codec, images uint8, heatmaps, dataset functions: cached, then records)."""
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from hourglass.keypoints.codec import HeatmapCodec
  from records.keypoint_definition import KeypointDefinition
  # pylint: enable=g-import-not-at-top
  definition = KeypointDefinition(names=tuple(f'k{i}' for i in range(16)))
  if args.records_dir:
    from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
    definition = load_manifest(args.records_dir).definition
  k = definition.num_keypoints
  codec = HeatmapCodec((args.size, args.size), 4, 2.0)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (args.batch, args.size, args.size, 3)).astype(np.uint8)
  keypoints = rng.uniform(0, args.size, (args.batch, k, 2)).astype(np.float32)
  heatmaps, weights = codec.encode(keypoints, np.ones((args.batch, k), np.int32))
  datasets = [lambda ctx: tf.data.Dataset.from_tensors(
      (images, {'heatmaps': heatmaps, 'weights': weights, 'keypoints': keypoints}))]
  if args.records_dir:
    # pylint: disable=g-import-not-at-top
    from pipelines.config import PipelineConfig
    from pipelines.dataset import build_train_dataset
    # pylint: enable=g-import-not-at-top
    pipeline = PipelineConfig(input_shape=(args.size, args.size), batch_size=args.batch)
    datasets.append(lambda ctx: build_train_dataset(args.records_dir, pipeline, epoch=0,
                                                    input_context=ctx))
  return definition, codec, images, heatmaps, datasets


def seed_fit_rate(trainer, config, images, heatmaps, args, jit):
  """The seed's model.fit: float32, the seed's layers, built under the float32 policy."""
  # pylint: disable=g-import-not-at-top
  from hourglass.model import seed_layers
  from hourglass.model.network import build_training_model
  from hourglass.training import precision as precision_lib
  # pylint: enable=g-import-not-at-top
  reuse = trainer.config.compute_dtype == 'float32'
  precision_lib.set_precision_policy('float32')
  with trainer.strategy.scope():
    fitted = trainer.model if reuse else build_training_model(config)
    # The seed's layers: Keras' SeparableConv2D and BatchNormalization.
    fitted = seed_layers.with_keras_layers(fitted)
  return _fit_rate(fitted, trainer.strategy, images.astype(np.float32), heatmaps, args.steps,
                   jit_compile=jit == 'on', repeats=args.repeats)


def run_model(name, jit, args, setup, peaks):
  """Prints model.fit's rate and the loop's in each precision for one model and XLA setting."""
  # pylint: disable=g-import-not-at-top
  from hourglass.model.config import ModelConfig
  from hourglass.training import precision as precision_lib
  from hourglass.training.trainer import TrainConfig, Trainer
  # pylint: enable=g-import-not-at-top
  definition, codec, images, heatmaps, datasets, strategy = setup
  config = ModelConfig(num_stacks=args.stacks, input_height=args.size, input_width=args.size,
                       num_keypoints=definition.num_keypoints, **MODELS[name])
  flops = _training_flops_per_image(config)
  gflops = lambda rate, dtype: (f'{rate * flops / 1e9:6.1f} GFLOP/s '
                                f'({100 * rate * flops / 1e9 / peaks[dtype]:.0f}% of peak)')
  fit = None
  for precision in args.precisions.split(','):
    precision_lib.set_precision_policy(precision)
    with tempfile.TemporaryDirectory() as model_dir:
      train_config = TrainConfig(model_dir=model_dir, batch_size=args.batch,
                                 steps_per_epoch=10 ** 6, decay_type='none',
                                 jit_compile=jit == 'on', compute_dtype=precision)
      trainer = Trainer(train_config, strategy, config, definition, codec, lambda e, c: None,
                        log=lambda *a: None)
      loop, *real = _loop_rates(trainer, datasets, args.steps, args.repeats)
      if fit is None:
        fit = seed_fit_rate(trainer, config, images, heatmaps, args, jit)
        print(f'{name:12s} XLA {jit:3s} model.fit float32  {fit:7.1f} img/s  '
              f'{gflops(fit, "float32")}', flush=True)
    line = (f'{name:12s} XLA {jit:3s} loop {precision:9s} {loop:7.1f} img/s  '
            f'{gflops(loop, precision)}  loop/fit {loop / fit:.2f}')
    if real:
      line += f'   records {real[0]:7.1f} img/s ({100 * real[0] / loop:.0f}% of cached)'
    print(line, flush=True)


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  from hourglass.training import precision as precision_lib
  from hourglass.training import strategy as strategy_lib
  # pylint: enable=g-import-not-at-top
  precisions = args.precisions.split(',')
  setup = inputs(args)
  strategy = strategy_lib.build_strategy(strategy_lib.StrategyConfig())
  peaks = {dtype: _matmul_peak(dtype) for dtype in ['float32'] + [p for p in precisions
                                                                    if p != 'float32']}
  print(f'{args.size}x{args.size}, {args.stacks} stacks, K={setup[0].num_keypoints}, batch '
        f'{args.batch}, {args.steps} steps x {args.repeats}; matmul peak '
        + ', '.join(f'{d} {g:.0f} GFLOP/s' for d, g in peaks.items()))
  for name in args.models.split(','):
    for jit in args.jit.split(','):
      run_model(name, jit, args, (*setup, strategy), peaks)
  precision_lib.set_precision_policy('float32')


if __name__ == '__main__':
  main()
