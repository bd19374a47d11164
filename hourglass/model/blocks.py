"""Building blocks of the Stacked Hourglass network (the seed's architecture).

Every convolution has a bias (also before BN), as in the seed, so parameter counts match its
table. Layer names encode the place in the network (`front_*`, `hg{i}_*`) so that fine-tuning and
export find layers by name.
"""

import keras
from keras import layers

from hourglass.model import fuse_separable
from hourglass.model.config import SEED_MEAN_RGB
from hourglass.model.fused_batch_norm import FusedBatchNorm


def conv(x, channels, kernel, name, mobile, activation='relu', strides=1):
  """A convolution: Conv2D, or SeparableConv2D (bias-free depthwise + pointwise with bias); a 1x1
  stride-1 separable conv is a SeparableConv1x1, which trains as one conv."""
  if mobile:
    separable = (fuse_separable.SeparableConv1x1 if kernel == 1 and strides == 1
                 else layers.SeparableConv2D)
    return separable(channels, kernel, strides=strides, padding='same', activation=activation,
                     name=name)(x)
  return layers.Conv2D(channels, kernel, strides=strides, padding='same', activation=activation,
                       name=name)(x)


# PyTorch's default (momentum 0.1 there), as pose-hg-train and mmpose train with. Keras' 0.99 lets
# the moving statistics lag the weights so far in runs of a few hundred steps that the
# inference-mode output diverges while the training loss falls.
BN_MOMENTUM = 0.9


def batch_norm(x, name, sync_bn):
  return FusedBatchNorm(momentum=BN_MOMENTUM, synchronized=sync_bn, name=name)(x)


def residual(x, channels, name, mobile, sync_bn):
  """Bottleneck residual block: 1x1 C/2, 3x3 C/2, 1x1 C (each conv+ReLU then BN) plus a skip.

  Args:
    x: [B, H, W, C_in] features.
    channels: C, the output channels.
  Returns:
    [B, H, W, C] features. The skip is a 1x1 conv (+ReLU) when C_in != C, else the identity.
  """
  if x.shape[-1] == channels:
    skip = x
  else:
    skip = conv(x, channels, 1, f'{name}_skip', mobile)
  y = conv(x, channels // 2, 1, f'{name}_conv_1x1_x1', mobile)
  y = batch_norm(y, f'{name}_bn_x1', sync_bn)
  y = conv(y, channels // 2, 3, f'{name}_conv_3x3_x2', mobile)
  y = batch_norm(y, f'{name}_bn_x2', sync_bn)
  y = conv(y, channels, 1, f'{name}_conv_1x1_x3', mobile)
  y = batch_norm(y, f'{name}_bn_x3', sync_bn)
  return layers.Add(name=f'{name}_residual')([skip, y])


def front_module(x, channels, mobile, sync_bn):
  """Input to 1/4 resolution: 7x7/2 conv 64, BN, residual C/2, maxpool, residual C/2, residual C."""
  x = layers.Conv2D(64, 7, strides=2, padding='same', activation='relu', name='front_conv_7x7')(x)
  x = batch_norm(x, 'front_bn', sync_bn)
  x = residual(x, channels // 2, 'front_residual_x1', mobile, sync_bn)
  x = layers.MaxPool2D(2, 2, name='front_maxpool')(x)
  x = residual(x, channels // 2, 'front_residual_x2', mobile, sync_bn)
  return residual(x, channels, 'front_residual_x3', mobile, sync_bn)


def hourglass_module(x, channels, name, mobile, sync_bn):
  """One hourglass: 3 max-pool levels down, nearest upsampling back up, 14 residual blocks.

  Args:
    x: [B, H, W, C] features at 1/4 input resolution (H, W divisible by 8).
  Returns:
    [B, H, W, C] features.
  """
  def block(t, suffix):
    return residual(t, channels, f'{name}_{suffix}', mobile, sync_bn)

  left = [block(x, 'l1')]
  for level in ('l2', 'l4', 'l8'):
    pooled = layers.MaxPool2D(2, 2, name=f'{name}_{level}_maxpool')(left[-1])
    left.append(block(pooled, level))
  # Lowest resolution: one block on the skip path, three on the main path, added.
  skip = block(left[3], 'lf8')
  y = block(block(block(left[3], 'lf8_x1'), 'lf8_x2'), 'lf8_x3')
  y = layers.Add(name=f'{name}_rf8')([y, skip])
  for level, lateral in (('rf4', left[2]), ('rf2', left[1]), ('rf1', left[0])):
    lateral = block(lateral, f'{level}_connect')
    up = layers.UpSampling2D(2, interpolation='nearest', name=f'{name}_{level}_upsample')(y)
    y = layers.Add(name=f'{name}_{level}_add')([lateral, up])
    y = block(y, f'{level}_connect_conv')
  return y


def head(stack_input, features, channels, num_keypoints, name, sync_bn, is_last):
  """Prediction head of one stack.

  Returns:
    (next_stack_input or None for the last stack, heatmaps [B, H, W, K] in float32).
  """
  y = layers.Conv2D(channels, 1, padding='same', activation='relu', name=f'{name}_conv_1x1_x1')(
      features)
  y = batch_norm(y, f'{name}_bn_head', sync_bn)
  # Near-zero initial heatmaps (as mmpose's heads): with the default init the first outputs are
  # O(1) against targets that are ~0 almost everywhere, and the first few hundred steps went into
  # pushing them down (initial loss ~1 vs ~0.02 for all-zero heatmaps).
  predict = layers.Conv2D(num_keypoints, 1, padding='same', name=f'{name}_conv_1x1_predict',
                          kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3))(y)
  # Heatmaps leave the network in float32 whatever the mixed precision policy.
  heatmaps = layers.Activation('linear', dtype='float32', name=f'{name}_heatmaps')(predict)
  if is_last:
    return None, heatmaps
  y = layers.Conv2D(channels, 1, padding='same', name=f'{name}_conv_1x1_x2')(y)
  remap = layers.Conv2D(channels, 1, padding='same', name=f'{name}_conv_1x1_x3')(predict)
  return layers.Add(name=f'{name}_next')([y, remap, stack_input]), heatmaps


def normalize_pixels(x, kind='symmetric'):
  """RGB pixels in [0, 255] (any dtype) -> [-1, 1] ('symmetric'), or RGB / 255 minus the seed's
  mean ('seed_mean'; ModelConfig.input_normalization), inside the model so exports need no
  code."""
  if kind == 'seed_mean':
    return layers.Rescaling(1.0 / 255.0, offset=[-m for m in SEED_MEAN_RGB],
                            name='front_normalize')(x)
  return layers.Rescaling(1.0 / 127.5, offset=-1.0, name='front_normalize')(x)

