"""Models trained with the seed project (Keras 2 HDF5 files) as our networks, weight for weight.

The seed writes three kinds of `.h5` file, told apart by their HDF5 layout, not their name:
- a training checkpoint (`model.save` of the multi-output model): a `model_config` attribute
  (the Keras graph) with one output per stack, a `model_weights` group, optimizer state (ignored);
- a dumped inference model (`Model(inputs, outputs[-1]).save`): the same with one output;
- a weights-only file (`save_weights`): `layer_names` at the top level, no `model_config`.
Keras 3 files (`keras_version` 3.x, or a `.weights.h5` with its `layers/<name>/vars` groups) are
not seed files: hourglass/training/checkpointing.py reads those.

The seed's network is ours (hourglass/model/blocks.py) under other names; every weight is placed
by the layers' names and the graph, never by position:
- convolutions by a regular renaming (`front_conv_1x1_1` is the 7x7 conv; `_conv_1x1_1`,
  `_conv_3x3_2`, `_conv_1x1_3`, `_skip` inside a residual block; `downsample_{1,2,4,8}` our
  `l{1,2,4,8}`, `downsample_f8_short` our `lf8`, `downsample_f8_{n}` our `lf8_x{n}`,
  `upsample_f{k}_short` our `rf{k}_connect`, `upsample_f{k}_merged` our `rf{k}_connect_conv`; the
  head's `conv_1x1_{1,2,3}` our `conv_1x1_x{1,2,3}`);
- BatchNorm layers carry Keras' automatic names (`batch_normalization_24`), numbered in creation
  order, not in the file's layer order: each is placed by the convolution that feeds it, read from
  the graph, or in a weights-only file from the file's layer order (the earliest convolution
  before it that feeds a BatchNorm, not yet taken, with as many channels: where two branches
  interleave, their BatchNorms follow in the order of their convolutions; a skip conv never feeds
  one). The rule is checked against the graph of the same model's checkpoint in the tests.
Every shape is checked; the first layer that does not fit is an error naming it.

The architecture follows from the weights: stacks (how many `hg{i}_conv_1x1_predict`), mobile
(depthwise kernels), tiny (the head's 128 channels), K (the predict kernel); the input size from
the graph's input where it has one, else the caller's. The model normalises its input as the seed
did (RGB / 255 minus the mean; ModelConfig.input_normalization 'seed_mean') inside itself, so an
imported model and its exports take [0, 255] RGB like ours.
"""

import dataclasses
import json
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from core.errors import UserInputError
from hourglass.model.config import ModelConfig
from records.keypoint_definition import KeypointDefinition, builtin_definition, load_definition

SEED_NORMALIZATION = 'seed_mean'
# The seed's heatmap targets (its data generator): stride 4, Gaussian sigma 1 heatmap pixel.
SEED_CODEC = {'stride': 4, 'sigma': 1.0}
# The definitions the seed ships, by keypoint count, for files imported without --classes_path.
_BUILTIN = {16: 'mpii', 17: 'coco'}

_PART = {'conv_1x1_1': 'conv_1x1_x1', 'conv_3x3_2': 'conv_3x3_x2', 'conv_1x1_3': 'conv_1x1_x3',
         'skip': 'skip'}
_BLOCK_RULES = (  # seed block name -> ours
    (re.compile(r'^front_residual_(\d)$'), r'front_residual_x\1'),
    (re.compile(r'^(hg\d+)_downsample_([1248])$'), r'\1_l\2'),
    (re.compile(r'^(hg\d+)_downsample_f8_short$'), r'\1_lf8'),
    (re.compile(r'^(hg\d+)_downsample_f8_(\d)$'), r'\1_lf8_x\2'),
    (re.compile(r'^(hg\d+)_upsample_f([124])_short$'), r'\1_rf\2_connect'),
    (re.compile(r'^(hg\d+)_upsample_f([124])_merged$'), r'\1_rf\2_connect_conv'),
)
_HEAD = re.compile(r'^(hg\d+)_conv_1x1_(1|2|3|predict)$')
_PREDICT = re.compile(r'^hg(\d+)_conv_1x1_predict$')
# Our BatchNorm after each of our convolutions that has one (None: the head's remap convs).
_BN_AFTER = ((re.compile(r'^front_conv_7x7$'), 'front_bn'),
             (re.compile(r'^(hg\d+)_conv_1x1_x1$'), r'\1_bn_head'),
             (re.compile(r'^(hg\d+)_conv_1x1_x[23]$'), None),
             (re.compile(r'^(.+)_conv_1x1_x1$'), r'\1_bn_x1'),
             (re.compile(r'^(.+)_conv_3x3_x2$'), r'\1_bn_x2'),
             (re.compile(r'^(.+)_conv_1x1_x3$'), r'\1_bn_x3'))


