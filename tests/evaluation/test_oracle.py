"""The oracle check: perfect heatmaps through the full eval path score perfectly; shifted ones fail.

The oracle predictor renders Gaussians with its own numpy code (not HeatmapCodec) at the true
keypoints of each crop, found by the crop's pixels. The full path is exercised: records written
by make_records from the real sample annotations, the eval tf.data pipeline, decoding, the
mapping back to original pixels, and the metrics; COCO AP is scored against the sample's own
annotation file, not against anything the pipeline produced.
"""

import hashlib
import json
import os

import numpy as np
import pytest

from hourglass.evaluation import evaluator
from hourglass.inference.predictors import Predictor
from hourglass.keypoints.codec import HeatmapCodec
from tests.support.heatmaps import gaussian_heatmaps

INPUT_SHAPE = (128, 128)
STRIDE = 4
SIGMA = 2.0


def _key(image):
  return hashlib.sha1(np.ascontiguousarray(image, np.uint8).tobytes()).hexdigest()


class OraclePredictor(Predictor):
  """Returns perfect heatmaps for crops it has seen in the dataset (and their mirror images)."""

  def __init__(self, definition, dataset, shift=(0.0, 0.0)):
    super().__init__(definition, INPUT_SHAPE, HeatmapCodec(INPUT_SHAPE, STRIDE, SIGMA),
                     'oracle')
    self.truth, self.shift = {}, shift
    width = INPUT_SHAPE[1]
    perm = definition.flip_permutation('h')
    for batch in dataset:
      for image, kp, vis in zip(batch['image'].numpy(), batch['keypoints'].numpy(),
                                batch['visibility'].numpy()):
        self.truth[_key(image)] = (kp, vis > 0)
        mirrored = kp[perm].copy()
        mirrored[:, 0] = width - 1 - mirrored[:, 0]
        self.truth[_key(image[:, ::-1])] = (mirrored, vis[perm] > 0)

  def _heatmaps(self, images):
    return np.stack([gaussian_heatmaps(*self.truth[_key(im)], self.codec.heatmap_size, SIGMA,
                                       self.shift, STRIDE) for im in images.astype(np.uint8)])


def _make_records(shared_data, tmp_path, source, dataset_folder, annotation=None, **kwargs):
  from records.make_records import make_records, MakeRecordsConfig
  if annotation:
    kwargs['annotation_path'] = annotation
  config = MakeRecordsConfig(source=source, dataset_path=os.path.join(shared_data, dataset_folder),
                             output_dir=str(tmp_path / source), input_shape=INPUT_SHAPE,
                             num_workers=1, **kwargs)
  make_records(config)
  return str(tmp_path / source)


def _dataset(records_dir):
  from pipelines.config import PipelineConfig
  from pipelines.dataset import build_eval_dataset
  config = PipelineConfig(input_shape=INPUT_SHAPE, stride=STRIDE, sigma=SIGMA, batch_size=8)
  return build_eval_dataset(records_dir, config, split='val')


@pytest.fixture(scope='module')
def coco_records(coco_sample_records, shared_data):
  # Every sample image goes to 'val' so that AP is scored against the whole annotation file.
  return (coco_sample_records(INPUT_SHAPE),
          os.path.join(shared_data, 'coco_sample', 'person_keypoints_sample.json'))


@pytest.fixture(scope='module')
def mpii_records(shared_data, tmp_path_factory):
  return _make_records(shared_data, tmp_path_factory.mktemp('oracle'), 'mpii', 'mpii_sample')


def _evaluate(records_dir, shift, output_dir=None, coco_gt=None, flip_test=False):
  from records.reader import load_manifest
  definition = load_manifest(records_dir).definition
  dataset = _dataset(records_dir)
  predictor = OraclePredictor(definition, dataset, shift)
  config = evaluator.EvalConfig(decoder='dark', flip_test=flip_test, output_dir=output_dir,
                                coco_ground_truth=coco_gt)
  return evaluator.evaluate(predictor, dataset, config)


def test_oracle_coco_sample(coco_records, tmp_path):
  records_dir, annotation = coco_records
  result = _evaluate(records_dir, (0.0, 0.0), str(tmp_path / 'out'), coco_gt=annotation)
  assert result['num_objects'] == 12  # the 12 annotations with keypoints
  assert result['coco']['AP'] >= 0.99, result['coco']
  assert result['mean_error_px'] < 0.1, result['mean_error_px']
  assert result['pck']['total'] == 1.0
  # The results file is the official format and scores the same when pycocotools reads it.
  from hourglass.evaluation import report
  from hourglass.keypoints import metrics
  results_path = os.path.join(tmp_path / 'out', report.RESULTS_FILE)
  with open(results_path) as f:
    results = json.load(f)
  assert set(results[0]) == {'image_id', 'category_id', 'keypoints', 'score'}
  assert len(results[0]['keypoints']) == 17 * 3
  again = metrics.coco_keypoint_ap(annotation, results_path,
                                   [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
                                    0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089])
  assert again['AP'] == pytest.approx(result['coco']['AP'], abs=1e-9)
  for name in ('metrics.json', 'pck_curve.png', 'per_joint.png'):
    assert os.path.getsize(os.path.join(tmp_path / 'out', name)) > 0


def test_oracle_coco_sample_shifted_one_heatmap_pixel_fails(coco_records):
  records_dir, annotation = coco_records
  result = _evaluate(records_dir, (1.0, 0.0), coco_gt=annotation)
  assert result['coco']['AP'] < 0.99
  assert result['mean_error_px'] > 1.0


def test_oracle_mpii_sample(mpii_records):
  result = _evaluate(mpii_records, (0.0, 0.0), flip_test=True)
  assert result['pckh_num_objects'] == 5
  assert result['pckh']['0.5']['groups']['Mean'] == 100.0
  assert result['pckh']['0.1']['groups']['Mean'] == 100.0
  assert result['mean_error_px'] < 0.1, result['mean_error_px']


def test_oracle_mpii_sample_shifted_one_heatmap_pixel_fails(mpii_records):
  result = _evaluate(mpii_records, (0.0, 1.0))
  assert result['pckh']['0.1']['groups']['Mean'] < 100.0
  assert result['mean_error_px'] > 1.0
