"""Writing a file or folder atomically, and reading a JSON file with an error that names it.

Every output of the project (records manifests, bundles, exported models, reports, drawings) is
written to a temporary name beside its final path and renamed onto it only once complete: a
killed or failing run leaves either the old file or the new one, never a truncated one that a
later run would take for good. The temporary name carries the writer's process id, so two
processes never share one, and keeps the extension, because cv2.imwrite, matplotlib's savefig,
Keras' model.save and onnx.save pick the format (or refuse the file) by it.

Stdlib only (plus core.errors), like all of core/.
"""

import contextlib
import json
import os
import shutil

from core.errors import UserInputError


def temporary_path(path):
  """The temporary name `atomic_path` writes `path` under: 'x.png' -> 'x.tmp-<pid>.png'.

  Same folder as `path` (os.replace cannot cross file systems), same extension.
  """
  path = os.path.normpath(os.fspath(path))  # 'out/dir/' -> 'out/dir', not 'out/dir/.tmp-1'
  root, ext = os.path.splitext(path)
  return f'{root}.tmp-{os.getpid()}{ext}'


def _remove(path):
  if os.path.isdir(path) and not os.path.islink(path):
    shutil.rmtree(path, ignore_errors=True)
  else:
    with contextlib.suppress(FileNotFoundError):
      os.remove(path)


@contextlib.contextmanager
def atomic_path(path):
  """Yields a temporary path to write `path` under; renames it onto `path` when the block ends.

      with atomic_path('grid.png') as tmp:
        cv2.imwrite(tmp, image)

  On any exception (KeyboardInterrupt included) in the block or in the rename, the temporary
  file or folder is removed and the old `path`, if any, is left as it was. A leftover of a
  killed earlier process with the same id is removed before the block runs.

  The block may create a directory at the temporary path instead of a file (a SavedModel): a
  rename cannot replace a non-empty directory, so an existing directory at `path` is deleted
  just before the rename, and only then is there an instant with neither the old nor the new.

  Not for two threads of one process writing the same path at once (they share the name).
  """
  target = os.path.normpath(os.fspath(path))
  tmp = temporary_path(target)
  _remove(tmp)
  try:
    yield tmp
    if os.path.isdir(tmp) and os.path.isdir(target) and not os.path.islink(target):
      shutil.rmtree(target)
    os.replace(tmp, target)
  except BaseException:
    _remove(tmp)
    raise


def write_text(path, text, fsync=False):
  """Writes `text` (UTF-8) to `path` atomically.

  fsync: flush the bytes to the disk before the rename, for a file whose presence tells
    readers the rest is complete (the records manifest): after a power cut it then names only
    data that was on the disk, not an empty file.
  """
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      f.write(text)
      if fsync:
        f.flush()
        os.fsync(f.fileno())


def write_json(path, obj, fsync=False, **dump_kwargs):
  """Writes `obj` as JSON to `path` atomically; `dump_kwargs` go to json.dump (indent,
  allow_nan, default, sort_keys). fsync as in write_text."""
  with atomic_path(path) as tmp:
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump(obj, f, **dump_kwargs)
      if fsync:
        f.flush()
        os.fsync(f.fileno())


def _reason(error):
  if isinstance(error, OSError):
    return error.strerror or type(error).__name__
  return f'{type(error).__name__}: {str(error)[:200]}'


def read_json(path, what, *, missing=None, error=UserInputError):
  """Parses the JSON file `path`; any failure raises `error` with a message naming the file.

  Args:
    path: the file.
    what: what the file is, as the message says it: '{path}: cannot read {what} ({reason})'
      (e.g. 'the model metadata', 'annotation JSON') for an unreadable file (no permission, a
      folder, not UTF-8, not JSON, nested too deeply).
    missing: when given, a missing file says '{path}: missing; {missing}' instead (what the
      absence means, e.g. 'not a model directory'); otherwise it is one more unreadable file.
    error: the UserInputError subclass to raise (DefinitionError, RecordsError, ...), so the
      callers' `except` clauses and tests keep working.
  Returns:
    the parsed value (any JSON type: callers check its shape).
  """
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError as e:
    if missing is None:
      raise error(f'{path}: cannot read {what} ({_reason(e)})') from None
    raise error(f'{path}: missing; {missing}') from None
  except (OSError, ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
    raise error(f'{path}: cannot read {what} ({_reason(e)})') from None