@dataclasses.dataclass
class SeedFile:
  """What a seed .h5 holds.

  Attributes:
    path: the file.
    kind: 'checkpoint', 'inference' or 'weights'.
    layers: {seed layer name: [arrays in the file's weight order]} of the layers with weights,
      in the file's layer order.
    feeders: {seed layer name: the layer feeding it} from the graph (empty for weights-only).
    input_shape: (H, W) of the graph's input, or None.
  """
  path: str
  kind: str
  layers: Dict[str, List[np.ndarray]]
  feeders: Dict[str, str]
  input_shape: Optional[Tuple[int, int]]


def is_seed_file(path: str) -> bool:
  """Whether `path` is an HDF5 file in the seed's (Keras 2) layout."""
  import h5py  # pylint: disable=g-import-not-at-top
  try:
    with h5py.File(path, 'r') as f:
      return _layout(f) is not None
  except (OSError, ValueError):
    return False


def read_seed_file(path: str) -> SeedFile:
  """Reads a seed .h5 file.

  Raises:
    UserInputError: naming the file when it is not HDF5 (or truncated), a Keras 3 file, or not
      a Keras 2 model in the seed's layout.
  """
  import h5py  # pylint: disable=g-import-not-at-top
  try:
    with h5py.File(path, 'r') as f:
      kind = _layout(f)
      if kind is None:
        raise UserInputError(f'{path}: {_not_seed_reason(f)}')
      group = f['model_weights'] if 'model_weights' in f else f
      layers = {}
      for name in _names(group.attrs['layer_names']):
        weight_names = _names(group[name].attrs.get('weight_names', []))
        if weight_names:
          layers[name] = [np.asarray(group[name][w]) for w in weight_names]
      graph = json.loads(_text(f.attrs['model_config'])) if 'model_config' in f.attrs else None
  except OSError as e:
    raise UserInputError(f'{path}: not a readable HDF5 file ({e}); a truncated download?'
                         ) from None
  feeders, input_shape = _graph(graph)
  if kind != 'weights':
    outputs = (graph or {}).get('config', {}).get('output_layers') or []
    kind = 'checkpoint' if len(outputs) > 1 else 'inference'
  return SeedFile(path, kind, layers, feeders, input_shape)


def _is_keras3(f) -> bool:
  """A Keras 3 file: its version attribute, or a `.weights.h5`'s layers/vars groups."""
  return _text(f.attrs.get('keras_version', '')).startswith('3') or 'layers' in f or 'vars' in f


def _layout(f) -> Optional[str]:
  """'model' for a Keras 2 saved model, 'weights' for a Keras 2 weights file, else None."""
  if _is_keras3(f):
    return None
  if 'model_weights' in f and 'layer_names' in f['model_weights'].attrs:
    return 'model'
  if 'layer_names' in f.attrs and 'model_config' not in f.attrs:
    return 'weights'
  return None


def _not_seed_reason(f) -> str:
  if _is_keras3(f):
    return ('a Keras 3 file, not one of the seed project\'s Keras 2 models (give our own files '
            'to --weights_path / --model_path as they are)')
  return 'not a Keras 2 model or weights file in the seed project\'s layout'


def _text(value) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def _names(values) -> List[str]:
  return [_text(v) for v in values]


def _graph(graph) -> Tuple[Dict[str, str], Optional[Tuple[int, int]]]:
  """({layer: the layer feeding it}, the input's (H, W) or None) of a Keras 2 model_config."""
  if not graph:
    return {}, None
  feeders, input_shape = {}, None
  for layer in graph.get('config', {}).get('layers', []):
    nodes = layer.get('inbound_nodes') or []
    if nodes and nodes[0]:
      feeders[layer['name']] = nodes[0][0][0]
    shape = layer.get('config', {}).get('batch_input_shape')
    if layer.get('class_name') == 'InputLayer' and shape and None not in shape[1:3]:
      input_shape = (int(shape[1]), int(shape[2]))
  return feeders, input_shape


