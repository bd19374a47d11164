"""Property tests: any definition file text either parses or raises our DefinitionError."""

import os
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import DefinitionError
from records.keypoint_definition import KeypointDefinition, load_definition

NAMES = st.sampled_from(['a', 'b', 'c', 'left_x', 'right_x', '', ' ', 'x y', 'é'])
FIELD = st.one_of(NAMES, st.sampled_from(['h', 'v', 'r', 'g', 'b', '#00ff00', '#zz', '1e9',
                                          '-0.5', 'nan', 'inf', '0.1']), st.text(max_size=6))
LINE = st.lists(FIELD, min_size=0, max_size=4).map(','.join)
FILE = st.one_of(st.lists(LINE, max_size=6).map('\n'.join), st.binary(max_size=40))


def _write(directory, name, content):
  path = os.path.join(directory, name)
  with open(path, 'wb' if isinstance(content, bytes) else 'w') as f:
    f.write(content)
  return path


@settings(max_examples=300, deadline=None)
@given(classes=FILE, match=FILE, skeleton=FILE, sigmas=st.one_of(st.none(), FILE))
def test_any_definition_text_parses_or_raises_definition_error(classes, match, skeleton, sigmas):
  with tempfile.TemporaryDirectory() as directory:
    paths = [_write(directory, 'classes.txt', classes), _write(directory, 'match.txt', match),
             _write(directory, 'skeleton.txt', skeleton),
             _write(directory, 'sigmas.txt', sigmas) if sigmas is not None else None]
    try:
      definition = load_definition(*paths)
    except DefinitionError as e:
      assert directory in str(e)  # the message names the file
      return
    # What parses is a valid definition that survives a round trip.
    definition.validate()
    assert KeypointDefinition.from_dict(definition.to_dict()) == definition
    assert sorted(definition.flip_permutation('h')) == list(range(definition.num_keypoints))


@settings(max_examples=300, deadline=None)
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5)),
                    lambda children: st.one_of(st.lists(children, max_size=4),
                                               st.dictionaries(st.sampled_from(
                                                   ['names', 'flip_pairs_h', 'flip_pairs_v',
                                                    'skeleton', 'sigmas']), children, max_size=5)),
                    max_leaves=12))
def test_any_definition_json_parses_or_raises_definition_error(value):
  try:
    definition = KeypointDefinition.from_dict(value if isinstance(value, dict) else
                                              {'names': value}, origin='fuzz.json')
  except DefinitionError as e:
    assert 'fuzz.json' in str(e)
    return
  assert definition.num_keypoints >= 1
