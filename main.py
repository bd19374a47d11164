"""Entry point: `python main.py --mode=...` dispatches to one module of `modes/`.

With no flags it runs the synthetic quickstart end to end. `--flagfile` works for every mode.

Errors a user can cause or meet (bad flags and files, corrupt records, a full disk, an
unwritable folder) end with one `error: ...` line naming the file, never a traceback.
"""

import importlib
import sys

from absl import app
from absl import flags as absl_flags

from core.errors import IncompleteRunError, RecordsError, UserInputError
import flags  # noqa: F401  (defines every flag; --mode is one of flags.common.MODES)
from modes import console

FLAGS = absl_flags.FLAGS

# Modes that read --records_dir: their shards are checked against the manifest's SHA-256 first
# (--verify_records), so a corrupt shard is named before hours of training, not in the middle.
READS_RECORDS = ('train', 'eval', 'visualize')


def _preflight(mode):
  if mode in READS_RECORDS and FLAGS.records_dir and FLAGS.verify_records:
    from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
    load_manifest(FLAGS.records_dir, verify_checksums=True)


def _data_loss(error):
  """A RecordsError for a DataLossError met while reading records: names the corrupt shard."""
  records_dir = FLAGS.records_dir
  if records_dir:
    from records.reader import load_manifest  # pylint: disable=g-import-not-at-top
    try:
      load_manifest(records_dir, verify_checksums=True)
    except RecordsError as e:
      return e
  where = f'the records in {records_dir}' if records_dir else 'a data file'
  return RecordsError(f'{where}: corrupt data ({error.message}); rerun --mode=make_records')


def _environment_error(error):
  """One line for a file-system or runtime failure (full disk, unwritable folder)."""
  name = getattr(error, 'filename', None)
  detail = getattr(error, 'strerror', None) or getattr(error, 'message', None) or str(error)
  return f'{name}: {detail}' if name else f'{type(error).__name__}: {detail}'


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; every option is a --flag')
  mode = FLAGS.mode
  console.quiet_python_logging(FLAGS)
  tf_errors = console.load_tensorflow().errors
  module = importlib.import_module(f'modes.{mode}')
  try:
    _preflight(mode)
    module.run(FLAGS)
  except (UserInputError, IncompleteRunError) as e:
    sys.exit(f'error: {e}')
  except OSError as e:  # full disk, file-size limit, a folder that is a file, no permission
    sys.exit(f'error: cannot write or read {_environment_error(e)}')
  except Exception as e:  # pylint: disable=broad-except
    if not isinstance(e, tf_errors.OpError):
      raise
    if isinstance(e, tf_errors.DataLossError):
      sys.exit(f'error: {_data_loss(e)}')
    if isinstance(e, (tf_errors.ResourceExhaustedError, tf_errors.PermissionDeniedError)):
      # Out of memory, or a file TensorFlow itself cannot write: the message says which.
      sys.exit(f'error: {type(e).__name__}: {e.message}')
    raise


if __name__ == '__main__':
  app.run(main)
