"""load_predictor on every Keras-side format, --mode=eval end to end, detection-box eval."""

import json
import os
import re
import shutil

import cv2
import numpy as np
import pytest
import tensorflow as tf

from core import geometry
from core.errors import UserInputError
from hourglass.evaluation import detection_eval, evaluator
from hourglass.inference.loading import load_predictor
from hourglass.inference.predictors import KerasPredictor, Predictor
from hourglass.keypoints.codec import HeatmapCodec
from hourglass.model import bundle as bundle_lib
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_inference_model
from records.keypoint_definition import builtin_definition
from tests.support.flag_parsing import parse_flags
from tests.support.heatmaps import gaussian_heatmaps
from tests.support.paths import ROOT

INPUT = (64, 64)


def test_load_predictor_formats_agree_with_keras(tiny_bundle):
  model_dir, model = tiny_bundle
  images = np.random.default_rng(0).integers(0, 256, (5, *INPUT, 3), dtype=np.uint8)
  expected = model([images.astype(np.float32)], training=False).numpy()
  predictor = load_predictor(model_dir, batch_size=2)  # 5 images: batches of 2, 2, 1
  assert predictor.input_shape == INPUT and predictor.codec.to_dict() == HeatmapCodec(
      INPUT, 4, 2.0).to_dict()
  assert predictor.definition.names == builtin_definition('coco').names
  heatmaps = predictor(images)
  assert heatmaps.shape == (5, 16, 16, 17) and heatmaps.dtype == np.float32
  np.testing.assert_allclose(heatmaps, expected, rtol=1e-4, atol=1e-5)
  keypoints, scores = predictor.predict(images, decoder='argmax')
  assert keypoints.shape == (5, 17, 2) and scores.shape == (5, 17)
  np.testing.assert_allclose(scores, expected.max(axis=(1, 2)), rtol=1e-4, atol=1e-5)
  # The .keras file with the bundle files beside it loads the same model (safe mode on).
  keras_file = load_predictor(os.path.join(model_dir, 'best_model', bundle_lib.MODEL_FILE))
  np.testing.assert_allclose(keras_file.model.get_weights()[-1], model.get_weights()[-1])
  assert keras_file.definition == predictor.definition


def _heatmap_module():
  """A small SavedModel-able function images [B, 64, 64, 3] -> [B, 16, 16, 17] heatmaps.

  (Exporting the hourglass itself takes ~25 s here; the export issue tests that. This checks
  the SavedModel predictor: serving signatures, list inputs, metadata lookup.)
  """
  weights = tf.constant(np.random.default_rng(2).normal(size=(3, 17)), tf.float32)

  def heatmaps(x):
    pooled = tf.nn.avg_pool2d(x / 255.0, 4, 4, 'VALID')
    return tf.einsum('bhwc,ck->bhwk', pooled, weights)
  return heatmaps


@pytest.mark.parametrize('style', ['serve_list', 'signature'])
def test_saved_model_predictor(tiny_bundle, tmp_path, style):
  fn = _heatmap_module()
  spec = tf.TensorSpec([None, *INPUT, 3], tf.float32)
  module = tf.Module()
  if style == 'serve_list':  # what keras Model.export writes for a model with inputs=[...]
    module.serve = tf.function(lambda xs: fn(xs[0]), input_signature=[[spec]], autograph=False)
    signatures = None
  else:
    module.f = tf.function(lambda x: {'heatmaps': fn(x)}, input_signature=[spec],
                           autograph=False)
    signatures = {'serving_default': module.f}
  saved = str(tmp_path / 'saved_model')
  tf.saved_model.save(module, saved, signatures=signatures)
  best = os.path.join(tiny_bundle[0], 'best_model')
  os.makedirs(os.path.join(saved, 'assets'), exist_ok=True)
  for name in (bundle_lib.INFO_FILE, bundle_lib.DEFINITION_FILE):
    shutil.copy(os.path.join(best, name), os.path.join(saved, 'assets'))
  predictor = load_predictor(saved, batch_size=2)
  images = np.random.default_rng(3).integers(0, 256, (5, *INPUT, 3), dtype=np.uint8)
  np.testing.assert_allclose(predictor(images), fn(tf.constant(images, tf.float32)).numpy(),
                             rtol=1e-5, atol=1e-6)
  assert predictor.definition.names == builtin_definition('coco').names
  keypoints, _ = predictor.predict(images, decoder='dark', flip_test=True)
  assert keypoints.shape == (5, 17, 2)


