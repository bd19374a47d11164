"""Every benchmark parses its flags in this process, without running: `--help` and the defaults
(with placeholders where a flag is required); its module loads no TensorFlow when imported (only
the standard library, numpy, core/ and the harness at module level); the harness's first line
names the machine."""

import ast
import importlib
import os
import sys

import pytest

from benchmarks import harness

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'benchmarks')
SCRIPTS = sorted(name[:-len('.py')] for name in os.listdir(BENCHMARKS)
                 if name.endswith('.py') and name not in ('__init__.py', 'harness.py'))
# The arguments a benchmark requires, as placeholders (nothing runs).
REQUIRED = {
    'cpp_parity': ['--model_dir=MODEL'],
    'detector_speed': ['--model_path=MODEL', '--detector_path=DETECTOR',
                       '--single_model_path=MODEL'],
    'frame_selection': ['--model_path=MODEL', '--synthetic=WALK_DIR'],
    'identity_tracking': ['--model_path=MODEL', '--detector_path=DETECTOR', '--out=DIR'],
    'search_levels': ['MODEL_DIR', 'RECORDS_DIR'],
    'video_tracking': ['--model_path=MODEL'],
}
# What a benchmark may import at module level: nothing that loads TensorFlow.
MODULE_LEVEL = ('benchmarks', 'core', 'numpy', '__future__')


def _module_level_imports(path):
  with open(path, encoding='utf-8') as f:
    tree = ast.parse(f.read())
  for node in tree.body:
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      yield node.module or ''


def _third_party_or_project(name):
  top = name.split('.')[0]
  return top not in MODULE_LEVEL and top not in sys.stdlib_module_names


def test_every_benchmark_parses_its_flags_and_loads_no_tensorflow_on_import(capsys):
  assert 'harness' not in SCRIPTS and len(SCRIPTS) >= 10, SCRIPTS
  for name in SCRIPTS:
    heavy = [i for i in _module_level_imports(os.path.join(BENCHMARKS, f'{name}.py'))
             if _third_party_or_project(i)]
    assert not heavy, f'benchmarks/{name}.py imports {heavy} at module level'
    module = importlib.import_module(f'benchmarks.{name}')
    with pytest.raises(SystemExit) as exit_info:
      module.parser().parse_args(['--help'])
    assert exit_info.value.code == 0, name
    usage = capsys.readouterr().out
    assert usage.startswith('usage: ') and module.__doc__.split('\n')[0].strip() in usage, name
    args = module.parser().parse_args(REQUIRED.get(name, []))
    assert vars(args), name
    assert callable(module.main), name


def test_the_first_line_names_the_machine(capsys):
  parser = harness.add_step_args(harness.new_parser('A step.\n\nMore.'))
  args = harness.start(parser, ['--size=64'])
  assert (args.size, args.batch) == (64, 8)
  first = capsys.readouterr().out.splitlines()[0]
  assert first.startswith('CPU: ') and 'AVX-512 ' in first and 'AVX512_BF16 ' in first
  assert ' AMX ' in first and first.endswith(('core', 'cores'))
