"""Safe by default: no unsafe Keras deserialization, no unpickling, no paths that escape their
folder, no network or subprocess at run time.
"""

import ast
import json
import os

import cv2
import numpy as np
import pytest

from core.errors import RecordsError, UserInputError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZE = 64


def _project_sources():
  """(path, parsed module) of every project .py file outside tests/."""
  for folder, dirs, files in os.walk(ROOT):
    dirs[:] = [d for d in dirs if not d.startswith('.') and d not in ('tests', '__pycache__')]
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        with open(path, encoding='utf-8') as f:
          yield path, ast.parse(f.read(), path)


def _calls(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Call):
      func = node.func
      name = func.attr if isinstance(func, ast.Attribute) else getattr(func, 'id', '')
      yield name, node


def _keyword(call, name):
  return next((k.value for k in call.keywords if k.arg == name), None)


def test_every_keras_load_keeps_safe_mode_on():
  """No load_model(..., safe_mode=False) and no enable_unsafe_deserialization anywhere."""
  loads, bad = 0, []
  for path, tree in _project_sources():
    for name, call in _calls(tree):
      if name == 'enable_unsafe_deserialization':
        bad.append(f'{path}:{call.lineno} enables unsafe deserialization')
      if name in ('load_model', 'deserialize_keras_object', 'model_from_json'):
        loads += 1
        safe = _keyword(call, 'safe_mode')
        if safe is not None and not (isinstance(safe, ast.Constant) and safe.value is True):
          bad.append(f'{path}:{call.lineno} {name} with safe_mode={ast.unparse(safe)}')
  assert loads >= 2 and not bad, bad


def test_nothing_unpickles_or_evaluates_user_files():
  """No pickle/joblib/dill/marshal/shelve, no np.load(allow_pickle=True), no yaml.load without
  a safe loader, no eval/exec of file content."""
  bad = []
  for path, tree in _project_sources():
    for node in ast.walk(tree):
      if isinstance(node, (ast.Import, ast.ImportFrom)):
        names = [a.name for a in node.names] + [getattr(node, 'module', None) or '']
        for name in names:
          if name.split('.')[0] in ('pickle', 'cPickle', 'dill', 'joblib', 'cloudpickle',
                                    'shelve', 'marshal'):
            bad.append(f'{path}:{node.lineno} imports {name}')
    for name, call in _calls(tree):
      allow = _keyword(call, 'allow_pickle')
      if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
        bad.append(f'{path}:{call.lineno} {name}(allow_pickle={ast.unparse(allow)})')
      if name in ('read_pickle', 'unsafe_load', 'full_load'):
        bad.append(f'{path}:{call.lineno} {name}')
      if name == 'load' and isinstance(call.func, ast.Attribute) and \
         getattr(call.func.value, 'id', '') in ('yaml', 'torch'):
        loader = _keyword(call, 'Loader')
        if call.func.value.id == 'torch' or loader is None or 'Safe' not in ast.unparse(loader):
          bad.append(f'{path}:{call.lineno} {ast.unparse(call.func)} without a safe loader')
      if name in ('eval', 'exec') and isinstance(call.func, ast.Name):
        bad.append(f'{path}:{call.lineno} {name}()')
  assert not bad, bad


# -- a Keras file with a Lambda layer is refused ----------------------------------------------

@pytest.fixture(scope='module')
def lambda_files(tmp_path_factory):
  """A .keras whose Lambda layer would run arbitrary Python, alone and inside a bundle."""
  import keras

  from hourglass.keypoints.codec import HeatmapCodec
  from hourglass.model.bundle import save_bundle
  from hourglass.model.config import ModelConfig
  from records.keypoint_definition import KeypointDefinition
  base = tmp_path_factory.mktemp('lambda')
  marker = str(base / 'lambda_ran')
  inputs = keras.Input((SIZE, SIZE, 3))
  # The function would leave a marker file if it ever ran while loading or predicting.
  outputs = keras.layers.Lambda(
      lambda x: x[:, ::4, ::4, :2] + float(len(open(marker, 'a').name)))(inputs)
  model = keras.Model(inputs, outputs)
  if os.path.exists(marker):
    os.remove(marker)
  path = str(base / 'lambda.keras')
  model.save(path)
  bundle = str(base / 'bundle')
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=SIZE,
                       input_width=SIZE, num_keypoints=2)
  save_bundle(bundle, model, config, KeypointDefinition(('a', 'b')),
              HeatmapCodec((SIZE, SIZE)).to_dict())
  if os.path.exists(marker):
    os.remove(marker)
  return {'keras': path, 'bundle': bundle, 'marker': marker}


def test_a_lambda_layer_model_is_refused_everywhere(lambda_files):
  from hourglass.inference.loading import load_predictor
  from hourglass.model.bundle import load_bundle
  from hourglass.training import checkpointing
  for load in (lambda: load_predictor(os.path.join(lambda_files['bundle'], 'model.keras')),
               lambda: load_predictor(lambda_files['bundle']),
               lambda: load_bundle(lambda_files['bundle'])):
    with pytest.raises(UserInputError, match='not a loadable Keras model') as info:
      load()
    assert 'lambda' in str(info.value).lower()
  import keras
  target = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name='d')])
  with pytest.raises(UserInputError, match='lambda.keras'):
    checkpointing.load_weights_by_name(target, lambda_files['keras'], log=lambda *a: None)
  assert not os.path.exists(lambda_files['marker'])


# -- annotation image paths stay inside the dataset folder -----------------------------------

