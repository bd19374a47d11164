"""Flags of --mode=select_frames: which frames to hand out for labelling, and to which tool."""

from absl import flags as absl_flags

absl_flags.DEFINE_integer('num_frames', 20,
                          'select_frames: frames to pick per video (or folder).', lower_bound=1)
absl_flags.DEFINE_enum('label_tool', 'labelme', ['labelme', 'label_studio', 'cvat'],
                       'select_frames: the labelling tool whose files are written (the images, '
                       'with the predictions as pre-annotations).')
absl_flags.DEFINE_integer('select_spacing', None,
                          'select_frames: least frames between two picks (default: the video\'s '
                          'length / (2 x --num_frames); folders: 0).', lower_bound=0)
absl_flags.DEFINE_float('jump_fraction', 0.1,
                        'select_frames: a keypoint this far from the smoothed track, as a '
                        'fraction of the object\'s size, is a full jump.', lower_bound=0.0)
absl_flags.DEFINE_float('flip_fraction', 0.1,
                        'select_frames: the same for the plain and the mirrored prediction\'s '
                        'disagreement.', lower_bound=0.0)
absl_flags.DEFINE_bool('flip_check', True,
                       'select_frames: measure the plain against the mirrored prediction (a '
                       'second pass; off where the model\'s records do not support flips).')
