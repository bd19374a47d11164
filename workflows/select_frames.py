"""The labelling pipeline: track each input, measure the trouble of every frame, pick the frames
worth labelling and hand them out to a labelling tool with the model's keypoints as
pre-annotations.

With a detector (the model directory's, or --detector_path) or a boxes file (--detections), a
video is analysed with identities (several objects per frame; so is an identity JSON of
--mode=predict): the trouble measures run per identity over the frames where it is present, a
frame's trouble is its most troubled object's (its reasons name the id), the identity doubt
(the object count, the tracker's events) is one more reason, and every object of a chosen frame
is handed out with its track id, so that the labeller corrects all animals of the frame.
"""

import dataclasses
import os

import numpy as np

from core.errors import UserInputError
from hourglass.inference import box_files, frame_sources
from hourglass.inference.config import AnalysisConfig, PredictConfig
from hourglass.inference.detectors import DetectorBoxes
from hourglass.labelling import criteria, handout, selection, tracks
from records.keypoint_definition import KeypointDefinition
from workflows.models import load_detector_for, load_model


def inputs_of(spec):
  """The inputs of a spec: analysis JSONs and videos (comma-separated or a folder of videos),
  or one folder of images."""
  spec = str(spec)
  if ',' in spec and not os.path.exists(spec):
    return [p.strip() for p in spec.split(',') if p.strip()]
  if spec.lower().endswith('.json'):
    return [spec]
  return frame_sources.video_inputs(spec) or [spec]


def _flip_skipped(predictor, config):
  """Why the flip check does not run, or None when it does."""
  if not config.flip_check:
    return 'flip check off (--noflip_check)'
  if predictor is None:
    return 'flip check skipped: no --model_path'
  if not predictor.flip_supported:
    return f'flip check skipped: {predictor.flip_reason}'
  return None


def _flip_check(predictor, track, config, pcutoff):
  """(per-frame flip distances or None, the note saying whether the check ran)."""
  skipped = _flip_skipped(predictor, config)
  if skipped:
    return None, skipped
  frames = (f.rgb for f in frame_sources.Source(track.spec))
  return criteria.flip_distances(predictor, frames, track.keypoints, track.scores, pcutoff,
                                 config.decoder), 'flip check on'


def _object_flips(predictor, track, config, pcutoff):
  """([T, N, K] flip distances of every identity (NaN where absent) or None, the note).

  One pass over the video per identity, each cropping that identity's frames only: the model
  runs on two crops per object and frame, as for one object; only the decoding repeats.
  """
  skipped = _flip_skipped(predictor, config)
  if skipped:
    return None, skipped
  out = np.full(track.scores.shape, np.nan)
  for n in range(len(track.track_ids)):
    keypoints, scores = track.keypoints[:, n], track.scores[:, n]
    finite = np.isfinite(keypoints).all(axis=-1)
    # A frame with no confident point has no crop to mirror (and no distance to measure).
    rows = np.flatnonzero(track.present[:, n] & (finite & (scores >= pcutoff)).any(axis=-1))
    if not rows.size:
      continue
    wanted = set(rows.tolist())
    frames = (f.rgb for f in frame_sources.Source(track.spec, int(rows[-1]) + 1)
              if f.index in wanted)
    out[rows, n] = criteria.flip_distances(
        predictor, frames, np.nan_to_num(keypoints[rows]),
        np.where(finite[rows], scores[rows], -np.inf), pcutoff, config.decoder)
  return out, f'flip check on, per identity ({len(track.track_ids)} passes)'


def object_trouble(track, pcutoff, settings, flip_px=None):
  """The measures of each frame's most troubled object (a track of several objects).

  Each identity is measured alone over the frames where it is present (its size, its jumps
  from its own smoothed track), so that an absent identity is no trouble and one animal's size
  does not judge another's jumps.

  Args:
    track: tracks.Track with several objects (keypoints [T, N, K, 2], scores [T, N, K]).
    settings: selection.SelectConfig (the measures' weights and fractions).
    flip_px: [T, N, K] or None.
  Returns:
    (criteria.Trouble of T frames with the chosen object's [K] rows (a frame without any
    identity: scores 0, as an object not found), [T] the chosen column (-1: none)).
  """
  frames, _, k = track.scores.shape
  chosen, best = np.full(frames, -1), np.full((frames, 2), -np.inf)
  scores, jump = np.zeros((frames, k)), np.full((frames, k), np.nan)
  size = np.full(frames, np.nan)
  flips = None if flip_px is None else np.full((frames, k), np.nan)
  for n in range(len(track.track_ids)):
    rows = np.flatnonzero(track.present[:, n])
    if not rows.size:
      continue
    smoothed = None if track.smoothed is None else track.smoothed[rows, n]
    trouble = criteria.measure(track.keypoints[rows, n], track.scores[rows, n], smoothed,
                               pcutoff, None if flip_px is None else flip_px[rows, n])
    key = np.stack([selection.trouble_values(trouble, settings).max(axis=1),
                    selection.trouble_values(trouble, settings, capped=False).max(axis=1)], 1)
    # Ties of the capped value go to the larger measure, as selection.select orders frames.
    better = (key[:, 0] > best[rows, 0]) | ((key[:, 0] == best[rows, 0]) &
                                            (key[:, 1] > best[rows, 1]))
    t = rows[better]
    chosen[t], best[t] = n, key[better]
    scores[t], jump[t] = trouble.scores[better], trouble.jump_px[better]
    size[t] = trouble.size_px[better]
    if flips is not None:
      flips[t] = trouble.flip_px[better]
  measured = size[np.isfinite(size)]
  size = np.where(np.isfinite(size), size, np.median(measured) if measured.size else 1.0)
  return criteria.Trouble(scores, float(pcutoff), jump, flips, size), chosen


