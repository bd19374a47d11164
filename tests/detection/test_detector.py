"""The detector: its target maps and decoder, training through main.py on synthetic records with
several creatures per image, predict and eval with its boxes, and its exports against Keras."""

import json
import os
import shutil

import cv2
import numpy as np
import pytest

from core.errors import UserInputError
from hourglass import detection
from hourglass.detection import decoder, targets
from hourglass.inference.detectors import Detector, find_detector, load_detector
from hourglass.inference.loading import load_predictor
from records.make_records import make_records, MakeRecordsConfig
from tests.support.flag_parsing import parse_flags

STRIDE = 4


def test_maps_decode_back_to_the_boxes():
  """boxes -> target maps -> boxes, within a hundredth of a pixel (overlapping boxes, a box
  cut by the edge, sizes from 5 to 90 px)."""
  boxes = np.array([[20.3, 30.7, 40.2, 60.9], [100.1, 50.5, 30.0, 25.3], [60.0, 80.0, 80.4, 50.1],
                    [170.6, 3.2, 5.1, 6.8], [-20.0, 120.0, 60.0, 40.0], [0, 0, 0, 0]],
                   np.float32)
  maps, weights = targets.encode(boxes, 5, (48, 64), STRIDE)
  assert maps.shape == (48, 64, 3) and weights.shape == (48, 64)
  found, scores = decoder.decode(maps.numpy(), STRIDE, score_threshold=0.5)
  assert len(found) == 5 and np.all(scores > 0.5)
  for box in boxes[:5]:
    nearest = found[np.argmax(decoder.iou(box[None], found)[0])]
    np.testing.assert_allclose(nearest, box, atol=0.01)


def test_decoder_threshold_nms_and_cap():
  maps, _ = targets.encode(np.array([[10, 10, 40, 40], [12, 11, 40, 40], [150, 100, 30, 30]],
                                    np.float32), 3, (48, 64), STRIDE)
  heat = maps.numpy()
  heat[..., 0] *= np.where(np.arange(64) < 20, 1.0, 0.4)[None]  # the far box scores 0.4
  boxes, scores = decoder.decode(heat, STRIDE, score_threshold=0.3, nms_iou=0.5)
  assert len(boxes) == 2 and scores[0] >= scores[1]  # the two near ones merged by NMS
  assert len(decoder.decode(heat, STRIDE, score_threshold=0.5)[0]) == 1
  assert len(decoder.decode(heat, STRIDE, score_threshold=0.3, max_objects=1)[0]) == 1


def test_box_ap_and_recall():
  truth = {1: np.array([[0, 0, 10, 10], [20, 20, 10, 10]]), 2: np.array([[5, 5, 20, 20]])}
  perfect = {k: (v, np.ones(len(v))) for k, v in truth.items()}
  assert decoder.box_ap(truth, perfect)['ap'] == pytest.approx(1.0)
  shifted = {1: (truth[1] + [3, 0, 0, 0], np.ones(2)), 2: (np.zeros((0, 4)), np.zeros(0))}
  result = decoder.box_ap(truth, shifted)
  assert 0.0 < result['ap50'] < 1.0 and result['ap'] < result['ap50']
  assert decoder.recall(truth, shifted, 0.5) == pytest.approx(2 / 3)
  assert decoder.recall(truth, shifted, 0.9) == 0.0


@pytest.fixture(scope='module')
def multi(tmp_path_factory):
  """Synthetic records with 2-3 creatures per image, a detector trained on them through
  main.py's train mode, and an (untrained, seeded) keypoint model of the creatures beside it
  in the same model directory."""
  import keras  # pylint: disable=g-import-not-at-top

  from hourglass.keypoints.codec import HeatmapCodec  # pylint: disable=g-import-not-at-top
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.model.config import ModelConfig  # pylint: disable=g-import-not-at-top
  from hourglass.model.network import build_inference_model  # pylint: disable=g-import-not-at-top
  from modes import train as train_mode  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp('detector')
  records = str(root / 'records')
  manifest = make_records(MakeRecordsConfig(
      source='synthetic', output_dir=records, input_shape=(64, 64), synthetic_objects=3,
      synthetic_count=16, synthetic_val_count=4, num_workers=1, progress=False))
  model_dir = str(root / 'model')
  train_mode.run(parse_flags(
      '--mode=train', '--detector', '--model_input_shape=64x96', '--train_steps=20',
      '--validation_steps=20', '--learning_rate=5e-3', '--mobile', '--tiny', '--num_stacks=1',
      '--batch_size=4', '--nomixed_precision', f'--records_dir={records}',
      f'--model_dir={model_dir}', '--steps_per_loop=10'))
  keras.utils.set_random_seed(0)
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=64, input_width=64,
                       num_keypoints=manifest.num_keypoints)
  bundle_lib.save_bundle(os.path.join(model_dir, 'best_model'), build_inference_model(config),
                         config, manifest.definition, HeatmapCodec((64, 64), 4, 2.0).to_dict(),
                         bundle_lib.crop_settings(manifest))
  return {'records': records, 'model_dir': model_dir, 'root': root}


