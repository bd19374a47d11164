"""Growing a records set (make_records `add_to`, `--add_to=DIR`): a new annotation set merged
into the records directory DIR that make_records wrote earlier (perhaps itself grown before).

- The existing records are copied byte for byte (their crops are not made again). Each one's
  image identity (records.sources.resolve.image_identity: `video/file`, else the path in its
  dataset folder) is in the manifest's `identities`; for a directory written before identities
  were kept, it is the identity of the record's stored path.
- The same image (same identity) in both: the new set's examples replace the old ones (the set
  given later wins), and a note counts them ("12 images relabelled by labelme:/data/fixes: the
  newer labels are kept").
- Images already in the set keep their split (resolve.assign_splits `fixed`); new images get the
  usual split (the source's, --val_list, else the hash of their identity).
- The keypoint names in order, the model input size, crop_margin, box_margin and box_min_side
  must be those the set was made with, else a UserInputError naming both.
- Written to a temporary folder beside the output, renamed into place at the end (staged_dir):
  a failed run leaves the old directory as it was.
- The manifest's `annotation_sets` lists the sets the records come from, oldest first, each with
  the examples it has in the records now and the images it relabelled when it was added.
"""

import collections
import contextlib
import datetime
import math
import os
import shutil
import tempfile
from typing import Dict, List

import tensorflow as tf

from core.errors import RecordsError, UserInputError
from records import schema
from records.example import TRAIN
from records.reader import load_manifest
from records.sources.resolve import identity_of_path, image_identity
from records.writer import is_records_file

# One record of the existing set: its image identity, the index of its annotation set, its
# image and object ids, and its object's box fraction (make_records.box_fraction).
Row = collections.namedtuple('Row', 'identity set image_id object_id fraction')

_SETTINGS = (('crop_margin', '--crop_margin'), ('box_margin', '--box_margin'),
             ('box_min_side', '--box_min_side'))


def annotation_set(config) -> Dict:
  """The manifest's entry for the annotation set `config` reads (examples counted later)."""
  def path(value):
    return os.path.abspath(value) if value else None
  annotation = ','.join(os.path.abspath(p.strip()) for p in str(config.annotation_path).split(',')
                        if p.strip()) if config.annotation_path else None
  return {'source': config.source, 'dataset_path': path(config.dataset_path),
          'annotation_path': annotation, 'val_list': config.val_list,
          'added': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
          'examples': 0, 'relabelled': 0}


def set_name(entry: Dict) -> str:
  """'labelme:/data/fixes': the source and folder (or annotation file) of a set."""
  return f'{entry["source"]}:{entry.get("dataset_path") or entry.get("annotation_path") or "-"}'


class ExistingSet:
  """A records directory to grow: its manifest, its annotation sets, and per split one Row per
  record in shard order."""

  def __init__(self, manifest, rows: Dict[str, List[Row]], sets: List[Dict]):
    self.manifest, self.rows, self.sets = manifest, rows, sets

  @property
  def splits(self) -> Dict[str, str]:
    """identity -> split of every image in the set."""
    return {row.identity: split for split, rows in self.rows.items() for row in rows}

  def renumber(self, examples, notes) -> None:
    """Moves the new examples' image and object ids past the existing ones when they collide
    with those of a record that stays (one whose image the new set does not relabel)."""
    new = {image_identity(ex) for ex in examples}
    everything = [row for rows in self.rows.values() for row in rows]
    staying = [row for row in everything if row.identity not in new]
    for attr in ('image_id', 'object_id'):
      used = {getattr(row, attr) for row in staying}
      if examples and any(getattr(ex, attr) in used for ex in examples):
        offset = (max(getattr(row, attr) for row in everything) + 1 -
                  min(getattr(ex, attr) for ex in examples))
        for ex in examples:
          setattr(ex, attr, getattr(ex, attr) + offset)
        notes.append(f'{attr}s of the new set moved by {offset} past those of the records set')

  def copy_into(self, writer, written: Dict[str, List[str]], new_set: Dict, notes):
    """Writes the existing records whose image the new set did not relabel after the new ones.

    Args:
      writer: the ShardWriter that holds the new set's records.
      written: split -> identities of the new set's records, in write order.
      new_set: the new set's annotation_set entry (its counts are filled in).
    Returns:
      (split -> [[identity, set index], ...] of every record in write order, the annotation
      sets with their example counts, the box fractions of the kept training records).
    """
    drop = {identity for ids in written.values() for identity in ids}
    index = len(self.sets)
    identities = {split: [[i, index] for i in ids] for split, ids in written.items()}
    sets = [dict(entry, examples=0) for entry in self.sets]
    relabelled, fractions = set(), []
    for split, rows in self.rows.items():
      for row, serialized in zip(rows, _serialized(self.manifest.shard_paths(split))):
        if row.identity in drop:
          relabelled.add(row.identity)
          continue
        writer.add(split, serialized)
        identities.setdefault(split, []).append([row.identity, row.set])
        sets[row.set]['examples'] += 1
        if split == TRAIN:
          fractions.append(row.fraction)
    new_set.update(examples=sum(len(ids) for ids in written.values()),
                   relabelled=len(relabelled))
    if relabelled:
      notes.append(f'{len(relabelled)} images relabelled by {set_name(new_set)}: the newer '
                   f'labels are kept (e.g. {sorted(relabelled)[0]!r})')
    notes.append(f'added to {self.manifest.records_dir}: {new_set["examples"]} examples from '
                 f'{set_name(new_set)}, {sum(s["examples"] for s in sets)} kept from '
                 f'{len(sets)} earlier annotation sets')
    return identities, sets + [new_set], fractions