def our_conv_name(seed_name: str) -> Optional[str]:
  """Our name of a seed convolution ('front_residual_1_conv_3x3_2' -> 'front_residual_x1_
  conv_3x3_x2'), or None for a layer that is no convolution of the network."""
  if seed_name == 'front_conv_1x1_1':
    return 'front_conv_7x7'
  head = _HEAD.match(seed_name)
  if head:
    part = head.group(2)
    return f'{head.group(1)}_conv_1x1_{"predict" if part == "predict" else "x" + part}'
  for part in _PART:
    if seed_name.endswith('_' + part):
      block = seed_name[:-len(part) - 1]
      for pattern, ours in _BLOCK_RULES:
        if pattern.match(block):
          return f'{pattern.sub(ours, block)}_{_PART[part]}'
  return None


def _bn_after(our_conv: str) -> Optional[str]:
  for pattern, bn in _BN_AFTER:
    if pattern.match(our_conv):
      return pattern.sub(bn, our_conv) if bn is not None else None
  return None


def our_names(seed: SeedFile) -> Dict[str, str]:
  """{our layer name: seed layer name} for every seed layer with weights.

  Raises:
    UserInputError: a layer that is neither a known convolution nor a BatchNorm one feeds.
  """
  convs = {name: our_conv_name(name) for name in seed.layers
           if not name.startswith('batch_normalization')}
  unknown = [name for name, ours in convs.items() if ours is None]
  if unknown:
    raise UserInputError(f'{seed.path}: layer {unknown[0]!r} is not a layer of the seed '
                         f'project\'s hourglass network')
  mapping = {ours: name for name, ours in convs.items()}
  norms = [name for name in seed.layers if name.startswith('batch_normalization')]
  feeders = (seed.feeders if seed.feeders else _feeders_by_order(seed, convs))
  for name in norms:
    feeder = feeders.get(name)
    bn = _bn_after(convs[feeder]) if feeder in convs else None
    if bn is None or bn in mapping:
      raise UserInputError(f'{seed.path}: BatchNorm layer {name!r} follows no convolution that '
                           f'has one in the seed network (fed by {feeder!r})')
    mapping[bn] = name
  return mapping


def _feeders_by_order(seed: SeedFile, convs: Dict[str, str]) -> Dict[str, str]:
  """{BatchNorm: its convolution} of a weights-only file: the earliest convolution before it
  that is followed by a BatchNorm in the network (not a skip, predict or remap conv), not yet
  taken, whose output channels are the BatchNorm's. Keras orders a functional model's layers by
  depth, so where two branches interleave (a block's last conv, its skip conv; the lowest
  level's skip block beside the main path) their BatchNorms come in the order of their
  convolutions."""
  feeders, taken, seen = {}, set(), []
  for name, arrays in seed.layers.items():
    if not name.startswith('batch_normalization'):
      if _bn_after(convs[name]) is not None:
        seen.append(name)
      continue
    channels = arrays[0].shape[-1]
    feeder = next((c for c in seen if c not in taken and
                   seed.layers[c][-1].shape[-1] == channels), None)
    if feeder is None:
      raise UserInputError(f'{seed.path}: BatchNorm layer {name!r} ({channels} channels) has no '
                           f'convolution before it in the file that could feed it')
    taken.add(feeder)
    feeders[name] = feeder
  return feeders


