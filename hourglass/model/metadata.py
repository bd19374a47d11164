"""Reading the metadata every exported model file carries (written by hourglass.export.metadata).

The JSON dict lives in the TFLite flatbuffer's metadata table (entry `METADATA_KEY`), in the ONNX
`metadata_props` (key `METADATA_KEY`) and, for MNN (whose file has no free-form field), in a
sidecar `<file>.json`; hourglass.export.metadata documents its content (format `FORMAT`).
The runtime predictors read it back here, so inference needs nothing of the exporters.
"""

import json
import struct

from tensorflow.lite.python import schema_py_generated as schema_fb

from hourglass.keypoints.codec import HeatmapCodec
from core import files
from core.errors import UserInputError
from records.keypoint_definition import KeypointDefinition

FORMAT = 'hourglass-export/1'
METADATA_KEY = 'hourglass_metadata'
SIDECAR_SUFFIX = '.json'
SAVED_MODEL_METADATA_FILE = 'export_metadata.json'


def parse_metadata(meta, origin):
  """Checks a metadata dict and returns (definition, codec, meta).

  Raises:
    UserInputError: naming `origin` when the dict is not hourglass export metadata.
  """
  if not isinstance(meta, dict) or meta.get('format') != FORMAT:
    raise UserInputError(f'{origin}: no hourglass export metadata (expected format {FORMAT!r}); '
                         f'was this file written by export.py?')
  try:
    definition = KeypointDefinition.from_dict(meta['keypoints'], origin=origin)
    codec = HeatmapCodec.from_dict(meta['codec'])
    meta['input']['layout']  # pylint: disable=pointless-statement
  except (KeyError, TypeError, ValueError) as e:
    raise UserInputError(f'{origin}: malformed export metadata ({e!r})') from None
  return definition, codec, meta


def sidecar_path(model_path):
  return model_path + SIDECAR_SUFFIX


def read_json(path):
  """Reads a metadata JSON file. Raises UserInputError naming the file."""
  return files.read_json(path, 'metadata JSON', missing='the model file needs its metadata '
                         'sidecar (written by export.py beside it)')


def read_tflite_metadata(path):
  """The export metadata dict stored in a .tflite file, or None when it has none."""
  with open(path, 'rb') as f:
    data = f.read()
  try:
    model = schema_fb.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
      entry = model.Metadata(i)
      if entry.Name().decode() == METADATA_KEY:
        raw = model.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
        return json.loads(raw.decode('utf-8'))
  except (struct.error, IndexError, AttributeError, TypeError, ValueError) as e:
    # Random bytes make the flatbuffer reader index anywhere (found by the reliability tests).
    raise UserInputError(f'{path}: not a TFLite model ({type(e).__name__}: {str(e)[:120]})'
                         ) from None
  return None


def read_onnx_metadata(session_or_path):
  """The export metadata dict of an ONNX file (path or onnxruntime session), or None."""
  if isinstance(session_or_path, str):
    import onnx  # pylint: disable=g-import-not-at-top
    props = {p.key: p.value for p in onnx.load(session_or_path, load_external_data=False
                                               ).metadata_props}
  else:
    props = session_or_path.get_modelmeta().custom_metadata_map
  raw = props.get(METADATA_KEY)
  return json.loads(raw) if raw else None
