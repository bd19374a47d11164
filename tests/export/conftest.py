"""The export tests' expensive fixtures: a tiny model fitted for 300 steps (about a minute on a
loaded 2-core machine) and one export.py run of every format. Session-scoped and used by
tests/export/test_formats.py and tests/export/test_cpp_programs.py, which tests/conftest.py's
scheduler keeps in one process (under `--dist loadfile` a second file could otherwise land in the
other worker and build them again)."""

import os
import subprocess
import sys

import pytest

from hourglass.export import FORMATS
from tests.support import guard
from tests.support.fitted_model import FP16_TOLERANCE, make_bundle, make_records
from tests.support.paths import ROOT


@pytest.fixture(scope='session')
def trained(tmp_path_factory):
  """The fitted model: its records, model dir and bundle, the Keras model, config and codec."""
  root = tmp_path_factory.mktemp('export')
  records = str(root / 'records')
  images, keypoints = make_records(records)
  model_dir = root / 'model'
  model, config, codec = make_bundle(str(model_dir / 'best_model'), images, keypoints,
                                     steps=300)
  return {'root': root, 'records': records, 'model_dir': str(model_dir), 'model': model,
          'config': config, 'codec': codec,
          'bundle': str(model_dir / 'best_model')}


@pytest.fixture(scope='session')
def exported(trained):
  """One export.py run of every format under tests/support/guard.py's guard (no network, no
  foreign program), from a working folder of its own: (process, output dir, working dir,
  guard log)."""
  work = trained['root'] / 'work'
  work.mkdir()
  out = str(work / 'exported')
  log = str(trained['root'] / 'guard' / 'started.log')
  env = guard.guarded_env(str(trained['root'] / 'guard'), log)
  cmd = [sys.executable, os.path.join(ROOT, 'export.py'), f'--model_dir={trained["model_dir"]}',
         f'--records_dir={trained["records"]}', f'--output_dir={out}',
         f'--formats={",".join(FORMATS)}', '--check_samples=8', '--calibration_samples=8',
         '--with_decoder', '--latency_threads=', '--batch_size=8',
         # The fitted heatmaps peak near 15 (10x targets, for clear peaks in 300 steps). float16
         # weights move them by 0.04-0.07 for most seeds of the fit, but by up to 1.5 (10% of
         # the peak) for about one in five: 300 steps on 16 images can end in a model that turns
         # a 1e-4 relative change of its input into 0.36 (measured with float16-rounded Keras
         # weights over 20 seeds, with either separable conv layer). The 0.02 default is set for
         # heatmaps that peak near 1, as the product's trained models do.
         f'--parity_tolerance_fp16={FP16_TOLERANCE}']
  # subprocess.run kills the child when it runs past the timeout; it has ended before any assert.
  proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(work), check=False,
                        env=dict(env, TF_CPP_MIN_LOG_LEVEL='2'), timeout=900)
  return proc, out, str(work), log


@pytest.fixture(scope='session')
def nchw_dynamic_exports(trained, tmp_path_factory):
  """The fitted model exported with NCHW ONNX and MNN files and a dynamic batch (TFLite too):
  {format: (path, metadata)} of hourglass.export.runner.export_all."""
  from hourglass.export import runner  # pylint: disable=g-import-not-at-top
  from tests.support.fitted_model import DEFINITION  # pylint: disable=g-import-not-at-top
  config = runner.ExportConfig(formats=('tflite', 'onnx', 'mnn'),
                               output_dir=str(tmp_path_factory.mktemp('nchw_dynamic')),
                               nchw=True, dynamic_batch=True)
  exports, _ = runner.export_all(trained['model'], trained['config'], DEFINITION,
                                 trained['codec'], config)
  return exports
