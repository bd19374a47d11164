"""Writing a records directory: bounded shards, each to a temporary name then renamed, and the
manifest last.

Order of events, so that a killed run never leaves what a reader takes for complete:
1. the old `manifest.json` is removed first (the old output is invalid from here on);
2. old shards and stale temporary files of an earlier run are removed;
3. shards are written as `.<split>-00003.tfrecord.tmp-<pid>` and renamed to
   `<split>-00003-of-00007.tfrecord` once the split's shard count is known;
4. `manifest.json` (with counts, SHA-256 and sizes) is written to a temporary name, flushed to
   the disk and renamed (core.files).
"""

import contextlib
import datetime
import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Sequence

import tensorflow as tf

from core import files
from core.errors import RecordsError
from records import reader
from records.keypoint_definition import KeypointDefinition
from records.reader import FORMAT, load_manifest, Manifest, MANIFEST_NAME, sha256_of

_SHARD_PATTERN = re.compile(r'^[A-Za-z0-9_]+-\d{5}-of-\d{5}\.tfrecord$')
# Shards being written, and the manifest's temporary name (core.files.temporary_path; the
# last form is the one that versions before core.files left behind).
_TMP_PATTERN = re.compile(r'^\..*\.tmp-\d+$|^manifest\.tmp-\d+\.json$|^manifest\.json\.tmp-\d+$')


@contextlib.contextmanager
def _writing(path: str):
  """Turns file-system failures (full disk, no permission, file-size limit) into RecordsError."""
  try:
    yield
  except (OSError, tf.errors.OpError) as e:
    detail = getattr(e, 'strerror', None) or getattr(e, 'message', None) or str(e)
    raise RecordsError(f'{path}: cannot write records ({detail}); the directory holds no '
                       f'complete output') from None


def shard_name(split: str, index: int, total: int) -> str:
  """The file name of shard `index` of `total` of a split: 'train-00000-of-00004.tfrecord'."""
  return f'{split}-{index:05d}-of-{total:05d}.tfrecord'


class ShardWriter:
  """Streams serialized examples into bounded shards; `close` writes the manifest.

  Use as: `w = ShardWriter(dir, 512); w.add('train', b); ...; manifest = w.close(...)`. Opening
  the writer invalidates any previous output in `output_dir` (its manifest is removed first).
  """

  def __init__(self, output_dir: str, examples_per_shard: int = 512,
               splits: Sequence[str] = ('train', 'val')):
    if examples_per_shard < 1:
      raise ValueError(f'examples_per_shard must be >= 1, got {examples_per_shard}')
    self.output_dir = os.path.abspath(output_dir)
    self.examples_per_shard = int(examples_per_shard)
    self._splits = list(splits)
    self._pid = os.getpid()
    self._open: Dict[str, tf.io.TFRecordWriter] = {}
    self._in_shard: Dict[str, int] = {s: 0 for s in self._splits}
    self._tmp_shards: Dict[str, List[Dict]] = {s: [] for s in self._splits}
    with _writing(self.output_dir):
      os.makedirs(self.output_dir, exist_ok=True)
      clear_output_dir(self.output_dir)

  def add(self, split: str, serialized: bytes) -> None:
    """Appends one serialized tf.train.Example to `split`."""
    if split not in self._tmp_shards:
      self._splits.append(split)
      self._tmp_shards[split] = []
      self._in_shard[split] = 0
    if split not in self._open or self._in_shard[split] >= self.examples_per_shard:
      self._close_shard(split)
      index = len(self._tmp_shards[split])
      tmp = os.path.join(self.output_dir, f'.{split}-{index:05d}.tfrecord.tmp-{self._pid}')
      self._tmp_shards[split].append({'tmp': tmp, 'count': 0})
      with _writing(tmp):
        self._open[split] = tf.io.TFRecordWriter(tmp)
      self._in_shard[split] = 0
    with _writing(self._tmp_shards[split][-1]['tmp']):
      self._open[split].write(serialized)
    self._in_shard[split] += 1
    self._tmp_shards[split][-1]['count'] += 1

  def _close_shard(self, split: str) -> None:
    writer = self._open.pop(split, None)
    if writer is not None:
      with _writing(self._tmp_shards[split][-1]['tmp']):
        writer.close()  # flushes: a full disk shows here

  def close(self, *, definition: KeypointDefinition, input_shape, crop_shape, source: str,
            settings: Optional[dict] = None, skipped: Optional[list] = None,
            filtered: Optional[dict] = None, extra: Optional[dict] = None) -> Manifest:
    """Renames the shards to their final names, writes the manifest last, returns it loaded.

    `extra` adds further top-level manifest fields (e.g. 'notes'); it never replaces the
    fields above.
    """
    with _writing(self.output_dir):
      return self._finish(definition, input_shape, crop_shape, source, settings, skipped,
                          filtered, extra)

  def _finish(self, definition, input_shape, crop_shape, source, settings, skipped, filtered,
              extra) -> Manifest:
    for split in list(self._open):
      self._close_shard(split)
    splits = {}
    for split in self._splits:
      shards = self._tmp_shards[split]
      entries = []
      for index, shard in enumerate(shards):
        name = shard_name(split, index, len(shards))
        final = os.path.join(self.output_dir, name)
        os.replace(shard['tmp'], final)
        entries.append({'file': name, 'count': shard['count'], 'sha256': sha256_of(final),
                        'bytes': os.path.getsize(final)})
      splits[split] = {'count': sum(e['count'] for e in entries), 'shards': entries}
    raw = {
        'format': FORMAT,
        'complete': True,
        'source': source,
        reader.CREATED_KEY: datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
        'input_shape': [int(v) for v in input_shape],
        'crop_shape': [int(v) for v in crop_shape],
        reader.SETTINGS_KEY: dict(settings or {}),
        'definition': definition.to_dict(),
        reader.SPLITS_KEY: splits,
        reader.SKIPPED_KEY: list(skipped or []),
        reader.FILTERED_KEY: dict(filtered or {}),
    }
    for key, value in (extra or {}).items():
      raw.setdefault(key, value)
    # fsync: the manifest says the shards are complete; after a power cut it must not be empty.
    files.write_json(os.path.join(self.output_dir, MANIFEST_NAME), raw, fsync=True, indent=1,
                     default=_json_default)
    return load_manifest(self.output_dir)

  def abort(self) -> None:
    """Closes and deletes this run's temporary shards (after an error); writes no manifest."""
    for split in list(self._open):
      try:
        self._close_shard(split)
      except RecordsError:
        pass  # the disk is full or gone: removing the file below is all that is left to do
    for shards in self._tmp_shards.values():
      for shard in shards:
        with contextlib.suppress(OSError):
          os.remove(shard['tmp'])


