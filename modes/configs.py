"""Flag values -> the library's and runs/' config objects: one function per concern.

Library code never reads flags; the modes build these plain objects and pass them down. Where a
config field has a flag of the same name, the field is filled from it by name (`by_name`); the
rest is spelled out. Checks that name a required flag live here, before any work starts.
"""

import copy
import dataclasses
import os
import sys

from core.errors import UserInputError


def by_name(cls, flag_values, skip=(), **given):
  """A `cls` whose fields are the flags of the same name (but those in `skip` and `given`, and
  those whose flag is None: the field keeps its default), and `given`."""
  values = {f.name: flag_values[f.name].value for f in dataclasses.fields(cls)
            if f.name in flag_values and f.name not in skip and f.name not in given
            and flag_values[f.name].value is not None}
  return cls(**values, **given)


class FlagView:
  """Read-only flag values with some values replaced, for running several modes' steps from one
  command line (the quickstart). The FlagValues underneath is never changed.

  Args:
    flag_values: absl FlagValues (or another FlagView).
    defaults: {flag name: value} used where the flag was not given on the command line (None
      values are ignored).
    fixed: {flag name: value} used whatever the command line says.
  """

  def __init__(self, flag_values, defaults=None, fixed=None):
    self._flag_values = flag_values
    self._values = {name: value for name, value in (defaults or {}).items()
                    if value is not None and name in flag_values
                    and not flag_values[name].present}
    self._values.update(fixed or {})

  def fixed(self, **values):
    """A view of this view with `values` fixed."""
    return FlagView(self, fixed=values)

  def __getattr__(self, name):
    if name.startswith('_'):
      raise AttributeError(name)
    if name in self._values:
      return self._values[name]
    return getattr(self._flag_values, name)

  def __getitem__(self, name):
    flag = self._flag_values[name]
    if name in self._values:
      flag = copy.deepcopy(flag)
      flag.value = self._values[name]
    return flag

  def __contains__(self, name):
    return name in self._flag_values

  def __iter__(self):
    return iter(self._flag_values)

  def find_module_defining_flag(self, name, default=None):
    return self._flag_values.find_module_defining_flag(name, default)


def settings_recorder(flag_values):
  """record_settings of the runs' configs: the resolved flags written into the run's folder."""
  from flags.common import save_resolved_flags  # pylint: disable=g-import-not-at-top
  return lambda directory, overrides=None: save_resolved_flags(flag_values, directory, overrides)


def default_precision(environ=None):
  """What an unset --mixed_precision means: HOURGLASS_DEFAULT_PRECISION, else 'auto'."""
  from hourglass.training.precision import DEFAULT_ENV  # pylint: disable=g-import-not-at-top
  return (os.environ if environ is None else environ).get(DEFAULT_ENV) or 'auto'


def input_shape(flag_values):
  """(H, W) of --model_input_shape. Raises UserInputError for a malformed shape."""
  from hourglass.model.config import parse_input_shape  # pylint: disable=g-import-not-at-top
  try:
    return parse_input_shape(flag_values.model_input_shape)
  except ValueError as e:
    raise UserInputError(f'--model_input_shape: {e}') from None


def input_shape_or(flag_values, records_shape):
  """--model_input_shape when given on the command line, else `records_shape` (may be None)."""
  if flag_values['model_input_shape'].present:
    return input_shape(flag_values)
  return tuple(records_shape) if records_shape is not None else None


def model_config(flag_values, num_keypoints, shape=None, sync_bn=None):
  """ModelConfig from the model flags, K, and the input shape (default: --model_input_shape)."""
  from hourglass.model.config import ModelConfig  # pylint: disable=g-import-not-at-top
  height, width = shape if shape is not None else input_shape(flag_values)
  if sync_bn is None:
    sync_bn = flag_values.sync_bn
  return ModelConfig(num_stacks=flag_values.num_stacks, mobile=flag_values.mobile,
                     tiny=flag_values.tiny, input_height=height, input_width=width,
                     num_keypoints=num_keypoints, sync_bn=bool(sync_bn),
                     input_normalization=flag_values.input_normalization)


