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
docs/benchmarks.md, "Input pipeline".
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), 'shared', 'data')


def make_source_records(name, work_dir, input_shape):
  """records.make_records at default settings for one shared data set; returns its directory."""
  # pylint: disable-next=g-import-not-at-top
  from records.make_records import make_records, MakeRecordsConfig
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
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from records.reader import load_manifest
  from records.writer import write_shards
  # pylint: enable=g-import-not-at-top
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
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from pipelines import augment
  from pipelines import dataset as pipeline
  from records import schema
  from records.reader import load_manifest
  # pylint: enable=g-import-not-at-top
  manifest = load_manifest(records_dir)
  input_shape = tuple(config.input_shape or manifest.input_shape)
  decoded_to_crop = augment.downscaled_to_full(config.decode_ratio)
  crop_shape = pipeline.decoded_shape(manifest, config) + (3,)

  def prepare(serialized):
    f = pipeline.parse_for_training(serialized, manifest.num_keypoints)
    matrix = augment.crop_to_input(f[schema.BOX_IN_CROP], input_shape) @ decoded_to_crop
    return {'encoded': f[schema.IMAGE_ENCODED],
            'transform': augment.projective_transform(matrix)}

  def decode(example):  # the training pipeline's decode, at the records' fixed crop shape
    image = pipeline.decode_image(example['encoded'], config)
    image.set_shape(crop_shape)
    return {'image': image, 'transform': example['transform']}

  def op_warp_example(example):
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=example['image'][None], transforms=example['transform'][None],
        output_shape=input_shape, fill_value=0.0, interpolation='BILINEAR',
        fill_mode='CONSTANT')[0]

  def warp_batch(batch):
    return augment.warp(batch['image'], None, input_shape, transform=batch['transform'])
  ds = pipeline.read_serialized(manifest, 'train', config, None, True, 0)
  ds = ds.shuffle(config.shuffle_buffer, seed=0).batch(config.batch_size, drop_remainder=True)
  ds = ds.map(prepare, num_parallel_calls=pipeline.AUTOTUNE).unbatch()
  if op_warp:
    ds = ds.map(lambda e: op_warp_example(decode(e)), num_parallel_calls=pipeline.AUTOTUNE)
    ds = ds.batch(config.batch_size, drop_remainder=True)
  else:
    ds = ds.map(decode, num_parallel_calls=pipeline.AUTOTUNE)
    ds = ds.batch(config.batch_size, drop_remainder=True)
    ds = ds.map(warp_batch, num_parallel_calls=pipeline.AUTOTUNE)
  return ds.prefetch(pipeline.AUTOTUNE).with_options(pipeline.dataset_options(config))


def images_per_second(make_epoch, images, batch_size):
  """Iterates fresh epochs until `images` were produced after a two-batch warm-up.

  Returns:
    (images/s of wall time, CPU ms of this process per image). On a shared machine the CPU
    cost is the steadier figure: 2000 / (CPU ms per image) is what 2 idle cores would give.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  seen, start, cpu_start, epoch, warm = 0, None, None, 0, 0
  while seen < images:
    for batch in make_epoch(epoch):
      tf.nest.map_structure(lambda t: t.shape, batch)
      if warm < 2:
        warm += 1
        if warm == 2:
          start, cpu_start = time.perf_counter(), harness.cpu_seconds()
        continue
      seen += batch_size
      if seen >= images:
        break
    epoch += 1
  return seen / (time.perf_counter() - start), 1000 * (harness.cpu_seconds() - cpu_start) / seen


def epoch_setup_seconds(make_epoch, epochs=3):
  """Mean seconds from building an epoch's dataset to its first batch (epochs 1..epochs)."""
  times = []
  for epoch in range(1, epochs + 1):
    start = time.perf_counter()
    next(iter(make_epoch(epoch)))
    times.append(time.perf_counter() - start)
  return sum(times) / len(times)


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--work_dir', default='/tmp/pipeline_bench')
  result.add_argument('--images', type=int, default=4800)
  result.add_argument('--batch_size', type=int, default=16)
  result.add_argument('--input_shape', default='256x256')
  result.add_argument('--repeat_to', type=int, default=2400)
  result.add_argument('--datasets', default='coco,openfield')
  result.add_argument('--rounds', type=int, default=3)
  return result


def compare(records_dir, config, args):
  """Runs full, floor and floor_op in turns for --rounds; {kind: [(images/s, CPU ms/image)]}."""
  from pipelines import dataset as pipeline  # pylint: disable=g-import-not-at-top
  makers = {'full': lambda e: pipeline.build_train_dataset(records_dir, config, epoch=e),
            'floor': lambda e: build_floor_dataset(records_dir, config),
            'floor_op': lambda e: build_floor_dataset(records_dir, config, op_warp=True)}
  results = {kind: [] for kind in makers}
  for _ in range(args.rounds):
    for kind, fn in makers.items():
      rate, cpu_ms = images_per_second(fn, args.images, args.batch_size)
      results[kind].append((rate, cpu_ms))
      print(f'  {kind:8s} {rate:7.1f} images/s, {cpu_ms:5.2f} CPU ms/image   (load average '
            f'{harness.load_average()})', flush=True)
  return results, makers


def report(name, results, makers):
  """The best of each pipeline, the floor's share and each epoch's set-up."""
  full, floor = (max(r for r, _ in results[k]) for k in ('full', 'floor'))
  full_cpu, floor_cpu = (min(c for _, c in results[k]) for k in ('full', 'floor'))
  print(f'  {name}: wall clock: full {full:.0f} images/s, floor {floor:.0f} images/s, '
        f'{100 * full / floor:.0f}% of the floor')
  print(f'  {name}: CPU cost: full {full_cpu:.2f} ms/image, floor {floor_cpu:.2f} ms/image, '
        f'{100 * floor_cpu / full_cpu:.0f}% of the floor; on 2 idle cores that is '
        f'{2000 / full_cpu:.0f} and {2000 / floor_cpu:.0f} images/s')
  print(f'  {name}: set-up of one epoch (build to first batch): full '
        f'{epoch_setup_seconds(makers["full"]):.2f} s, floor '
        f'{epoch_setup_seconds(makers["floor"]):.2f} s')
  op_floor = max(r for r, _ in results['floor_op'])
  op_floor_cpu = min(c for _, c in results['floor_op'])
  print(f'  {name}: floor with the ImageProjectiveTransformV3 op warp instead: {op_floor:.0f} '
        f'images/s, {op_floor_cpu:.2f} CPU ms/image (full = {100 * full / op_floor:.0f}% of it)')


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  import tensorflow as tf

  from pipelines.config import PipelineConfig
  from records.reader import load_manifest
  # pylint: enable=g-import-not-at-top
  input_shape = tuple(int(v) for v in args.input_shape.split('x'))
  os.makedirs(args.work_dir, exist_ok=True)
  print(f'TensorFlow {tf.__version__}, load average {harness.load_average()}')
  for name in args.datasets.split(','):
    base = make_source_records(name, args.work_dir, input_shape)
    records_dir = os.path.join(args.work_dir, name)
    unique, total = repeat_records(base, records_dir, args.repeat_to)
    manifest = load_manifest(records_dir)
    config = PipelineConfig(batch_size=args.batch_size, input_shape=input_shape)
    print(f'{name}: {unique} training examples repeated to {total}, crops '
          f'{manifest.crop_shape[0]}x{manifest.crop_shape[1]}, input {input_shape[0]}x'
          f'{input_shape[1]}, K={manifest.num_keypoints}, batch {args.batch_size}')
    report(name, *compare(records_dir, config, args))


if __name__ == '__main__':
  main()
