"""Inference: the run settings (config.py, free of TensorFlow and OpenCV), the Predictor
interface and every backend (Keras, SavedModel, TFLite, ONNX, MNN), loading a predictor from a
path, frame sources, boxes files, the keypoints JSON and --mode=predict."""
