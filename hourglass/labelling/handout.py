"""Writing the chosen frames out for labelling: the images, the tool's files with the model's
keypoints as pre-annotations (records.label_tools), selection.csv (why each was chosen) and
selection.png (the chosen frames with their predictions, to look at before labelling).

A video's frame t becomes `<video stem>_<t:06d>.png` (lossless); an image of a folder is copied
as it is. Keypoints under pcutoff or off the image are left out of the pre-annotations: the
labeller adds them where they are visible, rather than having to find and move a wrong guess.

Several objects per frame (keypoints [T, N, K, 2], NaN where an object is absent) are handed
out together, each object one group of the tool named by its track id (records.label_tools),
so that the labeller corrects every object of the frame and sees the ids of the video's results.
"""

import csv
import io
import os
import shutil

import cv2
import numpy as np

from core import files
from hourglass.inference import frame_sources
from hourglass.keypoints import drawing
from records import label_tools


def chosen_frames(spec, wanted):
  """{frame index: (name, [H, W, 3] uint8 RGB)} of the wanted frames of a video or folder,
  read in one pass (a video stops after the last wanted frame)."""
  wanted = set(int(t) for t in wanted)
  source = frame_sources.Source(spec, max(wanted) + 1 if wanted else 0)
  return {frame.index: (frame.name, frame.rgb) for frame in source if frame.index in wanted}


def image_name(spec, kind, t, name):
  """The file name frame t gets in the output folder."""
  if kind == 'folder':
    return name
  return f'{os.path.splitext(os.path.basename(str(spec)))[0]}_{t:06d}.png'


