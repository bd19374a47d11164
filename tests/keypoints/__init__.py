"""Tests of keypoints."""
