"""One module per `--mode`: the glue that turns flag values into config objects and calls the
library (`records`, `pipelines`, `hourglass`). Each module has `run(flag_values)`.
"""
