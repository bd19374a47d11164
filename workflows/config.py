"""The settings of each run, as plain values: modes/configs.py fills them from flags.

flags/ read their defaults here, so this module imports no TensorFlow; the settings of the
library's own steps (EvalConfig, ExportConfig, TrainConfig, ...) are fields of these. The types
of hourglass/inference (PredictConfig, AnalysisConfig), whose modules load OpenCV, are named as
strings.

`record_settings`, where a run has one, is called with the folder the run writes to (and, for
training, {setting: (value used, why)} of the settings it changed) once that folder is known:
the modes write the resolved flags there.
"""

import dataclasses
from typing import Callable, Optional, Tuple

from hourglass.detection import MAX_OBJECTS
from hourglass.evaluation.config import EvalConfig
from hourglass.export.config import ExportConfig, ProofConfig
from hourglass.labelling.selection import SelectConfig
from hourglass.model.config import ModelConfig
from hourglass.training.train_config import StrategyConfig, TrainConfig
from pipelines.config import PipelineConfig

_PIPELINE = PipelineConfig()


@dataclasses.dataclass
class TrainRunConfig:
  """A training run on a records directory.

  Attributes:
    training: the TrainConfig, where steps_per_epoch 0 means train examples // batch_size,
      total_epoch and train_steps None the length rule of workflows.train.run_length, and
      compute_dtype is replaced by the precision chosen here.
    model: the architecture; its input shape and keypoint count come from input_shape and the
      records, its sync_bn from sync_bn.
    input_shape: (H, W) of the model input; None: the records' own.
    sync_bn: synchronized BatchNorm; None: on with more than one replica.
    flip_prob_given: flip_prob was asked for explicitly, so it is kept (with a warning) on
      records that do not support horizontal flips.
    validate: validate on the val split (when it has examples).
    default_precision: what an unset strategy.mixed_precision means ('auto' or 'float32').
    detector: train the records' detector (whole frames, every object's box) into
      <model_dir>/detector instead of the keypoint model (workflows/train_detector.py); its
      input_shape is input_shape or hourglass.detection.DEFAULT_INPUT_SHAPE.
  """
  records_dir: str
  model_dir: str
  training: TrainConfig
  pipeline: PipelineConfig = _PIPELINE
  model: ModelConfig = ModelConfig()
  strategy: StrategyConfig = StrategyConfig()
  input_shape: Optional[Tuple[int, int]] = None
  sync_bn: Optional[bool] = None
  flip_prob_given: bool = False
  validate: bool = True
  weights_path: Optional[str] = None
  deterministic: bool = _PIPELINE.deterministic
  seed: int = _PIPELINE.seed
  default_precision: str = 'auto'
  record_settings: Optional[Callable] = None
  detector: bool = False


@dataclasses.dataclass
class EvaluateConfig:
  """An evaluation of a model on a records split.

  Attributes:
    evaluation: the evaluator's settings; its output_dir and coco_ground_truth are set here.
    output_dir: where the reports go; None: workflows.evaluate.default_output_dir(model_path).
    eval_box: 'record' (crop by the record box), 'frame' or 'letterbox' (the whole image).
    detections: a COCO detection results file whose boxes replace the records'.
    train_error_examples: also evaluate this many training examples (record boxes only).
  """
  records_dir: str
  model_path: str
  evaluation: EvalConfig = dataclasses.field(default_factory=EvalConfig)
  output_dir: Optional[str] = None
  eval_split: str = 'val'
  batch_size: int = _PIPELINE.batch_size
  num_threads: Optional[int] = None
  eval_box: str = 'record'
  detections: Optional[str] = None
  detection_score_threshold: float = 0.0
  detector_path: Optional[str] = None
  max_objects: int = MAX_OBJECTS
  train_error_examples: int = 200
  record_settings: Optional[Callable] = None


