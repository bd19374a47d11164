"""Keypoint definitions: names, flip pairs, skeleton and OKS sigmas, parsed from the seed's files.

File formats (the seed's, kept so its users' files still work):
- classes: one keypoint name per line; the line order is the heatmap channel order.
- match points: `name1,name2,h|v` per line: the pair swaps on a horizontal (h) or vertical (v) flip.
- skeleton: `start,end,color` per line, color one of r/g/b (or a `#rrggbb` hex colour).
- sigmas (ours, optional): `name,sigma` per line: the per-keypoint COCO OKS sigma.
Blank lines and lines starting with '#' are ignored in every file.
"""

import dataclasses
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

from core import files
from core.errors import DefinitionError

_NAMED_COLOURS = {'r': (255, 0, 0), 'g': (0, 255, 0), 'b': (0, 0, 255)}
_HEX_COLOUR = re.compile(r'^#[0-9a-fA-F]{6}$')
# OKS sigma used when a custom definition brings no sigmas file (the mean of COCO's 17 sigmas).
# AP computed with it is only comparable within this project; callers warn about it.
DEFAULT_OKS_SIGMA = 0.0625


@dataclasses.dataclass(frozen=True)
class KeypointDefinition:
  """What the K heatmap channels mean.

  Attributes:
    names: K keypoint names in channel order.
    flip_pairs_h: (i, j) channel pairs swapped by a horizontal flip.
    flip_pairs_v: (i, j) channel pairs swapped by a vertical flip.
    skeleton: (i, j, (r, g, b)) edges to draw.
    sigmas: K per-keypoint OKS sigmas, or None when the definition has none.
  """
  names: Tuple[str, ...]
  flip_pairs_h: Tuple[Tuple[int, int], ...] = ()
  flip_pairs_v: Tuple[Tuple[int, int], ...] = ()
  skeleton: Tuple[Tuple[int, int, Tuple[int, int, int]], ...] = ()
  sigmas: Optional[Tuple[float, ...]] = None

  @property
  def num_keypoints(self) -> int:
    return len(self.names)

  @property
  def has_vertical_pairs(self) -> bool:
    return bool(self.flip_pairs_v)

  def flip_permutation(self, direction: str = 'h') -> List[int]:
    """Channel order after a flip: `flipped[:, :, c] = original[:, :, perm[c]]`."""
    pairs = {'h': self.flip_pairs_h, 'v': self.flip_pairs_v}[direction]
    perm = list(range(self.num_keypoints))
    for i, j in pairs:
      perm[i], perm[j] = j, i
    return perm

  def oks_sigmas(self) -> Tuple[float, ...]:
    """The per-keypoint OKS sigmas, falling back to DEFAULT_OKS_SIGMA for every keypoint."""
    return self.sigmas if self.sigmas is not None else (DEFAULT_OKS_SIGMA,) * self.num_keypoints

  def unpaired_left_right_names(self) -> List[str]:
    """Names that say a side (see `side_partners`) but have no horizontal flip pair.

    Flip augmentation without the pair would teach the network to swap sides.
    """
    paired = {i for pair in self.flip_pairs_h for i in pair}
    return [n for i, n in enumerate(self.names)
            if i not in paired and side_partners(n, certain_only=True)]

  def with_inferred_pairs(self) -> Tuple['KeypointDefinition', List[Tuple[str, str]]]:
    """This definition plus the horizontal pairs its names imply (left_eye <-> right_eye,
    l_hand <-> r_hand, LeftEar <-> RightEar, knee_L <-> knee_R, leftear <-> rightear, eyeL <->
    eyeR, legL2 <-> legR2, front_left_paw <-> front_right_paw, Nearknee <-> Offknee; names
    compared without surrounding whitespace), for names not yet paired. Returns (the
    definition, the name pairs added, each in the definition's order)."""
    paired = {i for pair in self.flip_pairs_h for i in pair}
    index = {n.strip(): i for i, n in enumerate(self.names)}
    added, pairs = [], list(self.flip_pairs_h)
    for i, name in enumerate(self.names):
      partner = next((index[p] for p in side_partners(name) if p in index), None)
      if i in paired or partner is None or partner in paired:
        continue
      paired.update((i, partner))
      pairs.append((i, partner))
      added.append((name, self.names[partner]))
    return dataclasses.replace(self, flip_pairs_h=tuple(pairs)), added

  def to_dict(self) -> Dict:
    """A JSON-ready dict (names, not indices) for manifests and model directories."""
    n = self.names
    return {
        'names': list(n),
        'flip_pairs_h': [[n[i], n[j]] for i, j in self.flip_pairs_h],
        'flip_pairs_v': [[n[i], n[j]] for i, j in self.flip_pairs_v],
        'skeleton': [[n[i], n[j], list(c)] for i, j, c in self.skeleton],
        'sigmas': list(self.sigmas) if self.sigmas is not None else None,
    }

  @classmethod
  def from_dict(cls, d: Dict, origin: str = '<dict>') -> 'KeypointDefinition':
    """Inverse of `to_dict`; `origin` names the file in errors."""
    try:
      names = tuple(str(x) for x in d['names'])
      idx = _index(names, origin)
      pairs_h = tuple((idx(a, None), idx(b, None)) for a, b in d.get('flip_pairs_h', []))
      pairs_v = tuple((idx(a, None), idx(b, None)) for a, b in d.get('flip_pairs_v', []))
      skeleton = tuple((idx(a, None), idx(b, None), tuple(int(v) for v in c))
                       for a, b, c in d.get('skeleton', []))
      sigmas = d.get('sigmas')
      sigmas = tuple(float(s) for s in sigmas) if sigmas is not None else None
    except (KeyError, TypeError, ValueError) as e:
      if isinstance(e, DefinitionError):
        raise
      raise DefinitionError(f'{origin}: malformed keypoint definition ({e!r})') from None
    definition = cls(names, pairs_h, pairs_v, skeleton, sigmas)
    definition.validate(origin)
    return definition

  def validate(self, origin: str = '<definition>') -> None:
    """Raises DefinitionError on duplicate or empty names, bad pairs or bad sigmas."""
    if not self.names:
      raise DefinitionError(f'{origin}: the keypoint definition has no names')
    seen = set()
    for name in self.names:
      if not name or name in seen:
        raise DefinitionError(f'{origin}: duplicate or empty keypoint name {name!r}')
      seen.add(name)
    for i, j in self.flip_pairs_h + self.flip_pairs_v:
      if i == j:
        raise DefinitionError(f'{origin}: keypoint {self.names[i]!r} is paired with itself')
    if self.sigmas is not None and (len(self.sigmas) != self.num_keypoints or
                                    any(not s > 0 for s in self.sigmas)):
      raise DefinitionError(f'{origin}: need {self.num_keypoints} positive sigmas, '
                            f'got {list(self.sigmas)}')

  def write_files(self, directory: str) -> Dict[str, str]:
    """Writes classes/match_point/skeleton(/sigmas) files in the seed formats; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    n = self.names
    contents = {
        'classes_path': ('classes.txt', [f'{x}' for x in n]),
        'matchpoint_path': ('match_point.txt',
                            [f'{n[i]},{n[j]},h' for i, j in self.flip_pairs_h] +
                            [f'{n[i]},{n[j]},v' for i, j in self.flip_pairs_v]),
        'skeleton_path': ('skeleton.txt', [f'{n[i]},{n[j]},{_colour_text(c)}'
                                           for i, j, c in self.skeleton]),
    }
    if self.sigmas is not None:
      contents['sigmas_path'] = ('sigmas.txt', [f'{x},{s!r}' for x, s in zip(n, self.sigmas)])
    paths = {}
    for key, (name, lines) in contents.items():
      path = os.path.join(directory, name)
      files.write_text(path, ''.join(line + '\n' for line in lines))
      paths[key] = path
    return paths


_OTHER_SIDE = {'left': 'right', 'right': 'left', 'l': 'r', 'r': 'l', 'near': 'off',
               'off': 'near'}
# The words of a name: camelCase words, upper-case runs and digit runs, split at separators too
# (front_left_paw, FrontLeftPaw, eyeL, legL2, KneeL, RIGHT_HIP, l-hand).
_WORD = re.compile(r'[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+')
# Side words glued to the rest of a name (no separator, no case change): leftear, earleft;
# a horse's nearknee / offknee (near = left, off = right) only where the partner exists, since
# many words start so (offset).
_GLUED = re.compile(r'^(left|right)|(left|right)$', re.IGNORECASE)
_GLUED_WEAK = re.compile(r'^(near|off)(?=[a-z])', re.IGNORECASE)


def _other_side(word: str) -> str:
  other = _OTHER_SIDE[word.lower()]
  if word.isupper():
    return other.upper()
  return other.capitalize() if word[0].isupper() else other


def _side_spans(name: str):
  """[(start, end, certain)] of the side words in `name` (already stripped): a word of the name
  that is left/right/l/r/near/off, or left/right glued to either end (certain), or near/off
  glued to the start (not certain: a name only when its partner exists)."""
  spans = [(m.start(), m.end(), True) for m in _WORD.finditer(name)
           if m.group().lower() in _OTHER_SIDE]
  spans += [(m.start(m.lastindex), m.end(m.lastindex), True) for m in _GLUED.finditer(name)]
  spans += [(m.start(1), m.end(1), False) for m in _GLUED_WEAK.finditer(name)]
  seen, out = set(), []
  for start, end, certain in spans:
    if (start, end) not in seen:
      seen.add((start, end))
      out.append((start, end, certain))
  return out


def side_partners(name: str, certain_only: bool = False) -> List[str]:
  """The names of the other side that `name` implies, whitespace stripped ([] when it says no
  side): 'left_eye' -> ['right_eye'], 'eyeL' -> ['eyeR'], 'legL2' -> ['legR2'],
  'front_left_paw' -> ['front_right_paw'], ' wingL ' -> ['wingR'], 'Nearknee' -> ['Offknee']
  (unless certain_only: a glued near/off may be a word like 'offset'), 'lhand' -> [] (a glued
  one-letter side is no side)."""
  name = name.strip()
  return [name[:start] + _other_side(name[start:end]) + name[end:]
          for start, end, certain in _side_spans(name) if certain or not certain_only]


def load_definition(classes_path: str, matchpoint_path: Optional[str] = None,
                    skeleton_path: Optional[str] = None,
                    sigmas_path: Optional[str] = None) -> KeypointDefinition:
  """Parses the seed's definition files into a KeypointDefinition.

  Raises:
    DefinitionError: naming the file and line of any malformed line, unknown or duplicate name.
  """
  names = _read_names(classes_path)
  pairs = _read_pairs(matchpoint_path, names, classes_path) if matchpoint_path else {}
  skeleton = _read_skeleton(skeleton_path, names, classes_path) if skeleton_path else ()
  sigmas = _read_sigmas(sigmas_path, names, classes_path) if sigmas_path else None
  return KeypointDefinition(names, tuple(pairs.get('h', ())), tuple(pairs.get('v', ())),
                            tuple(skeleton), sigmas)


def _read_names(classes_path):
  names = []
  for line_no, fields in _lines(classes_path):
    if len(fields) != 1 or not fields[0]:
      raise DefinitionError(f'{classes_path}, line {line_no}: expected one keypoint name, '
                            f'got {",".join(fields)!r}')
    if fields[0] in names:
      raise DefinitionError(f'{classes_path}, line {line_no}: duplicate keypoint name '
                            f'{fields[0]!r}')
    names.append(fields[0])
  if not names:
    raise DefinitionError(f'{classes_path}: no keypoint names in the classes file')
  return tuple(names)


def _read_pairs(matchpoint_path, names, classes_path):
  """{'h': [(i, j)], 'v': [(i, j)]} of a match-point file."""
  pairs, paired = {'h': [], 'v': []}, {}
  for line_no, fields in _lines(matchpoint_path):
    if len(fields) != 3 or fields[2] not in ('h', 'v'):
      raise DefinitionError(f'{matchpoint_path}, line {line_no}: expected '
                            f'"name1,name2,h|v", got {",".join(fields)!r}')
    idx = _index(names, f'{matchpoint_path}, line {line_no}')
    i, j = idx(fields[0], classes_path), idx(fields[1], classes_path)
    if i == j:
      raise DefinitionError(f'{matchpoint_path}, line {line_no}: {names[i]!r} is paired with '
                            f'itself')
    for k in (i, j):
      if (k, fields[2]) in paired:
        raise DefinitionError(f'{matchpoint_path}, line {line_no}: {names[k]!r} is already '
                              f'paired on line {paired[(k, fields[2])]}')
      paired[(k, fields[2])] = line_no
    pairs[fields[2]].append((i, j))
  return pairs


def _read_skeleton(skeleton_path, names, classes_path):
  skeleton = []
  for line_no, fields in _lines(skeleton_path):
    if len(fields) != 3:
      raise DefinitionError(f'{skeleton_path}, line {line_no}: expected "start,end,color", '
                            f'got {",".join(fields)!r}')
    idx = _index(names, f'{skeleton_path}, line {line_no}')
    colour = _parse_colour(fields[2], f'{skeleton_path}, line {line_no}')
    skeleton.append((idx(fields[0], classes_path), idx(fields[1], classes_path), colour))
  return skeleton


def _read_sigmas(sigmas_path, names, classes_path):
  """The per-keypoint OKS sigmas in the order of `names`."""
  by_name = {}
  for line_no, fields in _lines(sigmas_path):
    at = f'{sigmas_path}, line {line_no}'
    if len(fields) != 2:
      raise DefinitionError(f'{at}: expected "name,sigma", got {",".join(fields)!r}')
    _index(names, at)(fields[0], classes_path)
    try:
      value = float(fields[1])
    except ValueError:
      raise DefinitionError(f'{at}: sigma {fields[1]!r} is not a number') from None
    if not 0 < value < float('inf'):
      raise DefinitionError(f'{at}: sigma must be positive, got {fields[1]!r}')
    if fields[0] in by_name:
      raise DefinitionError(f'{at}: duplicate sigma for {fields[0]!r}')
    by_name[fields[0]] = value
  missing = [n for n in names if n not in by_name]
  if missing:
    raise DefinitionError(f'{sigmas_path}: no sigma for {missing}')
  return tuple(by_name[n] for n in names)


def _lines(path: str):
  """Yields (1-based line number, comma-split stripped fields) of the meaningful lines."""
  try:
    with open(path, encoding='utf-8') as f:
      text = f.read()
  except (OSError, UnicodeDecodeError) as e:
    raise DefinitionError(f'{path}: cannot read keypoint definition file ({e})') from None
  for line_no, line in enumerate(text.splitlines(), start=1):
    line = line.strip()
    if line and not line.startswith('#'):
      yield line_no, [f.strip() for f in line.split(',')]


def _index(names: Sequence[str], at: str):
  """Returns a function name -> channel index that raises DefinitionError naming `at`."""
  lookup = {n: i for i, n in enumerate(names)}

  def index(name, classes_path):
    if name not in lookup:
      source = f' (not in {classes_path})' if classes_path else ''
      raise DefinitionError(f'{at}: unknown keypoint name {name!r}{source}')
    return lookup[name]
  return index


def _parse_colour(text: str, at: str) -> Tuple[int, int, int]:
  if text in _NAMED_COLOURS:
    return _NAMED_COLOURS[text]
  if _HEX_COLOUR.match(text):
    return tuple(int(text[k:k + 2], 16) for k in (1, 3, 5))
  raise DefinitionError(f'{at}: colour must be r, g, b or #rrggbb, got {text!r}')


def _colour_text(colour: Tuple[int, int, int]) -> str:
  for name, value in _NAMED_COLOURS.items():
    if tuple(colour) == value:
      return name
  return '#%02x%02x%02x' % tuple(colour)


def builtin_definition(name: str) -> KeypointDefinition:
  """Loads one of the definitions shipped in `configs/`: 'mpii', 'coco' or 'animal_pose'."""
  root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'configs')
  sigmas = os.path.join(root, f'{name}_sigmas.txt')
  return load_definition(os.path.join(root, f'{name}_classes.txt'),
                         os.path.join(root, f'{name}_match_point.txt'),
                         os.path.join(root, f'{name}_skeleton.txt'),
                         sigmas if os.path.exists(sigmas) else None)


def save_definition_json(definition: KeypointDefinition, path: str) -> None:
  files.write_json(path, definition.to_dict(), indent=2)


def load_definition_json(path: str) -> KeypointDefinition:
  d = files.read_json(path, 'keypoint definition JSON', error=DefinitionError)
  return KeypointDefinition.from_dict(d, origin=path)
