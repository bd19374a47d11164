"""The labelling loop: which frames of an analysed video (or a folder of images) are worth
labelling, and handing them out to a labelling tool with the model's keypoints as
pre-annotations (the tools' files: records/label_tools; reading the corrections back:
records/sources).

- tracks.py: the predictions to choose from: a video analysed now (one tracked object, or
  several with identities where a detector or a boxes file finds them), a --mode=predict
  analysis JSON (either kind), or a folder of images.
- criteria.py: per-frame measures of trouble: low keypoint confidence, jumps against the
  smoothed track, disagreement between the plain and the mirrored prediction; with several
  objects, the identity doubt (object count changes, the tracker's identity events).
- selection.py: picks N frames by those measures, spread over the video, each with its reason.
- handout.py: writes the chosen frames as images, the tool's files and selection.csv (several
  objects: each one group of the tool, named by its track id).

workflows/select_frames.py runs them per input; with several objects it measures each identity
alone and takes a frame's most troubled object.
"""
