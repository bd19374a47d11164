"""How closely imported seed models reproduce the seed's own outputs: for every file of
../shared/data/seed_models, each stack's largest heatmap difference over the heatmap's peak
magnitude (the seed's `predict()` on the reference input against our imported network), and how
many keypoints the seed demo's arg-max rule places identically.

    python benchmarks/seed_import_parity.py [--seed_models=../shared/data/seed_models]
"""

import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import harness  # noqa: E402

_DEFAULT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'shared', 'data', 'seed_models')


def parser():
  result = harness.new_parser(__doc__)
  result.add_argument('--seed_models', default=_DEFAULT,
                      help='the folder with models.json, the .h5 files and the references')
  return result


def argmax_cells(heatmaps):
  """[K] flat arg-max index of each channel of [h, w, K] (values under 1e-6 zeroed, as the
  seed's demo does)."""
  maps = np.where(heatmaps < 1e-6, 0.0, heatmaps)
  return maps.reshape(-1, maps.shape[-1]).argmax(0)


def main(argv=None):
  args = harness.start(parser(), argv)
  # pylint: disable=g-import-not-at-top
  from hourglass.model import seed_import
  from hourglass.model.config import SEED_MEAN_RGB
  from hourglass.model.network import stack_outputs
  # pylint: enable=g-import-not-at-top
  with open(os.path.join(args.seed_models, 'models.json'), encoding='utf-8') as f:
    meta = json.load(f)
  print('| model | file | kind | stacks: max diff / peak | arg-max equal | import s |')
  print('|---|---|---|---|---|---|')
  for name, model_meta in meta['models'].items():
    reference = np.load(os.path.join(args.seed_models, model_meta['reference']))
    pixels = (reference['input'] + np.asarray(SEED_MEAN_RGB, np.float32)) * 255.0
    for kind, file_name in model_meta['files'].items():
      start = time.perf_counter()
      model, config, seed = seed_import.import_model(
          os.path.join(args.seed_models, file_name), tuple(model_meta['model_input_shape_hw']))
      seconds = time.perf_counter() - start
      outputs = [np.asarray(o)[0] for o in stack_outputs(model(pixels[None], training=False))]
      diffs = []
      for i, ours in enumerate(outputs):
        theirs = reference[f'stack{i}']
        diffs.append(f'{np.abs(ours - theirs).max() / np.abs(theirs).max():.1e}')
      last = reference[f'stack{config.num_stacks - 1}']
      same = int((argmax_cells(outputs[-1]) == argmax_cells(last)).sum())
      print(f'| {name} | {kind} | {seed.kind} | {", ".join(diffs)} | {same} of '
            f'{config.num_keypoints} | {seconds:.1f} |')


if __name__ == '__main__':
  main()
