"""The C++ programs of cpp/ from Python: build them, run them, and the Python predictor's answer to
compare them with.

hourglass_litert (LiteRT's C API) and hourglass_mnn (MNN's C++ API) run an exported .tflite /
.mnn file on one image, in a box or on the whole image letterboxed (docs/cpp.md). `build` makes
them for this machine with CMake, `build_aarch64` cross-builds hourglass_litert for 64-bit ARM
boards (run here by `run(..., qemu=True)` under qemu-aarch64), and `python_reference` gives what
the Python runtime predictor finds for the same file, image and box: the tests and
benchmarks/cpp_parity.py compare the two. cpp/install_tools.sh installs the toolchain.
"""

import dataclasses
import glob
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np

from core import files, geometry
from core.errors import UserInputError
from hourglass.inference.frame_sources import read_image
from hourglass.inference.runtime_predictors import load_runtime_predictor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CPP_DIR = os.path.join(ROOT, 'cpp')
BUILD_DIR = os.path.join(ROOT, 'build', 'cpp')
AARCH64_BUILD_DIR = os.path.join(ROOT, 'build', 'cpp-aarch64')
AARCH64_CACHE_DIR = os.path.join(ROOT, '.cache', 'litert-aarch64')
AARCH64_TOOLCHAIN = os.path.join(CPP_DIR, 'toolchains', 'aarch64-linux-gnu.cmake')
AARCH64_SYSROOT = '/usr/aarch64-linux-gnu'  # the arm64 libc of Debian's cross-compiler
QEMU_ROOT = os.path.join(ROOT, 'build', 'qemu-aarch64-root')
# XNNPACK's CPU detection (cpuinfo) reads /proc/cpuinfo, which qemu-aarch64 7.2 passes through
# from the x86 host: with no ARM processor listed there it crashes. qemu looks files up under its
# -L prefix first, so the prefix holds an ARM description (a Cortex-A72's) beside the arm64 libc;
# the ISA features come from the auxiliary vector qemu fills in.
_CPUINFO = ('processor\t: {i}\nBogoMIPS\t: 100.00\n'
            'Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 cpuid\n'
            'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n'
            'CPU part\t: 0xd08\nCPU revision\t: 3\n\n')
PROGRAMS = {'tflite': 'hourglass_litert', 'mnn': 'hourglass_mnn'}

# What each build needs: (program on PATH or header under /usr/include, Debian package).
NATIVE_TOOLS = (('cmake', 'cmake'), ('g++', 'g++'), ('stb/stb_image.h', 'libstb-dev'),
                ('nlohmann/json.hpp', 'nlohmann-json3-dev'))
AARCH64_TOOLS = (('aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu'),
                 ('qemu-aarch64', 'qemu-user'))


def missing_tools(tools=NATIVE_TOOLS):
  """The tools of `tools` this machine lacks, each as 'name (Debian package p)'."""
  def present(name):
    if name.endswith('.h') or name.endswith('.hpp'):
      return os.path.isfile(os.path.join('/usr/include', name))
    return shutil.which(name) is not None
  return [f'{name} (Debian package {package})' for name, package in tools if not present(name)]


def _cmake(build_dir, options):
  """Configures and builds cpp/ into build_dir; UserInputError with the log's tail on failure."""
  os.makedirs(build_dir, exist_ok=True)
  for command in (['cmake', '-S', CPP_DIR, '-B', build_dir, *options],
                  ['cmake', '--build', build_dir, '-j', str(os.cpu_count() or 2)]):
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode:
      raise UserInputError(f'{" ".join(command)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}')


def build(build_dir=BUILD_DIR):
  """Builds hourglass_litert and hourglass_mnn for this machine (an up-to-date build is kept).

  Returns:
    {'tflite': path of hourglass_litert, 'mnn': path of hourglass_mnn}.
  """
  _cmake(build_dir, [f'-DHOURGLASS_PYTHON={sys.executable}'])
  return {suffix: os.path.join(build_dir, name) for suffix, name in PROGRAMS.items()}


