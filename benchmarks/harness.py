"""What every benchmark shares: its command line, a first line naming the machine, and timing.

A benchmark module defines `parser()` (argparse; loads nothing heavy) and `main(argv=None)`,
which begins with `args = harness.start(parser(), argv)`: the flags are parsed, then one line
names the machine (core/cpu.py: CPU model; AVX-512, AVX512_BF16, AMX; cores), and only then do
the benchmark's functions import TensorFlow and the project's TensorFlow modules (inside the
functions), so that `--help` and tests/benchmarks/ load neither.
Benchmarks call the project's public names only.
"""

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

from core import cpu


def new_parser(doc):
  """An ArgumentParser described by the first paragraph of `doc` (a benchmark's docstring)."""
  return argparse.ArgumentParser(description=doc.split('\n\n')[0].strip(),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)


def start(parser, argv=None):
  """Parses `argv` (default: sys.argv[1:]), prints the machine line and returns the flags.

  TensorFlow's C++ INFO lines are quietened here, before any benchmark function loads it.
  """
  args = parser.parse_args(argv)
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  print(machine_line(), flush=True)
  return args


def run_main_py(*flags):
  """Runs `python main.py *flags` in the project root (the product's own command line, printed
  first); raises CalledProcessError when it fails. Returns its wall seconds."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  command = [sys.executable, os.path.join(root, 'main.py'), *flags]
  print('$', ' '.join(command), flush=True)
  start = time.time()
  subprocess.run(command, check=True, cwd=root)
  return time.time() - start


def machine_line():
  """'CPU: <model>; AVX-512 yes|no, AVX512_BF16 yes|no, AMX yes|no; <n> cores'."""
  return cpu.describe()


def add_step_args(parser):
  """The flags of a model-step benchmark: --size, --batch, --stacks, --tiny, --repeats."""
  parser.add_argument('--size', type=int, default=256)
  parser.add_argument('--batch', type=int, default=8)
  parser.add_argument('--stacks', type=int, default=2)
  parser.add_argument('--tiny', action='store_true')
  parser.add_argument('--repeats', type=int, default=5)
  return parser


def median_seconds(fns, repeats):
  """{name: median seconds of one call}, the calls taking turns after two untimed ones each
  (tracing, then one warm call); each call's tensors are fetched before the clock stops.

  Args:
    fns: {name: function of no arguments returning a nest of tensors}.
    repeats: timed calls of each.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  for fn in fns.values():
    fn()
    fn()
  seconds = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      begin = time.perf_counter()
      tf.nest.map_structure(lambda t: t.numpy(), fn())
      seconds[name].append(time.perf_counter() - begin)
  return {name: statistics.median(values) for name, values in seconds.items()}


def adam_step(model, images, targets):
  """A tf.function Adam step on the MSE of every stack's heatmaps [B, H/4, W/4, K]: the step the
  model-step benchmarks time (no trainer, no loss weights)."""
  # pylint: disable=g-import-not-at-top
  import keras
  import tensorflow as tf

  from hourglass.model.network import stack_outputs
  # pylint: enable=g-import-not-at-top
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


def best_seconds(fn, repeats):
  """The fewest seconds of `repeats` calls of `fn` (no arguments; its result is discarded)."""
  best = float('inf')
  for _ in range(repeats):
    begin = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - begin)
  return best


def cpu_seconds():
  """User + system CPU seconds of this process so far (all its threads)."""
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def load_average():
  """The 1, 5 and 15 minute load averages, e.g. '1.02 0.87 0.60' (others may share the cores)."""
  return ' '.join(f'{v:.2f}' for v in os.getloadavg())
