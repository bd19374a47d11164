"""--mode=predict: geometry of the letterbox/box crops, RGB/BGR discipline, video/folder/image
outputs on the shared sample video and images, and clear errors for unreadable input."""

import copy
import json
import os

import cv2
import numpy as np
import pytest

from core import geometry
from core.errors import UserInputError
from hourglass.inference.loading import load_predictor
from hourglass.inference.config import PredictConfig
from hourglass.inference.prediction import predict_source
from hourglass.inference.predictors import Predictor
from hourglass.keypoints import drawing
from hourglass.keypoints.codec import HeatmapCodec
from records.keypoint_definition import KeypointDefinition

INPUT = (64, 64)


def test_letterbox_and_box_geometry_map_edges_exactly():
  # A 640x480 frame letterboxed into 64x64: the frame's width fills the input exactly.
  m = geometry.letterbox_input_to_image((480, 640, 3), INPUT)
  corners = np.array([[-0.5, 31.5], [63.5, 31.5]]) @ m[:, :2].T + m[:, 2]
  np.testing.assert_allclose(corners, [[-0.5, 239.5], [639.5, 239.5]])
  # A box [x, y, w, h] = [10, 20, 40, 80] in a 64x32 (HxW) input: aspect already 1:2, centre
  # (30, 60); box_scale 1.25 enlarges it about that centre.
  m = geometry.input_to_image([10, 20, 40, 80], (64, 32), 1.25)
  centre = np.array([15.5, 31.5]) @ m[:, :2].T + m[:, 2]
  np.testing.assert_allclose(centre, [30.0, 60.0])
  np.testing.assert_allclose(np.diag(m[:, :2]), [50.0 / 32, 100.0 / 64])


@pytest.mark.parametrize('frame_shape', [(480, 640), (60, 50)])
def test_the_warp_puts_a_dot_where_the_affine_says(frame_shape):
  """A Gaussian dot at a sub-pixel frame position lands at inverse(affine)(position) in the crop
  (also through the anti-aliasing pre-reduction of large frames)."""
  h, w = frame_shape
  x0, y0 = 0.37 * w + 0.3, 0.61 * h - 0.2
  ys, xs = np.mgrid[0:h, 0:w]
  sigma = max(h, w) / 40
  frame = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / (2 * sigma ** 2))
  frame = np.repeat((frame * 250)[..., None], 3, axis=2).astype(np.uint8)
  m = geometry.letterbox_input_to_image(frame.shape, INPUT)
  crop = geometry.warp(frame, m, INPUT)[..., 0].astype(np.float64)
  inverse = np.linalg.inv(np.vstack([m, [0, 0, 1]]))[:2]
  expected = inverse @ np.array([x0, y0, 1.0])
  cy, cx = np.mgrid[0:INPUT[0], 0:INPUT[1]]
  found = np.array([(crop * cx).sum(), (crop * cy).sum()]) / crop.sum()
  np.testing.assert_allclose(found, expected, atol=0.15)


class _RecordingPredictor(Predictor):
  """Records the crops it is given and predicts every keypoint at the crop centre."""

  def __init__(self, definition):
    super().__init__(definition, INPUT, HeatmapCodec(INPUT, 4, 2.0), 'recording')
    self.crops = []

  def _heatmaps(self, images):
    self.crops.extend(images.astype(np.uint8))
    h, w = self.codec.heatmap_size
    maps = np.zeros((len(images), h, w, self.definition.num_keypoints), np.float32)
    ys, xs = np.mgrid[0:h, 0:w]
    maps[:] = np.exp(-((xs - 7.5) ** 2 + (ys - 7.5) ** 2) / 8.0)[None, :, :, None]
    return maps


