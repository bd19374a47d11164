"""Reading a records directory: the manifest, and the shard paths of each split.

A records directory is `manifest.json` plus shards `<split>-00000-of-00004.tfrecord`. The
manifest is written last (temporary name, then rename), so a directory without a complete
manifest, or whose manifest names a shard that is missing or (with `verify_checksums`) differs
from its recorded SHA-256, is refused: a killed run never passes for a finished one.
"""

import hashlib
import os
from typing import Dict, List, Optional, Tuple

from core import files
from core.errors import DefinitionError, RecordsError
from records.keypoint_definition import KeypointDefinition

MANIFEST_NAME = 'manifest.json'
FORMAT = 'hourglass-records/1'

# The manifest's top-level keys, spelled once: records/writer.py and records/make_records.py
# write them, Manifest reads them, and a model bundle copies FLIP_KEY's entry.
SETTINGS_KEY = 'settings'
SPLITS_KEY = 'splits'
SKIPPED_KEY = 'skipped'
FILTERED_KEY = 'filtered'
CREATED_KEY = 'created'
NOTES_KEY = 'notes'
OBJECT_SCALE_KEY = 'object_scale'
FLIP_KEY = 'horizontal_flip'
# In the horizontal_flip entry: flips are off only because no keypoint names make a left/right
# pair (records.sources.resolve.horizontal_flip_support), so --flip_prob turns them on quietly.
FLIP_NO_PAIRS_KEY = 'no_pairs'
ANNOTATION_SETS_KEY = 'annotation_sets'
IDENTITIES_KEY = 'identities'
IGNORE_BOXES_KEY = 'ignore_boxes'


class Manifest:
  """A parsed, checked `manifest.json`.

  Attributes:
    records_dir: the directory (absolute path).
    definition: the KeypointDefinition of the K keypoints.
    num_keypoints: K.
    input_shape: (H, W) of the model input the crops were made for.
    crop_shape: (h, w) of the stored crops.
    source: the annotation source name ('coco', 'json', ...).
    raw: the manifest as a dict, for the keys no property below reads.
  """

  def __init__(self, records_dir: str, raw: Dict, definition: KeypointDefinition):
    self.records_dir = os.path.abspath(records_dir)
    self.raw = raw
    self.definition = definition
    self.num_keypoints = definition.num_keypoints
    self.input_shape: Tuple[int, int] = tuple(int(v) for v in raw['input_shape'])
    self.crop_shape: Tuple[int, int] = tuple(int(v) for v in raw['crop_shape'])
    self.source: str = raw.get('source', '')

  @property
  def split_names(self) -> Tuple[str, ...]:
    """The splits the records set lists ('train', 'val'), some of them possibly empty."""
    return tuple(self.raw[SPLITS_KEY])

  def count(self, split: str) -> int:
    """Number of examples in `split` (0 for a split with no examples)."""
    return int(self.raw[SPLITS_KEY].get(split, {}).get('count', 0))

  def shard_paths(self, split: str) -> List[str]:
    """Absolute shard paths of `split`, in order; [] when the split has no examples."""
    shards = self.raw[SPLITS_KEY].get(split, {}).get('shards', [])
    return [os.path.join(self.records_dir, s['file']) for s in shards]

  @property
  def skipped(self) -> List[Dict]:
    return list(self.raw.get(SKIPPED_KEY, []))

  @property
  def filtered(self) -> Dict[str, int]:
    return dict(self.raw.get(FILTERED_KEY, {}))

  @property
  def settings(self) -> Dict:
    """The MakeRecordsConfig make_records ran with, as a dict ({} when not recorded)."""
    return dict(self.raw.get(SETTINGS_KEY) or {})

  @property
  def dataset_path(self) -> Optional[str]:
    """The dataset folder of the original images; None when several annotation sets (several
    folders) made the records, or it was not recorded."""
    return self.settings.get('dataset_path')

  @property
  def annotation_path(self) -> Optional[str]:
    """The annotation file(s) make_records read (COCO: comma-separated), or None."""
    return self.settings.get('annotation_path')

  @property
  def classes_path(self) -> Optional[str]:
    """The --classes_path that overrode the source's keypoints, or None."""
    return self.settings.get('classes_path')

  @property
  def created(self) -> Optional[str]:
    """When the manifest was written (ISO 8601, UTC)."""
    return self.raw.get(CREATED_KEY)

  @property
  def notes(self) -> List[str]:
    """The source's notes (frames per video, relabelled records, ...)."""
    return list(self.raw.get(NOTES_KEY) or [])

  @property
  def object_scale(self) -> Dict[str, float]:
    """{'low', 'median', 'high'} of the training boxes' size over their image's ({} when the
    records did not record it)."""
    return dict(self.raw.get(OBJECT_SCALE_KEY) or {})

  @property
  def horizontal_flip(self) -> Optional[Dict]:
    """{'supported': bool, 'reason': str}: whether a horizontal flip keeps every label right
    (records.sources.resolve.horizontal_flip_support); None when the records predate it
    (flips then count as supported)."""
    flip = self.raw.get(FLIP_KEY)
    return dict(flip) if flip is not None else None

  @property
  def annotation_sets(self) -> List[Dict]:
    """One entry per annotation set grown into the records (--add_to), [] when not recorded."""
    return [dict(s) for s in self.raw.get(ANNOTATION_SETS_KEY) or []]

  @property
  def identities(self) -> Dict:
    """split -> [[image identity, annotation set index], ...] in record order ({} when not
    recorded)."""
    return dict(self.raw.get(IDENTITIES_KEY) or {})

  @property
  def ignore_boxes(self) -> Dict:
    """image path (as the records store it) -> [[x, y, w, h], ...]: objects of the records'
    kind that are no labels (COCO crowds, people without keypoints); {} when none."""
    return dict(self.raw.get(IGNORE_BOXES_KEY) or {})

  def __repr__(self):
    counts = ', '.join(f'{s}={self.count(s)}' for s in self.split_names)
    return f'Manifest({self.records_dir!r}, source={self.source!r}, {counts})'


