"""Exports a trained model to SavedModel, TFLite, ONNX and MNN and proves each file.

    python export.py --model_dir=runs/m --records_dir=records/x --output_dir=exports/m \
        --formats=saved_model,tflite,tflite_fp16,tflite_uint8,onnx,mnn,mnn_uint8

Writes the files, export_report.md/.json (parity with Keras, PCK, latency, on-device use) and
the resolved flags. Exits non-zero when a float format differs from Keras beyond tolerance.
`--flagfile` works as for main.py. This file only parses flags and dispatches to modes/export.py.
"""

import os
import sys

from absl import app
from absl import flags as absl_flags

import flags  # noqa: F401  (defines every flag, ours in flags/export.py)
from modes import console
from core.errors import UserInputError

FLAGS = absl_flags.FLAGS


def main(argv):
  if len(argv) > 1:
    sys.exit(f'error: unexpected arguments {argv[1:]}; every option is a --flag')
  console.quiet_python_logging(FLAGS)
  console.load_tensorflow()
  from modes import export as export_mode  # pylint: disable=g-import-not-at-top  (loads TF)
  try:
    report = export_mode.run(FLAGS)
  except UserInputError as e:
    sys.exit(f'error: {e}')
  out = os.path.join(FLAGS.output_dir, 'export_report.md')
  if report['failures']:
    sys.exit('error: export parity check FAILED (the exported model does not compute what the '
             'Keras model computes):\n  ' + '\n  '.join(report['failures']) + f'\nsee {out}')
  print(f'exported {", ".join(f["format"] for f in report["formats"])}; report: {out}')


if __name__ == '__main__':
  app.run(main)