def load_existing(records_dir: str, definition, config, fraction_of) -> ExistingSet:
  """Reads the records set to grow (every shard checked against its SHA-256).

  Args:
    definition: the new set's keypoint definition; config: its MakeRecordsConfig.
    fraction_of: make_records.box_fraction (record dict, input shape -> float).
  Raises:
    RecordsError: not a complete records directory, or its identities do not fit its shards.
    UserInputError: other keypoint names or order, input size, crop or box settings.
  """
  manifest = load_manifest(records_dir, verify_checksums=True)
  check_compatible(manifest, definition, config)
  listed = manifest.identities
  rows = {}
  for split in manifest.split_names:
    rows[split] = _rows(manifest, split, listed.get(split), fraction_of)
  sets = manifest.annotation_sets
  if not sets:  # a directory from before annotation sets were kept: one set, from its settings
    sets = [{'source': manifest.source, 'dataset_path': manifest.dataset_path,
             'annotation_path': manifest.annotation_path,
             'val_list': manifest.settings.get('val_list'), 'added': manifest.created,
             'examples': sum(len(r) for r in rows.values()), 'relabelled': 0}]
  return ExistingSet(manifest, rows, sets)


def check_compatible(manifest, definition, config) -> None:
  """Raises UserInputError unless the new set fits the records set (see the module doc)."""
  where = f'--add_to={manifest.records_dir}'
  old, new = list(manifest.definition.names), list(definition.names)
  if old != new:
    raise UserInputError(f'{where}: the new annotation set\'s keypoints {new} differ from the '
                         f'records set\'s {old}; the names and their order must be the same '
                         f'(give --classes_path listing the records set\'s names in its order)')
  shape = tuple(int(v) for v in config.input_shape)
  if shape != tuple(manifest.input_shape):
    raise UserInputError(f'{where}: --model_input_shape={shape[0]}x{shape[1]} differs from the '
                         f'records set\'s {manifest.input_shape[0]}x{manifest.input_shape[1]}')
  settings = manifest.settings
  for key, flag in _SETTINGS:
    if key in settings and not math.isclose(float(settings[key]), float(getattr(config, key)),
                                            rel_tol=1e-9):
      raise UserInputError(f'{where}: {flag}={getattr(config, key)} differs from the '
                           f'{settings[key]} the records set was made with')


def _rows(manifest, split, listed, fraction_of) -> List[Row]:
  rows = []
  for n, serialized in enumerate(_serialized(manifest.shard_paths(split))):
    feature = tf.train.Example.FromString(serialized).features.feature
    if listed is not None:
      if n >= len(listed):
        break
      identity, index = str(listed[n][0]), int(listed[n][1])
    else:
      identity = identity_of_path(feature[schema.ORIGINAL_PATH].bytes_list.value[0].decode())
      index = 0
    record = {'crop_to_original': [feature[schema.CROP_TO_ORIGINAL].float_list.value[:1]],
              'original_height': feature[schema.ORIGINAL_HEIGHT].int64_list.value[0],
              'original_width': feature[schema.ORIGINAL_WIDTH].int64_list.value[0]}
    rows.append(Row(identity, index, feature[schema.ORIGINAL_ID].int64_list.value[0],
                    feature[schema.OBJECT_ID].int64_list.value[0],
                    fraction_of(record, manifest.input_shape)))
  if listed is not None and len(listed) != len(rows) or len(rows) != manifest.count(split):
    raise RecordsError(f'{manifest.records_dir}: the manifest\'s identities of split {split!r} '
                       f'do not match its {manifest.count(split)} records')
  return rows


def _serialized(paths):
  if paths:
    for record in tf.data.TFRecordDataset(paths):
      yield record.numpy()


@contextlib.contextmanager
def staged_dir(output_dir: str):
  """Yields a new temporary folder beside `output_dir`; when the block ends without an error
  the folder replaces `output_dir` (files there that are not records are copied over first),
  else it is removed and `output_dir` is left as it was.

  Raises:
    RecordsError: the folders cannot be made or renamed.
  """
  final = os.path.abspath(output_dir)
  parent = os.path.dirname(final)
  try:
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(final)}.new-', dir=parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
  except OSError as e:
    raise RecordsError(f'{parent}: cannot make a temporary records folder ({e})') from None
  try:
    yield tmp
    _replace_dir(tmp, final)
  finally:
    shutil.rmtree(tmp, ignore_errors=True)


def _replace_dir(tmp, final):
  try:
    if not os.path.isdir(final):
      os.rename(tmp, final)
      return
    for name in os.listdir(final):
      source = os.path.join(final, name)
      if not is_records_file(name) and not os.path.exists(os.path.join(tmp, name)):
        (shutil.copytree if os.path.isdir(source) else shutil.copy2)(
            source, os.path.join(tmp, name))
    old = tempfile.mkdtemp(prefix=f'.{os.path.basename(final)}.old-', dir=os.path.dirname(final))
    os.rmdir(old)
    os.rename(final, old)
    try:
      os.rename(tmp, final)
    except OSError:
      os.rename(old, final)
      raise
    shutil.rmtree(old, ignore_errors=True)
  except OSError as e:
    raise RecordsError(f'{final}: cannot put the merged records in place ({e}); the old records '
                       f'directory is unchanged') from None