def clear_output_dir(output_dir: str) -> None:
  """Removes the manifest first, then the shards and temporary files of earlier runs.

  Only files with the names this module writes are touched; anything else a user keeps in the
  directory stays.
  """
  manifest = os.path.join(output_dir, MANIFEST_NAME)
  if os.path.exists(manifest):
    os.remove(manifest)
  for name in os.listdir(output_dir):
    if _SHARD_PATTERN.match(name) or _TMP_PATTERN.match(name):
      os.remove(os.path.join(output_dir, name))


def is_records_file(name: str) -> bool:
  """Whether a file name in a records directory is one this module writes (the manifest, a
  shard, a temporary file of a run); anything else is the user's."""
  return name == MANIFEST_NAME or bool(_SHARD_PATTERN.match(name) or _TMP_PATTERN.match(name))


def write_shards(output_dir: str, examples_by_split: Mapping[str, Iterable[bytes]], *,
                 definition: KeypointDefinition, input_shape, crop_shape, source: str,
                 settings: Optional[dict] = None, skipped: Optional[list] = None,
                 filtered: Optional[dict] = None, examples_per_shard: int = 512) -> Manifest:
  """Writes serialized examples per split into shards plus a manifest, atomically.

  Args:
    output_dir: the records directory (created; earlier output in it is replaced).
    examples_by_split: split name ('train', 'val') -> iterable of serialized tf.train.Example
      bytes (records.schema.make_example(...).SerializeToString()).
    definition: the KeypointDefinition stored in the manifest.
    input_shape: (H, W) model input the crops were made for.
    crop_shape: (h, w) of the stored crops.
    source: the source name recorded in the manifest.
    settings: make_records settings to record.
    skipped: [{'file', 'record', 'reason'}] of examples skipped for bad input.
    filtered: {'reason': count} of deliberately filtered examples.
    examples_per_shard: the shard size bound.
  Returns:
    The Manifest of the written directory.
  """
  splits = list(examples_by_split)
  for default in ('train', 'val'):
    if default not in splits:
      splits.append(default)
  writer = ShardWriter(output_dir, examples_per_shard, splits)
  try:
    for split, examples in examples_by_split.items():
      for serialized in examples:
        writer.add(split, serialized)
  except BaseException:
    writer.abort()
    raise
  return writer.close(definition=definition, input_shape=input_shape, crop_shape=crop_shape,
                      source=source, settings=settings, skipped=skipped, filtered=filtered)


def _json_default(value):
  """Lets numpy scalars and tuples in settings serialize."""
  if hasattr(value, 'item'):
    return value.item()
  if isinstance(value, (set, frozenset)):
    return sorted(value)
  return str(value)
