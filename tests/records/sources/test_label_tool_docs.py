"""Each labelling tool's own documented export example (not our writer's output), read back
through make_records: keypoints (1e-3 px), names, visibility and image sizes.

Occlusion: only CVAT keeps it (`occluded="1"` -> visibility 1, `outside="1"` -> unlabelled).
Label Studio has no occlusion field and labelme has only user-defined shape `flags`, so both
give labelled (2) or unlabelled (0) only; our labelme reader ignores `flags`, even one named
`occluded`.
"""

import json

import numpy as np
from PIL import Image

from records import schema
from records.make_records import make_records
from tests.support.records_io import read_records, records_config, to_original


def _png(path, width, height):
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(np.full((height, width, 3), 90, np.uint8)).save(path)


def _check(manifest, expected):
  """expected: [(original path, (width, height), [[x, y] or None per keypoint], visibility)]."""
  records = sorted(read_records(manifest, 'train'), key=lambda r: int(r[schema.OBJECT_ID]))
  assert len(records) == len(expected)
  for record, (path, size, xy, vis) in zip(records, expected):
    assert record[schema.ORIGINAL_PATH].decode() == path
    assert (int(record[schema.ORIGINAL_WIDTH]), int(record[schema.ORIGINAL_HEIGHT])) == size
    np.testing.assert_array_equal(record[schema.KEYPOINTS_VISIBILITY], vis)
    labelled = np.array(vis) > 0
    want = np.array([p or [0, 0] for p in xy], np.float64)
    np.testing.assert_allclose(to_original(record)[labelled], want[labelled], atol=1e-3)


# -- Label Studio, "JSON" export (full tasks) -----------------------------------------------------
# Task layout (id, data, project, annotations[].result / was_cancelled / ground_truth / lead_time /
#   task / completed_by, predictions): https://labelstud.io/guide/task_format and
#   HumanSignal/label-studio docs/source/guide/export.md ("Label Studio JSON format of annotated
#   tasks"; "Cancelled annotated tasks will be included in the exported result too").
# Keypoint result (original_width/height px, image_rotation, value.x/y/width in percent,
#   keypointlabels): https://labelstud.io/tags/keypointlabels ("Example JSON": 1920x1280,
#   x 3.1, y 8.2, width 2), second point from the label-studio 0.4.0 examples/image_keypoints
#   completion (x 49.6, y 52.34...). The image is 120x80 (1920x1280 / 16; percent is unchanged).
# Config from the template https://www.labelstud.io/templates/image_keypoints: KeyPointLabels
#   "kp-1" toName "img-1", labels Face/Nose, <Image name="img-1" value="$img"/> (so data.img).
# Pixels: pixel_x = x / 100 * original_width (HumanSignal/label-studio
#   docs/source/includes/image_units.md, whose rectangle 5.33/23.57/29.16/31.26 % is used here).
# Upload path: settings.UPLOAD_DIR + '/' + project + '/' + uuid4()[0:8] + '-' + filename
#   (HumanSignal/label-studio label_studio/data_import/models.py, upload_name_generator), served
#   as /data/upload/...; the dataset holds the original file name.
LS_NAME = 'nick-owuor-astro-nic-visuals-wDifg5xc9Z4-unsplash.png'  # the docs' image, as PNG


def _ls_result(rid, kind, value):
  return {'from_name': 'kp-1' if kind == 'keypointlabels' else 'tag', 'id': rid,
          'source': '$img', 'to_name': 'img-1', 'type': kind, 'original_width': 120,
          'original_height': 80, 'image_rotation': 0, 'value': value}


