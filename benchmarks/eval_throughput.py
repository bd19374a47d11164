"""Eval throughput of a Keras model: batched graph-mode predictor vs one predict call per image.

    python benchmarks/eval_throughput.py [--model_path=runs/m] [--images=64] [--batch_size=16]
        [--num_stacks=2 --mobile --tiny --input_shape=256x256] [--records_dir=...]

Two ways to get heatmaps + keypoints for the same N images (uint8, model input size):
  batched:   hourglass.inference.predictors.KerasPredictor: one tf.function with a free batch
             dimension, `batch_size` images per call, then one DARK decode per batch (what
             --mode=eval does);
  per image: `model.predict(image[None])` once per image, then decode (what the seed's
             validation did).
Both are warmed up first (tracing excluded); the best of `--repeats` runs of each is reported,
with their ratio and `uptime`'s load (the machine may be shared). With --records_dir, the full
--mode=eval path (tf.data eval pipeline + predictor + metrics) is timed too.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402


def _predictor(args):
  """The Keras predictor of --model_path, or an untrained model of the given architecture."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference.loading import load_predictor
  from hourglass.inference.predictors import KerasPredictor
  from hourglass.keypoints.codec import HeatmapCodec
  from hourglass.model.config import ModelConfig, parse_input_shape
  from hourglass.model.network import build_inference_model
  from records.keypoint_definition import builtin_definition
  # pylint: enable=g-import-not-at-top
  if args.model_path:
    predictor = load_predictor(args.model_path, batch_size=args.batch_size)
    if not isinstance(predictor, KerasPredictor):
      sys.exit(f'{args.model_path}: this benchmark compares Keras execution modes; got '
               f'{predictor.name}')
    return predictor
  definition = builtin_definition('coco')
  if args.records_dir:  # the records' keypoints, so that the full eval path can run
    from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
    definition = load_manifest(args.records_dir).definition
  height, width = parse_input_shape(args.input_shape)
  config = ModelConfig(num_stacks=args.num_stacks, mobile=args.mobile, tiny=args.tiny,
                       input_height=height, input_width=width,
                       num_keypoints=definition.num_keypoints)
  return KerasPredictor(build_inference_model(config), definition,
                        HeatmapCodec((height, width)), f'untrained {config}', args.batch_size)


def time_batched(predictor, images, batch_size):
  start = time.perf_counter()
  for i in range(0, len(images), batch_size):
    predictor.predict(images[i:i + batch_size], decoder='dark')
  return time.perf_counter() - start


def time_per_image(predictor, images):
  model = predictor.model
  start = time.perf_counter()
  for image in images:
    heatmaps = model.predict(image[None].astype(np.float32), verbose=0)
    predictor.decode(heatmaps, 'dark')
  return time.perf_counter() - start


def time_eval_path(predictor, records_dir, batch_size):
  from hourglass.evaluation import evaluator  # pylint: disable=g-import-not-at-top
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  from pipelines.dataset import build_eval_dataset  # pylint: disable=g-import-not-at-top
  config = PipelineConfig(input_shape=predictor.input_shape, stride=predictor.codec.stride,
                          sigma=predictor.codec.sigma, batch_size=batch_size)
  dataset = build_eval_dataset(records_dir, config)
  evaluator.evaluate(predictor, dataset.take(1), evaluator.EvalConfig())  # warm-up
  start = time.perf_counter()
  result = evaluator.evaluate(predictor, dataset, evaluator.EvalConfig())
  return result['num_objects'], time.perf_counter() - start


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_path', default=None, help='a Keras model dir/bundle/.keras; '
                      'default: an untrained model of the given architecture')
  result.add_argument('--num_stacks', type=int, default=2)
  result.add_argument('--mobile', action=argparse.BooleanOptionalAction, default=True)
  result.add_argument('--tiny', action=argparse.BooleanOptionalAction, default=True)
  result.add_argument('--input_shape', default='256x256')
  result.add_argument('--images', type=int, default=64)
  result.add_argument('--batch_size', type=int, default=16)
  result.add_argument('--repeats', type=int, default=2)
  result.add_argument('--records_dir', default=None)
  return result


def main(argv=None):
  args = harness.start(parser(), argv)
  predictor = _predictor(args)
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (args.images, *predictor.input_shape, 3), dtype=np.uint8)
  # Warm-up: trace the batched function (full and remainder batch) and Keras' predict function.
  time_batched(predictor, images[:args.batch_size + 1], args.batch_size)
  time_per_image(predictor, images[:2])
  batched, single = [], []
  for _ in range(args.repeats):
    batched.append(time_batched(predictor, images, args.batch_size))
    single.append(time_per_image(predictor, images))
  b, s = args.images / min(batched), args.images / min(single)
  print(f'model: {predictor.name}')
  print(f'load average: {harness.load_average()}')
  print(f'batched (batch {args.batch_size}, graph mode): {b:.1f} images/s')
  print(f'one model.predict call per image:   {s:.1f} images/s')
  print(f'ratio batched / per image: {b / s:.2f}x')
  if args.records_dir:
    count, seconds = time_eval_path(predictor, args.records_dir, args.batch_size)
    print(f'full eval path ({count} records, pipeline + model + metrics): '
          f'{count / seconds:.1f} images/s')


if __name__ == '__main__':
  main()
