"""hourglass/export/latency.py: the one timing loop, in-process and in its child process."""

import os
import subprocess

import pytest

from hourglass.export import latency
from tests.support.paths import ROOT


def test_median_seconds_times_the_runs_after_the_warmup(monkeypatch):
  calls = []
  clock = iter([0.0, 1.0, 10.0, 13.0, 20.0, 22.0])  # three timed runs: 1, 3 and 2 seconds
  monkeypatch.setattr(latency.time, 'perf_counter', lambda: next(clock))
  seconds = latency.median_seconds(calls.append, 'image', runs=3, warmup=2)
  assert seconds == 2.0 and calls == ['image'] * 5


def test_a_tensorflow_model_is_timed_by_the_module_run_as_a_program(tiny_bundle_dir, tmp_path,
                                                                     monkeypatch):
  """`python -m hourglass.export.latency` in a child process, from any working folder."""
  monkeypatch.chdir(tmp_path)
  seconds = latency.tf_latency(tiny_bundle_dir, threads=1, runs=2)
  assert 0 < seconds < 5


def test_a_failed_child_is_an_error_with_its_output(monkeypatch):
  ran = {}

  def run(command, **kwargs):
    ran.update(command=command, env=kwargs['env'])
    return subprocess.CompletedProcess(command, 1, 'partial output\n', 'Traceback: boom\n')

  monkeypatch.setattr(latency.subprocess, 'run', run)
  with pytest.raises(RuntimeError, match='latency run of m failed:\npartial output\nTraceback'):
    latency.tf_latency('m', threads=2, runs=5)
  assert ran['command'][1:5] == ['-m', 'hourglass.export.latency', '--threads=2', '--runs=5']
  assert ran['env']['PYTHONPATH'].split(os.pathsep)[0] == ROOT
