"""Frame selection benchmark: on the synthetic walk (records/sources/synthetic_video.py), do the
chosen frames fall where the model is in trouble (the creature half occluded, leaving or
re-entering the view, out of view) rather than on easy frames?

    python main.py --output_dir=/tmp/qs                      # the quickstart model, 4 minutes
    python benchmarks/frame_selection.py --model_path=/tmp/qs/model --synthetic=/tmp/walk

Analyses the walk (or reads `<stem>_keypoints.json` of an earlier `--mode=predict` run beside
it), selects N frames for several N with the defaults of --mode=select_frames, and prints how
many picks fall in each kind of frame, beside the share of frames of that kind (what picking
at random would give).
"""

import argparse
import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hourglass.inference import video_analysis  # noqa: E402
from hourglass.inference.loading import load_predictor  # noqa: E402
from hourglass.labelling import criteria, selection, tracks  # noqa: E402
from core import files  # noqa: E402
from records.sources import synthetic_video  # noqa: E402

LEAD = 15  # frames before leaving / after re-entering the view that count as such


def frame_kinds(info):
  """[T] the kind of each frame of the walk: occluded, leaving, out of view, re-entry, easy."""
  kinds = np.array(['easy'] * info['frames'], dtype=object)
  for a, b in info['outside']:
    kinds[max(0, a - LEAD):a] = 'leaving'
    kinds[b:b + LEAD] = 're-entry'
    kinds[a:b] = 'out of view'
  for a, b in info['occluded']:
    kinds[a:b] = 'occluded'
  return kinds


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--model_path', required=True)
  parser.add_argument('--synthetic', required=True, help='folder of the walk (made if missing)')
  parser.add_argument('--num_frames', default='5,10,20')
  args = parser.parse_args()
  walk = os.path.join(args.synthetic, 'walk.mp4')
  if not os.path.exists(walk):
    os.makedirs(args.synthetic, exist_ok=True)
    synthetic_video.write_video(walk)
  info = files.read_json(os.path.join(args.synthetic, 'walk_truth.json'), 'truth')
  predictor = load_predictor(args.model_path)
  analysis = os.path.join(args.synthetic, 'walk_keypoints.json')
  track = (tracks.from_analysis_json(analysis) if os.path.exists(analysis) else
           tracks.from_video(predictor, walk, video_analysis.AnalysisConfig()))
  flip = None
  if predictor.flip_supported:
    from hourglass.inference import video  # pylint: disable=g-import-not-at-top
    flip = criteria.flip_distances(predictor, (f.rgb for f in video.Source(walk)),
                                   track.keypoints, track.scores, 0.4)
  trouble = criteria.measure(track.keypoints, track.scores, track.smoothed, 0.4, flip)
  kinds = frame_kinds(info)
  share = collections.Counter(kinds)
  print(f'{walk}: {len(kinds)} frames; flip check: '
        f'{"on" if flip is not None else "off (" + predictor.flip_reason + ")"}')
  print('frames of each kind: ' + ', '.join(f'{k} {100 * n / len(kinds):.0f}%'
                                            for k, n in sorted(share.items())))
  for n in [int(v) for v in args.num_frames.split(',')]:
    picks = selection.select(trouble, track.names, selection.SelectConfig(num_frames=n))
    troubled = [p for p in picks if p.kind != 'coverage']
    by_kind = collections.Counter(kinds[p.frame] for p in troubled)
    hard = sum(v for k, v in by_kind.items() if k != 'easy')
    print(f'N={n}: {len(troubled)} picked for trouble ({hard} of them in hard frames: '
          f'{dict(sorted(by_kind.items()))}), {len(picks) - len(troubled)} for coverage; '
          f'random: {100 * (1 - share["easy"] / len(kinds)):.0f}% hard')


if __name__ == '__main__':
  main()
