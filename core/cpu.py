"""The processor this runs on, read from /proc/cpuinfo: its model name and the feature flags that
decide 16-bit training (hourglass/training/precision.py) and name the machine in a benchmark's
first line (benchmarks/harness.py). Linux only; elsewhere every reading is empty."""

import os

CPUINFO = '/proc/cpuinfo'

# /proc/cpuinfo flags of processors that compute bfloat16 in hardware.
BFLOAT16_CPU_FLAGS = ('avx512_bf16', 'amx_bf16')

# The features a benchmark line names, each with the flags that show it (any one suffices).
NAMED_FEATURES = (('AVX-512', ('avx512f',)), ('AVX512_BF16', ('avx512_bf16',)),
                  ('AMX', ('amx_tile', 'amx_bf16', 'amx_int8')))


def _first_field(path, names):
  """The value of the first `name: value` line of `path` whose name starts with one of `names`
  (lower-cased keys), or None where there is none or the file cannot be read."""
  try:
    with open(path, encoding='utf-8', errors='replace') as f:
      for line in f:
        if line.lower().startswith(names) and ':' in line:
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return None


def cpu_flags(path=CPUINFO):
  """The processor's feature flags (a frozenset of lower-case names; empty where unknown)."""
  value = _first_field(path, ('flags', 'features'))
  return frozenset(value.lower().split()) if value else frozenset()


def cpu_model(path=CPUINFO):
  """The processor's model name ('unknown CPU' where /proc/cpuinfo does not say)."""
  return _first_field(path, ('model name', 'cpu model', 'hardware')) or 'unknown CPU'


def native_bfloat16(flags):
  """The flags in BFLOAT16_CPU_FLAGS that `flags` has (a tuple; empty: bfloat16 is emulated)."""
  return tuple(f for f in BFLOAT16_CPU_FLAGS if f in flags)


def usable_cores():
  """The number of CPUs this process may run on (its affinity mask, else os.cpu_count())."""
  try:
    return len(os.sched_getaffinity(0))
  except (AttributeError, OSError):
    return os.cpu_count() or 1


def describe(path=CPUINFO, cores=None):
  """One line naming the machine: model, AVX-512, AVX512_BF16 and AMX (yes/no), cores.

  E.g. 'CPU: Intel(R) Xeon(R) Platinum 8480C; AVX-512 yes, AVX512_BF16 yes, AMX yes; 2 cores'.
  """
  flags = cpu_flags(path)
  features = ', '.join(f'{name} {"yes" if any(f in flags for f in shown_by) else "no"}'
                       for name, shown_by in NAMED_FEATURES)
  cores = usable_cores() if cores is None else cores
  return f'CPU: {cpu_model(path)}; {features}; {cores} core{"s" if cores != 1 else ""}'
