"""The flip test obeys the records set's horizontal flip setting (manifest 'horizontal_flip').

A model trained on records whose flips are unsupported (the synthetic set's colours tell left
from right; a side-named keypoint without a pair) carries that setting in its bundle and in
every export's metadata; its predictors expose it as `flip_supported` / `flip_reason` and,
asked for a flip test, predict plainly (one warning); eval reports the flip test actually run.
Training's resolved flags (flags.txt) show the --flip_prob the records turned off.
"""

import json
import logging
import os
import shutil

import keras
import numpy as np
import pytest

from hourglass.evaluation import evaluator, report
from hourglass.export import metadata as export_metadata
from hourglass.export import tflite as tflite_lib
from hourglass.inference.loading import load_predictor
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model import bundle as bundle_lib
from hourglass.model.config import ModelConfig
from records.keypoint_definition import builtin_definition
from tests.support.flag_parsing import parse_flags

INPUT = (64, 64)
UNSUPPORTED = {'supported': False, 'reason': 'its colours tell left from right'}


def _manifest(**fields):
  """A records Manifest of the COCO definition with these extra top-level fields."""
  from records.reader import Manifest  # pylint: disable=g-import-not-at-top
  raw = {'input_shape': list(INPUT), 'crop_shape': list(INPUT), 'splits': {}, **fields}
  return Manifest('records', raw, builtin_definition('coco'))


@pytest.fixture(scope='module')
def bundles(tiny_bundle, tmp_path_factory):
  """{'off': a bundle whose records do not support flips, 'old': the same model saved before
  bundles recorded the setting}, and the Keras model (conftest.py's untrained 1-stack tiny
  COCO model, saved again here with its flip setting)."""
  definition = builtin_definition('coco')
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=INPUT[0],
                       input_width=INPUT[1], num_keypoints=definition.num_keypoints)
  model = tiny_bundle[1]
  root = tmp_path_factory.mktemp('flip_bundles')
  off = str(root / 'off')
  bundle_lib.save_bundle(off, model, config, definition, HeatmapCodec(INPUT, 4, 2.0).to_dict(),
                         flip=bundle_lib.flip_settings(_manifest(horizontal_flip=UNSUPPORTED)))
  old = str(root / 'old')
  shutil.copytree(off, old)
  info_path = os.path.join(old, bundle_lib.INFO_FILE)
  with open(info_path) as f:
    info = json.load(f)
  info.pop('horizontal_flip')
  with open(info_path, 'w') as f:
    json.dump(info, f)
  return {'off': off, 'old': old}, model


def _images(count=3, seed=0):
  return np.random.default_rng(seed).integers(0, 256, (count, *INPUT, 3), dtype=np.uint8)


def _flip_warnings(caplog):
  return [r for r in caplog.records if 'does not support horizontal flips' in r.getMessage()]


def test_a_model_whose_records_do_not_support_flips_predicts_plainly(bundles, caplog):
  paths, _ = bundles
  with open(os.path.join(paths['off'], bundle_lib.INFO_FILE)) as f:
    assert json.load(f)['horizontal_flip'] == UNSUPPORTED  # the bundle keeps the setting
  images = _images()
  for path in (paths['off'], os.path.join(paths['off'], bundle_lib.MODEL_FILE)):
    predictor = load_predictor(path)
    assert predictor.flip_supported is False and predictor.flip_reason == UNSUPPORTED['reason']
    with pytest.raises(AttributeError):
      predictor.flip_supported = True  # read-only
    caplog.clear()
    with caplog.at_level(logging.WARNING):
      plain = predictor.heatmaps(images)
      np.testing.assert_array_equal(predictor.heatmaps(images, flip_test=True), plain)
      flipped, plain_kp = predictor.predict(images, flip_test=True), predictor.predict(images)
    np.testing.assert_array_equal(flipped[0], plain_kp[0])
    np.testing.assert_array_equal(flipped[1], plain_kp[1])
    assert len(_flip_warnings(caplog)) == 1, caplog.text  # once per predictor
    assert UNSUPPORTED['reason'] in _flip_warnings(caplog)[0].getMessage()
    assert predictor.flip_test_used(True) is False and predictor.flip_test_used(False) is False


def test_a_model_without_the_setting_still_averages_with_the_flipped_heatmaps(bundles, caplog):
  paths, _ = bundles
  predictor = load_predictor(paths['old'])
  assert predictor.flip_supported is True and predictor.flip_reason == bundle_lib.FLIP_UNRECORDED
  images = _images()
  with caplog.at_level(logging.WARNING):
    averaged = predictor.heatmaps(images, flip_test=True)
  assert not _flip_warnings(caplog)
  assert np.abs(averaged - predictor.heatmaps(images)).max() > 1e-4  # the flip test ran
  assert predictor.flip_test_used(True) is True
  supported = {'supported': True, 'reason': 'every side-named keypoint has its flip pair'}
  assert bundle_lib.flip_settings(_manifest(horizontal_flip=supported)) == supported
  assert bundle_lib.flip_settings(_manifest()) is None  # an old manifest: nothing recorded


