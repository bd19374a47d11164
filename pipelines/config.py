"""PipelineConfig: everything that shapes the input pipeline (augmentation, targets, batching)."""

import dataclasses
from typing import Optional, Tuple

from hourglass.keypoints import OUTPUT_STRIDE
from core.errors import UserInputError


class PipelineConfigError(UserInputError, ValueError):
  """An out-of-range pipeline setting (a flag value); the message names the setting."""


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
  """Input pipeline settings. Plain values only: modes/ fill it from flags.

  Attributes:
    input_shape: (H, W) model input; None = the records' manifest input_shape.
    stride: input pixels per heatmap pixel (the model's output stride).
    sigma: Gaussian sigma of the target heatmaps, in heatmap pixels.
    batch_size: GLOBAL batch size; each replica gets InputContext.get_per_replica_batch_size.
    shuffle_buffer: examples in the shuffle buffer.
    deterministic: fixed element order and content: a pure function of (seed, epoch).
    seed: seed of the shuffle and of every augmentation draw.
    augment: False turns every augmentation off in the training pipeline.
    scale_min, scale_max: object zoom factor range (> 1 = object larger).
    scale_prob: probability of a random zoom.
    rotation: maximum rotation in degrees (uniform in [-rotation, rotation]).
    rotation_prob: probability of a rotation.
    translate: maximum shift as a fraction of the input side.
    flip_prob: probability of a horizontal flip (match-point channels swapped).
    vflip_prob: probability of a vertical flip; used only for definitions with 'v' pairs.
    brightness, contrast, saturation: maximum relative change (factor in [1 - x, 1 + x]).
    hue: maximum hue rotation as a fraction of the colour circle.
    color_prob: probability of the colour jitter (all four together; 0.5 as albumentations'
      ColorJitter: the 3x3 colour pass costs about a third of a decode and warp on CPU).
    grayscale_prob: probability of converting the image to gray (3 equal channels).
    blur_prob: probability of a Gaussian blur; blur_sigma: its maximum sigma in input pixels.
    decode_ratio: JPEG DCT downscaling at decode (1, 2, 4, 8): for records whose crops have
      more resolution than the model input needs.
    fast_dct: the faster, slightly less exact JPEG IDCT.
    cycle_length: shards read in parallel.
  """
  input_shape: Optional[Tuple[int, int]] = None
  stride: int = OUTPUT_STRIDE
  sigma: float = 2.0
  batch_size: int = 16
  shuffle_buffer: int = 1024
  deterministic: bool = False
  seed: int = 0
  augment: bool = True
  scale_min: float = 0.8
  scale_max: float = 1.2
  scale_prob: float = 1.0
  rotation: float = 30.0
  rotation_prob: float = 1.0
  translate: float = 0.05
  flip_prob: float = 0.5
  vflip_prob: float = 0.5
  brightness: float = 0.2
  contrast: float = 0.2
  saturation: float = 0.2
  hue: float = 0.02
  color_prob: float = 0.5
  grayscale_prob: float = 0.0
  blur_prob: float = 0.0
  blur_sigma: float = 1.5
  decode_ratio: int = 1
  fast_dct: bool = True
  cycle_length: int = 4

  def __post_init__(self):
    if not 0 < self.scale_min <= self.scale_max:
      raise PipelineConfigError(f'need 0 < scale_min <= scale_max, got {self.scale_min}, '
                       f'{self.scale_max}')
    for name in ('scale_prob', 'rotation_prob', 'flip_prob', 'vflip_prob', 'color_prob',
                 'grayscale_prob', 'blur_prob'):
      value = getattr(self, name)
      if not 0.0 <= value <= 1.0:
        raise PipelineConfigError(f'{name} must be a probability in [0, 1], got {value}')
    for name in ('rotation', 'translate', 'brightness', 'contrast', 'saturation', 'hue',
                 'blur_sigma'):
      if getattr(self, name) < 0:
        raise PipelineConfigError(f'{name} must be >= 0, got {getattr(self, name)}')
    if self.decode_ratio not in (1, 2, 4, 8):
      raise PipelineConfigError(f'decode_ratio must be 1, 2, 4 or 8, got {self.decode_ratio}')
    if self.sigma <= 0 or self.batch_size < 1 or self.shuffle_buffer < 1:
      raise PipelineConfigError('sigma must be > 0, batch_size and shuffle_buffer >= 1')
