"""Every flag default is its config field's default: flags/ read them from the config dataclasses
(flags.common.field_defaults), so that each default is written once.

A flag and a field meet by name (early_stopping_patience, total_epoch, ...) or, where the field
has its own name inside a smaller config (SmoothingConfig.window for --smooth_window), through
RENAMED.
"""

import ast
import dataclasses
import glob
import os

import pytest

from tests.support.paths import ROOT


def _configs():
  """Every config dataclass that modes/configs.py fills from flags."""
  # pylint: disable=g-import-not-at-top
  from hourglass.evaluation.config import EvalConfig
  from hourglass.export.config import ExportConfig, ProofConfig
  from hourglass.inference.config import (AnalysisConfig, PredictConfig, SearchConfig,
                                          TrackConfig)
  from hourglass.inference.smoothing import SmoothingConfig
  from hourglass.labelling.selection import SelectConfig
  from hourglass.model.config import ModelConfig
  from hourglass.training.train_config import StrategyConfig, TrainConfig
  from pipelines.config import PipelineConfig
  from records.config import MakeRecordsConfig
  from workflows import config as runs_config
  return {c.__name__: c for c in (
      EvalConfig, ExportConfig, ProofConfig, PredictConfig, SearchConfig, SmoothingConfig,
      TrackConfig, AnalysisConfig, SelectConfig, ModelConfig, StrategyConfig, TrainConfig,
      PipelineConfig, MakeRecordsConfig, runs_config.TrainRunConfig, runs_config.EvaluateConfig,
      runs_config.ExportRunConfig, runs_config.PredictRunConfig, runs_config.SelectFramesConfig,
      runs_config.VisualizeConfig)}


# flag -> (config, field) where the field has another name than the flag.
RENAMED = {
    'strategy': ('StrategyConfig', 'name'),
    'smoothing': ('SmoothingConfig', 'method'),
    'pcutoff': ('SmoothingConfig', 'min_score'),
    'smooth_window': ('SmoothingConfig', 'window'),
    'smooth_polyorder': ('SmoothingConfig', 'polyorder'),
    'one_euro_min_cutoff': ('SmoothingConfig', 'min_cutoff'),
    'one_euro_beta': ('SmoothingConfig', 'beta'),
    'track_min_score': ('TrackConfig', 'min_score'),
    'search_every': ('TrackConfig', 'check_every'),
    'select_spacing': ('SelectConfig', 'spacing'),
}
# (config, field) whose flag of the same name means something else by its default (None: "not
# given", resolved by the run), so the two defaults differ on purpose.
OTHER_MEANING = {
    ('TrainConfig', 'total_epoch'): 'None: --train_steps or the length rule (workflows.train)',
    ('ModelConfig', 'num_keypoints'): 'None: K from the keypoint definition',
    ('ModelConfig', 'sync_bn'): 'None: on with more than one replica (TrainRunConfig.sync_bn)',
    ('VisualizeConfig', 'output_dir'): 'None: each mode has its own place',
}


@pytest.fixture(scope='module')
def flag_values():
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top

  import flags  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  return absl_flags.FLAGS


def _pairs(flag_values):
  """[(flag name, config name, field name, field default)] of every flag met by a field."""
  found = []
  for name, cls in _configs().items():
    for field in dataclasses.fields(cls):
      if (field.default is dataclasses.MISSING or dataclasses.is_dataclass(field.default)
          or (name, field.name) in OTHER_MEANING):
        continue  # no default, a nested config (its own fields are met), or another meaning
      if field.name in flag_values:
        found.append((field.name, name, field.name, field.default))
  for flag, (name, field_name) in RENAMED.items():
    field = {f.name: f for f in dataclasses.fields(_configs()[name])}[field_name]
    found.append((flag, name, field_name, field.default))
  return found


def _same(flag, default):
  if isinstance(flag.default, list):  # a DEFINE_list: the field holds the parsed items
    return flag.default == [str(v) for v in default]
  return flag.default == default


def test_every_flag_default_is_its_fields(flag_values):
  pairs = _pairs(flag_values)
  assert len(pairs) > 80, pairs  # the train, eval, export, pipeline, records and model flags
  wrong = [f'--{flag}={flag_values[flag].default!r} but {name}.{field} = {default!r}'
           for flag, name, field, default in pairs if not _same(flag_values[flag], default)]
  assert not wrong, '\n'.join(wrong)


def test_the_input_shape_flag_is_the_model_configs(flag_values):
  from hourglass.model.config import ModelConfig  # pylint: disable=g-import-not-at-top
  from records.config import MakeRecordsConfig  # pylint: disable=g-import-not-at-top
  config = ModelConfig()
  shape = flag_values['model_input_shape'].default
  assert shape == f'{config.input_height}x{config.input_width}'
  assert MakeRecordsConfig.input_shape == (config.input_height, config.input_width)


def _literal_defaults():
  """{flag name: file} of every flag defined in flags/ with a literal default (not None)."""
  found = {}
  for path in glob.glob(os.path.join(ROOT, 'flags', '*.py')):
    with open(path, encoding='utf-8') as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr.startswith('DEFINE_') and len(node.args) >= 2
          and isinstance(node.args[0], ast.Constant)):
        default = node.args[1]
        literal = isinstance(default, (ast.Constant, ast.List, ast.Tuple, ast.UnaryOp))
        if literal and not (isinstance(default, ast.Constant) and default.value is None):
          found[node.args[0].value] = os.path.relpath(path, ROOT)
  return found


def test_no_flag_writes_a_default_a_config_holds(flag_values):
  """A literal default in flags/ for a flag that a config field meets is a second copy."""
  met = {flag for flag, _, _, _ in _pairs(flag_values)}
  copies = sorted(f'{path}: --{flag}' for flag, path in _literal_defaults().items()
                  if flag in met)
  assert not copies, 'read these defaults from their config:\n' + '\n'.join(copies)


def test_a_mismatch_fails(flag_values):
  """The comparison sees a disagreeing pair (the check itself works)."""
  flag = flag_values['latency_runs']
  assert _same(flag, flag.default) and not _same(flag, flag.default + 1)
  threads = flag_values['latency_threads']
  assert _same(threads, (1, 2)) and not _same(threads, (1,))
