"""Helpers for the training tests (no tests here): a tiny learnable in-memory dataset with the
element structure of pipelines.dataset, a tiny trainer factory, and a subprocess entry point for
multi-replica runs (logical CPU devices must be configured before TensorFlow initialises).

Run as a script: `python tests/support/tiny_training.py <json settings>` trains with those settings
and prints one JSON line `RESULT {...}` with losses, weights digest and checkpoint info.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
  sys.path.insert(0, ROOT)

SIZE = 64
K = 3


def make_examples(count, seed, size=SIZE, k=K):
  """Images with a bright square at each of K keypoints (learnable), keypoints in input px.

  Returns:
    images uint8 [N, size, size, 3], keypoints float32 [N, K, 2], visibility int32 [N, K].
  """
  import numpy as np
  rng = np.random.default_rng(seed)
  images = rng.integers(0, 60, (count, size, size, 3)).astype(np.uint8)
  keypoints = rng.uniform(6, size - 7, (count, k, 2)).astype(np.float32)
  visibility = np.ones((count, k), np.int32)
  visibility[rng.uniform(size=(count, k)) < 0.1] = 0
  for n in range(count):
    for j in range(k):
      x, y = np.round(keypoints[n, j]).astype(int)
      images[n, y - 2:y + 3, x - 2:x + 3, j] = 255
  return images, keypoints, visibility


def codec_and_definition(size=SIZE, k=K):
  from hourglass.keypoints.codec import HeatmapCodec
  from records.keypoint_definition import KeypointDefinition
  names = tuple(f'p{i}' for i in range(k))
  return HeatmapCodec((size, size), 4, 2.0), KeypointDefinition(names=names)


def train_dataset_fn(examples, codec, global_batch, shuffle_seed=None, reverse_in_batch=False):
  """(epoch, input_context) -> one epoch of per-replica training batches, a pure function of
  (shuffle_seed, epoch): the order is a seeded permutation per epoch. reverse_in_batch reverses
  the order inside each global batch: the same sets of examples, summed in another order (the
  float rounding floor of a loss curve)."""
  import numpy as np
  import tensorflow as tf
  images, keypoints, visibility = examples

  def fn(epoch, input_context=None):
    order = np.arange(len(images))
    if shuffle_seed is not None:
      order = np.random.default_rng([shuffle_seed, epoch]).permutation(len(images))
    if reverse_in_batch:
      whole = len(order) // global_batch * global_batch
      order = np.concatenate([order[:whole].reshape(-1, global_batch)[:, ::-1].ravel(),
                              order[whole:]])
    batch = input_context.get_per_replica_batch_size(global_batch) if input_context else \
        global_batch
    ds = tf.data.Dataset.from_tensor_slices((images[order], keypoints[order], visibility[order]))
    if input_context and input_context.num_input_pipelines > 1:
      ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def to_element(image, kp, vis):
      heatmaps, weights = codec.encode(kp, vis)
      return image, {'heatmaps': heatmaps, 'weights': weights, 'keypoints': kp}
    return ds.map(to_element).batch(batch, drop_remainder=True)
  return fn


def eval_dataset_fn(examples, codec, global_batch):
  import tensorflow as tf
  images, keypoints, visibility = examples

  def fn(input_context=None):
    batch = input_context.get_per_replica_batch_size(global_batch) if input_context else \
        global_batch
    ds = tf.data.Dataset.from_tensor_slices((images, keypoints, visibility))
    if input_context and input_context.num_input_pipelines > 1:
      ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)

    def to_element(image, kp, vis):
      heatmaps, weights = codec.encode(kp, vis)
      # input_to_original: the identity plus a shift of 10 px, as a crop from a larger frame.
      affine = tf.constant([[1.0, 0.0, 10.0], [0.0, 1.0, 10.0]])
      return {'image': image, 'heatmaps': heatmaps, 'weights': weights, 'keypoints': kp,
              'visibility': vis, 'input_to_original': affine,
              'original_keypoints': kp + 10.0}
    return ds.map(to_element).batch(batch)
  return fn


def make_records(directory, count=48, val_count=8, size=SIZE, seed=0):
  """Synthetic records (the records engineer's 'synthetic' source), one worker process."""
  from records.make_records import make_records as make
  from records.make_records import MakeRecordsConfig
  return make(MakeRecordsConfig(source='synthetic', output_dir=directory, input_shape=(size, size),
                                synthetic_count=count, synthetic_val_count=val_count, seed=seed,
                                num_workers=1, progress=False))


def _datasets(settings, codec, batch):
  """(train_fn, eval_fn) from the real pipeline on settings['records_dir'], else in memory."""
  if settings.get('records_dir'):
    from pipelines.config import PipelineConfig
    from pipelines.dataset import build_eval_dataset, build_train_dataset
    records = settings['records_dir']
    config = PipelineConfig(input_shape=(SIZE, SIZE), batch_size=batch, deterministic=True,
                            seed=settings.get('seed', 0), shuffle_buffer=64)
    train = lambda epoch, ctx: build_train_dataset(records, config, epoch=epoch,
                                                   input_context=ctx)
    evaluate = lambda ctx: build_eval_dataset(records, config, input_context=ctx)
    return train, (evaluate if settings.get('validate') else None)
  examples = make_examples(settings.get('count', 32), settings.get('seed', 0))
  train = train_dataset_fn(examples, codec, batch, shuffle_seed=settings.get('shuffle_seed'),
                           reverse_in_batch=settings.get('reverse_in_batch', False))
  evaluate = eval_dataset_fn(make_examples(8, 99), codec, batch)
  return train, (evaluate if settings.get('validate') else None)


def small_bn_model(config, name='small_bn'):
  """A stand-in for the hourglass in replica tests: the project's blocks (BN after every conv,
  SyncBN per config.sync_bn), the training model's interface ([B, H, W, 3] -> [B, H/4, W/4, K]).

  Why: each SyncBN all-reduce is a custom gradient whose graph-mode setup walks back through the
  other replica's graph, so tracing grows with the square of the model: the tiny 1-stack
  hourglass takes ~4 minutes to trace on 2 CPU replicas, this model seconds.
  """
  import keras

  from hourglass.model import blocks
  inputs = keras.Input((config.input_height, config.input_width, 3), name='image')
  x = blocks.normalize_pixels(inputs)
  x = keras.layers.Conv2D(16, 3, strides=2, padding='same', activation='relu', name='c0')(x)
  x = blocks.batch_norm(x, 'bn0', config.sync_bn)
  x = keras.layers.Conv2D(32, 3, strides=2, padding='same', activation='relu', name='c1')(x)
  x = blocks.batch_norm(x, 'bn1', config.sync_bn)
  x = blocks.residual(x, 32, 'res', False, config.sync_bn)
  outputs = keras.layers.Conv2D(config.num_keypoints, 1, name='predict')(x)
  return keras.Model(inputs, outputs, name=name)


def _default_precision():
  """HOURGLASS_DEFAULT_PRECISION (tests/conftest.py pins float32), read as modes/ read it."""
  from hourglass.training import precision as precision_lib
  return os.environ.get(precision_lib.DEFAULT_ENV) or 'auto'


def run_settings(settings):
  """Trains once per entry of settings['runs'] in this process. Returns a list of results."""
  import dataclasses

  import keras
  import numpy as np
  import tensorflow as tf

  from hourglass.model.config import ModelConfig
  from hourglass.training import precision as precision_lib
  from hourglass.training import strategy as strategy_lib
  from hourglass.training.trainer import NonFiniteLossError, TrainConfig, Trainer
  from records.reader import load_manifest
  if settings.get('model') == 'small':
    import hourglass.training.trainer
    hourglass.training.trainer.build_training_model = small_bn_model
  strategy_config = strategy_lib.StrategyConfig(
      name=settings.get('strategy', 'default'), cpu_replicas=settings.get('cpu_replicas', 1),
      mixed_precision_dtype=settings.get('dtype'))
  strategy = strategy_lib.build_strategy(strategy_config)
  if settings.get('deterministic', True):
    tf.config.experimental.enable_op_determinism()
  one_replica = tf.distribute.OneDeviceStrategy('/cpu:0')
  dtype = precision_lib.choose_here(strategy_config, _default_precision()).dtype
  precision_lib.set_precision_policy(dtype)
  batch = settings.get('batch', 4)
  k = load_manifest(settings['records_dir']).num_keypoints if settings.get('records_dir') else K
  codec, definition = codec_and_definition(k=k)
  results = []
  for run in settings['runs']:
    model_config = ModelConfig(num_stacks=settings.get('num_stacks', 1), mobile=False, tiny=True,
                               input_height=SIZE, input_width=SIZE, num_keypoints=k,
                               sync_bn=run.get('sync_bn', settings.get('sync_bn', False)))
    keras.utils.set_random_seed(settings.get('seed', 0))
    if run.get('resume_from'):
      interrupted_copy(run['resume_from'][0], run['resume_from'][1], run['model_dir'])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    config = TrainConfig(batch_size=batch, compute_dtype=dtype,
                         **{key: v for key, v in run.items() if key in fields})
    chosen = one_replica if run.get('one_replica') else strategy
    train_fn, eval_fn = _datasets(dict(settings, **run), codec, batch)
    trainer = Trainer(config, chosen, model_config, definition, codec, train_fn, eval_fn,
                      log=lambda *a: print(*a, file=sys.stderr))
    error = None
    try:
      trainer.train()
    except NonFiniteLossError as e:
      error = str(e)
    if run.get('weights_out'):
      trainable = {id(v) for v in trainer.model.trainable_weights}
      np.savez(run['weights_out'], **{
          ('t:' if id(v) in trainable else 'n:') + v.path.replace('/', '|'): np.asarray(v)
          for v in trainer.model.weights})
    results.append({'step': int(trainer.step.numpy()),
                    'history': [(step, loss) for step, loss, _ in trainer.history],
                    'error': error, 'loss_scale': float(trainer.optimizer.dynamic_scale.numpy()),
                    'iterations': int(trainer.optimizer.iterations.numpy()),
                    'latest': trainer.keeper.latest, 'replicas': chosen.num_replicas_in_sync,
                    'chief': trainer.chief})
  return results


def interrupted_copy(source_dir, step, model_dir):
  """model_dir as a run killed right after its checkpoint at `step` would have left it: the
  source run's checkpoints up to `step`, the newest being `step`."""
  import shutil

  import tensorflow as tf
  source = os.path.join(source_dir, 'checkpoints')
  target = os.path.join(model_dir, 'checkpoints')
  shutil.rmtree(model_dir, ignore_errors=True)
  shutil.copytree(source, target)
  for name in os.listdir(target):  # the checkpoints written after the "kill" never existed
    if name.startswith('ckpt-') and int(name.split('-')[1].split('.')[0]) > step:
      os.remove(os.path.join(target, name))
  tf.compat.v1.train.update_checkpoint_state(target, os.path.join(target, f'ckpt-{step}'))


def syncbn_check(batch=8):
  """Forward outputs and all-reduced gradients of a small model made of the project's blocks
  (BN after every conv) on one global batch: 1 replica vs 2 logical-CPU replicas with SyncBN on and off.

  Returns:
    {'sync': (max |output diff|, max |grad diff|), 'plain': (...), 'scale': (max |output|, ...)}.
  """
  import keras
  import numpy as np
  import tensorflow as tf

  from hourglass.model.config import ModelConfig
  from hourglass.training import precision as precision_lib
  from hourglass.training import strategy as strategy_lib
  strategy_lib.configure_devices(strategy_lib.StrategyConfig('mirrored', cpu_replicas=2))
  images = np.random.default_rng(0).uniform(0, 255, (batch, SIZE, SIZE, 3)).astype(np.float32)
  targets = np.random.default_rng(1).uniform(0, 1, (batch, SIZE // 4, SIZE // 4, K))
  targets = targets.astype(np.float32)
  keras.utils.set_random_seed(0)

  def build(sync_bn):
    return small_bn_model(ModelConfig(num_stacks=1, mobile=False, tiny=True, input_height=SIZE,
                                      input_width=SIZE, num_keypoints=K, sync_bn=sync_bn))

  weights = build(False).get_weights()
  def run(strategy, sync_bn):
    with strategy.scope():
      model = build(sync_bn)
      model.set_weights(weights)
    per = batch // strategy.num_replicas_in_sync

    def replica_fn(x, y):
      with tf.GradientTape() as tape:
        out = model(x, training=True)
        out = out[-1] if isinstance(out, (list, tuple)) else out  # 1 stack: a bare tensor
        loss = tf.nn.compute_average_loss(tf.reduce_mean(tf.square(out - y), [1, 2, 3]),
                                          global_batch_size=batch)
      grads = tape.gradient(loss, model.trainable_variables)
      grads = tf.distribute.get_replica_context().all_reduce('sum', grads)
      return out, grads

    def value(data):
      return strategy.experimental_distribute_values_from_function(
          lambda ctx: data[ctx.replica_id_in_sync_group * per:][:per])
    out, grads = tf.function(lambda x, y: strategy.run(replica_fn, (x, y)))(
        value(images), value(targets))
    outputs = np.concatenate([o.numpy() for o in strategy.experimental_local_results(out)])
    return outputs, [g.numpy() for g in strategy.experimental_local_results(grads)[0]] \
        if isinstance(grads, tf.distribute.DistributedValues) else \
        [strategy.experimental_local_results(g)[0].numpy() for g in grads]

  ref_out, ref_grads = run(tf.distribute.OneDeviceStrategy('/cpu:0'), False)
  cpus = [d.name for d in tf.config.list_logical_devices('CPU')][:2]
  two = tf.distribute.MirroredStrategy(
      cpus, cross_device_ops=tf.distribute.ReductionToOneDevice(reduce_to_device=cpus[0]))
  result = {'scale': (float(np.abs(ref_out).max()), max(float(np.abs(g).max())
                                                        for g in ref_grads))}
  for name, sync in (('sync', True), ('plain', False)):
    out, grads = run(two, sync)
    result[name] = (float(np.abs(out - ref_out).max()),
                    max(float(np.abs(a - b).max()) for a, b in zip(grads, ref_grads)))
  return result


def float16_check(model_dir):
  """One float16 trainer on CPU driven through phases with the stop hook (one trace):
  steps 2, 3 and 13.. are poisoned (NaN loss); growth every 3 finite steps; max 3 in a row.

  Returns:
    a dict of what each phase left: step, optimizer iterations, loss scale, latest checkpoint,
    trainable weights digests, and the stop error.
  """
  import keras
  import numpy as np

  from hourglass.model.config import ModelConfig
  from hourglass.training import precision as precision_lib
  from hourglass.training import strategy as strategy_lib
  from hourglass.training.faults import Faults
  from hourglass.training.trainer import NonFiniteLossError, TrainConfig, Trainer
  settings = strategy_lib.StrategyConfig(mixed_precision_dtype='float16')
  strategy = strategy_lib.build_strategy(settings)
  precision_lib.set_precision_policy(
      precision_lib.choose_here(settings, _default_precision()).dtype)
  keras.utils.set_random_seed(0)
  codec, definition = codec_and_definition()
  train_fn = train_dataset_fn(make_examples(32, 0), codec, 4)
  config = TrainConfig(model_dir=model_dir, batch_size=4, steps_per_epoch=8,
                       total_epoch=2, steps_per_loop=1, checkpoint_steps=1, learning_rate=1e-3,
                       decay_type='none', compute_dtype='float16', loss_scale_growth_steps=3,
                       initial_loss_scale=256.0, max_nonfinite_steps=3)
  faults = Faults(nonfinite_steps=(2, 3, 13, 14, 15, 16), stop_at_step=2)
  trainer = Trainer(config, strategy, ModelConfig(num_stacks=1, tiny=True, input_height=SIZE,
                                                  input_width=SIZE, num_keypoints=K),
                    definition, codec, train_fn, log=lambda *a: print(*a, file=sys.stderr),
                    faults=faults)

  def state():
    return {'step': int(trainer.step.numpy()), 'iterations': int(trainer.optimizer.iterations),
            'scale': float(trainer.optimizer.dynamic_scale.numpy()),
            'latest': trainer.keeper.latest,
            'weights': [float(np.sum(np.asarray(v, np.float64) ** 2))
                        for v in trainer.model.trainable_weights]}
  phases = {}
  for name, stop in (('clean2', 2), ('skip3', 3), ('epoch1', 8), ('end', None)):
    trainer.faults.stop_at_step = stop
    error = None
    try:
      trainer.train()
    except NonFiniteLossError as e:
      error = str(e)
    phases[name] = dict(state(), error=error)
  return phases


def run_subprocess(settings, env=None, timeout=600):
  """Runs run_settings(settings) in a fresh Python (own TF devices). Returns its results."""
  import subprocess
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL='2', **(env or {}))
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), json.dumps(settings)],
                        capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ROOT)
  lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULT ')]
  if proc.returncode or not lines:
    raise AssertionError(f'training subprocess failed ({proc.returncode}):\n{proc.stderr[-4000:]}')
  return json.loads(lines[-1][len('RESULT '):])


if __name__ == '__main__':
  _settings = json.loads(sys.argv[1])
  if _settings.get('mode') == 'syncbn':
    _result = syncbn_check()
  elif _settings.get('mode') == 'float16':
    _result = float16_check(_settings['model_dir'])
  else:
    _result = run_settings(_settings)
  print('RESULT ' + json.dumps(_result), flush=True)
