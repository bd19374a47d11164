"""Model configuration flags (the seed's names); modes/configs.py turns them into a ModelConfig."""

from absl import flags as absl_flags

absl_flags.DEFINE_integer('num_stacks', 2, 'Number of hourglass stacks (>= 1).', lower_bound=1)
absl_flags.DEFINE_bool('mobile', False, 'Depthwise separable convolutions in residual blocks.')
absl_flags.DEFINE_bool('tiny', False, 'Tiny variant: 128 channels instead of 256.')
absl_flags.DEFINE_string('model_input_shape', '256x256',
                         'Model input HxW, both divisible by 32 (e.g. 256x256, 256x192).')
absl_flags.DEFINE_integer('num_keypoints', None,
                          'K for --mode=summary; other modes take K from the keypoint definition.')
absl_flags.DEFINE_bool('sync_bn', None,
                       'Synchronized BatchNorm across replicas. Default: on with >1 replica.')

