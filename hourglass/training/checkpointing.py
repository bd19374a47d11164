"""Training state on disk: checkpoints for exact resume, the model-config guard, and starting
from another model's weights by layer name.

Layout inside a model_dir:
  checkpoints/ckpt-<step>.*      tf.train.CheckpointManager (model, optimizer with its step and
                                 slots and loss scale, global step, epoch, best PCK)
  checkpoints/model_config.json  the ModelConfig the checkpoints belong to
"""

import os
import shutil
import signal
import tempfile

import numpy as np
import tensorflow as tf

from hourglass.model import fuse_separable, fused_batch_norm  # noqa: F401 (register
# SeparableConv1x1 and FusedBatchNorm for load_model)
from hourglass.model.config import ModelConfig
from core import files
from core.errors import StorageError, UserInputError

CHECKPOINT_DIR = 'checkpoints'
MODEL_CONFIG_FILE = 'model_config.json'
# The flag that sets each architecture field, for error messages.
FIELD_FLAGS = {'num_stacks': '--num_stacks', 'mobile': '--mobile', 'tiny': '--tiny',
               'input_height': '--model_input_shape', 'input_width': '--model_input_shape',
               'num_keypoints': 'the keypoint definition (--records_dir / --classes_path)',
               'input_normalization': '--input_normalization'}


class CheckpointKeeper:
  """Saves and restores one tf.train.Checkpoint; only the chief writes into model_dir.

  Under MultiWorkerMirroredStrategy every worker must call save() (the save is collective); the
  non-chief workers write into a temporary directory that is removed right after.
  """

  def __init__(self, model_dir, checkpoint, chief=True, max_to_keep=3, faults=None):
    self.directory = os.path.join(model_dir, CHECKPOINT_DIR)
    self.checkpoint = checkpoint
    self.chief = chief
    self.max_to_keep = max_to_keep
    self.faults = faults  # test hooks (hourglass.training.faults), None in production
    self.manager = tf.train.CheckpointManager(checkpoint, self.directory, max_to_keep=max_to_keep)

  @property
  def latest(self):
    return self.manager.latest_checkpoint

  def restore_latest(self):
    """Restores the newest checkpoint, if any. Returns its path or None."""
    path = self.manager.latest_checkpoint
    if path:
      # expect_partial: the optimizer may hold slots of variables a caller does not track.
      self.checkpoint.restore(path).assert_existing_objects_matched().expect_partial()
    return path

  def _remove_partial(self, step):
    """Removes what a failed save of `step` left: TF's `ckpt-<step>_temp` folder and any of
    `ckpt-<step>`'s files (the state file never named them, so nothing reads them)."""
    prefix = f'ckpt-{step}'
    for name in os.listdir(self.directory):
      if name.startswith((f'{prefix}_temp', f'{prefix}.')):
        path = os.path.join(self.directory, name)
        if os.path.isdir(path):
          shutil.rmtree(path, ignore_errors=True)
        else:
          try:
            os.remove(path)
          except OSError:
            pass

  def save(self, step):
    """Writes a checkpoint for `step` (int). Returns the chief's path (None on other workers).

    The checkpoint's files are written first and the `checkpoint` state file naming the latest
    one is replaced after, so a kill or a full disk in between leaves the previous checkpoint
    the latest, intact; a failed save removes its own partial files.

    Raises:
      StorageError: the files cannot be written (full disk, file-size limit, no permission).
    """
    if self.chief:
      if self.faults and self.faults.kills_before_latest(step):
        # Test hook: this checkpoint's files exist, the state file does not name them yet.
        self.checkpoint.write(os.path.join(self.directory, f'ckpt-{int(step)}'))
        os.kill(os.getpid(), signal.SIGKILL)
      try:
        return self.manager.save(checkpoint_number=int(step))
      except (OSError, tf.errors.OpError) as e:
        self._remove_partial(int(step))
        detail = getattr(e, 'strerror', None) or getattr(e, 'message', None) or ''
        raise StorageError(
            f'{self.directory}: cannot write the checkpoint of step {int(step)} '
            f'({type(e).__name__}{": " + detail if detail else ""}; a full disk or a file-size '
            f'limit?); the latest complete checkpoint is still '
            f'{self.manager.latest_checkpoint or "none"}') from None
    scratch = tempfile.mkdtemp(prefix='hourglass-worker-ckpt-')
    try:
      tf.train.CheckpointManager(self.checkpoint, scratch, max_to_keep=1).save(
          checkpoint_number=int(step))
    finally:
      shutil.rmtree(scratch, ignore_errors=True)
    return None


