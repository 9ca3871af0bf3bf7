"""Training any task: the `Task` interface, the `Trainer` that knows no task, typed configs,
optimisers and schedules, distributed data parallelism, precision, progress and RNG state."""

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
from rnnkit.train.task import DataSources, Task
from rnnkit.train.trainer import Trainer

__all__ = [
    "ConfigModel",
    "DataSources",
    "RunConfig",
    "Task",
    "TrainConfig",
    "Trainer",
    "capture_rng_state",
    "config_keys",
    "dump_config",
    "load_config",
    "restore_rng_state",
    "save_config",
]
