"""The export report: the checks on the measured figures, and export_report.md/.json.

hourglass.export.proof measures each exported file (parity with Keras, accuracy, latency); this
module judges those figures and writes them for the user.
"""

import json
import os

from core import files

REPORT_NAME = 'export_report'

# A uint8 model passes when it stays this close to the Keras model on the val crops.
MAX_ERROR_CHANGE_PCT = 10.0
MAX_PCK01_DROP_POINTS = 2.0


def checks(keras_row, rows):
  """Whether each uint8 model stays within 10% mean error and 2 points PCK@0.1 of the Keras
  model, and whether the fastest format runs at least 2x faster than Keras on 2 threads.

  A check is met on the point estimates; 'decided' says whether the 95% intervals agree (all
  inside the limits when met, one beyond its limit when not).
  """
  out = {}
  for row in rows:
    if row['format'].endswith('uint8') and 'mean_error_change_pct' in row:
      change, drop = row['mean_error_change_pct'], row['pck_at_0.1_drop_points']
      met = bool(change is not None and change <= MAX_ERROR_CHANGE_PCT
                 and drop <= MAX_PCK01_DROP_POINTS)
      check = {'mean_error_change_pct': change, 'pck_at_0.1_drop_points': drop, 'met': met}
      interval = row.get('interval_95')
      if interval:
        highs = (interval['mean_error_change_pct'][1] <= MAX_ERROR_CHANGE_PCT
                 and interval['pck_at_0.1_drop_points'][1] <= MAX_PCK01_DROP_POINTS)
        lows = (interval['mean_error_change_pct'][0] > MAX_ERROR_CHANGE_PCT
                or interval['pck_at_0.1_drop_points'][0] > MAX_PCK01_DROP_POINTS)
        check.update(interval_95=interval, decided=bool(highs if met else lows))
      out[row['format']] = check
  keras_ms = keras_row.get('latency_ms', {}).get('2')
  timed = [(r['latency_ms']['2'], r['format']) for r in rows if '2' in r.get('latency_ms', {})]
  if keras_ms and timed:
    best_ms, best = min(timed)
    out['speed'] = {'fastest': best, 'speedup_vs_keras_2_threads': keras_ms / best_ms,
                    'met': keras_ms / best_ms >= 2.0}
  return out


def _check_text(name, goal):
  """One check's figures in words, with the 95% intervals where measured."""
  if name == 'speed':
    return (f'fastest {goal["fastest"]}, {goal["speedup_vs_keras_2_threads"]:.1f}x Keras on 2 '
            f'threads (limit >= 2x)')
  interval = goal.get('interval_95') or {}

  def part(label, key, spec, unit, limit):
    text = f'{label} {format(goal[key], spec)}{unit} ('
    if key in interval:
      low, high = interval[key]
      text += f'95% interval {format(low, spec)} to {format(high, spec)}{unit}; '
    return text + f'limit <= {format(limit, spec)}{unit})'

  text = (part('PCK@0.1 drop', 'pck_at_0.1_drop_points', '.2f', ' points',
               MAX_PCK01_DROP_POINTS) + ', ' +
          part('mean error change', 'mean_error_change_pct', '+.1f', '%',
               MAX_ERROR_CHANGE_PCT))
  if 'decided' in goal and not goal['decided']:
    text += ('; undecided: the intervals straddle the limit, so another draw of val crops could '
             'turn the verdict (more val records narrow them)')
  return text


def _fmt(value, spec):
  return '-' if value is None else format(value, spec)


def _accuracy_columns(detector):
  """(column names, row -> text functions) of the accuracy figures: box AP for a detector,
  PCK and errors for a keypoint model."""
  if detector:
    return (['box AP', 'AP drop (pts)', 'AP@0.5', 'recall@0.5'],
            [lambda r: _fmt(r.get('box_ap'), '.4f'),
             lambda r: _fmt(r.get('box_ap_drop_points'), '+.2f'),
             lambda r: _fmt(r.get('box_ap50'), '.4f'), lambda r: _fmt(r.get('recall50'), '.4f')])
  change = lambda r: ('-' if r.get('mean_error_change_pct') is None else
                      f'{r["mean_error_change_pct"]:+.1f}%')
  return (['PCK', 'PCK drop (pts)', 'PCK@0.1', 'mean err (px)', 'err change'],
          [lambda r: _fmt(r.get('pck'), '.4f'), lambda r: _fmt(r.get('pck_drop_points'), '+.2f'),
           lambda r: _fmt(r.get('pck_at_0.1'), '.4f'),
           lambda r: _fmt(r.get('mean_error_px'), '.2f'), change])