def pipeline_config(flag_values, shape=None):
  """PipelineConfig from the flags named as its fields (pipeline flags, batch_size, seed, ...).

  Args:
    shape: the model input (H, W), or None for the records' own shape.
  Raises:
    PipelineConfigError (a UserInputError): an out-of-range value, naming the setting.
  """
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  return by_name(PipelineConfig, flag_values, skip=('stride',),
                 input_shape=tuple(shape) if shape else None)


def strategy_config(flag_values):
  """StrategyConfig: --strategy is its name, the other fields are flags of their names."""
  from hourglass.training.train_config import StrategyConfig  # pylint: disable=g-import-not-at-top
  return by_name(StrategyConfig, flag_values, name=flag_values.strategy)


def train_config(flag_values):
  """TrainConfig from the flags named as its fields; steps_per_epoch 0 (none given) and the run
  length are resolved from the records by workflows.train.sized."""
  from hourglass.training.train_config import TrainConfig  # pylint: disable=g-import-not-at-top
  return by_name(TrainConfig, flag_values, model_dir=flag_values.model_dir,
                 steps_per_epoch=flag_values.steps_per_epoch or 0,
                 total_epoch=flag_values.total_epoch, train_steps=flag_values.train_steps)


def train_run_config(flag_values):
  """TrainRunConfig of --mode=train. Raises UserInputError without --records_dir/--model_dir."""
  from hourglass.model.config import ModelConfig  # pylint: disable=g-import-not-at-top
  from workflows.config import TrainRunConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.records_dir:
    raise UserInputError('--mode=train needs --records_dir (made by --mode=make_records)')
  if not flag_values.model_dir:
    raise UserInputError('--mode=train needs --model_dir (checkpoints, logs and the best model)')
  return by_name(
      TrainRunConfig, flag_values, training=train_config(flag_values),
      pipeline=pipeline_config(flag_values),
      model=by_name(ModelConfig, flag_values, skip=('num_keypoints', 'sync_bn')),
      strategy=strategy_config(flag_values),
      input_shape=input_shape_or(flag_values, None),
      flip_prob_given=flag_values['flip_prob'].present,
      default_precision=default_precision(), record_settings=settings_recorder(flag_values))


def eval_config(flag_values):
  """EvalConfig from the flags named as its fields, --score_threshold the PCK threshold."""
  from hourglass.evaluation.config import EvalConfig  # pylint: disable=g-import-not-at-top
  return by_name(EvalConfig, flag_values, skip=('output_dir',))


def evaluate_config(flag_values):
  """EvaluateConfig of --mode=eval. Raises UserInputError without --records_dir."""
  from workflows.config import EvaluateConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.records_dir:
    raise UserInputError('--mode=eval needs --records_dir (the records to evaluate on)')
  return by_name(EvaluateConfig, flag_values, evaluation=eval_config(flag_values),
                 model_path=flag_values.model_path,
                 record_settings=settings_recorder(flag_values))


def export_config(flag_values):
  """ExportConfig: every field is the flag of its name. Raises UserInputError for bad formats."""
  from hourglass.export.config import ExportConfig  # pylint: disable=g-import-not-at-top
  return by_name(ExportConfig, flag_values, formats=tuple(flag_values.formats),
                 mnn_float_layers=tuple(flag_values.mnn_float_layers))


def proof_config(flag_values):
  """ProofConfig from the flags named as its fields; --latency_threads as integers."""
  from hourglass.export.config import ProofConfig  # pylint: disable=g-import-not-at-top
  try:
    threads = tuple(int(t) for t in flag_values.latency_threads)
  except ValueError:
    raise UserInputError(f'--latency_threads={flag_values.latency_threads}: expected '
                         f'integers') from None
  return by_name(ProofConfig, flag_values, latency_threads=threads)


