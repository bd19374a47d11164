"""--mode=select_frames: pick the frames worth labelling and write them out for a labelling tool,
with the model's keypoints as pre-annotations.

    python main.py --mode=select_frames --model_path=runs/m --input=clip.mp4 \
        --num_frames=20 --label_tool=labelme --output_dir=to_label
    # --input also takes a --mode=predict analysis (clip_keypoints.json: no re-tracking), a
    # folder of images, or several videos (comma-separated, or a folder of videos).

Prints each chosen frame with its reasons, and writes into --output_dir (one sub-folder per
input when there are several) the images, the tool's files and selection.csv. Correct them in
the tool, then read them back with `--mode=make_records --source=labelme|label_studio|cvat`.
"""

from modes import configs
from workflows import select_frames


def run(flag_values):
  """Selects and hands out the frames; returns {input: (picks, written paths)}."""
  config = configs.select_frames_config(flag_values)
  results = select_frames.run(config)
  print(select_frames.read_back_hint(config.label_tool, config.output_dir))
  return results
