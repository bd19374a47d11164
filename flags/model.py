"""Model configuration flags (the seed's names) and their conversion to a ModelConfig."""

from absl import flags as absl_flags

from hourglass.model.config import ModelConfig, parse_input_shape
from records.errors import UserInputError

absl_flags.DEFINE_integer('num_stacks', 2, 'Number of hourglass stacks (>= 1).', lower_bound=1)
absl_flags.DEFINE_bool('mobile', False, 'Depthwise separable convolutions in residual blocks.')
absl_flags.DEFINE_bool('tiny', False, 'Tiny variant: 128 channels instead of 256.')
absl_flags.DEFINE_string('model_input_shape', '256x256',
                         'Model input HxW, both divisible by 32 (e.g. 256x256, 256x192).')
absl_flags.DEFINE_integer('num_keypoints', None,
                          'K for --mode=summary; other modes take K from the keypoint definition.')
absl_flags.DEFINE_bool('sync_bn', None,
                       'Synchronized BatchNorm across replicas. Default: on with >1 replica.')


def model_config(flag_values, num_keypoints):
  """Builds the ModelConfig from the model flags and K.

  Raises:
    UserInputError: for an input shape that is malformed or not divisible by 32.
  """
  try:
    height, width = parse_input_shape(flag_values.model_input_shape)
  except ValueError as e:
    raise UserInputError(f'--model_input_shape: {e}') from None
  return ModelConfig(num_stacks=flag_values.num_stacks, mobile=flag_values.mobile,
                     tiny=flag_values.tiny, input_height=height, input_width=width,
                     num_keypoints=num_keypoints, sync_bn=bool(flag_values.sync_bn))
