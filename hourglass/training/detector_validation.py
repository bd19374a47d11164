"""Validation of a detector during training: its loss, box AP (pycocotools) and recall at IoU
0.5 on the val frames, in original image pixels (hourglass/detection/evaluation.py)."""

import tensorflow as tf

from hourglass.detection import evaluation
from hourglass.detection import targets as detection_targets


class DetectorValidator:
  """Runs the detector over the val frames and scores its boxes.

  Args:
    model: the training model (one output per stack).
    dataset_fn: InputContext -> the detector's eval dataset (pipelines/detector_dataset.py
      build_eval_dataset: 'image', 'maps', 'size_weights', 'count', 'input_to_frame',
      'frame_boxes', 'image_id').
    stride: model-input pixels per map pixel.
  """

  def __init__(self, model, dataset_fn, stride):
    self.model, self.dataset_fn, self.stride = model, dataset_fn, stride
    self._forward = tf.function(lambda images: self.model(images, training=False))

  def run(self, step, writer):
    """Metrics {'loss', 'ap', 'ap50', 'recall50'}, also written to TensorBoard under val/."""
    sums = [0.0, 0.0]  # loss, frames

    def maps_fn(batch):
      outputs = self._forward(tf.cast(batch['image'], tf.float32))
      total, _ = detection_targets.per_example_loss(outputs, batch['maps'],
                                                    batch['size_weights'], batch['count'],
                                                    batch['centre_weights'])
      sums[0] += float(tf.reduce_sum(total))
      sums[1] += float(tf.size(total))
      last = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
      return last.numpy()
    scores = evaluation.score_frames(self.dataset_fn(tf.distribute.InputContext()), maps_fn,
                                     self.stride)
    metrics = {'loss': sums[0] / max(sums[1], 1.0), 'ap': scores['ap'], 'ap50': scores['ap50'],
               'recall50': scores['recall50']}
    with writer.as_default(step=step):
      for key, value in metrics.items():
        tf.summary.scalar(f'val/{key}', value)
    return metrics
