"""The tf.data input pipeline: read shards, parse, decode, augment (one warp), render targets, batch.

Graph mode throughout (no Python per example). Imports `records` (schema, manifest) and
`hourglass.keypoints.codec` (target rendering); never the other way round.
"""
