"""Validation during training: batched, in graph, under the trainer's strategy.

Per batch each replica returns sums (loss, labelled keypoints, correct ones, pixel errors) that
are all-reduced; the ratios are taken once at the end. PCK follows the seed: a keypoint is correct
when its error in heatmap pixels of the crop, divided by (mean heatmap side / 10), is below the
threshold; only labelled keypoints inside the input (target weight > 0) count.
"""

import numpy as np
import tensorflow as tf

from hourglass.keypoints.geometry import apply_affine
from hourglass.keypoints.metrics import pck_normalize
from hourglass.training import losses, train_logging

_SUM_KEYS = ('loss', 'examples', 'labelled', 'correct', 'error_px', 'error_input_px')


class Validator:
  """Runs the eval dataset through a model under a strategy and reduces the metrics.

  Args:
    model: the Keras model judged (the trainer's, or its int8 simulation's in a
      quantization-aware run); one output per stack.
    strategy: the tf.distribute.Strategy the model was built under.
    dataset_fn: InputContext -> tf.data.Dataset of eval dicts (pipelines.build_eval_dataset).
    config: TrainConfig (loss, threshold, decoder, image_summaries).
    codec: HeatmapCodec used to decode the last stack's heatmaps.
    definition: KeypointDefinition (for the image summaries), or None.
    chief: whether this worker writes the image summaries.
  """

  def __init__(self, model, strategy, dataset_fn, config, codec, definition=None, chief=True):
    self.model, self.strategy, self.dataset_fn = model, strategy, dataset_fn
    self.config, self.codec, self.definition, self.chief = config, codec, definition, chief
    self.normalize = pck_normalize(codec.heatmap_size)
    self._step = tf.function(self._step_impl)
    self._dataset = None

  def _replica_sums(self, batch):
    outputs = self.model(tf.cast(batch['image'], tf.float32), training=False)
    if not isinstance(outputs, (list, tuple)):
      outputs = [outputs]
    total, _ = losses.per_example_loss(self.config.loss_type, outputs, batch['heatmaps'],
                                       batch['weights'], self.config.huber_delta)
    predicted, scores = self.decode(outputs[-1])
    mask = tf.cast(batch['weights'] > 0, tf.float32)
    error_input = tf.norm(predicted - batch['keypoints'], axis=-1)          # [B, K] input px
    correct = tf.cast(error_input / self.codec.stride / self.normalize
                      < self.config.score_threshold, tf.float32) * mask
    original = apply_affine(tf.cast(batch['input_to_original'], tf.float32), predicted)
    error_px = tf.norm(original - tf.cast(batch['original_keypoints'], tf.float32), axis=-1)
    return {'loss': tf.reduce_sum(total),
            'examples': tf.cast(tf.shape(total)[0], tf.float32),
            'labelled': tf.reduce_sum(mask),
            'correct': tf.reduce_sum(correct),
            'error_px': tf.reduce_sum(tf.where(mask > 0, error_px, 0.0)),
            'error_input_px': tf.reduce_sum(tf.where(mask > 0, error_input, 0.0)),
            # kept per replica for the image summaries (no second, eager forward pass)
            'predicted': predicted, 'scores': scores}

  def decode(self, heatmaps):
    """[B, h, w, K] -> (keypoints [B, K, 2], scores [B, K]), also for B = 0: a replica's share of
    an uneven last val batch can be empty, and DARK's reflect padding rejects empty tensors."""
    count = tf.shape(heatmaps)[-1]
    return tf.cond(tf.shape(heatmaps)[0] > 0,
                   lambda: self.codec.decode(heatmaps, self.config.decoder),
                   lambda: (tf.zeros([0, count, 2]), tf.zeros([0, count])))

  def _step_impl(self, batch):
    """Returns ({key: all-reduced sum} for _SUM_KEYS, per-replica (predicted [B, K, 2],
    scores [B, K]))."""
    strategy = self.strategy
    per_replica = strategy.run(self._replica_sums, args=(batch,))
    sums = {k: strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica[k], axis=None)
            for k in _SUM_KEYS}
    return sums, (per_replica['predicted'], per_replica['scores'])

  def run(self, step, writer):
    """Validates the current weights. Returns {'loss', 'pck', 'mean_error_px',
    'mean_error_input_px'} (NaN where nothing was labelled) and writes TensorBoard summaries
    for `step` with the tf.summary `writer`."""
    if self._dataset is None:
      self._dataset = self.strategy.distribute_datasets_from_function(self.dataset_fn)
    sums = dict.fromkeys(_SUM_KEYS, 0.0)
    first = None
    for batch in self._dataset:
      batch_sums, decoded = self._step(batch)
      if first is None:
        first = (batch, decoded)
      for key, value in batch_sums.items():
        sums[key] += float(value)
    labelled = sums['labelled']
    metrics = {
        'loss': sums['loss'] / sums['examples'] if sums['examples'] else float('nan'),
        'pck': sums['correct'] / labelled if labelled else float('nan'),
        'mean_error_px': sums['error_px'] / labelled if labelled else float('nan'),
        'mean_error_input_px': sums['error_input_px'] / labelled if labelled else float('nan')}
    self._summaries(metrics, first, step, writer)
    return metrics

  def _summaries(self, metrics, first, step, writer):
    """Scalars, and images of the first batch with true and predicted keypoints.

    Args:
      first: (first eval batch, its per-replica (predicted, scores)) or None.
    """
    with writer.as_default(step=step):
      for key, value in metrics.items():
        tf.summary.scalar(f'val/{key}', value)
      count = self.config.image_summaries
      if first is None or count <= 0 or not self.chief or self.definition is None:
        return
      local_results = self.strategy.experimental_local_results
      local = local_results(first[0])[0]
      predicted, scores = (local_results(v)[0][:count] for v in first[1])
      images = local['image'][:count]
      if int(tf.shape(images)[0]) == 0:
        return
      drawn = train_logging.keypoint_images(
          images.numpy(), local['keypoints'][:count].numpy(),
          local['weights'][:count].numpy() > 0, predicted.numpy(), scores.numpy(),
          self.definition)
      tf.summary.image('val/true_vs_predicted', drawn.astype(np.uint8), max_outputs=count)
