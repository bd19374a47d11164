"""Reading written records back in the tests: every record of a split, keypoints in original px."""

import numpy as np
import tensorflow as tf

from core.geometry import apply_affine
from records import schema


def read_records(manifest, split):
  """-> list of dicts of numpy values (image decoded, RGB) for every record of a split."""
  out = []
  for serialized in tf.data.TFRecordDataset(manifest.shard_paths(split)):
    parsed = schema.parse_example(serialized, manifest.num_keypoints)
    record = {k: v.numpy() for k, v in parsed.items()}
    record['image'] = tf.io.decode_image(parsed[schema.IMAGE_ENCODED], channels=3).numpy()
    out.append(record)
  return out


def to_original(record):
  """Record keypoints mapped back to original pixels: [K, 2]."""
  return apply_affine(record[schema.CROP_TO_ORIGINAL].astype(np.float64),
                      record[schema.KEYPOINTS_XY].astype(np.float64))


def records_config(tmp_path, **kwargs):
  """A small in-process MakeRecordsConfig writing under tmp_path/records (kwargs override)."""
  from records.make_records import MakeRecordsConfig  # pylint: disable=g-import-not-at-top
  kwargs.setdefault('input_shape', (32, 32))
  kwargs.setdefault('num_workers', 1)
  kwargs.setdefault('progress', False)
  kwargs.setdefault('val_fraction', 0.0)
  kwargs.setdefault('shuffle', False)
  kwargs.setdefault('box_min_side', 8.0)
  return MakeRecordsConfig(output_dir=str(tmp_path / 'records'), **kwargs)
