"""Files for labelling tools with the model's predictions as pre-annotations the labeller only
corrects: the inverse of records/sources' readers of the same tools (labelme, Label Studio,
CVAT).

`write_for_labelling(tool, output_dir, items, names)` writes, for images the caller has already
copied into `output_dir`, what each tool imports:

- labelme: one `<image stem>.json` beside each image (records/label_tools/labelme_files.py);
- label_studio: `tasks.json` (tasks with `predictions`) and `label_config.xml`
  (records/label_tools/label_studio_files.py, whose docstring says how to import them);
- cvat: `annotations.xml` ("CVAT for images 1.1"), `cvat_labels.json`, the labels to paste
  into the task's Raw label editor, and `pre_annotations.json` (records/label_tools/cvat_files.py).

Each file keeps where it put every point and offers a `reviewed` mark (records/pre_annotations.py):
the readers take a point as a label only once the labeller moved it, added it or marked its
object or frame reviewed, so untouched model output never becomes a label.

Conventions (those of the readers, so that write -> accept -> read is the identity):
- Coordinates are original-image pixels, pixel-centre convention (integer = pixel centre), as
  in records/example.py; each tool gets them as its reader takes them (labelme and CVAT: the
  pixel values as written; Label Studio: percent of original_width/original_height). They are
  written to 4 decimals of a pixel (Label Studio: 6 decimals of a percent, 2e-5 px on a 4000 px
  image), so a round trip through the reader is exact to 1e-3 px.
- A keypoint row with a NaN is no pre-annotation (absent or not confident): nothing is written
  for it, and the reader gives it visibility 0. Present keypoints are written visible; the
  score goes where the format has room for it (labelme `description`, Label Studio `score`,
  a CVAT XML comment).
- One item is one image holding one object (keypoints [K, 2]) or several (keypoints
  [N, K, 2], an object with no finite row writing nothing). Each object is one group of the
  tool (records/label_tools/objects.py): labelme `group_id`, CVAT `group_id` (track id + 1:
  CVAT exports no group 0), Label Studio one rectangle (the object's box) named by its
  keypoints' `parentID`; the group id is the object's track id when given, so the labeller
  sees the ids of the video's results. A one-object item without a track id is written exactly
  as before objects existed (no group in labelme, CVAT group 1, no Label Studio rectangle unless
  it has a box). Keypoint names are in the definition's order.
- Write each tool into its own folder: the labelme and Label Studio readers read every *.json
  of --dataset_path.
"""

import dataclasses
import os
from typing import Dict, Optional, Sequence

import numpy as np

from core.errors import UserInputError
from records.label_tools import cvat_files, label_studio_files, labelme_files
from records.label_tools.objects import checked_arrays

TOOLS = ('labelme', 'label_studio', 'cvat')

_WRITERS = {'labelme': labelme_files, 'label_studio': label_studio_files, 'cvat': cvat_files}


@dataclasses.dataclass
class LabelItem:
  """One image to pre-annotate, holding one object or N.

  Attributes:
    image: file name relative to the output folder, the image already copied there by the
      caller ('/' separators; subfolders allowed, never '..' or absolute).
    width, height: the image size in pixels.
    keypoints: [K, 2] (one object) or [N, K, 2] float pixel-centre coordinates; NaN rows = no
      pre-annotation (keypoint absent or not confident; an object of NaN rows only is absent).
    scores: [K] or [N, K] the model's confidence per keypoint.
    note: why the frame was chosen ('' for none).
    boxes: None, or [4] / [N, 4] x, y, w, h original px per object (the detector's; NaN rows:
      none). Label Studio draws them as the objects' rectangles, which its reader takes as the
      objects' boxes; labelme and CVAT do not write them.
    track_ids: None, or [N] distinct non-negative ints: the objects' group ids in the files
      (None: the object's index, or no group for a one-object item).
  """
  image: str
  width: int
  height: int
  keypoints: np.ndarray
  scores: np.ndarray
  note: str = ''
  boxes: Optional[np.ndarray] = None
  track_ids: Optional[Sequence[int]] = None


