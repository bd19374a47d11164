"""ModelConfig: everything that fixes the network's architecture and input."""

import dataclasses
import re

from hourglass.keypoints import OUTPUT_STRIDE

# How the network's first layer maps its RGB input in [0, 255]: 'symmetric' to [-1, 1] (ours);
# 'seed_mean' to RGB / 255 minus SEED_MEAN_RGB, the seed project's preprocessing, for models
# imported from it (hourglass/model/seed_import.py). Inside the model, so exports need no code.
INPUT_NORMALIZATIONS = ('symmetric', 'seed_mean')
SEED_MEAN_RGB = (0.4404, 0.4440, 0.4327)


def parse_input_shape(text):
  """'256x192' -> (256, 192). Raises ValueError unless both sides are positive multiples of 32."""
  match = re.fullmatch(r'\s*(\d+)\s*[xX,]\s*(\d+)\s*', str(text))
  if not match:
    raise ValueError(f'expected HxW such as 256x256, got {text!r}')
  height, width = int(match.group(1)), int(match.group(2))
  if height <= 0 or width <= 0 or height % 32 or width % 32:
    raise ValueError(f'input {height}x{width}: both sides must be positive multiples of 32')
  return height, width


@dataclasses.dataclass(frozen=True)
class ModelConfig:
  """Architecture of a Stacked Hourglass network.

  Attributes:
    num_stacks: hourglass stacks, >= 1.
    mobile: depthwise separable convolutions in every residual block.
    tiny: 128 channels instead of 256.
    input_height, input_width: model input, multiples of 32.
    num_keypoints: K, the number of heatmaps.
    sync_bn: synchronized BatchNorm across replicas.
    input_normalization: one of INPUT_NORMALIZATIONS.
  """
  num_stacks: int = 2
  mobile: bool = False
  tiny: bool = False
  input_height: int = 256
  input_width: int = 256
  num_keypoints: int = 16
  sync_bn: bool = False
  input_normalization: str = 'symmetric'

  def __post_init__(self):
    if self.num_stacks < 1:
      raise ValueError(f'num_stacks must be >= 1, got {self.num_stacks}')
    parse_input_shape(f'{self.input_height}x{self.input_width}')
    if self.num_keypoints < 1:
      raise ValueError(f'num_keypoints must be >= 1, got {self.num_keypoints}')
    if self.input_normalization not in INPUT_NORMALIZATIONS:
      raise ValueError(f'input_normalization must be one of {INPUT_NORMALIZATIONS}, got '
                       f'{self.input_normalization!r}')

  @property
  def channels(self):
    return 128 if self.tiny else 256

  @property
  def heatmap_size(self):
    """(height, width) of the output heatmaps."""
    return self.input_height // OUTPUT_STRIDE, self.input_width // OUTPUT_STRIDE

  def to_dict(self):
    return dataclasses.asdict(self)

  @classmethod
  def from_dict(cls, d):
    return cls(**{f.name: d[f.name] for f in dataclasses.fields(cls) if f.name in d})

  # Fields that must agree between a checkpoint and a resumed run (sync_bn may differ).
  ARCHITECTURE_FIELDS = ('num_stacks', 'mobile', 'tiny', 'input_height', 'input_width',
                         'num_keypoints', 'input_normalization')
