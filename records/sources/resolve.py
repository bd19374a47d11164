"""After a source is read: the keypoint definition (source vs. definition-file flags), the split
(source, --val_list, else a hash of each image's identity against --val_fraction) and the order
examples are written in.

An image's identity (image_identity) is `video/file` for a video frame (DeepLabCut), else its
path relative to the dataset folder without a leading images/ or labeled-data/. It is what
--val_list entries, the split hash and the records set grown with --add_to (records/grow.py)
know an image by. Not a hash of the pixels: a corrected frame exported again (re-encoded) is
still the same image, and every source has a dataset folder the path is taken against.
"""

import hashlib
import logging
import os
import tempfile
from typing import Dict, Optional

import numpy as np

from core.errors import DefinitionError, UserInputError
from records.example import TRAIN, VAL
from records.keypoint_definition import KeypointDefinition, builtin_definition, load_definition
from records.reader import FLIP_NO_PAIRS_KEY

log = logging.getLogger(__name__)

# Fraction of images put in validation when a source has no split and no --val_list or
# --val_fraction is given.
DEFAULT_VAL_FRACTION = 0.1

# Spellings of one point in different releases of a data set -> one spelling, used only to
# match a --classes_path to the names a source carries: Animal-Pose's keypoints.json says
# left_ear where mmpose's converted files (and configs/animal_pose_*) say left_earbase.
NAME_ALIASES = {'left_earbase': 'left_ear', 'right_earbase': 'right_ear'}


def choose_definition(data, config) -> KeypointDefinition:
  """The definition to write: --classes_path etc. override what the source carries.

  With --classes_path the examples are reordered by name when the source knows the same names,
  spellings in NAME_ALIASES counting as one (left_ear = left_earbase); otherwise channels are
  taken by position (a warning says so). Sources that know only K (json) fall back to the
  shipped MPII (K=16) or COCO (K=17) definitions. COCO's OKS sigmas are attached when the names
  are COCO's 17 keypoints. Without --matchpoint_path, names that say a side are paired with
  their other side (left_eye <-> right_eye; KeypointDefinition.with_inferred_pairs), printed.

  Raises:
    DefinitionError / UserInputError: malformed files, K mismatch, no definition for K.
  """
  source_def, k = data.definition, data.num_keypoints
  if config.classes_path:
    definition = load_definition(config.classes_path, config.matchpoint_path,
                                 config.skeleton_path, config.sigmas_path)
    if definition.num_keypoints != k:
      raise DefinitionError(f'{config.classes_path}: {definition.num_keypoints} keypoint names '
                            f'but the annotations have {k} keypoints')
    if source_def is not None and definition.names != source_def.names:
      _match_names(data, source_def.names, definition.names, config.classes_path)
  else:
    if source_def is None:
      builtin = {16: 'mpii', 17: 'coco'}.get(k)
      if builtin is None:
        raise UserInputError(f'the annotations have {k} keypoints and carry no names: give '
                             f'--classes_path (and --matchpoint_path, --skeleton_path)')
      source_def = builtin_definition(builtin)
      data.notes.append(f'{k} keypoints: using the shipped configs/{builtin}_* definition')
      log.info(data.notes[-1])
    definition = _override(source_def, config)
  definition = _with_coco_sigmas(definition)
  definition.validate('keypoint definition')
  if not config.matchpoint_path:
    definition, inferred = definition.with_inferred_pairs()
    if inferred:
      data.notes.append('flip pairs from the names (no --matchpoint_path): ' +
                        ', '.join(f'{a} <-> {b}' for a, b in inferred))
      log.info(data.notes[-1])
  return definition


