"""The processor reading (core/cpu.py) on written /proc/cpuinfo files: flags, model name, the
bfloat16 units and the one line a benchmark starts with."""

from core import cpu

ZEN3 = frozenset('fpu sse avx avx2 fma f16c'.split())
SAPPHIRE_RAPIDS = ZEN3 | {'avx512f', 'avx512_bf16', 'amx_tile', 'amx_bf16'}
COOPER_LAKE = ZEN3 | {'avx512f', 'avx512_bf16'}


def _cpuinfo(tmp_path, model, flags):
  info = tmp_path / 'cpuinfo'
  info.write_text(f'processor\t: 0\nmodel name\t: {model}\nflags\t\t: {flags}\n\n'
                  'processor\t: 1\nflags\t\t: fpu\n')
  return str(info)


def test_native_bfloat16_needs_avx512_bf16_or_amx():
  assert cpu.native_bfloat16(ZEN3) == ()
  assert cpu.native_bfloat16(ZEN3 | {'avx512f'}) == ()
  assert cpu.native_bfloat16(COOPER_LAKE) == ('avx512_bf16',)
  assert cpu.native_bfloat16(SAPPHIRE_RAPIDS) == ('avx512_bf16', 'amx_bf16')


def test_cpu_flags_and_model_read_the_first_processor(tmp_path):
  info = _cpuinfo(tmp_path, 'X', 'fpu AVX512_BF16 amx_bf16')
  assert cpu.cpu_flags(info) == {'fpu', 'avx512_bf16', 'amx_bf16'}
  assert cpu.cpu_model(info) == 'X'
  assert cpu.cpu_flags(str(tmp_path / 'missing')) == frozenset()
  assert cpu.cpu_model(str(tmp_path / 'missing')) == 'unknown CPU'


def test_describe_names_the_model_the_16_bit_features_and_the_cores(tmp_path):
  xeon = _cpuinfo(tmp_path, 'Intel(R) Xeon(R) Platinum 8480C', ' '.join(SAPPHIRE_RAPIDS))
  assert cpu.describe(xeon, cores=2) == ('CPU: Intel(R) Xeon(R) Platinum 8480C; AVX-512 yes, '
                                         'AVX512_BF16 yes, AMX yes; 2 cores')
  epyc = _cpuinfo(tmp_path, 'AMD EPYC 7B13', ' '.join(ZEN3))
  assert cpu.describe(epyc, cores=1) == ('CPU: AMD EPYC 7B13; AVX-512 no, AVX512_BF16 no, '
                                         'AMX no; 1 core')
  assert cpu.usable_cores() >= 1
