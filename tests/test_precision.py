"""The precision choice (hourglass/training/precision.py) with faked CPU flags: float32 by default
everywhere, bfloat16 on a CPU when asked, a warning where the CPU emulates 16-bit floats."""

from hourglass.training import precision
from hourglass.training.strategy import StrategyConfig

ZEN3 = frozenset('fpu sse avx avx2 fma f16c'.split())
SAPPHIRE_RAPIDS = ZEN3 | {'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16'}
COOPER_LAKE = ZEN3 | {'avx512f', 'avx512_bf16'}


def test_native_bfloat16_needs_avx512_bf16_or_amx():
  assert precision.native_bfloat16(ZEN3) == ()
  assert precision.native_bfloat16(ZEN3 | {'avx512f'}) == ()
  assert precision.native_bfloat16(COOPER_LAKE) == ('avx512_bf16',)
  assert precision.native_bfloat16(SAPPHIRE_RAPIDS) == ('avx512_bf16', 'amx_bf16')


def test_cpu_flags_read_the_flags_line(tmp_path):
  info = tmp_path / 'cpuinfo'
  info.write_text('processor\t: 0\nmodel name\t: X\nflags\t\t: fpu AVX512_BF16 amx_bf16\n\n'
                  'processor\t: 1\nflags\t\t: fpu\n')
  assert precision.cpu_flags(str(info)) == {'fpu', 'avx512_bf16', 'amx_bf16'}
  assert precision.cpu_flags(str(tmp_path / 'missing')) == frozenset()


def test_the_default_is_float32_and_says_why():
  default = StrategyConfig()
  for flags in (ZEN3, SAPPHIRE_RAPIDS):
    for gpu in (False, True):
      choice = precision.choose_precision(default, gpu, flags)
      assert choice.dtype == 'float32' and not choice.slow, choice
  assert 'natively (avx512_bf16, amx_bf16)' in precision.choose_precision(
      default, False, SAPPHIRE_RAPIDS).reason
  assert 'no AVX512_BF16 or AMX' in precision.choose_precision(default, False, ZEN3).reason


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
