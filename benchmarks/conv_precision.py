"""Seconds per Keras training step of four 3x3 convolutions in each precision policy, in one run:
whether this CPU computes bfloat16 (AVX512_BF16/AMX) or emulates it.

    python benchmarks/conv_precision.py [--policies=float32,mixed_bfloat16] [--steps=3]

The model: 4 Conv2D (256 channels, ReLU) on 64x64x256 inputs, batch 8, MSE, Adam; one untimed
warm-up step (tracing), then the mean of --steps steps.
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402
from core import cpu  # noqa: E402


def step_seconds(policy, steps):
  """Mean seconds of one train_on_batch under the Keras dtype `policy`."""
  import keras  # pylint: disable=g-import-not-at-top
  keras.config.set_dtype_policy(policy)
  inputs = keras.Input((64, 64, 256))
  x = inputs
  for _ in range(4):
    x = keras.layers.Conv2D(256, 3, padding='same', activation='relu')(x)
  outputs = keras.layers.Activation('linear', dtype='float32')(x)
  model = keras.Model(inputs, outputs)
  model.compile('adam', 'mse')
  batch = np.random.default_rng(0).random((8, 64, 64, 256), np.float32)
  model.train_on_batch(batch, batch)
  start = time.perf_counter()
  for _ in range(steps):
    model.train_on_batch(batch, batch)
  keras.config.set_dtype_policy('float32')
  return (time.perf_counter() - start) / steps


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--policies', default='float32,mixed_bfloat16')
  result.add_argument('--steps', type=int, default=3)
  return result


def main(argv=None):
  args = harness.start(parser(), argv)
  native = cpu.native_bfloat16(cpu.cpu_flags())
  print(f'bfloat16 units: {", ".join(native) or "none"}')
  times = {p: step_seconds(p, args.steps) for p in args.policies.split(',')}
  base = times.get('float32')
  for policy, seconds in times.items():
    ratio = f'  ({seconds / base:.2f}x float32)' if base else ''
    print(f'{policy:16s} {seconds:6.2f} s/step{ratio}', flush=True)


if __name__ == '__main__':
  main()
