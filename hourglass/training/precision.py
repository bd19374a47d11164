"""The compute precision of training: which one runs here, and why.

- float32 unless --mixed_precision (or --mixed_precision_dtype) asks for 16 bits.
- --mixed_precision: float16 with loss scaling on a GPU, bfloat16 on a CPU.
- On a CPU, bfloat16 is fast only where the processor computes it: AVX512_BF16 or AMX
  (`native_bfloat16`). Elsewhere oneDNN emulates it; a training step of four 3x3 convolutions
  (256 channels, 64x64, batch 8) ran 16x slower in bfloat16 than in float32 on an AMD EPYC
  (Zen 3) without either (benchmarks/conv_precision.py, BUILD.md), so asking for it there gives a warning.
- The default stays float32 on every machine. On a CPU with AMX, bfloat16 trained the larger
  models faster (standard 1.48x, mobile 1.11x over the float32 loop at 256x256) but the
  quickstart's mobile tiny 96x96 about 4% slower, with accuracy within the seed noise (BUILD.md,
  "Precision"): a speed-up for some models only, so it stays a flag.
"""

from typing import NamedTuple

import keras
import tensorflow as tf

from hourglass.training import PRECISIONS

# /proc/cpuinfo flags of processors that compute bfloat16 in hardware.
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')


def cpu_flags(path='/proc/cpuinfo'):
  """The processor's feature flags (a frozenset of lower-case names; empty where unknown)."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      for line in f:
        if line.lower().startswith(('flags', 'features')) and ':' in line:
          return frozenset(line.split(':', 1)[1].lower().split())
  except OSError:
    pass
  return frozenset()


def native_bfloat16(flags):
  """The flags in BFLOAT16_CPU_FLAGS that `flags` has (a tuple; empty: bfloat16 is emulated)."""
  return tuple(f for f in BFLOAT16_CPU_FLAGS if f in flags)


class Precision(NamedTuple):
  """The compute dtype of a run and why it was chosen.

  dtype: 'float32', 'float16' or 'bfloat16'.
  reason: one phrase for the startup line.
  slow: True where `dtype` is emulated in software on this machine (worth a warning).
  """
  dtype: str
  reason: str
  slow: bool = False


def choose_precision(config, has_gpu, flags):
  """The Precision that `config` asks for on this machine.

  Args:
    config: a StrategyConfig (mixed_precision, mixed_precision_dtype).
    has_gpu: whether training runs on a GPU.
    flags: the CPU's feature flags (cpu_flags()).
  Raises:
    ValueError: an unknown mixed_precision_dtype.
  """
  forced = config.mixed_precision_dtype
  if forced is not None and forced not in PRECISIONS:
    raise ValueError(f'mixed_precision_dtype must be one of {", ".join(PRECISIONS)}, '
                     f'got {forced!r}')
  native = ', '.join(native_bfloat16(flags))
  if not config.mixed_precision and forced is None:
    if has_gpu:
      return Precision('float32', 'the default; --mixed_precision trains in float16 with loss '
                       'scaling')
    if native:
      return Precision('float32', f'the default; this CPU computes bfloat16 natively ({native}): '
                       '--mixed_precision trains the standard and mobile models faster at 256x256, '
                       'small models like the quickstart\'s not (BUILD.md, "Precision")')
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


def choose_here(config):
  """The Precision that `config` asks for on this machine (its GPUs and CPU flags)."""
  return choose_precision(config, bool(tf.config.list_physical_devices('GPU')), cpu_flags())


def set_precision_policy(dtype):
  """Sets the Keras global policy: 'float32', or mixed with float32 variables for 16-bit dtypes.

  The model's heatmap outputs stay float32 (hourglass/model/blocks.py) and so does the loss.
  """
  policy = 'float32' if dtype == 'float32' else f'mixed_{dtype}'
  keras.config.set_dtype_policy(policy)
  return policy
