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

import os

from hourglass.inference import video
from hourglass.inference.loading import load_predictor
from hourglass.labelling import criteria, handout, selection, tracks
from modes.predict import analysis_config
from core.errors import UserInputError
from records.keypoint_definition import KeypointDefinition


def _inputs(spec):
  """The inputs of --input: analysis JSONs and videos (comma-separated or a folder of videos),
  or one folder of images."""
  spec = str(spec)
  if ',' in spec and not os.path.exists(spec):
    return [p.strip() for p in spec.split(',') if p.strip()]
  if spec.lower().endswith('.json'):
    return [spec]
  return video.video_inputs(spec) or [spec]


def select_one(predictor, spec, flag_values, output_dir):
  """Track, measure, select and hand out one input. Returns (picks, written paths)."""
  track = tracks.from_input(predictor, spec, analysis_config(flag_values))
  pcutoff = flag_values.pcutoff
  flip_px, flip_note = None, 'flip check off (--noflip_check)'
  if flag_values.flip_check and predictor is None:
    flip_note = 'flip check skipped: no --model_path'
  elif flag_values.flip_check and not predictor.flip_supported:
    flip_note = f'flip check skipped: {predictor.flip_reason}'
  elif flag_values.flip_check:
    flip_px = criteria.flip_distances(predictor, (f.rgb for f in video.Source(track.spec)),
                                      track.keypoints, track.scores, pcutoff,
                                      flag_values.decoder)
    flip_note = 'flip check on'
  trouble = criteria.measure(track.keypoints, track.scores, track.smoothed, pcutoff, flip_px)
  spacing = flag_values.select_spacing
  if spacing is None and track.kind == 'folder':
    spacing = 0
  config = selection.SelectConfig(num_frames=flag_values.num_frames,
                                  jump_fraction=flag_values.jump_fraction,
                                  flip_fraction=flag_values.flip_fraction, spacing=spacing)
  picks = selection.select(trouble, track.names, config)
  definition = (predictor.definition if predictor is not None else
                KeypointDefinition(tuple(track.names)))
  written = handout.hand_out(track.spec, picks, track.keypoints, track.scores, pcutoff,
                             flag_values.label_tool, output_dir, definition,
                             predictor.name if predictor is not None else '')
  # The keypoint order of the model, for reading the corrections back (--classes_path): the
  # tools' files list only the keypoints pre-annotated, in no guaranteed order.
  written.update(definition.write_files(output_dir))
  print(f'{track.spec}: {len(picks)} of {trouble.frames} frames chosen '
        f'({_counts(picks)}; {flip_note}) -> {output_dir}')
  for p in picks:
    print(f'  frame {p.frame}: trouble {p.trouble:.2f}: {"; ".join(p.reasons)}')
  if 'sheet' in written:
    print(f'  the chosen frames with their predictions: {written["sheet"]}')
  return picks, written


def _counts(picks):
  return ', '.join(f'{n} by {kind}' for kind, n in selection.counts(picks).items())


def run(flag_values):
  if flag_values.input is None:
    raise UserInputError('--mode=select_frames needs --input (a video, a --mode=predict '
                         'analysis JSON, a folder of images, or several videos)')
  if flag_values.output_dir is None:
    raise UserInputError('--mode=select_frames needs --output_dir (where the frames and the '
                         'labelling tool\'s files go)')
  predictor = None
  if flag_values.model_path:
    predictor = load_predictor(flag_values.model_path,
                               batch_size=flag_values.batch_size,
                               num_threads=flag_values.num_threads)
  inputs = _inputs(flag_values.input)
  results = {}
  for spec in inputs:
    out = flag_values.output_dir
    if len(inputs) > 1:
      out = os.path.join(out, os.path.splitext(os.path.basename(os.path.normpath(spec)))[0])
    results[spec] = select_one(predictor, spec, flag_values, out)
  print(read_back_hint(flag_values.label_tool, flag_values.output_dir))
  return results


_EXPORTED = {'labelme': '', 'label_studio': ' --annotation_path=<Label Studio JSON export>',
             'cvat': ' --annotation_path=<CVAT for images 1.1 annotations.xml>'}


def read_back_hint(tool, output_dir):
  """The make_records command that reads the corrected frames back."""
  return (f'correct the frames in {tool}, then read them back: python main.py '
          f'--mode=make_records --source={tool} --dataset_path={output_dir}{_EXPORTED[tool]} '
          f'--classes_path={os.path.join(output_dir, "classes.txt")} [--matchpoint_path=... '
          f'--skeleton_path=... beside it] --records_dir=<new records>')
