"""Models written by the seed project's own code (../shared/data/seed_models, Keras 2 HDF5 with
random weights, BatchNorm statistics included) imported as our networks
(hourglass/model/seed_import.py): every stack's heatmaps equal the seed's own `predict()` output
on the reference input, and the seed demo's arg-max rule on them gives the demo's keypoints.
A file with two layers' weights swapped, a Keras 3 file and a truncated file are errors naming
the file (and the layer)."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest

from core.errors import UserInputError
from hourglass.model import seed_import
from hourglass.model.config import SEED_MEAN_RGB
from hourglass.model.network import stack_outputs

TOLERANCE = 1e-4  # of the heatmap's peak magnitude
STRIDE = 4


def _models(shared_data):
  with open(os.path.join(shared_data, 'seed_models', 'models.json'), encoding='utf-8') as f:
    return json.load(f)


def _cases():
  """(model name, file kind) of every file models.json lists (read at collection time)."""
  path = os.path.join(os.path.dirname(__file__), '..', '..', '..', 'shared', 'data',
                      'seed_models', 'models.json')
  if not os.path.isfile(path):
    return [('missing', 'missing')]  # the shared_data fixture then skips (or fails under CI)
  with open(path, encoding='utf-8') as f:
    meta = json.load(f)
  return [(name, kind) for name, m in meta['models'].items() for kind in m['files']]


def _demo_keypoints(heatmaps, image_wh):
  """The seed demo's keypoints [K, 3] of heatmaps [h, w, K]: values under 1e-6 zeroed, the
  arg-max of each channel times the stride, scaled from the input to the original image."""
  h, w, k = heatmaps.shape
  maps = np.where(heatmaps < 1e-6, 0.0, heatmaps)
  out = np.zeros((k, 3))
  for c in range(k):
    if not maps[:, :, c].any():
      continue
    row, col = np.unravel_index(np.argmax(maps[:, :, c]), (h, w))
    out[c] = (col * STRIDE * image_wh[0] / (w * STRIDE), row * STRIDE * image_wh[1] / (h * STRIDE),
              maps[row, col, c])
  return out


@pytest.mark.parametrize('name,kind', _cases())
def test_imported_model_gives_the_seeds_outputs(shared_data, name, kind):
  meta = _models(shared_data)
  model_meta = meta['models'][name]
  folder = os.path.join(shared_data, 'seed_models')
  reference = np.load(os.path.join(folder, model_meta['reference']))
  shape = tuple(model_meta['model_input_shape_hw'])
  model, config, seed = seed_import.import_model(
      os.path.join(folder, model_meta['files'][kind]), shape)
  assert seed.kind == {'checkpoint': 'checkpoint', 'dump': 'inference', 'weights': 'weights'}[kind]
  assert (config.num_stacks, config.mobile, config.tiny, config.num_keypoints) == (
      model_meta['num_stacks'], model_meta['mobile'], model_meta['tiny'],
      model_meta['num_keypoints'])
  assert (config.input_height, config.input_width) == shape
  # Our model takes [0, 255] RGB and subtracts the seed's mean itself.
  pixels = (reference['input'] + np.asarray(SEED_MEAN_RGB, np.float32)) * 255.0
  outputs = [np.asarray(o)[0] for o in stack_outputs(model(pixels[None], training=False))]
  for i, ours in enumerate(outputs):
    theirs = reference[f'stack{i}']
    assert np.abs(ours - theirs).max() <= TOLERANCE * np.abs(theirs).max(), f'stack {i}'
  last = reference[f'stack{config.num_stacks - 1}']
  ours = _demo_keypoints(outputs[-1], meta['image_size_wh'])
  expected = reference['demo_keypoints']
  flat = np.sort(last.reshape(-1, last.shape[-1]), axis=0)
  # Random weights make near-flat heatmaps: only channels whose peak stands clear of the
  # runner-up by 10x the tolerance have one arg-max (0 to 2 channels per model here).
  clear = (flat[-1] - flat[-2]) > 10 * TOLERANCE * np.abs(last).max()
  np.testing.assert_allclose(ours[clear, :2], expected[clear, :2], atol=1e-3)
  empty = np.all(expected == 0, axis=1)
  np.testing.assert_array_equal(empty, last.max(axis=(0, 1)) <= 1e-6)


def test_weights_only_batchnorm_order_rule_matches_the_graph(shared_data):
  """In a weights-only file BatchNorms are placed by the file's layer order; on the same
  model's checkpoint, which has the graph, the rule gives the graph's answer for every one."""
  folder = os.path.join(shared_data, 'seed_models')
  checkpoint = seed_import.read_seed_file(
      os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_ep001-loss0.001-val_acc0.000.h5'))
  weights_only = seed_import.read_seed_file(
      os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_weights.h5'))
  assert weights_only.feeders == {} and list(weights_only.layers) == list(checkpoint.layers)
  by_graph = seed_import.our_names(checkpoint)
  assert seed_import.our_names(weights_only) == by_graph
  assert by_graph['hg0_lf8_bn_x1'] == 'batch_normalization_22'  # not in file order


def test_swapped_layers_fail_naming_the_layer(shared_data, tmp_path):
  source = os.path.join(shared_data, 'seed_models', 'hg_s1_128_mpii_dump.h5')
  copy = str(tmp_path / 'swapped.h5')
  shutil.copy(source, copy)
  with h5py.File(copy, 'r+') as f:
    group = f['model_weights']
    a = group['front_residual_1_conv_1x1_1/front_residual_1_conv_1x1_1/kernel:0']
    b = group['front_residual_1_conv_3x3_2/front_residual_1_conv_3x3_2/kernel:0']
    first, second = np.asarray(a), np.asarray(b)
    for layer, value in (('front_residual_1_conv_1x1_1', second),
                         ('front_residual_1_conv_3x3_2', first)):
      del group[f'{layer}/{layer}/kernel:0']
      group[f'{layer}/{layer}'].create_dataset('kernel:0', data=value)
  with pytest.raises(UserInputError, match=r"swapped\.h5: layer 'front_residual_1_conv_1x1_1' "
                                           r"\(our front_residual_x1_conv_1x1_x1\) has weights "
                                           r"of shapes \[\(3, 3, 64, 64\)"):
    seed_import.import_model(copy)


def test_files_that_are_no_seed_models(shared_data, tmp_path, tiny_bundle):
  _, model = tiny_bundle
  keras3 = str(tmp_path / 'ours.weights.h5')
  model.save_weights(keras3)
  with pytest.raises(UserInputError, match=r'ours\.weights\.h5: a Keras 3 file'):
    seed_import.read_seed_file(keras3)
  truncated = tmp_path / 'truncated.h5'
  with open(os.path.join(shared_data, 'seed_models', 'hg_s1_128_mpii_dump.h5'), 'rb') as f:
    truncated.write_bytes(f.read(200_000))
  with pytest.raises(UserInputError, match=r'truncated\.h5: not a readable HDF5 file'):
    seed_import.read_seed_file(str(truncated))
  assert not seed_import.is_seed_file(keras3) and not seed_import.is_seed_file(str(truncated))


def test_weights_path_takes_a_seed_file_with_its_normalization(shared_data):
  """--weights_path: a seed file loads into a model of the same architecture whose input is
  normalised as the seed's, and is refused (saying which flag) for our [-1, 1] input."""
  import dataclasses  # pylint: disable=g-import-not-at-top
  from hourglass.model.network import build_training_model  # pylint: disable=g-import-not-at-top
  from hourglass.training import checkpointing  # pylint: disable=g-import-not-at-top
  path = os.path.join(shared_data, 'seed_models', 'hg_s2_mobile_tiny_128_coco_weights.h5')
  config = seed_import.model_config(seed_import.read_seed_file(path), (128, 128))
  model = build_training_model(config)
  loaded, skipped = checkpointing.load_weights_by_name(
      model, path, log=lambda *a: None, input_normalization='seed_mean')
  assert skipped == [] and len(loaded) == len([l for l in model.layers if l.weights])
  with pytest.raises(UserInputError, match='--input_normalization=seed_mean'):
    checkpointing.load_weights_by_name(
        build_training_model(dataclasses.replace(config, input_normalization='symmetric')),
        path, log=lambda *a: None, input_normalization='symmetric')


