"""Runs: the steps the modes start, above `hourglass/` and `pipelines/`.

Each module is one concern: it builds the datasets a step needs (through `pipelines/`, which
`hourglass/` may not import), reads what the records' manifest says, and calls the trainer, the
evaluator, the exporters or the labelling pipeline. Its settings come as plain config objects
(workflows/config.py); a run never reads flags or the environment, and never prints except through
the `log` callable it is given.

May import core/, records/, pipelines/ and hourglass/; never flags/, modes/ or the entry points.
"""