def test_flip_test_undoes_the_flip(tiny_bundle):
  """Flip test of a mirrored image equals the mirrored flip test of the image."""
  model_dir, model = tiny_bundle
  predictor = KerasPredictor(model, builtin_definition('coco'), HeatmapCodec(INPUT), 'tiny')
  image = np.random.default_rng(1).integers(0, 256, (1, *INPUT, 3), dtype=np.uint8)
  a = predictor.heatmaps(image, flip_test=True)
  b = predictor.heatmaps(image[:, :, ::-1], flip_test=True)
  perm = predictor.definition.flip_permutation('h')
  np.testing.assert_allclose(a, b[:, :, ::-1][..., perm], rtol=1e-4, atol=1e-5)


def test_load_predictor_errors(tmp_path):
  with pytest.raises(UserInputError, match='no such model'):
    load_predictor(str(tmp_path / 'missing'))
  with pytest.raises(UserInputError, match='not a model directory'):
    load_predictor(str(tmp_path))
  bad = tmp_path / 'broken.keras'
  bad.write_bytes(b'not a zip')
  with pytest.raises(UserInputError, match='model_info.json'):
    load_predictor(str(bad))


@pytest.fixture(scope='module')
def coco_records(coco_sample_records):
  """The COCO sample's records at the tiny model's input, every image in 'val'."""
  return coco_sample_records(INPUT)


def test_eval_mode_end_to_end(tiny_bundle, coco_records, tmp_path, capsys):
  from modes import eval as eval_mode
  out = str(tmp_path / 'eval')
  returned = eval_mode.run(parse_flags(
      '--mode=eval', f'--model_path={tiny_bundle[0]}', f'--records_dir={coco_records}',
      f'--output_dir={out}', '--save_result', '--decoder=quarter', '--flip_test',
      '--batch_size=5'))
  printed = capsys.readouterr().out
  assert 'PCK@0.5' in printed and 'COCO AP' in printed
  with open(os.path.join(out, 'metrics.json')) as f:
    result = json.load(f)
  assert result['pck']['total'] == pytest.approx(returned['pck']['total'])
  assert result['num_objects'] == 12 and result['decoder'] == 'quarter' and result['flip_test']
  assert result['coco']['ground_truth'].endswith('person_keypoints_sample.json')
  assert 0.0 <= result['pck']['total'] <= 1.0
  for name in ('keypoint_results.json', 'pck_curve.png', 'per_joint.png', 'flags.txt',
               'results_grid.png', os.path.join('results', '0011.png')):
    assert os.path.getsize(os.path.join(out, name)) > 0, name
  # A clear error (main.py prints it without a traceback) for records that do not exist.
  with pytest.raises(UserInputError, match='nothing'):
    eval_mode.run(parse_flags('--mode=eval', f'--model_path={tiny_bundle[0]}',
                               f'--records_dir={tmp_path / "nothing"}'))


# Boxes of the real sample detector file scoring >= 0.5 on the four COCO sample images.
SAMPLE_DETECTIONS_AT_HALF = 18