def test_import_mode_writes_a_model_directory_every_mode_loads(shared_data, tmp_path):
  """workflows.import_seed (--mode=import_seed) on a weights-only file writes a bundle whose
  predictor gives the seed's heatmaps; --model_path also takes the .h5 itself."""
  from hourglass.inference.loading import load_predictor  # pylint: disable=g-import-not-at-top
  from workflows import import_seed  # pylint: disable=g-import-not-at-top
  from workflows.config import ImportSeedConfig  # pylint: disable=g-import-not-at-top
  folder = os.path.join(shared_data, 'seed_models')
  reference = np.load(os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_reference.npz'))
  pixels = (reference['input'] + np.asarray(SEED_MEAN_RGB, np.float32)) * 255.0
  with pytest.raises(UserInputError, match='needs --model_input_shape|give --model_input_shape'):
    import_seed.run(ImportSeedConfig(os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_weights.h5'),
                                     str(tmp_path / 'no_shape')))
  directory, config, _ = import_seed.run(ImportSeedConfig(
      os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_weights.h5'), str(tmp_path / 'model'),
      input_shape=(128, 128)))
  assert config.input_normalization == 'seed_mean'
  for path in (str(tmp_path / 'model'), os.path.join(folder, 'hg_s2_mobile_tiny_128_coco_dump.h5')):
    predictor = load_predictor(path)
    assert predictor.definition.names[0] == 'nose' and predictor.codec.sigma == 1.0
    heatmaps = np.asarray(predictor.heatmaps(pixels[None]))[0]
    theirs = reference['stack1']
    assert np.abs(heatmaps - theirs).max() <= TOLERANCE * np.abs(theirs).max(), path
