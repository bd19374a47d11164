"""make_records flags (`--mode=make_records`); modes/configs.py turns them into a MakeRecordsConfig.

Shared flags used here live elsewhere: --records_dir (the output), --seed, --classes_path,
--matchpoint_path, --skeleton_path, --sigmas_path (flags/common.py) and --model_input_shape
(flags/model.py: the crops are made for that input size).
"""

from absl import flags as absl_flags

from flags.common import field_defaults
from records.config import MakeRecordsConfig
from records.sources import SOURCES

_RECORDS = field_defaults(MakeRecordsConfig)

absl_flags.DEFINE_enum('source', 'json', sorted(SOURCES),
                       'make_records: annotation format of --dataset_path.')
absl_flags.DEFINE_string('dataset_path', None,
                         'make_records input: a dataset folder (images + annotation file).')
absl_flags.DEFINE_string('annotation_path', None,
                         'make_records: annotation file(s) when not at the default place in '
                         '--dataset_path (COCO: the train and/or val json; Label Studio: JSON '
                         'exports; CVAT: XML files; comma-separated). '
                         'predict: the COCO annotation file whose image ids name the files of '
                         'COCO detection results (--detections).')
absl_flags.DEFINE_string('val_list', None,
                         'make_records: a file of validation images, one a line (overrides the '
                         'source split): paths in --dataset_path, DeepLabCut video/file or a '
                         'whole video, or a bare file name that only one image has (a file name '
                         'several images share is an error naming them).')
absl_flags.DEFINE_float('val_fraction', _RECORDS['val_fraction'],
                        'make_records: fraction of images for validation, for sources without a '
                        'split: an image is for validation when the SHA-256 of its identity '
                        '(video/file, else its path in --dataset_path) falls below it, so adding '
                        'images never moves others. Default 0.1.',
                        lower_bound=0.0, upper_bound=1.0)
absl_flags.DEFINE_string('add_to', None,
                         'make_records: an existing records directory to grow: the annotation '
                         'set read now (--source, --dataset_path) is merged into its examples '
                         'and the result written to --records_dir (may be the same directory; '
                         'it is replaced only once the merge has succeeded). An image labelled '
                         'in both keeps the new label; images already there keep their split. '
                         'The keypoint names and order, --model_input_shape, --crop_margin, '
                         '--box_margin and --box_min_side must match the existing set.')
absl_flags.DEFINE_bool('accept_unreviewed', _RECORDS['accept_unreviewed'],
                       'make_records (labelme, CVAT, Label Studio): take the model\'s '
                       'pre-annotations that nobody moved or marked reviewed as labels. By '
                       'default such points stay unlabelled and a frame left with no label is '
                       'skipped (counted in the summary).')
absl_flags.DEFINE_string('categories', _RECORDS['categories'],
                         'make_records --source=animal_pose: the categories to read, '
                         'comma-separated names as in the file (dog,cat); a name the file does '
                         'not have is an error listing its categories. Default: every category.')
absl_flags.DEFINE_float('box_margin', _RECORDS['box_margin'],
                        'make_records: enlargement of object boxes taken from COCO bboxes, '
                        'labelme, Label Studio or CVAT rectangles, or the extent of the labelled '
                        'keypoints.', lower_bound=0.01)
absl_flags.DEFINE_float('box_min_side', _RECORDS['box_min_side'],
                        'make_records: smallest side in original pixels of a box derived from '
                        'keypoints.', lower_bound=1.0)
absl_flags.DEFINE_float('crop_margin', _RECORDS['crop_margin'],
                        'make_records: stored crop side / model input side (room for rotation '
                        'and zoom-out in training).', lower_bound=1.0)
absl_flags.DEFINE_integer('examples_per_shard', _RECORDS['examples_per_shard'],
                          'make_records: examples per shard.',
                          lower_bound=1)
absl_flags.DEFINE_integer('num_workers', _RECORDS['num_workers'],
                          'make_records: crop worker processes (0: one per CPU core).',
                          lower_bound=0)
absl_flags.DEFINE_float('max_skip_fraction', _RECORDS['max_skip_fraction'],
                        'make_records: fail when more than this fraction of the examples is bad '
                        'input (crowd/no-keypoint filters do not count).',
                        lower_bound=0.0, upper_bound=1.0)
absl_flags.DEFINE_enum('image_format', _RECORDS['image_format'], ['jpeg', 'png'],
                       'make_records: encoding of the stored crops.')
absl_flags.DEFINE_integer('jpeg_quality', _RECORDS['jpeg_quality'],
                          'make_records: JPEG quality of the stored crops.',
                          lower_bound=1, upper_bound=100)
absl_flags.DEFINE_bool('allow_outside_paths', _RECORDS['allow_outside_paths'],
                       'make_records: accept annotation image paths that lead outside '
                       '--dataset_path (absolute paths, ../).')
absl_flags.DEFINE_integer('synthetic_count', _RECORDS['synthetic_count'],
                          'make_records --source=synthetic: training images to generate.',
                          lower_bound=0)
absl_flags.DEFINE_integer('synthetic_val_count', _RECORDS['synthetic_val_count'],
                          'make_records --source=synthetic: validation images to generate.',
                          lower_bound=0)
absl_flags.DEFINE_integer('synthetic_objects', _RECORDS['synthetic_objects'],
                          'make_records --source=synthetic: most creatures per image. 1: one '
                          'creature per image; N > 1: 2..N look-alike creatures per 320x240 '
                          'image (overlapping, occluding each other), one record each.',
                          lower_bound=1, upper_bound=8)


absl_flags.DEFINE_bool('verify_records', True,
                       'train/eval/visualize: check every shard of --records_dir against the '
                       'SHA-256 in its manifest before reading (reads the records once more; '
                       'names a corrupt shard up front).')