def horizontal_flip_support(data, definition) -> Dict[str, object]:
  """Whether horizontal flip augmentation keeps this set's labels right: {'supported': bool,
  'reason': str}, for the manifest (training follows it, --flip_prob overrides).

  Not supported when the source says so (its pixels tell the sides apart), when a name says a
  side and has no flip pair (a flip would teach the network to swap it; a printed warning), or
  when no pair exists at all (a set may name its sides in a way no rule knows: DeepLabCut and
  SLEAP do not flip unless told the symmetries either; a printed note says how to turn flips
  on; the entry carries FLIP_NO_PAIRS_KEY, so that --flip_prob turns flips on without a
  warning).
  Supported when every side-named keypoint has its pair.
  """
  if data.flips_unsupported:
    return {'supported': False, 'reason': data.flips_unsupported}
  unpaired = definition.unpaired_left_right_names()
  if unpaired:
    reason = (f'keypoints {unpaired} say a side but have no flip pair (a flip would swap their '
              f'labels); give --matchpoint_path (lines "left_x,right_x,h") to pair them')
    data.notes.append(f'warning: horizontal flips are off for this records set: {reason}')
    log.warning(data.notes[-1])
    return {'supported': False, 'reason': reason}
  if not definition.flip_pairs_h:
    reason = ('no two keypoint names make a left/right pair, and a set may name its sides in a '
              'way no rule knows; if its keypoints have no sides, train with --flip_prob=0.5, '
              'else give --matchpoint_path (lines "left_x,right_x,h")')
    data.notes.append(f'horizontal flips are off for this records set: {reason}')
    log.info(data.notes[-1])
    return {'supported': False, 'reason': reason, FLIP_NO_PAIRS_KEY: True}
  return {'supported': True, 'reason': 'every side-named keypoint has its flip pair'}


def _override(definition, config) -> KeypointDefinition:
  """Replaces match points / skeleton / sigmas of `definition` by the files given."""
  if not (config.matchpoint_path or config.skeleton_path or config.sigmas_path):
    return definition
  with tempfile.TemporaryDirectory() as tmp:
    files = definition.write_files(tmp)
    return load_definition(files['classes_path'],
                           config.matchpoint_path or files['matchpoint_path'],
                           config.skeleton_path or files['skeleton_path'],
                           config.sigmas_path or files.get('sigmas_path'))


def _with_coco_sigmas(definition) -> KeypointDefinition:
  if definition.sigmas is not None:
    return definition
  coco = builtin_definition('coco')
  if set(definition.names) != set(coco.names):
    return definition
  by_name = dict(zip(coco.names, coco.sigmas))
  return KeypointDefinition(definition.names, definition.flip_pairs_h, definition.flip_pairs_v,
                            definition.skeleton, tuple(by_name[n] for n in definition.names))


def same_points(source_names, names):
  """(source names, definition names), spelt so that equal means the same point, when both
  name the same points one to one (exactly, else through NAME_ALIASES); None otherwise."""
  for table in ({}, NAME_ALIASES):
    old = [table.get(n, n) for n in source_names]
    new = [table.get(n, n) for n in names]
    if len(set(old)) == len(old) == len(new) == len(set(new)) and set(old) == set(new):
      return old, new
  return None


def _match_names(data, source_names, names, classes_path) -> None:
  """Reorders the examples from the source's names to the --classes_path names when both name
  the same points (noting the aliases used); else warns that channels are taken by position."""
  matched = same_points(source_names, names)
  if matched is None:
    data.notes.append(f'warning: {classes_path}: names {list(names)} differ from the '
                      f'source\'s {list(source_names)}; channels are taken by position')
    log.warning(data.notes[-1])
    return
  _reorder(data.examples, *matched)
  spelt = dict(zip(matched[0], source_names))
  aliased = [f'{spelt[c]} = {n}' for c, n in zip(matched[1], names) if spelt[c] != n]
  if aliased:
    data.notes.append(f'{classes_path}: keypoints matched to the source\'s by name, with '
                      f'aliases {", ".join(aliased)}')
    log.info(data.notes[-1])


def _reorder(examples, old_names, new_names):
  order = [list(old_names).index(n) for n in new_names]
  for ex in examples:
    ex.keypoints, ex.visibility = ex.keypoints[order], ex.visibility[order]


