"""Real-data training benchmark on ../shared/data/openfield (DeepLabCut, 4 keypoints, the fixed
99/17 split of val_frames.txt, flip pair leftear/rightear): mobile tiny 2-stack model, then eval
with the record box and with the whole frame, in original 640x480 pixels.

    python benchmarks/openfield_train.py [--out=runs/openfield] [--epochs=50] [--size=192x192]
    python benchmarks/openfield_train.py --out=/tmp/of50 --train_frames=33 --epochs=0 --seed=1
    python benchmarks/openfield_train.py --out=/tmp/of256 --size=256x256 --precision=bfloat16

--train_frames=N keeps the first N training frames of the labels (and all 17 validation frames):
the small labelled sets users start from. --epochs=0 trains the product's default length
(--train_steps unset: the larger of 1000 steps and 100 epochs). --precision names the compute
precision (main.py's --nomixed_precision or --mixed_precision: bfloat16 on a CPU), float32 unless
given, so the figures do not depend on the CPU's default.

Each stage is the product's own command line (main.py), so the figures are what a user gets.
Goal (issue 5): mean error under 6 px with the record box, training <= 20 minutes on 2 cores.
192x192, not 256x256: the mouse's keypoints span 78-138 px of the 640x480 frame (median 111),
so the record box (x1.25) is still upsampled at 192, and 256x256 trained at 3.8 images/s here (60
epochs would take 25 minutes) against ~8 at 192x192.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402

DATA = os.path.join(os.path.dirname(ROOT), 'shared', 'data', 'openfield')


def _eval_figures(output_dir):
  for name in sorted(os.listdir(output_dir)):
    if name.endswith('.json') and 'metrics' in name:
      with open(os.path.join(output_dir, name), encoding='utf-8') as f:
        result = json.load(f)
      return result.get('pck', {}).get('total'), result.get('mean_error_px')
  return None, None


def _subset(data, out, train_frames):
  """A DeepLabCut project folder in `out` with the first `train_frames` training rows of the
  labels and every validation row; its images are the shared ones (a symbolic link)."""
  with open(os.path.join(data, 'val_frames.txt'), encoding='utf-8') as f:
    val = {line.strip() for line in f if line.strip()}
  with open(os.path.join(data, 'CollectedData_Pranav.csv'), encoding='utf-8') as f:
    lines = f.read().splitlines()
  header, rows = lines[:3], lines[3:]
  is_val = lambda row: os.path.basename(row.split(',')[0]) in val
  kept = [r for r in rows if is_val(r)] + [r for r in rows if not is_val(r)][:train_frames]
  project = os.path.join(out, 'project')
  os.makedirs(project, exist_ok=True)
  with open(os.path.join(project, 'CollectedData_Pranav.csv'), 'w', encoding='utf-8') as f:
    f.write('\n'.join(header + kept) + '\n')
  for name in ('images', 'config.yaml', 'val_frames.txt'):
    link = os.path.join(project, name)
    if not os.path.lexists(link):
      os.symlink(os.path.join(data, name), link)
  return project


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--out', default=os.path.join(ROOT, 'runs', 'openfield'))
  result.add_argument('--epochs', type=int, default=50)
  result.add_argument('--size', default='192x192')
  result.add_argument('--batch', type=int, default=8)
  result.add_argument('--train_frames', type=int, default=0,
                      help='keep the first N training frames (0: all 99)')
  result.add_argument('--seed', type=int, default=0)
  result.add_argument('--precision', default='float32', choices=['float32', 'bfloat16'],
                      help="bfloat16: main.py's --mixed_precision on a CPU")
  return result


def main(argv=None):
  args = harness.start(parser(), argv)
  os.makedirs(args.out, exist_ok=True)
  data = _subset(DATA, args.out, args.train_frames) if args.train_frames else DATA
  matchpoint = os.path.join(args.out, 'match_point.txt')
  with open(matchpoint, 'w', encoding='utf-8') as f:
    f.write('leftear,rightear,h\n')
  records = os.path.join(args.out, 'records')
  model = os.path.join(args.out, 'model')
  harness.run_main_py('--mode=make_records', '--source=deeplabcut', f'--dataset_path={data}',
                      f'--val_list={os.path.join(DATA, "val_frames.txt")}',
                      f'--matchpoint_path={matchpoint}', f'--records_dir={records}',
                      f'--model_input_shape={args.size}', '--num_workers=1')
  seconds = harness.run_main_py(
      '--mode=train', f'--records_dir={records}', f'--model_dir={model}', '--mobile', '--tiny',
      '--num_stacks=2', f'--batch_size={args.batch}',
      *([f'--total_epoch={args.epochs}'] if args.epochs else []), '--learning_rate=2e-3',
      '--warmup_epochs=1', '--rotation=30', '--steps_per_loop=12', f'--seed={args.seed}',
      ('--mixed_precision' if args.precision == 'bfloat16' else '--nomixed_precision'))
  rows = []
  for box in ('record', 'frame', 'letterbox'):
    out = os.path.join(args.out, f'eval_{box}')
    harness.run_main_py('--mode=eval', f'--model_path={model}', f'--records_dir={records}',
                        f'--output_dir={out}', f'--eval_box={box}')
    rows.append((box, *_eval_figures(out)))
  length = f'{args.epochs} epochs' if args.epochs else 'the default length'
  frames = f'{args.train_frames} train frames' if args.train_frames else '99 train frames'
  with open(os.path.join(model, 'metrics.csv'), encoding='utf-8') as f:
    steps = f.read().strip().splitlines()[-1].split(',')[1]
  print(f'\nopenfield, {frames}, mobile tiny 2-stack {args.size} {args.precision}, {length} '
        f'({steps} steps), seed {args.seed}, training {seconds / 60:.1f} min')
  for box, pck, error in rows:
    print(f'  {box:9s} box: val PCK@0.5 {pck}   mean error {error} px (640x480 frame)')


if __name__ == '__main__':
  main()
