"""The precision choice (hourglass/training/precision.py) with faked CPU flags: by default bfloat16
on a CPU with AVX512_BF16 or AMX and float32 elsewhere, float32 wherever HOURGLASS_DEFAULT_PRECISION
says so, bfloat16 on a CPU when asked, a warning where the CPU emulates 16-bit floats."""

import pytest

from core import cpu
from hourglass.training import precision
from hourglass.training.strategy import StrategyConfig

ZEN3 = frozenset('fpu sse avx avx2 fma f16c'.split())
SAPPHIRE_RAPIDS = ZEN3 | {'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16'}
COOPER_LAKE = ZEN3 | {'avx512f', 'avx512_bf16'}


def test_the_default_is_bfloat16_where_the_cpu_computes_it_and_float32_elsewhere():
  default = StrategyConfig()
  for flags, gpu, dtype in ((SAPPHIRE_RAPIDS, False, 'bfloat16'), (COOPER_LAKE, False, 'bfloat16'),
                            (ZEN3, False, 'float32'), (SAPPHIRE_RAPIDS, True, 'float32'),
                            (ZEN3, True, 'float32')):
    choice = precision.choose_precision(default, gpu, flags)
    assert (choice.dtype, choice.slow) == (dtype, False), (flags, gpu, choice)
  native = precision.choose_precision(default, False, SAPPHIRE_RAPIDS).reason
  assert 'natively (avx512_bf16, amx_bf16' in native and '--nomixed_precision' in native
  assert 'no AVX512_BF16 or AMX' in precision.choose_precision(default, False, ZEN3).reason


def test_nomixed_precision_and_the_environment_pin_float32():
  off = precision.choose_precision(StrategyConfig(mixed_precision=False), False, SAPPHIRE_RAPIDS)
  assert (off.dtype, off.reason) == ('float32', '--nomixed_precision')
  pinned = precision.choose_precision(StrategyConfig(), False, SAPPHIRE_RAPIDS, default='float32')
  assert pinned.dtype == 'float32' and 'HOURGLASS_DEFAULT_PRECISION=float32' in pinned.reason
  # the pin sets only the default: asking for 16 bits still gets them
  asked = precision.choose_precision(StrategyConfig(mixed_precision=True), False, SAPPHIRE_RAPIDS,
                                     default='float32')
  assert asked.dtype == 'bfloat16'
  with pytest.raises(ValueError, match='HOURGLASS_DEFAULT_PRECISION must be one of auto, float32'):
    precision.choose_precision(StrategyConfig(), False, ZEN3, default='bfloat16')


def test_choose_here_takes_the_environments_default_as_the_modes_read_it(monkeypatch):
  """modes/ read HOURGLASS_DEFAULT_PRECISION (modes.configs.default_precision); the library
  takes its value as an argument."""
  from modes.configs import default_precision  # pylint: disable=g-import-not-at-top
  monkeypatch.setenv(precision.DEFAULT_ENV, 'float32')  # conftest's pin, explicitly
  assert precision.choose_here(StrategyConfig(), default_precision()).dtype == 'float32'
  monkeypatch.setenv(precision.DEFAULT_ENV, 'auto')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  native = bool(cpu.native_bfloat16(cpu.cpu_flags()))
  cpu_only = not tf.config.list_physical_devices('GPU')
  assert precision.choose_here(StrategyConfig(), default_precision()).dtype == (
      'bfloat16' if native and cpu_only else 'float32')
  monkeypatch.delenv(precision.DEFAULT_ENV)
  assert default_precision() == 'auto'
  monkeypatch.setenv(precision.DEFAULT_ENV, 'half')
  with pytest.raises(ValueError, match='half'):
    precision.choose_here(StrategyConfig(), default_precision())


def test_mixed_precision_is_bfloat16_on_cpu_and_warns_where_it_is_emulated():
  asked = StrategyConfig(mixed_precision=True)
  fast = precision.choose_precision(asked, False, COOPER_LAKE)
  assert (fast.dtype, fast.slow) == ('bfloat16', False)
  slow = precision.choose_precision(asked, False, ZEN3)
  assert (slow.dtype, slow.slow) == ('bfloat16', True) and '16x slower' in slow.reason
  gpu = precision.choose_precision(asked, True, ZEN3)
  assert (gpu.dtype, gpu.slow) == ('float16', False)
  # float16 forced on a CPU is software whatever the bfloat16 units
  forced = precision.choose_precision(StrategyConfig(mixed_precision_dtype='float16'), False,
                                      SAPPHIRE_RAPIDS)
  assert (forced.dtype, forced.slow) == ('float16', True)