def read_val_list(path, dataset_path):
  """The names in a --val_list file; the path is tried as given, then under the dataset folder
  and its parent."""
  candidates = [path]
  if dataset_path and not os.path.isabs(path):
    candidates += [os.path.join(dataset_path, path),
                   os.path.join(os.path.dirname(os.path.abspath(dataset_path)), path)]
  found = next((p for p in candidates if os.path.isfile(p)), None)
  if found is None:
    raise UserInputError(f'--val_list={path}: file not found')
  try:
    with open(found, encoding='utf-8') as f:
      lines = [line.strip() for line in f]
  except (OSError, UnicodeDecodeError) as e:
    raise UserInputError(f'--val_list={found}: cannot read ({e})') from None
  return found, [line.replace('\\', '/') for line in lines if line and not line.startswith('#')]


def image_identity(ex) -> str:
  """An image's identity across annotation sets and rounds: `video/file` for a video frame
  (DeepLabCut labeled-data/<video>/<file>, wherever the file was found), else its path relative
  to the dataset folder (identity_of_path)."""
  if ex.video:
    return f'{ex.video}/{os.path.basename(ex.rel_path)}'
  return identity_of_path(ex.rel_path)


def identity_of_path(rel_path: str) -> str:
  """The identity of an image path relative to its dataset folder: the path with '/'
  separators, without a leading images/ or labeled-data/ (so labeled-data/m4s1/img0000.png and
  a labelme folder's m4s1/img0000.png are the same image)."""
  rel = str(rel_path).replace('\\', '/').lstrip('/')
  for prefix in ('images/', 'labeled-data/'):
    if rel.startswith(prefix):
      return rel[len(prefix):]
  return rel


def hash_fraction(identity: str) -> float:
  """A number in [0, 1) fixed by an image's identity (SHA-256 of its UTF-8 bytes): an image is
  for validation when it is below --val_fraction, whatever other images the set holds."""
  digest = hashlib.sha256(identity.encode('utf-8')).digest()
  return int.from_bytes(digest[:8], 'big') / 2.0**64


def assign_splits(data, config, fixed: Optional[Dict[str, str]] = None) -> None:
  """Sets every example's split: --val_list for all, else the source's, else the hash of the
  image's identity against --val_fraction; then images in `fixed` (identity -> split: those
  already in the records set grown with --add_to) keep their split whatever the rules say."""
  fixed = dict(fixed or {})
  if config.val_list:
    _split_by_val_list(data, config)
  else:
    _split_by_hash(data, config, fixed)
  _keep_fixed_splits(data, fixed)


def _split_by_val_list(data, config) -> None:
  examples = data.examples
  path, names = read_val_list(config.val_list, config.dataset_path)
  wanted = {name.strip('/') for name in names}
  # A name that is an image's own path names that image only, never files elsewhere of that name.
  exact = {image_identity(ex) for ex in examples} | {ex.rel_path for ex in examples}
  _refuse_ambiguous_names(examples, wanted - exact, path)
  matched = set()
  for ex in examples:
    hit = _val_list_keys(ex, exact) & wanted
    matched |= hit
    ex.split = VAL if hit else TRAIN
  if names and not matched:
    raise UserInputError(f'--val_list={path}: none of its {len(names)} names matches an '
                         f'image of the data set (e.g. {names[0]!r})')
  if len(matched) < len(wanted):
    data.notes.append(f'warning: --val_list={path}: {len(wanted - matched)} names match no '
                      f'image (e.g. {sorted(wanted - matched)[0]!r})')
    log.warning(data.notes[-1])
  data.notes.append(f'split by --val_list={path}: {len(matched)} validation images')


