"""Flags of --mode=select_frames: which frames to hand out for labelling, and to which tool."""

from absl import flags as absl_flags

from flags.common import field_defaults
from hourglass.labelling.selection import SelectConfig
from workflows.config import SelectFramesConfig

_SELECT = field_defaults(SelectConfig)
_RUN = field_defaults(SelectFramesConfig)

absl_flags.DEFINE_integer('num_frames', _SELECT['num_frames'],
                          'select_frames: frames to pick per video (or folder).', lower_bound=1)
absl_flags.DEFINE_enum('label_tool', _RUN['label_tool'], ['labelme', 'label_studio', 'cvat'],
                       'select_frames: the labelling tool whose files are written (the images, '
                       'with the predictions as pre-annotations).')
absl_flags.DEFINE_integer('select_spacing', _SELECT['spacing'],
                          'select_frames: least frames between two picks (default: the video\'s '
                          'length / (2 x --num_frames); folders: 0).', lower_bound=0)
absl_flags.DEFINE_float('jump_fraction', _SELECT['jump_fraction'],
                        'select_frames: a keypoint this far from the smoothed track, as a '
                        'fraction of the object\'s size, is a full jump.', lower_bound=0.0)
absl_flags.DEFINE_float('flip_fraction', _SELECT['flip_fraction'],
                        'select_frames: the same for the plain and the mirrored prediction\'s '
                        'disagreement.', lower_bound=0.0)
absl_flags.DEFINE_bool('flip_check', _RUN['flip_check'],
                       'select_frames: measure the plain against the mirrored prediction (a '
                       'second pass; off where the model\'s records do not support flips).')
