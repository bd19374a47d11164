"""The Stacked Hourglass model and everything that uses it, one sub-package per concept:

    keypoints/   the heatmap codec, in-graph geometry, metrics, drawing
    model/       config, blocks, network, summary, bundles, BN folding, separable fusion,
                 the metadata readers of exported files
    detection/   the detector's target maps and loss, its numpy decoder (boxes, NMS), box AP
    training/    trainer, validation, checkpoints, losses, optimizers, schedules, strategies,
                 quantization-aware fine-tuning, test hooks (faults)
    inference/   the Predictor interface and every backend, loading one from a path, frame
                 sources, --mode=predict
    evaluation/  the evaluator (record box, whole frame, detector boxes) and its reports
    export/      the exporters, their metadata writers and the per-format proof report
    labelling/   frames worth labelling (confidence, jumps, flip disagreement), handing them
                 out to labelling tools with the predictions, --mode=select_frames

Imports point one way (tests/test_layering.py enforces it, imports inside functions included):

    core <- records <- keypoints <- model <- detection <- {training, inference} <- evaluation
                                        <- export;   inference <- labelling

training and inference never import each other; what two of them need lives in the lower one.
Around this package (the whole rule set is tests/test_layering.py's docstring):
`core/` imports no other project package; `records/` imports only `core/`; `pipelines/` imports
`core/`, `records/`, the codec and geometry of `hourglass/keypoints/` and the detector's targets
(`hourglass/detection/targets.py`); `hourglass/` never
imports `pipelines/`, `workflows/` or `flags/` (the trainer and evaluator take datasets);
`workflows/` builds the datasets and calls `hourglass/` for the modes; `flags/` imports constants
only (the choices in the package `__init__`s, and the config dataclasses it reads its defaults
from, in modules that load no TensorFlow), so parsing flags loads no TensorFlow. No import cycle
anywhere; no module over 400 lines and no function over 60 in the size-limited packages. This
file imports nothing.
"""