def _name_objects(picks, chosen, track_ids, doubt_reasons):
  """Prefixes each pick's object measures' reasons with the object's id ('id 2: jump: ...');
  the identity doubt's and coverage's reasons concern the frame, not one object."""
  for p in picks:
    n = chosen[p.frame]
    if n < 0 or p.kind == 'coverage':
      continue
    doubt = doubt_reasons[p.frame]
    p.reasons = [r if r == doubt or r.startswith(f'{selection.DOUBT_KIND}:') else
                 f'id {int(track_ids[n])}: {r}' for r in p.reasons]
  return picks


def _select_several(predictor, track, config, settings, pcutoff):
  """(picks, flip note) of a track of several objects: the most troubled object's measures and
  the identity doubt (criteria.identity_doubt) of every frame."""
  analysis = config.analysis or AnalysisConfig()
  flip_px, flip_note = _object_flips(predictor, track, config, pcutoff)
  trouble, chosen = object_trouble(track, pcutoff, settings, flip_px)
  expected = analysis.identity.num_objects
  expected = track.num_objects if expected is None else expected
  doubt, reasons = criteria.identity_doubt(track.counts, expected, track.doubt)
  picks = selection.select(trouble, track.names, settings, doubt, reasons)
  return _name_objects(picks, chosen, track.track_ids, reasons), flip_note


def _objects_config(config, spec, analysis):
  """The PredictConfig of an identity analysis of `spec`: the run's decoder and detection
  settings, its search decoding as the run's."""
  analysis = dataclasses.replace(analysis, draw=False, search=dataclasses.replace(
      analysis.search, decoder=config.decoder))
  return PredictConfig(
      input=str(spec), decoder=config.decoder, detections=config.detections,
      detection_score_threshold=config.detection_score_threshold,
      detector_path=config.detector_path, max_objects=config.max_objects,
      missing_boxes=config.missing_boxes, max_frames=analysis.max_frames, analysis=analysis)


def select_one(predictor, spec, config, output_dir, log=print, detections=None):
  """Track, measure, select and hand out one input. Returns (picks, written paths).

  detections: None, or the boxes of every frame's objects (DetectorBoxes, box_files.Boxes): a
  video is then analysed with identities.
  """
  analysis = config.analysis or AnalysisConfig()
  track = tracks.from_input(predictor, spec, analysis, detections,
                            _objects_config(config, spec, analysis))
  pcutoff = analysis.pcutoff
  settings = config.selection
  if settings.spacing is None and track.kind == 'folder':
    settings = dataclasses.replace(settings, spacing=0)
  if track.several:
    picks, note = _select_several(predictor, track, config, settings, pcutoff)
    note = f'{len(track.track_ids)} identities; {note}'
  else:
    flip_px, note = _flip_check(predictor, track, config, pcutoff)
    trouble = criteria.measure(track.keypoints, track.scores, track.smoothed, pcutoff, flip_px)
    picks = selection.select(trouble, track.names, settings)
  definition = (predictor.definition if predictor is not None else
                KeypointDefinition(tuple(track.names)))
  keypoints, scores, track_ids, boxes = (tracks.handout_arrays(track) if track.several else
                                         (track.keypoints, track.scores, None, None))
  written = handout.hand_out(track.spec, picks, keypoints, scores, pcutoff, config.label_tool,
                             output_dir, definition,
                             predictor.name if predictor is not None else '',
                             track_ids=track_ids, boxes=boxes)
  # The keypoint order of the model, for reading the corrections back (--classes_path): the
  # tools' files list only the keypoints pre-annotated, in no guaranteed order.
  written.update(definition.write_files(output_dir))
  log(f'{track.spec}: {len(picks)} of {track.frames} frames chosen '
      f'({_counts(picks)}; {note}) -> {output_dir}')
  for p in picks:
    log(f'  frame {p.frame}: trouble {p.trouble:.2f}: {"; ".join(p.reasons)}')
  if 'sheet' in written:
    log(f'  the chosen frames with their predictions: {written["sheet"]}')
  return picks, written


def _counts(picks):
  return ', '.join(f'{n} by {kind}' for kind, n in selection.counts(picks).items())


def object_boxes(config):
  """The boxes videos are analysed with several objects by: --detections, else the model's
  detector (--detector_path, or <model_dir>/detector); None (one object tracked) without
  either, or without a model (analysis JSONs only)."""
  if not config.model_path:
    return None
  if config.detections:
    return box_files.load_boxes(config.detections)
  detector = load_detector_for(config.model_path, config.detector_path,
                               config.detection_score_threshold, config.max_objects,
                               config.num_threads)
  return None if detector is None else DetectorBoxes(detector)


def run(config, log=print):
  """Selects and hands out the frames of every input of config.input.

  Returns:
    {input: (picks, written paths)}.
  """
  predictor = None
  if config.model_path:
    predictor = load_model(config.model_path, config.batch_size, config.num_threads)
  detections = object_boxes(config)
  inputs = inputs_of(config.input)
  if config.detections and len(inputs) > 1:
    raise UserInputError(f'--detections {config.detections}: one boxes file for {len(inputs)} '
                         f'inputs; its frame indices belong to one video: select each video '
                         f'with its own boxes file, or use a detector')
  results = {}
  for spec in inputs:
    out = config.output_dir
    if len(inputs) > 1:
      out = os.path.join(out, os.path.splitext(os.path.basename(os.path.normpath(spec)))[0])
    results[spec] = select_one(predictor, spec, config, out, log, detections)
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
