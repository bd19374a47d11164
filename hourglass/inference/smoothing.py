"""Smoothing keypoint tracks: One-Euro online (live input), Savitzky-Golay offline (files).

Tracks are float arrays [T, K, 2] (frame px) with NaN where a point is missing (score under the
threshold); scores [T, K]. Raw values are never changed in place: every function returns new
arrays, and the callers write raw and smoothed side by side.

    from hourglass.inference import smoothing
    smoothed, interpolated = smoothing.savgol_track(xy, valid, window=9, polyorder=2, max_gap=10)
    live = smoothing.OneEuro(fps=30); point = live(xy_t, valid_t)
"""

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class SmoothingConfig:
  """Settings of both filters.

  Attributes:
    method: 'auto' (Savitzky-Golay for files, One-Euro for webcams), 'savgol', 'one_euro' or
      'off'.
    min_score: points under this score are missing for the filters (and in the CSV).
    window, polyorder: the Savitzky-Golay window (odd, frames) and polynomial order.
    max_gap: missing runs of at most this many frames inside a track are interpolated (linear)
      before smoothing; longer gaps stay missing.
    min_cutoff, beta, d_cutoff: One-Euro (Casiez et al. 2012): the cutoff (Hz) at rest, its
      growth with speed (per px/s), the cutoff of the speed estimate.
  """
  method: str = 'auto'
  min_score: float = 0.4
  window: int = 9
  polyorder: int = 2
  max_gap: int = 10
  min_cutoff: float = 1.0
  beta: float = 0.02
  d_cutoff: float = 1.0


def interpolate_gaps(values, valid, max_gap):
  """Fills missing runs of at most max_gap frames between two valid frames, linearly.

  Args:
    values: [T, ...] float; valid: [T] bool.
  Returns:
    (values [T, ...] with filled gaps (NaN elsewhere where invalid), filled [T] bool).
  """
  values = np.array(values, np.float64)
  valid = np.asarray(valid, bool)
  out = np.where(valid.reshape((-1,) + (1,) * (values.ndim - 1)), values, np.nan)
  filled = np.zeros(len(valid), bool)
  index = np.flatnonzero(valid)
  for a, b in zip(index[:-1], index[1:]):
    gap = b - a - 1
    if 0 < gap <= max_gap:
      t = (np.arange(a + 1, b) - a) / float(b - a)
      t = t.reshape((-1,) + (1,) * (values.ndim - 1))
      out[a + 1:b] = values[a] * (1.0 - t) + values[b] * t
      filled[a + 1:b] = True
  return out, filled


def savgol_weights(window, polyorder):
  """[window, window]: row j gives the least-squares polynomial's value at window position j
  (j = window // 2 is the centre; other rows serve the edges of a track)."""
  half = window // 2
  positions = np.arange(window, dtype=np.float64) - half
  vander = positions[:, None] ** np.arange(polyorder + 1)[None]
  return vander @ np.linalg.pinv(vander)


def savgol_run(values, window, polyorder):
  """Savitzky-Golay over one run without gaps (edges fitted on the first/last window).

  Args:
    values: [n, D] float.
  Returns:
    [n, D]; unchanged when the run is shorter than polyorder + 2.
  """
  n = len(values)
  window = min(window, n if n % 2 else n - 1)
  if window < polyorder + 2:
    return values.copy()
  weights = savgol_weights(window, polyorder)
  half = window // 2
  starts = np.clip(np.arange(n) - half, 0, n - window)
  offsets = np.arange(n) - starts
  indices = starts[:, None] + np.arange(window)[None]
  return np.einsum('nw,nwd->nd', weights[offsets], values[indices])


def _runs(mask):
  """(start, stop) of each run of True."""
  padded = np.concatenate([[False], mask, [False]])
  edges = np.flatnonzero(padded[1:] != padded[:-1])
  return list(zip(edges[::2], edges[1::2]))


