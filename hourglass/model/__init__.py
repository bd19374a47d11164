"""The network: config, blocks, inference/training models, bundles, BN folding, export metadata.
Its constants live here, importing nothing."""

# The heatmap prediction convs (blocks.py names them `hg{i}_conv_1x1_predict`) as an fnmatch
# pattern: the layers the int8 models keep in float by default (a tiny share of the compute; an
# int8 heatmap with 127 levels moves its sub-pixel peak).
PREDICTION_LAYER_PATTERNS = ('*_conv_1x1_predict',)
