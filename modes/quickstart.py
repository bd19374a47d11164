"""The quickstart (`python main.py` with no flags): synthetic records -> train -> eval -> export
TFLite -> predict one image, then where everything is and the val PCK (workflows/quickstart.py).

`python main.py --smoke` runs the same chain tiny (a test). Every quickstart setting below is a
default only: a flag given on the command line wins. Outputs go under --output_dir (default
./quickstart_output), or beside --model_dir when only that is given:
  records/  model/  eval/  export/  prediction/
"""

from modes import configs, console
from workflows import quickstart

# name -> (full quickstart, --smoke). Tuned on 2 CPU cores: the full run stays under 10 minutes.
# No horizontal flip: the synthetic creature shows its side by colour (left limbs red), and a
# mirror flip that swaps the left/right labels would teach "red is left" and "red is right" at
# once (measured, 96x96, 6 epochs, before the near-zero head init: val PCK 0.41 with flips, 0.56
# without).
SETTINGS = {
    'synthetic_count': (1200, 32), 'synthetic_val_count': (200, 8),
    'model_input_shape': ('96x96', '64x64'), 'num_stacks': (1, 1), 'mobile': (True, False),
    'tiny': (True, True), 'batch_size': (16, 8), 'total_epoch': (8, 1), 'flip_prob': (0.0, 0.0),
    'steps_per_epoch': (None, 3), 'learning_rate': (2e-3, 1e-3), 'decay_type': ('cosine', 'none'),
    'warmup_epochs': (0.5, 0.0), 'steps_per_loop': (25, 3), 'checkpoint_steps': (1000, 1000),
    'num_workers': (1, 1), 'source': ('synthetic', 'synthetic'), 'check_samples': (32, 4),
    'latency_runs': (10, 2), 'calibration_samples': (64, 4), 'formats': (['tflite'], ['tflite']),
    'latency_threads': (None, []),  # the smoke run times nothing (None: the flag's default)
}


def quickstart_config(flag_values):
  """Every stage's config: the flags with the quickstart's defaults (SETTINGS) under those given
  on the command line, and each stage's folders (as each stage's own flags would give them, so
  that the flags.txt each stage writes repeats that stage)."""
  smoke = flag_values.smoke
  values = configs.FlagView(flag_values, defaults={
      name: pair[1] if smoke else pair[0] for name, pair in SETTINGS.items()})
  paths = quickstart.layout(values.output_dir, values.model_dir, values.records_dir)
  records = values.fixed(records_dir=paths['records'], output_dir=None)
  trained = records.fixed(model_dir=paths['model'])
  evaluated = trained.fixed(model_path=paths['model'], output_dir=paths['eval'])
  exported = evaluated.fixed(model_dir=paths['model'], output_dir=paths['export'])
  predicted = exported.fixed(output=paths['prediction'])
  return quickstart.QuickstartConfig(
      paths=paths, smoke=smoke, make_records=configs.make_records_config(records),
      train=configs.train_run_config(trained), evaluate=configs.evaluate_config(evaluated),
      export=configs.export_run_config(exported), predict=configs.predict_run_config(predicted))


def run(flag_values):
  """Records, training, eval, TFLite export and one prediction (workflows/quickstart.py).

  Raises:
    IncompleteRunError: after the summary, when the eval, export or predict stage failed.
  """
  config = quickstart_config(flag_values)
  with console.training_exits():
    return quickstart.run(config)
