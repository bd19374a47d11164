"""Several objects per frame on synthetic multi-creature images: the detector and top-down
keypoints with its boxes.

    python benchmarks/detector_synthetic.py [--out=runs/detector_synthetic] \
        [--detector_steps=800] [--keypoint_steps=600]

Makes records of 320x240 images with 2-4 look-alike creatures (--synthetic_objects=4, seed 0,
800 training and 100 validation images), trains the detector (mobile tiny 1-stack, 128x160,
batch 16) and a keypoint model (mobile tiny 1-stack, 128x128, batch 16), then evaluates the
keypoint model with the detector's boxes (--eval_box=detector: COCO keypoint AP with the
detector's boxes beside the AP with the record boxes). Each stage is the product's own command
line (main.py). Goals (issue 39): box AP@0.5 >= 0.95; keypoint AP with the detector's boxes
>= 0.9x the AP with the record boxes.
"""

import csv
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402


def _rows(model_dir):
  """The metrics.csv rows of a run, as dicts."""
  with open(os.path.join(model_dir, 'metrics.csv'), encoding='utf-8') as f:
    return list(csv.DictReader(f))


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--out', default=os.path.join(ROOT, 'runs', 'detector_synthetic'))
  result.add_argument('--detector_steps', type=int, default=800)
  result.add_argument('--keypoint_steps', type=int, default=600)
  result.add_argument('--train_count', type=int, default=800)
  result.add_argument('--val_count', type=int, default=100)
  return result


def main(argv=None):
  args = harness.start(parser(), argv)
  records = os.path.join(args.out, 'records')
  model = os.path.join(args.out, 'model')
  harness.run_main_py('--mode=make_records', '--source=synthetic', '--synthetic_objects=4',
                      f'--synthetic_count={args.train_count}',
                      f'--synthetic_val_count={args.val_count}', f'--records_dir={records}',
                      '--model_input_shape=128x128')
  common = ('--mobile', '--tiny', '--num_stacks=1', '--batch_size=16', '--nomixed_precision',
            '--learning_rate=2e-3', '--steps_per_loop=20', '--validation_steps=200')
  detector_s = harness.run_main_py('--mode=train', '--detector', f'--records_dir={records}',
                                   f'--model_dir={model}', *common,
                                   f'--train_steps={args.detector_steps}')
  keypoint_s = harness.run_main_py('--mode=train', f'--records_dir={records}',
                                   f'--model_dir={model}', *common, '--rotation=30',
                                   f'--train_steps={args.keypoint_steps}')
  out = os.path.join(args.out, 'eval_detector')
  harness.run_main_py('--mode=eval', f'--model_path={model}', f'--records_dir={records}',
                      f'--output_dir={out}', '--eval_box=detector')
  with open(os.path.join(out, 'metrics.json'), encoding='utf-8') as f:
    result = json.load(f)
  rows = _rows(os.path.join(model, 'detector'))
  best = max(rows, key=lambda r: float(r['val_ap'] or -1))
  ap_detector, ap_record = result['coco']['AP'], result['gt_box_coco']['AP']
  print(f'\nsynthetic multi-creature ({args.train_count}/{args.val_count} images, 2-4 '
        f'creatures), detector {detector_s / 60:.1f} min ({rows[-1]["step"]} steps), keypoint '
        f'model {keypoint_s / 60:.1f} min')
  print(f'  best detector (step {best["step"]}): val box AP {float(best["val_ap"]):.4f}, '
        f'AP@0.5 {float(best["val_ap50"]):.4f} (goal >= 0.95), recall@0.5 '
        f'{float(best["val_recall50"]):.4f}')
  print(f'  keypoint AP: detector boxes {ap_detector:.4f}, record boxes {ap_record:.4f}, ratio '
        f'{ap_detector / max(ap_record, 1e-9):.3f} (goal >= 0.9)')


if __name__ == '__main__':
  main()