def test_eval_through_main_with_the_sample_detections(tiny_bundle, coco_records, shared_data,
                                                      tmp_path):
  """`python main.py --mode=eval` to completion as a user runs it (default environment): the
  real detector boxes of person_detections_sample.json, thresholded, and a quiet console."""
  import subprocess
  import sys
  out = str(tmp_path / 'eval')
  detections = os.path.join(shared_data, 'coco_sample', 'person_detections_sample.json')
  env = {k: v for k, v in os.environ.items() if k not in ('TF_CPP_MIN_LOG_LEVEL',
                                                          'HOURGLASS_VERBOSE')}
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'main.py'), '--mode=eval',
       f'--model_path={tiny_bundle[0]}', f'--records_dir={coco_records}', f'--output_dir={out}',
       f'--detections={detections}', '--detection_score_threshold=0.5'],
      capture_output=True, text=True, env=env, timeout=300, cwd=str(tmp_path))
  assert proc.returncode == 0, proc.stderr[-3000:]
  with open(os.path.join(out, 'metrics.json')) as f:
    result = json.load(f)
  assert result['num_detections'] == SAMPLE_DETECTIONS_AT_HALF and result['num_images'] == 4
  assert 0.0 <= result['coco']['AP'] <= 1.0 and 'COCO AP' in proc.stdout
  # TensorFlow's start-up lines and absl's prefixes are gone; our warnings are marked.
  from core.console import NativeLineFilter
  assert not [line for line in proc.stderr.splitlines() if not NativeLineFilter(2).keep(line)
              or 'absl::InitializeLog' in line or 'cuInit' in line], proc.stderr
  assert not [line for line in proc.stderr.splitlines() if re.match(r'^[IWE]\d{4} ', line)]
  # The threshold changes the boxes evaluated: all 118 at 0.
  everything = detection_eval.load_detections(detections)
  assert sum(len(v) for v in everything.values()) == 118


class _BoxOracle(Predictor):
  """Perfect heatmaps for crops registered with their true model-input keypoints."""

  def __init__(self, definition):
    super().__init__(definition, INPUT, HeatmapCodec(INPUT, 4, 2.0), 'box-oracle')
    self.truth = {}

  def _heatmaps(self, images):
    out = []
    for image in images.astype(np.uint8):
      keypoints, labelled = self.truth[image.tobytes()]
      out.append(gaussian_heatmaps(keypoints, labelled, self.codec.heatmap_size, 2.0))
    return np.stack(out)


def test_detection_eval_with_oracle_rescoring_and_nms(coco_records, shared_data, tmp_path):
  """Detector boxes = the true boxes plus near duplicates: AP 1 and NMS keeps one per person."""
  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  root = os.path.join(shared_data, 'coco_sample')
  annotation = os.path.join(root, 'person_keypoints_sample.json')
  with open(annotation) as f:
    gt = json.load(f)
  files = {im['id']: im['file_name'] for im in gt['images']}
  predictor = _BoxOracle(builtin_definition('coco'))
  detections = []
  for ann in gt['annotations']:
    if not ann['num_keypoints']:
      continue
    rgb = cv2.cvtColor(cv2.imread(os.path.join(root, 'images', files[ann['image_id']])),
                       cv2.COLOR_BGR2RGB)
    for shift, score in ((0.0, 0.9), (3.0, 0.5)):
      box = [ann['bbox'][0] + shift, ann['bbox'][1], ann['bbox'][2], ann['bbox'][3]]
      m = geometry.input_to_image(box, INPUT, 1.25)
      kp = np.array(ann['keypoints'], float).reshape(-1, 3)
      inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
      predictor.truth[geometry.warp(rgb, m, INPUT).tobytes()] = (
          kp[:, :2] @ inverse[:, :2].T + inverse[:, 2], kp[:, 2] > 0)
      detections.append({'image_id': ann['image_id'], 'category_id': 1, 'bbox': box,
                         'score': score})
  path = str(tmp_path / 'detections.json')
  with open(path, 'w') as f:
    json.dump(detections, f)
  dataset = build_eval_dataset(coco_records, PipelineConfig(input_shape=INPUT, batch_size=4))
  config = evaluator.EvalConfig(decoder='dark', output_dir=str(tmp_path / 'out'),
                                coco_ground_truth=annotation)
  result = detection_eval.evaluate_with_detections(predictor, dataset, path, root, config,
                                                   box_scale=1.25)
  assert result['num_detections'] == 24
  assert result['num_results_after_nms'] == 12  # each duplicate pose suppressed by OKS NMS
  assert result['coco']['AP'] >= 0.99
  # The real sample detections run through the same path (scores are whatever they are).
  with pytest.raises(UserInputError):
    detection_eval.load_detections(str(tmp_path / 'missing.json'))


