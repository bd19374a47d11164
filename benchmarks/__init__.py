"""Benchmarks, one command-line script each (`python benchmarks/<name>.py --help`); harness.py
is what they share. They call the project's public names only and load TensorFlow after their
flags are parsed."""
