"""Flags shared by several modes, writing the resolved flags into an output folder, and
reading flag defaults from the config dataclasses (field_defaults)."""

import copy
import dataclasses
import json
import os

from absl import flags as absl_flags

from core import files
from core.errors import StorageError
from hourglass.evaluation.config import EvalConfig
from pipelines.config import PipelineConfig


def field_defaults(cls):
  """{field name: default} of the fields of a config dataclass that have a plain default.

  Flags take their defaults from here, so that each default is written once, in the config
  (tests/flags/test_defaults.py compares every flag default with its field's).
  """
  return {f.name: f.default for f in dataclasses.fields(cls)
          if f.default is not dataclasses.MISSING}


_PIPELINE = field_defaults(PipelineConfig)
_EVAL = field_defaults(EvalConfig)

# The modes of main.py, each a module of modes/ with run(flag_values).
MODES = ('quickstart', 'make_records', 'train', 'eval', 'predict', 'select_frames', 'visualize',
         'summary', 'import_seed')

absl_flags.DEFINE_enum('mode', MODES[0], MODES,
                       'What to run. No flags at all runs the synthetic quickstart end to end.')
absl_flags.DEFINE_integer('seed', _PIPELINE['seed'],
                          'Seed for splits, synthetic data, augmentation and init.')
absl_flags.DEFINE_string('records_dir', None,
                         'make_records output; train, eval, visualize and export input.')
absl_flags.DEFINE_string('model_dir', None,
                         'Training output (checkpoints, best model, logs); resumed when it exists.')
absl_flags.DEFINE_string('model_path', None,
                         'eval/predict: a model directory or a .keras, SavedModel, .tflite, '
                         '.onnx or .mnn file.')
absl_flags.DEFINE_string('output_dir', None, 'Where eval, export and visualize write their files.')
absl_flags.DEFINE_integer('batch_size', _PIPELINE['batch_size'],
                          'Global batch size (over all replicas).',
                          lower_bound=1)
absl_flags.DEFINE_string('classes_path', None, 'Keypoint names, one a line (overrides the source).')
absl_flags.DEFINE_string('matchpoint_path', None,
                         'Flip pairs "name1,name2,h|v" per line (overrides the source).')
absl_flags.DEFINE_string('skeleton_path', None,
                         'Skeleton edges "start,end,color" per line (overrides the source).')
absl_flags.DEFINE_string('sigmas_path', None,
                         'Per-keypoint OKS sigmas "name,sigma" per line, for COCO AP.')
absl_flags.DEFINE_float('score_threshold', _EVAL['score_threshold'],
                        'PCK threshold (normalised by heatmap side / 10).')
absl_flags.DEFINE_bool('deterministic', _PIPELINE['deterministic'],
                       'Op determinism on and a seeded pipeline: identical runs, slower.')

FLAGFILE_NAME = 'flags.txt'
SEED_FILE_NAME = 'seed.json'


def save_resolved_flags(flag_values, directory, overrides=None):
  """Writes every flag's resolved value as a flagfile, and the seed, into `directory`.

  The flagfile can be passed back with `--flagfile` to repeat the run.

  Args:
    overrides: {flag name: (value, why)} of flags the run used another value of than the flag
      held (e.g. --flip_prob turned off by the records): the value used is written, after a
      comment line '# why' (absl flagfiles skip lines starting with '#').

  Raises:
    StorageError: naming the folder when it cannot be created or written (a path through a
      file, no permission, a full disk).
  """
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    raise StorageError(f'{directory}: cannot create the output folder ({e.strerror or e})'
                       ) from None
  lines, overrides = [], dict(overrides or {})
  for name in sorted(flag_values):
    flag = flag_values[name]
    module = flag_values.find_module_defining_flag(name) or ''
    if name in overrides:
      value, why = overrides.pop(name)
      used = copy.deepcopy(flag)
      used.value = value
      lines += ['# ' + ' '.join(str(why).split()), used.serialize()]
      continue
    if not module.startswith('flags.') or flag.value is None:
      continue
    lines.append(flag.serialize())
  _write_atomic(os.path.join(directory, FLAGFILE_NAME), '\n'.join(lines) + '\n')
  _write_atomic(os.path.join(directory, SEED_FILE_NAME),
                json.dumps({'seed': flag_values.seed}) + '\n')


def _write_atomic(path, text):
  try:
    files.write_text(path, text)
  except OSError as e:
    raise StorageError(f'{path}: cannot write ({e.strerror or e})') from None
