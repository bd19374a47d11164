"""Flag values -> the library's config objects: one function per concern, used by every mode.

Library code never reads flags; the modes build these plain objects and pass them down.
"""

import dataclasses

from core.errors import UserInputError


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
                     num_keypoints=num_keypoints, sync_bn=bool(sync_bn))


def pipeline_config(flag_values, shape=None):
  """PipelineConfig from the flags named as its fields (pipeline flags, batch_size, seed, ...).

  Args:
    shape: the model input (H, W), or None for the records' own shape.
  Raises:
    PipelineConfigError (a UserInputError): an out-of-range value, naming the setting.
  """
  from pipelines.config import PipelineConfig  # pylint: disable=g-import-not-at-top
  values = {f.name: flag_values[f.name].value for f in dataclasses.fields(PipelineConfig)
            if f.name in flag_values and flag_values[f.name].value is not None
            and f.name not in ('input_shape', 'stride')}
  return PipelineConfig(input_shape=tuple(shape) if shape else None, **values)


def follow_flip_support(pipeline, manifest_raw, flag_values, log=print):
  """The pipeline with horizontal flips off when the records say a flip would swap labels
  (manifest 'horizontal_flip', records.sources.resolve.horizontal_flip_support), unless
  --flip_prob was given on the command line (then a warning)."""
  flip = (manifest_raw or {}).get('horizontal_flip') or {'supported': True}
  if flip['supported'] or not pipeline.flip_prob:
    return pipeline
  if flag_values['flip_prob'].present:
    log(f'warning: --flip_prob={pipeline.flip_prob:g} although these records do not support '
        f'horizontal flips: {flip["reason"]}')
    return pipeline
  log(f'horizontal flips off: {flip["reason"]} (--flip_prob overrides)')
  return dataclasses.replace(pipeline, flip_prob=0.0)


def announce_flip_test(flag_values, predictor, log=print):
  """Prints why --flip_test is off for a model whose records set does not support horizontal
  flips (Predictor.flip_supported); the predictor then predicts without it, warning no more."""
  if flag_values.flip_test:
    predictor.flip_test_used(True, log=lambda message: log(f'warning: --{message}'))


def resolved_flag_overrides(flag_values, pipeline, manifest_raw):
  """{flag name: (value used, why)} of the flags whose value training changed, for flags.txt:
  --flip_prob when the records turned horizontal flips off (follow_flip_support)."""
  if pipeline.flip_prob == flag_values.flip_prob:
    return {}
  flip = (manifest_raw or {}).get('horizontal_flip') or {}
  return {'flip_prob': (pipeline.flip_prob, f'horizontal flips off (the flag said '
                        f'{flag_values.flip_prob:g}): {flip.get("reason", "")}')}


def strategy_config(flag_values):
  from hourglass.training.strategy import StrategyConfig  # pylint: disable=g-import-not-at-top
  return StrategyConfig(
      name=flag_values.strategy, gpu_num=flag_values.gpu_num,
      cpu_replicas=flag_values.cpu_replicas, mixed_precision=flag_values.mixed_precision,
      mixed_precision_dtype=flag_values.mixed_precision_dtype)


def make_records_config(flag_values):
  """MakeRecordsConfig from the flags. Raises UserInputError for a missing --records_dir."""
  from records.make_records import MakeRecordsConfig  # pylint: disable=g-import-not-at-top
  if not flag_values.records_dir:
    raise UserInputError('--records_dir is required for --mode=make_records (the output)')
  return MakeRecordsConfig(
      source=flag_values.source, output_dir=flag_values.records_dir,
      input_shape=input_shape(flag_values),
      dataset_path=flag_values.dataset_path, annotation_path=flag_values.annotation_path,
      val_list=flag_values.val_list, val_fraction=flag_values.val_fraction,
      seed=flag_values.seed, classes_path=flag_values.classes_path,
      matchpoint_path=flag_values.matchpoint_path, skeleton_path=flag_values.skeleton_path,
      sigmas_path=flag_values.sigmas_path, crop_margin=flag_values.crop_margin,
      box_margin=flag_values.box_margin, box_min_side=flag_values.box_min_side,
      examples_per_shard=flag_values.examples_per_shard, num_workers=flag_values.num_workers,
      max_skip_fraction=flag_values.max_skip_fraction, image_format=flag_values.image_format,
      jpeg_quality=flag_values.jpeg_quality,
      allow_outside_paths=flag_values.allow_outside_paths,
      synthetic_count=flag_values.synthetic_count,
      synthetic_val_count=flag_values.synthetic_val_count, add_to=flag_values.add_to)
