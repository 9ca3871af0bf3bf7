"""The jobs rnnkit trains, each a `rnnkit.train.Task`: the registry (`TASKS`, `task_class`),
the run lifecycle (`train_run`, `load_run`), the capabilities a task may have beyond training
(`Captions`, `Draws`, `Forecasts`, `Generates`, `GeneratesConditioned`, `Predicts`,
`Transcribes`, `Translates`), and one module per task (`lm`, `classify`, `tag`,
`translate`, `forecast`, `speech`, `generate`, `caption`, `sketch`)."""

from rnnkit.tasks.capabilities import (
    Captions,
    Draws,
    Forecasts,
    Generates,
    GeneratesConditioned,
    Predicts,
    Transcribes,
    Translates,
)
from rnnkit.tasks.registry import TASKS, task_class
from rnnkit.tasks.runs import LoadedRun, load_run, train_run

__all__ = [
    "TASKS",
    "Captions",
    "Draws",
    "Forecasts",
    "Generates",
    "GeneratesConditioned",
    "LoadedRun",
    "Predicts",
    "Transcribes",
    "Translates",
    "load_run",
    "task_class",
    "train_run",
]
