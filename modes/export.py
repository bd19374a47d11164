"""`python export.py`: exports a trained model to SavedModel, TFLite, ONNX and MNN and proves each
file (parity with Keras, PCK, latency), writing export_report.md/.json and the resolved flags.
"""

from modes import configs
from workflows import export


def run(flag_values):
  """Exports and proves; returns the report dict. Raises UserInputError on bad input."""
  return export.run(configs.export_run_config(flag_values))
