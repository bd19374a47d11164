"""The project's flags parsed into a private copy (the global absl FLAGS stay untouched)."""

import copy


def parse_flags(*args):
  """A deep copy of the project's FlagValues parsed from `main.py *args`."""
  # pylint: disable-next=g-import-not-at-top,unused-import
  from absl import flags as absl_flags  # pylint: disable=g-import-not-at-top

  import flags  # noqa: F401  (defines every flag)
  values = copy.deepcopy(absl_flags.FLAGS)
  values(['main.py', *args])
  return values
