"""What every source shares: the SourceData result, safe image paths, JSON reading."""

import dataclasses
import os
from typing import Dict, List, Optional, Sequence

from core import files
from core.errors import AnnotationError, UserInputError
from records.example import BadExample, Example, Skip
from records.keypoint_definition import KeypointDefinition, load_definition


@dataclasses.dataclass
class SourceData:
  """What a source read.

  Attributes:
    examples: the examples to crop and write.
    definition: the keypoint definition the source carries (COCO categories, DeepLabCut
      header, ...), or None when it has only K (json, mpii) and make_records picks one.
    num_keypoints: K.
    skipped: records left out for bad input (they count towards --max_skip_fraction).
    filtered: deliberate filters, reason -> count (crowd, no_keypoints); never an error.
    notes: messages for the user (e.g. how the split was chosen).
    generated_dir: for generated data, the folder the images are written to.
    ignore_boxes: image path (relative, as the records store it) -> [[x, y, w, h], ...] of the
      objects of the records' kind that are no labels (COCO crowds, people without keypoints):
      the detector learns neither object nor background there.
    flips_unsupported: why a horizontal flip makes the labels wrong whatever the pairs (the
      pixels tell left from right); '' when it does not.
  """
  examples: List[Example]
  definition: Optional[KeypointDefinition]
  num_keypoints: int
  skipped: List[Skip] = dataclasses.field(default_factory=list)
  filtered: Dict[str, int] = dataclasses.field(default_factory=dict)
  notes: List[str] = dataclasses.field(default_factory=list)
  generated_dir: Optional[str] = None
  flips_unsupported: str = ''
  ignore_boxes: Dict[str, List[List[float]]] = dataclasses.field(default_factory=dict)

  def filter(self, reason: str) -> None:
    self.filtered[reason] = self.filtered.get(reason, 0) + 1


def labelled_source_data(config, source: str, labels, none_found: str) -> SourceData:
  """An empty SourceData for a source whose points carry keypoint names (labelme, Label Studio,
  CVAT): the names are --classes_path's, else `labels` in order of first appearance (a note
  says so).

  Args:
    source: the --source name, for the note and the error.
    labels: an iterable of point labels in file order (read only without --classes_path).
    none_found: what is missing when `labels` gives none (the error's text).
  Raises:
    UserInputError: no --classes_path and no label.
  """
  if config.classes_path:
    names = list(load_definition(config.classes_path).names)
  else:
    names = list(dict.fromkeys(labels))
    if not names:
      raise UserInputError(f'{source}: {none_found}')
  data = SourceData([], KeypointDefinition(tuple(names)), len(names))
  if not config.classes_path:
    data.notes.append(f'{source}: keypoint channel order from first appearance: {names} '
                      f'(give --classes_path to fix it)')
  return data


def id_number(value) -> int:
  """An annotation's id (image_id, id) as an int; -1 when it is not a whole number."""
  try:
    return int(value)
  except (TypeError, ValueError, OverflowError):
    return -1


def require_dir(path: Optional[str], flag: str = '--dataset_path') -> str:
  """Returns `path` when it is a directory; raises UserInputError naming the flag otherwise."""
  if not path:
    raise UserInputError(f'{flag} is required for this source')
  if not os.path.isdir(path):
    raise UserInputError(f'{flag}={path}: not a directory')
  return os.path.abspath(path)


def listed_annotation_files(config) -> List[str]:
  """The absolute paths in --annotation_path (comma-separated); [] when it is not given.

  Raises:
    UserInputError: naming the paths that are not files.
  """
  paths = [p.strip() for p in str(config.annotation_path or '').split(',') if p.strip()]
  missing = [p for p in paths if not os.path.isfile(p)]
  if missing:
    raise UserInputError(f'--annotation_path: not a file: {", ".join(missing)}')
  return [os.path.abspath(p) for p in paths]


def annotation_files(config, default: Sequence[str]) -> List[str]:
  """--annotation_path (comma-separated) or the first existing default under --dataset_path."""
  listed = listed_annotation_files(config)
  if listed:
    return listed
  root = require_dir(config.dataset_path)
  for name in default:
    path = os.path.join(root, name)
    if os.path.isfile(path):
      return [path]
  raise UserInputError(f'--dataset_path={config.dataset_path}: no annotation file found (looked '
                       f'for {", ".join(default)}); give --annotation_path')


def read_json(path: str):
  """Parses a JSON file. Raises AnnotationError naming the file when it is unreadable."""
  return files.read_json(path, 'annotation JSON', error=AnnotationError)


def resolve_image(root: str, rel_path, allow_outside: bool,
                  fallbacks: Sequence[str] = ()) -> str:
  """The absolute path of an image named in an annotation, kept inside `root`.

  Args:
    root: the dataset folder the relative path is resolved against.
    rel_path: the path as written in the annotation.
    allow_outside: accept absolute paths and '..' escapes (--allow_outside_paths).
    fallbacks: further folders (inside root) to try when the first candidate does not exist,
      e.g. '<root>/images' matched by file name.
  Raises:
    BadExample: a path that is not a string or (without allow_outside) escapes `root`.
  """
  if not isinstance(rel_path, str) or not rel_path or '\0' in rel_path:
    raise BadExample(f'image path {rel_path!r:.80} is not a file name')
  # Lexical containment: '..' and absolute paths are refused, while symlinks the user placed
  # inside the dataset folder (a common way to assemble data sets) are followed.
  root = os.path.normpath(os.path.abspath(root))
  path = os.path.normpath(os.path.join(root, rel_path))
  if not allow_outside and not _inside(path, root):
    raise BadExample(f'image path {rel_path!r} leads outside the dataset folder {root} '
                     f'(pass --allow_outside_paths to accept it)')
  if os.path.exists(path):
    return path
  base = os.path.basename(rel_path.replace('\\', '/'))
  for folder in fallbacks:
    candidate = os.path.join(folder, base)
    if os.path.exists(candidate) and (allow_outside or _inside(os.path.normpath(candidate),
                                                               root)):
      return candidate
  return path


def inside(path: str, root: str) -> bool:
  """Whether normalised absolute `path` is `root` or lies under it."""
  return _inside(os.path.normpath(os.path.abspath(path)), os.path.normpath(os.path.abspath(root)))


def _inside(path: str, root: str) -> bool:
  return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def relative_to(path: str, root: str) -> str:
  """`path` relative to `root` with '/' separators (as stored in records)."""
  rel = os.path.relpath(path, root)
  return rel.replace(os.sep, '/')


def side_colour(a: str, b: str):
  """Skeleton colour for an edge between two names: red for left, blue for right, else green."""
  text = f'{a} {b}'.lower()
  if 'left' in text or a.lower().startswith('l_'):
    return (255, 0, 0)
  if 'right' in text or a.lower().startswith('r_'):
    return (0, 0, 255)
  return (0, 255, 0)