def test_frames_reach_the_model_as_rgb_and_drawings_are_written_as_bgr(tmp_path):
  """A pure-red image on disk arrives red (R channel) at the model; a red skeleton edge is red
  in the written file when read back by OpenCV (BGR)."""
  definition = KeypointDefinition(names=('a', 'b'), skeleton=((0, 1, (255, 0, 0)),))
  image_bgr = np.zeros((40, 40, 3), np.uint8)
  image_bgr[..., 2] = 200  # red in BGR
  path = str(tmp_path / 'red.png')
  cv2.imwrite(path, image_bgr)
  predictor = _RecordingPredictor(definition)
  out = str(tmp_path / 'out.png')
  boxes = str(tmp_path / 'boxes.json')
  with open(boxes, 'w') as f:
    json.dump({'red.png': [[-0.5, -0.5, 40, 40]]}, f)  # the whole image, pixel edges
  summary = predict_source(predictor, PredictConfig(input=path, output=out, conf_threshold=0.5,
                                                    detections=boxes, box_scale=1.0))
  crop = predictor.crops[0]
  assert crop[32, 32, 0] == 200 and crop[32, 32, 2] == 0  # RGB: red first
  # Both keypoints at the image centre: one point drawn there; its colour is the edge's red.
  written = cv2.imread(out)
  assert tuple(written[20, 20]) == (0, 0, 255)
  with open(summary.json) as f:
    document = json.load(f)
  a = document['frames'][0]['objects'][0]['keypoints']['a']
  np.testing.assert_allclose(a[:2], [19.5, 19.5], atol=1e-3)  # the centre of a 40x40 image
  assert a[2] == pytest.approx(np.exp(-0.5 / 8.0), abs=1e-4)  # the peak heatmap value


def test_conf_threshold_hides_low_confidence_points():
  definition = KeypointDefinition(names=('a', 'b'), skeleton=((0, 1, (0, 255, 0)),))
  image = np.zeros((50, 50, 3), np.uint8)
  drawn = drawing.draw_keypoints(image, [[10, 10], [40, 40]], [0.9, 0.05], definition, 0.1)
  assert drawn[10, 10].any() and not drawn[40, 40].any() and not drawn[25, 25].any()
  both = drawing.draw_keypoints(image, [[10, 10], [40, 40]], [0.9, 0.5], definition, 0.1)
  assert tuple(both[25, 25]) == (0, 255, 0) and not image.any()


@pytest.fixture(scope='module')
def tiny_predictor(tiny_bundle_dir):
  return load_predictor(tiny_bundle_dir)


