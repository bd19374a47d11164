"""The Stacked Hourglass model and everything that uses it, one sub-package per concept:

    keypoints/   the heatmap codec, in-graph geometry, metrics, drawing
    model/       config, blocks, network, summary, bundles, BN folding, separable fusion,
                 the metadata readers of exported files
    training/    trainer, validation, checkpoints, losses, optimizers, schedules, strategies,
                 quantization-aware fine-tuning, test hooks (faults)
    inference/   the Predictor interface and every backend, loading one from a path, frame
                 sources, --mode=predict
    evaluation/  the evaluator (record box, whole frame, detector boxes) and its reports
    export/      the exporters, their metadata writers and the per-format proof report
    labelling/   frames worth labelling (confidence, jumps, flip disagreement), handing them
                 out to labelling tools with the predictions, --mode=select_frames

Imports point one way (tests/test_layering.py enforces it, imports inside functions included):

    core <- records <- keypoints <- model <- {training, inference} <- evaluation <- export
                                        inference <- labelling

training and inference never import each other; what two of them need lives in the lower one.
`core/` imports no other project package; `records/` imports nothing of `hourglass/` or
`pipelines/`; `pipelines/` imports only `core/`, `records/` and the codec; `hourglass/` never imports `pipelines/` (the trainer and evaluator take datasets)
or `flags/`; `flags/` imports constants only (the choices in the package `__init__`s), so
parsing flags loads no TensorFlow. No import cycle anywhere; no module over 400 lines and no
function over 60 in `core/`, `hourglass/`, `pipelines/`, `records/` and `modes/`. This file imports
nothing.
"""
