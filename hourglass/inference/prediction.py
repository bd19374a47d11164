"""The predict runner: frames in, skeleton drawings and a keypoints JSON out.

    from hourglass.inference.loading import load_predictor
    from hourglass.inference.config import PredictConfig
    from hourglass.inference.prediction import predict_source
    summary = predict_source(load_predictor('runs/m'), PredictConfig(input='photos/'))

Without a boxes file, each image is searched whole (hourglass.inference.search), and videos and
webcams are tracked (hourglass.inference.video_analysis: DeepLabCut CSVs, smoothing, a tracking
plot); `--input` may also be a folder of videos or a comma-separated list of videos. With
`--detections` or a detector (hourglass.inference.detectors), every box of every frame is
cropped and the crops of a batch of frames run as one batch (several objects); video files are
then tracked with identities (hourglass.inference.identity_files), webcams predicted frame by
frame.
Outputs: an image, a folder of images or a video (same fps and size as the input), and a JSON of
keypoints in original frame pixels (integer = pixel centre) per image/frame beside it.
"""

import dataclasses
import logging
import os
import time
from typing import List


from core import files
from core.errors import UserInputError
from core.progress import Progress
from core.video import VideoWriter
from hourglass.inference import box_files, frame_sources, identity_analysis, identity_files
from hourglass.inference import keypoint_json, video_analysis
from hourglass.inference.detectors import DetectorBoxes
from hourglass.inference.objects import predict_objects
from hourglass.inference.search import FrameSearch
from hourglass.keypoints import drawing

JSON_NAME = 'keypoints.json'


def default_output(source):
  """Where drawings go when --output is not given: a sibling of the input."""
  if source.kind == 'webcam':
    return f'webcam_{source.spec}_keypoints.mp4'
  spec = os.path.normpath(source.spec)
  root, ext = os.path.splitext(spec)
  if source.kind == 'folder':
    return f'{spec}_keypoints'
  if source.kind == 'image':
    return f'{root}_keypoints{ext}'
  return f'{root}_keypoints.mp4'


class _Writer:
  """Writes drawn RGB frames as one image, a folder of images, or a video (core.video)."""

  def __init__(self, source, output):
    self.output, self.video = output, None
    lower = output.lower()
    if source.kind in ('video', 'webcam') and lower.endswith(frame_sources.VIDEO_EXTENSIONS):
      self.mode = 'video'
      self.json_path = f'{os.path.splitext(output)[0]}.json'
    elif source.kind == 'image' and lower.endswith(frame_sources.IMAGE_EXTENSIONS):
      self.mode = 'image'
      self.json_path = f'{os.path.splitext(output)[0]}.json'
    else:
      self.mode = 'folder'
      self.json_path = os.path.join(output, JSON_NAME)
    self.source = source

  def write(self, frame, canvas_rgb):
    # Folders are made at the first frame, so that a bad input leaves nothing behind.
    os.makedirs(self.output if self.mode == 'folder' else
                os.path.dirname(os.path.abspath(self.output)), exist_ok=True)
    if self.mode == 'image':
      drawing.write_rgb(self.output, canvas_rgb)
    elif self.mode == 'folder':
      name = os.path.splitext(frame.name)[0] + '.png'
      drawing.write_rgb(os.path.join(self.output, name), canvas_rgb)
    else:
      if self.video is None:  # frames arrive over many calls: renamed in close()
        self.video = VideoWriter(self.output, self.source.fps)
      self.video.write_rgb(canvas_rgb)

  def close(self, frames):
    if self.video is not None:
      self.video.close()
    files.write_json(self.json_path, frames, indent=1)

  def abort(self):
    """Drops the video written so far (its temporary file); images already written stay."""
    if self.video is not None:
      self.video.abort()


def _document(predictor, config, source, frames, detections):
  """The keypoints JSON of a run: the model (and the detector), the input and one entry per
  frame."""
  pair = {'detector': detections.path} if isinstance(detections, DetectorBoxes) else {}
  return {'model': predictor.name, **pair, 'input': config.input, 'keypoint_names':
          list(predictor.definition.names), 'conf_threshold': config.conf_threshold,
          'coordinates': 'original image pixels, integer = pixel centre',
          'fps': source.fps, 'size': list(source.size) if source.size else None,
          'frames': frames}


@dataclasses.dataclass
class PredictSummary:
  """What one predict run did and wrote (images, detections and tracked videos alike).

  Attributes:
    frames: frames predicted (every video's, when videos were tracked).
    objects: objects predicted (one per frame of a tracked video).
    output: the drawings: an image, a folder of images or a video (a tracked video drawn with
      --nodraw: its CSV).
    json: the keypoints JSON (the first video's, when several were tracked).
    frames_per_second: frames over the run's wall time.
    videos: per tracked video, the paths it wrote (video_analysis.analyze_and_write: 'csv',
      'filtered_csv', 'json', 'plot', 'video'); [] for images and detections.
    summaries: per tracked video, its summary line (video_analysis.summary_line); [] otherwise.
  """
  frames: int
  objects: int
  output: str
  json: str
  frames_per_second: float
  videos: List[dict] = dataclasses.field(default_factory=list)
  summaries: List[str] = dataclasses.field(default_factory=list)


