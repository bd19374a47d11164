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

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

from hourglass.training import precision as precision_lib, strategy as strategy_lib  # noqa: E402
from hourglass.keypoints.codec import HeatmapCodec  # noqa: E402
from hourglass.model import seed_layers  # noqa: E402
from hourglass.model.config import ModelConfig  # noqa: E402
from hourglass.training.trainer import Trainer, TrainConfig  # noqa: E402
from records.keypoint_definition import KeypointDefinition  # noqa: E402

MODELS = {'mobile_tiny': dict(mobile=True, tiny=True), 'mobile': dict(mobile=True, tiny=False),
          'standard': dict(mobile=False, tiny=False),
          'standard_tiny': dict(mobile=False, tiny=True)}


def _loop_rates(trainer, dataset_fns, steps, repeats=3):
  """images/s of Trainer._train_loop on `steps` steps for each dataset, median of `repeats`.

  The datasets take turns within each repetition, so that a slow spell of the machine hits all
  of them alike (measured one after the other, records vs cached swung between 86% and 111%).
  """
  iterators = [iter(trainer.strategy.distribute_datasets_from_function(
      lambda ctx, fn=fn: fn(ctx).repeat())) for fn in dataset_fns]
  for iterator in iterators:
    trainer._train_loop(iterator, tf.constant(2, tf.int32))  # pylint: disable=protected-access
    trainer.loss_sums.numpy()
  rates = [[] for _ in iterators]
  for _ in range(repeats):
    for iterator, rate in zip(iterators, rates):
      start = time.perf_counter()
      trainer._train_loop(  # pylint: disable=protected-access
          iterator, tf.constant(steps, tf.int32))
      trainer.loss_sums.numpy()
      rate.append(steps * trainer.config.global_batch_size / (time.perf_counter() - start))
  return [statistics.median(rate) for rate in rates]


def _matmul_peak(dtype, n=2048, reps=10):
  """GFLOP/s of an n x n matmul chain in `dtype` (the best of 3), as a ceiling for conv steps."""
  a = tf.random.normal([n, n], dtype=tf.float32)
  a = tf.cast(a, dtype)

  @tf.function
  def chain(x):
    for _ in range(reps):
      x = tf.matmul(x, a) * tf.cast(1e-2, dtype)
    return tf.reduce_sum(tf.cast(x, tf.float32))

  chain(a).numpy()
  best = float('inf')
  for _ in range(3):
    start = time.perf_counter()
    chain(a).numpy()
    best = min(best, time.perf_counter() - start)
  return 2.0 * n ** 3 * reps / best / 1e9


def _training_flops_per_image(config):
  """3 x the forward FLOPs of the training model (every stack) at batch 1."""
  from hourglass.model.network import build_training_model
  from hourglass.model.summary import profiler_flops
  precision_lib.set_precision_policy('float32')
  return 3 * profiler_flops(build_training_model(config))[1]


def _fit_rate(model, strategy, images, heatmaps, steps, jit_compile, repeats=3):
  """images/s of model.fit (MSE on every stack) on the same cached batch."""
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


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--records_dir')
  parser.add_argument('--size', type=int, default=256)
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=3, help='timed repetitions per figure')
  parser.add_argument('--stacks', type=int, default=2)
  parser.add_argument('--models', default='mobile_tiny,mobile,standard')
  parser.add_argument('--jit', default='off,on', help='XLA settings to run: off, on or both')
  parser.add_argument('--precisions', default='float32,bfloat16',
                      help='compute precisions of the custom loop')
  args = parser.parse_args()
  precisions = args.precisions.split(',')
  k = 16
  definition = KeypointDefinition(names=tuple(f'k{i}' for i in range(k)))
  if args.records_dir:
    from records.reader import load_manifest
    definition = load_manifest(args.records_dir).definition
    k = definition.num_keypoints
  codec = HeatmapCodec((args.size, args.size), 4, 2.0)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 255, (args.batch, args.size, args.size, 3)).astype(np.uint8)
  keypoints = rng.uniform(0, args.size, (args.batch, k, 2)).astype(np.float32)
  heatmaps, weights = codec.encode(keypoints, np.ones((args.batch, k), np.int32))
  cached = lambda ctx: tf.data.Dataset.from_tensors(
      (images, {'heatmaps': heatmaps, 'weights': weights, 'keypoints': keypoints}))
  strategy = strategy_lib.build_strategy(strategy_lib.StrategyConfig())
  peaks = {dtype: _matmul_peak(dtype) for dtype in ['float32'] + [p for p in precisions
                                                                    if p != 'float32']}
  print(f'{args.size}x{args.size}, {args.stacks} stacks, K={k}, batch {args.batch}, '
        f'{args.steps} steps x {args.repeats}, {os.cpu_count()} CPUs; matmul peak '
        + ', '.join(f'{d} {g:.0f} GFLOP/s' for d, g in peaks.items()))
  runs = [(name, jit) for name in args.models.split(',') for jit in args.jit.split(',')]
  datasets = [cached]
  if args.records_dir:
    from pipelines.config import PipelineConfig
    from pipelines.dataset import build_train_dataset
    pipeline = PipelineConfig(input_shape=(args.size, args.size), batch_size=args.batch)
    datasets.append(lambda ctx: build_train_dataset(args.records_dir, pipeline, epoch=0,
                                                    input_context=ctx))
  for name, jit in runs:
    config = ModelConfig(num_stacks=args.stacks, input_height=args.size, input_width=args.size,
                         num_keypoints=k, **MODELS[name])
    flops = _training_flops_per_image(config)
    gflops = lambda rate, dtype: (f'{rate * flops / 1e9:6.1f} GFLOP/s '
                                  f'({100 * rate * flops / 1e9 / peaks[dtype]:.0f}% of peak)')
    fit = None
    for precision in precisions:
      precision_lib.set_precision_policy(precision)
      with tempfile.TemporaryDirectory() as model_dir:
        train_config = TrainConfig(model_dir=model_dir, global_batch_size=args.batch,
                                   steps_per_epoch=10 ** 6, decay_type='none',
                                   jit_compile=jit == 'on', compute_dtype=precision)
        trainer = Trainer(train_config, strategy, config, definition, codec, lambda e, c: None,
                          log=lambda *a: None)
        loop, *real = _loop_rates(trainer, datasets, args.steps, args.repeats)
        if fit is None:  # the seed's model.fit: float32, built under the float32 policy
          precision_lib.set_precision_policy('float32')
          fitted = trainer.model if precision == 'float32' else None
          with strategy.scope():
            if fitted is None:
              from hourglass.model.network import build_training_model
              fitted = build_training_model(config)
            # The seed's layers: Keras' SeparableConv2D and BatchNormalization.
            fitted = seed_layers.with_keras_layers(fitted)
          fit = _fit_rate(fitted, strategy, images.astype(np.float32), heatmaps, args.steps,
                          jit_compile=jit == 'on', repeats=args.repeats)
          print(f'{name:12s} XLA {jit:3s} model.fit float32  {fit:7.1f} img/s  '
                f'{gflops(fit, "float32")}', flush=True)
      line = (f'{name:12s} XLA {jit:3s} loop {precision:9s} {loop:7.1f} img/s  '
              f'{gflops(loop, precision)}  loop/fit {loop / fit:.2f}')
      if real:
        line += f'   records {real[0]:7.1f} img/s ({100 * real[0] / loop:.0f}% of cached)'
      print(line, flush=True)
  precision_lib.set_precision_policy('float32')


if __name__ == '__main__':
  main()