def sha256_of(path: str, chunk: int = 1 << 20) -> str:
  """Hex SHA-256 of a file's bytes."""
  h = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(chunk), b''):
      h.update(block)
  return h.hexdigest()


def load_manifest(records_dir: str, verify_checksums: bool = False) -> Manifest:
  """Loads and checks the manifest of a records directory.

  Args:
    records_dir: a make_records output directory.
    verify_checksums: also recompute every shard's SHA-256 (reads every byte).
  Returns:
    The Manifest.
  Raises:
    RecordsError: naming the directory or file, when the directory or manifest is missing,
      unreadable, incomplete, of another format, names a missing or wrongly sized shard, or
      (verify_checksums) a shard's checksum differs.
  """
  if not records_dir or not os.path.isdir(records_dir):
    raise RecordsError(f'{records_dir}: records directory not found (run --mode=make_records)')
  path = os.path.join(records_dir, MANIFEST_NAME)
  if not os.path.isfile(path):
    raise RecordsError(f'{path}: no manifest; the records directory is missing or incomplete '
                       f'(an interrupted make_records run?): rerun --mode=make_records')
  raw = files.read_json(path, 'the manifest', error=RecordsError)
  _check_structure(raw, path)
  try:
    definition = KeypointDefinition.from_dict(raw['definition'], origin=f'{path}, field '
                                              f"'definition'")
  except DefinitionError as e:
    raise RecordsError(str(e)) from None
  manifest = Manifest(records_dir, raw, definition)
  _check_shards(manifest, path, verify_checksums)
  return manifest


def _check_structure(raw, path: str) -> None:
  """Raises RecordsError unless `raw` has the fields a complete manifest has."""
  if not isinstance(raw, dict):
    raise RecordsError(f'{path}: manifest is not a JSON object')
  if raw.get('format') != FORMAT:
    raise RecordsError(f'{path}: field \'format\' is {raw.get("format")!r}, expected {FORMAT!r}')
  if raw.get('complete') is not True:
    raise RecordsError(f'{path}: the manifest is not marked complete (interrupted run?)')
  for key in ('input_shape', 'crop_shape'):
    value = raw.get(key)
    if (not isinstance(value, list) or len(value) != 2 or
        not all(isinstance(v, int) and v > 0 for v in value)):
      raise RecordsError(f'{path}: field {key!r} must be [height, width], got {value!r}')
  if not isinstance(raw.get('skipped', []), list) or not isinstance(raw.get('filtered', {}), dict):
    raise RecordsError(f'{path}: fields \'skipped\' / \'filtered\' must be a list / an object')
  if not isinstance(raw.get('definition'), dict):
    raise RecordsError(f'{path}: field \'definition\' is missing')
  splits = raw.get('splits')
  if not isinstance(splits, dict):
    raise RecordsError(f'{path}: field \'splits\' is missing')
  for split, entry in splits.items():
    try:
      shards = entry['shards']
      counts = [s['count'] for s in shards]
      files = [s['file'] for s in shards]
      sizes = [s.get('bytes', 0) for s in shards]
      ok = (all(isinstance(c, int) and c >= 0 for c in counts + sizes + [entry['count']]) and
            all(isinstance(f, str) and f for f in files))
    except (KeyError, TypeError, AttributeError):
      ok = False
    if not ok:
      raise RecordsError(f'{path}: split {split!r} is malformed')
    total = sum(counts)
    if total != int(entry['count']):
      raise RecordsError(f'{path}: split {split!r} counts {entry["count"]} examples but its '
                         f'shards hold {total}')
    for name in files:
      if os.path.basename(name) != name:
        raise RecordsError(f'{path}: shard name {name!r} of split {split!r} is not a file name')


def _check_shards(manifest: Manifest, path: str, verify: bool) -> None:
  for split, entry in manifest.raw[SPLITS_KEY].items():
    for shard in entry['shards']:
      shard_path = os.path.join(manifest.records_dir, shard['file'])
      if not os.path.isfile(shard_path):
        raise RecordsError(f'{shard_path}: shard of split {split!r} listed in {path} is missing')
      size = shard.get('bytes')
      if size is not None and os.path.getsize(shard_path) != int(size):
        raise RecordsError(f'{shard_path}: size {os.path.getsize(shard_path)} differs from the '
                           f'{size} bytes recorded in {path} (truncated or replaced)')
      if verify and sha256_of(shard_path) != shard.get('sha256'):
        raise RecordsError(f'{shard_path}: SHA-256 differs from the one recorded in {path} '
                           f'(corrupt shard): rerun --mode=make_records')
