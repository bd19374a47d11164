"""The public MPII release in the seed JSON (`--source=mpii`, mpii_annotations.json style).

Same records as the `json` source (records/sources/json_source.py), with the MPII conventions of
pose-hg-train applied before cropping: centre y += 15 x scale, scale x= 1.25 (box side =
scale x 200 px), and `headboxes` required (MPII PCKh normalises by the head box). The keypoint
definition defaults to configs/mpii_* (16 points) when no --classes_path is given.
"""

from records.keypoint_definition import builtin_definition
from records.sources.json_source import load_seed_json


def load(config):
  data = load_seed_json(config, mpii=True)
  if data.num_keypoints == 16:
    data.definition = builtin_definition('mpii')
  return data
