"""The C++ programs (cpp/) against the Python predictor, on the export tests' files.

Both programs are built once (and hourglass_litert cross-built for aarch64, run under qemu) and
run on the `exported` fixture's files (tests/export/conftest.py: a 64x64 model fitted on coloured
dots, every format, --with_decoder): the float32 TFLite (keypoints from its in-graph decoder), the
uint8 TFLite, the float32 and uint8 MNN files (heatmaps decoded by the C++ DARK decoder). This file
runs in the process that builds those files (tests/conftest.py's scheduler). Without cmake, a
compiler, stb or nlohmann-json (or, for the ARM test, the cross-compiler, qemu and the aarch64
wheel) the tests skip naming the Debian package; under CI (CI=true) they fail.
"""
import os
import shutil

import cv2
import numpy as np
import pytest

from core import geometry
from core.errors import UserInputError
from hourglass.export import cpp_programs
from hourglass.inference.runtime_predictors import load_runtime_predictor
from tests.support.fitted_model import scene

FILES = {'tflite': 'model_float32.tflite', 'tflite_uint8': 'model_uint8.tflite',
         'mnn': 'model.mnn', 'mnn_uint8': 'model_uint8.mnn'}
UINT8 = ('tflite_uint8', 'mnn_uint8')
HEATMAP_STRIDE = 4  # the fitted model's input px per heatmap px


def _require(missing):
  if missing:
    message = 'the C++ programs need ' + ', '.join(missing) + ' (cpp/install_tools.sh)'
    if os.environ.get('CI') == 'true':
      pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope='module')
def programs(tmp_path_factory):
  """{'tflite': hourglass_litert, 'mnn': hourglass_mnn}, built for this machine."""
  _require(cpp_programs.missing_tools())
  return cpp_programs.build(str(tmp_path_factory.mktemp('cpp_build')))


@pytest.fixture(scope='module')
def models(exported):
  """{name in FILES: exported file path}."""
  proc, out, _, _ = exported
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
  return {name: os.path.join(out, file) for name, file in FILES.items()}


