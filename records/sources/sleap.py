"""SLEAP labels (`--source=sleap`): `.slp` files (HDF5), read with h5py in sleap-io's layout.

sleap-io (the SLEAP file library) is not used: it pulls in pandas, pynwb, skia-python and more,
and its opencv extra clashes with the pinned opencv-python-headless, while h5py is already a
dependency. The layout followed is sleap-io's (`sleap_io/io/slp.py`): datasets `frames`,
`instances`, `points` (+ `pred_points`), `videos_json`, and the `metadata` group whose attributes
hold `format_id` and the skeleton JSON.

- Files: --annotation_path (comma-separated .slp files), else every `*.slp` directly in
  --dataset_path. Every file must carry the same single skeleton.
- Labels: user-labelled instances only (instance_type 0). Predicted instances are model output,
  not labels: they are counted (filtered `predicted`) and a note with the pre-annotation notes
  (shown when make_records fails) says how many were skipped.
- Objects: every user instance of a frame is one object (several animals per frame). A point
  whose `visible` is false or whose coordinates are NaN is unlabelled (visibility 0); the others
  are visible (2). An instance without a labelled point is filtered (`no_keypoints`).
- Keypoint definition: the skeleton's nodes, in the skeleton's node order, are the keypoint
  names; its edges the skeleton (colours by side); its symmetries the horizontal flip pairs.
  Without symmetries the pairs come later from the names (records/sources/resolve.py). Several
  skeletons in one file, or files with different skeletons, are an error naming the file.
- Tracks are not kept: a record's object_id identifies one instance (as a COCO annotation id
  does), while a track spans frames. Object ids run over the instances read (from 1); a note
  counts the tracked instances.
- Pixel origin: files before format 1.1 (`format_id` in the metadata attributes) put the origin
  at the top-left pixel's corner (sleap-io issue #231): their points are shifted by -0.5 px to
  the pixel-centre convention, as sleap-io does; 1.1 and later are taken as written.
- Videos: the path stored in `videos_json` (backend `filename`); when it does not exist (a
  moved project), the video's file name under --dataset_path, then beside the .slp file, as
  SLEAP asks its users to do. A video outside both folders is used only with
  --allow_outside_paths. The frames of a video that cannot be found are skipped (one reason per
  instance, naming the .slp file and the stored path; they count towards --max_skip_fraction);
  when no frame can be read at all, an error lists the missing videos. Frames stored inside the
  HDF5 file (`.pkg.slp` packages, HDF5 videos) and image-sequence videos are an error naming
  the file: save the labels with references to their video files.
- Frames: the crop workers read frame N of the video with OpenCV (VideoFrame). A frame's
  identity (records, --val_list, the split hash) is `<video file name>/<frame index, 6 digits
  zero-padded>.png`, e.g. `dance.mp4/000012.png` (no such file exists); the video file name is
  the example's `video`, so `--val_list` may hold out a whole video by its file name. Two
  different videos with one file name are an error. The image size is checked against the
  video's stored `shape` when the file has one.
"""

import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

import cv2
import h5py
import numpy as np

from core.errors import AnnotationError, UserInputError
from records.example import BadExample, Example, Skip
from records.keypoint_definition import KeypointDefinition
from records.pre_annotations import NOTE_PREFIX
from records.sources.common import (SourceData, inside, listed_annotation_files, require_dir,
                                    side_colour)

USER, PREDICTED = 0, 1  # instances['instance_type']
PIXEL_CENTRE_FORMAT = 1.1  # format_id from which (0, 0) is the top-left pixel's centre
_FIELDS = {'frames': ('video', 'frame_idx', 'instance_id_start', 'instance_id_end'),
           'instances': ('instance_type', 'skeleton', 'track', 'point_id_start',
                         'point_id_end'),
           'points': ('x', 'y', 'visible')}


@dataclasses.dataclass(frozen=True)
class VideoFrame:
  """Frame `index` of the video at `path`, read in a crop worker (picklable)."""
  path: str
  index: int

  def render(self) -> np.ndarray:
    """The frame as BGR uint8 [h, w, 3]. Raises BadExample when it cannot be read."""
    capture = cv2.VideoCapture(self.path)
    try:
      if not capture.isOpened():
        raise BadExample(f'cannot open video {self.path}')
      # FFmpeg seeks to the key frame before N and decodes up to N (the tests compare it with
      # reading in order).
      if self.index and not capture.set(cv2.CAP_PROP_POS_FRAMES, self.index):
        raise BadExample(f'cannot seek to frame {self.index} of {self.path}')
      ok, frame = capture.read()
    finally:
      capture.release()
    if not ok or frame is None:
      raise BadExample(f'cannot read frame {self.index} of {self.path} (past its end, or a '
                       f'damaged video)')
    if frame.ndim == 2 or frame.shape[2] == 1:
      frame = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    elif frame.shape[2] == 4:
      frame = cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


