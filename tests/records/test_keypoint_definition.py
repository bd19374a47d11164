"""Parsing the seed's keypoint definition files and the errors for malformed ones."""

import os

import pytest

from core.errors import DefinitionError
from records.keypoint_definition import (builtin_definition, KeypointDefinition, load_definition,
                                         load_definition_json, save_definition_json)


@pytest.mark.parametrize('name,count,pairs', [('mpii', 16, 6), ('coco', 17, 8),
                                              ('animal_pose', 20, 8)])
def test_builtin_definitions(name, count, pairs):
  d = builtin_definition(name)
  assert d.num_keypoints == count and len(d.flip_pairs_h) == pairs
  assert not d.has_vertical_pairs
  perm = d.flip_permutation('h')
  assert sorted(perm) == list(range(count)) and perm != list(range(count))
  assert [perm[p] for p in perm] == list(range(count))  # a flip twice is the identity
  for i, j in d.flip_pairs_h:  # pairs really are left/right
    assert {d.names[i].split('_')[0], d.names[j].split('_')[0]} == {'left', 'right'}
  assert d.unpaired_left_right_names() == []


def test_coco_sigmas_and_flip():
  d = builtin_definition('coco')
  assert d.sigmas[0] == pytest.approx(0.026) and d.sigmas[-1] == pytest.approx(0.089)
  assert d.flip_permutation('h')[:5] == [0, 2, 1, 4, 3]


def _write(tmp_path, name, text):
  path = os.path.join(tmp_path, name)
  with open(path, 'w') as f:
    f.write(text)
  return path


def test_round_trip_through_files_and_json(tmp_path):
  d = builtin_definition('coco')
  paths = d.write_files(str(tmp_path / 'defn'))
  assert load_definition(**paths) == d
  save_definition_json(d, str(tmp_path / 'd.json'))
  assert load_definition_json(str(tmp_path / 'd.json')) == d


def test_vertical_pairs_and_hex_colours(tmp_path):
  classes = _write(tmp_path, 'c.txt', 'top\nbottom\n# comment\n\nmid\n')
  match = _write(tmp_path, 'm.txt', 'top,bottom,v\n')
  skeleton = _write(tmp_path, 's.txt', 'top,mid,#ff8000\nmid,bottom,g\n')
  d = load_definition(classes, match, skeleton)
  assert d.names == ('top', 'bottom', 'mid') and d.has_vertical_pairs
  assert d.flip_permutation('v') == [1, 0, 2] and d.flip_permutation('h') == [0, 1, 2]
  assert d.skeleton[0][2] == (255, 128, 0)


def test_unpaired_left_right_names_are_found():
  d = KeypointDefinition(('snout', 'leftear', 'rightear', 'tailbase'))
  assert d.unpaired_left_right_names() == ['leftear', 'rightear']


CLASSES = 'a\nb\nc\n'
ERRORS = [
    # (file that is bad, its text, the line the message must name, a phrase in the message)
    ('classes', 'a\nb\na\n', 3, 'duplicate'),
    ('classes', 'a\nb,c\n', 2, 'one keypoint name'),
    ('match', 'a,b,h\na,x,h\n', 2, "unknown keypoint name 'x'"),
    ('match', 'a,b\n', 1, 'name1,name2,h|v'),
    ('match', 'a,b,h\nc,a,h\n', 2, 'already paired'),
    ('match', 'a,a,h\n', 1, 'itself'),
    ('skeleton', 'a,b,r\nb,c\n', 2, 'start,end,color'),
    ('skeleton', 'a,zz,r\n', 1, "unknown keypoint name 'zz'"),
    ('skeleton', 'a,b,purple\n', 1, 'colour'),
    ('sigmas', 'a,0.1\nb,abc\nc,0.1\n', 2, 'not a number'),
    ('sigmas', 'a,0.1\nb,-1\nc,0.1\n', 2, 'positive'),
]


@pytest.mark.parametrize('bad,text,line,phrase', ERRORS)
def test_errors_name_file_and_line(tmp_path, bad, text, line, phrase):
  files = {'classes': CLASSES, 'match': 'a,b,h\n', 'skeleton': 'a,b,r\n', 'sigmas': None}
  files[bad] = text
  paths = {k: _write(tmp_path, f'{k}.txt', v) if v is not None else None
           for k, v in files.items()}
  with pytest.raises(DefinitionError) as error:
    load_definition(paths['classes'], paths['match'], paths['skeleton'], paths['sigmas'])
  message = str(error.value)
  assert f'{paths[bad]}, line {line}' in message and phrase in message


