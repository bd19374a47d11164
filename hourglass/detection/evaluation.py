"""Scoring a detector's maps on frames with known boxes: box AP and recall at IoU 0.5, in
original image pixels (what training's validation and the export proof report)."""

from hourglass.detection import MIN_PEAK, SCORE_THRESHOLD, decoder


def score_frames(batches, maps_fn, stride):
  """Box AP (pycocotools) and recall@0.5 of the maps of every frame of `batches`.

  Args:
    batches: an iterable of dicts with 'image' [B, H, W, 3], 'input_to_frame' [B, 2, 3],
      'frame_boxes' [B, M, 4] x, y, w, h original px, 'count' [B], 'image_id' [B] (numpy or
      eager tensors: pipelines/detector_dataset.py build_eval_dataset).
    maps_fn: (batch dict) -> float maps [B, h, w, 3] of the batch's images.
    stride: model-input pixels per map pixel.
  Returns:
    {'ap', 'ap50', 'recall50' (of the boxes scoring at least SCORE_THRESHOLD), 'objects'}.
  """
  truth, found, kept = {}, {}, {}
  for batch in batches:
    maps = maps_fn(batch)
    for frame_maps, matrix, boxes, count, image_id in zip(
        maps, _numpy(batch['input_to_frame']), _numpy(batch['frame_boxes']),
        _numpy(batch['count']), _numpy(batch['image_id'])):
      # Every peak for AP (the whole precision-recall curve), the kept ones for recall.
      boxes_found, scores = decoder.decode(frame_maps, stride, MIN_PEAK)
      key = int(image_id)
      found[key] = (decoder.to_frame(boxes_found, matrix), scores)
      above = scores >= SCORE_THRESHOLD
      kept[key] = (found[key][0][above], scores[above])
      truth[key] = boxes[:int(count)]
  result = decoder.box_ap(truth, found)
  return {'ap': result['ap'], 'ap50': result['ap50'],
          'recall50': decoder.recall(truth, kept, 0.5), 'objects': result['objects']}


def _numpy(value):
  return value.numpy() if hasattr(value, 'numpy') else value