@pytest.fixture(scope='module')
def images(tmp_path_factory):
  """Two PNG images with one dot scene each: (path, box or None). The scene at 3x in a box (the
  box given is the scene's side / the model's margin, 1.4), and at 2.2x letterboxed (whole
  image)."""
  root = tmp_path_factory.mktemp('cpp_images')
  rng = np.random.default_rng(7)
  out = []
  for name, size, offset, box in (('boxed.png', (240, 300), (30, 40), True),
                                  ('whole.png', (160, 200), (11, 4), False)):
    canvas = rng.uniform(0, 90, size + (3,)).astype(np.uint8)
    dots, _ = scene(rng)
    side = 192 if box else 140
    y, x = offset
    canvas[y:y + side, x:x + side] = cv2.resize(dots, (side, side), interpolation=cv2.INTER_LINEAR)
    path = str(root / name)
    cv2.imwrite(path, cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    margin = side / 1.4
    out.append((path, [x + (side - margin) / 2, y + (side - margin) / 2, margin, margin]
                if box else None))
  return out


def _run(program, model, image, box, out_dir, *extra, qemu=False):
  args = [f'--model={model}', f'--image={image}', f'--output_dir={out_dir}', '--warmup=0', *extra]
  if box is not None:
    args.append('--box=' + ','.join(repr(float(v)) for v in box))
  proc = cpp_programs.run(program, args, qemu=qemu)
  assert proc.returncode == 0, proc.stdout + proc.stderr
  stem = os.path.splitext(os.path.basename(image))[0]
  return cpp_programs.read_keypoints(os.path.join(out_dir, f'{stem}_keypoints.json'))


@pytest.mark.parametrize('name', list(FILES))
def test_programs_find_the_python_keypoints(programs, models, images, name, tmp_path):
  """From the image file: the crop equal to Python's (the warp is OpenCV's, bit for bit), the
  keypoints within 0.05 px of the Python predictor's for the float files (the C++ DARK decoder or
  the in-graph one) and within one heatmap pixel for uint8, the scores alike, and a skeleton
  picture of the image's size."""
  program = programs['mnn' if name.startswith('mnn') else 'tflite']
  predictor = load_runtime_predictor(models[name], 2)
  for image, box in images:
    crop_path = str(tmp_path / 'crop.png')
    keypoints, scores, doc = _run(program, models[name], image, box, tmp_path,
                                  f'--save_crop={crop_path}')
    ref = cpp_programs.python_reference(models[name], image, box, predictor=predictor)
    crop = cv2.cvtColor(cv2.imread(crop_path), cv2.COLOR_BGR2RGB)
    assert np.abs(crop.astype(int) - ref.crop).max() == 0, image
    np.testing.assert_allclose(doc['input_to_image'], ref.input_to_image, atol=1e-9)
    scale = ref.input_to_image[0, 0]  # image px per input px
    tolerance = HEATMAP_STRIDE * scale if name in UINT8 else 0.05
    assert np.abs(keypoints - ref.keypoints).max() <= tolerance, (name, image, keypoints,
                                                                  ref.keypoints)
    np.testing.assert_allclose(scores, ref.scores, atol=0.02 * np.abs(ref.scores).max())
    picture = cv2.imread(os.path.join(tmp_path, os.path.basename(image).split('.')[0] +
                                      '_skeleton.png'))
    assert picture.shape == cv2.imread(image).shape
    assert doc['decoder'].endswith('(in the model\'s graph)' if name == 'tflite' else '(C++)')


def test_raw_input_gives_the_keypoints_of_that_crop(programs, models, images, tmp_path):
  """Fed Python's crop as raw float32 input, the C++ keypoints (model-input px) equal the Python
  predictor's on the same crop within 0.05 px, for the in-graph and the C++ decoder alike."""
  image, box = images[0]
  for name in ('tflite', 'mnn'):
    ref = cpp_programs.python_reference(models[name], image, box)
    raw = str(tmp_path / 'crop.f32')
    ref.crop.astype(np.float32).tofile(raw)
    proc = cpp_programs.run(programs['mnn' if name == 'mnn' else 'tflite'],
                            [f'--model={models[name]}', f'--raw_input={raw}',
                             f'--output_dir={tmp_path}', '--count=3'])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    keypoints, _, doc = cpp_programs.read_keypoints(str(tmp_path / 'crop_keypoints.json'))
    expected = geometry.apply_affine(np.linalg.inv(
        np.vstack([ref.input_to_image, [0, 0, 1]]))[:2], ref.keypoints)
    assert np.abs(keypoints - expected).max() <= 0.05, name
    assert doc['timing_ms']['runs'] == 3 and doc['timing_ms']['network'] > 0


def test_nchw_and_dynamic_batch_files(programs, nchw_dynamic_exports, images, tmp_path):
  """A dynamic-batch TFLite file (resized to one image) and an NCHW dynamic-batch MNN file: the
  Python predictor's keypoints within 0.05 px."""
  image, box = images[0]
  for name in ('tflite', 'mnn'):
    model = nchw_dynamic_exports[name][0]
    keypoints, _, _ = _run(programs[name], model, image, box, tmp_path)
    ref = cpp_programs.python_reference(model, image, box)
    assert np.abs(keypoints - ref.keypoints).max() <= 0.05, name


def test_aarch64_build_under_qemu_matches_the_native_one(programs, models, images, tmp_path):
  """hourglass_litert cross-built for aarch64 (Debian's cross g++, the aarch64 wheel's
  libLiteRt.so) runs under qemu-aarch64 and finds the native build's keypoints within 0.05 px."""
  _require(cpp_programs.missing_tools(cpp_programs.AARCH64_TOOLS))
  try:
    program = cpp_programs.build_aarch64(str(tmp_path / 'build'))
  except UserInputError as e:
    _require([str(e)])
  image, box = images[0]
  native, _, _ = _run(programs['tflite'], models['tflite'], image, box, tmp_path)
  (tmp_path / 'arm').mkdir()
  arm, _, _ = _run(program, models['tflite'], image, box, tmp_path / 'arm', qemu=True)
  assert np.abs(arm - native).max() <= 0.05


def test_bad_input_is_one_clear_line_and_writes_nothing(programs, models, images, tmp_path):
  """A model of another kind or corrupt, metadata missing, an image that does not decode, a box
  outside the image: one line naming the file or the box, exit status 1, no file written."""
  image, _ = images[0]
  corrupt = tmp_path / 'corrupt.tflite'
  corrupt.write_bytes(os.urandom(4000))
  bare = tmp_path / 'bare.mnn'
  shutil.copy(models['mnn'], bare)  # no sidecar
  unnamed = tmp_path / 'unnamed.tflite'
  unnamed.write_bytes(open(models['tflite'], 'rb').read().replace(b'hourglass_metadata',
                                                                  b'some_other_entry__'))
  not_image = tmp_path / 'notes.png'
  not_image.write_text('not an image')
  out = tmp_path / 'out'
  out.mkdir()
  cases = [
      ('tflite', models['mnn'], image, [], 'mnn: not a loadable LiteRT'),
      ('tflite', str(corrupt), image, [], 'corrupt.tflite: not a loadable LiteRT'),
      ('mnn', models['tflite'], image, [], 'tflite: not a loadable MNN model'),
      ('mnn', str(bare), image, [], 'bare.mnn.json: cannot read the model\'s metadata'),
      ('tflite', str(unnamed), image, [], 'no "hourglass_metadata" metadata entry'),
      ('tflite', models['tflite'], str(not_image), [], 'notes.png: cannot decode the image'),
      ('tflite', models['tflite'], image, ['--box=400,10,50,50'], 'lies outside the image'),
      ('tflite', models['tflite'], image, ['--box=10,10,0,50'], 'degenerate box'),
  ]
  for kind, model, picture, extra, message in cases:
    proc = cpp_programs.run(programs[kind], [f'--model={model}', f'--image={picture}',
                                             f'--output_dir={out}', *extra])
    assert proc.returncode == 1, (model, picture, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], (message, proc.stderr)
  assert os.listdir(out) == []