def write_images(spec, picks, output_dir):
  """Writes the picked frames into output_dir. Returns ({frame index: (file name, width,
  height)}, {frame index: RGB pixels})."""
  kind = frame_sources.Source(spec, 1).kind
  out = {}
  frames = chosen_frames(spec, [p.frame for p in picks])
  for t, (name, rgb) in frames.items():
    file_name = image_name(spec, kind, t, name)
    path = os.path.join(output_dir, file_name)
    with files.atomic_path(path) as tmp:
      if kind == 'folder':
        shutil.copyfile(os.path.join(str(spec), name), tmp)
      elif not cv2.imwrite(tmp, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise OSError(f'{path}: cannot write the image')
    out[t] = (file_name, rgb.shape[1], rgb.shape[0])
  return out, {t: rgb for t, (_, rgb) in frames.items()}


def per_object(keypoints, scores, boxes=None):
  """(keypoints [T, N, K, 2], scores [T, N, K], boxes [T, N, 4] or None, whether the input was
  one object: [T, K, 2] / [T, K], taken as N = 1)."""
  keypoints = np.asarray(keypoints, np.float64)
  scores = np.asarray(scores, np.float64)
  single = keypoints.ndim == 3
  if single:
    keypoints, scores = keypoints[:, None], scores[:, None]
  if keypoints.ndim != 4 or keypoints.shape[-1] != 2 or scores.shape != keypoints.shape[:3]:
    raise ValueError(f'hand_out: keypoints {keypoints.shape} / scores {scores.shape}: expected '
                     f'[T, N, K, 2] / [T, N, K] (or [T, K, 2] / [T, K])')
  if boxes is not None:
    boxes = np.asarray(boxes, np.float64).reshape(keypoints.shape[:2] + (4,))
  return keypoints, scores, boxes, single


def contact_sheet(path, picks, pixels, keypoints, scores, definition, pcutoff, width=320,
                  track_ids=None, boxes=None):
  """selection.png: the chosen frames with the predicted keypoints (those at pcutoff or more)
  of every object, each frame scaled to `width` px and titled with its frame number and kind;
  objects of several are labelled by their track id (index without track_ids) at their box
  (boxes [T, N, 4] x, y, w, h, else the keypoints' extent).

  Args:
    keypoints: [T, K, 2] or [T, N, K, 2]; scores: [T, K] or [T, N, K].
  """
  keypoints, scores, boxes, single = per_object(keypoints, scores, boxes)
  tiles = []
  for p in picks:
    canvas = pixels[p.frame]
    for j in range(keypoints.shape[1]):
      canvas = drawing.draw_keypoints(canvas, keypoints[p.frame, j], scores[p.frame, j],
                                      definition, pcutoff)
      if not single:
        box = None if boxes is None else boxes[p.frame, j]
        _draw_id(canvas, j if track_ids is None else track_ids[j], box,
                 keypoints[p.frame, j][scores[p.frame, j] >= pcutoff])
    scale = width / canvas.shape[1]
    canvas = cv2.resize(canvas, (width, max(1, round(canvas.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA)
    title = f'frame {p.frame}: {p.kind} {p.trouble:.2f}'
    (text_w, text_h), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.rectangle(canvas, (0, 0), (text_w + 8, text_h + 10), (0, 0, 0), -1)
    cv2.putText(canvas, title, (4, text_h + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    tiles.append(canvas)
  drawing.save_grid(tiles, path, 5)
  return path


def _draw_id(canvas, track_id, box, points):
  """Outlines the object's box (in place) and writes its id above it; nothing for an object
  with neither a box nor a confident point (absent)."""
  points = points[np.isfinite(points).all(axis=1)]
  if box is not None and np.isfinite(box).all():
    lo, hi = np.asarray(box[:2]), np.asarray(box[:2]) + box[2:]
  elif len(points):
    lo, hi = points.min(axis=0), points.max(axis=0)
  else:
    return
  lo, hi = np.clip(lo, -1e5, 1e5).astype(int), np.clip(hi, -1e5, 1e5).astype(int)
  thickness = max(1, round(max(canvas.shape[:2]) / 400))
  cv2.rectangle(canvas, tuple(int(v) for v in lo), tuple(int(v) for v in hi), (255, 255, 255),
                thickness)
  scale = max(0.4, max(canvas.shape[:2]) / 800)
  cv2.putText(canvas, f'id {track_id}', (int(lo[0]), max(int(lo[1]) - 4, 12)),
              cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA)


def selection_csv(path, spec, picks, images):
  """selection.csv: image, source, frame, kind, trouble, reasons (one row per pick)."""
  text = io.StringIO()
  writer = csv.writer(text)
  writer.writerow(['image', 'source', 'frame', 'kind', 'trouble', 'reasons'])
  for p in picks:
    writer.writerow([images[p.frame][0], str(spec), p.frame, p.kind, f'{p.trouble:.3f}',
                     '; '.join(p.reasons)])
  files.write_text(path, text.getvalue())
  return path


def inside(keypoints, width, height):
  """[...] whether each keypoint [..., 2] lies on the image (pixel centres 0 .. side - 1, half a
  pixel of border): a labeller cannot move a point from outside the image."""
  x, y = keypoints[..., 0], keypoints[..., 1]
  with np.errstate(invalid='ignore'):
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def hand_out(spec, picks, keypoints, scores, pcutoff, tool, output_dir, definition,
             model_name='', track_ids=None, boxes=None):
  """Writes the images, the tool's files and selection.csv for the picks of one input.

  Args:
    spec: the video file or image folder the frames come from.
    picks: selection.Pick list.
    keypoints: [T, N, K, 2] frame px of every object of every frame (NaN where an object is
      absent), or [T, K, 2] for one object.
    scores: [T, N, K] (0 where absent), or [T, K].
    tool: one of records.label_tools.TOOLS.
    definition: the KeypointDefinition (names, skeleton, colours of the contact sheet).
    track_ids: None, or [N] distinct non-negative ints: the objects' ids in the tool's files
      (None: the object index; no id at all for one-object input).
    boxes: None, or [T, N, 4] x, y, w, h frame px per object (NaN where absent): Label Studio's
      object rectangles, and the boxes of the contact sheet.
  Returns:
    dict of the written paths: 'images' (list), 'selection' (the CSV), 'sheet' (the PNG), and
    the tool's own entries.
  """
  os.makedirs(output_dir, exist_ok=True)
  images, pixels = write_images(spec, picks, output_dir)
  per_frame, frame_scores, per_frame_boxes, single = per_object(keypoints, scores, boxes)
  items = []
  for p in picks:
    file_name, width, height = images[p.frame]
    kept = (frame_scores[p.frame] >= pcutoff) & inside(per_frame[p.frame], width, height)
    shown = np.where(kept[..., None], per_frame[p.frame], np.nan)
    item = label_tools.LabelItem(file_name, width, height, shown, frame_scores[p.frame],
                                 '; '.join(p.reasons))
    if single:
      item.keypoints, item.scores = shown[0], frame_scores[p.frame, 0]
    if per_frame_boxes is not None:
      item.boxes = per_frame_boxes[p.frame]
    item.track_ids = None if track_ids is None else list(track_ids)
    items.append(item)
  names = list(definition.names)
  skeleton = [(names[i], names[j]) for i, j, _ in definition.skeleton]
  written = dict(label_tools.write_for_labelling(tool, output_dir, items, names, skeleton,
                                                 model_name))
  written['images'] = [os.path.join(output_dir, images[p.frame][0]) for p in picks]
  written['selection'] = selection_csv(os.path.join(output_dir, 'selection.csv'), spec, picks,
                                       images)
  if picks:
    written['sheet'] = contact_sheet(os.path.join(output_dir, 'selection.png'), picks, pixels,
                                     keypoints, scores, definition, pcutoff,
                                     track_ids=track_ids, boxes=boxes)
  return written
