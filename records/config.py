"""MakeRecordsConfig: every make_records setting, as plain values (modes/configs.py fills it from
flags; flags/records.py reads its defaults here, so this module imports no TensorFlow)."""

import dataclasses
from typing import Optional, Tuple

from core.errors import UserInputError


@dataclasses.dataclass
class MakeRecordsConfig:
  """Every make_records setting (recorded in the manifest's `settings`).

  Attributes:
    source: a name in records.sources.SOURCES (json, mpii, coco, labelme, label_studio, cvat,
      deeplabcut, sleap, animal_pose, synthetic).
    output_dir: the records directory to write.
    input_shape: (H, W) of the model input.
    dataset_path: the dataset folder (images and annotations).
    annotation_path: annotation file(s), comma-separated, when not at the default place.
    val_list: file of validation image names (one a line), overriding any source split.
    val_fraction: fraction of images for validation, for examples without a split: those whose
      identity's SHA-256 (resolve.hash_fraction) is below it, so adding images never moves others.
    seed: shuffle and synthetic-data seed.
    classes_path, matchpoint_path, skeleton_path, sigmas_path: definition overrides.
    crop_margin: crop side / model input side.
    box_margin: enlargement of boxes from COCO bboxes and keypoint extents.
    box_min_side: smallest side (original px) of a box derived from keypoints.
    examples_per_shard: shard size bound.
    num_workers: crop processes (0: one per CPU core; 1: in this process).
    max_skip_fraction: fail when more than this fraction of examples is bad input.
    image_format: 'jpeg' or 'png' for the stored crops; jpeg_quality: 1-100.
    allow_outside_paths: accept image paths that lead outside the dataset folder.
    synthetic_count, synthetic_val_count: images the synthetic source generates per split.
    synthetic_objects: most creatures per synthetic image; 1: one per image as before, N > 1:
      2..N creatures per 320x240 image.
    shuffle: shuffle the training examples (seeded) before writing.
    progress: print a progress line.
    add_to: a records directory to grow: the new set is merged into its examples (the newer
      label of an image wins, existing images keep their split) and the result written to
      output_dir (records/grow.py).
    accept_unreviewed: take model pre-annotations nobody moved or accepted as labels
      (records/pre_annotations.py); by default they stay unlabelled.
    categories: --source=animal_pose: the category names to read, comma-separated (dog,cat);
      None reads every category.
  """
  source: str
  output_dir: str
  input_shape: Tuple[int, int] = (256, 256)
  dataset_path: Optional[str] = None
  annotation_path: Optional[str] = None
  val_list: Optional[str] = None
  val_fraction: Optional[float] = None
  seed: int = 0
  classes_path: Optional[str] = None
  matchpoint_path: Optional[str] = None
  skeleton_path: Optional[str] = None
  sigmas_path: Optional[str] = None
  crop_margin: float = 1.5
  box_margin: float = 1.25
  box_min_side: float = 32.0
  examples_per_shard: int = 512
  num_workers: int = 0
  max_skip_fraction: float = 0.1
  image_format: str = 'jpeg'
  jpeg_quality: int = 95
  allow_outside_paths: bool = False
  synthetic_count: int = 1000
  synthetic_val_count: int = 200
  synthetic_objects: int = 1
  shuffle: bool = True
  progress: bool = True
  add_to: Optional[str] = None
  accept_unreviewed: bool = False
  categories: Optional[str] = None

  def validate(self) -> None:
    """Raises UserInputError naming the setting that is out of range."""
    checks = [
        (self.output_dir, 'records_dir (output) is required'),
        (len(self.input_shape) == 2 and all(int(v) > 0 for v in self.input_shape),
         f'input shape must be (H, W) > 0, got {self.input_shape}'),
        (self.crop_margin >= 1.0, f'crop_margin must be >= 1, got {self.crop_margin}'),
        (self.box_margin > 0, f'box_margin must be > 0, got {self.box_margin}'),
        (self.box_min_side > 0, f'box_min_side must be > 0, got {self.box_min_side}'),
        (self.examples_per_shard >= 1, 'examples_per_shard must be >= 1'),
        (self.num_workers >= 0, 'num_workers must be >= 0'),
        (0 <= self.max_skip_fraction <= 1, 'max_skip_fraction must be in [0, 1]'),
        (self.image_format in ('jpeg', 'png'), f'image_format must be jpeg or png, got '
                                               f'{self.image_format!r}'),
        (1 <= self.jpeg_quality <= 100, 'jpeg_quality must be in [1, 100]'),
        (self.val_fraction is None or 0 <= self.val_fraction <= 1,
         f'val_fraction must be in [0, 1], got {self.val_fraction}'),
        (self.synthetic_count >= 0 and self.synthetic_val_count >= 0,
         'synthetic counts must be >= 0'),
        (1 <= self.synthetic_objects <= 8,
         f'synthetic_objects must be in [1, 8], got {self.synthetic_objects}'),
    ]
    for ok, message in checks:
      if not ok:
        raise UserInputError(f'make_records: {message}')

  def crop_settings(self):
    """The records.crop.CropSettings of these settings."""
    from records.crop import CropSettings  # pylint: disable=g-import-not-at-top  (loads OpenCV)
    return CropSettings(tuple(int(v) for v in self.input_shape), self.crop_margin,
                        self.box_margin, self.box_min_side, self.image_format, self.jpeg_quality)
