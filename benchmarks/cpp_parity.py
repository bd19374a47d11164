"""The C++ programs (cpp/) against the Python predictors on one model: keypoints and latency.

    python benchmarks/openfield_train.py --out=/tmp/of_cpp              # the benchmark recipe
    python benchmarks/cpp_parity.py --model_dir=/tmp/of_cpp/model --out=/tmp/cpp_parity

Exports the model (export.py) to float32 TFLite, uint8 TFLite, float32 MNN and uint8 MNN, and
float32 TFLite --with_decoder; builds hourglass_litert and hourglass_mnn (and hourglass_litert for
aarch64, run under qemu) and runs every file on images of three kinds: 3 openfield PNG frames
(mice, which the model knows), the same frames written as JPEG (quality 95), and 2 COCO and 2 MPII
JPEGs (people: parity only, on heatmaps without a clear peak). Each image is letterboxed whole,
and cut in the box of the keypoints Python found there (the records' keypoint box rule):
  raw      the C++ program fed the Python crop as float32: largest keypoint distance (input px);
  crop     largest grey-level difference of the C++ crop from Python's on the PNG frames;
  png, jpg largest keypoint distance from the Python predictor's, from the image file (image
           px), on the mouse frames as PNG and as JPEG (stb_image and OpenCV's libjpeg-turbo
           decode JPEG differently);
  people   the same on the people JPEGs, median and largest;
  latency  batch 1, --threads, a letterboxed mouse frame, the C++ program and the Python
           predictor taking turns (--rounds rounds of --count runs): the C++ network time beside
           the Python predictor's as a ratio (Python's includes quantizing a uint8 input, which
           the C++ program does while filling the input), and the C++ pre/post-processing
           (crop warp, heatmap decoding, mapping to the image) beside Python's;
  aarch64  under qemu-aarch64, the float32 TFLite keypoints' largest distance from the x86
           build's.
"""

import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks import harness  # noqa: E402
from core import geometry  # noqa: E402

DATA = os.path.join(os.path.dirname(ROOT), 'shared', 'data')
IMAGES = (('openfield/images', 3), ('coco_sample/images', 2), ('mpii_sample/images', 2))
JPEG_QUALITY = 95
FILES = (('tflite float32', 'plain', 'model_float32.tflite'),
         ('tflite uint8', 'plain', 'model_uint8.tflite'),
         ('mnn float32', 'plain', 'model.mnn'),
         ('mnn uint8', 'plain', 'model_uint8.mnn'),
         ('tflite float32 --with_decoder', 'decoder', 'model_float32.tflite'))


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--model_dir', required=True, help='a trained model directory or bundle')
  result.add_argument('--records_dir', help='its records (export checks and uint8 calibration); '
                      'default: the records/ beside --model_dir, as openfield_train.py lays out')
  result.add_argument('--out', default='/tmp/cpp_parity')
  result.add_argument('--threads', type=int, default=2)
  result.add_argument('--count', type=int, default=50, help='timed runs per latency figure')
  result.add_argument('--rounds', type=int, default=3,
                      help='latency rounds in which C++ and Python take turns')
  result.add_argument('--no_aarch64', action='store_true', help='skip the qemu run')
  return result


def _export(model_dir, records_dir, out, with_decoder):
  if os.path.isfile(os.path.join(out, 'export_report.json')):
    return
  formats = 'tflite' if with_decoder else 'tflite,tflite_uint8,mnn,mnn_uint8'
  subprocess.run([sys.executable, os.path.join(ROOT, 'export.py'), f'--model_dir={model_dir}',
                  f'--records_dir={records_dir}', f'--output_dir={out}', f'--formats={formats}',
                  '--latency_threads=',
                  *(['--with_decoder'] if with_decoder else [])], check=True, cwd=ROOT)