def savgol_track(xy, valid, window=9, polyorder=2, max_gap=10):
  """Offline smoothing of a track: gap interpolation, then Savitzky-Golay per continuous run.

  Args:
    xy: [T, K, 2] frame px; valid: [T, K] bool (confident points).
  Returns:
    (smoothed [T, K, 2] with NaN where still missing, interpolated [T, K] bool).
  """
  if window % 2 == 0 or window < 1:
    raise ValueError(f'the smoothing window must be an odd number of frames, got {window}')
  xy = np.asarray(xy, np.float64)
  out = np.full(xy.shape, np.nan)
  interpolated = np.zeros(xy.shape[:2], bool)
  for k in range(xy.shape[1]):
    filled, was_filled = interpolate_gaps(xy[:, k], valid[:, k], max_gap)
    interpolated[:, k] = was_filled
    for start, stop in _runs(np.isfinite(filled[:, 0])):
      out[start:stop, k] = savgol_run(filled[start:stop], window, polyorder)
  return out, interpolated


class OneEuro:
  """The One-Euro filter for live input, vectorised over any point array shape.

  A point that goes missing resets its state, so that it starts afresh when it returns.
  """

  def __init__(self, fps, min_cutoff=1.0, beta=0.02, d_cutoff=1.0):
    self.dt = 1.0 / float(fps)
    self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
    self._x = self._dx = None

  def _alpha(self, cutoff):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / self.dt)

  def __call__(self, x, valid):
    """Filters one frame.

    Args:
      x: [K, 2] frame px; valid: [K] bool.
    Returns:
      [K, 2] filtered, NaN where not valid.
    """
    x = np.asarray(x, np.float64)
    valid = np.asarray(valid, bool)
    if self._x is None:
      self._x, self._dx = np.full(x.shape, np.nan), np.zeros(x.shape)
    fresh = valid & ~np.isfinite(self._x[..., 0])
    previous = np.where(fresh[..., None], x, self._x)
    dx = (x - previous) / self.dt
    a_d = self._alpha(self.d_cutoff)
    dx_hat = np.where(fresh[..., None], 0.0, a_d * dx + (1.0 - a_d) * self._dx)
    cutoff = self.min_cutoff + self.beta * np.abs(dx_hat)
    tau = 1.0 / (2.0 * math.pi * cutoff)
    a = 1.0 / (1.0 + tau / self.dt)
    x_hat = a * x + (1.0 - a) * previous
    self._x = np.where(valid[..., None], x_hat, np.nan)
    self._dx = np.where(valid[..., None], dx_hat, 0.0)
    return self._x.copy()


def one_euro_track(xy, valid, fps, min_cutoff=1.0, beta=0.02, d_cutoff=1.0):
  """One-Euro over a whole track [T, K, 2] (as live input would be filtered)."""
  live = OneEuro(fps, min_cutoff, beta, d_cutoff)
  return np.stack([live(x, v) for x, v in zip(xy, valid)])


def smooth(xy, scores, config: SmoothingConfig, fps, live=False):
  """The configured filter over a track.

  Returns:
    (smoothed [T, K, 2] (NaN where missing), interpolated [T, K] bool, method name), or
    (None, None, 'off').
  """
  method = config.method
  if method == 'auto':
    method = 'one_euro' if live else 'savgol'
  if method == 'off':
    return None, None, 'off'
  valid = np.asarray(scores) >= config.min_score
  if method == 'one_euro':
    out = one_euro_track(xy, valid, fps, config.min_cutoff, config.beta, config.d_cutoff)
    return out, np.zeros(valid.shape, bool), method
  out, interpolated = savgol_track(xy, valid, config.window, config.polyorder, config.max_gap)
  return out, interpolated, method


def jitter(xy):
  """RMS of the second difference of each keypoint's track (px / frame^2), over the frames
  where three consecutive points exist; NaN without any."""
  second = xy[2:] - 2.0 * xy[1:-1] + xy[:-2]
  norms = np.linalg.norm(second, axis=-1)
  norms = norms[np.isfinite(norms)]
  return float(np.sqrt(np.mean(norms ** 2))) if norms.size else float('nan')