def test_whole_frame_eval_with_oracle(shared_data, tmp_path):
  """--eval_box=letterbox: whole MPII images letterboxed; perfect heatmaps score perfectly."""
  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  from records.make_records import make_records, MakeRecordsConfig
  root = os.path.join(shared_data, 'mpii_sample')
  records = str(tmp_path / 'mpii')
  make_records(MakeRecordsConfig(source='mpii', dataset_path=root, output_dir=records,
                                 input_shape=INPUT, num_workers=1, progress=False))
  definition = builtin_definition('mpii')
  predictor = _BoxOracle(definition)
  dataset = build_eval_dataset(records, PipelineConfig(input_shape=INPUT, batch_size=4))
  truth = evaluator.collect_ground_truth(dataset, with_extra=True)
  for rel_path, kp, vis in zip(truth['path'], truth['original_keypoints'], truth['visibility']):
    rgb = cv2.cvtColor(cv2.imread(os.path.join(root, rel_path.decode())), cv2.COLOR_BGR2RGB)
    m = geometry.letterbox_input_to_image(rgb.shape, INPUT)
    inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
    predictor.truth[geometry.warp(rgb, m, INPUT).tobytes()] = (
        kp @ inverse[:, :2].T + inverse[:, 2], vis > 0)
  result = detection_eval.evaluate_whole_frame(predictor, dataset, root,
                                               evaluator.EvalConfig(decoder='dark'), 'letterbox')
  assert result['num_objects'] == 5 and result['boxes'].startswith('whole frame')
  assert result['pckh']['0.1']['groups']['Mean'] == 100.0
  assert result['mean_error_px'] < 0.1


@pytest.fixture(scope='module')
def synthetic_records_and_model(tmp_path_factory):
  """Tiny synthetic records (6 train, 4 val) and an untrained model for their 9 keypoints."""
  from records.make_records import make_records, MakeRecordsConfig
  from records.sources import synthetic
  root = tmp_path_factory.mktemp('synthetic')
  records = str(root / 'records')
  make_records(MakeRecordsConfig(source='synthetic', dataset_path=str(root / 'data'),
                                 output_dir=records, input_shape=INPUT, synthetic_count=6,
                                 synthetic_val_count=4, num_workers=1, progress=False))
  definition = synthetic.definition()
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=INPUT[0],
                       input_width=INPUT[1], num_keypoints=definition.num_keypoints)
  import keras  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)  # the same untrained model in every run
  bundle_lib.save_bundle(str(root / 'model' / 'best_model'), build_inference_model(config),
                         config, definition, HeatmapCodec(INPUT, 4, 2.0).to_dict())
  return records, str(root / 'model')


