"""The compute precision of training: which one runs here, and why.

- Without --mixed_precision (the flag unset): bfloat16 on a CPU that computes it natively
  (AVX512_BF16 or AMX, `native_bfloat16`), float32 elsewhere (GPUs included: float16 there is not
  measured here). On a 2-core Xeon with AMX, bfloat16 trained every model faster than float32
  (256x256, 2 stacks, batch 8: standard 2.2x, mobile 1.6x, mobile tiny 1.5x; the quickstart
  1.16x), with accuracy no worse on two seeds (docs/benchmarks.md, "Precision").
- --mixed_precision: float16 with loss scaling on a GPU, bfloat16 on a CPU;
  --nomixed_precision: float32. --mixed_precision_dtype forces a 16-bit dtype.
- Where oneDNN emulates bfloat16, a training step of four 3x3 convolutions (256 channels, 64x64,
  batch 8) ran 16x slower in bfloat16 than in float32 on an AMD EPYC (Zen 3)
  (benchmarks/conv_precision.py, docs/benchmarks.md), so asking for it there gives a warning.
- HOURGLASS_DEFAULT_PRECISION=float32 (DEFAULT_ENV) in the environment makes an unset
  --mixed_precision mean float32 on every machine (the tests' one shared setting: they compare
  runs at 1e-5). modes/ read the variable and pass its value as `default`.
"""

from typing import NamedTuple

import keras
import tensorflow as tf

from core.cpu import cpu_flags, native_bfloat16
from hourglass.training import PRECISIONS

# What an unset --mixed_precision means: 'auto' (the rule above) or 'float32'.
DEFAULT_ENV = 'HOURGLASS_DEFAULT_PRECISION'
DEFAULT_CHOICES = ('auto', 'float32')


class Precision(NamedTuple):
  """The compute dtype of a run and why it was chosen.

  dtype: 'float32', 'float16' or 'bfloat16'.
  reason: one phrase for the startup line.
  slow: True where `dtype` is emulated in software on this machine (worth a warning).
  """
  dtype: str
  reason: str
  slow: bool = False


def choose_precision(config, has_gpu, flags, default='auto'):
  """The Precision that `config` asks for on this machine.

  Args:
    config: a StrategyConfig (mixed_precision: True, False or None for the default;
      mixed_precision_dtype).
    has_gpu: whether training runs on a GPU.
    flags: the CPU's feature flags (core.cpu.cpu_flags()).
    default: what mixed_precision=None means, one of DEFAULT_CHOICES.
  Raises:
    ValueError: an unknown mixed_precision_dtype or default.
  """
  forced = config.mixed_precision_dtype
  if forced is not None and forced not in PRECISIONS:
    raise ValueError(f'mixed_precision_dtype must be one of {", ".join(PRECISIONS)}, '
                     f'got {forced!r}')
  if default not in DEFAULT_CHOICES:
    raise ValueError(f'{DEFAULT_ENV} must be one of {", ".join(DEFAULT_CHOICES)}, got {default!r}')
  native = ', '.join(native_bfloat16(flags))
  if forced is None and not config.mixed_precision:
    if config.mixed_precision is not None:
      return Precision('float32', '--nomixed_precision')
    if default == 'float32':
      return Precision('float32', f'the default, {DEFAULT_ENV}=float32')
    if has_gpu:
      return Precision('float32', 'the default on a GPU; --mixed_precision trains in float16 '
                       'with loss scaling')
    if native:
      return Precision('bfloat16', f'the default on this CPU, which computes bfloat16 natively '
                       f'({native}; heatmaps, loss, BN statistics and optimizer state stay '
                       'float32); --nomixed_precision trains in float32')
    return Precision('float32', 'the default; this CPU has no AVX512_BF16 or AMX, so bfloat16 '
                     'would be slow')
  dtype = forced or ('float16' if has_gpu else 'bfloat16')
  asked = '--mixed_precision_dtype' if forced else '--mixed_precision'
  if has_gpu:
    return Precision(dtype, f'{asked} on a GPU')
  if dtype == 'bfloat16' and native:
    return Precision(dtype, f'{asked}; this CPU computes bfloat16 natively ({native})')
  return Precision(dtype, f'{asked}; this CPU computes {dtype} in software (no '
                   f'{"AVX512_BF16 or AMX" if dtype == "bfloat16" else "float16 units"}): a '
                   'convolution step ran 16x slower in bfloat16 than in float32 on such a CPU',
                   slow=True)


def choose_here(config, default='auto'):
  """The Precision that `config` asks for on this machine (its GPUs and CPU flags).

  Args:
    default: what an unset mixed_precision means, 'auto' or 'float32' (DEFAULT_ENV's value).
  """
  return choose_precision(config, bool(tf.config.list_physical_devices('GPU')), cpu_flags(),
                          default=default)


def set_precision_policy(dtype):
  """Sets the Keras global policy: 'float32', or mixed with float32 variables for 16-bit dtypes.

  The model's heatmap outputs stay float32 (hourglass/model/blocks.py) and so does the loss.
  """
  policy = 'float32' if dtype == 'float32' else f'mixed_{dtype}'
  keras.config.set_dtype_policy(policy)
  return policy
