"""Flags of --mode=eval and --mode=predict (the seed's names where it had the concept)."""

from absl import flags as absl_flags

from flags.common import field_defaults
from hourglass.evaluation.config import EvalConfig
from hourglass.inference.config import AnalysisConfig, IdentityConfig, PredictConfig, TrackConfig
from hourglass.inference.smoothing import SmoothingConfig
from hourglass.keypoints import DECODERS
from workflows.config import EvaluateConfig

_EVAL = field_defaults(EvalConfig)
_EVALUATE = field_defaults(EvaluateConfig)
_SMOOTHING = field_defaults(SmoothingConfig)
_TRACK = field_defaults(TrackConfig)
_ANALYSIS = field_defaults(AnalysisConfig)
_IDENTITY = field_defaults(IdentityConfig)
_PREDICT = field_defaults(PredictConfig)

absl_flags.DEFINE_enum('decoder', _EVAL['decoder'], list(DECODERS),
                       'Heatmap decoding: argmax; quarter (a quarter heatmap pixel towards the '
                       'higher neighbour); dark (Taylor expansion on the log heatmap, the most '
                       'precise).')
absl_flags.DEFINE_bool('flip_test', _EVAL['flip_test'],
                       'Also predict the horizontally flipped image and average the heatmaps '
                       '(channels swapped by the match points).')
absl_flags.DEFINE_string('detections', None,
                         'Detector boxes. eval: a COCO detection results json (image_id, '
                         'category_id, bbox, score); objects are cropped by these boxes instead '
                         'of the ground truth, rescored and OKS-NMSed. predict and select_frames: '
                         'a json of boxes '
                         'per image file name or frame index ({"name.jpg": [[x, y, w, h, score], '
                         '...]}) or COCO detection results, matched to files by the image ids of '
                         'the COCO file --annotation_path, else by the integer file stem '
                         '(000000000785.jpg is image 785). Boxes are enlarged by the box margin '
                         'the model was trained with.')
absl_flags.DEFINE_string('detector_path', None,
                         'eval --eval_box=detector, predict and select_frames: the detector that '
                         'finds every '
                         'object of each frame (trained with --mode=train --detector; a model '
                         'directory or an exported file of it). Default: the detector the '
                         '--model_path directory keeps in <model_dir>/detector; --detections wins '
                         'over both. Its boxes are enlarged as the records\' crops were.')
absl_flags.DEFINE_integer('max_objects', _PREDICT['max_objects'],
                          'eval, predict and select_frames with a detector: the most objects '
                          'per frame (the best scoring).', lower_bound=1)
absl_flags.DEFINE_enum('missing_boxes', _PREDICT['missing_boxes'], ['error', 'frame', 'skip'],
                       'predict and select_frames with --detections: an image or frame '
                       'without an entry in the '
                       'boxes file is an error (error), has its whole frame searched (frame), or '
                       'gets no object (skip).')
absl_flags.DEFINE_float('detection_score_threshold', _EVALUATE['detection_score_threshold'],
                        'eval, predict and select_frames: detector boxes scoring under this are '
                        'ignored (a detector\'s own default, 0.3, when this is 0).')
absl_flags.DEFINE_integer('num_threads', None,
                          'eval and predict with a .tflite, .onnx or .mnn model: CPU threads of '
                          'its runtime (default: the runtime\'s own choice; MNN: 2).',
                          lower_bound=1)
absl_flags.DEFINE_bool('save_result', _EVAL['save_result'],
                       'eval: write overlay images (crop, true points, predicted skeleton).')
absl_flags.DEFINE_float('conf_threshold', _EVAL['conf_threshold'],
                        'Keypoints whose confidence (heatmap peak) is under this are dropped from '
                        'drawings and from predict outputs.')
absl_flags.DEFINE_string('eval_split', _EVALUATE['eval_split'],
                         'eval: the records split to evaluate.')
absl_flags.DEFINE_float('pcutoff', _EVAL['pcutoff'],
                        'eval: the mean error is also given over the labelled '
                        'keypoints predicted with at least this confidence (DeepLabCut\'s '
                        'p-cutoff), with the fraction that reach it; predict, tracked videos: '
                        'points under it are missing for the smoothing filter, and the summary '
                        'counts the frames whose every keypoint reaches it.', lower_bound=0.0)
absl_flags.DEFINE_integer('train_error_examples', _EVALUATE['train_error_examples'],
                          'eval with record boxes: also evaluate the '
                          'first N training examples and print their error beside the split\'s '
                          '(a large gap is overfitting); 0: off.', lower_bound=0)
