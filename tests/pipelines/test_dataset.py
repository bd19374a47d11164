"""The datasets as a whole: graph purity, determinism, per-replica building, errors, targets."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from core.errors import RecordsError, UserInputError
from hourglass.keypoints.codec import HeatmapCodec
from pipelines.config import PipelineConfig
from pipelines.dataset import build_eval_dataset, build_train_dataset
from records.writer import write_shards
from tests.support import dot_records as fixtures

PYTHON_OPS = {'PyFunc', 'PyFuncStateless', 'EagerPyFunc'}
FULL = PipelineConfig(batch_size=4, deterministic=True, seed=3, grayscale_prob=0.3,
                      blur_prob=0.3)


@pytest.fixture(scope='module')
def records_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp('records')
  fixtures.make_dot_records(directory, num_train=20, num_val=3, image_format='jpeg')
  return str(directory)


def graph_ops(dataset):
  """Every op type in the dataset's graph, including all functions of its library."""
  graph_def = tf.compat.v1.GraphDef()
  graph_def.ParseFromString(dataset._as_serialized_graph().numpy())  # pylint: disable=protected-access
  ops = {node.op for node in graph_def.node}
  for function in graph_def.library.function:
    ops |= {node.op for node in function.node_def}
  return ops


def test_no_python_ops_in_the_graphs(records_dir):
  train_ops = graph_ops(build_train_dataset(records_dir, FULL))
  eval_ops = graph_ops(build_eval_dataset(records_dir, FULL))
  # The walk sees into the map functions (else it would prove nothing) ...
  # (GatherV2 lives inside the XLA warp kernel, a function called from a map function.)
  assert 'GatherV2' in train_ops and 'DecodeJpeg' in train_ops
  assert 'GatherV2' in eval_ops
  assert not train_ops & PYTHON_OPS and not eval_ops & PYTHON_OPS
  # ... and it catches Python when present (tf.numpy_function and tf.py_function).
  ds = tf.data.Dataset.range(3).map(lambda x: tf.numpy_function(lambda v: v, [x], tf.int64))
  assert graph_ops(ds) & PYTHON_OPS
  ds = tf.data.Dataset.range(3).map(lambda x: tf.py_function(lambda v: v, [x], tf.int64))
  assert graph_ops(ds) & PYTHON_OPS


def _all_batches(dataset):
  return [tf.nest.map_structure(lambda t: t.numpy(), b) for b in dataset]


def _same(a, b):
  return all(np.array_equal(x, y) for x, y in zip(tf.nest.flatten(a), tf.nest.flatten(b)))


def test_deterministic_batches_are_a_function_of_seed_and_epoch(records_dir):
  first = _all_batches(build_train_dataset(records_dir, FULL, epoch=1))
  again = _all_batches(build_train_dataset(records_dir, FULL, epoch=1))
  other_epoch = _all_batches(build_train_dataset(records_dir, FULL, epoch=2))
  other_seed = _all_batches(
      build_train_dataset(records_dir, dataclasses.replace(FULL, seed=4), epoch=1))
  assert len(first) == 5  # 20 examples, batches of 4
  assert all(_same(a, b) for a, b in zip(first, again))
  assert not any(_same(a, b) for a, b in zip(first, other_epoch))
  assert not any(_same(a, b) for a, b in zip(first, other_seed))


def test_elements_and_targets(records_dir):
  images, targets = next(iter(build_train_dataset(records_dir, FULL)))
  assert images.dtype == tf.uint8 and images.shape == (4, 64, 64, 3)
  assert targets['heatmaps'].shape == (4, 16, 16, 4)
  assert targets['weights'].shape == (4, 4) and targets['keypoints'].shape == (4, 4, 2)
  codec = HeatmapCodec((64, 64), 4, FULL.sigma)
  vis = tf.cast(targets['weights'] > 0, tf.int32)
  want, _ = codec.encode(targets['keypoints'], vis)
  np.testing.assert_allclose(targets['heatmaps'].numpy(), want.numpy(), atol=1e-6)
  # The training set sees every example once per epoch (no repeat, shuffle only).
  labels = [b[1]['keypoints'].numpy() for b in build_train_dataset(
      records_dir, dataclasses.replace(FULL, augment=False))]
  assert np.concatenate(labels).shape[0] == 20


def test_per_replica_pipelines_split_the_data(records_dir):
  config = dataclasses.replace(FULL, batch_size=4, augment=False)
  seen = []
  for pipeline_id in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=pipeline_id,
                                         num_replicas_in_sync=2)
    batches = _all_batches(build_train_dataset(records_dir, config, input_context=context))
    assert all(b[0].shape[0] == 2 for b in batches)  # per-replica batch = 4 / 2
    seen += [tuple(np.round(k.ravel(), 3)) for b in batches for k in b[1]['keypoints']]
  assert len(seen) == 20 and len(set(seen)) == 20  # disjoint shards, nothing lost


def test_vertical_flip_only_with_v_pairs(tmp_path):
  config = PipelineConfig(batch_size=4, deterministic=True, vflip_prob=1.0, flip_prob=0.0,
                          scale_prob=0.0, rotation_prob=0.0, translate=0.0, color_prob=0.0)
  directory = tmp_path / 'dots'
  truth = fixtures.make_dot_records(directory, num_train=4, num_val=1)
  _, targets = next(iter(build_train_dataset(str(directory), config)))
  ys = np.sort(targets['keypoints'].numpy()[:, 2, 1])
  want = np.sort([t[0][2, 1] - 16 for t in truth['train']])
  np.testing.assert_allclose(ys, want, atol=1e-4)  # definition has no 'v' pairs: no flip
  # With a 'v' pair (left_eye <-> nose) the flip happens and swaps those channels.
  definition = dataclasses.replace(fixtures.DEFINITION, flip_pairs_v=((0, 2),))
  serialized = [fixtures.serialized_example(k, v, i) for i, (k, v) in enumerate(truth['train'])]
  write_shards(str(tmp_path / 'v'), {'train': serialized}, definition=definition,
               input_shape=fixtures.INPUT_SHAPE, crop_shape=(96, 96), source='test')
  _, targets = next(iter(build_train_dataset(str(tmp_path / 'v'), config)))
  got = np.sort(targets['keypoints'].numpy()[:, 2, 1])
  want = np.sort([63 - (t[0][0, 1] - 16) for t in truth['train']])
  np.testing.assert_allclose(got, want, atol=1e-4)


def test_errors_name_the_records(tmp_path, records_dir):
  with pytest.raises(RecordsError, match='cannot fill one batch'):
    build_train_dataset(records_dir, dataclasses.replace(FULL, batch_size=64))
  with pytest.raises(UserInputError, match=str(tmp_path)):
    build_train_dataset(str(tmp_path), FULL)
  with pytest.raises(RecordsError, match="'test' split"):
    build_eval_dataset(records_dir, FULL, split='test')


def test_a_crop_of_another_size_is_named(tmp_path, records_dir):
  """The batched warp needs every crop at the manifest's crop_shape: a record that decodes to
  another size fails with the records directory, the field and the expected shape."""
  copy = tmp_path / 'records'
  shutil.copytree(records_dir, copy)
  manifest = json.loads((copy / 'manifest.json').read_text())
  manifest['crop_shape'] = [manifest['crop_shape'][0] + 2, manifest['crop_shape'][1]]
  (copy / 'manifest.json').write_text(json.dumps(manifest))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=rf"{copy}.*image/encoded.*crop_shape \({manifest['crop_shape'][0]}"):
    next(iter(build_train_dataset(str(copy), FULL)))
