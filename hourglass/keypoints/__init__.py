"""Keypoint maths: the heatmap codec, metrics, drawing. Its constants live here, importing nothing,
so that flag definitions and the input pipeline's config can use them without TensorFlow."""

# Heatmap pixels per model-input pixel along each axis (the network downsamples 4x).
OUTPUT_STRIDE = 4
# Heatmap decoders, in order of precision (see codec.HeatmapCodec.decode).
DECODERS = ('argmax', 'quarter', 'dark')
