"""Fast checks of the export pieces: metadata round trips, errors, checks, report, calibration."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from core.errors import UserInputError
from hourglass.evaluation import bootstrap
from hourglass.export import metadata, mnn_export, proof_report, runner, tflite, usage
from hourglass.export import proof as export_report
from hourglass.inference.runtime_predictors import load_runtime_predictor
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model import metadata as model_metadata
from hourglass.model.config import ModelConfig
from records.keypoint_definition import KeypointDefinition
from tests.support.paths import ROOT

DEFINITION = KeypointDefinition(('a', 'b', 'left_c', 'right_c'), ((2, 3),), (),
                                ((0, 1, (255, 0, 0)),))
CODEC = HeatmapCodec((64, 96), 4, 1.5)
CONFIG = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=64, input_width=96,
                     num_keypoints=4)


def _meta(**kw):
  args = dict(format_name='onnx', definition=DEFINITION, codec=CODEC, model_config=CONFIG,
              outputs=[metadata.heatmap_output(CODEC, 4)])
  args.update(kw)
  return metadata.build_metadata(**args)


def test_metadata_round_trip_and_layouts():
  meta = json.loads(metadata.to_json(_meta(layout='NCHW', batch=-1)))
  definition, codec, parsed = model_metadata.parse_metadata(meta, 'x.onnx')
  assert definition == DEFINITION and codec.to_dict() == CODEC.to_dict()
  assert parsed['input']['shape'] == [-1, 3, 64, 96]
  assert metadata.heatmap_output(CODEC, 4, 'NCHW')['shape'] == [1, 4, 16, 24]
  assert metadata.heatmap_output(CODEC, 4)['shape'] == [1, 16, 24, 4]
  props = metadata.onnx_props(meta)
  assert props['keypoint_names'] == 'a,b,left_c,right_c' and props['input_layout'] == 'NCHW'
  assert json.loads(props[model_metadata.METADATA_KEY]) == meta


@pytest.mark.parametrize('bad', [None, {}, {'format': 'other'}, {'format': model_metadata.FORMAT}])
def test_foreign_metadata_is_a_user_error_naming_the_file(bad):
  with pytest.raises(UserInputError, match='model.tflite'):
    model_metadata.parse_metadata(bad, 'model.tflite')


def _tiny_tflite(path):
  inputs = keras.Input((64, 96, 3), name='image')
  model = keras.Model(inputs, keras.layers.Conv2D(4, 4, strides=4)(inputs))
  with open(path, 'wb') as f:
    f.write(tf.lite.TFLiteConverter.from_keras_model(model).convert())


def test_tflite_metadata_entry_round_trip(tmp_path):
  path = str(tmp_path / 'm.tflite')
  _tiny_tflite(path)
  assert model_metadata.read_tflite_metadata(path) is None
  with pytest.raises(UserInputError, match='no hourglass export metadata'):
    load_runtime_predictor(path)
  with open(path, 'rb') as f:
    data = tflite.add_metadata(tflite.add_metadata(f.read(), {'old': 1}), _meta())
  with open(path, 'wb') as f:
    f.write(data)
  assert model_metadata.read_tflite_metadata(path) == _meta()  # replaced, not duplicated


def test_runtime_loader_errors(tmp_path):
  with pytest.raises(UserInputError, match='no such model file'):
    load_runtime_predictor(str(tmp_path / 'missing.onnx'))
  with pytest.raises(UserInputError, match='unknown runtime model type'):
    load_runtime_predictor(str(tmp_path / 'model.pt'))
  mnn = tmp_path / 'model.mnn'
  mnn.write_bytes(b'not a model')
  with pytest.raises(UserInputError, match=r'model\.mnn\.json: missing'):
    load_runtime_predictor(str(mnn))


def test_export_config_rejects_bad_values(tmp_path):
  with pytest.raises(UserInputError, match="unknown \\['tflite_int4'\\]"):
    runner.ExportConfig(formats=('onnx', 'tflite_int4'), output_dir=str(tmp_path))
  with pytest.raises(UserInputError, match='opset'):
    runner.ExportConfig(formats=('onnx',), output_dir=str(tmp_path), opset=11)
  with pytest.raises(UserInputError, match='calibration'):
    runner.export_all(None, CONFIG, DEFINITION, CODEC,
                      runner.ExportConfig(formats=('tflite_uint8',), output_dir=str(tmp_path)))


def test_mnn_calibration_samples_hold_the_exact_input(tmp_path):
  images = np.random.RandomState(0).randint(0, 256, (2, 64, 96, 3)).astype(np.float32)
  mnn_export.write_calibration(str(tmp_path), images, nchw=True)
  with open(tmp_path / '00001' / 'input.json', encoding='utf-8') as f:
    spec = json.load(f)
  assert spec == {'inputs': [{'name': 'image', 'shape': [1, 3, 64, 96]}],
                  'outputs': ['heatmaps']}
  values = np.loadtxt(tmp_path / '00001' / 'image.txt').reshape(1, 3, 64, 96)
  np.testing.assert_array_equal(values[0].transpose(1, 2, 0), images[1])


def _row(fmt, pck01, error, ms2):
  row = {'format': fmt, 'pck': pck01, 'pck_at_0.1': pck01, 'mean_error_px': error,
          'latency_ms': {'1': 2 * ms2, '2': ms2}, 'size_bytes': 1000, 'path': f'/x/{fmt}',
          'parity': {'max_abs_diff': 0.01, 'mean_abs_diff': 0.001, 'keypoints_within_1px': 1.0},
          'status': 'ok'}
  if fmt != 'keras':
    row['usage'] = usage.usage_lines(fmt, _meta(format_name=fmt))
  return row


def test_checks_apply_the_10_percent_2_point_and_2x_rules():
  keras_row = _row('keras', 0.50, 10.0, 40.0)
  rows = [_row('tflite_uint8', 0.485, 10.9, 15.0), _row('mnn_uint8', 0.47, 10.5, 25.0),
          _row('onnx', 0.50, 10.0, 30.0)]
  for row in rows:
    export_report._accuracy_deltas(row, keras_row)  # pylint: disable=protected-access
  checks = proof_report.checks(keras_row, rows)
  assert checks['tflite_uint8']['met']                  # +9% error, -1.5 points
  assert not checks['mnn_uint8']['met']                 # -3 points of PCK@0.1
  assert checks['speed']['fastest'] == 'tflite_uint8'
  assert checks['speed']['met'] and checks['speed']['speedup_vs_keras_2_threads'] == 40 / 15
  text = proof_report.to_markdown({'keras': keras_row, 'formats': rows, 'failures': [],
                                    'check_samples': 4, 'decoder': 'dark', 'checks': checks})
  assert '| mnn_uint8 |' in text and 'NOT met' in text and '### onnx' in text
  assert 'x = 4 * j + 1.5' in text  # how to read keypoints from bare heatmaps


def _per_keypoint(correct, errors):
  correct = np.asarray(correct, bool)
  return {'mask': np.ones_like(correct), 'correct_at_0.1': correct,
          'error_px': np.asarray(errors, np.float64)}


def test_paired_intervals_hold_the_point_estimate_and_shrink_with_more_objects():
  rng = np.random.RandomState(0)
  widths = []
  for objects in (100, 1600):
    ref_correct = rng.rand(objects, 4) < 0.6
    lost = ref_correct & (rng.rand(objects, 4) < 0.05)  # ~3 points of PCK@0.1 lost
    ref_error = rng.uniform(0.5, 2.0, (objects, 4))
    reference = _per_keypoint(ref_correct, ref_error)
    other = _per_keypoint(ref_correct & ~lost, ref_error * 1.05)
    interval = bootstrap.paired_intervals(reference, other)
    drop = 100.0 * lost.sum() / lost.size
    low, high = interval['pck_at_0.1_drop_points']
    assert low < drop < high and low > 0
    # Every object's error grew 5%: the change is 5% whichever objects are drawn.
    np.testing.assert_allclose(interval['mean_error_change_pct'], [5.0, 5.0], atol=1e-9)
    widths.append(high - low)
  assert widths[1] < 0.5 * widths[0]  # 16x the objects: about a quarter of the width
  same = bootstrap.paired_intervals(reference, reference)
  assert same['pck_at_0.1_drop_points'] == [0.0, 0.0]
  other['mask'] = other['mask'].copy()
  other['mask'][0, 0] = False
  assert bootstrap.paired_intervals(reference, other) is None


def test_checks_say_when_the_intervals_straddle_the_limit():
  keras_row = _row('keras', 0.50, 10.0, 40.0)
  rows = [_row('tflite_uint8', 0.49, 10.1, 15.0), _row('mnn_uint8', 0.479, 10.2, 25.0)]
  for row in rows:
    export_report._accuracy_deltas(row, keras_row)  # pylint: disable=protected-access
  rows[0]['interval_95'] = {'pck_at_0.1_drop_points': [0.2, 1.8],
                            'mean_error_change_pct': [0.5, 1.5]}
  rows[1]['interval_95'] = {'pck_at_0.1_drop_points': [1.4, 2.8],
                            'mean_error_change_pct': [1.0, 3.0]}
  checks = proof_report.checks(keras_row, rows)
  assert checks['tflite_uint8']['met'] and checks['tflite_uint8']['decided']
  assert not checks['mnn_uint8']['met'] and not checks['mnn_uint8']['decided']
  text = proof_report.to_markdown({'keras': keras_row, 'formats': rows, 'failures': [],
                                    'check_samples': 4, 'decoder': 'dark', 'checks': checks})
  line = next(l for l in text.splitlines() if l.startswith('- mnn_uint8: NOT met'))
  assert 'PCK@0.1 drop 2.10 points (95% interval 1.40 to 2.80 points; limit <= 2.00 points)' in line
  assert 'undecided' in line
  assert 'undecided' not in next(l for l in text.splitlines() if l.startswith('- tflite_uint8'))


def test_export_cli_names_a_model_dir_without_a_bundle(tmp_path):
  proc = subprocess.run([sys.executable, os.path.join(ROOT, 'export.py'),
                         f'--model_dir={tmp_path}', f'--output_dir={tmp_path / "out"}',
                         '--formats=onnx'], capture_output=True, text=True, cwd=ROOT,
                        check=False, timeout=300)
  assert proc.returncode != 0
  assert f'--model_dir={tmp_path}: no best_model/ bundle' in proc.stderr
  assert 'Traceback' not in proc.stderr
