"""--mode=import_seed: a model trained with the project we replace, as one of our model
directories.

    python main.py --mode=import_seed --weights_path=hg_s2_mobile_256_mpii.h5 \
        --model_dir=runs/seed_mpii [--classes_path=... --skeleton_path=... --matchpoint_path=...] \
        [--model_input_shape=256x256 (weights-only files)]

Its .h5 (a training checkpoint, a dumped inference model or a weights-only file; told by the
file's layout) becomes <model_dir>/best_model, which eval, predict, select_frames and export.py
take as they take our own (workflows/import_seed.py).
"""

from core.errors import UserInputError
from modes import configs
from workflows import import_seed
from workflows.config import ImportSeedConfig


def run(flag_values):
  """Imports the file and prints what it found; returns the bundle directory."""
  if not flag_values.weights_path or not flag_values.model_dir:
    raise UserInputError('--mode=import_seed needs --weights_path (the seed .h5 file) and '
                         '--model_dir (the model directory to write)')
  shape = (configs.input_shape(flag_values) if flag_values['model_input_shape'].present
           else None)
  config = ImportSeedConfig(
      seed_path=flag_values.weights_path, model_dir=flag_values.model_dir,
      classes_path=flag_values.classes_path, matchpoint_path=flag_values.matchpoint_path,
      skeleton_path=flag_values.skeleton_path, sigmas_path=flag_values.sigmas_path,
      input_shape=shape)
  directory, model_config, seed = import_seed.run(config)
  for line in import_seed.summary(directory, model_config, seed):
    print(line)
  return directory