def check_model_config(model_dir, model_config, chief=True):
  """Refuses to resume a model_dir whose checkpoints belong to another architecture.

  Writes the config on first use (chief only). Raises UserInputError naming the differing flags,
  or when there are checkpoints but no saved config (e.g. the folder was deleted while a stopped
  run wrote its last checkpoint): nothing then says which flags trained them, and convolution
  weights load into a model of another input size without a complaint.
  """
  path = os.path.join(model_dir, CHECKPOINT_DIR, MODEL_CONFIG_FILE)
  latest = tf.train.latest_checkpoint(os.path.dirname(path))
  if latest and not os.path.isfile(path):
    raise UserInputError(
        f'{os.path.dirname(path)}: holds checkpoints ({os.path.basename(latest)}) but no '
        f'{MODEL_CONFIG_FILE}, so the model flags that trained them are unknown; resuming '
        f'could silently load them into another architecture. Move them away, or start a new '
        f'--model_dir with --weights_path={model_dir}.')
  if os.path.isfile(path):
    raw = files.read_json(path, 'the saved model config')
    try:
      saved = ModelConfig.from_dict(raw)
    except (ValueError, TypeError) as e:
      raise UserInputError(f'{path}: cannot read the saved model config ({e})') from None
    diffs = []
    for field in ModelConfig.ARCHITECTURE_FIELDS:
      old, new = getattr(saved, field), getattr(model_config, field)
      if old != new:
        diffs.append(f'{FIELD_FLAGS[field]} ({field}: checkpoint {old}, now {new})')
    if diffs:
      raise UserInputError(
          f'{model_dir}: its checkpoints were trained with other model flags: '
          f'{"; ".join(diffs)}. Use the same flags to resume, or another --model_dir '
          f'(--weights_path={model_dir} starts a new model from its weights).')
    return
  if chief:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.write_json(path, model_config.to_dict(), indent=2)


def _source_weights(weights_path):
  """{layer name: [numpy arrays]} from a model dir, a bundle, a .keras, a .weights.h5 file or a
  model of the seed project (a Keras 2 .h5: hourglass/model/seed_import.py, told by its layout);
  the layer `front_normalize` (the input normalisation, no weights) maps to its config."""
  from hourglass.model import bundle  # local: keeps this module importable without Keras models
  from hourglass.model import seed_import
  import keras
  path = weights_path
  if os.path.isfile(path) and ((path.endswith('.h5') and not path.endswith('.weights.h5')) or
                               seed_import.is_seed_file(path)):  # errors name what it is
    weights = seed_import.weights_by_our_names(seed_import.read_seed_file(path))
    weights[_NORMALIZE] = seed_import.SEED_NORMALIZATION
    return weights
  if os.path.isdir(path):
    path = bundle.find_bundle(weights_path)
    if path is None:
      raise UserInputError(f'--weights_path={weights_path}: neither a model directory with a '
                           'best_model/ nor a model bundle')
    model, config = bundle.load_bundle(path)[:2]
    return dict({l.name: l.get_weights() for l in model.layers},
                **{_NORMALIZE: config.input_normalization})
  if path.endswith('.weights.h5'):
    return _h5_weights(path)
  if path.endswith('.keras') and os.path.isfile(path):
    try:
      model = keras.models.load_model(path, compile=False)
    except Exception as e:  # Keras raises many types for a file that is not a model
      raise UserInputError(f'--weights_path={path}: not a loadable Keras model ({e})') from None
    return {l.name: l.get_weights() for l in model.layers}
  raise UserInputError(f'--weights_path={weights_path}: expected a model directory, a bundle, '
                       'a .keras or a .weights.h5 file, or a Keras 2 .h5 model of the seed '
                       'project')


# Where _source_weights puts the source's input normalisation (no layer has this name).
_NORMALIZE = ' input_normalization'


def _h5_weights(path):
  """Reads a Keras 3 .weights.h5 file: layers/<name>/vars/<i>."""
  import h5py
  try:
    with h5py.File(path, 'r') as f:
      found = {}
      def visit(name, obj):
        parts = name.split('/')
        if isinstance(obj, h5py.Group) and parts[-1] == 'vars' and len(parts) >= 2:
          arrays = [np.asarray(obj[k]) for k in sorted(obj.keys(), key=int)]
          if arrays:
            found[parts[-2]] = arrays
      f.visititems(visit)
      return found
  except OSError as e:
    raise UserInputError(f'--weights_path={path}: cannot read ({e})') from None


def load_weights_by_name(model, weights_path, log=print, input_normalization=None):
  """Copies weights into `model` layer by layer, matching names; skips shape mismatches.

  Args:
    input_normalization: the model's ModelConfig.input_normalization; a source that records
      another (a bundle, a seed file) is refused, as its weights expect other input values.
  Returns:
    (loaded layer names, skipped list of 'name (reason)').
  """
  source = _source_weights(weights_path)
  trained = source.pop(_NORMALIZE, None)
  if input_normalization and trained and trained != input_normalization:
    raise UserInputError(f'--weights_path={weights_path}: its weights take input normalised '
                         f'as {trained!r}, this model as {input_normalization!r}; train with '
                         f'--input_normalization={trained}')
  loaded, skipped = [], []
  for layer in model.layers:
    target = layer.get_weights()
    if not target:
      continue
    if layer.name not in source:
      skipped.append(f'{layer.name} (not in {weights_path})')
      continue
    arrays = source[layer.name]
    shapes = [tuple(a.shape) for a in arrays]
    wanted = [tuple(t.shape) for t in target]
    if shapes != wanted:
      skipped.append(f'{layer.name} (shapes {shapes} there, {wanted} here)')
      continue
    layer.set_weights(arrays)
    loaded.append(layer.name)
  log(f'--weights_path={weights_path}: loaded {len(loaded)} layers, skipped {len(skipped)}'
      + (': ' + ', '.join(skipped) if skipped else ''))
  if not loaded:
    raise UserInputError(f'--weights_path={weights_path}: no layer matched this model by name '
                         'and shape')
  return loaded, skipped
