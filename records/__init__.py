"""Annotation sources, the TFRecord schema, the sharded writer and reader, keypoint definitions.

It imports only the base layer `core`: neither `pipelines` nor `hourglass`.
"""
