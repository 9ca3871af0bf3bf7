"""Training infrastructure shared by every task: configs, checkpoints and run directories."""

from rnnkit.atomic import write_json_atomic
from rnnkit.train.checkpoint import (
    LoadedCheckpoint,
    append_metrics,
    load_checkpoint,
    read_metrics_log,
    save_checkpoint,
)
from rnnkit.train.config import (
    ConfigModel,
    RunConfig,
    TrainConfig,
    config_keys,
    dump_config,
    load_config,
    save_config,
)
from rnnkit.train.rng import capture_rng_state, restore_rng_state

__all__ = [
    "ConfigModel",
    "LoadedCheckpoint",
    "RunConfig",
    "TrainConfig",
    "append_metrics",
    "capture_rng_state",
    "config_keys",
    "dump_config",
    "load_checkpoint",
    "load_config",
    "read_metrics_log",
    "restore_rng_state",
    "save_checkpoint",
    "save_config",
    "write_json_atomic",
]