def test_predict_video_keeps_fps_and_size(shared_data, tiny_predictor, tmp_path):
  source = os.path.join(shared_data, 'openfield', 'm3v1mp4.mp4')
  out = str(tmp_path / 'out.mp4')
  summary = predict_source(tiny_predictor, PredictConfig(input=source, output=out, max_frames=6,
                                                         batch_frames=4))
  assert summary.frames == 6 and summary.objects == 6
  src, dst = cv2.VideoCapture(source), cv2.VideoCapture(out)
  for prop in (cv2.CAP_PROP_FRAME_WIDTH, cv2.CAP_PROP_FRAME_HEIGHT):
    assert src.get(prop) == dst.get(prop)
  assert dst.get(cv2.CAP_PROP_FPS) == pytest.approx(src.get(cv2.CAP_PROP_FPS), rel=1e-3)
  assert int(dst.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
  with open(os.path.join(tmp_path, 'out.json')) as f:
    document = json.load(f)
  assert [fr['frame'] for fr in document['frames']] == list(range(6))
  assert document['size'] == [640, 480]
  assert document['frames'][0]['how'] == 'search'  # a tracked video starts with a search
  for frame in document['frames']:
    assert set(frame['keypoints']) == set(tiny_predictor.definition.names)
    for value in frame['keypoints'].values():  # every keypoint kept, whatever its score
      # The untrained model's keypoints may sit anywhere its crops reach (a tracked crop can
      # drift off the frame) and its scores (heatmap peaks) may be negative: only their form is
      # checked.
      assert len(value) == 3 and np.isfinite(value).all(), value


def test_predict_folder_and_single_image(shared_data, tiny_predictor, tmp_path):
  folder = os.path.join(shared_data, 'coco_sample', 'images')
  out = str(tmp_path / 'drawn')
  summary = predict_source(tiny_predictor, PredictConfig(input=folder, output=out))
  names = sorted(os.listdir(folder))
  assert summary.frames == len(names) == 4
  assert sorted(n for n in os.listdir(out) if n.endswith('.png')) == sorted(
      os.path.splitext(n)[0] + '.png' for n in names)
  first = cv2.imread(os.path.join(folder, names[0]))
  assert cv2.imread(os.path.join(out, os.path.splitext(names[0])[0] + '.png')).shape == \
      first.shape
  # Detection boxes for one image: one object per box, in box coordinates.
  boxes = str(tmp_path / 'boxes.json')
  with open(boxes, 'w') as f:
    json.dump({names[0]: [[10, 20, 100, 200, 0.9], [200, 50, 80, 160]]}, f)
  single = str(tmp_path / 'one.jpg')
  summary = predict_source(tiny_predictor, PredictConfig(
      input=os.path.join(folder, names[0]), output=single, detections=boxes))
  assert summary.objects == 2 and os.path.isfile(single)
  with open(os.path.join(tmp_path, 'one.json')) as f:
    objects = json.load(f)['frames'][0]['objects']
  assert [o['box_score'] for o in objects] == [0.9, 1.0]


def _objects_per_file(json_path):
  with open(json_path) as f:
    return {fr['name']: len(fr['objects']) for fr in json.load(f)['frames']}


# person_detections_sample.json: boxes scoring >= 0.5 per image of the COCO sample.
SAMPLE_BOXES_AT_HALF = {'000000000785.jpg': 1, '000000040083.jpg': 5, '000000196141.jpg': 6,
                        '000000197388.jpg': 6}


@pytest.mark.parametrize('match', ['annotation_file', 'file_stem'])
def test_predict_takes_coco_detection_results(shared_data, tiny_predictor, tmp_path, match):
  """The real sample detector boxes (118 for 4 images, many low-scoring) in COCO results format,
  matched to the files by the annotation file's image ids or by the integer file stem."""
  root = os.path.join(shared_data, 'coco_sample')
  annotation = (os.path.join(root, 'person_keypoints_sample.json') if match == 'annotation_file'
                else None)
  out = str(tmp_path / 'drawn')
  summary = predict_source(tiny_predictor, PredictConfig(
      input=os.path.join(root, 'images'), output=out, annotation_path=annotation,
      detections=os.path.join(root, 'person_detections_sample.json'),
      detection_score_threshold=0.5))
  assert _objects_per_file(os.path.join(out, 'keypoints.json')) == SAMPLE_BOXES_AT_HALF
  assert summary.objects == 18


def test_frames_without_boxes_are_an_error_unless_allowed(shared_data, tiny_predictor, tmp_path):
  folder = os.path.join(shared_data, 'coco_sample', 'images')
  names = sorted(os.listdir(folder))
  boxes = str(tmp_path / 'boxes.json')
  with open(boxes, 'w') as f:
    json.dump({names[0]: [[10, 20, 100, 200, 0.9]], names[2]: [[5, 5, 50, 50]]}, f)
  with pytest.raises(UserInputError, match=f'boxes.json: no boxes for {names[1]}') as error:
    predict_source(tiny_predictor, PredictConfig(input=folder, output=str(tmp_path / 'e'),
                                                 detections=boxes, batch_frames=1))
  # The frame before the bad one is kept, drawing and JSON.
  assert 'kept: the 1 frame(s) before it' in str(error.value)
  assert _objects_per_file(str(tmp_path / 'e' / 'keypoints.json')) == {names[0]: 1}
  expected = {'skip': [1, 0, 1, 0], 'frame': [1, 1, 1, 1]}
  for policy, counts in expected.items():
    out = str(tmp_path / policy)
    predict_source(tiny_predictor, PredictConfig(input=folder, output=out, detections=boxes,
                                                 missing_boxes=policy))
    assert _objects_per_file(os.path.join(out, 'keypoints.json')) == dict(zip(names, counts))
  # A boxes file of another input: the first frame already has no entry.
  with open(boxes, 'w') as f:
    json.dump([{'image_id': 1, 'bbox': [0, 0, 10, 10], 'score': 1.0}], f)
  with pytest.raises(UserInputError, match=f'no boxes for {names[0]}'):
    predict_source(tiny_predictor, PredictConfig(input=folder, output=str(tmp_path / 'x'),
                                                 detections=boxes))
  with open(boxes, 'w') as f:
    json.dump([{'image_id': 785, 'bbox': [0, 0, 10]}], f)
  with pytest.raises(UserInputError, match="record 0, field 'bbox'"):
    predict_source(tiny_predictor, PredictConfig(input=folder, detections=boxes))


def test_unreadable_inputs_are_clear_errors(tmp_path, tiny_predictor):
  bad_image = tmp_path / 'broken.jpg'
  bad_image.write_bytes(b'\xff\xd8 not really a jpeg')
  bad_video = tmp_path / 'broken.mp4'
  bad_video.write_bytes(b'garbage' * 100)
  empty = tmp_path / 'empty'
  empty.mkdir()
  for spec, message in ((bad_image, 'cannot read the image'), (bad_video, 'cannot open'),
                        (empty, 'no images'), (tmp_path / 'missing.mp4', 'no such file')):
    with pytest.raises(UserInputError, match=message):
      predict_source(tiny_predictor, PredictConfig(input=str(spec),
                                                   output=str(tmp_path / 'o.mp4')))
  assert not os.path.exists(tmp_path / 'o.mp4')


def test_predict_mode_flags(shared_data, tiny_bundle_dir, tmp_path):
  """--mode=predict through its flags, with a bundle on disk."""
  from absl import flags as absl_flags

  import flags  # noqa: F401
  from modes import predict as predict_mode
  values = copy.deepcopy(absl_flags.FLAGS)
  video_path = os.path.join(shared_data, 'openfield', 'm3v1mp4.mp4')
  values(['main.py', '--mode=predict', f'--model_path={tiny_bundle_dir}', f'--input={video_path}',
          f'--output={tmp_path / "v.avi"}', '--max_frames=3'])
  summary = predict_mode.run(values)
  assert summary.frames == 3 and os.path.getsize(tmp_path / 'v.avi') > 0
  assert int(cv2.VideoCapture(str(tmp_path / 'v.avi')).get(cv2.CAP_PROP_FRAME_COUNT)) == 3
  values.input = None
  with pytest.raises(UserInputError, match='--input'):
    predict_mode.run(values)


def test_detector_boxes_are_enlarged_by_the_margin_the_model_was_trained_with(tmp_path):
  """A white 40x40 square given as the detector box: the crop shows it on 1/m^2 of its area,
  m the predictor's box margin (the bundle's), unless PredictConfig.box_scale overrides it."""
  definition = KeypointDefinition(names=('a', 'b'))
  image = np.zeros((100, 100, 3), np.uint8)
  image[30:70, 30:70] = 255
  path = str(tmp_path / 'square.png')
  cv2.imwrite(path, image)
  boxes = str(tmp_path / 'boxes.json')
  with open(boxes, 'w') as f:
    json.dump({'square.png': [[29.5, 29.5, 40, 40, 1.0]]}, f)  # pixel edges of the square
  white = {}
  for margin, scale in ((1.25, None), (1.5, None), (1.5, 1.0)):
    predictor = _RecordingPredictor(definition)
    predictor.box_margin = margin
    predict_source(predictor, PredictConfig(input=path, output=str(tmp_path / f'{margin}{scale}'),
                                            detections=boxes, box_scale=scale))
    white[(margin, scale)] = float(np.mean(predictor.crops[0] > 127))
  assert white[(1.25, None)] == pytest.approx(1 / 1.25 ** 2, abs=0.03), white
  assert white[(1.5, None)] == pytest.approx(1 / 1.5 ** 2, abs=0.03), white
  assert white[(1.5, 1.0)] == pytest.approx(1.0, abs=0.03), white


def test_the_bundle_carries_the_box_margin(tmp_path, tiny_bundle_dir, tiny_predictor):
  from hourglass.model import bundle as bundle_lib
  from records.reader import Manifest
  assert tiny_predictor.box_margin == bundle_lib.DEFAULT_BOX_MARGIN == 1.25  # none recorded
  model, config, definition, codec = bundle_lib.load_bundle(tiny_bundle_dir)
  path = str(tmp_path / 'wide')
  bundle_lib.save_bundle(path, model, config, definition, codec,
                         bundle_lib.crop_settings(Manifest(
                             'records', {'input_shape': [64, 64], 'crop_shape': [64, 64],
                                         'splits': {}, 'settings': {'box_margin': 1.6,
                                                                    'box_min_side': 8}},
                             definition)))
  assert load_predictor(path).box_margin == 1.6
  assert load_predictor(os.path.join(path, 'model.keras')).box_margin == 1.6
  info_path = os.path.join(path, bundle_lib.INFO_FILE)
  with open(info_path) as f:
    info = json.load(f)
  info['crop'] = {'box_margin': 0}
  with open(info_path, 'w') as f:
    json.dump(info, f)
  with pytest.raises(UserInputError, match='box_margin must be > 0'):
    load_predictor(path)
