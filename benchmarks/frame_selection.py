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

import collections
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402
from core import files  # noqa: E402

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


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_path', required=True)
  result.add_argument('--synthetic', required=True, help='folder of the walk (made if missing)')
  result.add_argument('--num_frames', default='5,10,20')
  return result


def trouble_of_walk(model_path, walk):
  """(trouble measures, track, predictor, flip distances or None) of the walk's frames."""
  # pylint: disable=g-import-not-at-top
  from hourglass.inference import config as inference_config, frame_sources
  from hourglass.inference.loading import load_predictor
  from hourglass.labelling import criteria, tracks
  # pylint: enable=g-import-not-at-top
  predictor = load_predictor(model_path)
  analysis = os.path.splitext(walk)[0] + '_keypoints.json'
  track = (tracks.from_analysis_json(analysis) if os.path.exists(analysis) else
           tracks.from_video(predictor, walk, inference_config.AnalysisConfig()))
  flip = None
  if predictor.flip_supported:
    flip = criteria.flip_distances(predictor, (f.rgb for f in frame_sources.Source(walk)),
                                   track.keypoints, track.scores, 0.4)
  trouble = criteria.measure(track.keypoints, track.scores, track.smoothed, 0.4, flip)
  return trouble, track, predictor, flip


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  from hourglass.labelling import selection
  from records.sources import synthetic_video
  # pylint: enable=g-import-not-at-top
  walk = os.path.join(args.synthetic, 'walk.mp4')
  if not os.path.exists(walk):
    os.makedirs(args.synthetic, exist_ok=True)
    synthetic_video.write_video(walk)
  info = files.read_json(os.path.join(args.synthetic, 'walk_truth.json'), 'truth')
  trouble, track, predictor, flip = trouble_of_walk(args.model_path, walk)
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
