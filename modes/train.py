"""--mode=train: train a Stacked Hourglass model on a records directory.

    python main.py --mode=train --records_dir=records/coco --model_dir=runs/coco \
        --num_stacks=2 --mobile --tiny --batch_size=16 [--train_steps=2000] [--strategy=mirrored]

The run is --train_steps steps (or --total_epoch epochs), validated every --validation_steps;
<model_dir>/best_model holds the lowest val mean error, <model_dir>/last_model the model it ended
with. Restarting the same command resumes from the latest checkpoint in --model_dir (exactly, at
step granularity). The model's K and definition come from the records' manifest; the input shape is
the manifest's unless --model_input_shape is given.
"""

from modes import configs, console
from workflows import train


def run(flag_values):
  """Trains and prints where the models are; returns the last epoch's metrics dict."""
  config = configs.train_run_config(flag_values)
  with console.training_exits():
    result, trainer = train.run(config)
  print(train.summary(trainer))
  return result