def export_run_config(flag_values):
  """ExportRunConfig of export.py (and the quickstart); the report names this process's command.

  Raises:
    UserInputError: no --output_dir or --model_dir, bad formats or latency threads.
  """
  from workflows.config import ExportRunConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.output_dir:
    raise UserInputError('--output_dir is required: where the exported files go')
  export = export_config(flag_values)
  if not flag_values.model_dir:
    raise UserInputError('--model_dir is required: a training model directory or a bundle')
  return by_name(ExportRunConfig, flag_values, export=export, proof=proof_config(flag_values),
                 command=' '.join(['python'] + sys.argv),
                 record_settings=settings_recorder(flag_values))


def analysis_config(flag_values):
  """The video analysis settings of the tracking and smoothing flags (predict, select_frames)."""
  from hourglass.inference.smoothing import SmoothingConfig  # pylint: disable=g-import-not-at-top
  # pylint: disable-next=g-import-not-at-top
  from hourglass.inference.config import AnalysisConfig, IdentityConfig, TrackConfig
  return AnalysisConfig(
      track=TrackConfig(min_score=flag_values.track_min_score,
                        check_every=flag_values.search_every),
      smoothing=SmoothingConfig(flag_values.smoothing, flag_values.pcutoff,
                                flag_values.smooth_window, flag_values.smooth_polyorder,
                                flag_values.max_gap, flag_values.one_euro_min_cutoff,
                                flag_values.one_euro_beta),
      identity=IdentityConfig(num_objects=flag_values.num_objects,
                              lost_frames=flag_values.track_lost_frames,
                              confirm_frames=flag_values.track_confirm_frames,
                              detect_every=flag_values.detect_every),
      draw=flag_values.draw, trail=flag_values.trail, max_frames=flag_values.max_frames)


def predict_run_config(flag_values):
  """PredictRunConfig of --mode=predict: PredictConfig from the flags named as its fields."""
  from hourglass.inference.config import PredictConfig  # pylint: disable=g-import-not-at-top
  from workflows.config import PredictRunConfig  # pylint: disable=g-import-not-at-top
  predict = by_name(PredictConfig, flag_values, input=flag_values.input,
                    analysis=analysis_config(flag_values))
  return by_name(PredictRunConfig, flag_values, model_path=flag_values.model_path,
                 predict=predict)


def select_frames_config(flag_values):
  """SelectFramesConfig of --mode=select_frames.

  Raises:
    UserInputError: no --input or --output_dir.
  """
  from hourglass.labelling.selection import SelectConfig  # pylint: disable=g-import-not-at-top
  from workflows.config import SelectFramesConfig  # pylint: disable=g-import-not-at-top
  if flag_values.input is None:
    raise UserInputError('--mode=select_frames needs --input (a video, a --mode=predict '
                         'analysis JSON, a folder of images, or several videos)')
  if flag_values.output_dir is None:
    raise UserInputError('--mode=select_frames needs --output_dir (where the frames and the '
                         'labelling tool\'s files go)')
  selection = by_name(SelectConfig, flag_values, spacing=flag_values.select_spacing)
  return by_name(SelectFramesConfig, flag_values, analysis=analysis_config(flag_values),
                 selection=selection)


def make_records_config(flag_values):
  """MakeRecordsConfig from the flags named as its fields; --records_dir is its output_dir.

  Raises:
    UserInputError: no --records_dir, or a malformed --model_input_shape.
  """
  from records.config import MakeRecordsConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.records_dir:
    raise UserInputError('--records_dir is required for --mode=make_records (the output)')
  return by_name(MakeRecordsConfig, flag_values, output_dir=flag_values.records_dir,
                 input_shape=input_shape(flag_values))


def visualize_config(flag_values):
  """VisualizeConfig of --mode=visualize. Raises UserInputError without --records_dir."""
  from workflows.config import VisualizeConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.records_dir:
    raise UserInputError('--mode=visualize needs --records_dir (a make_records output)')
  return by_name(VisualizeConfig, flag_values,
                 pipeline=pipeline_config(flag_values, input_shape_or(flag_values, None)),
                 record_settings=settings_recorder(flag_values))
