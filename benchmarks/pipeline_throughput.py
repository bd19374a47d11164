"""Images/s of the training pipeline vs. its floor, on records made from ../shared/data.

    python benchmarks/pipeline_throughput.py [--work_dir=/tmp/pipeline_bench] [--images=4800]
        [--repeat_to=2400] [--batch_size=16] [--input_shape=256x256] [--datasets=coco,openfield]

For each data set: records are made with records.make_records at their default settings (COCO
sample: 4 images, 12 people with keypoints, repeated by re-writing the serialized examples to
--repeat_to; openfield: the 99 training frames of the fixed split, likewise repeated), then three
pipelines run over the same records with the same decode options, batching and prefetch:
  full:  pipelines.dataset.build_train_dataset (shuffle, scale/rotation/translation/flip in one
         warp, colour jitter, heatmap targets for every keypoint),
  floor: the same reads, shuffle, batched parse, decode, ONE warp to the model input per
         example (the pipeline's warp kernel, per batch), batch, prefetch: no augmentation
         draws, no colour jitter, no targets,
  floor_op: the floor with TensorFlow's ImageProjectiveTransformV3 op as the warp (per
         example): how much the pipeline's own warp kernel saves.
They alternate (full, floor, floor_op, ...) and the best of each is reported, with the load
average and each pipeline's CPU time per image (steadier than wall time when others share the
cores). Each epoch is a freshly built dataset, as the trainer builds them, so the rates include
each epoch's set-up (tracing the map functions, filling the shuffle buffer, the first batch's
latency: ~0.5 s, printed on its own). That is why --repeat_to defaults to a few thousand: with
epochs of a few hundred examples (~1 s of work here) the set-up, not the per-image work, sets
the rate.

The measured figures (idle and loaded machine) and what the extra cost is made of are in
BUILD.md, "Input pipeline".
"""

import argparse
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import tensorflow as tf  # noqa: E402

from pipelines import augment  # noqa: E402
from pipelines import dataset as pipeline  # noqa: E402
from pipelines.config import PipelineConfig  # noqa: E402
from records import schema  # noqa: E402
from records.make_records import MakeRecordsConfig, make_records  # noqa: E402
from records.reader import load_manifest  # noqa: E402
from records.writer import write_shards  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def make_source_records(name, work_dir, input_shape):
  """records.make_records at default settings for one shared data set; returns its directory."""
  out = os.path.join(work_dir, f'{name}_base')
  if os.path.exists(os.path.join(out, 'manifest.json')):
    return out
  if name == 'coco':
    config = MakeRecordsConfig(source='coco', output_dir=out, input_shape=input_shape,
                               dataset_path=os.path.join(SHARED, 'coco_sample'),
                               val_fraction=0.0, progress=False)
  else:
    match = os.path.join(work_dir, 'openfield_match_point.txt')
    with open(match, 'w', encoding='utf-8') as f:
      f.write('leftear,rightear,h\n')
    config = MakeRecordsConfig(source='deeplabcut', output_dir=out, input_shape=input_shape,
                               dataset_path=os.path.join(SHARED, 'openfield'),
                               val_list=os.path.join(SHARED, 'openfield', 'val_frames.txt'),
                               matchpoint_path=match, progress=False)
  make_records(config)
  return out


def repeat_records(base_dir, out_dir, target):
  """Re-writes the train split's serialized examples, repeated to at least `target` examples."""
  manifest = load_manifest(base_dir)
  serialized = [r.numpy() for r in tf.data.TFRecordDataset(manifest.shard_paths('train'))]
  copies = -(-target // len(serialized))
  write_shards(out_dir, {'train': serialized * copies}, definition=manifest.definition,
               input_shape=manifest.input_shape, crop_shape=manifest.crop_shape,
               source=manifest.source, settings={'repeated_from': base_dir, 'copies': copies},
               examples_per_shard=128)
  return len(serialized), len(serialized) * copies


def build_floor_dataset(records_dir, config, op_warp=False):
  """The floor: the training pipeline's reads, shuffle, batched parse, decode options, batching
  and prefetch, with ONE plain warp (record box -> model input) per example and nothing else.

  The warp is the pipeline's own (augment.warp, per batch); op_warp=True warps each example
  with TensorFlow's ImageProjectiveTransformV3 instead, the floor as it was before that kernel.
  """
  setup = pipeline._setup(records_dir, config)  # pylint: disable=protected-access
  decoded_to_crop = augment.downscaled_to_full(config.decode_ratio)

  def prepare(serialized):
    f = pipeline.parse_for_training(serialized, setup.manifest.num_keypoints)
    matrix = augment.box_to_input(f[schema.BOX_IN_CROP], setup.input_shape) @ decoded_to_crop
    return {'encoded': f[schema.IMAGE_ENCODED],
            'transform': augment.projective_transform(matrix)}

  # The training pipeline's own per-example decode (fixed crop shape, 'transform' passed on).
  decode = pipeline._decode_example(setup, config)  # pylint: disable=protected-access

  def op_warp_example(example):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=example['image'][None], transforms=example['transform'][None],
        output_shape=setup.input_shape, fill_value=0.0, interpolation='BILINEAR',
        fill_mode='CONSTANT')[0]

  def warp_batch(batch):
    return augment.warp(batch['image'], None, setup.input_shape, transform=batch['transform'])
  ds = pipeline._read(setup.manifest, 'train', config, None, True, 0)  # pylint: disable=protected-access
  ds = ds.shuffle(config.shuffle_buffer, seed=0).batch(config.batch_size, drop_remainder=True)
  ds = ds.map(prepare, num_parallel_calls=pipeline.AUTOTUNE).unbatch()
  if op_warp:
    ds = ds.map(lambda e: op_warp_example(decode(e)), num_parallel_calls=pipeline.AUTOTUNE)
    ds = ds.batch(config.batch_size, drop_remainder=True)
  else:
    ds = ds.map(decode, num_parallel_calls=pipeline.AUTOTUNE)
    ds = ds.batch(config.batch_size, drop_remainder=True)
    ds = ds.map(warp_batch, num_parallel_calls=pipeline.AUTOTUNE)
  return ds.prefetch(pipeline.AUTOTUNE).with_options(pipeline._options(config))  # pylint: disable=protected-access


