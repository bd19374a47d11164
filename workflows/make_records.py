"""Writing a records directory (records.make_records), timed, and the lines that describe it."""

import logging
import os
import time

from records.make_records import make_records
from records.pre_annotations import NOTE_PREFIX


def run(config):
  """Writes the records of a MakeRecordsConfig, logging the records' progress at info level.

  Returns:
    (the records.reader.Manifest, seconds it took).
  """
  logging.getLogger('records').setLevel(logging.INFO)
  start = time.time()
  manifest = make_records(config)
  return manifest, time.time() - start


def _size_of(paths):
  return sum(os.path.getsize(p) for p in paths)


def summary_lines(manifest, seconds):
  """Human-readable lines: counts per split, filters, skips, time and size."""
  lines = [f'records written to {manifest.records_dir} (source {manifest.source}, '
           f'{manifest.num_keypoints} keypoints, crops {manifest.crop_shape[0]}x'
           f'{manifest.crop_shape[1]} for input {manifest.input_shape[0]}x'
           f'{manifest.input_shape[1]})']
  total_bytes = 0
  for split in ('train', 'val'):
    paths = manifest.shard_paths(split)
    size = _size_of(paths)
    total_bytes += size
    note = '' if manifest.count(split) else '  (no examples in this split)'
    lines.append(f'  {split}: {manifest.count(split)} examples in {len(paths)} shards, '
                 f'{size / 1e6:.2f} MB{note}')
  filtered = manifest.filtered
  if filtered:
    lines.append('  filtered: ' + ', '.join(f'{k} {v}' for k, v in sorted(filtered.items())))
  skipped = manifest.skipped
  lines.append(f'  skipped for bad input: {len(skipped)}')
  for s in skipped[:10]:
    lines.append(f'    {s["file"]}, record {s["record"]!r}: {s["reason"]}')
  if len(skipped) > 10:
    lines.append(f'    ... {len(skipped) - 10} more in manifest.json')
  sets = manifest.annotation_sets
  if len(sets) > 1:
    lines.append(f'  made from {len(sets)} annotation sets (oldest first):')
    for entry in sets:
      relabelled = (f', relabelled {entry["relabelled"]} images' if entry.get('relabelled')
                    else '')
      where = entry.get('dataset_path') or entry.get('annotation_path')
      lines.append(f'    {entry["source"]} {where}: {entry["examples"]} examples{relabelled}')
  lines += [f'  {note}' for note in manifest.notes
            if 'relabelled by' in note or note.startswith(NOTE_PREFIX)]
  lines.append(f'  time {seconds:.1f} s, size {total_bytes / 1e6:.2f} MB')
  return lines