def test_detector_trains_through_main(multi):
  detector_dir = os.path.join(multi['model_dir'], detection.DETECTOR_DIR)
  assert find_detector(multi['model_dir']) == detector_dir
  assert find_detector(os.path.join(multi['model_dir'], 'best_model')) == detector_dir
  with open(os.path.join(detector_dir, 'metrics.csv'), encoding='utf-8') as f:
    rows = f.read().splitlines()
  header = rows[0].split(',')
  last = dict(zip(header, rows[-1].split(',')))
  assert last['step'] == '20' and 0.0 <= float(last['val_ap']) <= 1.0
  assert 0.0 <= float(last['val_recall50']) <= 1.0
  detector = load_detector(detector_dir)
  assert detector.predictor.input_shape == (64, 96)
  assert detector.crop_scale == pytest.approx(1.0, abs=0.02)  # synthetic boxes: from keypoints
  with pytest.raises(UserInputError, match='not a detector'):
    load_detector(multi['model_dir'])  # the keypoint model


def _frame(multi):
  images = os.path.join(multi['records'], 'synthetic_data', 'images')
  return os.path.join(images, sorted(n for n in os.listdir(images) if n.startswith('val'))[0])


def test_predict_with_the_model_directory_detector(multi, tmp_path):
  from modes import predict as predict_mode  # pylint: disable=g-import-not-at-top
  image = _frame(multi)
  out = str(tmp_path / 'pred.png')
  predict_mode.run(parse_flags('--mode=predict', f'--model_path={multi["model_dir"]}',
                               f'--input={image}', f'--output={out}', '--max_objects=2',
                               '--detection_score_threshold=0.05'))
  with open(str(tmp_path / 'pred.json'), encoding='utf-8') as f:
    document = json.load(f)
  assert document['detector'].endswith(os.path.join('detector', 'best_model'))
  objects = document['frames'][0]['objects']
  detector = load_detector(find_detector(multi['model_dir']), max_objects=2,
                           score_threshold=0.05)
  rgb = cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)
  (boxes, _), = detector.detect([rgb])
  assert len(objects) == len(boxes) <= 2
  for obj, box in zip(objects, boxes):
    np.testing.assert_allclose(obj['box'], box, atol=0.01)  # the JSON keeps 2 decimals
  with pytest.raises(UserInputError, match='max_objects'):
    Detector(detector.predictor, max_objects=0)


def test_eval_with_the_detector(multi, tmp_path):
  from modes import eval as eval_mode  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / 'eval')
  eval_mode.run(parse_flags('--mode=eval', f'--model_path={multi["model_dir"]}',
                            f'--records_dir={multi["records"]}', f'--output_dir={out}',
                            '--eval_box=detector', '--detection_score_threshold=0.05'))
  with open(os.path.join(out, 'metrics.json'), encoding='utf-8') as f:
    result = json.load(f)
  assert result['boxes'] == 'detector' and result['detector'].startswith('keras:')
  assert 0.0 <= result['coco']['AP'] <= 1.0 and 0.0 <= result['gt_box_coco']['AP'] <= 1.0
  alone = str(tmp_path / 'alone')  # a keypoint bundle with no detector beside it
  shutil.copytree(os.path.join(multi['model_dir'], 'best_model'), alone)
  with pytest.raises(UserInputError, match='no detector'):
    eval_mode.run(parse_flags('--mode=eval', f'--model_path={alone}',
                              f'--records_dir={multi["records"]}', f'--output_dir={out}',
                              '--eval_box=detector', '--detector_path='))


