"""--mode=visualize end to end through main.py (a real subprocess, real records)."""

import os
import subprocess
import sys

import cv2
import pytest

from core.errors import UserInputError
from pipelines.config import PipelineConfig
from tests.support.dot_records import make_dot_records
from tests.support.paths import ROOT


def test_visualize_writes_a_grid(tmp_path):
  records_dir, output_dir = tmp_path / 'records', tmp_path / 'vis'
  make_dot_records(records_dir, num_train=12, num_val=2)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2')
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'main.py'), '--mode=visualize',
       f'--records_dir={records_dir}', f'--output_dir={output_dir}', '--num_examples=6',
       '--rotation=10', '--sigma=1.5'], capture_output=True, text=True, env=env, cwd=ROOT,
      timeout=120)
  assert result.returncode == 0, result.stderr[-2000:]
  grid = cv2.imread(str(output_dir / 'visualize.png'))
  assert grid.shape == (2 * 64, 3 * 64, 3)  # 6 cells of 64 x 64, 3 columns
  assert (grid.reshape(-1, 3).max(axis=1) > 100).mean() > 0.05  # heatmaps and skeleton drawn
  flagfile = (output_dir / 'flags.txt').read_text()
  assert '--rotation=10.0' in flagfile and '--sigma=1.5' in flagfile


def test_bad_pipeline_setting_is_a_user_error():
  """main.py prints UserInputErrors without a traceback: out-of-range flags must be one."""
  with pytest.raises(UserInputError, match='flip_prob must be a probability'):
    PipelineConfig(flip_prob=1.5)
  with pytest.raises(UserInputError, match='scale_min <= scale_max'):
    PipelineConfig(scale_min=1.3, scale_max=1.2)
