"""The architecture as a test: import direction, no cycles, module and function size limits.

Reads every import of every module (also those inside functions) with `ast`, so a forbidden
import fails here with the offending file, line and import, before it is ever run.
The rules are those of hourglass/__init__.py's docstring.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ('core', 'hourglass', 'pipelines', 'records', 'flags', 'modes')
ENTRY_POINTS = ('main', 'export')
SIZE_LIMITED = ('core', 'hourglass', 'pipelines', 'records', 'modes')
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60

# The layers of hourglass/, lowest first: each may import itself and the layers it lists.
_HOURGLASS = {
    'keypoints': (),
    'model': ('keypoints',),
    'training': ('keypoints', 'model'),
    'inference': ('keypoints', 'model'),
    'evaluation': ('keypoints', 'model', 'training', 'inference'),
    'export': ('keypoints', 'model', 'training', 'inference', 'evaluation'),
    'labelling': ('keypoints', 'model', 'inference'),
}
# What flags/ may import: constants only (package __init__s that hold choices, the records'
# errors and source names, the pipeline config's defaults) and the atomic write of the resolved
# flags, so that defining the flags loads no TensorFlow.
FLAG_IMPORTS = ('flags', 'core', 'core.errors', 'core.files', 'records', 'records.sources',
                'pipelines.config', 'hourglass',
                'hourglass.keypoints', 'hourglass.model', 'hourglass.training',
                'hourglass.export')


def layer_of(module):
  """'core', 'records', 'pipelines', 'flags', 'modes', 'entry', or 'hourglass.<layer>' of a module."""
  parts = module.split('.')
  if parts[0] == 'hourglass':
    return 'hourglass' if len(parts) == 1 else f'hourglass.{parts[1]}'
  return 'entry' if parts[0] in ENTRY_POINTS else parts[0]


def _within(module, prefixes):
  return any(module == p or module.startswith(p + '.') for p in prefixes)


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
        imported, ('hourglass.keypoints.codec',)) or imported in ('hourglass',
                                                                  'hourglass.keypoints')
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
  if source == 'modes':
    return target != 'entry'
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


def violations(module, source, known):
  """Lines naming each forbidden import of `module` (given as its source text)."""
  path = os.path.relpath(known.get(module, module), ROOT)
  return [f'{path}:{line}: {module} must not import {imported}'
          for line, imported in imports_of(source, known)
          if not allowed(module, imported)]


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


KNOWN = project_modules()


def test_every_import_follows_the_layers():
  found = [v for module, path in sorted(KNOWN.items())
           for v in violations(module, _read(path), KNOWN)]
  assert not found, 'forbidden imports:\n' + '\n'.join(found)


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
