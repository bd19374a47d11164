"""Finding every object of a frame: a detector trained from the keypoint records.

The detector is a small Stacked Hourglass network (hourglass/model) with three output maps at
stride 4, in the CenterNet manner (Zhou et al. 2019, whose backbone was a stacked hourglass):
`centre`, a Gaussian heatmap with a peak at each object's box centre, and `log_width`,
`log_height`, the log of the box size in heatmap pixels, read at the peak. The three names are
the detector's keypoint definition: they travel in every bundle and exported file, which is how
any loader tells a detector from a keypoint model (`is_detector`). Decoding (peaks, sub-pixel
step, sizes, NMS) is one numpy function (decoder.py) that every backend's maps go through.

    targets.py   boxes -> target maps and the training loss (TensorFlow, graph-safe)
    decoder.py   maps -> boxes, IoU, NMS, box AP and recall (numpy, pycocotools)
"""

CHANNELS = ('centre', 'log_width', 'log_height')
# Where a keypoint model directory keeps its detector: <model_dir>/detector.
DETECTOR_DIR = 'detector'
# The detector's input (height, width), multiples of 32 near the 4:3 of most camera frames
# (frames are letterboxed into it): 128x160 trains at ~20 frames/s on 2 CPU cores.
DEFAULT_INPUT_SHAPE = (128, 160)
# Most boxes per training frame (more are dropped, with a note); the pipeline pads to it.
MAX_TRAINING_BOXES = 64
# The most objects a frame gives at predict and eval time (--max_objects).
MAX_OBJECTS = 20
# Decoding defaults: a peak counts from this centre-map value; boxes overlapping a stronger
# one by more than NMS_IOU are dropped. The peaks (3x3 maxima) already keep one box per object;
# 0.7, not 0.5, keeps animals that overlap: on the synthetic multi-creature val frames AP@0.5
# went from 0.948 to 0.958 (docs/benchmarks.md, Detector).
SCORE_THRESHOLD = 0.3
# Peaks below this are never objects, whatever threshold is asked for (the sub-pixel step
# takes logarithms of the map).
MIN_PEAK = 0.05
NMS_IOU = 0.7


def is_detector(definition):
  """Whether a model with this KeypointDefinition is a detector (its maps are CHANNELS)."""
  return tuple(definition.names) == CHANNELS