def model_config(seed: SeedFile, input_shape=None) -> ModelConfig:
  """The ModelConfig the weights describe (input from the graph, else `input_shape` (H, W)).

  Raises:
    UserInputError: naming the file when the weights describe no seed hourglass network or no
      input size is known.
  """
  stacks = sorted(int(m.group(1)) for m in map(_PREDICT.match, seed.layers) if m)
  if not stacks or stacks != list(range(len(stacks))) or 'front_residual_1_conv_1x1_1' not in \
     seed.layers:
    raise UserInputError(f'{seed.path}: no seed hourglass network in the file (no '
                         f'hg0_conv_1x1_predict / front_residual_1_conv_1x1_1 layers)')
  mobile = len(seed.layers['front_residual_1_conv_1x1_1']) == 3  # depthwise, pointwise, bias
  channels = seed.layers['hg0_conv_1x1_1'][0].shape[-1]
  if channels not in (128, 256):
    raise UserInputError(f'{seed.path}: the head has {channels} channels; the seed network has '
                         f'128 (tiny) or 256')
  shape = seed.input_shape or input_shape
  if shape is None:
    raise UserInputError(f'{seed.path}: a weights-only file does not say its input size; give '
                         f'--model_input_shape')
  return ModelConfig(num_stacks=len(stacks), mobile=mobile, tiny=channels == 128,
                     input_height=int(shape[0]), input_width=int(shape[1]),
                     num_keypoints=int(seed.layers['hg0_conv_1x1_predict'][-1].shape[-1]),
                     input_normalization=SEED_NORMALIZATION)


def weights_by_our_names(seed: SeedFile) -> Dict[str, List[np.ndarray]]:
  """{our layer name: arrays} of every weight in the file (for --weights_path)."""
  return {ours: seed.layers[name] for ours, name in our_names(seed).items()}


def load_into(model, seed: SeedFile) -> None:
  """Sets every weight of our `model` (built from model_config(seed)) from the file.

  Raises:
    UserInputError: naming the first layer (in our model's order) whose weights are missing or
      do not fit, or a file layer nothing took.
  """
  mapping = our_names(seed)
  weights = {ours: seed.layers[name] for ours, name in mapping.items()}
  used = set()
  for layer in model.layers:
    if not layer.weights:
      continue
    arrays = weights.get(layer.name)
    if arrays is None:
      raise UserInputError(f'{seed.path}: no weights for layer {layer.name} in the file')
    expected = [tuple(w.shape) for w in layer.weights]
    got = [tuple(a.shape) for a in arrays]
    if expected != got:
      raise UserInputError(f'{seed.path}: layer {mapping[layer.name]!r} (our {layer.name}) has '
                           f'weights of shapes {got}, the network needs {expected}')
    layer.set_weights(arrays)
    used.add(layer.name)
  left = sorted(set(weights) - used)
  if left:
    raise UserInputError(f'{seed.path}: layer {mapping[left[0]]!r} fits no layer of the network')


def import_model(path: str, input_shape=None):
  """(our training model with the file's weights, its ModelConfig, the SeedFile)."""
  from hourglass.model.network import build_training_model  # pylint: disable=g-import-not-at-top
  seed = read_seed_file(path)
  config = model_config(seed, input_shape)
  model = build_training_model(config)
  load_into(model, seed)
  return model, config, seed


def definition(path: str, num_keypoints: int, classes_path=None, matchpoint_path=None,
               skeleton_path=None, sigmas_path=None) -> KeypointDefinition:
  """The keypoint definition of an imported model: the seed's config files when given, else
  the shipped MPII (K=16) or COCO (K=17) one.

  Raises:
    UserInputError: naming `path` when the files name another count, or no definition is known.
  """
  if classes_path:
    loaded = load_definition(classes_path, matchpoint_path, skeleton_path, sigmas_path)
    if loaded.num_keypoints != num_keypoints:
      raise UserInputError(f'{path}: the model has {num_keypoints} keypoints, {classes_path} '
                           f'names {loaded.num_keypoints}')
    return loaded
  if num_keypoints not in _BUILTIN:
    raise UserInputError(f'{path}: the model has {num_keypoints} keypoints; import it with '
                         f'--mode=import_seed --classes_path=... (and --skeleton_path, '
                         f'--matchpoint_path): the seed project\'s config files')
  return builtin_definition(_BUILTIN[num_keypoints])


def codec_settings(config: ModelConfig) -> Dict:
  """The bundle's codec settings of an imported model (the seed's targets)."""
  return dict(SEED_CODEC, input_size=[config.input_height, config.input_width])


def flip_setting(keypoints: KeypointDefinition) -> Optional[Dict]:
  """The bundle's horizontal_flip entry: the seed trained with flips of its match-point pairs."""
  if not keypoints.flip_pairs_h:
    return None
  return {'supported': True,
          'reason': 'the seed project trained with horizontal flips of its match-point pairs'}
