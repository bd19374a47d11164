"""Entry point: `python main.py --mode=...` dispatches to one module of `modes/`.

With no flags it runs the synthetic quickstart end to end. `--flagfile` works for every mode.
"""

import importlib
import sys

from absl import app
from absl import flags as absl_flags

import flags  # noqa: F401  (defines every flag)
from records.errors import UserInputError

FLAGS = absl_flags.FLAGS

MODES = ('quickstart', 'make_records', 'train', 'eval', 'predict', 'visualize', 'summary')


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; every option is a --flag')
  mode = FLAGS.mode
  if mode not in MODES:
    sys.exit(f'error: unknown --mode={mode!r}; choose one of {", ".join(MODES)}')
  try:
    module = importlib.import_module(f'modes.{mode}')
  except ModuleNotFoundError as e:
    if e.name != f'modes.{mode}':
      raise
    sys.exit(f'error: --mode={mode} is not implemented yet in this version')
  try:
    module.run(FLAGS)
  except UserInputError as e:
    sys.exit(f'error: {e}')


if __name__ == '__main__':
  app.run(main)
