"""The labelling pipeline: track each input, measure the trouble of every frame, pick the frames
worth labelling and hand them out to a labelling tool with the model's keypoints as
pre-annotations."""

import dataclasses
import os

from hourglass.inference import frame_sources
from hourglass.inference.config import AnalysisConfig
from hourglass.labelling import criteria, handout, selection, tracks
from records.keypoint_definition import KeypointDefinition
from workflows.models import load_model


def inputs_of(spec):
  """The inputs of a spec: analysis JSONs and videos (comma-separated or a folder of videos),
  or one folder of images."""
  spec = str(spec)
  if ',' in spec and not os.path.exists(spec):
    return [p.strip() for p in spec.split(',') if p.strip()]
  if spec.lower().endswith('.json'):
    return [spec]
  return frame_sources.video_inputs(spec) or [spec]


def _flip_check(predictor, track, config, pcutoff):
  """(per-frame flip distances or None, the note saying whether the check ran)."""
  if not config.flip_check:
    return None, 'flip check off (--noflip_check)'
  if predictor is None:
    return None, 'flip check skipped: no --model_path'
  if not predictor.flip_supported:
    return None, f'flip check skipped: {predictor.flip_reason}'
  frames = (f.rgb for f in frame_sources.Source(track.spec))
  return criteria.flip_distances(predictor, frames, track.keypoints, track.scores, pcutoff,
                                 config.decoder), 'flip check on'


def select_one(predictor, spec, config, output_dir, log=print):
  """Track, measure, select and hand out one input. Returns (picks, written paths)."""
  analysis = config.analysis or AnalysisConfig()
  track = tracks.from_input(predictor, spec, analysis)
  pcutoff = analysis.pcutoff
  flip_px, flip_note = _flip_check(predictor, track, config, pcutoff)
  trouble = criteria.measure(track.keypoints, track.scores, track.smoothed, pcutoff, flip_px)
  settings = config.selection
  if settings.spacing is None and track.kind == 'folder':
    settings = dataclasses.replace(settings, spacing=0)
  picks = selection.select(trouble, track.names, settings)
  definition = (predictor.definition if predictor is not None else
                KeypointDefinition(tuple(track.names)))
  written = handout.hand_out(track.spec, picks, track.keypoints, track.scores, pcutoff,
                             config.label_tool, output_dir, definition,
                             predictor.name if predictor is not None else '')
  # The keypoint order of the model, for reading the corrections back (--classes_path): the
  # tools' files list only the keypoints pre-annotated, in no guaranteed order.
  written.update(definition.write_files(output_dir))
  log(f'{track.spec}: {len(picks)} of {trouble.frames} frames chosen '
      f'({_counts(picks)}; {flip_note}) -> {output_dir}')
  for p in picks:
    log(f'  frame {p.frame}: trouble {p.trouble:.2f}: {"; ".join(p.reasons)}')
  if 'sheet' in written:
    log(f'  the chosen frames with their predictions: {written["sheet"]}')
  return picks, written


def _counts(picks):
  return ', '.join(f'{n} by {kind}' for kind, n in selection.counts(picks).items())


def run(config, log=print):
  """Selects and hands out the frames of every input of config.input.

  Returns:
    {input: (picks, written paths)}.
  """
  predictor = None
  if config.model_path:
    predictor = load_model(config.model_path, config.batch_size, config.num_threads)
  inputs = inputs_of(config.input)
  results = {}
  for spec in inputs:
    out = config.output_dir
    if len(inputs) > 1:
      out = os.path.join(out, os.path.splitext(os.path.basename(os.path.normpath(spec)))[0])
    results[spec] = select_one(predictor, spec, config, out, log)
  return results


_EXPORTED = {'labelme': '', 'label_studio': ' --annotation_path=<Label Studio JSON export>',
             'cvat': ' --annotation_path=<CVAT for images 1.1 annotations.xml>'}


def read_back_hint(tool, output_dir):
  """The make_records command that reads the corrected frames back."""
  return (f'correct the frames in {tool} (mark a frame `reviewed` to accept its points as they '
          f'are: untouched model points are not read as labels), then read them back: '
          f'python main.py --mode=make_records --source={tool} '
          f'--dataset_path={output_dir}{_EXPORTED[tool]} '
          f'--classes_path={os.path.join(output_dir, "classes.txt")} [--matchpoint_path=... '
          f'--skeleton_path=... beside it] --records_dir=<new records>')