def test_missing_file_is_a_clear_error(tmp_path):
  with pytest.raises(DefinitionError, match='cannot read'):
    load_definition(str(tmp_path / 'nope.txt'))
  with pytest.raises(DefinitionError, match='no keypoint names'):
    load_definition(_write(tmp_path, 'empty.txt', '# only a comment\n'))


def test_side_partners_and_inferred_pairs():
  from records.keypoint_definition import side_partners  # pylint: disable=g-import-not-at-top
  cases = {'left_eye': ['right_eye'], 'LeftEar': ['RightEar'], 'leftear': ['rightear'],
           'eye_left': ['eye_right'], 'l_hand': ['r_hand'], 'r-hand': ['l-hand'],
           'knee_L': ['knee_R'], 'RIGHT_HIP': ['LEFT_HIP'], 'KneeL': ['KneeR'], 'nose': [],
           'lhand': [], 'tail_base': []}
  assert {name: side_partners(name) for name in cases} == cases
  d, added = KeypointDefinition(('snout', 'leftear', 'rightear', 'tailbase', 'l_paw', 'r_paw',
                                 'left_foot'), flip_pairs_h=((4, 5),)).with_inferred_pairs()
  assert d.flip_pairs_h == ((4, 5), (1, 2)) and added == [('leftear', 'rightear')]
  assert d.unpaired_left_right_names() == ['left_foot']


# Skeletons as projects name them, and the pairs the name rule must find (no others).
SIDE_TABLE = [
    # an insect (SLEAP's fly skeleton): a side letter as a camelCase suffix or before a number
    (('head', 'thorax', 'abdomen', 'wingL', 'wingR', 'forelegL4', 'forelegR4', 'midlegL4',
      'midlegR4', 'hindlegL4', 'hindlegR4', 'eyeL', 'eyeR', 'antennaL', 'antennaR'),
     [('wingL', 'wingR'), ('forelegL4', 'forelegR4'), ('midlegL4', 'midlegR4'),
      ('hindlegL4', 'hindlegR4'), ('eyeL', 'eyeR'), ('antennaL', 'antennaR')]),
    # a horse (near = left, off = right), glued to the rest of the name
    (('Nose', 'Eye', 'Nearknee', 'Nearfrontfoot', 'Offknee', 'Offfrontfoot', 'Shoulder',
      'Nearhindhock', 'Offhindhock', 'Ischium'),
     [('Nearknee', 'Offknee'), ('Nearfrontfoot', 'Offfrontfoot'),
      ('Nearhindhock', 'Offhindhock')]),
    # four legs, side words inside the names, and stray whitespace
    (('nose', 'front_left_paw', 'front_right_paw', 'BackLeftPaw', 'BackRightPaw', ' earL',
      'earR ', 'legL2', 'legR2', 'tailbase'),
     [('front_left_paw', 'front_right_paw'), ('BackLeftPaw', 'BackRightPaw'),
      (' earL', 'earR '), ('legL2', 'legR2')]),
    # no sides at all: nothing invented (offset starts like off, lip ends in a p, not an l)
    (('thorax', 'tailbase', 'lip', 'offset', 'Rostrum', 'lhand', 'spine2'), []),
]


@pytest.mark.parametrize('names,pairs', SIDE_TABLE)
def test_side_rule_table(names, pairs):
  d, added = KeypointDefinition(names).with_inferred_pairs()
  assert added == pairs
  assert d.unpaired_left_right_names() == []
  assert [(names[i], names[j]) for i, j in d.flip_pairs_h] == pairs


def test_flips_are_off_without_a_pair_and_the_reason_says_how_to_turn_them_on():
  from records.sources.common import SourceData  # pylint: disable=g-import-not-at-top
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  from records.sources.resolve import horizontal_flip_support  # pylint: disable=g-import-not-at-top
  from workflows.train import follow_flip_support  # pylint: disable=g-import-not-at-top
  for names, supported in [(('thorax', 'tailbase', 'lip'), False),
                           (('head', 'wingL', 'wingR'), True)]:
    definition = KeypointDefinition(names).with_inferred_pairs()[0]
    data = SourceData([], definition, len(names))
    flip = horizontal_flip_support(data, definition)
    assert flip['supported'] is supported
    if not supported:
      assert '--flip_prob=0.5' in flip['reason'] and '--matchpoint_path' in flip['reason']
      assert data.notes == [f'horizontal flips are off for this records set: {flip["reason"]}']
      # Training leaves them off, and --flip_prob turns them on without a warning.
      lines = []
      assert follow_flip_support(PipelineConfig(), flip, False, lines.append).flip_prob == 0.0
      assert follow_flip_support(PipelineConfig(), flip, True, lines.append).flip_prob == 0.5
      assert lines[1] == ('horizontal flips on (--flip_prob=0.5): no keypoint names make a '
                          'left/right pair in these records')