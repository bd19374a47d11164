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

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def parser():
  return harness.add_step_args(harness.new_parser(__doc__))


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from hourglass.model.config import ModelConfig
  from hourglass.model.fuse_separable import fuse_separable_1x1, SeparableConv1x1
  from hourglass.model.network import build_training_model
  from hourglass.model.seed_layers import with_keras_layers
  # pylint: enable=g-import-not-at-top
  config = ModelConfig(num_stacks=args.stacks, mobile=True, tiny=args.tiny,
                       input_height=args.size, input_width=args.size, num_keypoints=4)
  built = build_training_model(config)
  fused, count = fuse_separable_1x1(built)
  separable = sum(isinstance(layer, keras.layers.SeparableConv2D) for layer in built.layers)
  print(f'{count} of {separable} separable convs are 1x1')
  two_ops = with_keras_layers(built, swap=(SeparableConv1x1,))
  images = tf.random.uniform((args.batch, args.size, args.size, 3), 0, 255)
  targets = tf.random.uniform((args.batch, args.size // 4, args.size // 4, 4))
  median = harness.median_seconds({'two ops': harness.adam_step(two_ops, images, targets),
                                   'as built': harness.adam_step(built, images, targets),
                                   'plain conv': harness.adam_step(fused, images, targets)},
                                  args.repeats)
  for name, value in median.items():
    print(f'{name}: {value * 1000:.0f} ms a step, {args.batch / value:.2f} images/s')
  print(f"speed-up of as built over two ops: {median['two ops'] / median['as built']:.3f}; "
        f"of plain conv over two ops: {median['two ops'] / median['plain conv']:.3f}")


if __name__ == '__main__':
  main()
