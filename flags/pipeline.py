"""Input pipeline flags: augmentation ranges and probabilities, targets, --mode=visualize.

Flag names equal the PipelineConfig field names (pipelines/config.py) so that modes can copy
them field by field (modes/configs.py); defaults come from PipelineConfig (the seed's scale
0.8-1.2, +-30 degrees).
"""

from absl import flags as absl_flags

from flags.common import field_defaults
from pipelines.config import PipelineConfig
from workflows.config import VisualizeConfig

_D = PipelineConfig()
_VISUALIZE = field_defaults(VisualizeConfig)

absl_flags.DEFINE_float('sigma', _D.sigma, 'Gaussian sigma of the target heatmaps, in heatmap '
                        'pixels (the seed used 1 at 64x64; 2 is the common modern value).')
absl_flags.DEFINE_bool('augment', _D.augment, 'Augment the training data (off = plain crops).')
absl_flags.DEFINE_float('scale_min', _D.scale_min, 'Smallest random zoom (< 1 shrinks the object).')
absl_flags.DEFINE_float('scale_max', _D.scale_max, 'Largest random zoom (> 1 enlarges the object).')
absl_flags.DEFINE_float('scale_prob', _D.scale_prob, 'Probability of a random zoom.')
absl_flags.DEFINE_float('rotation', _D.rotation, 'Largest random rotation, degrees (+-).')
absl_flags.DEFINE_float('rotation_prob', _D.rotation_prob, 'Probability of a random rotation.')
absl_flags.DEFINE_float('translate', _D.translate,
                        'Largest random shift as a fraction of the input side (+-).')
absl_flags.DEFINE_float('flip_prob', _D.flip_prob,
                        'Probability of a horizontal flip (match-point channels swapped).')
absl_flags.DEFINE_float('vflip_prob', _D.vflip_prob, 'Probability of a vertical flip; only for '
                        'definitions with "v" match points.')
absl_flags.DEFINE_float('brightness', _D.brightness, 'Brightness jitter: factor in [1-x, 1+x].')
absl_flags.DEFINE_float('contrast', _D.contrast, 'Contrast jitter: factor in [1-x, 1+x].')
absl_flags.DEFINE_float('saturation', _D.saturation, 'Saturation jitter: factor in [1-x, 1+x].')
absl_flags.DEFINE_float('hue', _D.hue, 'Hue jitter: rotation up to x turns of the colour circle.')
absl_flags.DEFINE_float('color_prob', _D.color_prob, 'Probability of the colour jitter.')
absl_flags.DEFINE_float('grayscale_prob', _D.grayscale_prob, 'Probability of a gray image.')
absl_flags.DEFINE_float('blur_prob', _D.blur_prob, 'Probability of a Gaussian blur.')
absl_flags.DEFINE_float('blur_sigma', _D.blur_sigma, 'Largest blur sigma, input pixels.')
absl_flags.DEFINE_integer('shuffle_buffer', _D.shuffle_buffer, 'Examples in the shuffle buffer.',
                          lower_bound=1)
absl_flags.DEFINE_integer('decode_ratio', _D.decode_ratio, 'JPEG DCT downscaling at decode (1, '
                          '2, 4, 8): for records with more resolution than the model needs.')
absl_flags.DEFINE_integer('num_examples', _VISUALIZE['num_examples'],
                          '--mode=visualize: training examples in the grid.',
                          lower_bound=1)

