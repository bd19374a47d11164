"""The no-network, no-foreign-program guard for child processes (see tests/test_safety.py's
rules): export.py runs under it in tests/export/test_formats.py."""

import os
import sys

from tests.support.paths import ROOT

# Loaded into export.py and every Python child it starts (PYTHONPATH is inherited): sockets
# cannot connect or resolve names, and the only programs that may start are `uname` (the
# standard library's platform.processor(), from h5py) and this Python itself, which then runs
# under the same guard (MNN's converter runs in a child: its protobuf clashes with TF's).
_GUARD = """import os, socket, subprocess, sys
def _refuse(*a, **k):
  raise RuntimeError('network or subprocess use at run time: %r' % (a[:2],))
socket.socket.connect = socket.socket.connect_ex = _refuse
socket.create_connection = socket.getaddrinfo = socket.gethostbyname = _refuse
_popen = subprocess.Popen.__init__
def _guarded(self, args, *a, **k):
  program = args[0] if isinstance(args, (list, tuple)) and args else args
  with open(os.environ['GUARD_LOG'], 'a') as f:
    f.write(repr(args)[:300] + '\\n')
  if program not in ('uname', sys.executable):
    _refuse(args)
  return _popen(self, args, *a, **k)
subprocess.Popen.__init__ = _guarded
os.system = os.execv = os.execve = os.posix_spawn = os.posix_spawnp = _refuse
sys.stderr.write('GUARD ACTIVE\\n')
"""


def guarded_env(guard_dir, log_path):
  """Environment that loads _GUARD (as sitecustomize from `guard_dir`) into a child and every
  Python child it starts, logging their command lines to `log_path`.

  tests/export/test_formats.py's `exported` fixture runs its export.py under it (one export
  proves both that run's figures and that it needs no network or foreign program).
  """
  os.makedirs(guard_dir, exist_ok=True)
  with open(os.path.join(guard_dir, 'sitecustomize.py'), 'w', encoding='utf-8') as f:
    f.write(_GUARD)
  return dict(os.environ, PYTHONPATH=f'{guard_dir}{os.pathsep}{ROOT}', GUARD_LOG=str(log_path))


def check_guarded_run(proc, log_path):
  """Asserts a guarded run had the guard on and started only this Python running our code."""
  assert 'GUARD ACTIVE' in proc.stderr
  assert 'network or subprocess' not in proc.stderr, proc.stderr[-4000:]
  # The children were this Python running our own code (MNN's `_tools` converter), under the
  # same guard; never pip or a console script.
  children = open(log_path, encoding='utf-8').read().splitlines() if os.path.exists(
      log_path) else []
  python_children = [c for c in children if not c.startswith("['uname'")]
  assert any('_tools' in c for c in python_children), children
  assert all(f"[{sys.executable!r}, '-c'" in c and 'pip' not in c for c in python_children), \
      children
