"""The one progress report: counts, rate, ETA and notes, as make_records, training and predict
print it."""

from core.progress import format_duration, Progress


def test_lines_carry_count_rate_eta_and_note():
  lines = []
  progress = Progress(total=10, label='train', unit='steps', done=2, every_s=0,
                      write=lines.append)
  progress.start -= 4.0                       # 4 s ago: 2 steps of this run -> 0.5 steps/s
  progress.update(2, note='epoch 1/2 loss 0.1')
  assert lines[-1].startswith('train [#########') and ' 4/10 steps, 0.5 steps/s' in lines[-1]
  assert 'ETA 0:00:12' in lines[-1] and lines[-1].endswith('epoch 1/2 loss 0.1')
  progress.close()
  assert len(lines) == 2


def test_unknown_total_has_no_eta_and_disabled_prints_nothing():
  lines = []
  Progress(None, 'predict', 'frames', every_s=0, write=lines.append).update(3)
  assert lines == [lines[0]] and 'predict 3 frames' in lines[0] and 'ETA' not in lines[0]
  quiet = []
  silent = Progress(5, 'make_records', 'examples', every_s=0, write=quiet.append, enabled=False)
  silent.update(5)
  silent.close()
  assert not quiet


def test_durations():
  assert format_duration(3725) == '1:02:05' and format_duration(None) == '?'
