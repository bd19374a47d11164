"""One module per `--mode` (and modes/export.py for export.py), each with `run(flag_values)`: it
turns the flags into a config (modes/configs.py), makes one call into `workflows/` and prints.

configs.py and console.py are helpers every mode may import; no mode imports another mode.
"""