def write_for_labelling(tool: str, output_dir: str, items: Sequence[LabelItem],
                        names: Sequence[str], skeleton=(), model_name: str = '',
                        document_root=None) -> Dict:
  """Writes the pre-annotation files of `tool` for `items` into `output_dir`.

  Args:
    tool: one of TOOLS.
    output_dir: the folder holding the images (created when missing).
    items: LabelItem per image (one object or several each).
    names: the K keypoint names, in the definition's (heatmap channel) order.
    skeleton: (start, end) pairs of names or indices, checked; the point-per-keypoint files
      written here carry no edges (see cvat_files for why).
    model_name: the model version Label Studio shows for the predictions.
    document_root: Label Studio only: the folder LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT names
      (default: the parent of output_dir).
  Returns:
    the paths written: {'labelme': [json paths]}, {'tasks': ..., 'config': ...} or
    {'annotations': ..., 'labels': ..., 'marks': ...}.
  Raises:
    UserInputError: an unknown tool, bad names, skeleton or items (the message says which).
  """
  if tool not in TOOLS:
    raise UserInputError(f'labelling tool {tool!r} is not known; choose one of '
                         f'{", ".join(TOOLS)}')
  names = _check_names(names)
  _check_skeleton(skeleton, names)
  output_dir = os.path.abspath(output_dir)
  os.makedirs(output_dir, exist_ok=True)
  items = [_checked(item, i, len(names), output_dir) for i, item in enumerate(items)]
  seen = {}
  for i, item in enumerate(items):
    if item.image in seen:
      raise UserInputError(f'labelling items {seen[item.image]} and {i}: the same image '
                           f'{item.image!r}')
    seen[item.image] = i
  if tool == 'label_studio':
    return label_studio_files.write(output_dir, items, names, model_name, document_root)
  return _WRITERS[tool].write(output_dir, items, names, model_name)


def _check_names(names):
  names = [str(n) for n in names]
  if not names or any(not n.strip() for n in names):
    raise UserInputError(f'labelling: keypoint names must be non-empty, got {names!r:.200}')
  if len(set(names)) != len(names):
    raise UserInputError(f'labelling: keypoint names repeat: {names!r:.200}')
  return names


def _check_skeleton(skeleton, names):
  for edge in skeleton:
    try:
      a, b = edge[:2]
    except (TypeError, ValueError):
      raise UserInputError(f'labelling: skeleton edge {edge!r:.60} is not a pair') from None
    for end in (a, b):
      known = end in names if isinstance(end, str) else (
          isinstance(end, (int, np.integer)) and 0 <= end < len(names))
      if not known:
        raise UserInputError(f'labelling: skeleton edge {edge!r:.60} names no keypoint '
                             f'{end!r:.40}')


def _checked(item, i, k, output_dir):
  """`item` with the image path normalised ('/'), arrays as float64 shaped per object
  (keypoints [N, K, 2], scores [N, K], boxes [N, 4] with NaN rows, track_ids [N] or None);
  UserInputError if bad."""
  what = f'labelling item {i} ({getattr(item, "image", None)!r:.80})'
  image = str(item.image).replace('\\', '/')
  parts = image.split('/')
  if not image or os.path.isabs(image) or image.startswith('/') or '..' in parts or \
     '\0' in image:
    raise UserInputError(f'{what}: image must be a file name relative to the output folder')
  if not os.path.isfile(os.path.join(output_dir, *parts)):
    raise UserInputError(f'{what}: no such image in {output_dir} (copy it there first)')
  width, height = item.width, item.height
  if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
             for v in (width, height)):
    raise UserInputError(f'{what}: width/height {width!r:.20}/{height!r:.20} are not an image '
                         f'size')
  keypoints, scores, boxes, track_ids = checked_arrays(item, k, what)
  return LabelItem(image, int(width), int(height), keypoints, scores, str(item.note or ''),
                   boxes, track_ids)
