"""Median latency of one image through a model: one timing loop, in this process or a child.

    python -m hourglass.export.latency --threads=1 --runs=30 runs/m/best_model
    LATENCY 0.0123                                        # median seconds, its own line

TensorFlow fixes its thread pools once it has run an op, so a TensorFlow model (a Keras bundle,
a SavedModel) is timed at each thread count in a fresh child process, this module run as a
program (`tf_latency`). The runtimes of .tflite, .onnx and .mnn files take a thread count per
loaded model and are timed in the calling process (`runtime_latency`). Both time with
`median_seconds`.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

WARMUP_RUNS = 3  # untimed calls first: graph tracing, XNNPACK and allocator warm-up
_PREFIX = 'LATENCY '
# The checkout, put on the child's import path whatever the caller's working folder is.
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def median_seconds(predictor, image, runs, warmup=WARMUP_RUNS):
  """Median seconds of one call `predictor(image)` over `runs` timed calls after `warmup`.

  Args:
    predictor: a hourglass.inference.predictors.Predictor (any callable).
    image: float32 [1, H, W, 3] RGB 0..255.
    runs: timed calls.
  """
  for _ in range(warmup):
    predictor(image)
  times = []
  for _ in range(runs):
    start = time.perf_counter()
    predictor(image)
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def runtime_latency(path, threads, runs, image):
  """Median seconds of one single-image call of a .tflite/.onnx/.mnn file at `threads`."""
  from hourglass.inference import runtime_predictors  # pylint: disable=g-import-not-at-top
  predictor = runtime_predictors.load_runtime_predictor(path, num_threads=threads)
  return median_seconds(predictor, image, runs)


def tf_latency(path, threads, runs, timeout_s=1800):
  """Median seconds of one image through a Keras bundle or SavedModel, timed in a child
  process (`python -m hourglass.export.latency`) whose TensorFlow uses `threads` threads.

  Raises:
    RuntimeError: the child failed; the message ends with its output.
  """
  env = dict(os.environ)
  env['PYTHONPATH'] = os.pathsep.join([_ROOT] + [p for p in [env.get('PYTHONPATH')] if p])
  env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's start-up lines are not figures
  command = [sys.executable, '-m', 'hourglass.export.latency', f'--threads={threads}',
             f'--runs={runs}', os.path.abspath(path)]
  proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False,
                        env=env)
  for line in proc.stdout.splitlines():
    if line.startswith(_PREFIX):
      return float(json.loads(line[len(_PREFIX):]))
  raise RuntimeError(f'latency run of {path} failed:\n{(proc.stdout + proc.stderr)[-2000:]}')


def _time_tensorflow_model(path, threads, runs):
  """The child's work: TensorFlow at `threads` threads, then the model and the timing loop on a
  fixed random image."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(threads)
  tf.config.threading.set_inter_op_parallelism_threads(threads)
  from hourglass.inference.loading import load_predictor  # pylint: disable=g-import-not-at-top
  predictor = load_predictor(path)
  image = np.random.RandomState(0).randint(0, 256, (1,) + predictor.input_shape + (3,))
  return median_seconds(predictor, image.astype(np.float32), runs)


def main(argv=None):
  """Times one TensorFlow model and prints `LATENCY <median seconds>` (JSON number)."""
  parser = argparse.ArgumentParser(prog='python -m hourglass.export.latency',
                                   description=__doc__.split('\n', 1)[0])
  parser.add_argument('--threads', type=int, required=True, help='TensorFlow threads')
  parser.add_argument('--runs', type=int, required=True, help='timed calls (median printed)')
  parser.add_argument('path', help='a Keras bundle or model directory, or a SavedModel folder')
  args = parser.parse_args(argv)
  print(_PREFIX + json.dumps(_time_tensorflow_model(args.path, args.threads, args.runs)))


if __name__ == '__main__':
  main()
