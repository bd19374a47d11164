"""absl flag definitions, one module per concern.

Importing this package defines every flag of every module in it, so that `main.py` and
`export.py` (and `--flagfile`) see them all. Only the entry points and `modes/` read flag values;
library code receives plain config objects.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
  importlib.import_module(f'{__name__}.{_module.name}')