def _images(scratch):
  """{'png': mouse frames, 'jpg': the same as JPEG, 'people': COCO and MPII JPEGs}."""
  import cv2  # pylint: disable=g-import-not-at-top
  out = {'png': [], 'jpg': [], 'people': []}
  for folder, count in IMAGES:
    names = sorted(os.listdir(os.path.join(DATA, folder)))[:count]
    paths = [os.path.join(DATA, folder, name) for name in names]
    if folder.startswith('openfield'):
      out['png'] += paths
      for path in paths:
        jpg = os.path.join(scratch, os.path.splitext(os.path.basename(path))[0] + '.jpg')
        cv2.imwrite(jpg, cv2.imread(path), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        out['jpg'].append(jpg)
    else:
      out['people'] += paths
  return out


def _cpp(program, model, image, box, out, extra=(), qemu=False):
  """Runs a program on one image: (keypoints [K, 2], scores [K], its JSON document)."""
  from hourglass.export import cpp_programs  # pylint: disable=g-import-not-at-top
  args = [f'--model={model}', f'--image={image}', f'--output_dir={out}', *extra]
  if box is not None:
    args.append('--box=' + ','.join(repr(float(v)) for v in box))
  proc = cpp_programs.run(program, args, qemu=qemu)
  if proc.returncode:
    raise SystemExit(proc.stdout + proc.stderr)
  stem = os.path.splitext(os.path.basename(image))[0]
  return cpp_programs.read_keypoints(os.path.join(out, f'{stem}_keypoints.json'))


def _python_latency(predictor, image_rgb, to_image, count):
  """(network ms, pre/post ms) medians of the Python predictor on one crop."""
  network, pre_post = [], []
  in_graph = predictor.decodes_in_graph('dark')
  for _ in range(count + 3):
    t0 = time.perf_counter()
    x = geometry.warp(image_rgb, to_image, predictor.input_shape)[None]
    t1 = time.perf_counter()
    out = predictor.outputs(x) if in_graph else {'heatmaps': predictor(x)}
    t2 = time.perf_counter()
    keypoints = (out['keypoints'] if in_graph else predictor.decode(out['heatmaps'], 'dark')[0])
    geometry.apply_affine(to_image, keypoints[0])
    t3 = time.perf_counter()
    network.append(t2 - t1)
    pre_post.append(t1 - t0 + t3 - t2)
  return 1000 * np.median(network[3:]), 1000 * np.median(pre_post[3:])


def _compare(program, model, predictor, image, box, args, scratch):
  """(raw distance input px, crop grey difference, image distance px, Python's reference)."""
  import cv2  # pylint: disable=g-import-not-at-top
  from hourglass.export import cpp_programs  # pylint: disable=g-import-not-at-top
  ref = cpp_programs.python_reference(model, image, box, predictor=predictor)
  crop_path = os.path.join(scratch, 'crop.png')
  keypoints, _, _ = _cpp(program, model, image, box, scratch,
                         [f'--save_crop={crop_path}', f'--threads={args.threads}', '--warmup=0'])
  crop = cv2.cvtColor(cv2.imread(crop_path), cv2.COLOR_BGR2RGB)
  raw = os.path.join(scratch, 'crop.f32')
  ref.crop.astype(np.float32).tofile(raw)
  proc = cpp_programs.run(program, [f'--model={model}', f'--raw_input={raw}',
                                    f'--output_dir={scratch}', '--warmup=0'])
  if proc.returncode:
    raise SystemExit(proc.stdout + proc.stderr)
  raw_keypoints, _, _ = cpp_programs.read_keypoints(os.path.join(scratch, 'crop_keypoints.json'))
  to_input = np.linalg.inv(np.vstack([ref.input_to_image, [0, 0, 1]]))[:2]
  return (np.abs(raw_keypoints - geometry.apply_affine(to_input, ref.keypoints)).max(),
          np.abs(crop.astype(int) - ref.crop).max(), np.abs(keypoints - ref.keypoints).max(), ref)


def _measure_file(program, model, images, args, scratch):
  """One file's figures over every image, letterboxed and in a box: a dict of lists."""
  from hourglass.inference.runtime_predictors import load_runtime_predictor  # pylint: disable=g-import-not-at-top
  predictor = load_runtime_predictor(model, args.threads)
  figures = {'raw': [], 'crop': [], 'png': [], 'jpg': [], 'people': [], 'latency': []}
  for kind, paths in images.items():
    for image in paths:
      raw, grey, distance, ref = _compare(program, model, predictor, image, None, args,
                                                  scratch)
      confident = ref.scores > 0.5 * ref.scores.max()
      box = predictor.crop_rule.keypoint_box(ref.keypoints, confident)
      boxed = _compare(program, model, predictor, image, box, args, scratch)
      figures['raw'] += [raw, boxed[0]]
      figures[kind] += [distance, boxed[2]]
      if kind == 'png':
        figures['crop'] += [grey, boxed[1]]
  figures['latency'] = _latency(program, model, predictor, images['png'][0], args, scratch,
                                args.rounds)
  return figures


def _latency(program, model, predictor, image, args, scratch, rounds=3):
  """(C++ network, C++ pre/post, Python network, Python pre/post) ms on the letterboxed image:
  the medians of `rounds` rounds in which the C++ program and the Python predictor take turns."""
  import cv2  # pylint: disable=g-import-not-at-top
  rgb = cv2.cvtColor(cv2.imread(image), cv2.COLOR_BGR2RGB)
  to_image = geometry.letterbox_input_to_image(rgb.shape, predictor.input_shape)
  figures = []
  for _ in range(rounds):
    _, _, doc = _cpp(program, model, image, None, scratch,
                     [f'--threads={args.threads}', f'--count={args.count}', '--warmup=5'])
    timing = doc['timing_ms']
    figures.append((timing['network'], timing['pre_post'],
                    *_python_latency(predictor, rgb, to_image, args.count)))
  return np.median(np.array(figures), axis=0)


def _aarch64(native_program, model, images, scratch):
  """Largest keypoint distance of the aarch64 build under qemu from the native build's."""
  from hourglass.export import cpp_programs  # pylint: disable=g-import-not-at-top
  program = cpp_programs.build_aarch64()
  worst = 0.0
  for image in images['png'] + images['people'][:1]:
    native, _, _ = _cpp(native_program, model, image, None, scratch, ['--warmup=0'])
    arm, _, _ = _cpp(program, model, image, None, scratch, ['--warmup=0'], qemu=True)
    worst = max(worst, np.abs(arm - native).max())
  return worst


def main(argv=None):
  from hourglass.export import cpp_programs  # pylint: disable=g-import-not-at-top
  args = harness.start(parser(), argv)
  exports = {kind: os.path.join(args.out, f'export_{kind}') for kind in ('plain', 'decoder')}
  records = args.records_dir or os.path.join(os.path.dirname(args.model_dir.rstrip('/')),
                                             'records')
  for kind, out in exports.items():
    _export(args.model_dir, records, out, kind == 'decoder')
  programs = cpp_programs.build()
  scratch = os.path.join(args.out, 'scratch')
  os.makedirs(scratch, exist_ok=True)
  images = _images(scratch)
  print(f'{sum(len(v) for v in images.values())} images, each letterboxed and in a box; batch 1, '
        f'{args.threads} threads, {args.rounds} rounds of {args.count} runs; distances: largest '
        f'(people: median / largest)')
  print(f'{"file":30s} {"raw px":>6s} {"crop":>4s} {"png px":>6s} {"jpg px":>6s} '
        f'{"people px":>13s} | {"C++ net":>7s} {"Py net":>7s} {"Py/C++":>6s} | '
        f'{"C++ pre/post":>12s} {"Py pre/post":>11s}')
  for label, kind, name in FILES:
    model = os.path.join(exports[kind], name)
    program = programs['mnn' if name.endswith('.mnn') else 'tflite']
    f = _measure_file(program, model, images, args, scratch)
    cpp_net, cpp_pp, py_net, py_pp = f['latency']
    people = f'{np.median(f["people"]):.3f} / {max(f["people"]):.2f}'
    print(f'{label:30s} {max(f["raw"]):6.4f} {max(f["crop"]):4d} {max(f["png"]):6.4f} '
          f'{max(f["jpg"]):6.3f} {people:>13s} | {cpp_net:7.2f} {py_net:7.2f} '
          f'{py_net / cpp_net:6.2f} | {cpp_pp:9.3f} ms {py_pp:8.3f} ms', flush=True)
  if not args.no_aarch64:
    worst = _aarch64(programs['tflite'], os.path.join(exports['plain'], 'model_float32.tflite'),
                     images, scratch)
    print(f'aarch64 build under qemu, float32 TFLite: largest distance from x86 {worst:.4f} px')


if __name__ == '__main__':
  main()
