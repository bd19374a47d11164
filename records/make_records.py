"""The high-level records build: read a source, choose the definition and split, crop and encode
in parallel worker processes, write shards and the manifest.

    config = MakeRecordsConfig(source='coco', dataset_path='data/coco', output_dir='records',
                               input_shape=(256, 192))
    manifest = make_records(config)

With `add_to` (--add_to=DIR) the new annotation set is merged into the records set DIR and the
result written to `output_dir` (which may be DIR itself), atomically: records/grow.py.

Bad input never stops the run: each bad example is skipped and listed in the manifest with its
file, record and reason. The run fails (RecordsError, nothing written that a reader accepts) when
nothing was written or more than `max_skip_fraction` of the examples were bad. Deliberate
filters (crowd, no labelled keypoint) are counted apart in `filtered`.
"""

import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import sys
import time

import numpy as np

from core.errors import RecordsError
from core.progress import Progress
from records import grow, pre_annotations, reader, schema
from records.config import MakeRecordsConfig  # noqa: F401  (make_records takes one)
from records.crop import crop_shape, init_worker, try_process, try_process_many
from records.example import Skip, TRAIN
from records.sources import get_source
from records.sources.resolve import (assign_splits, choose_definition, horizontal_flip_support,
                                     image_identity, order_examples)
from records.writer import ShardWriter

log = logging.getLogger(__name__)


def make_records(config: MakeRecordsConfig):
  """Builds a records directory; returns its records.reader.Manifest.

  Raises:
    UserInputError (AnnotationError, DefinitionError, RecordsError): bad flags or files, no
      example written, or too many bad examples (then no manifest is written; with add_to the
      old records directory is left as it was).
  """
  config.validate()
  start = time.time()
  data = get_source(config.source).load(config)
  if data.generated_dir and not config.dataset_path:
    # Generated images live in a folder of the source's choosing: the manifest names it, so
    # that whole-frame eval and the detector find the originals.
    config = dataclasses.replace(config, dataset_path=data.generated_dir)
  for note in data.notes:
    log.info(note)
  definition = choose_definition(data, config)
  flip = horizontal_flip_support(data, definition)
  existing = None
  if config.add_to:
    existing = grow.load_existing(config.add_to, definition, config, box_fraction)
    definition, flip = existing.manifest.definition, _merged_flip(existing.manifest, flip)
    existing.renumber(data.examples, data.notes)
  assign_splits(data, config, existing.splits if existing else None)
  examples = order_examples(data.examples, config.seed, config.shuffle)
  staging = grow.staged_dir(config.output_dir) if existing else contextlib.nullcontext(
      config.output_dir)
  with staging as output_dir:
    writer = ShardWriter(output_dir, config.examples_per_shard)  # RecordsError if unwritable
    try:
      _write(examples, config, data, writer, existing, (definition, flip, start))
    except BaseException:
      writer.abort()
      raise
  manifest = reader.load_manifest(config.output_dir)
  manifest.seconds = time.time() - start
  return manifest


def _write(examples, config, data, writer, existing, described):
  """Crops and writes the new examples (then, growing a set, the kept old ones) and the
  manifest."""
  definition, flip, start = described
  skipped, fractions, written = _crop_all(examples, config, data.skipped, writer)
  _check_skips(config, len(examples) - (len(skipped) - len(data.skipped)), skipped,
               [n for n in data.notes if n.startswith(pre_annotations.NOTE_PREFIX)])
  new_set = grow.annotation_set(config)
  if existing:
    noted = len(data.notes)
    identities, sets, kept = existing.copy_into(writer, written, new_set, data.notes)
    fractions += kept
    for note in data.notes[noted:]:
      log.info(note)
    skipped = existing.manifest.skipped + [s.to_dict() for s in skipped]
    filtered = collections.Counter(existing.manifest.filtered) + collections.Counter(
        data.filtered)
  else:
    new_set['examples'] = sum(len(ids) for ids in written.values())
    identities, sets = {split: [[i, 0] for i in ids] for split, ids in written.items()}, [new_set]
    skipped, filtered = [s.to_dict() for s in skipped], data.filtered
  ignore = dict(existing.manifest.ignore_boxes) if existing else {}
  ignore.update(data.ignore_boxes)
  writer.close(
      definition=definition, input_shape=config.input_shape,
      crop_shape=crop_shape(config.input_shape, config.crop_margin),
      source='+'.join(s['source'] for s in sets if s['examples']) or config.source,
      settings=_settings(config, sets), skipped=skipped,
      filtered=dict(filtered),
      extra={reader.NOTES_KEY: list(data.notes), 'seconds': round(time.time() - start, 3),
             reader.OBJECT_SCALE_KEY: object_scale(fractions), reader.FLIP_KEY: flip,
             reader.ANNOTATION_SETS_KEY: sets, reader.IDENTITIES_KEY: identities,
             reader.IGNORE_BOXES_KEY: ignore})


def _settings(config, sets):
  """The config for the manifest; from several annotation sets (each its own folder and files)
  the dataset and annotation paths are None: no one folder holds the records' original images."""
  settings = dataclasses.asdict(config)
  settings['input_shape'] = [int(v) for v in config.input_shape]
  used = [s for s in sets if s['examples']]
  for key in ('dataset_path', 'annotation_path'):
    if len({s.get(key) for s in used}) > 1:
      settings[key] = None
  return settings


