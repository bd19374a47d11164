"""After a source is read: the keypoint definition (source vs. definition-file flags), the split
(source, --val_list, --val_fraction) and the order examples are written in.
"""

import logging
import os
import tempfile
from typing import Dict

import numpy as np

from records.errors import DefinitionError, UserInputError
from records.example import TRAIN, VAL
from records.keypoint_definition import KeypointDefinition, builtin_definition, load_definition

log = logging.getLogger(__name__)

# Fraction of images put in validation when a source has no split and no --val_list or
# --val_fraction is given.
DEFAULT_VAL_FRACTION = 0.1


def choose_definition(data, config) -> KeypointDefinition:
  """The definition to write: --classes_path etc. override what the source carries.

  With --classes_path the examples are reordered by name when the source knows the same names;
  otherwise channels are taken by position. Sources that know only K (json) fall back to the
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
      if set(definition.names) == set(source_def.names):
        _reorder(data.examples, source_def.names, definition.names)
      else:
        data.notes.append(f'warning: {config.classes_path}: names {list(definition.names)} '
                          f'differ from the source\'s {list(source_def.names)}; channels are '
                          f'taken by position')
        log.warning(data.notes[-1])
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
  'reason': str}, for the manifest (training follows it). Not supported when the
  source says so (its pixels tell the sides apart) or a name says a side and has no flip pair
  (a flip would teach the network to swap it); the second is a printed warning."""
  if data.flips_unsupported:
    return {'supported': False, 'reason': data.flips_unsupported}
  unpaired = definition.unpaired_left_right_names()
  if unpaired:
    reason = (f'keypoints {unpaired} say a side but have no flip pair (a flip would swap their '
              f'labels); give --matchpoint_path (lines "left_x,right_x,h") to pair them')
    data.notes.append(f'warning: horizontal flips are off for this records set: {reason}')
    log.warning(data.notes[-1])
    return {'supported': False, 'reason': reason}
  return {'supported': True, 'reason': 'every side-named keypoint has its flip pair'
          if definition.flip_pairs_h else 'no keypoint name says a side'}


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


def assign_splits(data, config) -> None:
  """Sets every example's split: --val_list for all, else the source's, else --val_fraction."""
  examples = data.examples
  if config.val_list:
    path, names = read_val_list(config.val_list, config.dataset_path)
    wanted = {name.strip('/') for name in names}
    _refuse_ambiguous_names(examples, wanted, path)
    matched = set()
    for ex in examples:
      hit = _val_list_keys(ex) & wanted
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
    return
  unsplit = sorted({ex.rel_path for ex in examples if ex.split is None})
  if not unsplit:
    if config.val_fraction is not None and examples:
      data.notes.append(f'warning: --val_fraction={config.val_fraction} ignored: the source '
                        f'has its own split (use --val_list to override it)')
      log.warning(data.notes[-1])
    return
  fraction = DEFAULT_VAL_FRACTION if config.val_fraction is None else config.val_fraction
  n = len(unsplit)
  n_val = int(round(fraction * n))
  if fraction > 0 and n >= 2:
    n_val = max(1, n_val)
  if fraction < 1:
    n_val = min(n_val, n - 1)
  order = np.random.default_rng(config.seed).permutation(n)
  val = {unsplit[i] for i in order[:n_val]}
  for ex in examples:
    if ex.split is None:
      ex.split = VAL if ex.rel_path in val else TRAIN
  data.notes.append(f'split by image with val_fraction={fraction}: {n_val} of {n} images '
                    f'for validation (seed {config.seed})')
  log.info(data.notes[-1])


def _val_list_keys(ex):
  """The --val_list entries that name this example: its path, its file name, its path under
  images/, and for a video frame `video/file`, the video and `labeled-data/<video>` (the
  whole video)."""
  base = os.path.basename(ex.rel_path)
  keys = {ex.rel_path, base,
          ex.rel_path[len('images/'):] if ex.rel_path.startswith('images/') else ex.rel_path}
  if ex.video:
    keys |= {f'{ex.video}/{base}', ex.video, f'labeled-data/{ex.video}'}
  return keys


def _refuse_ambiguous_names(examples, wanted, path):
  """A bare file name in --val_list that frames of several videos share is an error naming
  them (every DeepLabCut video folder has its own img0000.png)."""
  videos = {}
  for ex in examples:
    base = os.path.basename(ex.rel_path)
    if ex.video and base in wanted:
      videos.setdefault(base, set()).add(ex.video)
  for base, found in sorted(videos.items()):
    if len(found) > 1:
      raise UserInputError(f'--val_list={path}: {base!r} is a frame of {len(found)} videos '
                           f'({", ".join(sorted(found))}); write it as video/file (e.g. '
                           f'{sorted(found)[0]}/{base}) or name a whole video')


def order_examples(examples, seed, shuffle=True):
  """Training examples shuffled (seeded; shards of consecutive video frames would defeat a
  shuffle buffer), then validation examples in source order."""
  train = [ex for ex in examples if ex.split == TRAIN]
  val = [ex for ex in examples if ex.split == VAL]
  if shuffle:
    order = np.random.default_rng([seed, 1]).permutation(len(train))
    train = [train[i] for i in order]
  return train + val