def test_eval_split_train_error_pcutoff_and_pck_threshold(synthetic_records_and_model, tmp_path,
                                                          capsys):
  """--eval_split picks the split, the training error is reported beside it (first
  --train_error_examples examples), --pcutoff selects the confident keypoints and
  --score_threshold widens PCK."""
  from modes import eval as eval_mode
  records, model = synthetic_records_and_model

  def run(*args):
    return eval_mode.run(parse_flags('--mode=eval', f'--model_path={model}',
                                      f'--records_dir={records}', '--batch_size=2',
                                      f'--output_dir={tmp_path / "out"}', *args))

  val = run('--train_error_examples=3', '--pcutoff=0')
  assert val['num_objects'] == 4 and val['train']['num_objects'] == 3
  assert 'train split (3 objects, record boxes)' in capsys.readouterr().out
  assert val['confident']['fraction'] > 0.5 and np.isfinite(val['confident']['mean_error_px'])
  with open(tmp_path / 'out' / 'metrics.json') as f:
    assert json.load(f)['train']['num_objects'] == 3
  train = run('--eval_split=train', '--pcutoff=1.5', '--score_threshold=20')
  assert train['num_objects'] == 6 and 'train' not in train  # the split itself: no second run
  assert train['confident']['fraction'] == 0.0  # heatmap peaks never reach 1.5
  assert np.isnan(train['confident']['mean_error_px'])
  # 20 x heatmap side / 10 is twice the side, beyond the map's diagonal: every keypoint counts.
  assert train['pck']['total'] == 1.0 > val['pck']['total']


def test_decode_ratio_decodes_the_crops_coarser(synthetic_records_and_model):
  """--decode_ratio=2: the 96x96 JPEG crops decode at 48x48 before the warp to the 64x64 input:
  the same picture (keypoints unchanged), with less fine detail."""
  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  records, _ = synthetic_records_and_model
  batches = {ratio: next(iter(build_eval_dataset(records, PipelineConfig(
      input_shape=INPUT, batch_size=4, augment=False, decode_ratio=ratio))))
             for ratio in (1, 2)}
  images = {r: b['image'].numpy().astype(np.float64) for r, b in batches.items()}
  assert images[1].shape == images[2].shape == (4, 64, 64, 3)
  np.testing.assert_allclose(batches[1]['keypoints'], batches[2]['keypoints'], atol=1e-4)
  detail = {r: np.abs(np.diff(im, axis=2)).mean() for r, im in images.items()}
  assert detail[2] < 0.9 * detail[1]
  assert np.abs(images[1] - images[2]).mean() < 0.25 * np.abs(images[1] - images[1].mean()).mean()


def test_sigmas_path_reaches_the_definition_and_sets_coco_ap(synthetic_records_and_model,
                                                             tmp_path):
  """--sigmas_path: make_records writes the sigmas into the records' definition; COCO AP of the
  same predictions rises with wider OKS sigmas (OKS -> 1) and falls with narrower ones."""
  import dataclasses

  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  from records.make_records import make_records, MakeRecordsConfig
  from records.sources import synthetic
  names = synthetic.definition().names
  sigmas = tmp_path / 'sigmas.txt'
  sigmas.write_text(''.join(f'{n},{0.05 + 0.01 * i}\n' for i, n in enumerate(names)))
  manifest = make_records(MakeRecordsConfig(
      source='synthetic', dataset_path=str(tmp_path / 'data'), output_dir=str(tmp_path / 'r'),
      input_shape=INPUT, synthetic_count=2, synthetic_val_count=1, num_workers=1,
      progress=False, sigmas_path=str(sigmas)))
  assert manifest.definition.sigmas == pytest.approx([0.05 + 0.01 * i for i in range(len(names))])
  records, model = synthetic_records_and_model
  predictor = load_predictor(model)
  config = evaluator.EvalConfig()
  collected = evaluator.collect_predictions(predictor, build_eval_dataset(
      records, PipelineConfig(input_shape=INPUT, batch_size=4, augment=False)), config)
  ap = {}
  for sigma in (1e-3, 10.0):
    definition = dataclasses.replace(predictor.definition, sigmas=(sigma,) * len(names))
    result, _ = evaluator.compute_metrics(collected, definition, predictor.codec, config)
    assert result['coco']['sigmas'] == 'definition'
    ap[sigma] = result['coco']['AP']
  assert ap[1e-3] < 0.1 and ap[10.0] > 0.9
