"""Bad input end to end: every fault ends in one clear `error:` line naming the file, record or
field, no traceback, and nothing half-written that a later run would accept.

The faults run through the real entry points (`main.main` / `export.main` after absl parses the
argv, as `app.run` does). Importing TensorFlow costs seconds per process, so the commands of one
test share one subprocess (this file run as a script); a few flag errors run as real
`python main.py` processes to check what absl itself prints.
"""

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import traceback

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIZE = 64


# -- the driver: many commands in one process --------------------------------------------------

def _drive(commands):
  """Runs [(entry, argv), ...] through the real entry points; returns one result per command."""
  from absl import flags as absl_flags
  sys.path.insert(0, ROOT)
  import export as export_entry  # pylint: disable=g-import-not-at-top
  import main as main_entry  # pylint: disable=g-import-not-at-top
  entries = {'main': main_entry, 'export': export_entry}
  flag_values = absl_flags.FLAGS
  results = []
  for entry, argv in commands:
    flag_values.unparse_flags()
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
      try:
        rest = flag_values([f'{entry}.py'] + list(argv))
        entries[entry].main(rest)
      except absl_flags.Error as e:  # what app.run prints for a bad flag
        code = 1
        print(f'FATAL Flags parsing error: {e}', file=sys.stderr)
      except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
        if not isinstance(e.code, int):
          print(e.code, file=sys.stderr)
      except BaseException:  # pylint: disable=broad-except
        code = 99
        traceback.print_exc(file=sys.stderr)
    results.append({'code': code, 'stdout': out.getvalue(), 'stderr': err.getvalue()})
  return results


def run_commands(commands, env=None, timeout=500):
  """Runs the commands in one fresh Python; returns their results."""
  proc = subprocess.run([sys.executable, os.path.abspath(__file__), json.dumps(commands)],
                        capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3', **(env or {})))
  lines = [l for l in proc.stdout.splitlines() if l.startswith('RESULTS ')]
  assert proc.returncode == 0 and lines, proc.stderr[-3000:]
  return json.loads(lines[-1][len('RESULTS '):])


def assert_clear_error(result, *fragments):
  """A non-zero exit with one `error:` message holding every fragment, and no traceback."""
  text = result['stderr']
  assert result['code'] not in (0, 99), text[-2000:]
  assert 'Traceback' not in text, text[-3000:]
  for fragment in fragments:
    assert fragment in text, (fragment, text[-2000:])


# -- the fixtures: records, bundles, broken copies ---------------------------------------------

def _bundle(directory, num_keypoints, definition=None):
  from hourglass.keypoints.codec import HeatmapCodec
  from hourglass.model.bundle import save_bundle
  from hourglass.model.config import ModelConfig
  from hourglass.model.network import build_training_model, inference_model
  from records.keypoint_definition import KeypointDefinition
  config = ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=SIZE, input_width=SIZE,
                       num_keypoints=num_keypoints)
  definition = definition or KeypointDefinition(tuple(f'point{i}' for i in range(num_keypoints)))
  save_bundle(directory, inference_model(build_training_model(config)), config, definition,
              HeatmapCodec((SIZE, SIZE)).to_dict())
  return directory


def _copy_records(src, dst, damage):
  shutil.copytree(src, dst)
  damage(dst)
  return dst


