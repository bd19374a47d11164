"""SLEAP .slp fixtures for the tests (no tests here): copies of the shared samples, changed with
h5py in the places the sleap source reads (format_id, videos_json, the skeleton JSON)."""

import json
import os
import shutil

import h5py
import numpy as np


def copy_slp(src, dst, format_id=None, videos=None, edit_metadata=None):
  """Copies the .slp `src` to `dst` and changes it; returns `dst` as a string.

  Args:
    format_id: the new /metadata format_id attribute, or None to keep it.
    videos: a function that takes the list of videos_json dicts and returns the new list (the
      dataset is rewritten), or None.
    edit_metadata: a function that changes the /metadata JSON dict in place, or None.
  """
  dst = str(dst)
  os.makedirs(os.path.dirname(dst), exist_ok=True)
  shutil.copyfile(src, dst)  # not copy(): the shared samples are read-only
  with h5py.File(dst, 'r+') as f:
    attrs = f['metadata'].attrs
    if format_id is not None:
      attrs['format_id'] = float(format_id)
    if edit_metadata is not None:
      metadata = json.loads(attrs['json'])
      edit_metadata(metadata)
      attrs['json'] = np.bytes_(json.dumps(metadata, separators=(',', ':')))
    if videos is not None:
      entries = videos([json.loads(raw) for raw in f['videos_json'][()]])
      del f['videos_json']
      f.create_dataset('videos_json', data=[np.bytes_(json.dumps(v)) for v in entries])
  return dst


def rename_videos(name):
  """A `videos` function for copy_slp: every stored video path's file name becomes `name`."""
  def edit(entries):
    for entry in entries:
      stored = entry['backend']['filename']
      entry['backend']['filename'] = os.path.join(os.path.dirname(stored), name)
    return entries
  return edit


def embed_videos(entries):
  """A `videos` function for copy_slp: the videos as a .pkg.slp stores them (frames inside)."""
  return [{'backend': {'filename': '.', 'dataset': f'video{n}/video', 'format': 'png'}}
          for n, _ in enumerate(entries)]


def add_symmetry(a, b):
  """An `edit_metadata` function: the first skeleton gets a symmetry between the node ids a, b
  (a jsonpickle EdgeType 2 link, as SLEAP writes it)."""
  def edit(metadata):
    metadata['skeletons'][0]['links'].append({
        'key': 0, 'source': a, 'target': b,
        'type': {'py/reduce': [{'py/type': 'sleap.skeleton.EdgeType'}, {'py/tuple': [2]}]}})
  return edit


def duplicate_skeleton(metadata):
  """An `edit_metadata` function: a second skeleton (a copy of the first, renamed)."""
  second = json.loads(json.dumps(metadata['skeletons'][0]))
  second['graph']['name'] = 'second'
  metadata['skeletons'].append(second)


def truncate(src, dst, fraction=0.5):
  """Writes the first `fraction` of `src`'s bytes to `dst`; returns `dst` as a string."""
  with open(src, 'rb') as f:
    data = f.read()
  with open(dst, 'wb') as f:
    f.write(data[:int(len(data) * fraction)])
  return str(dst)
