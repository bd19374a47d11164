"""Evaluation: the evaluator (record box, whole frame, detector boxes) and its reports."""