def _cpu_seconds():
  usage = resource.getrusage(resource.RUSAGE_SELF)
  return usage.ru_utime + usage.ru_stime


def images_per_second(make_epoch, images, batch_size):
  """Iterates fresh epochs until `images` were produced after a two-batch warm-up.

  Returns:
    (images/s of wall time, CPU ms of this process per image). On a shared machine the CPU
    cost is the steadier figure: 2000 / (CPU ms per image) is what 2 idle cores would give.
  """
  seen, start, cpu_start, epoch, warm = 0, None, None, 0, 0
  while seen < images:
    for batch in make_epoch(epoch):
      tf.nest.map_structure(lambda t: t.shape, batch)
      if warm < 2:
        warm += 1
        if warm == 2:
          start, cpu_start = time.perf_counter(), _cpu_seconds()
        continue
      seen += batch_size
      if seen >= images:
        break
    epoch += 1
  return seen / (time.perf_counter() - start), 1000 * (_cpu_seconds() - cpu_start) / seen


def epoch_setup_seconds(make_epoch, epochs=3):
  """Mean seconds from building an epoch's dataset to its first batch (epochs 1..epochs)."""
  times = []
  for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    next(iter(make_epoch(epoch)))
    times.append(time.perf_counter() - start)
  return sum(times) / len(times)


def load_average():
  return ' '.join(f'{v:.2f}' for v in os.getloadavg())


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--work_dir', default='/tmp/pipeline_bench')
  parser.add_argument('--images', type=int, default=4800)
  parser.add_argument('--batch_size', type=int, default=16)
  parser.add_argument('--input_shape', default='256x256')
  parser.add_argument('--repeat_to', type=int, default=2400)
  parser.add_argument('--datasets', default='coco,openfield')
  parser.add_argument('--rounds', type=int, default=3)
  args = parser.parse_args()
  input_shape = tuple(int(v) for v in args.input_shape.split('x'))
  os.makedirs(args.work_dir, exist_ok=True)
  print(f'TensorFlow {tf.__version__}, {os.cpu_count()} CPUs, load average {load_average()}')
  for name in args.datasets.split(','):
    base = make_source_records(name, args.work_dir, input_shape)
    records_dir = os.path.join(args.work_dir, name)
    unique, total = repeat_records(base, records_dir, args.repeat_to)
    manifest = load_manifest(records_dir)
    config = PipelineConfig(batch_size=args.batch_size, input_shape=input_shape)
    print(f'{name}: {unique} training examples repeated to {total}, crops '
          f'{manifest.crop_shape[0]}x{manifest.crop_shape[1]}, input {input_shape[0]}x'
          f'{input_shape[1]}, K={manifest.num_keypoints}, batch {args.batch_size}')
    full_fn = lambda e: pipeline.build_train_dataset(records_dir, config, epoch=e)  # noqa: E731
    floor_fn = lambda e: build_floor_dataset(records_dir, config)  # noqa: E731
    op_floor_fn = lambda e: build_floor_dataset(records_dir, config, op_warp=True)  # noqa: E731
    results = {'full': [], 'floor': [], 'floor_op': []}
    for _ in range(args.rounds):
      for kind, fn in (('full', full_fn), ('floor', floor_fn), ('floor_op', op_floor_fn)):
        rate, cpu_ms = images_per_second(fn, args.images, args.batch_size)
        results[kind].append((rate, cpu_ms))
        print(f'  {kind:8s} {rate:7.1f} images/s, {cpu_ms:5.2f} CPU ms/image   (load average '
              f'{load_average()})', flush=True)
    full, floor = (max(r for r, _ in results[k]) for k in ('full', 'floor'))
    full_cpu, floor_cpu = (min(c for _, c in results[k]) for k in ('full', 'floor'))
    print(f'  {name}: wall clock: full {full:.0f} images/s, floor {floor:.0f} images/s, '
          f'{100 * full / floor:.0f}% of the floor')
    print(f'  {name}: CPU cost: full {full_cpu:.2f} ms/image, floor {floor_cpu:.2f} ms/image, '
          f'{100 * floor_cpu / full_cpu:.0f}% of the floor; on 2 idle cores that is '
          f'{2000 / full_cpu:.0f} and {2000 / floor_cpu:.0f} images/s')
    print(f'  {name}: set-up of one epoch (build to first batch): full '
          f'{epoch_setup_seconds(full_fn):.2f} s, floor {epoch_setup_seconds(floor_fn):.2f} s')
    op_floor = max(r for r, _ in results['floor_op'])
    op_floor_cpu = min(c for _, c in results['floor_op'])
    print(f'  {name}: floor with the ImageProjectiveTransformV3 op warp instead: {op_floor:.0f} '
          f'images/s, {op_floor_cpu:.2f} CPU ms/image (full = {100 * full / op_floor:.0f}% of it)')


if __name__ == '__main__':
  main()