@dataclasses.dataclass
class _Video:
  """A video of a .slp file: the stored path, and where it was found (or why not)."""
  stored: str
  size: Optional[Tuple[int, int]]
  path: Optional[str] = None
  missing: str = ''

  @property
  def name(self) -> str:
    return os.path.basename(self.stored.replace('\\', '/'))


@dataclasses.dataclass
class _Labels:
  """What one .slp file holds (the datasets as numpy structured arrays)."""
  definition: KeypointDefinition
  format_id: float
  videos: List[_Video]
  frames: np.ndarray
  instances: np.ndarray
  points: np.ndarray


def load(config) -> SourceData:
  paths = _slp_files(config)
  root = require_dir(config.dataset_path) if config.dataset_path else os.path.dirname(paths[0])
  data = None
  image_ids: Dict[str, int] = {}
  tracked = 0
  for path in paths:
    labels = _read_labels(path)
    if data is None:
      data = SourceData([], labels.definition, labels.definition.num_keypoints)
    elif labels.definition != data.definition:
      raise AnnotationError(_skeletons_differ(path, labels.definition, paths[0],
                                              data.definition))
    for video in labels.videos:
      _find_video(video, path, root, config.allow_outside_paths)
    tracked += _read_instances(labels, path, data, image_ids)
  _finish(data, paths, tracked)
  return data


def _slp_files(config) -> List[str]:
  listed = listed_annotation_files(config)
  if listed:
    return listed
  root = require_dir(config.dataset_path)
  found = sorted(os.path.join(root, name) for name in os.listdir(root)
                 if name.endswith('.slp') and os.path.isfile(os.path.join(root, name)))
  if not found:
    raise UserInputError(f'--dataset_path={root}: no *.slp file there; give --annotation_path')
  return found


def _read_labels(path: str) -> _Labels:
  """Reads one .slp file. Raises AnnotationError naming it when it is not a SLEAP file."""
  if not h5py.is_hdf5(path):
    raise AnnotationError(f'{path}: not a SLEAP .slp file (not an HDF5 file)')
  try:
    with h5py.File(path, 'r') as f:
      missing = [name for name in (*_FIELDS, 'metadata', 'videos_json') if name not in f]
      if missing:
        raise AnnotationError(f'{path}: not a SLEAP .slp file (no {", ".join(missing)} in the '
                              f'HDF5 file)')
      tables = [_table(f, name, path) for name in _FIELDS]
      format_id, metadata = _metadata(f['metadata'].attrs, path)
      videos = [_video(raw, n, path) for n, raw in enumerate(f['videos_json'][()])]
  except (OSError, KeyError, RuntimeError) as e:
    raise AnnotationError(f'{path}: cannot read the SLEAP file: damaged or truncated HDF5 '
                          f'({e})') from None
  return _Labels(_definition(metadata, path), format_id, videos, *tables)


def _table(f, name, path) -> np.ndarray:
  table = f[name][()]
  names = table.dtype.names or ()
  absent = [field for field in _FIELDS[name] if field not in names]
  if absent or table.ndim != 1:
    raise AnnotationError(f'{path}: dataset {name!r} is not a SLEAP table (fields '
                          f'{list(names)}, missing {absent})')
  return table


def _text(value) -> str:
  if isinstance(value, np.ndarray):
    value = value.tobytes() if value.dtype == np.uint8 else value.ravel()[0]
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _metadata(attrs, path):
  """-> (format_id, the metadata JSON as a dict) from the metadata group's attributes."""
  if 'format_id' not in attrs or 'json' not in attrs:
    raise AnnotationError(f'{path}: not a SLEAP .slp file (no format_id or json attribute in '
                          f'/metadata)')
  try:
    format_id = float(np.asarray(attrs['format_id']).ravel()[0])
    metadata = json.loads(_text(attrs['json']))
  except (TypeError, ValueError, IndexError, UnicodeDecodeError) as e:
    raise AnnotationError(f'{path}: unreadable /metadata attributes ({e})') from None
  if not isinstance(metadata, dict):
    raise AnnotationError(f'{path}: the /metadata json attribute is not an object')
  return format_id, metadata


