"""Where a Label Studio task's image is (records/sources/label_studio.py): the task's `data`
names it as Label Studio writes it (`/data/upload/<project>/<8 hex>-<name>`,
`/data/local-files/?d=<path>`, a URL or a path), looked up under the dataset folder."""

import os
import re
import urllib.parse

from records.example import BadExample
from records.sources.common import inside, resolve_image

# Label Studio stores an upload as '<8 hex chars>-<original name>'.
_UPLOAD_PREFIX = re.compile(r'^[0-9a-fA-F]{8}-(.+)$')


def task_image(task, results, root, allow_outside):
  """The image file of a task, found under `root` (BadExample when it is not)."""
  data = task.get('data')
  if not isinstance(data, dict):
    raise BadExample('field data is not an object')
  keys = ['image'] + [_to_name(r) for r in results]
  value = next((data[k] for k in keys if isinstance(k, str) and k in data), None)
  if value is None:
    texts = [v for v in data.values() if isinstance(v, str)]
    if len(texts) > 1:  # e.g. {'img': ..., 'caption': ...}: the one that names an image file
      texts = [v for v in texts if _names_an_image(v)]
    if len(texts) != 1:
      raise BadExample(f'no image in field data (keys {sorted(map(str, data))!r:.80})')
    value = texts[0]
  return find_image(value, root, allow_outside)


def _names_an_image(value):
  """Whether a data value ends in an image file name (after URL unquoting: ?d=sub%2Fa.png)."""
  return urllib.parse.unquote(value).lower().endswith(
      ('.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp'))


def _to_name(result):
  return result.get('to_name') if isinstance(result, dict) else None


def find_image(value, root, allow_outside):
  """An image reference as Label Studio writes it -> the file under `root`.

  Raises:
    BadExample: not a path, a path leading outside `root` (without allow_outside), not found.
  """
  path = _reference_path(value)
  if os.path.isabs(path) and os.path.isfile(path) and (allow_outside or inside(path, root)):
    return os.path.normpath(path)
  relative = path.lstrip('/\\')
  first = resolve_image(root, relative, allow_outside)  # refuses '..' escapes
  if os.path.isfile(first):
    return first
  parts = [p for p in re.split(r'[\\/]+', relative) if p not in ('', '.')]
  candidates = ['/'.join(parts[i:]) for i in range(1, len(parts))
                if '..' not in parts[i:]] + ['images/' + parts[-1]]
  upload = _UPLOAD_PREFIX.match(parts[-1])
  if upload:
    candidates += [upload.group(1), 'images/' + upload.group(1)]
  for candidate in candidates:
    found = os.path.normpath(os.path.join(root, candidate))
    if os.path.isfile(found) and inside(found, root):
      return found
  if os.path.isabs(path) and os.path.isfile(path):
    raise BadExample(f'image path {value!r:.120} leads outside the dataset folder {root} (pass '
                     f'--allow_outside_paths to accept it)')
  stripped = f', nor {upload.group(1)!r}' if upload else ''
  raise BadExample(f'image {value!r:.120} not found in {root} (nor any trailing part of '
                   f'{relative!r:.80}, also in images/{stripped})')


def _reference_path(value):
  """The file path inside a Label Studio image reference (URL, upload, local-files, path)."""
  if not isinstance(value, str) or not value.strip() or '\0' in value:
    raise BadExample(f'image reference {value!r:.80} is not a path')
  parts = urllib.parse.urlsplit(value)
  if '?' in value:
    local = urllib.parse.parse_qs(parts.query).get('d')
    if local and local[0]:
      return local[0]
  if parts.scheme.lower() in ('http', 'https', 's3', 'gs', 'azure-blob', 'file') or \
     value.startswith('/data/'):
    return urllib.parse.unquote(parts.path)
  return value