@pytest.fixture(scope='module')
def escape_dataset(tmp_path_factory):
  """dataset/images/in.jpg inside, outside/out.jpg beside the dataset folder."""
  base = tmp_path_factory.mktemp('escape')
  image = np.random.default_rng(0).integers(0, 255, (48, 64, 3), np.uint8)
  (base / 'dataset' / 'images').mkdir(parents=True)
  (base / 'outside').mkdir()
  cv2.imwrite(str(base / 'dataset' / 'images' / 'in.jpg'), image)
  cv2.imwrite(str(base / 'outside' / 'out.jpg'), image)
  return base


def _annotation(source, image):
  if source == 'json':
    return 'annotations.json', json.dumps([
        {'img_paths': image, 'joint_self': [[10, 10, 2], [30, 20, 2]], 'objpos': [20, 15],
         'scale_provided': 0.2, 'isValidation': 0}])
  if source == 'coco':
    return 'coco.json', json.dumps({
        'images': [{'id': 1, 'file_name': image, 'height': 48, 'width': 64}],
        'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'iscrowd': 0,
                         'keypoints': [10, 10, 2, 30, 20, 2], 'bbox': [5, 5, 30, 20]}],
        'categories': [{'id': 1, 'name': 'x', 'keypoints': ['nose', 'tail']}]})
  if source == 'labelme':
    return 'frame.json', json.dumps({
        'imagePath': image, 'imageHeight': 48, 'imageWidth': 64,
        'shapes': [{'label': 'nose', 'points': [[10, 10]], 'shape_type': 'point'},
                   {'label': 'tail', 'points': [[30, 20]], 'shape_type': 'point'}]})
  if source == 'cvat':
    return 'annotations.xml', (
        f'<annotations><version>1.1</version><image id="0" name="{image}" width="64" '
        f'height="48"><points label="nose" occluded="0" points="10,10"/><points label="tail" '
        f'occluded="0" points="30,20"/></image></annotations>')
  return 'CollectedData_me.csv', ('scorer,me,me,me,me\nbodyparts,nose,nose,tail,tail\n'
                                  f'coords,x,y,x,y\n{image},10,10,30,20\n')


@pytest.mark.parametrize('source', ['json', 'coco', 'labelme', 'deeplabcut', 'cvat'])
def test_image_paths_outside_the_dataset_are_refused(escape_dataset, tmp_path, source):
  from records.make_records import make_records, MakeRecordsConfig
  dataset = escape_dataset / 'dataset'
  outside = str(escape_dataset / 'outside' / 'out.jpg')
  # json resolves against <dataset>/images, the others against the file or the dataset.
  up = '../../outside/out.jpg' if source in ('json', 'coco') else '../outside/out.jpg'
  for image in (up, outside):
    name, text = _annotation(source, image)
    (dataset / name).write_text(text)
    common = dict(source=source, input_shape=(32, 32), dataset_path=str(dataset),
                  annotation_path=str(dataset / name), num_workers=1, progress=False,
                  classes_path=None)
    if source == 'json':
      classes = tmp_path / 'classes.txt'
      classes.write_text('nose\ntail\n')
      common['classes_path'] = str(classes)
    with pytest.raises(RecordsError, match='outside the dataset folder'):
      make_records(MakeRecordsConfig(output_dir=str(tmp_path / 'refused'), **common))
    manifest = make_records(MakeRecordsConfig(output_dir=str(tmp_path / 'allowed'),
                                              allow_outside_paths=True, **common))
    assert manifest.count('train') + manifest.count('val') == 1
    (dataset / name).unlink()


# -- output names derived from inputs stay inside the output folder ---------------------------

def _tree(path):
  return sorted(os.path.relpath(os.path.join(d, f), path) for d, _, fs in os.walk(path)
                for f in fs)


@pytest.fixture(scope='module')
def bundle(tmp_path_factory):
  from hourglass.keypoints.codec import HeatmapCodec
  from hourglass.model.bundle import save_bundle
  from hourglass.model.config import ModelConfig
  from hourglass.model.network import build_training_model, inference_model
  from records.keypoint_definition import KeypointDefinition
  directory = str(tmp_path_factory.mktemp('bundle') / 'model')
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=SIZE, input_width=SIZE,
                       num_keypoints=3)
  save_bundle(directory, inference_model(build_training_model(config)), config,
              KeypointDefinition(('left_eye', 'right_eye', 'nose'), flip_pairs_h=((0, 1),)),
              HeatmapCodec((SIZE, SIZE)).to_dict())
  return directory


def test_predict_folder_output_names_stay_inside_output(bundle, tmp_path):
  from hourglass.inference.loading import load_predictor
  from hourglass.inference.config import PredictConfig
  from hourglass.inference.prediction import predict_source
  inputs, output = tmp_path / 'in', tmp_path / 'deep' / 'out'
  inputs.mkdir()
  image = np.random.default_rng(1).integers(0, 255, (40, 50, 3), np.uint8)
  names = ['..jpg', '..\\..\\evil.jpg', '-rf.jpg', '%2e%2e%2fx.jpg', 'é .jpg']
  for name in names:
    cv2.imwrite(str(inputs / name), image)
  before = _tree(str(tmp_path))
  summary = predict_source(load_predictor(bundle), PredictConfig(input=str(inputs),
                                                                 output=str(output)))
  assert summary.frames == len(names)
  after = _tree(str(tmp_path))
  new = sorted(set(after) - set(before))
  assert new and all(p.startswith(os.path.join('deep', 'out') + os.sep) for p in new), new
  assert len(new) == len(names) + 1  # one drawing per image plus the keypoints JSON
