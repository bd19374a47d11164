"""`--mode=make_records`: annotations -> sharded TFRecords + manifest.json in --records_dir.

    python main.py --mode=make_records --source=coco --dataset_path=data/coco \
        --annotation_path=data/coco/annotations/person_keypoints_val2017.json \
        --records_dir=records/coco_val --model_input_shape=256x192

Growing a set: `--add_to=records/openfield --records_dir=records/openfield --source=labelme
--dataset_path=fixes` merges the corrected frames into records/openfield (records/grow.py).
"""

from modes import configs
from workflows import make_records


def run(flag_values):
  """Builds the config from the flags, writes the records, prints counts, time and size."""
  manifest, seconds = make_records.run(configs.make_records_config(flag_values))
  for line in make_records.summary_lines(manifest, seconds):
    print(line)
  return manifest
