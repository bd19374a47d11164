"""Annotation sources, the TFRecord schema, the sharded writer and reader, keypoint definitions.

This package is the lowest layer: it imports neither `pipelines` nor `hourglass`.
"""
