"""The detector at predict and eval time: whole frames in, every object's box out.

    from hourglass.inference.detectors import load_detector
    detector = load_detector('runs/m/detector')        # or any export of it (.tflite, ...)
    [(boxes, scores)] = detector.detect([rgb])          # boxes [N, 4] x, y, w, h frame px

A detector is loaded like any model (hourglass.inference.loading: bundle, SavedModel, .tflite,
.onnx, .mnn) and told apart by its maps (hourglass.detection.is_detector). Each frame is
letterboxed to its input exactly as predict letterboxes frames (core.geometry), the maps of a
batch come from the backend in one call, and the one numpy decoder turns them into boxes.
"""

import os

import numpy as np

from core import geometry
from core.errors import UserInputError
from hourglass import detection
from hourglass.detection import decoder
from hourglass.inference.loading import load_predictor
from hourglass.model import bundle as bundle_lib


class Detector:
  """Finds every object of whole frames.

  Args:
    predictor: a Predictor of a detector model (its definition is detection.CHANNELS).
    score_threshold: the lowest centre peak kept as an object.
    max_objects: at most this many boxes per frame, best first.
    nms_iou: boxes overlapping a better one by more than this are dropped.
  Attributes:
    crop_scale: how much the keypoint crops enlarge its boxes (the records' box margin for
      boxes from annotations, 1 for boxes made from keypoints): its bundle's crop rule.
    name: the predictor's name (format and path).
  Raises:
    UserInputError: the model is not a detector.
  """

  def __init__(self, predictor, score_threshold=detection.SCORE_THRESHOLD,
               max_objects=detection.MAX_OBJECTS, nms_iou=detection.NMS_IOU):
    if not detection.is_detector(predictor.definition):
      raise UserInputError(
          f'{predictor.name}: not a detector (its outputs are the keypoints '
          f'{list(predictor.definition.names)[:4]}...); train one with --mode=train --detector')
    if max_objects < 1:
      raise UserInputError(f'--max_objects={max_objects}: must be at least 1')
    self.predictor = predictor
    self.score_threshold, self.max_objects, self.nms_iou = score_threshold, max_objects, nms_iou

  @property
  def name(self):
    return self.predictor.name

  @property
  def crop_scale(self):
    return self.predictor.box_margin

  def detect(self, frames):
    """Boxes of a list of RGB uint8 frames [h, w, 3] (any sizes).

    Returns:
      [(boxes float64 [N, 4] x, y, w, h frame px, scores float64 [N])], one per frame.
    """
    shape = self.predictor.input_shape
    matrices = [geometry.letterbox_input_to_image(f.shape, shape) for f in frames]
    inputs = np.stack([geometry.warp(f, m, shape) for f, m in zip(frames, matrices)])
    maps = self.predictor(inputs)
    stride = shape[0] / maps.shape[1]
    out = []
    for frame_maps, m in zip(maps, matrices):
      boxes, scores = decoder.decode(frame_maps, stride, self.score_threshold,
                                     self.max_objects, self.nms_iou)
      out.append((decoder.to_frame(boxes, m), scores))
    return out


def find_detector(model_path):
  """The detector a keypoint model directory keeps (<model_dir>/detector), found from the model
  directory or from one of its bundles (best_model, last_model); for an exported file, the file
  of the same name in detector/ beside it (export.py writes it there). None when it has none."""
  if not model_path or not os.path.exists(model_path):
    return None
  path = os.path.normpath(model_path)
  if not os.path.isdir(path) or os.path.isfile(os.path.join(path, 'saved_model.pb')):
    exported = os.path.join(os.path.dirname(path), detection.DETECTOR_DIR, os.path.basename(path))
    return exported if os.path.exists(exported) else None
  for candidate in (os.path.join(path, detection.DETECTOR_DIR),
                    os.path.join(os.path.dirname(path), detection.DETECTOR_DIR)):
    if bundle_lib.find_bundle(candidate):
      return candidate
  return None


def load_detector(path, batch_size=8, num_threads=None, **settings):
  """A Detector from a detector model directory, bundle or exported file (`settings`: the
  Detector's score_threshold, max_objects, nms_iou).

  Raises:
    UserInputError: the path is missing, not a model, or not a detector.
  """
  predictor = load_predictor(path, batch_size=batch_size, num_threads=num_threads)
  return Detector(predictor, **settings)


class DetectorBoxes:
  """The boxes of each predicted frame from a Detector: what predict takes from a boxes file
  (hourglass.inference.box_files.Boxes: `lookup(frame)`), found on the frame itself.

  Attributes:
    path: the detector's name (for messages).
    box_scale: the detector's crop scale (predict enlarges its boxes by it).
  """

  def __init__(self, detector):
    self.detector = detector
    self.path = detector.name
    self.box_scale = detector.crop_scale
    self._found = {}

  def prepare(self, frames):
    """Detects the objects of a batch of frames in one call (lookup then reads them)."""
    found = self.detector.detect([frame.rgb for frame in frames])
    self._found = {frame.index: result for frame, result in zip(frames, found)}

  def lookup(self, frame):
    """[(x, y, w, h, score)] of a frame (frame_sources.Frame with .rgb, .index)."""
    if frame.index not in self._found:
      self.prepare([frame])
    boxes, scores = self._found.pop(frame.index)
    return [tuple(float(v) for v in box) + (float(score),) for box, score in zip(boxes, scores)]
