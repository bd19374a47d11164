"""Writing the chosen frames out for labelling: the images, the tool's files with the model's
keypoints as pre-annotations (records.label_tools), selection.csv (why each was chosen) and
selection.png (the chosen frames with their predictions, to look at before labelling).

A video's frame t becomes `<video stem>_<t:06d>.png` (lossless); an image of a folder is copied
as it is. Keypoints under pcutoff or off the image are left out of the pre-annotations: the
labeller adds them where they are visible, rather than having to find and move a wrong guess.
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


def contact_sheet(path, picks, pixels, keypoints, scores, definition, pcutoff, width=320):
  """selection.png: the chosen frames with their predicted keypoints (those at pcutoff or
  more), each scaled to `width` px and titled with its frame number and kind."""
  tiles = []
  for p in picks:
    canvas = drawing.draw_keypoints(pixels[p.frame], keypoints[p.frame], scores[p.frame],
                                    definition, pcutoff)
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
  """[K] whether each keypoint [K, 2] lies on the image (pixel centres 0 .. side - 1, half a
  pixel of border): a labeller cannot move a point from outside the image."""
  x, y = keypoints[:, 0], keypoints[:, 1]
  with np.errstate(invalid='ignore'):
    return (x >= -0.5) & (x <= width - 0.5) & (y >= -0.5) & (y <= height - 0.5)


def hand_out(spec, picks, keypoints, scores, pcutoff, tool, output_dir, definition,
             model_name=''):
  """Writes the images, the tool's files and selection.csv for the picks of one input.

  Args:
    spec: the video file or image folder the frames come from.
    picks: selection.Pick list; keypoints [T, K, 2] frame px and scores [T, K] of every frame.
    tool: one of records.label_tools.TOOLS.
    definition: the KeypointDefinition (names, skeleton, colours of the contact sheet).
  Returns:
    dict of the written paths: 'images' (list), 'selection' (the CSV), 'sheet' (the PNG), and
    the tool's own entries.
  """
  os.makedirs(output_dir, exist_ok=True)
  images, pixels = write_images(spec, picks, output_dir)
  items = []
  for p in picks:
    file_name, width, height = images[p.frame]
    shown = np.where((scores[p.frame] >= pcutoff)[:, None] & inside(keypoints[p.frame], width,
                                                                     height)[:, None],
                     keypoints[p.frame], np.nan)
    items.append(label_tools.LabelItem(file_name, width, height, shown, scores[p.frame],
                                       '; '.join(p.reasons)))
  names = list(definition.names)
  skeleton = [(names[i], names[j]) for i, j, _ in definition.skeleton]
  written = dict(label_tools.write_for_labelling(tool, output_dir, items, names, skeleton,
                                                 model_name))
  written['images'] = [os.path.join(output_dir, images[p.frame][0]) for p in picks]
  written['selection'] = selection_csv(os.path.join(output_dir, 'selection.csv'), spec, picks,
                                       images)
  if picks:
    written['sheet'] = contact_sheet(os.path.join(output_dir, 'selection.png'), picks, pixels,
                                     keypoints, scores, definition, pcutoff)
  return written