absl_flags.DEFINE_enum('eval_box', _EVALUATE['eval_box'],
                       ['record', 'frame', 'letterbox', 'detector'],
                       'eval: crop each object by its record box (the COCO/MPII protocol); '
                       'frame: find the object in its whole original image with no box (the '
                       'whole-frame search predict and tracking use; PCK normalised as with the '
                       'record box; one object per image); letterbox: one pass on the whole '
                       'image letterboxed to the model aspect; detector: the boxes of the '
                       'detector (--detector_path, or the model directory\'s), COCO keypoint AP '
                       'beside the AP with the record boxes.')
absl_flags.DEFINE_string('input', None,
                         'predict: an image, a folder of images, a video file, a webcam index '
                         '(0, 1, ...), a folder of videos or a comma-separated list of videos. '
                         'Without --detections, videos and webcams are tracked (one object).')
absl_flags.DEFINE_string('output', None,
                         'predict: an image file, a folder or a video file (.mp4/.avi) for the '
                         'drawings; a JSON of keypoints is written beside it. Default: '
                         'an "_keypoints" sibling of the input.')
absl_flags.DEFINE_enum('smoothing', _SMOOTHING['method'], ['auto', 'savgol', 'one_euro', 'off'],
                       'predict, tracked videos: the filter of the smoothed keypoints written '
                       'beside the raw ones (auto: Savitzky-Golay for files, One-Euro for '
                       'webcams; off: raw only).')
absl_flags.DEFINE_integer('smooth_window', _SMOOTHING['window'],
                          'predict, savgol: the window (odd, frames).',
                          lower_bound=1)
absl_flags.DEFINE_integer('smooth_polyorder', _SMOOTHING['polyorder'],
                          'predict, savgol: the polynomial order.',
                          lower_bound=0)
absl_flags.DEFINE_integer('max_gap', _SMOOTHING['max_gap'],
                          'predict, tracked videos: runs of at most this many frames with a '
                          'keypoint under --pcutoff are interpolated before smoothing; longer '
                          'gaps stay missing in the filtered CSV.', lower_bound=0)
absl_flags.DEFINE_float('one_euro_min_cutoff', _SMOOTHING['min_cutoff'],
                        'predict, one_euro: the cutoff frequency (Hz) at rest (lower: smoother).')
absl_flags.DEFINE_float('one_euro_beta', _SMOOTHING['beta'],
                        'predict, one_euro: how fast the cutoff grows with speed (higher: less '
                        'lag when the object moves).')
absl_flags.DEFINE_float('track_min_score', _TRACK['min_score'],
                        'predict and select_frames, tracked videos: a tracked crop whose mean '
                        'keypoint score is under this is lost, and the whole frame is searched '
                        'again; with several objects, an object starts an identity only with a '
                        'mean keypoint score of at least this.')
absl_flags.DEFINE_integer('search_every', _TRACK['check_every'],
                          'predict, tracked videos: frames between two whole-frame searches '
                          'that check the track (0: only when it is lost).', lower_bound=0)
absl_flags.DEFINE_bool('draw', _ANALYSIS['draw'],
                       'predict: write the drawn images / labelled video; --nodraw writes only '
                       'the keypoint files (faster).')
absl_flags.DEFINE_integer('trail', _ANALYSIS['trail'], 'predict, tracked videos: draw each '
                          'keypoint\'s last N '
                          'positions as a trail (0: none).', lower_bound=0)
absl_flags.DEFINE_integer('max_frames', None,
                          'predict: stop after this many frames/images (for a quick look).',
                          lower_bound=1)
absl_flags.DEFINE_integer('num_objects', None,
                          'predict and select_frames, videos with a detector or --detections: '
                          'the number of '
                          'objects (animals) in the video, as DeepLabCut\'s individuals: exactly '
                          'that many identities, never ended, each taking back its animal when it '
                          'returns. Default: identities start and end with the objects.',
                          lower_bound=1)
absl_flags.DEFINE_integer('track_lost_frames', _IDENTITY['lost_frames'],
                          'predict and select_frames, videos with several objects: an identity '
                          'not seen for more '
                          'than this many frames ends (until then it is found again); not with '
                          '--num_objects.', lower_bound=0)
absl_flags.DEFINE_integer('track_confirm_frames', _IDENTITY['confirm_frames'],
                          'predict and select_frames, videos with several objects: a new object '
                          'gets an identity '
                          'once found in this many consecutive frames (its first frames get it '
                          'too).', lower_bound=1)
absl_flags.DEFINE_integer('detect_every', _IDENTITY['detect_every'],
                          'predict and select_frames, videos with a detector: run it on every '
                          'N-th frame; on the frames between, each identity is cropped where its '
                          'keypoints move (1: every frame; a --detections file\'s boxes are used '
                          'on every frame).', lower_bound=1)