def test_eval_reports_the_flip_test_it_ran_and_the_cli_says_why(bundles, capsys, caplog):
  from hourglass.inference.predictors import KerasPredictor  # pylint: disable=g-import-not-at-top
  from workflows.models import announce_flip_test  # pylint: disable=g-import-not-at-top
  _, model = bundles
  def predictor(flip):
    return KerasPredictor(model, builtin_definition('coco'), HeatmapCodec(INPUT), 'm', flip=flip)
  off, old = predictor(UNSUPPORTED), predictor(None)
  asked = evaluator.EvalConfig(flip_test=True)
  entries = evaluator.flip_test_entries(off, asked)
  assert entries == {'flip_test': False, 'flip_test_off': UNSUPPORTED['reason']}
  line = report.format_summary(dict(entries, model='m', decoder='dark', num_objects=1))
  assert 'flip_test: False (asked for; off: its colours tell left from right)' in line
  assert evaluator.flip_test_entries(old, asked) == {'flip_test': True}
  assert evaluator.flip_test_entries(off, evaluator.EvalConfig()) == {'flip_test': False}
  # The CLI (eval and predict) prints the line once; the predictor warns no more.
  fresh = predictor(UNSUPPORTED)
  announce_flip_test(parse_flags('--flip_test').flip_test, fresh)
  out = capsys.readouterr().out
  assert out.strip() == ("warning: --flip_test: this model's records set does not support "
                         "horizontal flips: its colours tell left from right; predicting "
                         "without the flip test")
  caplog.clear()
  with caplog.at_level(logging.WARNING):
    assert fresh.flip_test_used(True) is False
  assert not _flip_warnings(caplog)
  announce_flip_test(parse_flags('--flip_test').flip_test, predictor(None))
  announce_flip_test(parse_flags().flip_test, predictor(UNSUPPORTED))
  assert capsys.readouterr().out == ''



def test_exported_files_carry_the_setting_and_their_predictors_obey_it(tmp_path):
  """A SavedModel and a TFLite file of a small model, exported as export.py does."""
  from hourglass.export import saved_model as saved_model_lib  # pylint: disable=g-import-not-at-top
  from hourglass.inference import predictors  # pylint: disable=g-import-not-at-top
  definition = builtin_definition('coco')
  codec = HeatmapCodec(INPUT, 4, 2.0)
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=INPUT[0],
                       input_width=INPUT[1], num_keypoints=definition.num_keypoints)
  inputs = keras.Input((*INPUT, 3), name='image')
  keras.utils.set_random_seed(1)
  model = keras.Model(inputs, keras.layers.Conv2D(17, 4, strides=4)(inputs / 255.0))
  sm_dir = str(tmp_path / 'saved_model')
  meta = saved_model_lib.export_saved_model(sm_dir, model, model_config=config,
                                            definition=definition, codec=codec,
                                            flip=UNSUPPORTED)
  assert meta['horizontal_flip'] == UNSUPPORTED
  assert json.loads(export_metadata.onnx_props(meta)['hourglass_metadata'])[
      'horizontal_flip'] == UNSUPPORTED
  saved = load_predictor(sm_dir)
  assert isinstance(saved, predictors.SavedModelPredictor) and not saved.flip_supported
  path = str(tmp_path / 'model.tflite')
  tflite_lib.export_tflite(path, sm_dir, 'tflite', meta)
  runtime = load_predictor(path)
  assert runtime.flip_supported is False and runtime.flip_reason == UNSUPPORTED['reason']
  images = _images(2, seed=4)
  np.testing.assert_array_equal(runtime.heatmaps(images, flip_test=True), runtime(images))
  # Without the entry (files exported before it), the runtime's flip test runs.
  old_meta = {k: v for k, v in meta.items() if k != 'horizontal_flip'}
  with open(path, 'rb') as f:
    data = tflite_lib.add_metadata(f.read(), tflite_lib._file_metadata(  # pylint: disable=protected-access
        old_meta, 'tflite', False, False, None, None))
  with open(path, 'wb') as f:
    f.write(data)
  runtime = load_predictor(path)
  assert runtime.flip_supported
  assert np.abs(runtime.heatmaps(images, flip_test=True) - runtime(images)).max() > 1e-4


def test_flags_txt_shows_the_flip_prob_training_used(tmp_path, monkeypatch):
  """Synthetic records declare flips unsupported: training turns --flip_prob off, and
  flags.txt says --flip_prob=0.0 with the reason (a '#' line absl's flagfile parser skips);
  the bundles get the records' setting."""
  from flags.common import FLAGFILE_NAME  # pylint: disable=g-import-not-at-top
  import hourglass.training.trainer as trainer_module  # pylint: disable=g-import-not-at-top
  from modes.configs import train_run_config  # pylint: disable=g-import-not-at-top
  from tests.support import tiny_training as support  # pylint: disable=g-import-not-at-top
  from workflows.train import build_trainer  # pylint: disable=g-import-not-at-top
  monkeypatch.setattr(trainer_module, 'build_training_model', support.small_bn_model)
  records, model_dir = str(tmp_path / 'records'), str(tmp_path / 'model')
  support.make_records(records, count=8, val_count=0)
  logged = []
  trainer, manifest = build_trainer(train_run_config(parse_flags(
      f'--records_dir={records}', f'--model_dir={model_dir}', '--batch_size=4',
      '--train_steps=1', '--novalidate')), logged.append)
  reason = manifest.raw['horizontal_flip']['reason']
  assert not manifest.raw['horizontal_flip']['supported'] and reason
  assert any(line.startswith('horizontal flips off') for line in logged), logged
  flagfile = os.path.join(model_dir, FLAGFILE_NAME)
  with open(flagfile) as f:
    lines = f.read().splitlines()
  at = lines.index('--flip_prob=0.0')
  assert lines[at - 1] == f'# horizontal flips off (the flag said 0.5): {reason}'
  assert parse_flags(f'--flagfile={flagfile}').flip_prob == 0.0  # the file reads back
  assert trainer._bundles.flip == {'supported': False, 'reason': reason}  # pylint: disable=protected-access