def predict_source(predictor, config, detector=None):
  """Runs the predictor over every frame of config.input and writes drawings + JSON.

  `detector`: a hourglass.inference.detectors.Detector that finds the objects of every frame
  (config.detections, a boxes file, wins over it); None: the single-object search and tracking.

  A bad frame or boxes entry mid-stream still writes what came before it (drawings and JSON),
  then raises.

  Returns:
    PredictSummary.
  Raises:
    UserInputError: unreadable input or unwritable output; an input without any frame; a frame
      without boxes (config.missing_boxes 'error').
  """
  detections = box_files.load_boxes(config.detections, config.annotation_path)
  if detections is None and detector is not None:
    detections = DetectorBoxes(detector)
  videos = frame_sources.video_inputs(config.input)
  if videos and detections is None:
    return _analyze_videos(predictor, videos, config)
  if videos and not frame_sources.Source.is_webcam(videos[0]):
    return _track_identities(predictor, videos, detections, config)
  source = frame_sources.Source(config.input, config.max_frames)
  writer = _Writer(source, config.output or default_output(source))
  start = time.perf_counter()
  try:
    records, objects, error = _predict_frames(predictor, source, detections, config, writer)
  except BaseException:
    writer.abort()
    raise
  count = len(records)
  if not count:
    writer.abort()
    raise error or UserInputError(f'--input {config.input}: no frame could be read')
  writer.close(_document(predictor, config, source, records, detections))
  if error is not None:
    raise UserInputError(f'{error}\n(kept: the {count} frame(s) before it, in '
                         f'{writer.json_path})') from None
  elapsed = time.perf_counter() - start
  return PredictSummary(frames=count, objects=objects, output=writer.output,
                        json=writer.json_path, frames_per_second=count / max(elapsed, 1e-9))


def _predict_frames(predictor, source, detections, config, writer):
  """The frame loop of predict_source: predicts, draws and writes the frames in batches.

  Returns:
    (the JSON record of every frame written, objects predicted, the UserInputError that ended
    the input early or None). Ctrl-C (a webcam's end) ends the loop without an error.
  """
  search = FrameSearch(predictor, _search_config(config))
  progress = Progress(source.total or None, 'predict', 'frames', every_s=config.log_every_s)
  records, batch, objects_total = [], [], 0

  def flush():
    nonlocal objects_total
    results = predict_objects(predictor, batch, detections, config, search)
    for frame in batch:
      objs = results[frame.index]
      writer.write(frame, drawing.draw_objects(frame.rgb, objs, predictor.definition,
                                               config.conf_threshold))
      records.append({'frame': frame.index, 'name': frame.name,
                      'objects': keypoint_json.objects_json(objs, config.conf_threshold,
                                                            predictor.definition.names)})
      objects_total += len(objs)
    progress.update(len(batch))
    batch.clear()

  error = None
  try:
    for frame in source:
      batch.append(frame)
      if len(batch) >= config.batch_frames:
        flush()
    if batch:
      flush()
  except KeyboardInterrupt:  # webcam: Ctrl-C ends the run and still writes the outputs
    logging.info('interrupted: writing what was predicted so far')
  except UserInputError as e:
    error = e
  if records:
    progress.close()
  return records, objects_total, error


def _search_config(config):
  """The whole-frame search settings with the run's decoder and flip test."""
  return dataclasses.replace(config.analysis.search, decoder=config.decoder,
                             flip_test=config.flip_test)


def _analyze_videos(predictor, videos, config):
  """Tracks through each video (hourglass.inference.video_analysis) and writes its results."""
  analysis = dataclasses.replace(
      config.analysis, conf_threshold=config.conf_threshold, max_frames=config.max_frames,
      log_every_s=config.log_every_s, search=_search_config(config))

  def one(spec, several):
    result, paths = video_analysis.analyze_and_write(predictor, spec, analysis, config.output,
                                                     several=several)
    return result.frames, result.frames, paths, video_analysis.summary_line(result, analysis)
  return _each_video(videos, one)


def _track_identities(predictor, videos, detections, config):
  """Several objects through each video, with identities (hourglass.inference.
  identity_files).

  Raises:
    UserInputError: one boxes file (--detections) for several videos (its frame indices name
      one video's frames).
  """
  if len(videos) > 1 and not isinstance(detections, DetectorBoxes):
    raise UserInputError(f'--detections {config.detections}: one boxes file for {len(videos)} '
                         f'videos; its frame indices belong to one video: predict each video '
                         f'with its own boxes file, or use a detector')
  config = dataclasses.replace(config, analysis=dataclasses.replace(
      config.analysis, search=_search_config(config)))

  def one(spec, several):
    result, paths = identity_files.analyze_and_write(predictor, spec, detections, config,
                                                     several=several)
    return (result.frames, int(result.counts.sum()), paths,
            identity_analysis.summary_line(result))
  return _each_video(videos, one)


def _each_video(videos, run_one):
  """Runs run_one(spec, several) -> (frames, objects, written paths, summary line) on each video,
  printing its summary line. Returns the run's PredictSummary."""
  start, frames, objects, written, lines = time.perf_counter(), 0, 0, [], []
  for spec in videos:
    done, found, paths, line = run_one(spec, len(videos) > 1)
    frames, objects = frames + done, objects + found
    written.append(paths)
    lines.append(line)
    print(line)
  elapsed = time.perf_counter() - start
  first = written[0]
  return PredictSummary(frames=frames, objects=objects, output=first.get('video', first['csv']),
                        json=first['json'], frames_per_second=frames / max(elapsed, 1e-9),
                        videos=written, summaries=lines)