def _video(raw, n, path) -> _Video:
  """One videos_json entry. Raises AnnotationError for videos OpenCV cannot read."""
  try:
    video = json.loads(_text(raw))
    backend = video['backend']
    stored = backend.get('filename', video.get('filename'))
  except (TypeError, ValueError, KeyError, AttributeError, UnicodeDecodeError) as e:
    raise AnnotationError(f'{path}: videos_json entry {n} is not a SLEAP video ({e})') from None
  if 'filenames' in backend:
    raise AnnotationError(f'{path}: video {n} is an image sequence; only video files (mp4, '
                          f'avi, ...) are read')
  if stored == '.' or backend.get('dataset') or backend.get('has_embedded_images'):
    where = 'inside this file, a .pkg.slp package' if stored == '.' else f'in the HDF5 {stored}'
    raise AnnotationError(f'{path}: video {n} has its frames {where}; only video files (mp4, '
                          f'avi, ...) are read: use a .slp that refers to the original videos')
  if not isinstance(stored, str) or not stored or '\0' in stored:
    raise AnnotationError(f'{path}: video {n} has no file name ({stored!r:.60})')
  shape = backend.get('shape')
  size = None
  if isinstance(shape, list) and len(shape) == 4 and all(isinstance(v, int) for v in shape):
    size = (shape[1], shape[2]) if shape[1] > 0 and shape[2] > 0 else None
  return _Video(stored, size)


def _definition(metadata, path) -> KeypointDefinition:
  """The file's one skeleton: node names in skeleton order, edges, symmetries as flip pairs."""
  skeletons = metadata.get('skeletons')
  if not isinstance(skeletons, list) or not skeletons:
    raise AnnotationError(f'{path}: the file has no skeleton')
  if len(skeletons) > 1:
    raise AnnotationError(f'{path}: the file has {len(skeletons)} skeletons; one skeleton per '
                          f'file is supported (keep one animal type per .slp file)')
  try:
    skeleton = skeletons[0].get('nx_graph', skeletons[0])  # SLEAP >= 1.3.2 nests the graph
    all_names = [str(node['name']) for node in metadata['nodes']]
    ids = [int(node['id']) for node in skeleton['nodes']]
    if any(not 0 <= i < len(all_names) for i in ids):
      raise IndexError(f'node ids {ids} beyond the {len(all_names)} nodes')
    position = {node_id: i for i, node_id in enumerate(ids)}
    names = tuple(all_names[i] for i in ids)
    edges, symmetries = _links(skeleton['links'])
    lines = tuple((position[a], position[b], side_colour(all_names[a], all_names[b]))
                  for a, b in edges)
    pairs = tuple(dict.fromkeys(tuple(sorted((position[a], position[b])))
                                for a, b in symmetries))
  except (KeyError, IndexError, TypeError, ValueError, AttributeError) as e:
    raise AnnotationError(f'{path}: malformed skeleton in /metadata ({type(e).__name__}: '
                          f'{e})') from None
  definition = KeypointDefinition(names, flip_pairs_h=pairs, skeleton=lines)
  try:
    definition.validate(f'{path}, skeleton')
  except UserInputError as e:
    raise AnnotationError(str(e)) from None
  return definition


def _links(links):
  """-> (edges, symmetries) as global node id pairs from a skeleton's jsonpickle links: a link
  type is either defined (`py/reduce` of EdgeType 1 edge / 2 symmetry; jsonpickle numbers the
  definitions 1, 2, ...) or refers to one by that number (`py/id`), as sleap-io decodes them."""
  kinds, edges, symmetries = {}, [], []
  for link in links:
    kind = link['type']
    if 'py/reduce' in kind:
      value = int(kind['py/reduce'][1]['py/tuple'][0])
      kinds[len(kinds) + 1] = value
    else:
      value = kinds.get(int(kind['py/id']), int(kind['py/id']))
    pair = (int(link['source']), int(link['target']))
    if value == 1:
      edges.append(pair)
    elif value == 2:
      symmetries.append(pair)
  return edges, symmetries


def _skeletons_differ(path, definition, first, first_definition) -> str:
  if definition.names != first_definition.names:
    what = f'nodes {list(definition.names)} differ from {list(first_definition.names)}'
  else:
    what = 'edges or symmetries differ from those'
  return (f'{path}: skeleton {what} of {first}; every .slp file read together must have the '
          f'same skeleton')


def _find_video(video: _Video, slp_path, root, allow_outside) -> None:
  """Sets video.path to the stored path when it exists, else to the file name under `root`,
  then beside the .slp file; else sets video.missing (the skip reason)."""
  folder = os.path.dirname(slp_path)
  stored = video.stored
  tried = [stored] if os.path.isabs(stored) else [os.path.join(folder, stored),
                                                  os.path.join(root, stored)]
  tried += [os.path.join(root, video.name), os.path.join(folder, video.name)]
  outside = []
  for candidate in (os.path.normpath(p) for p in tried):
    if os.path.isfile(candidate):
      if allow_outside or inside(candidate, root) or inside(candidate, folder):
        video.path = candidate
        return
      outside.append(candidate)
  video.missing = (f'video not found: stored path {stored!r}; no {video.name!r} in '
                   f'--dataset_path={root} or beside the .slp file')
  if outside:
    video.missing += (f' ({outside[0]} exists but lies outside the dataset folder: pass '
                      f'--allow_outside_paths to read it)')


