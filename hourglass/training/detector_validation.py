"""Validation of a detector during training: box AP (pycocotools) and recall at IoU 0.5 on the
val frames, in original image pixels."""

import tensorflow as tf

from hourglass.detection import SCORE_THRESHOLD, decoder, MIN_PEAK
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
    """Metrics {'loss', 'ap', 'ap50', 'recall50'} (recall of the boxes scoring at least the
    decoding threshold), written to TensorBoard under val/."""
    truth, found, kept = {}, {}, {}
    loss_sum = count = 0.0
    for batch in self.dataset_fn(tf.distribute.InputContext()):
      outputs = self._forward(tf.cast(batch['image'], tf.float32))
      total, _ = detection_targets.per_example_loss(outputs, batch['maps'],
                                                    batch['size_weights'], batch['count'])
      loss_sum += float(tf.reduce_sum(total))
      count += float(tf.size(total))
      last = outputs[-1] if isinstance(outputs, (list, tuple)) else outputs
      for maps, matrix, boxes, n, image_id in zip(
          last.numpy(), batch['input_to_frame'].numpy(), batch['frame_boxes'].numpy(),
          batch['count'].numpy(), batch['image_id'].numpy()):
        # Every peak for AP (the whole precision-recall curve), the kept ones for recall.
        boxes_found, scores = decoder.decode(maps, self.stride, MIN_PEAK)
        found[int(image_id)] = (decoder.to_frame(boxes_found, matrix), scores)
        above = scores >= SCORE_THRESHOLD
        kept[int(image_id)] = (found[int(image_id)][0][above], scores[above])
        truth[int(image_id)] = boxes[:n]
    result = decoder.box_ap(truth, found)
    metrics = {'loss': loss_sum / max(count, 1.0), 'ap': result['ap'], 'ap50': result['ap50'],
               'recall50': decoder.recall(truth, kept, 0.5)}
    with writer.as_default(step=step):
      for key, value in metrics.items():
        tf.summary.scalar(f'val/{key}', value)
    return metrics