@dataclasses.dataclass
class ExportRunConfig:
  """An export of a trained model to several formats, and its proof.

  Attributes:
    model_dir: a training model directory or a bundle.
    export: what to write (formats, output folder, layout).
    records_dir: val records for the parity check and PCK; None: random check images.
    check_samples: val examples of the parity check.
    calibration_records, calibration_split, calibration_samples: the crops that calibrate the
      uint8 formats (default records: records_dir; an empty split falls back to val).
    seed: seed of the random check images.
    command: the command line written into the report.
  """
  model_dir: str
  export: ExportConfig
  proof: ProofConfig = ProofConfig()
  records_dir: Optional[str] = None
  batch_size: int = _PIPELINE.batch_size
  check_samples: int = 32
  calibration_records: Optional[str] = None
  calibration_split: str = 'train'
  calibration_samples: int = 200
  seed: int = _PIPELINE.seed
  command: str = ''
  record_settings: Optional[Callable] = None


@dataclasses.dataclass
class PredictRunConfig:
  """Keypoints on images, videos or a webcam with one model."""
  model_path: str
  predict: 'PredictConfig'  # noqa: F821  (hourglass.inference.prediction)
  batch_size: int = _PIPELINE.batch_size
  num_threads: Optional[int] = None


@dataclasses.dataclass
class SelectFramesConfig:
  """Frame selection for labelling, over one or several inputs.

  Attributes:
    input: a video, a predict analysis JSON, a folder of images, or several videos
      (comma-separated, or a folder of videos).
    output_dir: where the frames and the tool's files go (a sub-folder per input when several).
    model_path: the model that predicts (None: only analysis JSONs can be read).
    analysis: the tracking and smoothing settings (hourglass.inference.config.AnalysisConfig;
      None: its defaults); its pcutoff is the confidence the criteria and the pre-annotations
      use, its identity.num_objects the expected object count of several.
    selection: how many frames and how far apart; spacing None: the selection's rule, 0 for
      folders of images.
    flip_check: measure the plain against the mirrored prediction.
    label_tool: 'labelme', 'label_studio' or 'cvat'.
    detections: a boxes file of every frame's objects (predict's --detections): videos are
      analysed with identities (several objects per frame).
    detector_path: the detector that finds the objects (default: the model directory's own,
      <model_dir>/detector; none there: one object is tracked); --detections wins over it.
    detection_score_threshold: boxes (the detector's or the file's) scoring under it are
      ignored (0: the detector's own default); max_objects: the most objects the detector gives
      per frame; missing_boxes: a frame the boxes file has no entry for (predict's
      --missing_boxes).
  """
  input: str
  output_dir: str
  model_path: Optional[str] = None
  analysis: Optional['AnalysisConfig'] = None  # noqa: F821  (hourglass.inference.video_analysis)
  selection: SelectConfig = SelectConfig()
  decoder: str = EvalConfig.decoder
  flip_check: bool = True
  label_tool: str = 'labelme'
  batch_size: int = _PIPELINE.batch_size
  num_threads: Optional[int] = None
  detections: Optional[str] = None
  detector_path: Optional[str] = None
  detection_score_threshold: float = 0.0
  max_objects: int = MAX_OBJECTS
  missing_boxes: str = 'error'


@dataclasses.dataclass
class VisualizeConfig:
  """A grid of training examples straight from the training pipeline (epoch 0).

  Attributes:
    pipeline: the training pipeline's settings; its input_shape None: the records' own.
    output_dir: where the grid (and the resolved flags) go.
  """
  records_dir: str
  pipeline: PipelineConfig = _PIPELINE
  num_examples: int = 16
  output_dir: str = 'visualize'
  record_settings: Optional[Callable] = None


@dataclasses.dataclass
class ImportSeedConfig:
  """A model of the seed project (a Keras 2 .h5) written as one of our model directories.

  Attributes:
    seed_path: the .h5 file (training checkpoint, dumped inference model or weights only).
    model_dir: the model directory to write (its best_model/ bundle).
    classes_path, matchpoint_path, skeleton_path, sigmas_path: the keypoint definition (the
      seed's config files); without classes_path the shipped MPII (K=16) or COCO (K=17) one.
    input_shape: (H, W) for a weights-only file, whose input size the file does not say.
  """
  seed_path: str
  model_dir: str
  classes_path: Optional[str] = None
  matchpoint_path: Optional[str] = None
  skeleton_path: Optional[str] = None
  sigmas_path: Optional[str] = None
  input_shape: Optional[Tuple[int, int]] = None
