"""Paired bootstrap intervals of the accuracy difference between two models on one val set.

    intervals = paired_intervals(reference, other)   # each: per-keypoint arrays of one model
    intervals['pck_at_0.1_drop_points']              # [low, high], 95%

The export proof (hourglass.export.proof) compares every exported file with its Keras model this
way: the same val objects are drawn for both models in every resample, so what varies is which
objects happen to be in the val set, not the two models' shared luck on them.
"""

import numpy as np


def _interval(values):
  """[2.5th, 97.5th] percentiles of the resampled values, as floats."""
  return [float(x) for x in np.percentile(np.concatenate(values), [2.5, 97.5])]


def paired_intervals(reference, other, samples=1000, seed=0, chunk=100):
  """95% paired bootstrap intervals of `other`'s PCK@0.1 drop and mean error change.

  Resamples the val objects with replacement, the same objects for both models.

  Args:
    reference, other: per-keypoint arrays of two models on the same dataset (same objects, same
      order): 'mask' [N, K] bool (labelled), 'correct_at_0.1' [N, K] bool, 'error_px' [N, K]
      original px (0 where not labelled).
    samples: resamples drawn.
    seed: the seed of the resampling (the intervals are reproducible).
    chunk: resamples drawn at once ([chunk, N] indices in memory).
  Returns:
    {'pck_at_0.1_drop_points': [low, high], 'mean_error_change_pct': [low, high]}, or None when
    the two did not see the same labelled keypoints.
  """
  mask = reference['mask']
  if other['mask'].shape != mask.shape or not np.array_equal(other['mask'], mask):
    return None
  labelled = mask.sum(axis=1)
  correct_ref = reference['correct_at_0.1'].sum(axis=1)
  correct_other = other['correct_at_0.1'].sum(axis=1)
  error_ref = reference['error_px'].sum(axis=1)
  error_other = other['error_px'].sum(axis=1)
  rng = np.random.RandomState(seed)
  drops, changes = [], []
  for start in range(0, samples, chunk):
    picks = rng.randint(0, len(mask), (min(chunk, samples - start), len(mask)))
    count = np.maximum(labelled[picks].sum(axis=1), 1)
    drops.append(100.0 * (correct_ref[picks].sum(axis=1) - correct_other[picks].sum(axis=1))
                 / count)
    base = np.maximum(error_ref[picks].sum(axis=1), 1e-12)
    changes.append(100.0 * (error_other[picks].sum(axis=1) - base) / base)
  return {'pck_at_0.1_drop_points': _interval(drops),
          'mean_error_change_pct': _interval(changes)}
