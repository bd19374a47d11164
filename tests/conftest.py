"""Shared test fixtures: quiet TensorFlow, the path to ../shared/data, temp folders."""

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
SHARED_DATA = os.path.join(os.path.dirname(ROOT), 'shared', 'data')


@pytest.fixture(scope='session')
def shared_data():
  """Path to ../shared/data; skips outside CI when absent, fails under CI (CI=true)."""
  if not os.path.isdir(SHARED_DATA):
    if os.environ.get('CI') == 'true':
      pytest.fail(f'{SHARED_DATA} is missing under CI')
    pytest.skip(f'{SHARED_DATA} not found (a clone without ../shared beside it)')
  return SHARED_DATA
