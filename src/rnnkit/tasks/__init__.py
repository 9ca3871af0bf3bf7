"""The jobs rnnkit trains, each a `rnnkit.train.Task`: the registry (`TASKS`, `task_class`),
the run lifecycle (`train_run`, `load_run`), the capabilities a task may have beyond training
(`Forecasts`, `Generates`, `Predicts`, `Transcribes`, `Translates`), and one module per task
(`lm`, `classify`, `tag`, `translate`, `forecast`, `speech`)."""

from rnnkit.tasks.capabilities import Forecasts, Generates, Predicts, Transcribes, Translates
from rnnkit.tasks.registry import TASKS, task_class
from rnnkit.tasks.runs import LoadedRun, load_run, train_run

__all__ = [
    "TASKS",
    "Forecasts",
    "Generates",
    "LoadedRun",
    "Predicts",
    "Transcribes",
    "Translates",
    "load_run",
    "task_class",
    "train_run",
]
