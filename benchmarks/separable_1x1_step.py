"""What the mobile models' 1x1 separable convs cost a training step, steps alternating in one
process on the same random batch, three ways:

- two ops: each 1x1 separable conv a Keras SeparableConv2D (a per-channel scale over the feature
  map, then a 1x1 conv, and both in the gradient);
- as built: SeparableConv1x1 (hourglass.model.fuse_separable), the same variables, trained as
  one conv with the product kernel;
- plain conv: the export's fusion (fuse_separable_1x1), one 1x1 conv with its own kernel: fewer
  variables, so an upper bound of what training them as one op can gain.

    python benchmarks/separable_1x1_step.py [--size=256] [--batch=8] [--stacks=2] [--tiny]
        [--repeats=5]
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from hourglass.model.config import ModelConfig  # noqa: E402
from hourglass.model.fuse_separable import SeparableConv1x1, fuse_separable_1x1  # noqa: E402
from hourglass.model.seed_layers import with_keras_layers  # noqa: E402
from hourglass.model.network import build_training_model, stack_outputs  # noqa: E402


def train_step(model, images, targets):
  """A tf.function Adam step on the MSE of every stack's heatmaps [B, H/4, W/4, K]."""
  optimizer = keras.optimizers.Adam(1e-3)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      outputs = stack_outputs(model(images, training=True))
      loss = tf.add_n([tf.reduce_mean((o - targets) ** 2) for o in outputs])
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss
  return step


def add_step_args(parser):
  """The flags of a mobile model's step benchmark: --size, --batch, --stacks, --tiny, --repeats."""
  parser.add_argument('--size', type=int, default=256)
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--stacks', type=int, default=2)
  parser.add_argument('--tiny', action='store_true')
  parser.add_argument('--repeats', type=int, default=5)
  return parser


def median_seconds(fns, repeats):
  """{name: median seconds of one call}, the calls taking turns after two untimed ones each
  (tracing, then one warm call); each call's tensors are fetched before the clock stops."""
  for fn in fns.values():
    fn()
    fn()
  seconds = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      start = time.perf_counter()
      tf.nest.map_structure(lambda t: t.numpy(), fn())
      seconds[name].append(time.perf_counter() - start)
  return {name: float(np.median(values)) for name, values in seconds.items()}


def main():
  args = add_step_args(argparse.ArgumentParser(description=__doc__.split('\n\n')[0])).parse_args()
  config = ModelConfig(num_stacks=args.stacks, mobile=True, tiny=args.tiny,
                       input_height=args.size, input_width=args.size, num_keypoints=4)
  built = build_training_model(config)
  fused, count = fuse_separable_1x1(built)
  separable = sum(isinstance(layer, keras.layers.SeparableConv2D) for layer in built.layers)
  print(f'{count} of {separable} separable convs are 1x1')
  two_ops = with_keras_layers(built, swap=(SeparableConv1x1,))
  images = tf.random.uniform((args.batch, args.size, args.size, 3), 0, 255)
  targets = tf.random.uniform((args.batch, args.size // 4, args.size // 4, 4))
  median = median_seconds({'two ops': train_step(two_ops, images, targets),
                           'as built': train_step(built, images, targets),
                           'plain conv': train_step(fused, images, targets)}, args.repeats)
  for name, value in median.items():
    print(f'{name}: {value * 1000:.0f} ms a step, {args.batch / value:.2f} images/s')
  print(f"speed-up of as built over two ops: {median['two ops'] / median['as built']:.3f}; "
        f"of plain conv over two ops: {median['two ops'] / median['plain conv']:.3f}")


if __name__ == '__main__':
  main()
