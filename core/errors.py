"""The project's one user-facing error family.

Every error a user can cause (bad annotation, bad definition file, bad flag value, bad model
file) is raised as a subclass of `UserInputError`, with a message that names the file, the record
or line, and the field. Entry points catch it and print the message without a traceback.
"""


class UserInputError(Exception):
  """Bad input from the user: a file, a record, a flag. The message says which and why."""


class DefinitionError(UserInputError):
  """A keypoint definition file (classes, match points, skeleton, sigmas) is malformed."""


class AnnotationError(UserInputError):
  """An annotation file or one of its records cannot be read."""


class RecordsError(UserInputError):
  """A records directory is missing, incomplete, corrupt or does not match the model."""


class StorageError(UserInputError):
  """A file or folder cannot be written or read (full disk, file-size limit, no permission, a
  path through a file). The message names the path and says what was kept intact."""


class IncompleteRunError(Exception):
  """A run of several stages where some failed after others finished: the message lists each
  failed stage and its error, and where the finished stages' results are. Entry points print it
  without a traceback and exit non-zero."""