def _ls_task(task_id, cancelled):
  results = [
      _ls_result('Dx_aB91ISN', 'keypointlabels',
                 {'x': 3.1, 'y': 8.2, 'width': 2, 'keypointlabels': ['Face']}),
      _ls_result('hqudA4A3U4', 'keypointlabels',
                 {'x': 49.6, 'y': 52.340425531914896, 'width': 0.6666666666666666,
                  'keypointlabels': ['Nose']}),
      _ls_result('Rz9oHDXIwG', 'rectanglelabels',
                 {'x': 5.33, 'y': 23.57, 'width': 29.16, 'height': 31.26, 'rotation': 0,
                  'rectanglelabels': ['Airplane']})]
  # The docs' prediction, verbatim (no original_width): predictions are never read.
  prediction = {'from_name': 'tag', 'id': 't5sp3TyXPo', 'source': '$image', 'to_name': 'img',
                'type': 'rectanglelabels',
                'value': {'height': 11.612284069097889, 'rectanglelabels': ['Moonwalker'],
                          'rotation': 0, 'width': 39.6, 'x': 13.2, 'y': 34.702495201535505}}
  return {'id': task_id, 'data': {'img': f'/data/upload/83/4f1d2a9c-{LS_NAME}'},
          'created_at': '2021-03-09T21:52:49.513742Z', 'project': 83,
          'annotations': [{'id': str(1000 + task_id), 'result': results,
                           'was_cancelled': cancelled, 'ground_truth': False,
                           'lead_time': 4.288, 'result_count': 0, 'task': task_id,
                           'completed_by': 10}],
          'predictions': [{'created_ago': '3 hours', 'model_version': 'model 1',
                           'result': [prediction]}]}


def test_label_studio_documented_export(tmp_path):
  root = tmp_path / 'ls'
  _png(root / LS_NAME, 120, 80)
  (root / 'project-83-at-2021-03-09.json').write_text(json.dumps(
      [_ls_task(1, False), _ls_task(2, True)]))
  manifest = make_records(records_config(tmp_path, source='label_studio', dataset_path=str(root)))
  assert manifest.definition.names == ('Face', 'Nose')
  assert manifest.raw['skipped'] == [] and manifest.raw['filtered'] == {'cancelled': 1}
  _check(manifest, [(LS_NAME, (120, 80), [[3.72, 6.56], [59.52, 41.872340425531917]], [2, 2])])
  bbox = read_records(manifest, 'train')[0][schema.OBJECT_BBOX]
  np.testing.assert_allclose(bbox, [6.396, 18.856, 34.992, 25.008], atol=1e-3)


# -- CVAT for images 1.1 --------------------------------------------------------------------------
# From the "Annotation" example of CVAT's XML format page (https://docs.cvat.ai/docs/other/
#   xml_format, cvat-ai/cvat site/content/en/docs/other/xml_format.md): <version>1.1</version>,
#   <meta><task><labels> (untyped car/traffic_line/wheel/plate, skeleton s1 with sublabels 1, 2, 3
#   of type points and <parent>s1</parent>), <image id name width height>, a box, polygon,
#   polyline, a 4-point <points> "wheel", a tag, the <skeleton label="s1"> whose <points> carry
#   occluded/outside (0 - False, 1 - True) and "x,y", and a mask. Scaled 1/10 (1600x1200 ->
#   160x120; the car polygon shortened). Images in images/ as in CVAT's export zip
#   (https://docs.cvat.ai/v2.2.0/docs/manual/advanced/formats/format-cvat). filename001 is
#   derived: the same skeleton with point 2 occluded="1" and point 3 outside="1".
CVAT_META = ''.join(
    f'<label><name>{n}</name><attributes></attributes></label>'
    for n in ('car', 'traffic_line', 'wheel', 'plate')) + (
    '<label><name>s1</name><type>skeleton</type><attributes></attributes><svg></svg></label>'
    + ''.join(f'<label><name>{n}</name><type>points</type><attributes></attributes>'
              f'<parent>s1</parent></label>' for n in '123'))


def _cvat_image(i, occluded2='0', outside3='0'):
  return f'''
  <image id="{i}" name="filename00{i}.png" width="160" height="120">
    <box label="plate" xtl="79.733" ytl="87.092" xbr="96.552" ybr="92.894" occluded="0"
      z_order="4"></box>
    <polygon label="car" points="56.130,91.623;56.130,84.277;55.472,76.163;56.020,96.667"
      occluded="0" z_order="1"></polygon>
    <polyline label="traffic_line" points="46.210,0.00;12.680,120.00" occluded="0"
      z_order="3"></polyline>
    <points label="wheel" points="57.490,93.948;117.016,90.790;113.069,44.526;60.016,45.948"
      occluded="0" z_order="5"></points>
    <tag label="good_frame" source="manual"></tag>
    <skeleton label="s1" source="manual" z_order="0">
      <points label="1" occluded="0" source="manual" outside="0" points="5.447,9.481"></points>
      <points label="2" occluded="{occluded2}" source="manual" outside="0"
        points="6.802,16.234"></points>
      <points label="3" occluded="0" source="manual" outside="{outside3}"
        points="12.587,6.285"></points>
    </skeleton>
    <mask label="car" source="manual" occluded="0" rle="3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1,
      12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5, 7, 7, 5, 3" left="70" top="88" width="13"
      height="15" z_order="0"></mask>
  </image>'''