def _split_by_hash(data, config, fixed) -> None:
  """Examples without a split: validation when the hash of their image's identity is below the
  fraction. When that leaves no validation (or no training) image in the whole set, `fixed`
  included, the image of the lowest (highest) hash goes there, so a tiny set still validates."""
  examples = data.examples
  unsplit = sorted({image_identity(ex) for ex in examples if ex.split is None} - set(fixed))
  if not unsplit:
    if config.val_fraction is not None and examples and not fixed:
      data.notes.append(f'warning: --val_fraction={config.val_fraction} ignored: the source '
                        f'has its own split (use --val_list to override it)')
      log.warning(data.notes[-1])
    return
  fraction = DEFAULT_VAL_FRACTION if config.val_fraction is None else config.val_fraction
  score = {identity: hash_fraction(identity) for identity in unsplit}
  val = {identity for identity in unsplit if score[identity] < fraction}
  others = set(fixed.values()) | {ex.split for ex in examples if ex.split is not None}
  if len(unsplit) + len(fixed) >= 2:
    if fraction > 0 and not val and VAL not in others:
      val.add(min(unsplit, key=score.get))
    if fraction < 1 and len(val) == len(unsplit) and TRAIN not in others:
      val.discard(max(unsplit, key=score.get))
  for ex in examples:
    if ex.split is None:
      identity = image_identity(ex)
      ex.split = fixed.get(identity) or (VAL if identity in val else TRAIN)
  data.notes.append(f'split by a hash of each image\'s identity (video/file or its path) '
                    f'with val_fraction={fraction}: {len(val)} of {len(unsplit)} new images '
                    f'for validation')
  log.info(data.notes[-1])


def _keep_fixed_splits(data, fixed) -> None:
  """Images already in the records set keep their split; a note counts those whose split the
  new set's rules would have changed."""
  if not fixed:
    return
  moved, kept = set(), set()
  for ex in data.examples:
    identity = image_identity(ex)
    if identity in fixed:
      kept.add(identity)
      if ex.split != fixed[identity]:
        moved.add(identity)
      ex.split = fixed[identity]
  if moved:
    data.notes.append(f'warning: {len(moved)} images already in the records set keep their '
                      f'split, not the one this set\'s split rule gives them (e.g. '
                      f'{sorted(moved)[0]!r}): validation stays comparable across rounds')
    log.warning(data.notes[-1])
  elif kept:
    data.notes.append(f'{len(kept)} images already in the records set keep their split')
    log.info(data.notes[-1])


def _val_list_keys(ex, exact=()):
  """The --val_list entries that name this example: its identity, its path, its file name (when
  that is not another image's path, in `exact`), its path under images/, and for a video frame
  `video/file`, the video and `labeled-data/<video>` (the whole video)."""
  base = os.path.basename(ex.rel_path)
  identity = image_identity(ex)
  keys = {identity, ex.rel_path,
          ex.rel_path[len('images/'):] if ex.rel_path.startswith('images/') else ex.rel_path}
  if base not in exact or base in keys:
    keys.add(base)
  if ex.video:
    keys |= {f'{ex.video}/{base}', ex.video, f'labeled-data/{ex.video}'}
  return keys


def _refuse_ambiguous_names(examples, wanted, path):
  """A bare file name in --val_list that several images share (frames of several videos: every
  DeepLabCut video folder has its own img0000.png; or files of several folders) is an error
  naming them; a file name that one image has still works."""
  videos, images = {}, {}
  for ex in examples:
    base = os.path.basename(ex.rel_path)
    if base in wanted:
      images.setdefault(base, set()).add(image_identity(ex))
      if ex.video:
        videos.setdefault(base, set()).add(ex.video)
  for base, found in sorted(images.items()):
    if len(found) < 2:
      continue
    if len(videos.get(base, ())) > 1:
      shown = sorted(videos[base])
      raise UserInputError(f'--val_list={path}: {base!r} is a frame of {len(shown)} videos '
                           f'({", ".join(shown)}); write it as video/file (e.g. '
                           f'{shown[0]}/{base}) or name a whole video')
    shown = sorted(found)
    more = f', ... {len(shown) - 5} more' if len(shown) > 5 else ''
    raise UserInputError(f'--val_list={path}: {base!r} names {len(shown)} images '
                         f'({", ".join(shown[:5])}{more}); write the path (e.g. {shown[0]})')


def order_examples(examples, seed, shuffle=True):
  """Training examples shuffled (seeded; shards of consecutive video frames would defeat a
  shuffle buffer), then validation examples in source order."""
  train = [ex for ex in examples if ex.split == TRAIN]
  val = [ex for ex in examples if ex.split == VAL]
  if shuffle:
    order = np.random.default_rng([seed, 1]).permutation(len(train))
    train = [train[i] for i in order]
  return train + val