def _flip_byte(directory, shard_prefix='val-'):
  """Flips one byte in the middle of a shard: same size, so only the checksum can tell."""
  name = next(n for n in sorted(os.listdir(directory)) if n.startswith(shard_prefix))
  path = os.path.join(directory, name)
  with open(path, 'r+b') as f:
    f.seek(os.path.getsize(path) // 2)
    byte = f.read(1)
    f.seek(-1, os.SEEK_CUR)
    f.write(bytes([byte[0] ^ 0xFF]))
  return name


def _truncate(directory, shard_prefix='val-'):
  name = next(n for n in sorted(os.listdir(directory)) if n.startswith(shard_prefix))
  path = os.path.join(directory, name)
  with open(path, 'r+b') as f:
    f.truncate(os.path.getsize(path) - 100)
  return name


def _bad_checksum(directory):
  path = os.path.join(directory, 'manifest.json')
  with open(path) as f:
    manifest = json.load(f)
  manifest['splits']['val']['shards'][0]['sha256'] = '0' * 64
  with open(path, 'w') as f:
    json.dump(manifest, f)


@pytest.fixture(scope='module')
def world(tmp_path_factory):
  """Records (K=9, 64x64), bundles of K=9 and K=5, damaged copies and files that are not
  models; everything made in this process in a few seconds (no training)."""
  from hourglass.model.config import ModelConfig
  from hourglass.training import checkpointing
  from records.make_records import make_records, MakeRecordsConfig
  base = tmp_path_factory.mktemp('bad_input')
  w = {'base': str(base)}
  w['records'] = str(base / 'records')
  manifest = make_records(MakeRecordsConfig(source='synthetic', output_dir=w['records'],
                                 input_shape=(SIZE, SIZE), synthetic_count=16,
                                 synthetic_val_count=8, num_workers=1, progress=False))
  w['model9'] = _bundle(str(base / 'model9'), 9, manifest.definition)
  w['model5'] = _bundle(str(base / 'model5'), 5)
  w['flipped'] = _copy_records(w['records'], str(base / 'flipped'),
                               lambda d: w.update(flipped_shard=_flip_byte(d)))
  w['truncated'] = _copy_records(w['records'], str(base / 'truncated'),
                                 lambda d: w.update(truncated_shard=_truncate(d)))
  w['badsum'] = _copy_records(w['records'], str(base / 'badsum'), _bad_checksum)
  # A model_dir whose checkpoints belong to a K=5 model (training K=9 records into it).
  w['run5'] = str(base / 'run5')
  checkpointing.check_model_config(w['run5'], ModelConfig(
      num_stacks=1, mobile=True, tiny=True, input_height=SIZE, input_width=SIZE, num_keypoints=5))
  rng = np.random.default_rng(0)
  for name, content in [('text.keras', b'this is not a model\n'),
                        ('random.onnx', rng.bytes(3000)), ('random.tflite', rng.bytes(3000)),
                        ('random.mnn', rng.bytes(3000)), ('empty.keras', b'')]:
    (base / name).write_bytes(content)
    w[name] = str(base / name)
  (base / 'random.mnn.json').write_text(json.dumps({'definition': {'names': ['a']}}))
  w['file'] = str(base / 'a_file')
  (base / 'a_file').write_text('a file, not a folder')
  return w


TINY = ['--num_stacks=1', '--mobile', '--tiny', '--batch_size=8', '--total_epoch=1']


def test_corrupt_records_are_named_before_reading(world):
  """Truncated, bit-flipped, checksum-mismatched shards: train and eval name the shard."""
  w = world
  commands = [
      ('main', ['--mode=eval', f'--model_path={w["model9"]}', f'--records_dir={w["truncated"]}']),
      ('main', ['--mode=eval', f'--model_path={w["model9"]}', f'--records_dir={w["flipped"]}']),
      ('main', ['--mode=train', f'--records_dir={w["flipped"]}',
                f'--model_dir={w["base"]}/run_flipped'] + TINY),
      ('main', ['--mode=eval', f'--model_path={w["model9"]}', f'--records_dir={w["badsum"]}']),
      # With the up-front check off, the reader meets the bad record: still named, no traceback.
      ('main', ['--mode=eval', f'--model_path={w["model9"]}', f'--records_dir={w["flipped"]}',
                '--noverify_records', f'--output_dir={w["base"]}/eval_flipped']),
      ('main', ['--mode=visualize', f'--records_dir={w["flipped"]}',
                f'--output_dir={w["base"]}/vis_flipped']),
  ]
  results = run_commands(commands)
  assert_clear_error(results[0], w['truncated_shard'], 'truncated')
  for r in results[1:4]:
    assert_clear_error(r, 'SHA-256 differs')
  assert_clear_error(results[1], w['flipped_shard'])
  assert_clear_error(results[3], 'val-00000-of-00001.tfrecord', 'badsum')
  assert_clear_error(results[4], w['flipped_shard'])
  assert_clear_error(results[5], w['flipped_shard'])
  # Nothing trained or written for the refused training run.
  assert not os.path.exists(os.path.join(w['base'], 'run_flipped', 'checkpoints'))


def test_model_and_records_that_do_not_fit(world):
  """Another K than the records', and files that are not models."""
  w = world
  eval_on = lambda model: ('main', ['--mode=eval', f'--model_path={model}',
                                    f'--records_dir={w["records"]}',
                                    f'--output_dir={w["base"]}/eval_out'])
  commands = [eval_on(w['model5']),
              ('main', ['--mode=train', f'--records_dir={w["records"]}',
                        f'--model_dir={w["run5"]}'] + TINY),
              eval_on(w['text.keras']), eval_on(w['empty.keras']), eval_on(w['random.onnx']),
              eval_on(w['random.tflite']), eval_on(w['random.mnn']),
              eval_on(os.path.join(w['base'], 'missing.keras')), eval_on(w['base'])]
  results = run_commands(commands)
  assert_clear_error(results[0], w['model5'], "['point0'", w['records'])
  assert_clear_error(results[1], w['run5'], 'num_keypoints: checkpoint 5, now 9')
  for r, name in zip(results[2:7], ['text.keras', 'empty.keras', 'random.onnx', 'random.tflite',
                                    'random.mnn']):
    assert_clear_error(r, name)
  assert_clear_error(results[7], 'missing.keras')
  assert_clear_error(results[8], w['base'])
  assert not os.path.exists(os.path.join(w['base'], 'eval_out', 'eval_report.json'))


def test_missing_and_out_of_range_flags(world):
  w = world
  commands = [
      ('main', ['--mode=train', f'--records_dir={w["records"]}'] + TINY),
      ('main', ['--mode=train', f'--model_dir={w["base"]}/m'] + TINY),
      ('main', ['--mode=eval', f'--model_path={w["model9"]}']),
      ('main', ['--mode=eval', f'--records_dir={w["records"]}']),
      ('main', ['--mode=visualize']),
      ('main', ['--mode=make_records', '--source=synthetic']),
      ('main', ['--mode=predict', f'--model_path={w["model9"]}']),
      ('export', [f'--output_dir={w["base"]}/exp']),
      ('export', [f'--model_dir={w["model9"]}']),
      ('main', ['--mode=train', f'--records_dir={w["records"]}', f'--model_dir={w["base"]}/m2',
                '--model_input_shape=100x100'] + TINY),
      ('main', ['--mode=train', '--batch_size=-4']),
      ('main', ['--mode=train', f'--records_dir={w["records"]}', f'--model_dir={w["base"]}/m3',
                '--num_stacks=1', '--batch_size=64']),
      ('main', ['--mode=fly']),
      ('main', ['--mode=make_records', '--val_fraction=1.5']),
  ]
  results = run_commands(commands)
  assert_clear_error(results[0], '--model_dir')
  assert_clear_error(results[1], '--records_dir')
  assert_clear_error(results[2], '--records_dir')
  assert_clear_error(results[3], '--model_path')
  assert_clear_error(results[4], '--records_dir')
  assert_clear_error(results[5], '--records_dir')
  assert_clear_error(results[6], '--input')
  assert_clear_error(results[7], '--model_dir')
  assert_clear_error(results[8], '--output_dir')
  assert_clear_error(results[9], '--model_input_shape', '32')
  assert_clear_error(results[10], 'batch_size', '-4')
  assert_clear_error(results[11], '--batch_size=64', w['records'])
  assert_clear_error(results[12], '--mode=fly', 'value should be one of')
  assert_clear_error(results[13], 'val_fraction', '1.5')
  for name in ('m', 'm2', 'm3'):
    assert not os.path.exists(os.path.join(w['base'], name, 'checkpoints'))


def test_flag_errors_from_the_real_command_line():
  """What absl prints (no traceback) for values outside a flag's bounds."""
  for args, fragment in [(['--mode=train', '--batch_size=-1'], 'batch_size'),
                         (['--mode=eval', '--jpeg_quality=0'], 'jpeg_quality')]:
    proc = subprocess.run([sys.executable, 'main.py'] + args, cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
    assert proc.returncode != 0 and 'Traceback' not in proc.stderr, proc.stderr[-2000:]
    assert fragment in proc.stderr


def test_unwritable_output_folders(world):
  """An output path through a regular FILE fails for root too (chmod would not stop root)."""
  w = world
  blocked = os.path.join(w['file'], 'sub')
  commands = [
      ('main', ['--mode=eval', f'--model_path={w["model9"]}', f'--records_dir={w["records"]}',
                f'--output_dir={blocked}']),
      ('main', ['--mode=train', f'--records_dir={w["records"]}', f'--model_dir={blocked}'] + TINY),
      ('main', ['--mode=make_records', '--source=synthetic', '--synthetic_count=4',
                '--synthetic_val_count=0', f'--records_dir={blocked}', '--num_workers=1']),
      ('main', ['--mode=visualize', f'--records_dir={w["records"]}', f'--output_dir={blocked}']),
      ('export', [f'--model_dir={w["model9"]}', f'--output_dir={blocked}', '--formats=onnx']),
  ]
  results = run_commands(commands)
  for r in results:
    assert_clear_error(r, w['file'])
  assert open(w['file']).read() == 'a file, not a folder'


_FULL_DISK_CHECKPOINT = r"""
import os, resource, signal, sys
sys.path.insert(0, sys.argv[1])
import tensorflow as tf
from hourglass.training import checkpointing
from hourglass.model.config import ModelConfig
from hourglass.model.network import build_training_model
from core.errors import StorageError
model = build_training_model(ModelConfig(num_stacks=1, mobile=True, tiny=True, input_height=64,
                                         input_width=64, num_keypoints=3))
step = tf.Variable(1, dtype=tf.int64)
keeper = checkpointing.CheckpointKeeper(sys.argv[2], tf.train.Checkpoint(model=model, step=step))
keeper.save(1)
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill, as a full disk does
resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, resource.RLIM_INFINITY))
step.assign(2)
try:
  keeper.save(2)
except StorageError as e:
  print('StorageError:', e)
  sys.exit(3)
"""


def test_full_disk_while_writing_a_checkpoint_keeps_the_last_one(tmp_path):
  """A file-size limit (as a full disk) while saving: StorageError naming the folder, and the
  previous checkpoint stays the latest and restores."""
  model_dir = str(tmp_path / 'run')
  proc = subprocess.run([sys.executable, '-c', _FULL_DISK_CHECKPOINT, ROOT, model_dir],
                        capture_output=True, text=True, timeout=300,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL='3'))
  assert proc.returncode == 3, proc.stderr[-3000:]
  assert 'File too large' in proc.stdout and 'ckpt-1' in proc.stdout
  assert os.path.join(model_dir, 'checkpoints') in proc.stdout
  import tensorflow as tf
  checkpoints = os.path.join(model_dir, 'checkpoints')
  assert os.path.basename(tf.train.latest_checkpoint(checkpoints)) == 'ckpt-1'
  # Nothing of the failed step is left behind (TF writes into ckpt-2_temp, then renames).
  leftovers = [n for n in os.listdir(checkpoints) if n.startswith('ckpt-2')]
  assert not leftovers, leftovers
  reader = tf.train.load_checkpoint(checkpoints)
  assert int(reader.get_tensor('step/.ATTRIBUTES/VARIABLE_VALUE')) == 1


if __name__ == '__main__':
  print('RESULTS ' + json.dumps(_drive(json.loads(sys.argv[1]))), flush=True)
