"""Model configuration flags (the seed's names); modes/configs.py turns them into a ModelConfig."""

from absl import flags as absl_flags

from flags.common import field_defaults
from hourglass.model.config import INPUT_NORMALIZATIONS, ModelConfig

_MODEL = field_defaults(ModelConfig)

absl_flags.DEFINE_integer('num_stacks', _MODEL['num_stacks'],
                          'Number of hourglass stacks (>= 1).', lower_bound=1)
absl_flags.DEFINE_bool('mobile', _MODEL['mobile'],
                       'Depthwise separable convolutions in residual blocks.')
absl_flags.DEFINE_bool('tiny', _MODEL['tiny'], 'Tiny variant: 128 channels instead of 256.')
absl_flags.DEFINE_string('model_input_shape', f"{_MODEL['input_height']}x{_MODEL['input_width']}",
                         'Model input HxW, both divisible by 32 (e.g. 256x256, 256x192).')
absl_flags.DEFINE_integer('num_keypoints', None,
                          'K for --mode=summary; other modes take K from the keypoint definition.')
absl_flags.DEFINE_bool('sync_bn', None,
                       'Synchronized BatchNorm across replicas. Default: on with >1 replica.')

absl_flags.DEFINE_enum('input_normalization', _MODEL['input_normalization'],
                       list(INPUT_NORMALIZATIONS),
                       'How the network maps its RGB input: symmetric ([-1, 1], our models) or '
                       'seed_mean (RGB / 255 minus the mean, the seed project\'s, for training '
                       'from its models with --weights_path).')
