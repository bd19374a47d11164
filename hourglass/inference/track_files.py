"""The tracking plot of a video analysis (its CSVs: records/dlc_csv.py)."""

import os

import numpy as np

from core import files


def plot_tracks(path, names, scores, xy, smoothed, searched, pcutoff, fps, title):
  """A PNG: each keypoint's confidence, x and y over time, searched frames marked, so a user
  sees at a glance where tracking was lost.

  Args:
    scores: [T, K]; xy: [T, K, 2] raw; smoothed: [T, K, 2] or None; searched: [T] bool.
  """
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  t = np.arange(len(scores)) / float(fps)
  figure, axes = pyplot.subplots(3, 1, figsize=(11, 8), sharex=True)
  for k, name in enumerate(names):
    line, = axes[0].plot(t, scores[:, k], lw=0.8, label=name)
    for axis, c in ((axes[1], 0), (axes[2], 1)):
      axis.plot(t, xy[:, k, c], lw=0.5, alpha=0.5, color=line.get_color())
      if smoothed is not None:
        axis.plot(t, smoothed[:, k, c], lw=0.9, color=line.get_color())
  axes[0].axhline(pcutoff, color='k', lw=0.6, ls='--')
  axes[0].set_ylabel(f'confidence (-- pcutoff {pcutoff})')
  axes[0].set_ylim(0, 1.05)
  for index in np.flatnonzero(searched):
    axes[0].axvline(t[index], color='r', lw=0.4, alpha=0.5)
  axes[1].set_ylabel('x (px)')
  axes[2].set_ylabel('y (px)')
  axes[2].invert_yaxis()
  axes[2].set_xlabel('time (s); red: whole-frame searches; thin: raw, thick: smoothed')
  axes[0].legend(loc='lower left', ncol=min(len(names), 6), fontsize=7)
  axes[0].set_title(title, fontsize=9)
  return save_png(figure, path)


def save_png(figure, path):
  """Writes a matplotlib figure as a PNG atomically and closes it. Returns the absolute path."""
  from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
  figure.tight_layout()
  with files.atomic_path(path) as tmp:
    figure.savefig(tmp, dpi=90, format='png')
  pyplot.close(figure)
  return os.path.abspath(path)