def _merged_flip(manifest, flip):
  """Horizontal flips suit the grown set when they suit both the records set and the new one."""
  old = manifest.horizontal_flip or {'supported': True}
  return flip if not flip['supported'] or old.get('supported', True) else dict(old)


def _crop_all(examples, config, skipped, writer):
  """Crops every example (in worker processes) and streams the records into `writer`.

  Returns:
    (the list of Skips (the source's and the crop workers'), the object fractions of the
    training examples (box_fraction), split -> the image identities of the written records in
    write order).
  """
  skipped, fractions, written = list(skipped), [], {}
  progress = Progress(len(examples) + len(skipped), 'make_records', 'examples',
                      done=len(skipped), enabled=config.progress)
  workers = config.num_workers or os.cpu_count() or 1
  workers = min(workers, max(1, len(examples) // 16))
  jobs = [(i, ex, config.crop_settings()) for i, ex in enumerate(examples)]
  for index, result, reason in _outcomes(jobs, workers):
    example = examples[index]
    if result is None:
      skipped.append(Skip(example.source_file, example.record, reason))
    else:
      writer.add(example.split, schema.make_example(**result).SerializeToString())
      written.setdefault(example.split, []).append(image_identity(example))
      if example.split == TRAIN:
        fractions.append(box_fraction(result, config.input_shape))
    progress.update(note=f'{len(skipped)} skipped')
  progress.close(note=f'{len(skipped)} skipped')
  return skipped, fractions, written


def box_fraction(record, input_shape):
  """The object box's larger side (margin included, at the model aspect) over its image's
  larger side, from a crop worker's record: how much of a whole frame the object fills."""
  inverse_scale = abs(record['crop_to_original'][0][0])  # original px per model-input px
  return (max(input_shape) * inverse_scale /
          max(record['original_height'], record['original_width']))


def object_scale(fractions):
  """{'low', 'median', 'high' (5th/50th/95th percentiles), 'count'} of box fractions, or None
  without any; the whole-frame search starts at these scales (hourglass.model.bundle.CropRule).
  """
  if not fractions:
    return None
  low, median, high = np.percentile(np.asarray(fractions, np.float64), [5, 50, 95])
  return {'low': round(float(low), 5), 'median': round(float(median), 5),
          'high': round(float(high), 5), 'count': len(fractions)}


_CHUNK = 16  # examples per worker task: amortises pickling, keeps the progress line moving


def _outcomes(jobs, workers):
  """Yields try_process outcomes in job order, from `workers` processes (or this one).

  At most 2 x workers tasks are in flight, so memory stays bounded for any data set size. A
  worker that dies (out of memory, a crashing decoder) ends the run with a clear error rather
  than a hang.
  """
  if workers <= 1:
    yield from map(try_process, jobs)
    return
  # spawn, not fork: the parent may hold TensorFlow threads, and forking those can deadlock.
  # Everything the workers unpickle lives in modules that do not import TensorFlow.
  context = multiprocessing.get_context('spawn')
  executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context,
                                                    initializer=init_worker)
  pending = collections.deque()
  try:
    for start in range(0, len(jobs), _CHUNK):
      with _main_not_reimported():  # workers start on submit
        pending.append(executor.submit(try_process_many, jobs[start:start + _CHUNK]))
      while len(pending) >= 2 * workers:
        yield from pending.popleft().result()
    while pending:
      yield from pending.popleft().result()
  except concurrent.futures.process.BrokenProcessPool:
    raise RecordsError('make_records: a crop worker process died (out of memory, or an image '
                       'crashed the decoder); rerun with --num_workers=1 to find the image') from None
  finally:
    executor.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _main_not_reimported():
  """Keeps spawned workers from re-importing the entry script (`python main.py` imports every
  flag module and TensorFlow: seconds per worker, for nothing the workers use)."""
  main = sys.modules.get('__main__')
  path = getattr(main, '__file__', None)
  hide = path is not None and getattr(main, '__spec__', None) is None
  if hide:
    del main.__file__
  try:
    yield
  finally:
    if hide:
      main.__file__ = path


def _check_skips(config, written, skipped, review_notes=()):
  """RecordsError when nothing is written or too much was bad input; `review_notes` (the
  pre-annotation counts) say why frames were left out."""
  bad = len(skipped)
  if written == 0 or bad > config.max_skip_fraction * (written + bad):
    listing = '\n'.join(f'  {s.file}, record {s.record!r}: {s.reason}' for s in skipped[:10])
    more = f'\n  ... and {bad - 10} more' if bad > 10 else ''
    what = ('no example was written' if written == 0 else
            f'{bad} of {written + bad} examples were bad input, more than '
            f'--max_skip_fraction={config.max_skip_fraction}')
    why = ''.join(f'\n  {note}' for note in review_notes) if written == 0 else ''
    raise RecordsError(f'make_records ({config.source}): {what}; nothing written to '
                       f'{config.output_dir}.{why}' +
                       (f' Skipped:\n{listing}{more}' if bad else ''))
