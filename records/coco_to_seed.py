"""Converts a COCO keypoints JSON into the seed's annotation JSON (for users of the old format).

    python -m records.coco_to_seed --annotation_path=person_keypoints_val2017.json \
        --output=annotations.json [--is_validation=true|false]

One seed record per non-crowd instance with at least one labelled keypoint: `img_paths` (the
COCO file_name), `joint_self` [[x, y, v]] (COCO visibility kept), `objpos` (bbox centre),
`scale_provided` = 1.25 x max(bbox w, h) / 200 (the box the `coco` source crops, as a square),
`isValidation` (from --is_validation, else 1.0 when the file name contains 'val'), `bbox`,
`image_id`, `dataset` 'coco'. make_records --source=coco reads COCO directly; this is only for
tools that expect the seed format.
"""

import argparse
import os
import sys

from core import files
from core.errors import UserInputError
from records.example import BadExample, parse_keypoints
from records.sources.coco import category_definition, file_split
from records.sources.common import read_json

BOX_PADDING = 1.25


def convert(coco, origin: str, is_validation=None):
  """COCO dict -> (list of seed records, number of instances left out).

  Raises:
    AnnotationError: not a COCO keypoints file.
  """
  k = category_definition(coco, origin).num_keypoints
  if is_validation is None:
    is_validation = file_split(origin) == 'val'
  images = {im.get('id'): im for im in coco['images'] if isinstance(im, dict)}
  records, left_out = [], 0
  for ann in coco['annotations']:
    try:
      if not isinstance(ann, dict) or ann.get('iscrowd'):
        raise BadExample('crowd')
      flat = ann.get('keypoints')
      if not isinstance(flat, list) or len(flat) != 3 * k:
        raise BadExample('keypoints')
      xy, vis = parse_keypoints([flat[i:i + 3] for i in range(0, 3 * k, 3)], k)
      x, y, w, h = (float(v) for v in ann['bbox'])
      image = images[ann['image_id']]
      if not vis.any() or w <= 0 or h <= 0:
        raise BadExample('empty')
    except (BadExample, KeyError, TypeError, ValueError):
      left_out += 1
      continue
    records.append({
        'dataset': 'coco', 'isValidation': 1.0 if is_validation else 0.0,
        'img_paths': image.get('file_name'), 'image_id': ann['image_id'],
        'joint_self': [[float(px), float(py), int(v)] for (px, py), v in zip(xy, vis)],
        'objpos': [x + w / 2.0, y + h / 2.0],
        'scale_provided': BOX_PADDING * max(w, h) / 200.0,
        'bbox': [x, y, w, h]})
  return records, left_out


def main(argv=None) -> int:
  """Command line entry; returns the exit status. argparse, not absl flags: importing this
  module (for `convert`) must not define global flags that clash with flags/records.py."""
  parser = argparse.ArgumentParser(prog='python -m records.coco_to_seed',
                                   description='COCO keypoints JSON -> seed annotation JSON.')
  parser.add_argument('--annotation_path', required=True, help='COCO keypoints JSON to convert.')
  parser.add_argument('--output', required=True, help='Seed-format JSON to write.')
  parser.add_argument('--is_validation', choices=('true', 'false'), default=None,
                      help='Mark the records as validation (default: from the file name).')
  args = parser.parse_args(argv)
  is_validation = None if args.is_validation is None else args.is_validation == 'true'
  try:
    coco = read_json(args.annotation_path)
    records, left_out = convert(coco, args.annotation_path, is_validation)
  except UserInputError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  output = args.output
  os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
  files.write_json(output, records)
  print(f'wrote {len(records)} records to {output} ({left_out} crowd, empty or malformed '
        f'instances left out)')
  return 0


if __name__ == '__main__':
  sys.exit(main())