def to_markdown(report, command=None):
  """The report as a Markdown page."""
  lines = ['# Export report', '']
  if command:
    lines += [f'Command: `{command}`', '']
  lines += [f'Parity on {report["check_samples"]} {report.get("check_images", "val crops")} '
            f'against Keras (decoder {report["decoder"]}); '
            f'{report.get("accuracy_from", "accuracy through the --mode=eval path")}; latency = '
            f'median of one image on this machine.', '']
  if report.get('keypoints_counted_as'):
    lines += [f'"kp within 1 px" and "kp dist" count the keypoints '
              f'{report["keypoints_counted_as"]}.', '']
  fold = report.get('batch_norm_folding')
  if fold:
    lines += [f'Exported with batch norm folded (--fold_batch_norm): {fold["folded"]} of '
              f'{fold["batch_norm"]} BN layers folded into their convs ({fold["removed"]} '
              f'entirely, {fold["left_as_channel_op"]} leaving a per-channel add), '
              f'{fold["kept"]} kept as they were'
              + (f'; for MNN {fold["mnn"]["removed"]} entirely and '
                 f'{fold["mnn"]["left_as_channel_op"]} leaving a 1x1 depthwise conv'
                 if fold.get('mnn') else '') + '.', '']
  if report.get('fused_separable_convs'):
    lines += [f'{report["fused_separable_convs"]} 1x1 separable convs written as plain 1x1 convs '
              '(--fuse_separable): the same function, one op less each.', '']
  names, columns = _accuracy_columns('box_ap' in report['keras'])
  lines += ['| format | size (KB) | max diff | mean diff | kp within 1 px | kp dist (px) | '
            + ' | '.join(names) + ' | ms 1 thr | ms 2 thr | status |',
            '|---' * (9 + len(names)) + '|']
  for row in [report['keras']] + report['formats']:
    p = row.get('parity', {})
    ms = row.get('latency_ms', {})
    lines.append('| ' + ' | '.join([
        row['format'], f'{row["size_bytes"] / 1024:.0f}', _fmt(p.get('max_abs_diff'), '.2e'),
        _fmt(p.get('mean_abs_diff'), '.2e'), _fmt(p.get('keypoints_within_1px'), '.3f'),
        _fmt(p.get('keypoint_distance_px'), '.3f')] + [column(row) for column in columns] + [
            _fmt(ms.get('1'), '.2f'), _fmt(ms.get('2'), '.2f'),
            row.get('status', 'reference')]) + ' |')
  lines += ['', '## Checks', '']
  for name, check in report['checks'].items():
    lines.append(f'- {name}: {"met" if check["met"] else "NOT met"}: ' + _check_text(name, check))
  if not report['checks']:
    lines.append('- not measured (no val records or no latency runs)')
  if report['failures']:
    lines += ['', '## FAILED', ''] + [f'- {f}' for f in report['failures']]
  lines += ['', '## On-device use', '']
  for row in report['formats']:
    lines += [f'### {row["format"]} (`{os.path.basename(row["path"])}`)', '']
    lines += [f'- {line}' for line in row['usage']] + ['']
  return '\n'.join(lines) + '\n'


def write_report(output_dir, report, command=None):
  """Writes export_report.json and export_report.md (temporary names, then rename)."""
  paths = []
  for suffix, text in (('.json', json.dumps(report, indent=2, default=float) + '\n'),
                       ('.md', to_markdown(report, command))):
    path = os.path.join(output_dir, REPORT_NAME + suffix)
    files.write_text(path, text)
    paths.append(path)
  return paths
