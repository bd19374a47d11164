"""A model trained with the seed project, written as one of our model directories: its network
with the file's weights (hourglass/model/seed_import.py) and the keypoint definition, saved as
`<model_dir>/best_model`, the bundle every mode and export.py take through --model_path /
--model_dir.

The bundle records the seed's heatmap targets (stride 4, sigma 1) and its input normalisation
(inside the model). Whole images are letterboxed like our own models' (`--eval_box=letterbox`,
the whole-frame search), not stretched as the seed's demo does: the seed trained on square crops
around each person, undistorted, so a stretched frame shows it shapes it never saw.
"""

import os

from hourglass.model import bundle, seed_import
from hourglass.model.network import inference_model


def run(config):
  """Imports config.seed_path into config.model_dir.

  Returns:
    (the bundle directory, the ModelConfig, the SeedFile).
  Raises:
    UserInputError: naming the file for a file that is no seed model, or a definition whose
      keypoint count differs from the model's.
  """
  model, model_config, seed = seed_import.import_model(config.seed_path, config.input_shape)
  keypoints = seed_import.definition(config.seed_path, model_config.num_keypoints,
                                     config.classes_path, config.matchpoint_path,
                                     config.skeleton_path, config.sigmas_path)
  directory = bundle.best_model_dir(config.model_dir)
  bundle.save_bundle(directory, inference_model(model), model_config, keypoints,
                     seed_import.codec_settings(model_config),
                     flip=seed_import.flip_setting(keypoints))
  return directory, model_config, seed


def summary(directory, model_config, seed):
  """The lines that say what was imported."""
  kind = {'checkpoint': 'training checkpoint (optimizer state ignored)',
          'inference': 'dumped inference model', 'weights': 'weights-only file'}[seed.kind]
  return [f'imported {seed.path} ({kind}): {model_config.num_stacks} stacks, '
          f'{"mobile" if model_config.mobile else "standard"}'
          f'{" tiny" if model_config.tiny else ""}, {model_config.num_keypoints} keypoints, '
          f'input {model_config.input_height}x{model_config.input_width}',
          f'model directory: {os.path.dirname(directory)} (use it as --model_path, '
          f'export.py --model_dir, or --weights_path with --input_normalization=seed_mean)']
