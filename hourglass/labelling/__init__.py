"""The labelling loop: which frames of an analysed video (or a folder of images) are worth
labelling, and handing them out to a labelling tool with the model's keypoints as
pre-annotations (the tools' files: records/label_tools; reading the corrections back:
records/sources).

- criteria.py: per-frame measures of trouble: low keypoint confidence, jumps against the
  smoothed track, disagreement between the plain and the mirrored prediction.
- selection.py: picks N frames by those measures, spread over the video, each with its reason.
- handout.py: writes the chosen frames as images, the tool's files and selection.csv.
"""
