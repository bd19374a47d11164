"""The architecture as a test: import direction, no cycles, module and function size limits.

Reads every import of every module (also those inside functions) with `ast`, so a forbidden
import fails here with the offending file, line and import, before it is ever run.
The rules are those of hourglass/__init__.py's docstring; lowest layer first:
  core        the base: imports nothing of the project; every layer may import it.
  records     core, records.
  pipelines   core, records, pipelines, hourglass.keypoints' codec and geometry, the detector's
              targets (hourglass.detection.targets).
  hourglass   core, records, its own lower layers (_HOURGLASS).
  flags       constants only (FLAG_IMPORTS): defining the flags loads no TensorFlow.
  workflows   orchestration above hourglass and pipelines: core, records, pipelines,
              hourglass, workflows (never flags, modes, benchmarks or an entry point).
  modes       everything below (workflows and flags included); a mode module (one per --mode
              name, and export.py's) imports no other mode module, only the helpers MODE_HELPERS.
  benchmarks  core, records, pipelines, hourglass, workflows, flags, benchmarks: never modes or
              an entry point, and never a private name (`from x import _y`, `x._y`) of the
              project.
  entry       main.py and export.py dispatch to anything.
  tests       no file under tests/ imports a test module (tests/support and conftest hold what
              tests share), and every test_*.py holds tests.
Nothing below workflows/ imports workflows/.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('core', 'hourglass', 'pipelines', 'records', 'flags', 'workflows', 'modes',
            'benchmarks')
ENTRY_POINTS = ('main', 'export')
SIZE_LIMITED = ('core', 'hourglass', 'pipelines', 'records', 'workflows', 'modes', 'benchmarks')
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# The layers of hourglass/, lowest first: each may import itself and the layers it lists.
_HOURGLASS = {
    'keypoints': (),
    'model': ('keypoints',),
    'detection': ('keypoints', 'model'),
    'training': ('keypoints', 'model', 'detection'),
    'inference': ('keypoints', 'model', 'detection'),
    'evaluation': ('keypoints', 'model', 'detection', 'training', 'inference'),
    'export': ('keypoints', 'model', 'detection', 'training', 'inference', 'evaluation'),
    'labelling': ('keypoints', 'model', 'detection', 'inference'),
}
# What flags/ may import: constants only (package __init__s that hold choices, the records'
# errors and source names, the pipeline config's defaults) and the atomic write of the resolved
# flags, so that defining the flags loads no TensorFlow.
FLAG_IMPORTS = ('flags', 'core', 'core.errors', 'core.files', 'records', 'records.sources',
                'pipelines.config', 'hourglass',
                'hourglass.keypoints', 'hourglass.model', 'hourglass.training',
                'hourglass.export', 'records.config', 'hourglass.model.config',
                'hourglass.training.train_config', 'hourglass.evaluation.config',
                'hourglass.export.config', 'hourglass.inference.smoothing',
                'hourglass.inference.config',
                'hourglass.labelling.selection', 'workflows.config')
# The --mode names (flags/common.py's tuple): one module each in modes/. export.py's mode
# (modes/export.py) is a mode module too. Mode modules import no other mode module; every
# mode may import the helpers below (which import no mode module themselves).
MODES = ('quickstart', 'make_records', 'train', 'eval', 'predict', 'select_frames', 'visualize',
         'summary', 'import_seed')
MODE_HELPERS = ('modes', 'modes.configs', 'modes.console')
# Layers that may use only public names of the project (no `from x import _y`, no `x._y`).
PUBLIC_NAMES_ONLY = ('benchmarks',)
# What workflows/ and benchmarks/ may import (besides core and themselves); hourglass means any
# layer.
WORKFLOWS_IMPORTS = ('records', 'pipelines', 'workflows')
BENCHMARK_IMPORTS = ('records', 'pipelines', 'workflows', 'flags', 'benchmarks')
TESTS = 'tests'


def layer_of(module):
  """The package ('core', 'records', 'workflows', ...), 'entry', or 'hourglass.<layer>' of a
  module."""
  parts = module.split('.')
  if parts[0] == 'hourglass':
    return 'hourglass' if len(parts) == 1 else f'hourglass.{parts[1]}'
  return 'entry' if parts[0] in ENTRY_POINTS else parts[0]


def _within(module, prefixes):
  return any(module == p or module.startswith(p + '.') for p in prefixes)


def mode_of(module):
  """'modes.<name>' of a mode module (or of a module inside it); None for the helpers."""
  if _within(module, MODE_HELPERS[1:]) or module == 'modes':
    return None
  return '.'.join(module.split('.')[:2])


def _is_hourglass(layer):
  return layer == 'hourglass' or layer.startswith('hourglass.')


def allowed(importer, imported):
  """Whether module `importer` may import project module `imported`."""
  source, target = layer_of(importer), layer_of(imported)
  if target == 'core':
    return True  # the base layer serves every layer, itself included
  if source == 'core':
    return False
  if source == 'records':
    return target == 'records'
  if source == 'pipelines':
    return target in ('records', 'pipelines') or _within(
        imported, ('hourglass.keypoints.codec', 'hourglass.keypoints.geometry',
                   'hourglass.detection.targets')) or (
            imported in ('hourglass', 'hourglass.keypoints', 'hourglass.detection'))
  if source == 'flags':
    return _within(imported, ('flags',)) or imported in FLAG_IMPORTS
  if source == 'hourglass':
    return False  # the package's __init__ imports nothing
  if source.startswith('hourglass.'):
    if target == 'records' or imported == 'hourglass':
      return True
    if not target.startswith('hourglass.'):
      return False  # never pipelines/, flags/, modes/ or an entry point
    own, other = source.split('.')[1], target.split('.')[1]
    return other == own or other in _HOURGLASS[own]
  if source == 'workflows':
    return target in WORKFLOWS_IMPORTS or _is_hourglass(target)
  if source == 'modes':
    if target in ('entry', 'benchmarks'):
      return False
    return target != 'modes' or mode_of(imported) in (None, mode_of(importer))
  if source == 'benchmarks':
    return target in BENCHMARK_IMPORTS or _is_hourglass(target)
  return True  # the entry points dispatch to anything


def _module_name(path):
  rel = os.path.relpath(path, ROOT)[:-len('.py')].split(os.sep)
  return '.'.join(rel[:-1] if rel[-1] == '__init__' else rel)


def project_modules():
  """{dotted module name: file path} of every project module and entry point."""
  found = {name: os.path.join(ROOT, f'{name}.py') for name in ENTRY_POINTS}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
      for name in files:
        if name.endswith('.py'):
          path = os.path.join(folder, name)
          found[_module_name(path)] = path
  return found


def imports_of(source, known):
  """[(line, imported project module)] of every import in `source`, inside functions too."""
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
      # `from a.b import c` imports a.b, and a.b.c too when c is a module.
      names = [node.module] + [f'{node.module}.{alias.name}' for alias in node.names]
      names = [n for n in names if n == node.module or n in known]
    else:
      continue
    for name in names:
      top = name.split('.')[0]
      if top in PACKAGES or top in ENTRY_POINTS:
        found.append((node.lineno, name))
  return found


def _private(name):
  return name.startswith('_') and not (name.startswith('__') and name.endswith('__'))


def _dotted(node):
  """'a.b.c' of a Name/Attribute chain, else None."""
  if isinstance(node, ast.Name):
    return node.id
  if isinstance(node, ast.Attribute):
    base = _dotted(node.value)
    return base and f'{base}.{node.attr}'
  return None


def private_uses(source, known):
  """[(line, 'module._name')] of every private project name used: `from x import _y` and `x._y`
  where x is a project module (bound by an import anywhere in the file)."""
  tree = ast.parse(source)
  bound, found = {}, []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.split('.')[0] in known or alias.name in known:
          bound[alias.asname or alias.name.split('.')[0]] = (
              alias.name if alias.asname else alias.name.split('.')[0])
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
      for alias in node.names:
        if _private(alias.name):
          found.append((node.lineno, f'{node.module}.{alias.name}'))
        elif f'{node.module}.{alias.name}' in known:
          bound[alias.asname or alias.name] = f'{node.module}.{alias.name}'
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute) and _private(node.attr):
      base = _dotted(node.value)
      head = base and base.split('.')[0]
      if head in bound:
        module = bound[head] + base[len(head):]
        if module in known or module.split('.')[0] in PACKAGES + ENTRY_POINTS:
          found.append((node.lineno, f'{module}.{node.attr}'))
  return found


def _test_tree_package(dotted):
  return os.path.isdir(os.path.join(ROOT, *dotted.split('.')))


def imported_test_modules(module, source):
  """[(line, imported test module)] of every test module that `module` (under tests/) imports,
  relative imports included: tests share code through tests/support and conftest only."""
  package = module.split('.')[:-1]
  found = []
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = package[:len(package) - node.level + 1] if node.level else []
      origin = '.'.join(base + ([node.module] if node.module else []))
      names = [origin] + [f'{origin}.{alias.name}' if origin else alias.name
                          for alias in node.names if _test_tree_package(origin)]
    else:
      continue
    for name in names:
      parts = name.split('.')
      if parts[0] == TESTS and any(p.startswith('test_') for p in parts[1:]):
        found.append((node.lineno, name))
  return found


def violations(module, source, known):
  """Lines naming each forbidden import of `module` (given as its source text)."""
  path = os.path.relpath(known.get(module, os.path.join(ROOT, *module.split('.')) + '.py'), ROOT)
  if module.split('.')[0] == TESTS:
    return [f'{path}:{line}: {module} must not import the test module {imported} '
            '(move what it shares to tests/support or a conftest.py)'
            for line, imported in imported_test_modules(module, source)]
  found = [f'{path}:{line}: {module} must not import {imported}'
           for line, imported in imports_of(source, known)
           if not allowed(module, imported)]
  if layer_of(module) in PUBLIC_NAMES_ONLY:
    found += [f'{path}:{line}: {module} must not import the private name {name} '
              '(use or add a public function)' for line, name in private_uses(source, known)]
  return found


def _read(path):
  with open(path, encoding='utf-8') as f:
    return f.read()


def import_graph(known):
  return {module: {imported for _, imported in imports_of(_read(path), known)
                   if imported in known and imported != module}
          for module, path in known.items()}


def find_cycles(graph):
  """Strongly connected components with more than one module (Tarjan), each sorted."""
  index, low, stack, on_stack, cycles = {}, {}, [], set(), []

  def visit(node):
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for nxt in sorted(graph[node]):
      if nxt not in index:
        visit(nxt)
        low[node] = min(low[node], low[nxt])
      elif nxt in on_stack:
        low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
      component = []
      while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
          break
      if len(component) > 1:
        cycles.append(sorted(component))

  for node in sorted(graph):
    if node not in index:
      visit(node)
  return cycles


def oversized(path, source):
  """Lines naming a module over MAX_MODULE_LINES or a function over MAX_FUNCTION_LINES."""
  rel = os.path.relpath(path, ROOT)
  found = []
  lines = len(source.splitlines())
  if lines > MAX_MODULE_LINES:
    found.append(f'{rel}: {lines} lines (at most {MAX_MODULE_LINES})')
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
      length = node.end_lineno - node.lineno + 1
      if length > MAX_FUNCTION_LINES:
        found.append(f'{rel}:{node.lineno}: {node.name}() is {length} lines '
                     f'(at most {MAX_FUNCTION_LINES})')
  return found


def files_under_tests():
  """{dotted module name: file path} of every .py file under tests/ (conftest and support too)."""
  found = {}
  for folder, dirs, files in os.walk(os.path.join(ROOT, TESTS)):
    dirs[:] = [d for d in dirs if d != '__pycache__']
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(folder, name)
        found[_module_name(path)] = path
  return found


KNOWN = project_modules()
TEST_TREE = files_under_tests()


def test_every_import_follows_the_layers():
  found = [v for module, path in sorted(KNOWN.items())
           for v in violations(module, _read(path), KNOWN)]
  assert not found, 'forbidden imports:\n' + '\n'.join(found)


def test_no_test_module_imports_another():
  found = [v for module, path in sorted(TEST_TREE.items())
           for v in violations(module, _read(path), KNOWN)]
  assert not found, 'test modules imported:\n' + '\n'.join(found)


def test_test_modules_hold_tests_and_helpers_none():
  """A helper named test_* is what invites importing test modules: test_*.py files define tests,
  the files of tests/support define none."""
  found = []
  for module, path in sorted(TEST_TREE.items()):
    tree = ast.parse(_read(path))
    tests = [n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))
             and n.name.lower().startswith('test')]
    is_test_file = module.split('.')[-1].startswith('test_')
    if is_test_file and not tests:
      found.append(f'{os.path.relpath(path, ROOT)}: named test_* but holds no test')
    if _within(module, (f'{TESTS}.support',)) and (tests or is_test_file):
      found.append(f'{os.path.relpath(path, ROOT)}: tests/support holds helpers only')
  assert not found, '\n'.join(found)


def test_test_folders_are_packages_with_distinct_file_names():
  """Every folder of tests/ is a package (its files import as tests.<folder>.<name>, never as a
  bare name that could shadow another), and no two test files share a name (grep finds one)."""
  folders = {os.path.dirname(path) for path in TEST_TREE.values()}
  missing = sorted(os.path.relpath(f, ROOT) for f in folders
                   if not os.path.isfile(os.path.join(f, '__init__.py')))
  assert not missing, f'add an __init__.py to: {missing}'
  names = [os.path.basename(p) for p in TEST_TREE.values()
           if os.path.basename(p).startswith('test_')]
  assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})


def test_every_mode_has_its_module():
  """Each --mode name is a module of modes/; every other module of modes/ is a helper or the
  export mode (so the mode rule knows which modules are modes)."""
  modes = {m.split('.')[1] for m in KNOWN if m.startswith('modes.')}
  assert set(MODES) <= modes, sorted(set(MODES) - modes)
  others = sorted(modes - set(MODES) - {'export'} - {h.split('.')[-1] for h in MODE_HELPERS})
  assert not others, f'declare these modes/ modules in MODES or MODE_HELPERS: {others}'


def test_no_import_cycle():
  cycles = find_cycles(import_graph(KNOWN))
  assert not cycles, 'import cycles:\n' + '\n'.join(' <-> '.join(c) for c in cycles)


def test_modules_and_functions_stay_small():
  found = [v for module, path in sorted(KNOWN.items())
           if module.split('.')[0] in SIZE_LIMITED for v in oversized(path, _read(path))]
  assert not found, 'split these by meaning:\n' + '\n'.join(found)


@pytest.mark.parametrize('module,source', [
    ('core.files', 'from records import schema'),
    ('core.geometry', 'def f():\n  from hourglass.keypoints import codec\n'),
    ('records.writer', 'from hourglass.model import bundle'),
    ('records.writer', 'def f():\n  from pipelines import dataset\n'),  # inside a function
    ('hourglass.keypoints.codec', 'from hourglass.model.config import ModelConfig'),
    ('hourglass.model.network', 'import hourglass.training.losses'),
    ('hourglass.training.trainer', 'from hourglass.inference import predictors'),
    ('hourglass.inference.prediction', 'from hourglass.evaluation import evaluator'),
    ('hourglass.evaluation.evaluator', 'from hourglass.export import runner'),
    ('hourglass.evaluation.evaluator', 'from pipelines.dataset import build_eval_dataset'),
    ('hourglass.export.runner', 'from flags import export'),
    ('pipelines.dataset', 'from hourglass.model import network'),
    ('flags.train', 'from hourglass.training import losses'),
    ('modes.train', 'import main'),
    # Nothing below workflows/ imports it; workflows/ imports no flags, modes, benchmarks or
    # entry point.
    ('core.files', 'import workflows'),
    ('records.grow', 'from workflows import make_records'),
    ('pipelines.dataset', 'def f():\n  import workflows.train\n'),
    ('hourglass.training.trainer', 'from workflows import train'),
    ('hourglass.export.proof', 'from workflows.export import export_all'),
    ('flags.train', 'from workflows import train'),
    ('workflows.train', 'from flags import train'),
    ('workflows.train', 'from modes.configs import model_config'),
    ('workflows.export', 'from benchmarks import harness'),
    ('workflows.quickstart', 'import main'),
    # A mode imports no other mode (nor a helper a mode); modes import no benchmark.
    ('modes.select_frames', 'from modes.predict import analysis_config'),
    ('modes.select_frames', 'from modes import predict'),
    ('modes.export', 'def f():\n  from modes import eval as eval_mode\n'),
    ('modes.quickstart', 'import modes.train'),
    ('modes.configs', 'from modes.train import build_trainer'),
    ('modes.train', 'from benchmarks import train_throughput'),
    # Benchmarks: public names only, never modes or an entry point.
    ('benchmarks.pipeline_throughput', 'from pipelines.dataset import _setup'),
    ('benchmarks.train_throughput',
     'from hourglass.training import trainer\ntrainer._train_loop(None, 2)\n'),
    ('benchmarks.pipeline_throughput', 'import pipelines.dataset as p\np._options(None)\n'),
    ('benchmarks.pipeline_throughput', 'import pipelines.dataset\npipelines.dataset._read()\n'),
    ('benchmarks.train_throughput', 'from modes import train'),
    ('benchmarks.openfield_train', 'import main'),
    # Tests share code through tests/support and conftest, never by importing a test module.
    ('tests.labelling.test_handout', 'from tests.inference.test_predict import tiny_bundle_dir'),
    ('tests.export.test_formats', 'from tests import test_safety'),
    ('tests.records.test_grow', 'def f():\n  import tests.records.test_crop\n'),
    ('tests.records.test_grow', 'from .test_crop import read_records'),
    ('tests.support.records_io', 'from tests.records import test_crop'),
])
def test_a_forbidden_import_fails_naming_file_and_import(module, source):
  found = violations(module, source, KNOWN)
  assert found and module in found[0] and 'must not import' in found[0], found


@pytest.mark.parametrize('module,source', [
    ('hourglass.export.proof', 'from hourglass.inference.loading import load_predictor'),
    ('hourglass.training.quantization_aware', 'from hourglass.model import fold_bn'),
    ('pipelines.dataset', 'from hourglass.keypoints.codec import HeatmapCodec'),
    ('flags.export', 'from hourglass.export import FORMATS'),
    ('modes.export', 'from hourglass.export import runner'),
    ('workflows.train', 'from pipelines.dataset import build_train_dataset'),
    ('workflows.train', 'from hourglass.training.trainer import Trainer'),
    ('workflows.export', 'from hourglass.export import runner'),
    ('workflows.train', 'from core.files import atomic_write'),
    ('modes.train', 'from workflows import train'),
    ('modes.train', 'from flags.common import FLAGFILE_NAME'),
    ('modes.eval', 'from modes.configs import announce_flip_test'),
    ('modes.predict', 'from modes import console'),
    ('benchmarks.pipeline_throughput', 'from pipelines.dataset import build_train_dataset'),
    ('benchmarks.train_throughput', 'from workflows import train\ntrain.run(None)\n'),
    ('benchmarks.train_throughput', 'from flags import pipeline'),
    ('benchmarks.train_throughput', 'import hourglass\nprint(hourglass.__name__)\n'),
    ('benchmarks.video_tracking', 'def f(x):\n  return x._private\n'),  # not a module
    ('tests.labelling.test_handout', 'from tests.support.flag_parsing import parse_flags'),
    ('tests.labelling.test_handout', 'from tests.conftest import TINY_INPUT'),
    ('tests.records.test_grow', 'from tests.support import records_io'),
    ('tests.support.records_io', 'from records import schema'),
])
def test_an_allowed_import_passes(module, source):
  assert not violations(module, source, KNOWN)


def test_a_cycle_and_an_oversized_function_are_found():
  assert find_cycles({'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}) == [['a', 'b', 'c']]
  body = 'def long():\n' + '  x = 1\n' * MAX_FUNCTION_LINES
  assert 'long() is 61 lines' in oversized(os.path.join(ROOT, 'x.py'), body)[0]


def test_defining_the_flags_loads_no_tensorflow():
  """Flags are parsed (and --help printed) before TensorFlow's start-up cost and log lines."""
  code = ('import sys, flags; heavy = sorted(m for m in sys.modules if m.split(".")[0] in '
          '("tensorflow", "keras", "cv2")); print(heavy); sys.exit(1 if heavy else 0)')
  done = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                        timeout=60, check=False)
  assert done.returncode == 0, done.stdout + done.stderr