def test_export_proves_every_file_against_keras(multi, tmp_path):
  """export.py's mode on the detector: each file proved (parity, box AP in the report), and the
  exported detectors find the Keras detector's boxes."""
  from modes import export as export_mode  # pylint: disable=g-import-not-at-top
  out = str(tmp_path / 'exports')
  detector_dir = find_detector(multi['model_dir'])
  report = export_mode.run(parse_flags(
      f'--model_dir={detector_dir}', f'--records_dir={multi["records"]}',
      f'--output_dir={out}', '--formats=saved_model,tflite,onnx', '--latency_threads=',
      '--check_samples=4'))
  assert not report['failures'] and 'detector' not in report
  keras_ap = report['keras']['box_ap']
  for row in report['formats']:
    assert row['status'] == 'ok' and row['parity']['max_abs_diff'] < 1e-3, row['format']
    assert row['box_ap'] == pytest.approx(keras_ap, abs=0.02), row['format']
  with open(os.path.join(out, 'export_report.md'), encoding='utf-8') as f:
    assert '| box AP |' in f.read()
  keras = load_detector(detector_dir, score_threshold=0.05)
  frames = [cv2.cvtColor(cv2.imread(_frame(multi)), cv2.COLOR_BGR2RGB)]
  expected = keras.detect(frames)[0]
  for row in report['formats']:
    exported = load_detector(row['path'], score_threshold=0.05)
    assert exported.crop_scale == pytest.approx(keras.crop_scale)
    boxes, scores = exported.detect(frames)[0]
    assert len(boxes) == len(expected[0]), row['format']
    np.testing.assert_allclose(boxes, expected[0], atol=0.01)
    np.testing.assert_allclose(scores, expected[1], atol=1e-4)
  assert load_predictor(report['formats'][-1]['path']).definition.names == detection.CHANNELS


def test_find_detector_beside_models_and_exports(tmp_path):
  """<model_dir>/detector from the model directory or its bundles; for an exported file, the
  file of the same name in detector/ beside it (where export.py writes it)."""
  model_dir = tmp_path / 'model'
  for bundle in ('best_model', 'detector/best_model'):
    (model_dir / bundle).mkdir(parents=True)
    (model_dir / bundle / 'model_info.json').write_text('{}')
  assert find_detector(str(model_dir)) == str(model_dir / 'detector')
  assert find_detector(str(model_dir / 'best_model')) == str(model_dir / 'detector')
  exports = tmp_path / 'exports'
  (exports / 'detector').mkdir(parents=True)
  for name in ('model_float32.tflite', 'detector/model_float32.tflite', 'model.onnx'):
    (exports / name).write_bytes(b'')
  assert find_detector(str(exports / 'model_float32.tflite')) == str(
      exports / 'detector' / 'model_float32.tflite')
  assert find_detector(str(exports / 'model.onnx')) is None
  assert find_detector(str(tmp_path / 'missing')) is None


def test_records_without_their_originals(multi, tmp_path):
  """The detector reads the original frames: records whose dataset folder is gone get one
  error naming the records and the missing folder."""
  from pipelines import detector_dataset  # pylint: disable=g-import-not-at-top
  moved = str(tmp_path / 'records')
  shutil.copytree(multi['records'], moved, ignore=shutil.ignore_patterns('synthetic_data'))
  manifest = os.path.join(moved, 'manifest.json')
  with open(manifest, encoding='utf-8') as f:
    raw = json.load(f)
  raw['settings']['dataset_path'] = str(tmp_path / 'gone')
  with open(manifest, 'w', encoding='utf-8') as f:
    json.dump(raw, f)
  with pytest.raises(UserInputError, match='run make_records again'):
    detector_dataset.frame_index(moved, 'train')


def test_objects_without_keypoints_are_ignore_regions(coco_sample_records):
  """COCO's crowds and people without keypoints are in the manifest's ignore_boxes, and the
  detector's centre loss is off inside them (not learned as background)."""
  from pipelines import detector_dataset  # pylint: disable=g-import-not-at-top
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
  records = coco_sample_records((64, 64))
  ignore = load_manifest(records).ignore_boxes
  assert sum(len(v) for v in ignore.values()) == 2  # 14 people, 12 with keypoints
  index = detector_dataset.frame_index(records, 'val')
  assert int(index.ignore_counts.sum()) == 2
  batch = next(iter(detector_dataset.build_eval_dataset(
      records, PipelineConfig(batch_size=len(index.paths)), (128, 160))))
  weights = batch['centre_weights'].numpy()
  for i in np.nonzero(index.ignore_counts)[0]:
    assert 0.0 < weights[i].mean() < 1.0  # some map pixels ignored, not all
  assert np.all(weights[index.ignore_counts == 0] == 1.0)
  assert np.all(batch['maps'].numpy()[..., 0].max(axis=(1, 2)) > 0.5)  # every frame's objects
