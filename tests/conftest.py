"""Shared test fixtures: quiet TensorFlow, the path to ../shared/data, the tiny untrained model
and the COCO sample's records (session-scoped: under `-n 2 --dist loadfile` each worker builds a
session fixture at most once, however many of its files use it). Helpers live in tests/support/."""

import os
import sys

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
# The one shared precision setting: training defaults to float32 in every test and every
# subprocess it starts (the default is bfloat16 on CPUs with AVX512_BF16 or AMX;
# hourglass/training/precision.py), so runs compare at 1e-5 on any machine. Precision tests ask
# for their precision with flags or call choose_precision directly.
os.environ['HOURGLASS_DEFAULT_PRECISION'] = 'float32'

import pytest  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

from tests.support.paths import SHARED_DATA  # noqa: E402

TINY_INPUT = (64, 64)  # the tiny model's input (height, width)
# Test files that use another file's expensive session fixtures run in that file's process (under
# `--dist loadfile` each file is scheduled on its own and would build them again).
SAME_PROCESS_AS = {'tests/export/test_cpp_programs.py': 'tests/export/test_formats.py'}


def pytest_xdist_make_scheduler(config, log):
  """pytest-xdist's loadfile scheduling, with the files of SAME_PROCESS_AS grouped."""
  if config.getoption('dist') != 'loadfile':
    return None
  from xdist.scheduler import LoadFileScheduling  # pylint: disable=g-import-not-at-top

  class GroupedFileScheduling(LoadFileScheduling):

    def _split_scope(self, nodeid):
      scope = super()._split_scope(nodeid)
      return SAME_PROCESS_AS.get(scope, scope)

  return GroupedFileScheduling(config, log)


@pytest.fixture(scope='session')
def shared_data():
  """Path to ../shared/data; skips outside CI when absent, fails under CI (CI=true)."""
  if not os.path.isdir(SHARED_DATA):
    if os.environ.get('CI') == 'true':
      pytest.fail(f'{SHARED_DATA} is missing under CI')
    pytest.skip(f'{SHARED_DATA} not found (a clone without ../shared beside it)')
  return SHARED_DATA


@pytest.fixture(scope='session')
def tiny_bundle(tmp_path_factory):
  """(model_dir, model): an untrained 1-stack mobile tiny COCO model (64 x 64 input), seeded so
  that its arbitrary outputs do not depend on which tests ran before, saved as
  <model_dir>/best_model. Read-only: tests write their outputs elsewhere."""
  import keras  # pylint: disable=g-import-not-at-top

  from hourglass.keypoints.codec import HeatmapCodec  # pylint: disable=g-import-not-at-top
  from hourglass.model import bundle as bundle_lib  # pylint: disable=g-import-not-at-top
  from hourglass.model.config import ModelConfig  # pylint: disable=g-import-not-at-top
  from hourglass.model.network import build_inference_model  # pylint: disable=g-import-not-at-top
  from records.keypoint_definition import builtin_definition  # pylint: disable=g-import-not-at-top
  keras.utils.set_random_seed(0)
  definition = builtin_definition('coco')
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=TINY_INPUT[0],
                       input_width=TINY_INPUT[1], num_keypoints=definition.num_keypoints)
  model = build_inference_model(config)
  model_dir = tmp_path_factory.mktemp('tiny_model')
  bundle_lib.save_bundle(str(model_dir / 'best_model'), model, config, definition,
                         HeatmapCodec(TINY_INPUT, 4, 2.0).to_dict())
  return str(model_dir), model


@pytest.fixture(scope='session')
def tiny_bundle_dir(tiny_bundle):
  """The tiny model's bundle directory (<model_dir>/best_model of `tiny_bundle`)."""
  return os.path.join(tiny_bundle[0], 'best_model')


@pytest.fixture(scope='session')
def coco_sample_records(shared_data, tmp_path_factory):
  """input_shape -> records dir of the COCO sample, every image in 'val' (so AP is scored against
  the whole annotation file); written once per input shape and worker."""
  # pylint: disable-next=g-import-not-at-top
  from records.make_records import make_records, MakeRecordsConfig
  root = os.path.join(shared_data, 'coco_sample')
  written = {}

  def records_dir(input_shape):
    key = tuple(input_shape)
    if key not in written:
      out = str(tmp_path_factory.mktemp('coco_records') / 'coco')
      make_records(MakeRecordsConfig(
          source='coco', dataset_path=root, output_dir=out, input_shape=key,
          annotation_path=os.path.join(root, 'person_keypoints_sample.json'), val_fraction=1.0,
          num_workers=1, progress=False))
      written[key] = out
    return written[key]
  return records_dir