def _read_instances(labels: _Labels, path, data: SourceData, image_ids) -> int:
  """Adds one example per user instance of the file's frames; returns how many had a track."""
  tracked = 0
  for frame in labels.frames:
    start, end = int(frame['instance_id_start']), int(frame['instance_id_end'])
    if not 0 <= start <= end <= len(labels.instances):
      raise AnnotationError(f'{path}: a frame refers to instances {start}..{end} of '
                            f'{len(labels.instances)} (a damaged file)')
    video_no, frame_idx = int(frame['video']), int(frame['frame_idx'])
    for row in range(start, end):
      instance = labels.instances[row]
      if int(instance['instance_type']) == PREDICTED:
        data.filter('predicted')
        continue
      video = labels.videos[video_no].name if video_no < len(labels.videos) else video_no
      record = f'{video} frame {frame_idx}, instance {row}'
      try:
        example = _example(labels, video_no, frame_idx, instance, data.num_keypoints)
      except BadExample as e:
        data.skipped.append(Skip(path, record, str(e)))
        continue
      if not example.labelled.any():
        data.filter('no_keypoints')
        continue
      tracked += int(instance['track']) >= 0
      example.image_id = image_ids.setdefault(example.rel_path, len(image_ids))
      example.object_id = len(data.examples) + 1
      example.source_file, example.record = path, record
      data.examples.append(example)
  return tracked


def _example(labels: _Labels, video_no, frame_idx, instance, k) -> Example:
  """One user instance -> Example. Raises BadExample for what makes it unusable."""
  if int(instance['instance_type']) != USER:
    raise BadExample(f'unknown instance_type {int(instance["instance_type"])}')
  if int(instance['skeleton']) != 0:
    raise BadExample(f'instance of skeleton {int(instance["skeleton"])}; the file has one')
  if not 0 <= video_no < len(labels.videos):
    raise BadExample(f'video {video_no} is not in the file\'s {len(labels.videos)} videos')
  video = labels.videos[video_no]
  if video.path is None:
    raise BadExample(video.missing)
  start, end = int(instance['point_id_start']), int(instance['point_id_end'])
  if end - start != k or not 0 <= start <= end <= len(labels.points):
    raise BadExample(f'points {start}..{end} are not {k} points of the '
                     f'{len(labels.points)} in the file')
  points = labels.points[start:end]
  xy = np.stack([points['x'], points['y']], axis=1).astype(np.float64)
  if labels.format_id < PIXEL_CENTRE_FORMAT:
    xy -= 0.5  # the pixel corner origin of format 1.0 -> pixel centres
  labelled = points['visible'].astype(bool) & np.isfinite(xy).all(axis=1)
  xy[~labelled] = 0.0
  return Example(image_path=video.path, rel_path=f'{video.name}/{frame_idx:06d}.png',
                 keypoints=xy, visibility=np.where(labelled, 2, 0).astype(np.int32),
                 expected_size=video.size, render=VideoFrame(video.path, frame_idx),
                 video=video.name)


def _finish(data: SourceData, paths, tracked) -> None:
  """The notes; UserInputError when no frame could be read because videos are missing."""
  predicted = data.filtered.get('predicted', 0)
  if predicted:
    # Unreviewed model output, as pre-annotations are: make_records shows the note when it fails.
    data.notes.append(f'{NOTE_PREFIX}sleap: {predicted} predicted instances skipped '
                      f'(predictions are not labels; in SLEAP, double-click one to make it a '
                      f'user instance)')
  if tracked:
    data.notes.append(f'sleap: {tracked} user instances carry a track; tracks are not kept '
                      f'(object ids number instances)')
  frames = {ex.rel_path for ex in data.examples}
  videos: Dict[str, Example] = {}
  for ex in data.examples:
    other = videos.setdefault(ex.video, ex)
    if other.image_path != ex.image_path:  # frames are known by their video's file name
      raise AnnotationError(f'{ex.source_file}: video {ex.image_path} has the file name of '
                            f'{other.image_path} (of {other.source_file}); rename one of them')
  data.notes.append(f'sleap: {_count(len(data.examples), "user instance")} on '
                    f'{_count(len(frames), "frame")} of {_count(len(videos), "video")} from '
                    f'{_count(len(paths), ".slp file")}')
  missing = sorted({f'{s.file}: {s.reason}' for s in data.skipped
                    if s.reason.startswith('video not found')})
  if not data.examples and missing:
    raise UserInputError('sleap: no labelled frame can be read, their videos are missing:\n  ' +
                         '\n  '.join(missing))


def _count(n: int, noun: str) -> str:
  return f'{n} {noun}' if n == 1 else f'{n} {noun}s'