def aarch64_litert_library(cache_dir=AARCH64_CACHE_DIR):
  """libLiteRt.so for aarch64, taken out of the aarch64 wheel of the installed ai-edge-litert
  version in cache_dir (cpp/install_tools.sh downloads it there).

  Raises:
    UserInputError: when the wheel is not in cache_dir.
  """
  version = importlib.metadata.version('ai-edge-litert')
  wheels = sorted(glob.glob(os.path.join(cache_dir, f'ai_edge_litert-{version}-*aarch64*.whl')))
  if not wheels:
    raise UserInputError(f'{cache_dir}: no aarch64 ai-edge-litert {version} wheel; '
                         f'cpp/install_tools.sh downloads it')
  library = os.path.join(cache_dir, version, 'libLiteRt.so')
  if not os.path.isfile(library):
    os.makedirs(os.path.dirname(library), exist_ok=True)
    with zipfile.ZipFile(wheels[-1]) as wheel, files.atomic_path(library) as temporary:
      with open(temporary, 'wb') as f:
        f.write(wheel.read('ai_edge_litert/libLiteRt.so'))
  return library


def build_aarch64(build_dir=AARCH64_BUILD_DIR, cache_dir=AARCH64_CACHE_DIR):
  """Cross-builds hourglass_litert for aarch64 Linux; returns its path."""
  _cmake(build_dir, [f'-DCMAKE_TOOLCHAIN_FILE={AARCH64_TOOLCHAIN}', '-DHOURGLASS_MNN=OFF',
                     f'-DLITERT_LIBRARY={aarch64_litert_library(cache_dir)}'])
  return os.path.join(build_dir, PROGRAMS['tflite'])


def qemu_root(root=QEMU_ROOT):
  """The -L prefix for qemu-aarch64: lib/ of the arm64 cross libc and an ARM /proc/cpuinfo."""
  if not os.path.isfile(os.path.join(root, 'proc', 'cpuinfo')):
    os.makedirs(os.path.join(root, 'proc'), exist_ok=True)
    if not os.path.islink(os.path.join(root, 'lib')):
      os.symlink(os.path.join(AARCH64_SYSROOT, 'lib'), os.path.join(root, 'lib'))
    files.write_text(os.path.join(root, 'proc', 'cpuinfo'),
                     ''.join(_CPUINFO.format(i=i) for i in range(os.cpu_count() or 1)))
  return root


def run(program, args, qemu=False, timeout=300):
  """Runs a program with `args` (a list of strings); an aarch64 build under qemu-aarch64 when
  `qemu`.

  Returns:
    subprocess.CompletedProcess with text stdout and stderr.
  """
  command = (['qemu-aarch64', '-L', qemu_root()] if qemu else []) + [program, *args]
  return subprocess.run(command, capture_output=True, text=True, check=False, timeout=timeout)


def read_keypoints(json_path):
  """(keypoints [K, 2], scores [K], the whole document) of a program's keypoints JSON."""
  with open(json_path, encoding='utf-8') as f:
    doc = json.load(f)
  keypoints = np.array([[k['x'], k['y']] for k in doc['keypoints']], np.float64)
  return keypoints, np.array([k['score'] for k in doc['keypoints']], np.float64), doc


@dataclasses.dataclass
class Reference:
  """The Python predictor's result for one image.

  Attributes:
    crop: uint8 [H, W, 3] RGB, the model input cut from the image.
    input_to_image: affine [2, 3], model-input px -> image px.
    keypoints: float [K, 2] image px; scores: float [K].
  """
  crop: np.ndarray
  input_to_image: np.ndarray
  keypoints: np.ndarray
  scores: np.ndarray


def python_reference(model_path, image_path, box=None, num_threads=2, predictor=None):
  """What the Python runtime predictor finds, with predict's box rule (--detections: the box
  enlarged by the model's box margin) or eval's letterbox (--eval_box=letterbox) without a box.

  Args:
    model_path: an exported .tflite or .mnn file.
    image_path: the image file (read as predict reads it).
    box: [x, y, w, h] original px, or None for the whole image letterboxed.
    predictor: a loaded runtime predictor of model_path, to reuse.
  Returns:
    Reference.
  """
  predictor = predictor or load_runtime_predictor(model_path, num_threads)
  rgb = read_image(image_path)
  shape = predictor.input_shape
  to_image = (geometry.input_to_image(box, shape, predictor.box_margin) if box is not None
              else geometry.letterbox_input_to_image(rgb.shape, shape))
  crop = geometry.warp(rgb, to_image, shape)
  keypoints, scores = predictor.predict(crop[None], 'dark')
  return Reference(crop, to_image, geometry.apply_affine(to_image, keypoints[0]), scores[0])
