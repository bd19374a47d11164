"""Annotation sources: one module per format, each yielding records.example.Example objects.

Every source module has `load(config) -> SourceData` (records/sources/common.py). `config` is a
records.make_records.MakeRecordsConfig (sources read only its attributes).
"""

import importlib

from core.errors import UserInputError

# --source name -> module under records/sources/.
SOURCES = {
    'json': 'json_source',
    'mpii': 'mpii',
    'coco': 'coco',
    'labelme': 'labelme',
    'label_studio': 'label_studio',
    'cvat': 'cvat',
    'deeplabcut': 'deeplabcut',
    'sleap': 'sleap',
    'animal_pose': 'animal_pose',
    'synthetic': 'synthetic',
}


def get_source(name: str):
  """The source module for a --source name.

  Raises:
    UserInputError: for an unknown name (listing the known ones).
  """
  if name not in SOURCES:
    raise UserInputError(f'--source={name!r} is not a known annotation source; choose one of '
                         f'{", ".join(sorted(SOURCES))}')
  return importlib.import_module(f'records.sources.{SOURCES[name]}')
