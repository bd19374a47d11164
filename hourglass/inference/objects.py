"""Every object of a batch of frames: the boxes of a boxes file, a detector or the tracks, each
cropped by the training rule, and the crops of the whole batch run as one batch.

    from hourglass.inference.objects import predict_objects
    objects = predict_objects(predictor, frames, DetectorBoxes(detector), config, search=None)
"""

import numpy as np

from core import geometry
from core.errors import UserInputError
from hourglass.inference.detectors import DetectorBoxes


MISSING_BOXES = ('error', 'frame', 'skip')


class FixedBoxes:
  """The same boxes [[x, y, w, h]] for any frame, scored 1: the lookup of a boxes file, for
  crops the caller chose (a track's, a true box)."""

  def __init__(self, boxes, path):
    self.boxes, self.path = boxes, path

  def lookup(self, frame):
    del frame
    return [list(box) + [1.0] for box in self.boxes]


def _boxes_for(frame, detections, shape, box_scale, config):
  """[(input_to_original [2, 3], box [x, y, w, h], score)] for one frame; None: search the
  whole frame.

  Raises:
    UserInputError: the boxes file has no entry for the frame and config.missing_boxes is
      'error'.
  """
  boxes = detections.lookup(frame) if detections is not None else None
  if boxes is None and detections is not None:
    if config.missing_boxes == 'skip':
      return []
    if config.missing_boxes == 'error':
      raise UserInputError(
          f'{detections.path}: no boxes for {frame.name} (frame {frame.index}) of --input '
          f'{config.input}; is it the boxes file of this input? --missing_boxes=frame runs such '
          f'frames on the whole frame, --missing_boxes=skip predicts nothing for them')
  if boxes is None:
    return None
  out = []
  for x, y, w, h, score in boxes:
    if score >= config.detection_score_threshold and w > 0 and h > 0:
      out.append((geometry.input_to_image([x, y, w, h], shape, box_scale), [x, y, w, h],
                  float(score)))
  return out


def predict_objects(predictor, batch, detections, config, search):
  """Predicts every object of a list of frames: the crops of every box (a boxes file's, or a
  detector's: DetectorBoxes) in one batched call, frames without boxes by the whole-frame
  search.

  Args:
    batch: frame_sources.Frame list (.index, .rgb).
    detections: box_files.Boxes, DetectorBoxes or None (search every frame).
    config: PredictConfig (decoder, flip test, box scale, score threshold, missing boxes).
    search: a FrameSearch for frames without boxes (None when every frame has boxes).
  Returns:
    {frame index: [{'keypoints' [K, 2] frame px, 'scores' [K], 'box' [x, y, w, h],
    'box_score'}]}.
  """
  shape = predictor.input_shape
  # Detector boxes are enlarged as the training crops were: by the crop scale of a detector's
  # records, for a boxes file by the model's box margin.
  box_scale = (config.box_scale or getattr(detections, 'box_scale', None)
               or predictor.box_margin)
  objects = {f.index: [] for f in batch}
  jobs = []
  if isinstance(detections, DetectorBoxes):
    detections.prepare(batch)  # the batch's frames through the detector in one call
  for f in batch:
    boxes = _boxes_for(f, detections, shape, box_scale, config)
    if boxes is None:
      found = search.find(f.rgb)
      objects[f.index].append({'keypoints': found.keypoints, 'scores': found.scores,
                               'box': found.box, 'box_score': found.score})
    else:
      jobs += [(f, m, box, score) for m, box, score in boxes]
  if jobs:
    crops = np.stack([geometry.warp(f.rgb, m, shape) for f, m, _, _ in jobs])
    keypoints, scores = predictor.predict(crops, config.decoder, config.flip_test)
    for (f, m, box, score), kp, sc in zip(jobs, keypoints, scores):
      original = geometry.apply_affine(m, kp)
      objects[f.index].append({'keypoints': original, 'scores': sc, 'box': box,
                               'box_score': score})
  return objects