def test_cvat_documented_export(tmp_path):
  root = tmp_path / 'cvat'
  for i in (0, 1):
    _png(root / 'images' / f'filename00{i}.png', 160, 120)
  (root / 'annotations.xml').write_text(
      '<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n  <version>1.1</version>\n'
      f'  <meta><task><id>4</id><name>segmentation</name><size>27</size><mode>annotation</mode>'
      f'<labels>{CVAT_META}</labels></task><dumped>2018-09-25</dumped></meta>'
      f'{_cvat_image(0)}{_cvat_image(1, occluded2="1", outside3="1")}\n</annotations>\n')
  manifest = make_records(records_config(tmp_path, source='cvat', dataset_path=str(root)))
  # The skeleton's sublabels only: the 4-point "wheel" shape is not a keypoint.
  assert manifest.definition.names == ('1', '2', '3')
  assert manifest.raw['skipped'] == [] and manifest.raw['filtered'] == {'no_keypoints': 2}
  xy = [[5.447, 9.481], [6.802, 16.234], [12.587, 6.285]]
  _check(manifest, [('images/filename000.png', (160, 120), xy, [2, 2, 2]),
                    ('images/filename001.png', (160, 120), xy[:2] + [None], [2, 1, 0])])


# -- labelme --------------------------------------------------------------------------------------
# wkentaro/labelme examples/primitives/primitives.json: version, flags {}, shapes (label, points,
#   group_id, shape_type rectangle/circle/polygon/line/point/linestrip, flags), imagePath,
#   imageData null, imageHeight 450, imageWidth 560, lineColor/fillColor. Scaled 1/5 (112x90,
#   primitives.jpg -> .png). Derived: the point and the first rectangle share group_id 0 (as in
#   examples/instance_segmentation/data_annotated/2011_000003.json), and the point carries the
#   shape flags of `--labelflags '{.*: [occluded, truncated], person: [male]}'`
#   (examples/instance_segmentation/README.md).
def _shape(label, points, kind, group=None, flags=None):
  return {'label': label, 'points': points, 'group_id': group, 'shape_type': kind,
          'flags': flags or {}}


def test_labelme_documented_file(tmp_path):
  root = tmp_path / 'labelme'
  _png(root / 'primitives.png', 112, 90)
  doc = {'version': '4.0.0', 'flags': {}, 'shapes': [
      _shape('rectangle', [[6.4, 7.0], [26.4, 27.0]], 'rectangle', group=0),
      _shape('circle', [[39.0, 16.8], [45.0, 25.0]], 'circle'),
      _shape('rectangle', [[78.2, 6.6], [108.4, 27.0]], 'rectangle'),
      _shape('polygon', [[13.8, 63.6], [9.0, 80.6], [34.6, 81.2], [39.6, 64.2]], 'polygon'),
      _shape('line', [[37.6, 35.6], [32.0, 44.8]], 'line'),
      _shape('point', [[69.0, 34.8]], 'point', group=0,
             flags={'occluded': True, 'truncated': False}),
      _shape('line_strip', [[88.107407, 36.292593], [80.507407, 54.892593],
                            [108.907407, 55.092593]], 'linestrip')],
      'imagePath': 'primitives.png', 'imageData': None, 'imageHeight': 90, 'imageWidth': 112,
      'lineColor': [0, 255, 0, 128], 'fillColor': [255, 0, 0, 128]}
  (root / 'primitives.json').write_text(json.dumps(doc))
  manifest = make_records(records_config(tmp_path, source='labelme', dataset_path=str(root)))
  assert manifest.definition.names == ('point',)
  # The ungrouped shapes (second rectangle, circle, ...) hold no point: filtered, not an error.
  assert manifest.raw['skipped'] == [] and manifest.raw['filtered'] == {'no_keypoints': 1}
  _check(manifest, [('primitives.png', (112, 90), [[69.0, 34.8]], [2])])
  bbox = read_records(manifest, 'train')[0][schema.OBJECT_BBOX]
  np.testing.assert_allclose(bbox, [6.4, 7.0, 20.0, 20.0], atol=1e-3)
