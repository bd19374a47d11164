"""The Stacked Hourglass model and the keypoint maths: network, codec, losses, metrics, trainer,
evaluator and predictors. Never imports `pipelines` (trainer and evaluator take datasets)."""
